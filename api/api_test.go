package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/api"
	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/workorder"
)

const (
	knownID   = "WO-20261123-GD-000123"
	unknownID = "WO-20261123-GD-999999"
	// brokenID makes the fake store fail as if Redis were unreachable.
	brokenID = "WO-20261123-BJ-000001"
	// unreachableID makes the fake store fail with the network error of a
	// Redis that is down.
	unreachableID = "WO-20261123-BJ-000002"
	// storeErrText is the store's error; it must never reach a client.
	storeErrText = "dial tcp 10.1.2.3:6379: connect: connection refused"

	agentToken      = "agent-secret-1"
	supervisorToken = "supervisor-secret-2"
	systemToken     = "system-secret-3"
	auditorToken    = "auditor-secret-4"

	counterName = "hotlined_test_calls_total"
)

// fakeOrders is an in-memory api.Orders that records the ids it was asked for.
type fakeOrders struct {
	orders map[string]*workorder.Order

	mu    sync.Mutex
	calls []string
}

var _ api.Orders = (*fakeOrders)(nil)

func (f *fakeOrders) Get(_ context.Context, id string) (*workorder.Order, error) {
	f.mu.Lock()
	f.calls = append(f.calls, id)
	f.mu.Unlock()
	if id == brokenID {
		return nil, errors.New(storeErrText)
	}
	if id == unreachableID {
		return nil, fmt.Errorf("get work order %s: %w", id,
			&net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}})
	}
	o, ok := f.orders[id]
	if !ok {
		return nil, workorder.ErrNotFound
	}
	return o, nil
}

func (f *fakeOrders) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func newOrder() *workorder.Order {
	created := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	return &workorder.Order{
		ID:            knownID,
		CallID:        "call-1",
		CreatedAt:     created,
		Hotline:       "10000",
		Tier:          "province",
		Province:      "GD",
		Caller:        "18912345678",
		ServiceNumber: "02012345678",
		IVRPath:       "3-1",
		Category:      "fault_report",
		Subcategory:   "broadband",
		Class:         "complaint",
		Reasons:       []classifier.Reason{{Rule: "repeat_fault", Detail: "2 faults in 30 days"}},
		Related:       []string{"WO-20261101-GD-000042"},
		Priority:      1,
		Status:        configs.StatusNew,
		Deadlines:     map[string]time.Time{"first_response": created.Add(2 * time.Hour)},
		Valid:         true,
	}
}

type fixture struct {
	handler http.Handler
	orders  *fakeOrders
	logs    *bytes.Buffer
	counter prometheus.Counter
}

type fixtureOpts struct {
	ready    map[string]api.Check
	degraded map[string]api.Check
}

func newFixture(t *testing.T, opts fixtureOpts) *fixture {
	t.Helper()
	reg := prometheus.NewRegistry()
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: counterName, Help: "Calls seen by the test."})
	reg.MustRegister(counter)
	counter.Add(3)

	orders := &fakeOrders{orders: map[string]*workorder.Order{knownID: newOrder()}}
	logs := &bytes.Buffer{}
	h := api.New(api.Params{
		Orders: orders,
		Tokens: []configs.Token{
			{Role: "agent", SHA256: configs.HashToken(agentToken)},
			{Role: "supervisor", SHA256: configs.HashToken(supervisorToken)},
			{Role: "system", SHA256: configs.HashToken(systemToken)},
		},
		Gatherer: reg,
		Ready:    opts.ready,
		Degraded: opts.degraded,
		Logger:   zerolog.New(logs),
	})
	return &fixture{handler: h, orders: orders, logs: logs, counter: counter}
}

func (f *fixture) do(t *testing.T, method, path, authorization string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

func ok(context.Context) error { return nil }

func failing(msg string) api.Check {
	return func(context.Context) error { return errors.New(msg) }
}

// decodeJSON asserts a JSON content type and decodes the body into a map.
func decodeJSON(t *testing.T, rec *httptest.ResponseRecorder) map[string]string {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json (body %q)", ct, rec.Body.String())
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not a JSON object of strings: %v", rec.Body.String(), err)
	}
	return body
}

