package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/api"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/workorder"
)

// fakeChanges is a hand-written fake of api.Changes with the real
// transition table.
type fakeChanges struct {
	order *workorder.Order
	calls []string
}

var _ api.Changes = (*fakeChanges)(nil)

func (f *fakeChanges) Submit(_ context.Context, in workorder.Intake) (workorder.Result, error) {
	f.calls = append(f.calls, "submit:"+in.Channel+":x:"+in.ServiceNumber+":"+in.ProblemCode)
	return workorder.Result{Order: &workorder.Order{ID: "WO-20261123-GD-000200", Class: in.Leaf.Category}, Outcome: workorder.OutcomeCreated}, nil
}

func (f *fakeChanges) ChangeStatus(_ context.Context, c workorder.StatusChange) (*workorder.Order, error) {
	f.calls = append(f.calls, "status:"+c.Status+":"+c.Actor)
	if c.WorkOrderID != f.order.ID {
		return nil, workorder.ErrNotFound
	}
	if !workorder.CanTransition(f.order.Status, c.Status) {
		return nil, fmt.Errorf("%w: %s -> %s", workorder.ErrIllegalTransition, f.order.Status, c.Status)
	}
	f.order.Status = c.Status
	return f.order, nil
}

func (f *fakeChanges) Reclassify(_ context.Context, id, class, actor, reason string, supervisor bool) (*workorder.Order, error) {
	f.calls = append(f.calls, "class:"+class+":"+actor)
	switch {
	case id != f.order.ID:
		return nil, workorder.ErrNotFound
	case class == "vip":
		return nil, workorder.ErrUnknownClass
	case strings.TrimSpace(reason) == "":
		return nil, workorder.ErrReasonRequired
	case class == f.order.Class:
		return nil, workorder.ErrSameClass
	case !workorder.MayReclassify(f.order.Class, class, supervisor):
		return nil, workorder.ErrLowerNeedsSupervisor
	}
	f.order.Class = class
	return f.order, nil
}

func (f *fakeChanges) AddNote(_ context.Context, id, kind, text, actor string) (*workorder.Order, error) {
	f.calls = append(f.calls, "note:"+kind+":"+actor)
	switch {
	case id != f.order.ID:
		return nil, workorder.ErrNotFound
	case kind != workorder.NoteCustomerStatement && kind != workorder.NotePlan && kind != workorder.NoteHoldingStatement:
		return nil, workorder.ErrUnknownNoteKind
	case strings.TrimSpace(text) == "":
		return nil, workorder.ErrEmptyNote
	}
	f.order.Notes = append(f.order.Notes, workorder.Note{Kind: kind, Text: text, Actor: actor})
	return f.order, nil
}

func (f *fakeChanges) SetProblemCode(_ context.Context, id, code, actor string) (*workorder.Order, error) {
	f.calls = append(f.calls, "problem:"+code+":"+actor)
	switch {
	case id != f.order.ID:
		return nil, workorder.ErrNotFound
	case !configs.ValidProblemCode(code):
		return nil, workorder.ErrUnknownProblemCode
	case code == f.order.ProblemCode:
		return nil, workorder.ErrUnchanged
	}
	f.order.ProblemCode = code
	return f.order, nil
}

func (f *fakeChanges) RecordFollowup(_ context.Context, id, result, reason, actor string) (*workorder.Order, error) {
	f.calls = append(f.calls, "followup:"+result+":"+actor)
	switch {
	case id != f.order.ID:
		return nil, workorder.ErrNotFound
	case !slices.Contains(workorder.FollowupResults, result):
		return nil, workorder.ErrUnknownFollowup
	case result == "unsatisfied" && reason == "":
		return nil, workorder.ErrReasonRequired
	case f.order.Status != "resolved":
		return nil, workorder.ErrNotResolved
	}
	f.order.Followup = &workorder.Followup{Result: result, Reason: reason}
	f.order.Status = "archived"
	if result == "unsatisfied" {
		f.order.Status = "reopened"
	}
	return f.order, nil
}

func (f *fakeChanges) MarkInvalid(_ context.Context, id, ground, note, actor string) (*workorder.Order, error) {
	f.calls = append(f.calls, "invalid:"+ground+":"+actor)
	if !slices.Contains(configs.InvalidGrounds, ground) {
		return nil, workorder.ErrUnknownGround
	}
	f.order.Valid, f.order.InvalidGround = false, ground
	return f.order, nil
}

