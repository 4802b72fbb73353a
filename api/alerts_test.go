package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/api"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
)

// alertsFixture is the API over a real redis-server: the escalation store,
// a scheduler to raise alerts, and the live feed.
type alertsFixture struct {
	t      *testing.T
	rdb    *redis.Client
	outbox *queue.Outbox
	store  *escalation.Store
	sched  *escalation.Scheduler
	feed   *escalation.Feed
	h      http.Handler
	n      int // orders raised so far
}

const alertShards = 4

func newAlertsFixture(t *testing.T, buffer int, writeTimeout time.Duration) *alertsFixture {
	t.Helper()
	r := testenv.StartRedis(t)
	outbox := queue.NewOutbox("t", alertShards)
	store := escalation.NewStore(r.Client, "t", alertShards, outbox, escalation.WithAlertEvents("/t", "hotline.alerts"))
	sched, err := escalation.NewScheduler(escalation.SchedulerParams{Store: store, Interval: time.Second,
		Lease: time.Minute, AlertsTopic: "hotline.alerts", Source: "/t", Logger: zerolog.Nop(), BatchSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	feed, err := escalation.NewFeed(escalation.FeedParams{Store: store, Interval: 10 * time.Millisecond,
		Buffer: buffer, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := feed.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := feed.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	h := api.New(api.Params{
		Orders: &fakeOrders{},
		Tokens: []configs.Token{
			{Role: "agent", SHA256: configs.HashToken(agentToken)},
			{Role: "supervisor", SHA256: configs.HashToken(supervisorToken)},
			{Role: "system", SHA256: configs.HashToken(systemToken)},
		},
		Gatherer: prometheus.NewRegistry(),
		Logger:   zerolog.Nop(),
		Alerts: api.AlertParams{Store: store, Feed: feed, Heartbeat: 100 * time.Millisecond,
			WriteTimeout: writeTimeout},
	})
	return &alertsFixture{t: t, rdb: r.Client, outbox: outbox, store: store, sched: sched, feed: feed, h: h}
}

// raise makes n breach alerts, one per new order, spread over the shards,
// and returns their ids.
func (f *alertsFixture) raise(n int) []string {
	f.t.Helper()
	ctx := context.Background()
	due := time.Now().Add(-time.Second)
	var ids []string
	_, err := f.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i := 0; i < n; i++ {
			f.n++
			wo := fmt.Sprintf("WO-20261123-GD-%06d", f.n)
			ids = append(ids, "AL-"+wo+"-register-breach")
			tm := escalation.Timer{ID: escalation.TimerID(wo, "register"), WorkOrderID: wo, Shard: f.n % alertShards,
				Stage: "register", Due: due, Key: "02012345678", Class: "complaint", Tier: "province", Province: "GD", Priority: 2}
			if err := f.store.Add(ctx, pipe, tm); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.sched.Tick(ctx)
	return ids
}

func (f *alertsFixture) do(method, path, token, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func (f *alertsFixture) list(state, token string) []escalation.Alert {
	f.t.Helper()
	rec := f.do(http.MethodGet, "/v1/alerts?state="+state, token, "")
	if rec.Code != http.StatusOK {
		f.t.Fatalf("list %s = %d %s", state, rec.Code, rec.Body)
	}
	var body struct {
		Alerts []escalation.Alert `json:"alerts"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		f.t.Fatal(err)
	}
	return body.Alerts
}

// validateOutbox checks every event written against queue/schemas.
func (f *alertsFixture) validateOutbox() map[string]int {
	f.t.Helper()
	schemas := testenv.LoadSchemas(f.t)
	types := map[string]int{}
	for _, key := range f.outbox.Keys() {
		msgs, err := f.rdb.XRange(context.Background(), key, "-", "+").Result()
		if err != nil {
			f.t.Fatal(err)
		}
		for _, m := range msgs {
			ev, err := queue.EventFromValues(m.Values)
			if err != nil {
				f.t.Fatal(err)
			}
			if err := schemas.Validate(ev.Type, ev.Data); err != nil {
				f.t.Errorf("%s %s: %v", ev.Type, ev.ID, err)
			}
			types[ev.Type]++
		}
	}
	return types
}

func TestAlertsListAndAck(t *testing.T) {
	f := newAlertsFixture(t, 64, time.Second)
	ids := f.raise(3)

	open := f.list("open", agentToken)
	if len(open) != 3 || open[0].State != "open" || open[0].Severity != "breach" {
		t.Fatalf("open alerts %+v", open)
	}
	if got := f.list("", supervisorToken); len(got) != 3 {
		t.Errorf("state defaults to open: %d", len(got))
	}
	if got := f.list("acked", agentToken); len(got) != 0 {
		t.Errorf("acked %+v", got)
	}
	wantError(t, f.do(http.MethodGet, "/v1/alerts?state=closed", agentToken, ""), http.StatusBadRequest, "state")
	wantError(t, f.do(http.MethodGet, "/v1/alerts?limit=0", agentToken, ""), http.StatusBadRequest, "limit")
	wantError(t, f.do(http.MethodGet, "/v1/alerts", systemToken, ""), http.StatusForbidden, "")
	wantError(t, f.do(http.MethodGet, "/v1/alerts", "", ""), http.StatusUnauthorized, "Authorization")
	if got := f.do(http.MethodGet, "/v1/alerts?limit=2", agentToken, ""); strings.Count(got.Body.String(), `"id"`) != 2 {
		t.Errorf("limit 2: %s", got.Body)
	}

	// Only a supervisor acknowledges.
	path := "/v1/alerts/" + ids[0] + "/ack"
	wantError(t, f.do(http.MethodPost, path, agentToken, ""), http.StatusForbidden, "")
	rec := f.do(http.MethodPost, path, supervisorToken, `{"note": "on it"}`)
	var acked escalation.Alert
	if err := json.Unmarshal(rec.Body.Bytes(), &acked); rec.Code != http.StatusOK || err != nil ||
		acked.State != "acked" || acked.AckNote != "on it" || !strings.HasPrefix(acked.AckedBy, "supervisor:") ||
		strings.Contains(acked.AckedBy, supervisorToken) {
		t.Fatalf("ack = %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(http.MethodPost, path, supervisorToken, ""); rec.Code != http.StatusOK {
		t.Errorf("second ack = %d %s, want 200 (nothing changes)", rec.Code, rec.Body)
	}
	if got := f.list("acked", agentToken); len(got) != 1 || got[0].ID != ids[0] {
		t.Errorf("acked %+v", got)
	}
	wantError(t, f.do(http.MethodPost, "/v1/alerts/AL-WO-20261123-GD-999999-x-breach/ack", supervisorToken, ""), http.StatusNotFound, "id")
	wantError(t, f.do(http.MethodPost, "/v1/alerts/bad%20id/ack", supervisorToken, ""), http.StatusBadRequest, "id")
	wantError(t, f.do(http.MethodPost, "/v1/alerts/"+ids[1]+"/ack", supervisorToken, `{"notes": 1}`), http.StatusBadRequest, "note")

	// Resolving the order resolves its alerts; a resolved alert cannot be
	// acknowledged.
	wo := strings.TrimSuffix(strings.TrimPrefix(ids[1], "AL-"), "-register-breach")
	if err := f.store.ResolveOrderAlerts(context.Background(), f.rdb, 2, wo, time.Now()); err != nil {
		t.Fatal(err)
	}
	wantError(t, f.do(http.MethodPost, "/v1/alerts/"+ids[1]+"/ack", supervisorToken, ""), http.StatusConflict, "id")
	if got := f.list("resolved", supervisorToken); len(got) != 1 || got[0].ID != ids[1] || got[0].ResolvedAt.IsZero() {
		t.Errorf("resolved %+v", got)
	}

	types := f.validateOutbox()
	if types[queue.TypeAlertRaised] != 3 || types[queue.TypeAlertAcked] != 1 || types[queue.TypeAlertResolved] != 1 {
		t.Errorf("events %v", types)
	}
}

// sseEvent is one event read off a stream.
type sseEvent struct {
	id, event, data string
}

// sseClient reads a stream's events into a channel.
type sseClient struct {
	resp   *http.Response
	events chan sseEvent
	beats  chan struct{}
}

func connect(t *testing.T, url, token, lastEventID string) *sseClient {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream = %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	c := &sseClient{resp: resp, events: make(chan sseEvent, 100_000), beats: make(chan struct{}, 100)}
	go func() {
		defer close(c.events)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.event != "" {
					c.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ": heartbeat"):
				select {
				case c.beats <- struct{}{}:
				default:
				}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data += line[6:]
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return c
}

// read returns the next n events' alert ids, and the last event.
func (c *sseClient) read(t *testing.T, n int, within time.Duration) ([]string, sseEvent) {
	t.Helper()
	var ids []string
	var last sseEvent
	timeout := time.After(within)
	for len(ids) < n {
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatalf("stream ended after %d of %d events", len(ids), n)
			}
			var a escalation.Alert
			if err := json.Unmarshal([]byte(ev.data), &a); err != nil || ev.id == "" || ev.event != "hotline.alert.raised" {
				t.Fatalf("event %+v: %v", ev, err)
			}
			ids, last = append(ids, a.ID), ev
		case <-timeout:
			t.Fatalf("got %d of %d events in %s", len(ids), n, within)
		}
	}
	return ids, last
}

// A client that reconnects with Last-Event-ID gets exactly the alerts it
// missed: none twice, none lost, then the live ones.
func TestAlertStreamReconnectGetsExactlyWhatWasMissed(t *testing.T) {
	f := newAlertsFixture(t, 1024, time.Second)
	srv := httptest.NewServer(f.h)
	t.Cleanup(srv.Close) // after the clients below hang up
	url := srv.URL + "/v1/stream/alerts"

	first := connect(t, url, supervisorToken, "")
	waitSubscribers(t, f.feed, 1)
	raised := f.raise(20)
	got, last := first.read(t, 12, 5*time.Second)
	// The client goes away after 12 events, remembering the last id.
	lastID, lastSeen := last.id, got[len(got)-1]
	first.resp.Body.Close()
	waitSubscribers(t, f.feed, 0)
	raised = append(raised, f.raise(15)...) // while it is away

	again := connect(t, url, supervisorToken, lastID)
	missed, _ := again.read(t, len(raised)-len(got), 5*time.Second)
	seen := map[string]bool{}
	for _, id := range append(got, missed...) {
		if seen[id] {
			t.Errorf("%s delivered twice", id)
		}
		seen[id] = true
	}
	for _, id := range raised {
		if !seen[id] {
			t.Errorf("%s never delivered", id)
		}
	}
	if missed[0] == lastSeen {
		t.Errorf("the last event seen came again")
	}
	// Then it follows live, and nothing more is pending.
	live := f.raise(2)
	more, _ := again.read(t, 2, 5*time.Second)
	if !sameSet(more, live) {
		t.Errorf("live %v, want %v", more, live)
	}
	select {
	case ev := <-again.events:
		t.Errorf("unexpected event %+v", ev)
	case <-time.After(300 * time.Millisecond):
	}
	if n := len(again.beats); n == 0 {
		t.Error("no heartbeat on an idle stream")
	}

	// An id the feed never gave: a reset, telling the client to reload.
	c := connect(t, url, agentToken, "garbage")
	select {
	case ev := <-c.events:
		if ev.event != escalation.FeedReset || ev.id == "" || !strings.Contains(ev.data, "reason") {
			t.Errorf("first event %+v, want a reset", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reset")
	}
	f.validateOutbox()
}

func waitSubscribers(t *testing.T, feed *escalation.Feed, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for feed.Subscribers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("subscribers %d, want %d", feed.Subscribers(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A client that connects and never reads does not slow another: the other
// gets every alert at once, and the stalled one is dropped.
func TestAlertStreamStalledClientDoesNotDelayOthers(t *testing.T) {
	f := newAlertsFixture(t, 1024, 2*time.Second)
	// Small socket buffers on the server side, so the stalled client's
	// stream fills them after a few events, as over a real network.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(f.h)
	srv.Listener = smallBuffers{ln}
	srv.Start()
	t.Cleanup(srv.Close)

	// The stalled client: sends its request, never reads a byte.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /v1/stream/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", agentToken)
	waitSubscribers(t, f.feed, 1)

	reader := connect(t, srv.URL+"/v1/stream/alerts", supervisorToken, "")
	waitSubscribers(t, f.feed, 2)
	const n, burst = 3000, 200
	var raised []string
	done := make(chan []string)
	go func() {
		got, _ := reader.read(t, n, 20*time.Second)
		done <- got
	}()
	for i := 0; i < n; i += burst {
		raised = append(raised, f.raise(burst)...)
	}
	start := time.Now()
	got := <-done
	if !sameSet(got, raised) {
		t.Errorf("the reading client got %d events, not the %d raised", len(got), len(raised))
	}
	// Long before the stalled client's write timeout, the reader had
	// everything; the stalled one is dropped.
	if d := time.Since(start); d > time.Second {
		t.Errorf("the reader finished %s after the last alert", d)
	}
	waitSubscribers(t, f.feed, 1)
	t.Logf("reader had all %d alerts %s after the last was raised; stalled client dropped", n, time.Since(start).Round(time.Millisecond))
}

// sameSet reports whether a and b hold the same ids, each once.
func sameSet(a, b []string) bool {
	seen := map[string]int{}
	for _, id := range a {
		seen[id]++
	}
	for _, id := range b {
		if seen[id] != 1 {
			return false
		}
		delete(seen, id)
	}
	return len(seen) == 0
}

// smallBuffers gives accepted connections an 8 KiB send buffer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8192)
	}
	return c, err
}

func TestAlertStreamAuth(t *testing.T) {
	f := newAlertsFixture(t, 64, time.Second)
	wantError(t, f.do(http.MethodGet, "/v1/stream/alerts", "", ""), http.StatusUnauthorized, "Authorization")
	wantError(t, f.do(http.MethodGet, "/v1/stream/alerts", systemToken, ""), http.StatusForbidden, "")
	wantError(t, f.do(http.MethodGet, "/v1/stream/alerts", "wrong", ""), http.StatusUnauthorized, "Authorization")
}