// wantError asserts status, JSON content type, a non-empty "error" and the
// given "field" ("" meaning absent).
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, field string) map[string]string {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d (body %q)", rec.Code, status, rec.Body.String())
	}
	body := decodeJSON(t, rec)
	if body["error"] == "" {
		t.Errorf("body %v has no error message", body)
	}
	got, present := body["field"]
	switch {
	case field == "" && present:
		t.Errorf("field = %q, want none", got)
	case field != "" && got != field:
		t.Errorf("field = %q, want %q", got, field)
	}
	return body
}

func TestHealthz(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	rec := f.do(t, http.MethodGet, "/healthz", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if body := decodeJSON(t, rec); body["status"] != "ok" {
		t.Errorf("body = %v, want status ok", body)
	}
}

func TestReadyz(t *testing.T) {
	t.Run("ready with degraded dependency", func(t *testing.T) {
		f := newFixture(t, fixtureOpts{
			ready:    map[string]api.Check{"redis": ok},
			degraded: map[string]api.Check{"kafka": failing("kafka down")},
		})
		rec := f.do(t, http.MethodGet, "/readyz", "")
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200 (body %q)", rec.Code, rec.Body.String())
		}
		body := decodeJSON(t, rec)
		if body["redis"] != "ok" {
			t.Errorf("redis = %q, want ok", body["redis"])
		}
		if !strings.HasPrefix(body["kafka"], "unreachable") {
			t.Errorf("kafka = %q, want it reported unreachable", body["kafka"])
		}
	})
	t.Run("all ok", func(t *testing.T) {
		f := newFixture(t, fixtureOpts{
			ready:    map[string]api.Check{"redis": ok},
			degraded: map[string]api.Check{"kafka": ok},
		})
		rec := f.do(t, http.MethodGet, "/readyz", "")
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200", rec.Code)
		}
		body := decodeJSON(t, rec)
		if body["redis"] != "ok" || body["kafka"] != "ok" {
			t.Errorf("body = %v, want redis and kafka ok", body)
		}
	})
	t.Run("ready check fails", func(t *testing.T) {
		f := newFixture(t, fixtureOpts{
			ready:    map[string]api.Check{"redis": failing("redis down")},
			degraded: map[string]api.Check{"kafka": ok},
		})
		rec := f.do(t, http.MethodGet, "/readyz", "")
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status = %d, want 503 (body %q)", rec.Code, rec.Body.String())
		}
		body := decodeJSON(t, rec)
		if body["redis"] != "unreachable" {
			t.Errorf("redis = %q, want it reported unreachable without the error text", body["redis"])
		}
		if body["kafka"] != "ok" {
			t.Errorf("kafka = %q, want ok", body["kafka"])
		}
	})
	t.Run("checks get a deadline", func(t *testing.T) {
		var hasDeadline bool
		f := newFixture(t, fixtureOpts{ready: map[string]api.Check{"redis": func(ctx context.Context) error {
			_, hasDeadline = ctx.Deadline()
			return nil
		}}})
		if rec := f.do(t, http.MethodGet, "/readyz", ""); rec.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200", rec.Code)
		}
		if !hasDeadline {
			t.Error("ready check ran without a deadline")
		}
	})
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	rec := f.do(t, http.MethodGet, "/metrics", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if !strings.Contains(rec.Body.String(), counterName+" 3") {
		t.Errorf("metrics output lacks %q:\n%s", counterName+" 3", rec.Body.String())
	}
}