func (f *fakeChanges) UndoInvalid(_ context.Context, id, note, actor string) (*workorder.Order, error) {
	f.calls = append(f.calls, "valid:x:"+actor)
	if f.order.Valid {
		return nil, workorder.ErrNotInvalid
	}
	f.order.Valid, f.order.InvalidGround = true, ""
	return f.order, nil
}

func (f *fakeChanges) SetProvince(_ context.Context, id, province, actor string) (*workorder.Order, error) {
	f.calls = append(f.calls, "province:"+province+":"+actor)
	switch {
	case id != f.order.ID:
		return nil, workorder.ErrNotFound
	case !configs.ValidProvince(province):
		return nil, workorder.ErrBadProvince
	}
	f.order.Province = province
	return f.order, nil
}

func TestStatusAndClassEndpoints(t *testing.T) {
	const id = "WO-20261123-GD-000123"
	tokens := []configs.Token{{Role: "agent", SHA256: configs.HashToken("a")}, {Role: "supervisor", SHA256: configs.HashToken("s")},
		{Role: "system", SHA256: configs.HashToken("m")}}
	tests := []struct {
		name, path, token, body string
		status                  int
		field                   string
	}{
		{"no token", "/status", "", `{"status":"accepted"}`, 401, "Authorization"},
		{"agent accepts", "/status", "a", `{"status":"accepted","note":"taken"}`, 200, ""},
		{"illegal transition", "/status", "a", `{"status":"archived"}`, 409, "status"},
		{"missing status", "/status", "s", `{"note":"x"}`, 400, "status"},
		{"unknown field", "/status", "s", `{"status":"resolved","x":1}`, 400, "body"},
		{"bad json", "/status", "s", `{"status":`, 400, "body"},
		{"system resolves", "/status", "m", `{"status":"resolved"}`, 200, ""},
		{"system may not reclassify", "/class", "m", `{"class":"major_complaint","reason":"media"}`, 403, ""},
		{"unknown class", "/class", "s", `{"class":"vip","reason":"r"}`, 400, "class"},
		{"no reason", "/class", "s", `{"class":"major_complaint"}`, 400, "reason"},
		{"same class", "/class", "s", `{"class":"complaint","reason":"r"}`, 409, "class"},
		{"agent raises", "/class", "a", `{"class":"repeat_complaint","reason":"same bill as last month"}`, 200, ""},
		{"agent may not lower", "/class", "a", `{"class":"query","reason":"just a question"}`, 403, "class"},
		{"supervisor raises", "/class", "s", `{"class":"major_complaint","reason":"the caller named a journalist"}`, 200, ""},
		{"supervisor lowers", "/class", "s", `{"class":"repeat_complaint","reason":"no media after all"}`, 200, ""},
		{"customer statement", "/notes", "a", `{"kind":"customer_statement","text":"我要找记者"}`, 200, ""},
		{"plan by the system", "/notes", "m", `{"kind":"plan","text":"refund 20 yuan"}`, 200, ""},
		{"unknown note kind", "/notes", "a", `{"kind":"gossip","text":"x"}`, 400, "kind"},
		{"empty note", "/notes", "a", `{"kind":"plan","text":" "}`, 400, "text"},
		{"problem code", "/problem", "a", `{"code":"billing.overcharge"}`, 200, ""},
		{"same problem code", "/problem", "a", `{"code":"billing.overcharge"}`, 409, ""},
		{"bad problem code", "/problem", "a", `{"code":"billing"}`, 400, "code"},
		{"system may not set the problem", "/problem", "m", `{"code":"billing.refund"}`, 403, ""},
		{"province", "/province", "a", `{"province":"GD"}`, 200, ""},
		{"bad province", "/province", "s", `{"province":"guangdong"}`, 400, "province"},
		{"unknown field", "/province", "s", `{"province":"GD","city":"SZ"}`, 400, "body"},
		{"invalid", "/invalid", "a", `{"ground":"outside_telecom","note":"a bank card"}`, 200, ""},
		{"bad ground", "/invalid", "a", `{"ground":"boring"}`, 400, "ground"},
		{"agent may not undo", "/valid", "a", `{"note":"ours after all"}`, 403, ""},
		{"supervisor undoes", "/valid", "s", `{"note":"ours after all"}`, 200, ""},
		{"undo a valid order", "/valid", "s", `{}`, 409, ""},
		{"unsatisfied needs a reason", "/followup", "a", `{"result":"unsatisfied"}`, 400, "reason"},
		{"bad result", "/followup", "a", `{"result":"ecstatic"}`, 400, "result"},
		{"system may not follow up", "/followup", "m", `{"result":"satisfied"}`, 403, ""},
		{"unsatisfied reopens", "/followup", "a", `{"result":"unsatisfied","reason":"no refund"}`, 200, ""},
		{"follow-up of a reopened order", "/followup", "a", `{"result":"satisfied"}`, 409, ""},
	}
	f := &fakeChanges{order: &workorder.Order{ID: id, Class: "complaint", Status: "new", Valid: true}}
	h := api.New(api.Params{Orders: nil, Changes: f, Tokens: tokens, Gatherer: prometheus.NewRegistry(), Logger: zerolog.Nop()})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/v1/workorders/"+id+tc.path, strings.NewReader(tc.body))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body, tc.status)
			}
			if tc.status >= 400 {
				var e map[string]string
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e["error"] == "" || e["field"] != tc.field {
					t.Errorf("error body %s, want field %q", rec.Body, tc.field)
				}
			}
		})
	}
	if f.order.Status != "reopened" || f.order.Class != "repeat_complaint" || f.order.ProblemCode != "billing.overcharge" ||
		f.order.Province != "GD" || len(f.order.Notes) != 2 || !f.order.Valid || f.order.Followup == nil {
		t.Errorf("order after the requests: %+v", f.order)
	}
	for _, c := range f.calls { // the actor is the caller's role and token hash, never the token
		if strings.HasPrefix(c, "submit:") {
			continue
		}
		if !strings.Contains(c, ":agent:") && !strings.Contains(c, ":supervisor:") && !strings.Contains(c, ":system:") {
			t.Errorf("actor not recorded as role:hash in %q", c)
		}
	}
	// An unknown order.
	req := httptest.NewRequest(http.MethodPost, "/v1/workorders/WO-20261123-GD-000999/status", strings.NewReader(`{"status":"accepted"}`))
	req.Header.Set("Authorization", "Bearer a")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 404 {
		t.Errorf("unknown order: %d", rec.Code)
	}
}

