package escalation

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
)

// fakeClock is the injected clock of the scheduler and the planner.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// env is a store on a real redis-server, the shipped policies and a
// scheduler on a fake clock.
type env struct {
	t      *testing.T
	s      *Store
	rdb    *redis.Client
	outbox *queue.Outbox
	p      *Policies
	clock  *fakeClock
	sched  *Scheduler
}

func newEnv(t *testing.T, shards int) *env {
	t.Helper()
	s, rdb, outbox := newTestStore(t, shards)
	e := &env{t: t, s: s, rdb: rdb, outbox: outbox, p: shippedPolicies(t), clock: &fakeClock{}}
	var err error
	e.sched, err = NewScheduler(SchedulerParams{Store: s, Interval: time.Second, Lease: 30 * time.Second,
		AlertsTopic: "hotline.alerts", Source: "/t", Now: e.clock.Now, Policies: e.p, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// apply writes a plan the way the work-order store does: in one MULTI.
func (e *env) apply(shard int, wo string, plan Plan) {
	e.t.Helper()
	ctx := context.Background()
	_, err := e.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		return e.s.Apply(ctx, pipe, shard, wo, plan, e.clock.Now())
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// tick runs the scheduler once at ts.
func (e *env) tick(ts time.Time) {
	e.clock.Set(ts)
	e.sched.Tick(context.Background())
}

// events reads every event in the outbox, shard by shard.
func (e *env) events() []queue.Event {
	e.t.Helper()
	var out []queue.Event
	for _, key := range e.outbox.Keys() {
		msgs, err := e.rdb.XRange(context.Background(), key, "-", "+").Result()
		if err != nil {
			e.t.Fatal(err)
		}
		for _, m := range msgs {
			ev, err := queue.EventFromValues(m.Values)
			if err != nil {
				e.t.Fatal(err)
			}
			out = append(out, ev)
		}
	}
	return out
}

// newEvents returns the events written since the last call.
func (e *env) newEvents(seen *int) []queue.Event {
	all := e.events()
	out := all[*seen:]
	*seen = len(all)
	return out
}

func decodeEventAlert(t *testing.T, ev queue.Event) Alert {
	t.Helper()
	var a Alert
	if err := json.Unmarshal(ev.Data, &a); err != nil {
		t.Fatalf("%s: %v", ev.Type, err)
	}
	return a
}

// wantEvents checks the new events' types and alert ids, levels and states.
func wantEvents(t *testing.T, got []queue.Event, want ...string) {
	t.Helper()
	var have []string
	for _, ev := range got {
		a := decodeEventAlert(t, ev)
		have = append(have, fmt.Sprintf("%s %s L%d %s", ev.Type[len("hotline.alert."):], a.ID, a.Level, a.State))
	}
	if fmt.Sprint(have) != fmt.Sprint(want) {
		t.Errorf("events\n got %q\nwant %q", have, want)
	}
}

// TestStoreOrderLifecycle drives one complaint through its life against a
// real Redis: warnings, the breach climbing the ladder, an acknowledgement
// that stops the climb, the stage ending, a pause over a weekend and a
// resume with the time left, and the resolution resolving every alert.
// Every event written validates against queue/schemas.
func TestStoreOrderLifecycle(t *testing.T) {
	e := newEnv(t, 4)
	ctx := context.Background()
	const shard = 2
	wo := testOrder
	in := PlanInput{WorkOrderID: wo, Key: "02012345678", Class: "complaint", Tier: "province", Province: "GD",
		Priority: 2, Status: "new", CreatedAt: cst(t, "2026-03-09 10:00")}
	e.clock.Set(in.CreatedAt)
	plan := e.p.Plan(in, in.CreatedAt)
	e.apply(shard, wo, plan)
	change := func(status string, at time.Time) {
		t.Helper()
		e.clock.Set(at)
		in.Status, in.SLA, in.Deadlines = status, plan.SLA, plan.Deadlines
		plan = e.p.Transition(in, at)
		e.apply(shard, wo, plan)
	}
	seen := 0
	id := func(suffix string) string { return "AL-" + wo + "-" + suffix }

	e.tick(cst(t, "2026-03-09 10:59:59"))
	wantEvents(t, e.newEvents(&seen))
	e.tick(cst(t, "2026-03-09 11:00:01"))
	wantEvents(t, e.newEvents(&seen), "raised "+id("register-warn50")+" L0 open")
	e.tick(cst(t, "2026-03-09 12:00:01")) // 80% at 11:36 and the breach at 12:00, late
	wantEvents(t, e.newEvents(&seen), "raised "+id("register-breach")+" L1 open")
	e.tick(cst(t, "2026-03-09 16:00:01"))
	wantEvents(t, e.newEvents(&seen), "raised "+id("register-breach")+" L2 open")
	if a, err := e.s.Alert(ctx, shard, id("register-breach")); err != nil || a.Level != 2 ||
		a.LevelName != "provincial_complaint_centre" || a.Step != 3 {
		t.Errorf("breach alert %+v, %v", a, err)
	}

	// A supervisor acknowledges: the climb stops.
	a, err := e.s.Ack(ctx, id("register-breach"), "supervisor", "calling the customer", cst(t, "2026-03-09 16:30"))
	if err != nil || a.State != StateAcked || a.AckedBy != "supervisor" || a.AckNote != "calling the customer" ||
		!a.AckedAt.Equal(cst(t, "2026-03-09 16:30")) {
		t.Fatalf("ack = %+v, %v", a, err)
	}
	if again, err := e.s.Ack(ctx, id("register-breach"), "supervisor", "", cst(t, "2026-03-09 16:31")); err != nil ||
		!again.AckedAt.Equal(a.AckedAt) {
		t.Errorf("second ack = %+v, %v", again, err)
	}
	wantEvents(t, e.newEvents(&seen), "acked "+id("register-breach")+" L2 acked")
	e.tick(cst(t, "2026-03-10 12:00:01"))
	wantEvents(t, e.newEvents(&seen))
	if p, _ := e.s.Pending(ctx, shard, TimerID(wo, "register")); len(p) != 0 {
		t.Errorf("register timer after the ack: %v", p)
	}

	// Accepted: register's alerts resolve, acknowledged or not.
	change("accepted", cst(t, "2026-03-10 13:00"))
	wantEvents(t, e.newEvents(&seen),
		"resolved "+id("register-breach")+" L2 resolved", "resolved "+id("register-warn50")+" L0 resolved")

	// Waiting on the customer from Tuesday 14:00 to Friday 15:00: nothing
	// fires; 13 of resolve's 27 working hours were used. The 15-day reply
	// is not pausable: its timer stays at half its 15 days.
	change("pending_customer", cst(t, "2026-03-10 14:00"))
	if p, _ := e.s.Pending(ctx, shard, TimerID(wo, "resolve"), TimerID(wo, "reply")); len(p) != 1 ||
		!p[TimerID(wo, "reply")].Equal(cst(t, "2026-03-16 22:00")) {
		t.Errorf("timers while paused: %v, want only reply's at Monday 22:00", p)
	}
	e.tick(cst(t, "2026-03-13 14:59"))
	wantEvents(t, e.newEvents(&seen))
	change("in_progress", cst(t, "2026-03-13 15:00"))
	pending, _ := e.s.Pending(ctx, shard, TimerID(wo, "resolve"))
	if due := pending[TimerID(wo, "resolve")]; !due.Equal(cst(t, "2026-03-13 15:30")) {
		t.Errorf("resolve timer after resume due %s, want Friday 15:30 (half a working hour left to 50%%)", due)
	}
	e.tick(cst(t, "2026-03-13 15:30:01"))
	wantEvents(t, e.newEvents(&seen), "raised "+id("resolve-warn50")+" L0 open")

	// Resolved: every open alert of the order resolves; the follow-up
	// call's timer starts.
	change("resolved", cst(t, "2026-03-13 16:00"))
	wantEvents(t, e.newEvents(&seen), "resolved "+id("resolve-warn50")+" L0 resolved")
	if open, _ := e.s.Alerts(ctx, StateOpen, 0); len(open) != 0 {
		t.Errorf("open alerts after resolve: %+v", open)
	}
	// Resolved alerts stay listed for a day: register's were resolved on
	// Tuesday and are forgotten by now.
	if resolved, _ := e.s.Alerts(ctx, StateResolved, 0); len(resolved) != 1 || resolved[0].ID != id("resolve-warn50") {
		t.Errorf("resolved alerts: %+v, want resolve-warn50 only", resolved)
	}
	pending, _ = e.s.Pending(ctx, shard, TimerID(wo, "follow_up"), TimerID(wo, "resolve"), TimerID(wo, "reply"))
	if len(pending) != 1 || !pending[TimerID(wo, "follow_up")].Equal(cst(t, "2026-03-17 04:00")) {
		t.Errorf("timers after resolve: %v", pending)
	}
	if _, err := e.s.Ack(ctx, id("resolve-warn50"), "supervisor", "", cst(t, "2026-03-13 17:00")); err != ErrAlertResolved {
		t.Errorf("ack of a resolved alert: %v", err)
	}
	if _, err := e.s.Ack(ctx, "AL-nope", "supervisor", "", cst(t, "2026-03-13 17:00")); err != ErrNotFound {
		t.Errorf("ack of an unknown alert: %v", err)
	}

	schemas := testenv.LoadSchemas(t)
	all := e.events()
	for _, ev := range all {
		if err := schemas.Validate(ev.Type, ev.Data); err != nil {
			t.Errorf("%s %s: %v", ev.Type, ev.ID, err)
		}
		if ev.Key != "02012345678" || ev.Subject != wo || ev.Topics[0] != "hotline.alerts" || ev.Source != "/t" {
			t.Errorf("event attributes %+v", ev)
		}
	}
	ids := map[string]bool{}
	for _, ev := range all {
		if ids[ev.ID] {
			t.Errorf("ce_id %s used twice", ev.ID)
		}
		ids[ev.ID] = true
	}
	// The feed got the same changes, in order, for the SSE clients.
	if n := e.rdb.XLen(ctx, e.s.FeedKey(shard)).Val(); n != int64(len(all)) {
		t.Errorf("feed entries %d, outbox events %d", n, len(all))
	}
}

// A major complaint alerts at once and climbs its short ladder.
func TestStoreMajorComplaintAlertsAtOnce(t *testing.T) {
	e := newEnv(t, 2)
	at := cst(t, "2026-03-07 22:00")
	in := PlanInput{WorkOrderID: testOrder, Key: "k", Class: "major_complaint", Tier: "group", Province: "BJ",
		Priority: 1, Status: "new", CreatedAt: at}
	e.clock.Set(at)
	e.apply(1, testOrder, e.p.Plan(in, at))
	seen := 0
	upward := func() []queue.Event { // the report's events, not the stages'
		var out []queue.Event
		for _, ev := range e.newEvents(&seen) {
			if strings.Contains(ev.Subject+string(ev.Data), "report_upward") {
				out = append(out, ev)
			}
		}
		return out
	}
	e.tick(at.Add(100 * time.Millisecond))
	l1 := "AL-" + testOrder + "-report_upward-major-team_lead"
	wantEvents(t, upward(), "raised "+l1+" L1 open")
	// The team lead acks at once: the provincial centre and the group are
	// told all the same (逐级上报), each with its own alert.
	if _, err := e.s.Ack(context.Background(), l1, "lead-1", "on it", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	e.tick(at.Add(15 * time.Minute))
	l2 := "AL-" + testOrder + "-report_upward-major-provincial_complaint_centre"
	wantEvents(t, upward(), "acked "+l1+" L1 acked", "raised "+l2+" L2 open")
	ev := e.events()[seen-1]
	if a := decodeEventAlert(t, ev); a.Severity != SeverityMajor || a.LevelName != "provincial_complaint_centre" {
		t.Errorf("alert %+v", a)
	}
	if err := testenv.LoadSchemas(t).Validate(ev.Type, ev.Data); err != nil {
		t.Error(err)
	}
	e.tick(at.Add(time.Hour))
	l3 := "AL-" + testOrder + "-report_upward-major-group_customer_service"
	wantEvents(t, upward(), "raised "+l3+" L3 open")
	// The last level is reminded until it acks; its ack stops that only.
	e.tick(at.Add(2 * time.Hour))
	wantEvents(t, upward(), "raised "+l3+" L3 open")
	if _, err := e.s.Ack(context.Background(), l3, "group-1", "", at.Add(2*time.Hour+time.Minute)); err != nil {
		t.Fatal(err)
	}
	e.tick(at.Add(3 * time.Hour))
	wantEvents(t, upward(), "acked "+l3+" L3 acked")
}

// Cancelling or re-planning a timer between its claim and its firing wins:
// nothing is raised and the new state stays. The other way round the
// alert is raised and then the change applies.
func TestCancelAndRescheduleRaceFiring(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	t0 := cst(t, "2026-03-09 10:00")
	e.clock.Set(t0)
	in := PlanInput{WorkOrderID: testOrder, Class: "consultation", Tier: "province", Status: "new", CreatedAt: t0}
	plan := e.p.Plan(in, t0)
	tm, _ := timerOf(plan, "answer")
	at := tm.Due.Add(time.Second)

	t.Run("cancel after claim", func(t *testing.T) {
		e.apply(0, testOrder, plan)
		claims, err := e.s.Claim(ctx, 0, at, time.Minute, 10)
		if err != nil || len(claims) != 1 {
			t.Fatalf("claim %v %v", claims, err)
		}
		in2 := in
		in2.Status, in2.SLA, in2.Deadlines = "resolved", plan.SLA, plan.Deadlines
		e.apply(0, testOrder, e.p.Transition(in2, at))
		e.clock.Set(at)
		before := len(e.events())
		e.sched.fire(ctx, claims)
		if n := len(e.events()); n != before {
			t.Errorf("raised after the cancel: %d events", n-before)
		}
		if p, _ := e.s.Pending(ctx, 0, tm.ID); len(p) != 0 {
			t.Errorf("timer left: %v", p)
		}
	})
	t.Run("reschedule after claim", func(t *testing.T) {
		e.apply(0, testOrder, plan)
		claims, _ := e.s.Claim(ctx, 0, at, time.Minute, 10)
		// The order is reopened: the stage restarts with a new deadline.
		in2 := in
		in2.Status, in2.SLA, in2.Deadlines = "reopened", plan.SLA, plan.Deadlines
		replanned := e.p.Transition(in2, at)
		e.apply(0, testOrder, replanned)
		before := len(e.events())
		e.sched.fire(ctx, claims)
		if n := len(e.events()); n != before {
			t.Errorf("raised after the reschedule: %d events", n-before)
		}
		want, _ := timerOf(replanned, "answer")
		got, err := e.s.TimerOf(ctx, 0, tm.ID)
		if err != nil || !got.Due.Equal(want.Due) || got.SLA.Run != 2 {
			t.Errorf("timer after the race %+v, %v; want due %s run 2", got, err, want.Due)
		}
		if p, _ := e.s.Pending(ctx, 0, tm.ID); !p[tm.ID].Equal(want.Due.Truncate(time.Millisecond)) {
			t.Errorf("score %v, want %s", p, want.Due)
		}
	})
	t.Run("cancel after fire", func(t *testing.T) {
		e.rdb.FlushAll(ctx)
		e.apply(0, testOrder, plan)
		e.tick(at)
		if n := len(e.events()); n != 1 {
			t.Fatalf("events %d, want the warning", n)
		}
		in2 := in
		in2.Status, in2.SLA, in2.Deadlines = "resolved", plan.SLA, plan.Deadlines
		e.apply(0, testOrder, e.p.Transition(in2, at))
		if p, _ := e.s.Pending(ctx, 0, tm.ID); len(p) != 0 {
			t.Errorf("timer left: %v", p)
		}
		if all := e.events(); len(all) != 2 || all[1].Type != queue.TypeAlertResolved {
			t.Errorf("events %+v", all)
		}
	})
}

// Many orders, a scheduler firing and a second goroutine cancelling or
// re-planning them at the same time: no cancelled timer survives, no
// re-planned timer is lost, and no alert is raised twice.
func TestCancelAndRescheduleRaceConcurrent(t *testing.T) {
	const n = 400
	e := newEnv(t, 4)
	ctx := context.Background()
	t0 := cst(t, "2026-03-09 10:00")
	at := t0.Add(13 * time.Hour) // every warning and the breach are due
	type item struct {
		shard int
		in    PlanInput
		plan  Plan
	}
	items := make([]item, n)
	for i := range items {
		in := PlanInput{WorkOrderID: fmt.Sprintf("WO-20260309-GD-%06d", i), Class: "consultation", Tier: "province",
			Status: "new", CreatedAt: t0}
		items[i] = item{shard: i % 4, in: in, plan: e.p.Plan(in, t0)}
		e.apply(i%4, in.WorkOrderID, items[i].plan)
	}
	e.clock.Set(at)
	replans := make([]Plan, n)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 5; i++ {
			e.sched.Tick(ctx)
		}
	}()
	go func() {
		defer wg.Done()
		for i, it := range items {
			in := it.in
			in.SLA, in.Deadlines = it.plan.SLA, it.plan.Deadlines
			if i%2 == 0 {
				in.Status = "resolved" // ends the stage: cancel
			} else {
				in.Status = "reopened" // restarts it: reschedule
			}
			replans[i] = e.p.Transition(in, at)
			e.apply(it.shard, in.WorkOrderID, replans[i])
		}
	}()
	wg.Wait()
	for i, it := range items {
		id := TimerID(it.in.WorkOrderID, "answer")
		got, err := e.s.TimerOf(ctx, it.shard, id)
		if i%2 == 0 {
			if err != ErrNotFound {
				t.Errorf("%s: cancelled timer survived: %+v %v", id, got, err)
			}
			continue
		}
		want, _ := timerOf(replans[i], "answer")
		if err != nil || got.SLA.Run != 2 || !got.Due.Equal(want.Due) {
			t.Errorf("%s: re-planned timer %+v, %v; want run 2 due %s", id, got, err, want.Due)
		}
	}
	raised := map[string]int{}
	for _, ev := range e.events() {
		if ev.Type == queue.TypeAlertRaised {
			raised[ev.ID]++
		}
	}
	for id, c := range raised {
		if c > 1 {
			t.Errorf("%s raised %d times", id, c)
		}
	}
}

// Two schedulers share one Redis. One is stopped hard between claiming and
// firing, like a crashed daemon; every timer it held fires from the other
// within the lease and a second, each exactly once.
func TestCrashedSchedulerClaimsFireFromAnother(t *testing.T) {
	const n = 300
	const lease = 2 * time.Second
	s, rdb, outbox := newTestStore(t, 2)
	ctx := context.Background()
	t0 := time.Now().Add(-time.Second)
	timers := make([]Timer, n)
	for i := range timers {
		wo := fmt.Sprintf("WO-20260309-GD-%06d", i)
		timers[i] = Timer{ID: TimerID(wo, "register"), WorkOrderID: wo, Stage: "register", Due: t0, Shard: i % 2,
			Class: "complaint", Tier: "province", Province: "GD", Priority: 2}
	}
	addTimers(t, s, rdb, timers...)

	crashCtx, crash := context.WithCancel(ctx)
	var claimedAt time.Time
	held := map[string]bool{}
	crashed, err := NewScheduler(SchedulerParams{Store: s, Interval: 50 * time.Millisecond, Lease: lease,
		AlertsTopic: "hotline.alerts", Source: "/crashed", BatchSize: 1000, Logger: zerolog.Nop(),
		beforeFire: func(_ context.Context, claims []Claim) {
			claimedAt = time.Now()
			for _, c := range claims {
				held[c.WorkOrderID] = true
			}
			crash() // the process dies holding the claims
		}})
	if err != nil {
		t.Fatal(err)
	}
	crashed.Tick(crashCtx)
	if len(held) == 0 {
		t.Fatal("the crashed scheduler claimed nothing")
	}
	if d := rdb.XLen(ctx, outbox.Key(0)).Val() + rdb.XLen(ctx, outbox.Key(1)).Val(); d != 0 {
		t.Fatalf("the crashed scheduler raised %d alerts", d)
	}

	survivor, err := NewScheduler(SchedulerParams{Store: s, Interval: 50 * time.Millisecond, Lease: lease,
		AlertsTopic: "hotline.alerts", Source: "/survivor", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	survivor.Start(ctx)
	defer func() {
		if err := survivor.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	}()
	deadline := claimedAt.Add(lease + time.Second)
	for time.Now().Before(deadline.Add(2 * time.Second)) {
		if d, _ := outbox.Depth(ctx, rdb); d >= n {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	e := &env{t: t, rdb: rdb, outbox: outbox}
	schemas := testenv.LoadSchemas(t)
	raised := map[string]int{}
	for _, ev := range e.events() {
		raised[ev.Subject]++
		if err := schemas.Validate(ev.Type, ev.Data); err != nil {
			t.Error(err)
		}
		if !held[ev.Subject] {
			continue
		}
		if ev.Time.After(deadline) {
			t.Errorf("%s fired %s after the crash, want within the lease (%s) + 1s", ev.Subject, ev.Time.Sub(claimedAt), lease)
		}
		if ev.Time.Before(claimedAt.Add(lease - 10*time.Millisecond)) {
			t.Errorf("%s fired %s after the claim, before the lease ended", ev.Subject, ev.Time.Sub(claimedAt))
		}
	}
	for _, tm := range timers {
		if raised[tm.WorkOrderID] != 1 {
			t.Errorf("%s raised %d times, want once", tm.WorkOrderID, raised[tm.WorkOrderID])
		}
	}
	t.Logf("crashed instance held %d of %d timers", len(held), n)
}

// Replacing the calendar file and reloading (SIGHUP) moves the open timers
// of working-time stages; wall-clock ones stay. A bad file keeps the
// calendar in use.
func TestReloadCalendarMovesOpenTimers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "calendar.yaml")
	data, err := os.ReadFile(filepath.Join(calendarDir, "cn-2026.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cal, err := OpenCalendar(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadPolicies(shippedPoliciesFile, cal)
	if err != nil {
		t.Fatal(err)
	}
	s, _, _ := newTestStore(t, 2)
	clock := &fakeClock{now: cst(t, "2026-03-09 10:00")}
	sched, err := NewScheduler(SchedulerParams{Store: s, Interval: time.Second, Lease: time.Minute,
		AlertsTopic: "hotline.alerts", Source: "/t", Now: clock.Now, Policies: p, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, s: s, rdb: s.rdb.(*redis.Client), p: p, clock: clock}
	in := PlanInput{WorkOrderID: testOrder, Class: "complaint", Tier: "province", Status: "new", CreatedAt: clock.Now()}
	e.apply(1, testOrder, p.Plan(in, clock.Now()))
	ctx := context.Background()
	ids := []string{TimerID(testOrder, "register"), TimerID(testOrder, "resolve"), TimerID(testOrder, "reply")}
	before, _ := s.Pending(ctx, 1, ids...)

	// Tuesday 2026-03-10 is declared a day off.
	if err := os.WriteFile(path, []byte("years:\n  2026:\n    holidays: [2026-03-10]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ { // planning reads the calendar while it is swapped
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				p.Plan(in, clock.Now())
			}
		}()
	}
	st, err := sched.Reload(ctx)
	wg.Wait()
	if err != nil || st.Timers != 3 || st.Moved != 1 {
		t.Fatalf("reload = %+v, %v; want 3 timers read, resolve moved", st, err)
	}
	after, _ := s.Pending(ctx, 1, ids...)
	if !after[ids[1]].Equal(cst(t, "2026-03-11 14:30")) {
		t.Errorf("resolve timer due %s, want Wednesday 14:30", after[ids[1]])
	}
	if !after[ids[0]].Equal(before[ids[0]]) || !after[ids[2]].Equal(before[ids[2]]) {
		t.Errorf("wall-clock timers moved: %v -> %v", before, after)
	}

	if err := os.WriteFile(path, []byte("years:\n  2026:\n    holidays: [2026-02-30]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sched.Reload(ctx); err == nil || !strings.Contains(err.Error(), "years.2026.holidays[0]") {
		t.Errorf("reload of a bad file = %v", err)
	}
	if cal.Current().IsWorkingDay(cst(t, "2026-03-10 12:00")) {
		t.Error("the bad file replaced the calendar in use")
	}
}

// TestNextKnownAfterTick: after a scheduler round, with nobody else
// writing timers, the earliest due time the scheduler knows of is never
// later than the store's (hotlined replay ticks there instead of asking
// the store), and a round there makes it the store's own, all the way
// through warnings, breaches and ladder climbs on 4 shards.
func TestNextKnownAfterTick(t *testing.T) {
	e := newEnv(t, 4)
	ctx := context.Background()
	t0 := cst(t, "2026-03-09 10:00")
	e.clock.Set(t0)
	for i := range 8 {
		wo := fmt.Sprintf("WO-20260309-GD-%06d", 100+i)
		class := []string{"complaint", "major_complaint", "consultation", "fault_report"}[i%4]
		in := PlanInput{WorkOrderID: wo, Key: "k", Class: class, Tier: "province", Province: "GD",
			Priority: 2, Status: "new", CreatedAt: t0.Add(time.Duration(i) * 7 * time.Minute)}
		e.apply(i%4, wo, e.p.Plan(in, in.CreatedAt))
	}
	ticks := 0
	for ; ticks < 200; ticks++ {
		due, ok, err := e.s.NextDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		e.tick(due)
		known, kok := e.sched.NextKnown()
		fresh, fok, err := e.s.NextDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if fok && (!kok || known.After(fresh)) {
			t.Fatalf("tick %d at %s: the scheduler knows %s (%v), later than the store's %s", ticks, due, known, kok, fresh)
		}
		if kok && known.Before(fresh) {
			// A round at the time it knows fires nothing and learns the
			// store's earliest.
			seen := len(e.events())
			e.tick(known)
			if n := len(e.events()); n != seen {
				t.Fatalf("tick %d: a round at %s, before the store's earliest %s, wrote %d events", ticks, known, fresh, n-seen)
			}
			if again, _ := e.sched.NextKnown(); !again.Equal(fresh) {
				t.Fatalf("tick %d: after a round at %s the scheduler knows %s, the store says %s", ticks, known, again, fresh)
			}
		}
	}
	if ticks < 20 {
		t.Errorf("only %d ticks: the plans made too few timers to test", ticks)
	}
}

// TestNextKnownSeesTimersAdded: timers this process writes through the
// store after a round (a new order's plan, earlier than anything the
// round left) lower what the scheduler knows, without a round or a read,
// so the replay needs no Store.NextDue between its steps.
func TestNextKnownSeesTimersAdded(t *testing.T) {
	e := newEnv(t, 4)
	ctx := context.Background()
	t0 := cst(t, "2026-03-09 10:00")
	e.clock.Set(t0)
	plan := func(i int, at time.Time) {
		wo := fmt.Sprintf("WO-20260309-GD-%06d", 200+i)
		in := PlanInput{WorkOrderID: wo, Key: "k", Class: "major_complaint", Tier: "province", Province: "GD",
			Priority: 1, Status: "new", CreatedAt: at}
		e.apply(i%4, wo, e.p.Plan(in, at))
	}
	plan(0, t0.Add(48*time.Hour))
	e.tick(t0) // nothing due: the round learns the store's earliest
	before, ok := e.sched.NextKnown()
	if !ok {
		t.Fatal("after a round the scheduler knows of no timer")
	}
	for i := 1; i <= 3; i++ {
		plan(i, t0.Add(time.Duration(i)*time.Minute)) // on shards 1 to 3, earlier than what the round saw
		known, _ := e.sched.NextKnown()
		fresh, _, err := e.s.NextDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if known.After(fresh) || !known.Before(before) {
			t.Fatalf("after adding order %d the scheduler knows %s; the store's earliest is %s (before: %s)", i, known, fresh, before)
		}
	}
}