func TestGetWorkOrderAuth(t *testing.T) {
	path := "/v1/workorders/" + knownID
	for _, tc := range []struct {
		name, authorization, wwwAuth string
	}{
		{"no header", "", `Bearer realm="hotlined"`},
		{"empty bearer", "Bearer ", `Bearer realm="hotlined"`},
		{"basic scheme", "Basic xyz", `Bearer realm="hotlined"`},
		{"wrong token", "Bearer wrong", `Bearer realm="hotlined", error="invalid_token"`},
		{"token hash instead of token", "Bearer " + configs.HashToken(agentToken), `Bearer realm="hotlined", error="invalid_token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{})
			rec := f.do(t, http.MethodGet, path, tc.authorization)
			wantError(t, rec, http.StatusUnauthorized, "Authorization")
			if got := rec.Header().Get("WWW-Authenticate"); got != tc.wwwAuth {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wwwAuth)
			}
			if calls := f.orders.called(); len(calls) != 0 {
				t.Errorf("store was read for an unauthenticated request: %v", calls)
			}
		})
	}
}

func TestGetWorkOrderForbiddenRole(t *testing.T) {
	// configs rejects unknown roles, but the handler must still refuse them.
	reg := prometheus.NewRegistry()
	orders := &fakeOrders{orders: map[string]*workorder.Order{knownID: newOrder()}}
	h := api.New(api.Params{
		Orders:   orders,
		Tokens:   []configs.Token{{Role: "auditor", SHA256: configs.HashToken(auditorToken)}},
		Gatherer: reg,
		Logger:   zerolog.Nop(),
	})
	req := httptest.NewRequest(http.MethodGet, "/v1/workorders/"+knownID, nil)
	req.Header.Set("Authorization", "Bearer "+auditorToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	wantError(t, rec, http.StatusForbidden, "")
	if calls := orders.called(); len(calls) != 0 {
		t.Errorf("store was read for a forbidden role: %v", calls)
	}
}

func TestGetWorkOrderEachRole(t *testing.T) {
	want := newOrder()
	for role, token := range map[string]string{
		"agent":      agentToken,
		"supervisor": supervisorToken,
		"system":     systemToken,
	} {
		t.Run(role, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{})
			rec := f.do(t, http.MethodGet, "/v1/workorders/"+knownID, "Bearer "+token)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200 (body %q)", rec.Code, rec.Body.String())
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var got workorder.Order
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("decode order %q: %v", rec.Body.String(), err)
			}
			if got.ID != want.ID || got.Class != want.Class {
				t.Errorf("id, class = %q, %q; want %q, %q", got.ID, got.Class, want.ID, want.Class)
			}
			if got.Priority != want.Priority || got.Status != want.Status || !got.CreatedAt.Equal(want.CreatedAt) {
				t.Errorf("order = %+v, want %+v", got, *want)
			}
			if len(got.Reasons) != 1 || got.Reasons[0] != want.Reasons[0] {
				t.Errorf("reasons = %v, want %v", got.Reasons, want.Reasons)
			}
			if calls := f.orders.called(); !slices.Equal(calls, []string{knownID}) {
				t.Errorf("store calls = %v, want [%s]", calls, knownID)
			}
		})
	}
}

func TestGetWorkOrderBadID(t *testing.T) {
	for _, id := range []string{
		"abc",
		"WO-1",
		"wo-20261123-GD-000123",
		"WO-2026112-GD-000123",
		"WO-20261123-gd-000123",
		"WO-20261123-GD-00012",
		"WO-20261123-GD-000123x",
		"WO-20261123-GD-000123%0A", // PathValue unescapes: trailing newline
	} {
		t.Run(id, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{})
			rec := f.do(t, http.MethodGet, "/v1/workorders/"+id, "Bearer "+agentToken)
			wantError(t, rec, http.StatusBadRequest, "id")
			if calls := f.orders.called(); len(calls) != 0 {
				t.Errorf("store was read for a malformed id: %v", calls)
			}
		})
	}
}

func TestGetWorkOrderNotFound(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	rec := f.do(t, http.MethodGet, "/v1/workorders/"+unknownID, "Bearer "+supervisorToken)
	body := wantError(t, rec, http.StatusNotFound, "id")
	if !strings.Contains(body["error"], unknownID) {
		t.Errorf("error %q does not name the id", body["error"])
	}
}

func TestGetWorkOrderStoreError(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	rec := f.do(t, http.MethodGet, "/v1/workorders/"+brokenID, "Bearer "+systemToken)
	wantError(t, rec, http.StatusInternalServerError, "")
	for _, leak := range []string{storeErrText, "10.1.2.3", "connection refused"} {
		if strings.Contains(rec.Body.String(), leak) {
			t.Errorf("body %q leaks the store error (%q)", rec.Body.String(), leak)
		}
	}
	if !strings.Contains(f.logs.String(), "connection refused") {
		t.Errorf("store error was not logged; logs: %q", f.logs.String())
	}
}

// Storage that cannot serve is 503 with Retry-After (the client retries
// later), not 500, and still says nothing of Redis.
func TestGetWorkOrderStorageUnavailable(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	rec := f.do(t, http.MethodGet, "/v1/workorders/"+unreachableID, "Bearer "+systemToken)
	wantError(t, rec, http.StatusServiceUnavailable, "")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if strings.Contains(rec.Body.String(), "connection refused") || !strings.Contains(rec.Body.String(), "retry later") {
		t.Errorf("body %q", rec.Body.String())
	}
}

func TestUnknownPath(t *testing.T) {
	for _, path := range []string{"/nope", "/v1/workorders", "/v1/workorders/", "/v1/workorders/" + knownID + "/extra"} {
		t.Run(path, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{})
			rec := f.do(t, http.MethodGet, path, "Bearer "+agentToken)
			wantError(t, rec, http.StatusNotFound, "")
		})
	}
}

// TestWrongMethod: a known path with the wrong method gets a JSON 405 with
// Allow, before authentication and without reading the store.
func TestWrongMethod(t *testing.T) {
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		t.Run(method, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{})
			rec := f.do(t, method, "/v1/workorders/"+knownID, "Bearer "+agentToken)
			wantError(t, rec, http.StatusMethodNotAllowed, "")
			if allow := rec.Header().Get("Allow"); !strings.Contains(allow, "GET") {
				t.Errorf("Allow = %q, want GET listed", allow)
			}
			if calls := f.orders.called(); len(calls) != 0 {
				t.Errorf("store was read for a %s: %v", method, calls)
			}
		})
	}
	t.Run("POST /healthz", func(t *testing.T) {
		f := newFixture(t, fixtureOpts{})
		rec := f.do(t, http.MethodPost, "/healthz", "")
		wantError(t, rec, http.StatusMethodNotAllowed, "")
	})
}

// TestBearerSchemeIsCaseInsensitive follows RFC 7235: scheme names are
// case-insensitive.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	rec := f.do(t, http.MethodGet, "/v1/workorders/"+knownID, "bearer "+agentToken)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
}

// TestOverHTTP runs a few requests through a real server, so the handler is
// exercised with the full net/http stack and concurrent requests.
func TestOverHTTP(t *testing.T) {
	f := newFixture(t, fixtureOpts{ready: map[string]api.Check{"redis": ok}})
	srv := httptest.NewServer(f.handler)
	defer srv.Close()

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/workorders/"+knownID, nil)
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Authorization", "Bearer "+agentToken)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var got workorder.Order
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Error(err)
				return
			}
			if resp.StatusCode != http.StatusOK || got.ID != knownID || got.Class != "complaint" {
				t.Errorf("status %d, order %q/%q", resp.StatusCode, got.ID, got.Class)
			}
		}()
	}
	wg.Wait()

	resp, err := srv.Client().Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("readyz over HTTP = %d, want 200", resp.StatusCode)
	}
}