func TestCreateWorkOrderValidation(t *testing.T) {
	f := &fakeChanges{order: &workorder.Order{}}
	h := api.New(api.Params{Changes: f, Tokens: []configs.Token{{Role: "system", SHA256: configs.HashToken("m")}},
		Gatherer: prometheus.NewRegistry(), Logger: zerolog.Nop()})
	good := `{"channel":"web","tier":"province","province":"GD","service_number":"18912345678","category":"complaint","subcategory":"billing","description":"bill too high"}`
	transfer := `{"channel":"regulator_transfer","tier":"appeal","service_number":"18912345678","category":"complaint","subcategory":"billing",` +
		`"appeal":{"authority":"广东省通信管理局申诉中心","case_number":"YD-1","received_at":"2026-11-20T09:00:00+08:00","deadline":"2026-11-30T17:00:00+08:00"}}`
	tests := []struct {
		name, body string
		status     int
		field      string
	}{
		{"created", good, 201, ""},
		{"bad channel", strings.Replace(good, `"web"`, `"fax"`, 1), 400, "channel"},
		{"bad tier", strings.Replace(good, `"province","province"`, `"national","province"`, 1), 400, "tier"},
		{"bad province", strings.Replace(good, `"GD"`, `"guangdong"`, 1), 400, "province"},
		{"bad category", strings.Replace(good, `"complaint"`, `"rant"`, 1), 400, "category"},
		{"bad subcategory", strings.Replace(good, `"billing"`, `"Billing!"`, 1), 400, "subcategory"},
		{"bad service number", strings.Replace(good, `18912345678`, `123`, 1), 400, "service_number"},
		{"long description", strings.Replace(good, `bill too high`, strings.Repeat("长", 4001), 1), 400, "description"},
		{"unknown field", strings.Replace(good, `{`, `{"vip":true,`, 1), 400, "body"},
		{"+86 service number", strings.Replace(good, `"18912345678"`, `"+86 189 1234 5678"`, 1), 201, ""},
		{"problem code", strings.Replace(good, `"billing",`, `"billing","problem_code":"billing.overcharge",`, 1), 201, ""},
		{"bad problem code", strings.Replace(good, `"billing",`, `"billing","problem_code":"overcharge",`, 1), 400, "problem_code"},
		{"group tier without a province", strings.Replace(good, `"province","province":"GD"`, `"group","province":""`, 1), 201, ""},
		{"province tier needs one", strings.Replace(good, `"province":"GD"`, `"province":""`, 1), 400, "province"},
		{"letter received earlier", strings.Replace(good, `"web"`, `"letter","received_at":"2026-11-20T09:00:00+08:00"`, 1), 201, ""},
		{"received in the future", strings.Replace(good, `"web"`, `"letter","received_at":"2099-01-01T00:00:00Z"`, 1), 400, "received_at"},
		{"bad received_at", strings.Replace(good, `"web"`, `"letter","received_at":"yesterday"`, 1), 400, "received_at"},
		{"regulator transfer", transfer, 201, ""},
		{"transfer on the province tier", strings.Replace(transfer, `"tier":"appeal"`, `"tier":"province"`, 1), 400, "appeal"},
		{"transfer without appeal fields", strings.Replace(good, `"web"`, `"regulator_transfer"`, 1), 400, "appeal"},
		{"appeal fields on the web", strings.Replace(transfer, `"regulator_transfer"`, `"web"`, 1), 400, "appeal"},
		{"no authority", strings.Replace(transfer, `"authority":"广东省通信管理局申诉中心"`, `"authority":" "`, 1), 400, "appeal.authority"},
		{"no case number", strings.Replace(transfer, `"case_number":"YD-1"`, `"case_number":""`, 1), 400, "appeal.case_number"},
		{"deadline before receipt", strings.Replace(transfer, `"deadline":"2026-11-30T17:00:00+08:00"`, `"deadline":"2026-11-01T17:00:00+08:00"`, 1), 400, "appeal.deadline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/v1/workorders", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer m")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body, tc.status)
			}
			if tc.field != "" {
				var e map[string]string
				_ = json.Unmarshal(rec.Body.Bytes(), &e)
				if e["field"] != tc.field {
					t.Errorf("field %q, want %q", e["field"], tc.field)
				}
			} else if rec.Header().Get("X-Hotlined-Outcome") != "created" {
				t.Errorf("outcome header %q", rec.Header().Get("X-Hotlined-Outcome"))
			}
		})
	}
	for _, c := range f.calls {
		if !strings.Contains(c, ":18912345678:") {
			t.Errorf("submitted %q: want the service number in national form", c)
		}
	}
	if !slices.Contains(f.calls, "submit:web:x:18912345678:billing.overcharge") {
		t.Errorf("calls %v: the problem code not passed on", f.calls)
	}
}

