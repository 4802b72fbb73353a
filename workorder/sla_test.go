package workorder_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
	"github.com/hotlined/hotlined/workorder"
)

// The status graph names exactly the statuses the SLA policies may name.
func TestStatusesMatchEscalation(t *testing.T) {
	if !slices.Equal(configs.Statuses, escalation.Statuses) {
		t.Errorf("configs.Statuses %v, escalation.Statuses %v", configs.Statuses, escalation.Statuses)
	}
	for _, s := range configs.Statuses {
		if s == configs.StatusArchived {
			continue
		}
		reach := s == configs.StatusNew
		for _, from := range configs.Statuses {
			reach = reach || workorder.CanTransition(from, s)
		}
		if !reach {
			t.Errorf("status %s cannot be reached", s)
		}
	}
}

// slaEnv is a Service planning with the shipped policies and calendar, on
// a real Redis and an injected clock, with a scheduler on the same clock.
type slaEnv struct {
	t       *testing.T
	ctx     context.Context
	now     time.Time
	cal     *escalation.LiveCalendar
	outbox  *queue.Outbox
	timers  *escalation.Store
	store   *workorder.Store
	svc     *workorder.Service
	sched   *escalation.Scheduler
	schemas *testenv.Schemas
	r       *testenv.Redis
}

