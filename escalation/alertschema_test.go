package escalation

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hotlined/hotlined/queue"
)

// TestAlertSchemaNamesEveryField: the published schema of the alert
// events lists exactly the JSON fields of Alert (it refuses others), so a
// field added to Alert without its documentation fails here.
func TestAlertSchemaNamesEveryField(t *testing.T) {
	data, err := queue.Schemas.ReadFile("schemas/alert.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Additional *bool                      `json:"additionalProperties"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	if schema.Additional == nil || *schema.Additional {
		t.Error("the alert schema accepts fields it does not name (additionalProperties)")
	}
	var fields []string
	typ := reflect.TypeOf(Alert{})
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		fields = append(fields, name)
	}
	var documented []string
	for k := range schema.Properties {
		documented = append(documented, k)
	}
	slices.Sort(fields)
	slices.Sort(documented)
	if !slices.Equal(fields, documented) {
		t.Errorf("Alert's fields %v, the schema's %v", fields, documented)
	}
}