type fakeIndicators struct{ got []string }

func (f *fakeIndicators) Indicators(_ context.Context, province, from, to string) ([]workorder.IndicatorDay, error) {
	f.got = append(f.got, province+"|"+from+"|"+to)
	if from > to {
		return nil, workorder.ErrBadRange
	}
	if province == "guangdong" {
		return nil, workorder.ErrBadProvince
	}
	return []workorder.IndicatorDay{{Province: "GD", Date: "total", Counts: map[string]int64{"complaints": 3},
		Rates: map[string]float64{"repeat_rate": 0}}}, nil
}

func TestIndicatorsEndpoint(t *testing.T) {
	f := &fakeIndicators{}
	h := api.New(api.Params{Indicators: f, Tokens: []configs.Token{{Role: "agent", SHA256: configs.HashToken("a")},
		{Role: "supervisor", SHA256: configs.HashToken("s")}}, Gatherer: prometheus.NewRegistry(), Logger: zerolog.Nop()})
	for _, tc := range []struct {
		query, token string
		status       int
	}{
		{"?province=GD&from=2026-11-01&to=2026-11-30", "s", 200},
		{"?province=GD&from=2026-11-30&to=2026-11-01", "s", 400},
		{"?province=guangdong&from=2026-11-01", "s", 400},
		{"?province=GD", "a", 403},
		{"", "", 401},
	} {
		req := httptest.NewRequest(http.MethodGet, "/v1/indicators"+tc.query, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.query, rec.Code, rec.Body, tc.status)
		}
	}
	if len(f.got) < 1 || f.got[0] != "GD|2026-11-01|2026-11-30" {
		t.Errorf("calls %v", f.got)
	}
}
