package queue_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
)

// Every event type of DESIGN.md has a schema, and the schemas reject what
// they should.
func TestSchemas(t *testing.T) {
	s := testenv.LoadSchemas(t)
	for _, typ := range []string{queue.TypeWorkOrderCreated, queue.TypeWorkOrderUrged, queue.TypeWorkOrderReclassified,
		queue.TypeWorkOrderStatusChanged, queue.TypeWorkOrderEscalated, queue.TypeIncidentGroupComplaint,
		queue.TypeAlertRaised, queue.TypeAlertAcked, queue.TypeAlertResolved, queue.TypeStatusUpdate,
		queue.TypeWorkOrderCallbackRequested} {
		if !slices.Contains(s.Types(), typ) {
			t.Errorf("no schema for %s", typ)
		}
	}
	order := `{"id":"WO-20261123-GD-000123","created_at":"2026-11-23T10:00:00+08:00","updated_at":"2026-11-23T10:00:00+08:00",
		"hotline":"10000","tier":"province","province":"GD","caller":"18912345678","service_number":"18912345678",
		"ivr_path":"31","category":"fault_report","subcategory":"broadband","class":"fault_report",
		"reasons":[{"rule":"base_category","detail":"x"}],"related":[],"priority":3,"status":"new",
		"deadlines":{"register":"2026-11-23T12:00:00+08:00"},"valid":true,"history":[]}`
	if err := s.Validate(queue.TypeWorkOrderCreated, []byte(order)); err != nil {
		t.Errorf("good order: %v", err)
	}
	for name, bad := range map[string]string{
		"bad class":                    strings.Replace(order, `"class":"fault_report"`, `"class":"rant"`, 1),
		"bad id":                       strings.Replace(order, `WO-20261123-GD-000123`, `123`, 1),
		"no reasons":                   strings.Replace(order, `[{"rule":"base_category","detail":"x"}]`, `[]`, 1),
		"bad deadline":                 strings.Replace(order, `"2026-11-23T12:00:00+08:00"`, `"tomorrow"`, 1),
		"whole order without a caller": strings.Replace(order, `"caller":`, `"calling":`, 1),
		"view without an id":           `{"province":"GD","service_number":"02012345678"}`,
		"view with a bad status":       `{"id":"WO-20261123-GD-000123","status":"pending"}`,
	} {
		if err := s.Validate(queue.TypeWorkOrderCreated, []byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A route's view (fields): the id and what the route allows.
	if err := s.Validate(queue.TypeWorkOrderCreated, []byte(`{"id":"WO-20261123-GD-000123","province":"GD","service_number":"02012345678"}`)); err != nil {
		t.Errorf("a view: %v", err)
	}
	if err := s.Validate(queue.TypeStatusUpdate, []byte(`{"work_order_id":"WO-20261123-GD-000123","status":"archived","actor":"billing"}`)); err != nil {
		t.Errorf("good update: %v", err)
	}
	if err := s.Validate(queue.TypeStatusUpdate, []byte(`{"work_order_id":"WO-20261123-GD-000123","status":"archived","actor":"billing","x":1}`)); err == nil {
		t.Error("update with an unknown field accepted")
	}
}