func newSLAEnv(t *testing.T) *slaEnv {
	t.Helper()
	r := testenv.StartRedis(t)
	cfg, err := configs.Load("../configs/hotlined.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cal, err := escalation.OpenCalendar("../configs/calendars/cn-2027.yaml")
	if err != nil {
		t.Fatal(err)
	}
	policies, err := escalation.LoadPolicies("../configs/policies.yaml", cal)
	if err != nil {
		t.Fatal(err)
	}
	e := &slaEnv{t: t, ctx: context.Background(), cal: cal, r: r, schemas: testenv.LoadSchemas(t),
		now: time.Date(2026, 11, 23, 10, 0, 0, 0, cfg.Location)} // a Monday
	e.outbox = queue.NewOutbox("t", 4)
	e.timers = escalation.NewStore(r.Client, "t", 4, e.outbox, escalation.WithAlertEvents("/t", "hotline.alerts"))
	e.store = workorder.NewStore(r.Client, "t", 4, e.outbox, e.timers)
	e.svc = workorder.NewService(workorder.ServiceParams{Store: e.store, Router: queue.NewRouter(cfg.Kafka.Routes),
		Config: cfg, Policies: policies, Now: func() time.Time { return e.now }, Logger: zerolog.Nop(),
		Registerer: prometheus.NewRegistry()})
	e.sched, err = escalation.NewScheduler(escalation.SchedulerParams{Store: e.timers, Interval: time.Second,
		Lease: 30 * time.Second, AlertsTopic: "hotline.alerts", Source: "/t", Now: func() time.Time { return e.now },
		Policies: policies, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *slaEnv) complaint() *workorder.Order {
	e.t.Helper()
	o, err := e.svc.Create(e.ctx, workorder.Intake{Hotline: "10000", Tier: "province", Province: "GD",
		Caller: "18912345678", ServiceNumber: "18912345678", IVRPath: "41",
		Leaf: configs.Leaf{Category: "complaint", Subcategory: "billing", CollectServiceNumber: true}})
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

func (e *slaEnv) change(id, status, note string) *workorder.Order {
	e.t.Helper()
	o, err := e.svc.ChangeStatus(e.ctx, workorder.StatusChange{WorkOrderID: id, Status: status, Actor: "agent-7", Note: note})
	if err != nil {
		e.t.Fatalf("%s: %v", status, err)
	}
	return o
}

// timer reads the stage's timer, nil when there is none.
func (e *slaEnv) timer(o *workorder.Order, stage string) *escalation.Timer {
	e.t.Helper()
	tm, err := e.timers.TimerOf(e.ctx, e.store.Shard(o.ID), escalation.TimerID(o.ID, stage))
	if err == escalation.ErrNotFound {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return tm
}

// stored checks the stored order has the returned one's SLA and deadlines.
func (e *slaEnv) stored(o *workorder.Order) {
	e.t.Helper()
	got, err := e.store.Get(e.ctx, o.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(got.SLA) != len(o.SLA) || len(got.Deadlines) != len(o.Deadlines) {
		e.t.Errorf("stored SLA %+v deadlines %v, returned %+v %v", got.SLA, got.Deadlines, o.SLA, o.Deadlines)
	}
}

// validate checks every event in the outbox against queue/schemas.
func (e *slaEnv) validate() {
	e.t.Helper()
	for _, key := range e.outbox.Keys() {
		msgs, err := e.r.Client.XRange(e.ctx, key, "-", "+").Result()
		if err != nil {
			e.t.Fatal(err)
		}
		for _, m := range msgs {
			ev, err := queue.EventFromValues(m.Values)
			if err != nil {
				e.t.Fatal(err)
			}
			if err := e.schemas.Validate(ev.Type, ev.Data); err != nil {
				e.t.Errorf("%s: %v", ev.Type, err)
			}
		}
	}
}

func (e *slaEnv) alerts(state string) []escalation.Alert {
	e.t.Helper()
	a, err := e.timers.Alerts(e.ctx, state, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// A complaint through its life with the shipped policies: planned stages
// and timers at creation, register ending on accepted (its alert
// resolved), a pause while waiting on the customer, a resume with the time
// left, and the resolution ending the stages and resolving every alert.
func TestServiceSLALifecycle(t *testing.T) {
	e := newSLAEnv(t)
	created := e.now
	o := e.complaint()
	e.stored(o)
	for _, stage := range []string{"register", "resolve", "reply"} {
		s, ok := o.SLA[stage]
		if !ok || !s.Running() || s.Paused() || s.Policy != "complaint" || !s.Start.Equal(created) {
			t.Errorf("SLA %s = %+v", stage, s)
		}
		if _, ok := o.Deadlines[stage]; !ok {
			t.Errorf("no deadline %s: %v", stage, o.Deadlines)
		}
		tm := e.timer(o, stage)
		if tm == nil || tm.SLA == nil || tm.Class != "complaint" || tm.Key != "18912345678" || tm.Step != 0 {
			t.Errorf("timer %s = %+v", stage, tm)
		}
	}
	if !o.Deadlines["register"].Equal(created.Add(2*time.Hour)) || !o.Deadlines["reply"].Equal(created.Add(15*24*time.Hour)) {
		t.Errorf("deadlines %v", o.Deadlines)
	}
	if _, ok := o.SLA["follow_up"]; ok || e.timer(o, "follow_up") != nil {
		t.Errorf("follow_up started at creation: %+v", o.SLA)
	}
	// The first step of register is its warning at half its 2 hours.
	pending, err := e.timers.Pending(e.ctx, e.store.Shard(o.ID), escalation.TimerID(o.ID, "register"))
	if err != nil {
		t.Fatal(err)
	}
	if due := pending[escalation.TimerID(o.ID, "register")]; !due.Equal(created.Add(time.Hour)) {
		t.Errorf("register timer due %v, want %v", due, created.Add(time.Hour))
	}

	// The warning is raised; accepting ends register: timer gone, alert resolved.
	e.now = created.Add(90 * time.Minute)
	e.sched.Tick(e.ctx)
	if open := e.alerts(escalation.StateOpen); len(open) != 1 || open[0].Stage != "register" {
		t.Fatalf("open alerts %+v", open)
	}
	e.now = created.Add(100 * time.Minute)
	o = e.change(o.ID, "accepted", "")
	e.stored(o)
	if e.timer(o, "register") != nil || o.SLA["register"].Running() {
		t.Errorf("register after accepted: %+v", o.SLA["register"])
	}
	if _, ok := o.Deadlines["register"]; ok {
		t.Errorf("deadlines after accepted %v", o.Deadlines)
	}
	if open := e.alerts(escalation.StateOpen); len(open) != 0 {
		t.Errorf("open alerts after accepted %+v", open)
	}
	if res := e.alerts(escalation.StateResolved); len(res) != 1 || res[0].Stage != "register" {
		t.Errorf("resolved alerts after accepted %+v", res)
	}

	// Waiting on the customer from Tuesday 10:00 pauses resolve; the MIIT
	// reply clock never pauses (pausable: false).
	resolveDue, replyDue := o.Deadlines["resolve"], o.Deadlines["reply"]
	paused := created.Add(24 * time.Hour)
	e.now = paused
	o = e.change(o.ID, "pending_customer", "waiting for the bill")
	e.stored(o)
	if !o.SLA["resolve"].Paused() || e.timer(o, "resolve") != nil {
		t.Errorf("resolve while pending: %+v, timer %+v", o.SLA["resolve"], e.timer(o, "resolve"))
	}
	if o.SLA["reply"].Paused() || e.timer(o, "reply") == nil {
		t.Errorf("reply while pending: %+v, timer %+v", o.SLA["reply"], e.timer(o, "reply"))
	}
	if len(o.Deadlines) != 1 || !o.Deadlines["reply"].Equal(replyDue) {
		t.Errorf("deadlines while pending %v, want only the reply's, unchanged", o.Deadlines)
	}

	// Back in progress on Friday: resolve resumes with the time it had
	// left; the reply deadline never moved.
	resumed := paused.Add(3 * 24 * time.Hour)
	e.now = resumed
	o = e.change(o.ID, "in_progress", "")
	e.stored(o)
	cal := e.cal.Current()
	wantResolve := cal.AddWorkingHours(resumed, cal.WorkingTimeBetween(paused, resolveDue))
	if got := o.Deadlines["resolve"]; !got.Equal(wantResolve) {
		t.Errorf("resolve deadline after resume %v, want %v (was %v)", got, wantResolve, resolveDue)
	}
	if got := o.Deadlines["reply"]; !got.Equal(replyDue) {
		t.Errorf("reply deadline after resume %v, want %v unchanged", got, replyDue)
	}
	if tm := e.timer(o, "resolve"); tm == nil || tm.SLA == nil || tm.SLA.Paused() || !tm.SLA.Since.Equal(resumed) {
		t.Errorf("resolve timer after resume %+v", tm)
	}

	// The next resolve step is raised, then resolving the order ends the
	// stages, starts follow_up and resolves every alert.
	e.now = e.timer(o, "resolve").Due
	e.sched.Tick(e.ctx)
	if open := e.alerts(escalation.StateOpen); len(open) != 1 || open[0].Stage != "resolve" {
		t.Fatalf("open alerts before resolved %+v", open)
	}
	e.now = e.now.Add(time.Minute)
	o = e.change(o.ID, "resolved", "")
	e.stored(o)
	for _, stage := range []string{"register", "resolve", "reply"} {
		if o.SLA[stage].Running() || e.timer(o, stage) != nil {
			t.Errorf("%s after resolved: %+v", stage, o.SLA[stage])
		}
	}
	if tm := e.timer(o, "follow_up"); tm == nil || !o.SLA["follow_up"].Running() ||
		!o.Deadlines["follow_up"].Equal(e.now.Add(7*24*time.Hour)) {
		t.Errorf("follow_up after resolved: %+v %v", o.SLA["follow_up"], o.Deadlines)
	}
	if open := e.alerts(escalation.StateOpen); len(open) != 0 {
		t.Errorf("open alerts after resolved %+v", open)
	}
	// register's alert, resolved on Monday, is past the 24h retention.
	if res := e.alerts(escalation.StateResolved); len(res) != 1 || res[0].Stage != "resolve" {
		t.Errorf("resolved alerts %+v", res)
	}
	e.now = e.now.Add(time.Hour)
	o, err = e.svc.RecordFollowup(e.ctx, o.ID, "satisfied", "", "agent-7") // archives it
	if err != nil || o.Status != "archived" || o.Followup == nil {
		t.Fatalf("follow-up: %v", err)
	}
	if e.timer(o, "follow_up") != nil || len(o.Deadlines) != 0 {
		t.Errorf("after archived: %v", o.Deadlines)
	}
	e.validate()
}

// A supervisor's reclassification to major complaint re-plans the order:
// the alert at once starts, the running stages keep their clocks under the
// new policy, with the new class and priority on their timers.
func TestServiceSLAReclassify(t *testing.T) {
	e := newSLAEnv(t)
	o := e.complaint()
	e.now = e.now.Add(30 * time.Minute)
	o = e.change(o.ID, "accepted", "")
	before := o.Deadlines
	e.now = e.now.Add(time.Hour)
	o, err := e.svc.Reclassify(e.ctx, o.ID, "major_complaint", "supervisor-1", "the press called", true)
	if err != nil {
		t.Fatal(err)
	}
	e.stored(o)
	if tm := e.timer(o, "report_upward"); tm == nil || !tm.Due.Equal(e.now) || tm.Class != "major_complaint" {
		t.Errorf("report_upward timer %+v", tm)
	}
	for _, stage := range []string{"resolve", "reply"} {
		if !o.Deadlines[stage].Equal(before[stage]) {
			t.Errorf("%s deadline %v, want kept %v", stage, o.Deadlines[stage], before[stage])
		}
		tm := e.timer(o, stage)
		if tm == nil || tm.Class != "major_complaint" || tm.Priority != o.Priority || tm.SLA.Policy != "major_complaint" || tm.SLA.Run != 1 {
			t.Errorf("%s timer %+v", stage, tm)
		}
	}
	if o.SLA["register"].Running() || e.timer(o, "register") != nil {
		t.Errorf("register restarted: %+v", o.SLA["register"])
	}
	e.sched.Tick(e.ctx)
	if open := e.alerts(escalation.StateOpen); len(open) != 1 || open[0].Stage != "report_upward" {
		t.Fatalf("open alerts %+v", open)
	}
	e.now = e.now.Add(time.Minute)
	o = e.change(o.ID, "resolved", "")
	if open := e.alerts(escalation.StateOpen); len(open) != 0 || e.timer(o, "report_upward") != nil {
		t.Errorf("after resolved: open %+v", open)
	}
	e.validate()
}

// A status change whose note makes the complaint major plans the status
// and the new class in one transaction.
// TestServiceSLAStatementMakesMajor: a customer statement with a media
// keyword re-plans the order as major (the agent's status note does not).
func TestServiceSLAStatementMakesMajor(t *testing.T) {
	e := newSLAEnv(t)
	o := e.complaint()
	e.now = e.now.Add(30 * time.Minute)
	o = e.change(o.ID, "in_progress", "客户称要找媒体曝光")
	if o.Class != "complaint" {
		t.Fatalf("the agent's note changed the class: %s", o.Class)
	}
	o, err := e.svc.AddNote(context.Background(), o.ID, workorder.NoteCustomerStatement, "我要找媒体曝光", "agent-1")
	if err != nil {
		t.Fatal(err)
	}
	e.stored(o)
	if o.Class != "major_complaint" || o.Exposure != "threatened" {
		t.Fatalf("class %s exposure %q", o.Class, o.Exposure)
	}
	if o.SLA["register"].Running() || e.timer(o, "register") != nil {
		t.Errorf("register after in_progress: %+v", o.SLA["register"])
	}
	if tm := e.timer(o, "report_upward"); tm == nil || !tm.Due.Equal(e.now) {
		t.Errorf("report_upward timer %+v", tm)
	}
	for _, stage := range []string{"resolve", "reply"} {
		if tm := e.timer(o, stage); tm == nil || tm.Class != "major_complaint" || tm.SLA.Policy != "major_complaint" {
			t.Errorf("%s timer %+v", stage, tm)
		}
	}
	e.validate()
}
