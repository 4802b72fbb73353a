package workorder_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
	"github.com/hotlined/hotlined/workorder"
)

// clock is an injected clock that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a Service on a real redis-server with the shipped config and rules.
type env struct {
	t      *testing.T
	redis  *testenv.Redis
	cfg    *configs.Config
	rules  *classifier.Rules
	store  *workorder.Store
	timers *escalation.Store
	svc    *workorder.Service
	// policies are the SLA policies of svc (another daemon's service,
	// secondService, shares them).
	policies *escalation.Policies
	reg      *prometheus.Registry // svc's metrics
	outbox   *queue.Outbox
	clock    *clock
	schemas  *testenv.Schemas
}

const shards = 4

func newEnv(t *testing.T, edit func(*classifier.Rules)) *env {
	t.Helper()
	return newEnvWith(t, edit, nil)
}

// newEnvWith lets wrap put a hook around the Redis group counter.
func newEnvWith(t *testing.T, edit func(*classifier.Rules), wrap func(*workorder.RedisGroups) workorder.GroupCounter) *env {
	t.Helper()
	r := testenv.StartRedis(t)
	cfg, err := configs.Load("../configs/hotlined.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	rules, err := classifier.LoadRules("../configs/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(rules)
		if err := rules.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, redis: r, cfg: cfg, rules: rules, outbox: queue.NewOutbox("t", shards),
		clock: &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, cfg.Location)}, schemas: testenv.LoadSchemas(t)}
	cal, err := escalation.OpenCalendar(cfg.Escalation.CalendarFile)
	if err != nil {
		t.Fatal(err)
	}
	policies, err := escalation.LoadPolicies(cfg.Escalation.PoliciesFile, cal)
	if err != nil {
		t.Fatal(err)
	}
	e.timers = escalation.NewStore(r.Client, "t", shards, e.outbox, escalation.WithAlertEvents("/t", "hotline.alerts"))
	e.store = workorder.NewStore(r.Client, "t", shards, e.outbox, e.timers)
	var groups workorder.GroupCounter
	if wrap != nil {
		groups = wrap(workorder.NewRedisGroups(r.Client, "t", rules.GroupComplaint.KeepAfterPeriod.D()))
	}
	e.policies, e.reg = policies, prometheus.NewRegistry()
	e.svc = workorder.NewService(workorder.ServiceParams{Store: e.store, Router: queue.NewRouter(cfg.Kafka.Routes),
		Config: cfg, Rules: rules, Policies: policies, Groups: groups, Now: e.clock.Now, Logger: zerolog.Nop(), Registerer: e.reg})
	t.Cleanup(e.checkEvents)
	return e
}

// gathered is the value of the counter name with label=value in reg (0
// when absent).
func gathered(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					v = m.GetCounter().GetValue()
				}
			}
		}
	}
	return v
}

// secondService is another daemon's service on the same Redis and clock:
// its own store, so its own remembered orders and locks.
func (e *env) secondService() *workorder.Service {
	store := workorder.NewStore(e.redis.Client, "t", shards, e.outbox, e.timers)
	return workorder.NewService(workorder.ServiceParams{Store: store, Router: queue.NewRouter(e.cfg.Kafka.Routes),
		Config: e.cfg, Rules: e.rules, Policies: e.policies, Now: e.clock.Now, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry()})
}

// leaves of the default menu.
var (
	complaintBilling = configs.Leaf{Category: "complaint", Subcategory: "billing", ProblemCode: "billing.charge_dispute", CollectServiceNumber: true, Transfer: "sip:complaint@acd.hotline.invalid"}
	complaintNetwork = configs.Leaf{Category: "complaint", Subcategory: "network", ProblemCode: "network.quality", CollectServiceNumber: true, Transfer: "sip:complaint@acd.hotline.invalid"}
	queryBilling     = configs.Leaf{Category: "query", Subcategory: "billing", ProblemCode: "billing.bill_query", Transfer: "sip:billing@acd.hotline.invalid"}
)

var hotlineOf = map[string]string{"province": "10000", "group": "4008810000", "appeal": "12300"}

func intake(tier, number string, leaf configs.Leaf) workorder.Intake {
	return workorder.Intake{Hotline: hotlineOf[tier], Tier: tier, Province: "GD", Caller: number,
		ServiceNumber: number, IVRPath: "41", Leaf: leaf}
}

func (e *env) submit(in workorder.Intake) workorder.Result {
	e.t.Helper()
	r, err := e.svc.Submit(context.Background(), in)
	if err != nil {
		e.t.Fatalf("submit %+v: %v", in, err)
	}
	return r
}

func (e *env) get(id string) *workorder.Order {
	e.t.Helper()
	o, err := e.svc.Get(context.Background(), id)
	if err != nil {
		e.t.Fatalf("get %s: %v", id, err)
	}
	return o
}

func (e *env) status(id string, statuses ...string) {
	e.t.Helper()
	for _, st := range statuses {
		if st == "archived" { // archiving is the follow-up's: a satisfied customer
			if _, err := e.svc.RecordFollowup(context.Background(), id, "satisfied", "", "agent-9"); err != nil {
				e.t.Fatalf("%s follow-up: %v", id, err)
			}
			continue
		}
		if _, err := e.svc.ChangeStatus(context.Background(), workorder.StatusChange{WorkOrderID: id, Status: st, Actor: "billing"}); err != nil {
			e.t.Fatalf("%s -> %s: %v", id, st, err)
		}
	}
}

// events reads every event waiting in the outbox.
func (e *env) events() []queue.Event {
	e.t.Helper()
	var out []queue.Event
	for _, k := range e.outbox.Keys() {
		msgs, err := e.redis.Client.XRange(context.Background(), k, "-", "+").Result()
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
	slices.SortStableFunc(out, func(a, b queue.Event) int { return a.Time.Compare(b.Time) })
	return out
}

// eventsOf are the events of one type, optionally about one subject.
func (e *env) eventsOf(typ, subject string) []queue.Event {
	var out []queue.Event
	for _, ev := range e.events() {
		if ev.Type == typ && (subject == "" || ev.Subject == subject) {
			out = append(out, ev)
		}
	}
	return out
}

// checkEvents validates every event the test left in the outbox against
// its schema.
func (e *env) checkEvents() {
	for _, ev := range e.events() {
		if err := e.schemas.Validate(ev.Type, ev.Data); err != nil {
			e.t.Errorf("event %s %s: %v\n%s", ev.Type, ev.Subject, err, ev.Data)
		}
	}
}

// lastOf is the latest history entry of o with the action, or a zero Change.
func lastOf(o *workorder.Order, action string) workorder.Change {
	for i := len(o.History) - 1; i >= 0; i-- {
		if o.History[i].Action == action {
			return o.History[i]
		}
	}
	return workorder.Change{}
}

// wantNote checks a note the daemon wrote: its English sentence as ever,
// its key and its arguments.
func wantNote(t *testing.T, c workorder.Change, note, key string, args map[string]string) {
	t.Helper()
	if c.Note != note || c.NoteKey != key || !maps.Equal(c.NoteArgs, args) {
		t.Errorf("%s entry: note %q key %q args %v\nwant note %q key %q args %v", c.Action, c.Note, c.NoteKey, c.NoteArgs, note, key, args)
	}
}

func reasonRules(o *workorder.Order) []string {
	out := make([]string, len(o.Reasons))
	for i, r := range o.Reasons {
		out[i] = r.Rule
	}
	return out
}

func TestUrgeOpenComplaint(t *testing.T) {
	e := newEnv(t, nil)
	in := intake("province", "18912345678", complaintBilling)
	in.CallID = "call-1"
	first := e.submit(in)
	if first.Outcome != workorder.OutcomeCreated || first.Order.Class != "complaint" || first.Order.Priority != 2 || first.Order.Urges != 0 {
		t.Fatalf("first contact: %s %+v", first.Outcome, first.Order)
	}
	id := first.Order.ID
	e.status(id, "accepted", "in_progress")

	e.clock.Add(time.Hour)
	in.CallID, in.Description = "call-2", "still no refund"
	second := e.submit(in)
	if second.Outcome != workorder.OutcomeUrged || second.Order.ID != id {
		t.Fatalf("second contact: %s %s, want urged %s", second.Outcome, second.Order.ID, id)
	}
	o := e.get(id)
	if o.Urges != 1 || o.Priority != 1 || o.Class != "complaint" || o.Status != "in_progress" {
		t.Errorf("after one urge: urges %d priority %d class %s status %s", o.Urges, o.Priority, o.Class, o.Status)
	}
	last := o.History[len(o.History)-1]
	if last.Action != "urge" || last.Actor != "caller" || !e.clock.Now().Equal(last.At) {
		t.Errorf("history %+v", last)
	}
	wantNote(t, last, "contact on 10000 while in_progress (urge 1), call call-2: still no refund", workorder.NoteKeyUrge,
		map[string]string{"hotline": "10000", "channel": "hotline", "status": "in_progress", "urges": "1", "call": "call-2", "description": "still no refund"})
	if !slices.Contains(reasonRules(o), "open_complaint_urged") {
		t.Errorf("reasons %v", reasonRules(o))
	}
	if n := len(e.eventsOf(queue.TypeWorkOrderUrged, id)); n != 1 {
		t.Errorf("urged events %d, want 1", n)
	}
	if n := len(e.eventsOf(queue.TypeWorkOrderCreated, "")); n != 1 {
		t.Errorf("created events %d, want 1: no new order", n)
	}
	if o.ProblemCode != "billing.charge_dispute" {
		t.Errorf("problem code %q, want the leaf's default", o.ProblemCode)
	}

	// The same call again (the SIP edge retries): no second urge.
	again := e.submit(in)
	if again.Outcome != workorder.OutcomeUrged || again.Order.ID != id || e.get(id).Urges != 1 {
		t.Errorf("retried call: %s %s urges %d", again.Outcome, again.Order.ID, e.get(id).Urges)
	}

	// A third contact: the priority stays at 1.
	in.CallID, in.Description = "call-3", ""
	if r := e.submit(in); r.Order.Urges != 2 || r.Order.Priority != 1 {
		t.Errorf("third contact: urges %d priority %d", r.Order.Urges, r.Order.Priority)
	}

	// A contact that brings the media makes the urged order major.
	in.CallID, in.Description = "call-4", "I will go to the newspaper, 还要找记者"
	r := e.submit(in)
	if r.Outcome != workorder.OutcomeUrged || r.Order.Class != "major_complaint" || r.Order.Priority != 1 ||
		!slices.Contains(reasonRules(r.Order), "public_opinion_risk") {
		t.Errorf("urge with keywords: %s class %s reasons %v", r.Outcome, r.Order.Class, reasonRules(r.Order))
	}
	if n := len(e.eventsOf(queue.TypeWorkOrderReclassified, id)); n != 1 {
		t.Errorf("reclassified events %d, want 1", n)
	}
	wantNote(t, lastOf(r.Order, "class"), "the urging contact gives a public-opinion reason: public_opinion_risk", workorder.NoteKeyPublicOpinion,
		map[string]string{"source": "urge", "rule": "public_opinion_risk"})

	// A hot caller: the order keeps the count, the latest urges and one
	// urge reason, so it stops growing.
	for i := 5; i < 5+workorder.MaxUrgeHistory+10; i++ {
		in.CallID, in.Description = fmt.Sprintf("call-%d", i), fmt.Sprintf("call number %d", i)
		r = e.submit(in)
	}
	hot := e.get(id)
	var urges []workorder.Change
	for _, c := range hot.History {
		if c.Action == "urge" {
			urges = append(urges, c)
		}
	}
	wantUrges := 3 + workorder.MaxUrgeHistory + 10
	if hot.Urges != wantUrges || len(urges) != workorder.MaxUrgeHistory ||
		urges[len(urges)-1].NoteArgs["urges"] != strconv.Itoa(wantUrges) || urges[0].NoteArgs["urges"] != strconv.Itoa(wantUrges-workorder.MaxUrgeHistory+1) {
		t.Errorf("hot caller: urges %d, %d urge entries kept (want the latest %d)", hot.Urges, len(urges), workorder.MaxUrgeHistory)
	}
	if n := slices.Index(reasonRules(hot), "open_complaint_urged"); n < 0 || slices.Contains(reasonRules(hot)[n+1:], "open_complaint_urged") {
		t.Errorf("hot caller: reasons %v, want one urge reason", reasonRules(hot))
	}
	if lastOf(hot, "class").Action != "class" || hot.Class != "major_complaint" {
		t.Errorf("hot caller: the reclassification left the history")
	}
	if n := len(e.eventsOf(queue.TypeWorkOrderUrged, id)); n != wantUrges {
		t.Errorf("urged events %d, want one per urge (%d)", n, wantUrges)
	}

	// Another problem is a new order; a query is a query.
	other := intake("province", "18912345678", complaintNetwork)
	if r := e.submit(other); r.Outcome != workorder.OutcomeCreated || r.Order.ID == id || r.Order.ProblemCode != "network.quality" {
		t.Errorf("network complaint while billing open: %s %s", r.Outcome, r.Order.ID)
	}
	if r := e.submit(intake("province", "18912345678", queryBilling)); r.Outcome != workorder.OutcomeCreated || r.Order.Class != "query" {
		t.Errorf("query while a complaint is open: %s %s", r.Outcome, r.Order.Class)
	}
	// Another customer is not urged.
	if r := e.submit(intake("province", "18900000000", complaintBilling)); r.Outcome != workorder.OutcomeCreated {
		t.Errorf("another number: %s", r.Outcome)
	}
	// Create (the SIP edge's method) returns the urged order.
	if o, err := e.svc.Create(context.Background(), in); err != nil || o.ID != id {
		t.Errorf("Create = %v, %v; want the open order %s", o, err, id)
	}
}

// TestHotCallerUrgesQueue: many calls of one customer at once about the
// open complaint all urge it (issue 15's hot caller): updates of one order
// in a process take turns instead of failing each other's guarded writes
// until "too much contention".
func TestHotCallerUrgesQueue(t *testing.T) {
	e := newEnv(t, nil)
	in := intake("province", "18912345678", complaintBilling)
	in.CallID = "hot-0"
	id := e.submit(in).Order.ID
	const calls = 200
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := 1; i <= calls; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := in
			x.CallID = fmt.Sprintf("hot-%d", i)
			r, err := e.svc.Submit(context.Background(), x)
			if err == nil && (r.Outcome != workorder.OutcomeUrged || r.Order.ID != id) {
				err = fmt.Errorf("call %d: %s %s, want an urge of %s", i, r.Outcome, r.Order.ID, id)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if o := e.get(id); o.Urges != calls {
		t.Errorf("urges %d, want %d", o.Urges, calls)
	}
}

// TestTwoDaemonsUpdateOneOrder: each daemon starts an update from the copy
// of the order it last wrote; when another daemon changed the order since,
// the write's guard fails and the update decides again on the stored
// order: no lost change, no refusal made on a stale copy.
func TestTwoDaemonsUpdateOneOrder(t *testing.T) {
	e := newEnv(t, nil)
	// The series an alert rule watches exist from the start, at 0.
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		if mf.GetName() == "hotlined_workorder_write_conflicts_total" {
			series = len(mf.GetMetric())
		}
	}
	if series != 3 {
		t.Errorf("conflict series at start: %d, want 3 (reserve, create, update)", series)
	}
	other := e.secondService()
	ctx := context.Background()
	id := e.submit(intake("province", "18912345678", complaintBilling)).Order.ID
	change := func(svc *workorder.Service, to string) error {
		_, err := svc.ChangeStatus(ctx, workorder.StatusChange{WorkOrderID: id, Status: to, Actor: "billing"})
		return err
	}
	if err := change(other, "accepted"); err != nil {
		t.Fatal(err)
	}
	// The first daemon's copy still says new.
	if err := change(e.svc, "in_progress"); err != nil {
		t.Fatalf("in_progress after the other daemon accepted: %v", err)
	}
	if err := change(other, "resolved"); err != nil {
		t.Fatal(err)
	}
	// Its copy says in_progress: a follow-up is only for a resolved order,
	// and it is one now.
	if _, err := e.svc.RecordFollowup(ctx, id, "satisfied", "", "agent-9"); err != nil {
		t.Fatalf("follow-up after the other daemon resolved: %v", err)
	}
	o := e.get(id)
	var path []string
	for _, c := range o.History {
		if c.Action == "status" {
			path = append(path, c.From+">"+c.To)
		}
	}
	if want := "new>accepted accepted>in_progress in_progress>resolved resolved>archived"; strings.Join(path, " ") != want || o.Status != "archived" {
		t.Errorf("status %s, history %v, want %s", o.Status, path, want)
	}
	// A refusal is made on the stored order: archived is final.
	if err := change(other, "accepted"); err == nil {
		t.Error("accepted an archived order")
	}
	// The on-call sees the stale copy that reached Redis (in_progress):
	// its write failed the guard. The follow-up was refused on the copy
	// and checked on the stored order before any write: not a conflict.
	if n := gathered(t, e.reg, "hotlined_workorder_write_conflicts_total", "step", "update"); n != 1 {
		t.Errorf("update conflicts counted %v, want 1", n)
	}

	// Purged by another daemon: not found, and no remembered copy comes
	// back as if it were the order.
	gone := e.submit(intake("province", "18900000001", queryBilling)).Order.ID
	if err := e.redis.Client.Del(ctx, fmt.Sprintf("t:{%d}:wo:%s", e.store.Shard(gone), gone)).Err(); err != nil {
		t.Fatal(err)
	}
	purged, err := e.svc.ChangeStatus(ctx, workorder.StatusChange{WorkOrderID: gone, Status: "accepted", Actor: "billing"})
	if !errors.Is(err, workorder.ErrNotFound) || purged != nil {
		t.Errorf("update of a purged order: %v, %v; want ErrNotFound and no order", purged, err)
	}
}

// TestEscalationIsNotAnUrge: a customer with an open province complaint
// who calls 4008810000 and then 12300 about the same problem gets a group-
// and an appeal-tier order, each related to the open one, which is flagged
// escalated with a hotline.workorder.escalated event per escalation; the
// group topic gets the new orders; the same-day group count sees them.
func TestEscalationIsNotAnUrge(t *testing.T) {
	e := newEnv(t, nil)
	open := e.submit(intake("province", "18912345678", complaintBilling)).Order
	e.status(open.ID, "accepted")
	e.clock.Add(time.Hour)

	// Each contact escalates the latest open order of the problem: the
	// province one, then the group one.
	prev := open
	for _, tier := range []string{"group", "appeal"} {
		e.clock.Add(time.Minute)
		r := e.submit(intake(tier, "18912345678", complaintBilling))
		o := r.Order
		if r.Outcome != workorder.OutcomeCreated || o.ID == prev.ID || o.Tier != tier || o.Class != "complaint" ||
			!slices.Contains(o.Related, prev.ID) || !slices.Contains(reasonRules(o), "escalated_from_lower_tier") {
			t.Fatalf("%s contact: %s %s tier %s class %s related %v reasons %v", tier, r.Outcome, o.ID, o.Tier, o.Class, o.Related, reasonRules(o))
		}
		if evs := e.eventsOf(queue.TypeWorkOrderCreated, o.ID); len(evs) != 1 || !slices.Contains(evs[0].Topics, "hotline.workorders.group") ||
			!slices.Contains(evs[0].Topics, "hotline.workorders.province.GD") {
			t.Errorf("%s order topics %v", tier, evs)
		}
		got := e.get(prev.ID)
		if !got.HasFlag(configs.FlagEscalated) || !slices.Contains(got.Related, o.ID) || got.Urges != 0 {
			t.Errorf("open order after the %s contact: flags %v related %v urges %d", tier, got.Flags, got.Related, got.Urges)
		}
		if n := len(e.eventsOf(queue.TypeWorkOrderEscalated, prev.ID)); n != 1 {
			t.Errorf("escalated events of %s: %d, want 1", prev.ID, n)
		}
		wantNote(t, lastOf(got, "escalated"), fmt.Sprintf("the customer took the problem to the %s tier (%s): %s", tier, hotlineOf[tier], o.ID),
			workorder.NoteKeyEscalated, map[string]string{"tier": tier, "hotline": hotlineOf[tier], "order": o.ID})
		prev = o
	}
	// The appeal-tier order is the latest of the problem: a group-tier
	// contact now urges it (same problem, lower tier).
	if r := e.submit(intake("group", "18912345678", complaintBilling)); r.Outcome != workorder.OutcomeUrged || r.Order.Tier != "appeal" {
		t.Errorf("group contact after the appeal: %s tier %s", r.Outcome, r.Order.Tier)
	}
	// The customer now has a record of escalations: a new complaint about
	// another problem on 10000 is flagged and high priority.
	r := e.submit(intake("province", "18912345678", complaintNetwork))
	if !r.Order.HasFlag(configs.FlagEscalationRecord) || r.Order.Priority != 1 {
		t.Errorf("after escalating: flags %v priority %d", r.Order.Flags, r.Order.Priority)
	}
}

// TestEscalationsCountForGroupComplaints: three customers escalate the same
// problem to the group on one day while their province complaints are
// open: three group-tier orders, the third raises the day's incident.
func TestEscalationsCountForGroupComplaints(t *testing.T) {
	e := newEnv(t, nil)
	for _, n := range []string{"18900000001", "18900000002", "18900000003"} {
		e.submit(intake("province", n, complaintBilling))
	}
	e.clock.Add(time.Hour)
	var members []string
	for _, n := range []string{"18900000001", "18900000002", "18900000003"} {
		r := e.submit(intake("group", n, complaintBilling))
		if r.Outcome != workorder.OutcomeCreated {
			t.Fatalf("%s: %s", n, r.Outcome)
		}
		members = append(members, r.Order.ID)
	}
	evs := e.eventsOf(queue.TypeIncidentGroupComplaint, "")
	if len(evs) == 0 {
		t.Fatal("no group-complaint incident from three escalations on one day")
	}
	if inc := incidentOf(t, evs[0]); !slices.Equal(inc.Members, members) || inc.Province != "GD" || inc.State != "suspected" {
		t.Errorf("incident members %v province %s state %s, want %v GD suspected", inc.Members, inc.Province, inc.State, members)
	}
}

func TestUnsatisfiedWithResult(t *testing.T) {
	e := newEnv(t, nil)
	first := e.submit(intake("province", "18912345678", complaintBilling)).Order
	e.status(first.ID, "accepted", "resolved")

	e.clock.Add(48 * time.Hour)
	r := e.submit(intake("province", "18912345678", complaintBilling))
	o := r.Order
	if r.Outcome != workorder.OutcomeCreated || o.ID == first.ID || o.Class != "complaint" ||
		!slices.Equal(reasonRules(o), []string{"base_category", "unsatisfied_with_result"}) || !slices.Equal(o.Related, []string{first.ID}) {
		t.Fatalf("contact after a resolution: %s class %s reasons %v related %v", r.Outcome, o.Class, reasonRules(o), o.Related)
	}
	// The new order is open now: the next contact urges it.
	if r := e.submit(intake("province", "18912345678", complaintBilling)); r.Outcome != workorder.OutcomeUrged || r.Order.ID != o.ID {
		t.Errorf("contact after the unsatisfied order: %s %s", r.Outcome, r.Order.ID)
	}
}

// TestRepeatComplaintWindow: archived at 10:00 on day 0, a complaint is a
// repeat until day 30 23:59:59 and not from day 31 00:00:00, in
// Asia/Shanghai, through the store's complaint index.
func TestRepeatComplaintWindow(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name  string
		after time.Duration
		class string
	}{
		{"29 days 23 hours after the archive", 29*day + 23*time.Hour, "repeat_complaint"},
		{"exactly 30 days after", 30 * day, "repeat_complaint"},
		{"30 days and 1 second after: same day 30", 30*day + time.Second, "repeat_complaint"},
		{"day 30 at 23:59:59", 30*day + 13*time.Hour + 59*time.Minute + 59*time.Second, "repeat_complaint"},
		{"day 31 at 00:00:00", 30*day + 14*time.Hour, "complaint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			first := e.submit(intake("province", "18912345678", complaintBilling)).Order
			e.clock.Add(day)
			e.status(first.ID, "resolved")
			e.clock.Set(time.Date(2026, 12, 1, 10, 0, 0, 0, e.cfg.Location))
			e.status(first.ID, "archived")
			archivedAt := e.clock.Now()

			e.clock.Set(archivedAt.Add(tc.after))
			o := e.submit(intake("province", "18912345678", complaintNetwork)).Order
			if o.Class != tc.class {
				t.Fatalf("class %s, want %s (reasons %+v)", o.Class, tc.class, o.Reasons)
			}
			if tc.class == "repeat_complaint" {
				if !slices.Equal(o.Related, []string{first.ID}) || !slices.Contains(reasonRules(o), "repeat_after_archive") || o.Priority != 2 {
					t.Errorf("related %v reasons %v priority %d", o.Related, reasonRules(o), o.Priority)
				}
			} else if len(o.Related) != 0 {
				t.Errorf("related %v", o.Related)
			}
		})
	}
}

func TestMajorAndEscalationRiskByKeywords(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	in := intake("province", "18912345678", complaintBilling)
	in.Description = "客户说已经联系了 Lawyer，准备向工信部申诉"
	o := e.submit(in).Order
	if o.Class != "complaint" || o.Priority != 1 || o.Description != in.Description || !o.HasFlag(configs.FlagEscalationRisk) ||
		!slices.Equal(reasonRules(o), []string{"base_category", "escalation_tendency"}) {
		t.Errorf("regulator and lawyer: class %s priority %d flags %v reasons %+v", o.Class, o.Priority, o.Flags, o.Reasons)
	}
	pending, err := e.timers.Pending(ctx, e.store.Shard(o.ID), escalation.TimerID(o.ID, workorder.StageReportEscalationRisk))
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 {
		t.Errorf("no upward-report timer: %v", pending)
	}

	// An agent's status note never counts, whatever it says: the standard
	// closing note names 12300.
	plain := e.submit(intake("province", "18900000001", complaintNetwork)).Order
	got, err := e.svc.ChangeStatus(ctx, workorder.StatusChange{WorkOrderID: plain.ID, Status: "resolved",
		Actor: "agent-7", Note: "已告知客户如不满意可拨打12300申诉；客户说要发微博"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Class != "complaint" || len(got.Flags) != 0 || len(e.eventsOf(queue.TypeWorkOrderReclassified, plain.ID)) != 0 {
		t.Errorf("status note with keywords: class %s flags %v", got.Class, got.Flags)
	}

	// A customer statement recorded by an agent does count.
	q := e.submit(intake("province", "18900000002", complaintNetwork)).Order
	got, err = e.svc.AddNote(ctx, q.ID, workorder.NoteCustomerStatement, "我已经发到网上了", "agent-7")
	if err != nil {
		t.Fatal(err)
	}
	if got.Class != "major_complaint" || got.Exposure != "exposed" || got.Priority != 1 || len(got.Notes) != 1 ||
		len(e.eventsOf(queue.TypeWorkOrderReclassified, q.ID)) != 1 {
		t.Errorf("statement: class %s exposure %q priority %d notes %d", got.Class, got.Exposure, got.Priority, len(got.Notes))
	}
	wantNote(t, lastOf(got, "class"), "the customer's statement recorded by agent-7 gives a public-opinion reason: public_opinion_exposed",
		workorder.NoteKeyPublicOpinion, map[string]string{"source": "statement", "actor": "agent-7", "rule": "public_opinion_exposed"})
	// One that names the regulator flags the escalation risk.
	got, err = e.svc.AddNote(ctx, q.ID, workorder.NoteCustomerStatement, "还要向工信部申诉", "agent-8")
	if err != nil || !got.HasFlag(configs.FlagEscalationRisk) {
		t.Fatalf("statement naming the regulator: flags %v, %v", got.Flags, err)
	}
	wantNote(t, lastOf(got, "flag"), "the customer's statement recorded by agent-8 gives an escalation-risk reason: escalation_tendency",
		workorder.NoteKeyEscalationRisk, map[string]string{"source": "statement", "actor": "agent-8", "rule": "escalation_tendency"})
	// A holding statement is recorded, never searched.
	got, err = e.svc.AddNote(ctx, plain.ID, workorder.NoteHoldingStatement, "已联系媒体部门", "lead-2")
	if err != nil || got.Class != "complaint" || len(e.eventsOf(queue.TypeWorkOrderUpdated, plain.ID)) != 1 {
		t.Errorf("holding statement: %v class %s", err, got.Class)
	}
	for _, tc := range []struct {
		kind, text, actor string
		want              error
	}{
		{"gossip", "x", "a", workorder.ErrUnknownNoteKind},
		{workorder.NotePlan, "  ", "a", workorder.ErrEmptyNote},
		{workorder.NotePlan, "x", "", workorder.ErrReasonRequired},
	} {
		if _, err := e.svc.AddNote(ctx, q.ID, tc.kind, tc.text, tc.actor); !errors.Is(err, tc.want) {
			t.Errorf("AddNote(%q, %q, %q) = %v, want %v", tc.kind, tc.text, tc.actor, err, tc.want)
		}
	}
}

// TestKeywordFalsePositivesStayComplaints: product names and negations are
// no public-opinion risk (issue 10's probes).
func TestKeywordFalsePositivesStayComplaints(t *testing.T) {
	e := newEnv(t, nil)
	for i, text := range []string{"抖音定向流量包被重复扣费", "微博流量包没有生效", "头条定向流量", "新闻早晚报订阅扣费", "客户表示不会找媒体"} {
		in := intake("province", fmt.Sprintf("1890000010%d", i), complaintBilling)
		in.Description = text
		if o := e.submit(in).Order; o.Class != "complaint" || len(o.Flags) != 0 || o.Priority != 2 {
			t.Errorf("%s: class %s flags %v priority %d", text, o.Class, o.Flags, o.Priority)
		}
	}
}

func TestAnonymousIsInvalidAndNotCounted(t *testing.T) {
	e := newEnv(t, func(r *classifier.Rules) { r.GroupComplaint.SameDay.Threshold = 2 })
	for i := 0; i < 3; i++ {
		in := intake("group", "", complaintBilling)
		in.Caller = "anonymous"
		o := e.submit(in).Order
		if o.Valid || o.Class != "complaint" {
			t.Errorf("anonymous: valid %v class %s", o.Valid, o.Class)
		}
	}
	if n := len(e.eventsOf(queue.TypeIncidentGroupComplaint, "")); n != 0 {
		t.Errorf("%d incidents from anonymous complaints", n)
	}
}

func TestRetriedCallGetsTheSameOrder(t *testing.T) {
	e := newEnv(t, nil)
	for _, leaf := range []configs.Leaf{complaintBilling, queryBilling} {
		in := intake("group", "18912345678", leaf)
		in.CallID = "retry-" + leaf.Category
		a, b := e.submit(in), e.submit(in)
		if a.Order.ID != b.Order.ID || b.Outcome != workorder.OutcomeCreated {
			t.Errorf("%s: %s then %s (%s)", leaf.Category, a.Order.ID, b.Order.ID, b.Outcome)
		}
	}
	if n := len(e.eventsOf(queue.TypeWorkOrderCreated, "")); n != 2 {
		t.Errorf("created events %d, want 2", n)
	}
}

func TestReclassify(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	o := e.submit(intake("province", "18912345678", queryBilling)).Order
	e.clock.Add(time.Minute)
	got, err := e.svc.Reclassify(ctx, o.ID, "complaint", "supervisor-3", "the customer disputes the bill", true)
	if err != nil {
		t.Fatal(err)
	}
	last := got.History[len(got.History)-1]
	if got.Class != "complaint" || got.Priority != 2 || last.Action != "class" || last.Actor != "supervisor-3" ||
		last.From != "query" || last.To != "complaint" || last.Note != "the customer disputes the bill" {
		t.Errorf("reclassified: class %s priority %d history %+v", got.Class, got.Priority, last)
	}
	if r := got.Reasons[len(got.Reasons)-1]; r.Rule != "reclassified" || r.Detail != "query -> complaint by supervisor-3: the customer disputes the bill" {
		t.Errorf("reason %+v", r)
	}
	if n := len(e.eventsOf(queue.TypeWorkOrderReclassified, o.ID)); n != 1 {
		t.Errorf("reclassified events %d", n)
	}
	// Now a complaint, it is in the customer's index: the next complaint
	// about its problem urges it.
	if r := e.submit(intake("province", "18912345678", configs.Leaf{Category: "complaint", Subcategory: "billing", ProblemCode: "billing.bill_query"})); r.Outcome != workorder.OutcomeUrged || r.Order.ID != o.ID {
		t.Errorf("after reclassification to complaint: %s %s", r.Outcome, r.Order.ID)
	}
	for _, tc := range []struct {
		id, class, actor, reason string
		want                     error
	}{
		{o.ID, "vip", "s", "r", workorder.ErrUnknownClass},
		{o.ID, "major_complaint", "", "r", workorder.ErrReasonRequired},
		{o.ID, "major_complaint", "s", " ", workorder.ErrReasonRequired},
		{o.ID, "complaint", "s", "r", workorder.ErrSameClass},
		{"WO-20261123-GD-999999", "complaint", "s", "r", workorder.ErrNotFound},
	} {
		if _, err := e.svc.Reclassify(ctx, tc.id, tc.class, tc.actor, tc.reason, true); !errors.Is(err, tc.want) {
			t.Errorf("Reclassify(%s, %s, %q, %q) = %v, want %v", tc.id, tc.class, tc.actor, tc.reason, err, tc.want)
		}
	}
}

// incidentOf decodes an incident event.
func incidentOf(t *testing.T, ev queue.Event) workorder.Incident {
	t.Helper()
	var inc workorder.Incident
	if err := json.Unmarshal(ev.Data, &inc); err != nil {
		t.Fatal(err)
	}
	return inc
}

// suspected reports whether o is a member of incident flagged
// suspected_group with its class kept.
func suspectedMember(o *workorder.Order, incident string) bool {
	return slices.Contains(o.Incidents, incident) && o.HasFlag(configs.FlagSuspectedGroup) && o.IncidentStates[incident] == "suspected"
}

const dayIncident = "GC-20261123-GD-billing.charge_dispute"

// TestGroupSameDaySuspectedThenConfirmed: the 3rd group- or appeal-tier
// complaint of one problem code in a day raises a suspected incident: an
// alert at once, every member flagged suspected_group, classes unchanged;
// a later member joins flagged. A supervisor confirms it: every member
// becomes a group complaint, re-planned with the upward report; a member
// after that is a group complaint at creation.
func TestGroupSameDaySuspectedThenConfirmed(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	var ids []string
	submit := func(tier string, leaf configs.Leaf) *workorder.Order {
		o := e.submit(intake(tier, fmt.Sprintf("1890000%04d", len(ids)), leaf)).Order
		ids = append(ids, o.ID)
		return o
	}
	// Province-tier orders do not count toward the daily rule; nor do other
	// problems or queries.
	for i := 0; i < 3; i++ {
		submit("province", complaintBilling)
	}
	submit("group", complaintNetwork)
	submit("group", queryBilling)
	first := submit("group", complaintBilling)
	second := submit("appeal", complaintBilling)
	if n := len(e.eventsOf(queue.TypeIncidentGroupComplaint, "")); n != 0 {
		t.Fatalf("incident after 2 orders: %d events", n)
	}
	third := submit("group", complaintBilling)
	if third.Class != "complaint" || !suspectedMember(third, dayIncident) || !slices.Equal(third.Related, []string{first.ID, second.ID}) {
		t.Fatalf("3rd: class %s flags %v incidents %v related %v", third.Class, third.Flags, third.Incidents, third.Related)
	}
	evs := e.eventsOf(queue.TypeIncidentGroupComplaint, dayIncident)
	if len(evs) != 1 {
		t.Fatalf("incident events %d, want 1", len(evs))
	}
	inc := incidentOf(t, evs[0])
	if inc.Rule != "group_same_day_escalated" || inc.Window != "day" || inc.State != "suspected" || inc.Verified ||
		inc.Province != "GD" || inc.ProblemCode != "billing.charge_dispute" || !slices.Equal(inc.Members, []string{first.ID, second.ID, third.ID}) {
		t.Errorf("incident %+v", inc)
	}
	if evs[0].ID != dayIncident+"/suspected" || evs[0].Key != dayIncident ||
		!slices.Equal(evs[0].Topics, []string{"hotline.workorders.province.GD", "hotline.workorders.group", "hotline.workorders.billing"}) {
		t.Errorf("incident event %s key %s topics %v", evs[0].ID, evs[0].Key, evs[0].Topics)
	}
	// Supervisors are alerted at once, on the raising order.
	if p, err := e.timers.Pending(ctx, e.store.Shard(third.ID), escalation.TimerID(third.ID, workorder.StageGroupSuspected)); err != nil || len(p) != 1 {
		t.Errorf("suspected-incident alert timer: %v %v", p, err)
	}
	// Earlier members are flagged, their class kept.
	for _, o := range []*workorder.Order{first, second} {
		got := e.get(o.ID)
		if got.Class != "complaint" || !suspectedMember(got, dayIncident) || !slices.Contains(got.Related, third.ID) {
			t.Errorf("earlier member %s: class %s flags %v related %v", o.ID, got.Class, got.Flags, got.Related)
		}
		if n := len(e.eventsOf(queue.TypeWorkOrderUpdated, o.ID)); n != 1 {
			t.Errorf("updated events of %s: %d", o.ID, n)
		}
		wantNote(t, lastOf(got, "group"), "member of group complaint "+dayIncident, workorder.NoteKeyGroupMember,
			map[string]string{"incident": dayIncident})
	}
	// A later member joins flagged.
	fourth := submit("appeal", complaintBilling)
	if fourth.Class != "complaint" || !suspectedMember(fourth, dayIncident) || !slices.Equal(fourth.Related, []string{first.ID, second.ID, third.ID}) {
		t.Errorf("4th: class %s flags %v related %v", fourth.Class, fourth.Flags, fourth.Related)
	}

	// Confirmed: every member a group complaint, with the upward report.
	e.clock.Add(time.Hour)
	got, err := e.svc.ConfirmGroupComplaint(ctx, dayIncident, "supervisor-1")
	if err != nil || got.State != "confirmed" || !got.Verified || got.DecidedBy != "supervisor-1" || got.DecidedAt == nil ||
		!got.DecidedAt.Equal(e.clock.Now()) || len(got.Pending) != 0 {
		t.Fatalf("confirm: %+v, %v", got, err)
	}
	for _, o := range []*workorder.Order{first, second, third, fourth} {
		m := e.get(o.ID)
		if m.Class != "group_complaint" || m.Priority != 1 || m.HasFlag(configs.FlagSuspectedGroup) || m.IncidentStates[dayIncident] != "confirmed" {
			t.Errorf("member %s after confirm: class %s priority %d flags %v", o.ID, m.Class, m.Priority, m.Flags)
		}
		if p, err := e.timers.Pending(ctx, e.store.Shard(o.ID), escalation.TimerID(o.ID, "report_upward")); err != nil || len(p) != 1 {
			t.Errorf("member %s: no upward report after confirm (%v %v)", o.ID, p, err)
		}
		if n := len(e.eventsOf(queue.TypeWorkOrderReclassified, o.ID)); n != 1 {
			t.Errorf("reclassified events of %s: %d", o.ID, n)
		}
		wantNote(t, lastOf(m, "class"), "member of group complaint "+dayIncident+", confirmed", workorder.NoteKeyGroupMember,
			map[string]string{"incident": dayIncident, "state": "confirmed"})
	}
	evs = e.eventsOf(queue.TypeIncidentGroupComplaint, dayIncident)
	if len(evs) != 2 || evs[1].ID != dayIncident+"/confirmed" || incidentOf(t, evs[1]).State != "confirmed" {
		t.Fatalf("events after confirm: %d", len(evs))
	}
	// A member after the confirmation is a group complaint at creation.
	fifth := submit("group", complaintBilling)
	if fifth.Class != "group_complaint" || fifth.HasFlag(configs.FlagSuspectedGroup) || !slices.Equal(fifth.Related, []string{first.ID, second.ID, third.ID}) {
		t.Errorf("5th: class %s flags %v related %v", fifth.Class, fifth.Flags, fifth.Related)
	}
	// Confirming again changes nothing; rejecting a confirmed one conflicts.
	if _, err := e.svc.ConfirmGroupComplaint(ctx, dayIncident, "supervisor-2"); err != nil {
		t.Error(err)
	}
	if _, err := e.svc.RejectGroupComplaint(ctx, dayIncident, "supervisor-2", "no"); !errors.Is(err, workorder.ErrIncidentDecided) {
		t.Errorf("reject after confirm: %v", err)
	}
	if n := len(e.eventsOf(queue.TypeIncidentGroupComplaint, "")); n != 2 {
		t.Errorf("incident events after a second confirm: %d", n)
	}
	stored, err := e.svc.Incident(ctx, dayIncident)
	if err != nil || len(stored.Members) != 5 || len(stored.Pending) != 0 || !stored.Announced || !stored.DecisionAnnounced {
		t.Errorf("stored incident %+v, %v", stored, err)
	}
	if err := e.svc.ReconcileIncidents(ctx); err != nil {
		t.Error(err)
	}
	if list, err := e.svc.Incidents(ctx, "confirmed"); err != nil || len(list) != 1 || list[0].ID != dayIncident {
		t.Errorf("confirmed incidents %v, %v", list, err)
	}
	if list, err := e.svc.Incidents(ctx, "suspected"); err != nil || len(list) != 0 {
		t.Errorf("suspected incidents %v, %v", list, err)
	}
	for _, id := range []string{"GC-20261123-GD-network.quality", "GC-202613-GD-network.quality", "nonsense"} {
		if _, err := e.svc.ConfirmGroupComplaint(ctx, id, "s"); !errors.Is(err, workorder.ErrIncidentNotFound) {
			t.Errorf("confirm %s: %v", id, err)
		}
	}
}

// TestGroupRejected: a rejected incident closes; members lose the flag and
// keep their class; later complaints that day join nothing and raise
// nothing.
func TestGroupRejected(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	var members []*workorder.Order
	for i := 0; i < 3; i++ {
		members = append(members, e.submit(intake("group", fmt.Sprintf("1890000%04d", i), complaintBilling)).Order)
	}
	if _, err := e.svc.RejectGroupComplaint(ctx, dayIncident, "supervisor-1", " "); !errors.Is(err, workorder.ErrReasonRequired) {
		t.Errorf("reject without a note: %v", err)
	}
	e.clock.Add(time.Hour)
	inc, err := e.svc.RejectGroupComplaint(ctx, dayIncident, "supervisor-1", "three different bills, not one fault")
	if err != nil || inc.State != "rejected" || inc.Verified || inc.Note == "" {
		t.Fatalf("reject: %+v, %v", inc, err)
	}
	for _, o := range members {
		got := e.get(o.ID)
		if got.Class != "complaint" || got.HasFlag(configs.FlagSuspectedGroup) || got.IncidentStates[dayIncident] != "rejected" {
			t.Errorf("member %s after reject: class %s flags %v", o.ID, got.Class, got.Flags)
		}
	}
	evs := e.eventsOf(queue.TypeIncidentGroupComplaint, dayIncident)
	if len(evs) != 2 || evs[1].ID != dayIncident+"/rejected" {
		t.Fatalf("events after reject: %d", len(evs))
	}
	for i := 3; i < 7; i++ {
		o := e.submit(intake("group", fmt.Sprintf("1890000%04d", i), complaintBilling)).Order
		if o.Class != "complaint" || len(o.Incidents) != 0 || len(o.Flags) != 0 {
			t.Errorf("complaint %d after the rejection: class %s incidents %v flags %v", i, o.Class, o.Incidents, o.Flags)
		}
	}
	if n := len(e.eventsOf(queue.TypeIncidentGroupComplaint, "")); n != 2 {
		t.Errorf("incident events after the rejection: %d, want 2", n)
	}
	if _, err := e.svc.ConfirmGroupComplaint(ctx, dayIncident, "supervisor-2"); !errors.Is(err, workorder.ErrIncidentDecided) {
		t.Errorf("confirm after reject: %v", err)
	}
	// The next day counts afresh.
	e.clock.Set(time.Date(2026, 11, 24, 10, 0, 0, 0, e.cfg.Location))
	var last *workorder.Order
	for i := 10; i < 13; i++ {
		last = e.submit(intake("group", fmt.Sprintf("1890000%04d", i), complaintBilling)).Order
	}
	if !suspectedMember(last, "GC-20261124-GD-billing.charge_dispute") {
		t.Errorf("the next day's 3rd: incidents %v flags %v", last.Incidents, last.Flags)
	}
}

// TestGroupKeysOnTheProblemCode: 20 province complaints of one menu bucket
// but different problem codes raise nothing (the probe of issue 10).
func TestGroupKeysOnTheProblemCode(t *testing.T) {
	e := newEnv(t, nil)
	codes := []string{"billing.charge_dispute", "billing.overcharge", "billing.vas_subscription", "billing.package_change", "billing.refund"}
	for i := 0; i < 20; i++ {
		in := intake("province", fmt.Sprintf("1890000%04d", i), complaintBilling)
		in.ProblemCode = codes[i%len(codes)]
		if o := e.submit(in).Order; o.Class != "complaint" || o.Priority != 2 || len(o.Incidents) != 0 {
			t.Fatalf("complaint %d: class %s priority %d incidents %v", i, o.Class, o.Priority, o.Incidents)
		}
	}
	if n := len(e.eventsOf(queue.TypeIncidentGroupComplaint, "")); n != 0 {
		t.Errorf("%d incidents from unrelated problems", n)
	}
}

func TestGroupSameDayAcrossMidnight(t *testing.T) {
	e := newEnv(t, nil)
	// 23:59:59 and 00:00:00 Beijing time: 15:59:59 and 16:00:00 UTC, the same
	// UTC day.
	e.clock.Set(time.Date(2026, 11, 23, 15, 59, 58, 0, time.UTC))
	a := e.submit(intake("group", "18900000001", complaintBilling)).Order
	e.clock.Set(time.Date(2026, 11, 23, 15, 59, 59, 0, time.UTC))
	b := e.submit(intake("appeal", "18900000002", complaintBilling)).Order
	e.clock.Set(time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC))
	c := e.submit(intake("group", "18900000003", complaintBilling)).Order
	for _, o := range []*workorder.Order{a, b, c} {
		if got := e.get(o.ID); len(got.Incidents) != 0 {
			t.Errorf("%s: %v", o.ID, got.Incidents)
		}
	}
	if c.ID[3:11] != "20261124" {
		t.Errorf("the order after midnight Beijing time has id %s", c.ID)
	}
	// Two more on the 24th make three that day.
	d := e.submit(intake("group", "18900000004", complaintBilling)).Order
	f := e.submit(intake("group", "18900000005", complaintBilling)).Order
	if !suspectedMember(f, "GC-20261124-GD-billing.charge_dispute") {
		t.Errorf("3rd on the 24th: %v %v", f.Incidents, f.Flags)
	}
	if got := e.get(d.ID); !suspectedMember(got, "GC-20261124-GD-billing.charge_dispute") {
		t.Errorf("2nd on the 24th: %v", got.Incidents)
	}
	if got := e.get(b.ID); len(got.Incidents) != 0 {
		t.Errorf("order of the 23rd: %v", got.Incidents)
	}
}

// TestGroupMonthlyClause: 20 complaints of one problem within 30 days raise
// a suspected incident, across a month boundary too; the oldest drops out
// after 30 days; calendar_month counts the calendar month instead.
func TestGroupMonthlyClause(t *testing.T) {
	monthly := func(r *classifier.Rules) { r.GroupComplaint.SameDay.Threshold, r.BatchComplaint.Threshold = 1000, 0 }
	t.Run("19 then the 20th within 30 days", func(t *testing.T) {
		e := newEnv(t, monthly)
		start := time.Date(2026, 11, 1, 0, 0, 0, 0, e.cfg.Location)
		e.clock.Set(start)
		var ids []string
		for i := 1; i <= 19; i++ {
			o := e.submit(intake([]string{"province", "group", "appeal"}[i%3], fmt.Sprintf("1890000%04d", i), complaintNetwork)).Order
			ids = append(ids, o.ID)
			e.clock.Add(36 * time.Hour)
		}
		if n := len(e.eventsOf(queue.TypeIncidentGroupComplaint, "")); n != 0 {
			t.Fatalf("incident after 19: %d", n)
		}
		e.clock.Set(start.Add(30*24*time.Hour - time.Second)) // the 1st is 29d 23:59:59 old
		twentieth := e.submit(intake("province", "18900009999", complaintNetwork)).Order
		ids = append(ids, twentieth.ID)
		id := "GC-R20261130-GD-network.quality"
		if twentieth.Class != "complaint" || !suspectedMember(twentieth, id) {
			t.Fatalf("20th: %s %v %v", twentieth.Class, twentieth.Incidents, twentieth.Flags)
		}
		evs := e.eventsOf(queue.TypeIncidentGroupComplaint, id)
		if len(evs) != 1 {
			t.Fatalf("incident events %d", len(evs))
		}
		inc := incidentOf(t, evs[0])
		if inc.State != "suspected" || inc.Rule != "group_same_month" || inc.Window != "rolling_30d" || !slices.Equal(inc.Members, ids) {
			t.Errorf("incident %+v", inc)
		}
		for _, id := range ids {
			if got := e.get(id); got.Class != "complaint" || !got.HasFlag(configs.FlagSuspectedGroup) {
				t.Errorf("member %s: %s %v", id, got.Class, got.Flags)
			}
		}
	})
	t.Run("the oldest out of the 30 days", func(t *testing.T) {
		e := newEnv(t, monthly)
		start := time.Date(2026, 11, 1, 0, 0, 0, 0, e.cfg.Location)
		e.clock.Set(start)
		for i := 1; i <= 19; i++ {
			e.submit(intake("province", fmt.Sprintf("1890000%04d", i), complaintNetwork))
			e.clock.Add(36 * time.Hour)
		}
		e.clock.Set(start.Add(30 * 24 * time.Hour).Add(time.Second))
		o := e.submit(intake("province", "18900009999", complaintNetwork)).Order
		if len(o.Incidents) != 0 || len(e.eventsOf(queue.TypeIncidentGroupComplaint, "")) != 0 {
			t.Errorf("20th with the 1st 30 days and 1 s old: %v", o.Incidents)
		}
	})
	t.Run("across the month boundary", func(t *testing.T) {
		e := newEnv(t, monthly)
		e.clock.Set(time.Date(2026, 11, 30, 12, 0, 0, 0, e.cfg.Location))
		for i := 1; i <= 19; i++ {
			e.submit(intake("province", fmt.Sprintf("1890000%04d", i), complaintNetwork))
		}
		e.clock.Set(time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC)) // midnight Beijing time
		o := e.submit(intake("province", "18900009999", complaintNetwork)).Order
		if !suspectedMember(o, "GC-R20261201-GD-network.quality") {
			t.Errorf("1st of December after 19 in November: %v %v", o.Incidents, o.Flags)
		}
	})
	t.Run("calendar month: not across the boundary", func(t *testing.T) {
		e := newEnv(t, func(r *classifier.Rules) {
			monthly(r)
			r.GroupComplaint.SameMonth.Window = classifier.WindowCalendarMonth
		})
		e.clock.Set(time.Date(2026, 11, 30, 12, 0, 0, 0, e.cfg.Location))
		for i := 1; i <= 19; i++ {
			e.submit(intake("province", fmt.Sprintf("1890000%04d", i), complaintNetwork))
		}
		e.clock.Set(time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC))
		o := e.submit(intake("province", "18900009999", complaintNetwork)).Order
		if len(o.Incidents) != 0 {
			t.Errorf("1st of December, calendar month: %v", o.Incidents)
		}
		for i := 20; i < 39; i++ {
			o = e.submit(intake("province", fmt.Sprintf("1890000%04d", i), complaintNetwork)).Order
		}
		if !suspectedMember(o, "GC-202612-GD-network.quality") {
			t.Errorf("20th of December: %v", o.Incidents)
		}
	})
}

// TestGroupConcurrent: 50 calls at once for the same province and
// problem on the group tier, each with its own customer: exactly one
// incident per window, and every order in it, flagged.
func TestGroupConcurrent(t *testing.T) {
	e := newEnv(t, nil)
	const n = 50
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			in := intake("group", fmt.Sprintf("1890000%04d", i), complaintBilling)
			in.CallID = fmt.Sprintf("call-%d", i)
			o, err := e.svc.Create(context.Background(), in)
			if err != nil {
				errs <- err
				return
			}
			ids[i] = o.ID
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, id := range []string{dayIncident, "GC-R20261123-GD-billing.charge_dispute", "BC-H2026112310-GD-billing.charge_dispute"} {
		typ := queue.TypeIncidentGroupComplaint
		if strings.HasPrefix(id, "BC-") {
			typ = queue.TypeIncidentBatch
		}
		evs := e.eventsOf(typ, id)
		if len(evs) != 1 {
			t.Fatalf("%s: %d incident events, want 1", id, len(evs))
		}
		inc, err := e.svc.Incident(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Sorted(slices.Values(inc.Members)); !slices.Equal(got, slices.Sorted(slices.Values(ids))) {
			t.Errorf("%s members %v\nwant %v", id, got, ids)
		}
		if len(inc.Pending) != 0 {
			t.Errorf("%s: pending %v", id, inc.Pending)
		}
	}
	for _, id := range ids {
		o := e.get(id)
		if o.Class != "complaint" || !o.HasFlag(configs.FlagSuspectedGroup) || !o.HasFlag(configs.FlagBatch) || len(o.Incidents) != 3 {
			t.Errorf("%s: %s %v %v", id, o.Class, o.Flags, o.Incidents)
		}
	}
}

// TestGroupCrashBetweenSteps: a member counted by a daemon that died before
// storing the order. The incident still completes: the stored members are
// flagged at once, the lost one is dropped after the grace, and an
// incident raised by a lost order is announced by the reconciler.
func TestGroupCrashBetweenSteps(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	groups := workorder.NewRedisGroups(e.redis.Client, "t", 30*24*time.Hour)
	windows := func() []classifier.Window {
		return e.rules.GroupWindows("group", "GD", "billing.charge_dispute", "billing", e.clock.Now(), e.cfg.Location)[:1] // the day
	}
	// Lost before the incident: counted, never stored.
	if _, err := groups.Count(ctx, "WO-20261123-GD-000901", e.clock.Now(), windows()); err != nil {
		t.Fatal(err)
	}
	a := e.submit(intake("group", "18900000001", complaintBilling)).Order
	b := e.submit(intake("group", "18900000002", complaintBilling)).Order // the 3rd: raises it
	if !suspectedMember(b, dayIncident) || !suspectedMember(e.get(a.ID), dayIncident) {
		t.Fatalf("members %v %v", e.get(a.ID).Flags, b.Flags)
	}
	inc, _ := e.svc.Incident(ctx, dayIncident)
	if !slices.Equal(inc.Pending, []string{"WO-20261123-GD-000901"}) {
		t.Fatalf("pending %v: the lost member waits for the grace", inc.Pending)
	}
	e.clock.Add(2 * time.Minute)
	if err := e.svc.ReconcileIncidents(ctx); err != nil {
		t.Fatal(err)
	}
	inc, _ = e.svc.Incident(ctx, dayIncident)
	if len(inc.Pending) != 0 || !slices.Equal(inc.Members, []string{a.ID, b.ID}) {
		t.Errorf("after the grace: pending %v members %v", inc.Pending, inc.Members)
	}

	// Raised by a lost order: the earlier members are found by the sweep,
	// the incident announced once the grace is over.
	e.clock.Set(time.Date(2026, 11, 24, 10, 0, 0, 0, e.cfg.Location))
	c := e.submit(intake("group", "18900000003", complaintBilling)).Order
	d := e.submit(intake("appeal", "18900000004", complaintBilling)).Order
	counts, err := groups.Count(ctx, "WO-20261124-GD-000902", e.clock.Now(), windows())
	if err != nil || !counts[0].Raised {
		t.Fatalf("lost trigger: %+v, %v", counts, err)
	}
	if err := e.svc.ReconcileIncidents(ctx); err != nil {
		t.Fatal(err)
	}
	next := "GC-20261124-GD-billing.charge_dispute"
	for _, o := range []*workorder.Order{c, d} {
		if got := e.get(o.ID); !suspectedMember(got, next) {
			t.Errorf("member %s after the sweep: %v", o.ID, got.Flags)
		}
	}
	if n := len(e.eventsOf(queue.TypeIncidentGroupComplaint, next)); n != 0 {
		t.Errorf("announced within the grace: %d", n)
	}
	e.clock.Add(2 * time.Minute)
	if err := e.svc.ReconcileIncidents(ctx); err != nil {
		t.Fatal(err)
	}
	evs := e.eventsOf(queue.TypeIncidentGroupComplaint, next)
	if len(evs) != 1 || !slices.Equal(incidentOf(t, evs[0]).Members, []string{c.ID, d.ID}) {
		t.Fatalf("announcement of the lost trigger's incident: %d events", len(evs))
	}
	// A decision on it reaches every stored member, and is announced.
	if _, err := e.svc.ConfirmGroupComplaint(ctx, next, "supervisor-1"); err != nil {
		t.Fatal(err)
	}
	for _, o := range []*workorder.Order{c, d} {
		if got := e.get(o.ID); got.Class != "group_complaint" {
			t.Errorf("member %s after confirm: %s", o.ID, got.Class)
		}
	}
	if err := e.svc.ReconcileIncidents(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.eventsOf(queue.TypeIncidentGroupComplaint, next)); n != 2 {
		t.Errorf("events of the incident: %d, want raised and confirmed", n)
	}
}

// hookedGroups runs a hook after each count, for the tests that stop an
// order between its count and its write.
type hookedGroups struct {
	*workorder.RedisGroups
	afterCount func(orderID string, counts []workorder.GroupCount) error
}

var _ workorder.GroupCounter = (*hookedGroups)(nil)

func (h *hookedGroups) Count(ctx context.Context, id string, now time.Time, ws []classifier.Window) ([]workorder.GroupCount, error) {
	c, err := h.RedisGroups.Count(ctx, id, now, ws)
	if err == nil && h.afterCount != nil {
		err = h.afterCount(id, c)
	}
	return c, err
}

// TestGroupMemberStoredAfterTheIncident: an order counted 1st is stored
// only after the 3rd raised the incident and tried to flag it; it applies
// the incident to itself once stored.
func TestGroupMemberStoredAfterTheIncident(t *testing.T) {
	counted, release := make(chan string, 1), make(chan struct{})
	hook := &hookedGroups{}
	e := newEnvWith(t, nil, func(g *workorder.RedisGroups) workorder.GroupCounter {
		hook.RedisGroups = g
		return hook
	})
	var once sync.Once
	hook.afterCount = func(id string, _ []workorder.GroupCount) error {
		first := false
		once.Do(func() { first = true })
		if first { // the slow call: the first to count
			counted <- id
			<-release
		}
		return nil
	}
	ctx := context.Background()
	done := make(chan *workorder.Order)
	go func() {
		in := intake("group", "18900000001", complaintBilling)
		in.CallID = "slow"
		o, err := e.svc.Create(ctx, in)
		if err != nil {
			t.Error(err)
		}
		done <- o
	}()
	slow := <-counted
	b := e.submit(intake("group", "18900000002", complaintBilling)).Order
	c := e.submit(intake("group", "18900000003", complaintBilling)).Order
	if !suspectedMember(c, dayIncident) || !suspectedMember(e.get(b.ID), dayIncident) {
		t.Fatalf("2nd and 3rd: %v %v", e.get(b.ID).Flags, c.Flags)
	}
	inc, _ := e.svc.Incident(ctx, dayIncident)
	if !slices.Equal(inc.Pending, []string{slow}) {
		t.Fatalf("pending %v, want the slow order %s", inc.Pending, slow)
	}
	close(release)
	a := <-done
	if a.ID != slow {
		t.Fatalf("slow order %s, reserved %s", a.ID, slow)
	}
	if got := e.get(a.ID); !suspectedMember(got, dayIncident) {
		t.Errorf("the slow 1st member: %v %v", got.Incidents, got.Flags)
	}
	if inc, _ := e.svc.Incident(ctx, dayIncident); len(inc.Pending) != 0 {
		t.Errorf("pending %v", inc.Pending)
	}
	if n := len(e.eventsOf(queue.TypeWorkOrderUpdated, a.ID)); n != 1 {
		t.Errorf("updated events of the slow member: %d", n)
	}
}

// TestGroupRetryAfterCount: a call counted, then failed before its order
// was written; while it waits for the retry the incident is raised. The
// retry counts the same order again (no second count) and creates it as a
// member.
func TestGroupRetryAfterCount(t *testing.T) {
	hook := &hookedGroups{}
	e := newEnvWith(t, nil, func(g *workorder.RedisGroups) workorder.GroupCounter {
		hook.RedisGroups = g
		return hook
	})
	failed := false
	hook.afterCount = func(id string, _ []workorder.GroupCount) error {
		if !failed {
			failed = true
			return errors.New("connection reset")
		}
		return nil
	}
	ctx := context.Background()
	in := intake("group", "18900000001", complaintBilling)
	in.CallID = "flaky"
	if _, err := e.svc.Create(ctx, in); err == nil {
		t.Fatal("the failing count did not fail the call")
	}
	e.submit(intake("group", "18900000002", complaintBilling))
	third := e.submit(intake("group", "18900000003", complaintBilling)).Order
	if !suspectedMember(third, dayIncident) || len(third.Related) != 2 {
		t.Fatalf("3rd: %v related %v", third.Flags, third.Related)
	}
	a, err := e.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !suspectedMember(a, dayIncident) || !slices.Contains(third.Related, a.ID) {
		t.Errorf("retried call: %s %v, want a member (3rd related %v)", a.ID, a.Flags, third.Related)
	}
	inc, _ := e.svc.Incident(ctx, dayIncident)
	if len(inc.Members) != 3 || len(inc.Pending) != 0 {
		t.Errorf("incident members %v pending %v", inc.Members, inc.Pending)
	}
	if n := len(e.eventsOf(queue.TypeWorkOrderUpdated, a.ID)); n != 0 {
		t.Errorf("the retried order was a member at creation, yet updated %d times", n)
	}
}

// TestGhostPlaceholder: a contact reserved an order and died: the next
// contact of that customer waits for it, then drops it after the grace.
func TestGhostPlaceholder(t *testing.T) {
	e := newEnv(t, nil)
	first := e.submit(intake("province", "18912345678", complaintBilling)).Order
	// Simulate the ghost: remove the order but keep its index entry.
	if err := e.redis.Client.Del(context.Background(), fmt.Sprintf("t:{%d}:wo:%s", e.store.Shard(first.ID), first.ID)).Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := e.svc.Submit(ctx, intake("province", "18912345678", complaintBilling)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("within the grace: %v, want to wait for the order", err)
	}
	e.clock.Add(2 * time.Minute)
	r := e.submit(intake("province", "18912345678", complaintBilling))
	if r.Outcome != workorder.OutcomeCreated || r.Order.ID == first.ID {
		t.Errorf("after the grace: %s %s", r.Outcome, r.Order.ID)
	}
}

// TestIncidentSweeper: the loop finishes an incident whose raising order
// was lost, and stops on Shutdown.
func TestIncidentSweeper(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	groups := workorder.NewRedisGroups(e.redis.Client, "t", 30*24*time.Hour)
	a := e.submit(intake("group", "18900000001", complaintBilling)).Order
	b := e.submit(intake("group", "18900000002", complaintBilling)).Order
	day := e.rules.GroupWindows("group", "GD", "billing.charge_dispute", "billing", e.clock.Now(), e.cfg.Location)[:1]
	if c, err := groups.Count(ctx, "WO-20261123-GD-000903", e.clock.Now(), day); err != nil || !c[0].Raised {
		t.Fatalf("lost trigger: %+v %v", c, err)
	}
	e.clock.Add(2 * time.Minute)
	sw, err := workorder.NewIncidentSweeper(e.svc, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	sw.Start(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for len(e.eventsOf(queue.TypeIncidentGroupComplaint, "")) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := sw.Shutdown(stop); err != nil {
		t.Fatal(err)
	}
	if err := sw.Shutdown(stop); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
	evs := e.eventsOf(queue.TypeIncidentGroupComplaint, "")
	if len(evs) != 1 || !slices.Equal(incidentOf(t, evs[0]).Members, []string{a.ID, b.ID}) {
		t.Fatalf("incident events %d", len(evs))
	}
	for _, o := range []*workorder.Order{a, b} {
		if got := e.get(o.ID); !suspectedMember(got, dayIncident) {
			t.Errorf("%s: %v", o.ID, got.Flags)
		}
	}
	if _, err := workorder.NewIncidentSweeper(e.svc, 0); err == nil {
		t.Error("a zero interval was accepted")
	}
}

// TestComplaintIndexKeepsWhatTheRulesRead: the index lives while a
// complaint is open, and forgets closed ones a window after they closed.
func TestComplaintIndexKeepsWhatTheRulesRead(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	first := e.submit(intake("province", "18912345678", complaintBilling)).Order
	key := fmt.Sprintf("t:{%d}:svc:18912345678:complaints", e.store.Shard(first.ID))
	if ttl := e.redis.Client.TTL(ctx, key).Val(); ttl != -1 {
		t.Errorf("index with an open complaint: TTL %v, want none", ttl)
	}
	e.status(first.ID, "resolved", "archived")
	e.clock.Add(32 * 24 * time.Hour)
	second := e.submit(intake("province", "18912345678", complaintBilling)).Order
	if second.Class != "complaint" {
		t.Errorf("32 days after the archive: %s", second.Class)
	}
	h, err := e.store.ComplaintHistory(ctx, "18912345678")
	if err != nil || len(h) != 1 || h[0].ID != second.ID {
		t.Errorf("index %+v, %v: want only the new order", h, err)
	}
	// Queries and other customers leave no entry.
	e.submit(intake("province", "18912345678", queryBilling))
	if h, _ := e.store.ComplaintHistory(ctx, "18912345678"); len(h) != 1 {
		t.Errorf("index after a query: %+v", h)
	}
}

// TestProvinceOfTheCompanyComplainedAbout: on the group and appeal tiers
// the province is the service number's (else the caller's); unknown flags
// the order, alerts, and counts it only once an agent sets it.
func TestProvinceOfTheCompanyComplainedAbout(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	derive := func(tier, caller, service string, leaf configs.Leaf) *workorder.Order {
		in := intake(tier, service, leaf)
		in.Province, in.Caller = "", caller
		return e.submit(in).Order
	}
	for _, tc := range []struct {
		tier, caller, service, want string
	}{
		{"group", "13900000001", "075512345678", "GD"}, // the fixed line's area code
		{"appeal", "02187654321", "13900000002", "SH"}, // unknown mobile: the caller's
		{"group", "18910001234", "", "BJ"},             // no service number: the caller's
	} {
		if o := derive(tc.tier, tc.caller, tc.service, complaintNetwork); o.Province != tc.want || o.HasFlag(configs.FlagProvinceUnknown) {
			t.Errorf("%s %s/%s: province %s flags %v, want %s", tc.tier, tc.caller, tc.service, o.Province, o.Flags, tc.want)
		}
	}
	// Unknown: flagged, alerted, not counted.
	a := derive("group", "13900000003", "13900000003", complaintBilling)
	if a.Province != "XX" || !a.HasFlag(configs.FlagProvinceUnknown) {
		t.Fatalf("unknown: %s %v", a.Province, a.Flags)
	}
	if p, err := e.timers.Pending(ctx, e.store.Shard(a.ID), escalation.TimerID(a.ID, workorder.StageSetProvince)); err != nil || len(p) != 1 {
		t.Errorf("set-province alert timer: %v %v", p, err)
	}
	e.submit(intake("group", "18900000011", complaintBilling))
	e.submit(intake("group", "18900000012", complaintBilling))
	if n := len(e.eventsOf(queue.TypeIncidentGroupComplaint, "")); n != 0 {
		t.Fatalf("incident with an unknown-province member: %d", n)
	}
	// The agent sets it: counted, the 3rd of the day: a suspected incident.
	got, err := e.svc.SetProvince(ctx, a.ID, "GD", "agent-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Province != "GD" || got.HasFlag(configs.FlagProvinceUnknown) || !suspectedMember(got, dayIncident) {
		t.Errorf("after setting the province: %s flags %v incidents %v", got.Province, got.Flags, got.Incidents)
	}
	if p, _ := e.timers.Pending(ctx, e.store.Shard(a.ID), escalation.TimerID(a.ID, workorder.StageSetProvince)); len(p) != 0 {
		t.Errorf("set-province timer still pending: %v", p)
	}
	evs := e.eventsOf(queue.TypeIncidentGroupComplaint, dayIncident)
	if len(evs) != 1 || len(incidentOf(t, evs[0]).Members) != 3 {
		t.Fatalf("incident events %d", len(evs))
	}
	for _, tc := range []struct {
		province string
		want     error
	}{{"GD", workorder.ErrUnchanged}, {"XX", workorder.ErrBadProvince}, {"gd", workorder.ErrBadProvince}} {
		if _, err := e.svc.SetProvince(ctx, a.ID, tc.province, "agent-1"); !errors.Is(err, tc.want) {
			t.Errorf("SetProvince(%s) = %v, want %v", tc.province, err, tc.want)
		}
	}
	if _, err := e.svc.SetProvince(ctx, a.ID, "SH", ""); !errors.Is(err, workorder.ErrReasonRequired) {
		t.Errorf("no actor: %v", err)
	}
}

// TestRefineProblemCode: an agent's refined code is counted; a code not in
// the table is refused.
func TestRefineProblemCode(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	var last *workorder.Order
	for i := 0; i < 3; i++ {
		last = e.submit(intake("group", fmt.Sprintf("1890000002%d", i), complaintBilling)).Order
		if i < 2 {
			in := intake("group", fmt.Sprintf("1890000003%d", i), complaintBilling)
			in.ProblemCode = "billing.overcharge"
			e.submit(in)
		}
	}
	got, err := e.svc.SetProblemCode(ctx, last.ID, "billing.overcharge", "agent-2")
	if err != nil {
		t.Fatal(err)
	}
	if got.ProblemCode != "billing.overcharge" || !suspectedMember(got, "GC-20261123-GD-billing.overcharge") {
		t.Errorf("refined: %s %v", got.ProblemCode, got.Incidents)
	}
	if _, err := e.svc.SetProblemCode(ctx, last.ID, "billing.no_such", "agent-2"); !errors.Is(err, workorder.ErrUnknownProblemCode) {
		t.Errorf("unknown code: %v", err)
	}
}

// TestAgentsRaiseSupervisorsLower: the reclassify rule of DESIGN.
func TestAgentsRaiseSupervisorsLower(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	o := e.submit(intake("province", "18912345678", complaintBilling)).Order
	if _, err := e.svc.Reclassify(ctx, o.ID, "major_complaint", "agent-1", "the customer has posted it online", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Reclassify(ctx, o.ID, "complaint", "agent-1", "no, they did not", false); !errors.Is(err, workorder.ErrLowerNeedsSupervisor) {
		t.Errorf("agent lowers: %v", err)
	}
	if got, err := e.svc.Reclassify(ctx, o.ID, "complaint", "supervisor-1", "checked: no post", true); err != nil || got.Class != "complaint" {
		t.Errorf("supervisor lowers: %v", err)
	}
}

// TestAutoArchiveOpensTheRepeatWindow: an order left resolved is archived
// when the follow-up period ends (recorded as such), and a complaint after
// that is a repeat; a reopened one is never archived on its own.
func TestAutoArchiveOpensTheRepeatWindow(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a := e.submit(intake("province", "18912345678", complaintBilling)).Order
	b := e.submit(intake("province", "18900000001", complaintBilling)).Order
	e.status(a.ID, "accepted", "resolved")
	e.status(b.ID, "accepted", "resolved", "reopened")
	resolved := e.clock.Now()
	e.clock.Set(resolved.Add(e.cfg.Escalation.AutoArchiveAfter.D() - time.Second))
	if n, err := e.svc.ArchiveDue(ctx); err != nil || n != 0 {
		t.Fatalf("a second early: %d %v", n, err)
	}
	e.clock.Set(resolved.Add(e.cfg.Escalation.AutoArchiveAfter.D()))
	if n, err := e.svc.ArchiveDue(ctx); err != nil || n != 1 {
		t.Fatalf("at the end of the follow-up period: %d %v", n, err)
	}
	got := e.get(a.ID)
	last := got.History[len(got.History)-1]
	if got.Status != "archived" || last.Actor != "system:auto_archive" {
		t.Errorf("archived: %s %+v", got.Status, last)
	}
	wantNote(t, last, "archived automatically: the follow-up period ended without a reopen", workorder.NoteKeyAutoArchived, nil)
	if e.get(b.ID).Status != "reopened" {
		t.Errorf("the reopened order: %s", e.get(b.ID).Status)
	}
	if n, err := e.svc.ArchiveDue(ctx); err != nil || n != 0 {
		t.Errorf("again: %d %v", n, err)
	}
	e.clock.Add(24 * time.Hour)
	if o := e.submit(intake("province", "18912345678", complaintNetwork)).Order; o.Class != "repeat_complaint" {
		t.Errorf("a complaint after the auto-archive: %s", o.Class)
	}
}

// TestFollowup: the follow-up's result is recorded; satisfied archives,
// unsatisfied reopens with the reason; archiving waits for it.
func TestFollowup(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a := e.submit(intake("province", "18912345678", complaintBilling)).Order
	b := e.submit(intake("province", "18900000001", complaintBilling)).Order
	if _, err := e.svc.RecordFollowup(ctx, a.ID, "satisfied", "", "agent-1"); !errors.Is(err, workorder.ErrNotResolved) {
		t.Errorf("follow-up of an open order: %v", err)
	}
	e.status(a.ID, "accepted", "resolved")
	e.status(b.ID, "accepted", "resolved")
	if _, err := e.svc.ChangeStatus(ctx, workorder.StatusChange{WorkOrderID: a.ID, Status: "archived", Actor: "agent-1"}); !errors.Is(err, workorder.ErrFollowupRequired) {
		t.Errorf("archived without a follow-up: %v", err)
	}
	for _, tc := range []struct {
		result, reason, actor string
		want                  error
	}{
		{"happy", "", "agent-1", workorder.ErrUnknownFollowup},
		{"unsatisfied", " ", "agent-1", workorder.ErrReasonRequired},
		{"satisfied", "", "", workorder.ErrReasonRequired},
	} {
		if _, err := e.svc.RecordFollowup(ctx, a.ID, tc.result, tc.reason, tc.actor); !errors.Is(err, tc.want) {
			t.Errorf("RecordFollowup(%q, %q, %q) = %v, want %v", tc.result, tc.reason, tc.actor, err, tc.want)
		}
	}
	got, err := e.svc.RecordFollowup(ctx, a.ID, "basically_satisfied", "", "agent-1")
	if err != nil || got.Status != "archived" || got.Followup == nil || got.Followup.Result != "basically_satisfied" || !got.Followup.At.Equal(e.clock.Now()) {
		t.Fatalf("basically satisfied: %+v %v", got, err)
	}
	got, err = e.svc.RecordFollowup(ctx, b.ID, "unsatisfied", "the refund is short by 20 yuan", "agent-1")
	if err != nil || got.Status != "reopened" || got.Followup.Reason != "the refund is short by 20 yuan" {
		t.Fatalf("unsatisfied: %+v %v", got, err)
	}
	if last := got.History[len(got.History)-1]; last.To != "reopened" {
		t.Errorf("history %+v", last)
	}
	wantNote(t, lastOf(got, "status"), "follow-up: unsatisfied: the refund is short by 20 yuan", workorder.NoteKeyFollowup,
		map[string]string{"result": "unsatisfied", "reason": "the refund is short by 20 yuan"})
	wantNote(t, lastOf(e.get(a.ID), "status"), "follow-up: basically_satisfied", workorder.NoteKeyFollowup,
		map[string]string{"result": "basically_satisfied"})
}

// TestInvalidComplaintsAreNotCounted: an order marked invalid leaves the
// group counts; a supervisor's undo counts it again.
func TestInvalidComplaintsAreNotCounted(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a := e.submit(intake("group", "18900000001", complaintBilling)).Order
	e.submit(intake("group", "18900000002", complaintBilling))
	got, err := e.svc.MarkInvalid(ctx, a.ID, "outside_telecom", "a bank card, not ours", "agent-1")
	if err != nil || got.Valid || got.InvalidGround != "outside_telecom" {
		t.Fatalf("invalid: %+v %v", got, err)
	}
	c := e.submit(intake("group", "18900000003", complaintBilling)).Order
	if len(c.Incidents) != 0 {
		t.Fatalf("3rd with one invalid: incidents %v", c.Incidents)
	}
	for _, tc := range []struct {
		ground, actor string
		want          error
	}{{"boring", "agent-1", workorder.ErrUnknownGround}, {"outside_telecom", "agent-1", workorder.ErrUnchanged}, {"anonymous", "", workorder.ErrReasonRequired}} {
		if _, err := e.svc.MarkInvalid(ctx, a.ID, tc.ground, "", tc.actor); !errors.Is(err, tc.want) {
			t.Errorf("MarkInvalid(%q, %q) = %v, want %v", tc.ground, tc.actor, err, tc.want)
		}
	}
	got, err = e.svc.UndoInvalid(ctx, a.ID, "it is ours after all", "supervisor-1")
	if err != nil || !got.Valid || got.InvalidGround != "" || !suspectedMember(got, dayIncident) {
		t.Fatalf("undo: %+v %v", got, err)
	}
	if _, err := e.svc.UndoInvalid(ctx, a.ID, "", "supervisor-1"); !errors.Is(err, workorder.ErrNotInvalid) {
		t.Errorf("undo a valid order: %v", err)
	}
}

// TestGroupCountsContactsStampedOutOfOrder: a contact's time is taken
// before its count runs, so the last to count may carry the earliest time;
// it still sees every count before it (a race seen under load).
func TestGroupCountsContactsStampedOutOfOrder(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	groups := workorder.NewRedisGroups(e.redis.Client, "t", 30*24*time.Hour)
	now := e.clock.Now()
	day := func(at time.Time) []classifier.Window {
		return e.rules.GroupWindows("group", "GD", "billing.charge_dispute", "billing", at, e.cfg.Location)[:1]
	}
	for i, at := range []time.Time{now.Add(2 * time.Second), now.Add(time.Second)} {
		if c, err := groups.Count(ctx, fmt.Sprintf("WO-20261123-GD-00090%d", i), at, day(at)); err != nil || c[0].Incident != nil {
			t.Fatalf("count %d: %+v %v", i, c, err)
		}
	}
	c, err := groups.Count(ctx, "WO-20261123-GD-000909", now, day(now))
	if err != nil || !c[0].Raised || len(c[0].Incident.Members) != 3 {
		t.Fatalf("the 3rd to count, stamped first: %+v %v", c, err)
	}
}

// TestAppealTransfer: an appeal a regulator's centre transferred carries
// its fields; the centre's deadline is the resolve deadline and never
// pauses; the 15-day reply counts from receipt; it relates to the
// customer's earlier complaint of the problem, else is a first contact.
func TestAppealTransfer(t *testing.T) {
	e := newEnv(t, nil)
	received := e.clock.Now().Add(-26 * time.Hour)
	deadline := e.clock.Now().Add(5 * 24 * time.Hour)
	appeal := func(number string) workorder.Intake {
		in := intake("appeal", number, complaintBilling)
		in.Hotline, in.Channel, in.ReceivedAt = "", "regulator_transfer", received
		in.Appeal = &workorder.Appeal{Authority: "广东省通信管理局申诉中心", CaseNumber: "YD-2026-1123-0042", ReceivedAt: received, Deadline: deadline}
		return in
	}
	o := e.submit(appeal("18912345678")).Order
	if o.Appeal == nil || o.Appeal.CaseNumber != "YD-2026-1123-0042" || !o.ReceivedAt.Equal(received) || o.Tier != "appeal" {
		t.Fatalf("appeal order %+v", o)
	}
	if !o.Deadlines["resolve"].Equal(deadline) {
		t.Errorf("resolve deadline %v, want the centre's %v", o.Deadlines["resolve"], deadline)
	}
	if want := received.AddDate(0, 0, 15); !o.Deadlines["reply"].Equal(want) {
		t.Errorf("reply deadline %v, want 15 days from receipt %v", o.Deadlines["reply"], want)
	}
	if !o.HasFlag(configs.FlagFirstContact) || !slices.Contains(reasonRules(o), "appeal_first_contact") {
		t.Errorf("first contact: flags %v reasons %v", o.Flags, reasonRules(o))
	}
	e.status(o.ID, "accepted")
	e.clock.Add(48 * time.Hour)
	e.status(o.ID, "pending_customer")
	if got := e.get(o.ID); !got.Deadlines["resolve"].Equal(deadline) {
		t.Errorf("resolve deadline while pending %v, want %v unchanged", got.Deadlines["resolve"], deadline)
	}

	// An appeal about a problem the customer complained of before relates
	// to that complaint.
	earlier := e.submit(intake("province", "18900000001", complaintBilling)).Order
	e.status(earlier.ID, "accepted", "resolved", "archived")
	a := e.submit(appeal("18900000001")).Order
	if a.HasFlag(configs.FlagFirstContact) || !slices.Contains(a.Related, earlier.ID) || !slices.Contains(reasonRules(a), "appeal_of_earlier_complaint") {
		t.Errorf("appeal of an earlier complaint: flags %v related %v reasons %v", a.Flags, a.Related, reasonRules(a))
	}
}

// TestRouteFieldsAllowList: netops receives the fault without the
// customer's identity; the other topics the whole order, one ce_id.
func TestRouteFieldsAllowList(t *testing.T) {
	e := newEnv(t, nil)
	in := intake("province", "18912345678", configs.Leaf{Category: "fault_report", Subcategory: "broadband", ProblemCode: "network.broadband_down"})
	in.ServiceNumber, in.Description = "02012345678", "客户张三说光猫红灯"
	o := e.submit(in).Order
	evs := e.eventsOf(queue.TypeWorkOrderCreated, o.ID)
	if len(evs) != 2 || evs[0].ID != evs[1].ID {
		t.Fatalf("events %d", len(evs))
	}
	var full, netops map[string]any
	for _, ev := range evs {
		var m map[string]any
		if err := json.Unmarshal(ev.Data, &m); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(ev.Topics, "hotline.workorders.netops") {
			netops = m
			if len(ev.Topics) != 1 {
				t.Errorf("netops event topics %v", ev.Topics)
			}
		} else {
			full = m
		}
	}
	if full["caller"] != "18912345678" || full["description"] == nil {
		t.Errorf("province topic: %v", full)
	}
	if netops["id"] != o.ID || netops["service_number"] != "02012345678" || netops["problem_code"] != "network.broadband_down" {
		t.Errorf("netops: %v", netops)
	}
	for _, k := range []string{"caller", "description", "history", "notes", "reasons"} {
		if _, ok := netops[k]; ok {
			t.Errorf("netops received %s", k)
		}
	}
}

// TestRetentionPurgesArchivedOrders: an archived order is purged with its
// indexes when retention.after_archive has passed; an open one never is.
func TestRetentionPurgesArchivedOrders(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a := e.submit(intake("province", "18912345678", complaintBilling)).Order
	b := e.submit(intake("province", "18900000001", complaintBilling)).Order
	e.status(a.ID, "accepted", "resolved", "archived")
	archived := e.clock.Now()
	keep := e.cfg.Retention.AfterArchive.D()
	if keep <= 0 {
		t.Fatal("the shipped config sets no retention")
	}
	e.clock.Set(archived.Add(keep - time.Second))
	if n, err := e.svc.PurgeDue(ctx); err != nil || n != 0 {
		t.Fatalf("a second early: %d %v", n, err)
	}
	e.clock.Set(archived.Add(keep))
	if n, err := e.svc.PurgeDue(ctx); err != nil || n != 1 {
		t.Fatalf("at the end of the retention: %d %v", n, err)
	}
	if _, err := e.svc.Get(ctx, a.ID); !errors.Is(err, workorder.ErrNotFound) {
		t.Errorf("purged order still there: %v", err)
	}
	if list, err := e.svc.List(ctx, "18912345678", workorder.Filter{}); err != nil || len(list) != 0 {
		t.Errorf("the customer's list after the purge: %v %v", list, err)
	}
	if list, err := e.svc.List(ctx, "", workorder.Filter{Status: "archived"}); err != nil || len(list) != 0 {
		t.Errorf("archived list after the purge: %v %v", list, err)
	}
	if _, err := e.svc.Get(ctx, b.ID); err != nil {
		t.Errorf("the open order: %v", err)
	}
}

// TestIndicatorArithmetic: the counters and rates of a province's day.
func TestIndicatorArithmetic(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	day := e.clock.Now().Format(time.DateOnly)
	// a: resolved in time, satisfied: first-contact resolved.
	a := e.submit(intake("province", "18900000001", complaintBilling)).Order
	e.status(a.ID, "accepted", "resolved")
	if _, err := e.svc.RecordFollowup(ctx, a.ID, "satisfied", "", "agent-1"); err != nil {
		t.Fatal(err)
	}
	// b: urged once, resolved late, basically satisfied: not FCR.
	b := e.submit(intake("province", "18900000002", complaintBilling)).Order
	e.submit(intake("province", "18900000002", complaintBilling))
	e.status(b.ID, "accepted")
	e.clock.Add(4 * 24 * time.Hour) // past the 3 working days
	e.status(b.ID, "resolved")
	if _, err := e.svc.RecordFollowup(ctx, b.ID, "basically_satisfied", "", "agent-1"); err != nil {
		t.Fatal(err)
	}
	later := e.clock.Now().Format(time.DateOnly)
	// c: an appeal, unsatisfied at the follow-up.
	e.clock.Set(time.Date(2026, 11, 23, 11, 0, 0, 0, e.cfg.Location))
	c := e.submit(intake("appeal", "18900000003", complaintNetwork)).Order
	e.status(c.ID, "accepted", "resolved")
	if _, err := e.svc.RecordFollowup(ctx, c.ID, "unsatisfied", "still slow", "agent-1"); err != nil {
		t.Fatal(err)
	}
	// d: invalid: not counted; a query: not a complaint.
	d := e.submit(intake("province", "18900000004", complaintBilling)).Order
	if _, err := e.svc.MarkInvalid(ctx, d.ID, "outside_telecom", "", "agent-1"); err != nil {
		t.Fatal(err)
	}
	e.submit(intake("province", "18900000005", queryBilling))

	rows, err := e.svc.Indicators(ctx, "GD", day, later)
	if err != nil {
		t.Fatal(err)
	}
	byDate := map[string]workorder.IndicatorDay{}
	for _, r := range rows {
		byDate[r.Date] = r
	}
	first := byDate[day]
	for k, want := range map[string]int64{"complaints": 3, "appeal": 1, "repeat": 0, "archived": 1, "fcr": 1,
		"followup.satisfied": 1, "followup.unsatisfied": 1, "stage.resolve.met": 2} {
		if got := first.Counts[k]; got != want {
			t.Errorf("%s %s = %d, want %d (%v)", day, k, got, want, first.Counts)
		}
	}
	second := byDate[later]
	for k, want := range map[string]int64{"archived": 1, "fcr": 0, "followup.basically_satisfied": 1, "stage.resolve.breached": 1} {
		if got := second.Counts[k]; got != want {
			t.Errorf("%s %s = %d, want %d (%v)", later, k, got, want, second.Counts)
		}
	}
	total := byDate["total"]
	for k, want := range map[string]float64{"first_contact_resolution": 0.5, "appeal_rate": 1.0 / 3, "repeat_rate": 0,
		"satisfaction": 2.0 / 3, "timeliness.resolve": 2.0 / 3} {
		if got := total.Rates[k]; got < want-1e-9 || got > want+1e-9 {
			t.Errorf("total %s = %v, want %v (%v)", k, got, want, total.Rates)
		}
	}
	// A repeat of a within 30 days takes its first-contact resolution back,
	// and says so: a history entry and an updated event of the earlier
	// order (a consumer holding it sees first_contact_resolved go false).
	e.clock.Add(24 * time.Hour)
	repeat := e.submit(intake("province", "18900000001", complaintNetwork)).Order
	if repeat.Class != "repeat_complaint" || len(repeat.Related) != 1 {
		t.Fatalf("repeat: %s related %v", repeat.Class, repeat.Related)
	}
	rows, _ = e.svc.Indicators(ctx, "GD", day, day)
	if got := rows[0].Counts["fcr"]; got != 0 {
		t.Errorf("fcr after the repeat: %d", got)
	}
	earlier := e.get(repeat.Related[0])
	last := earlier.History[len(earlier.History)-1]
	if earlier.FirstContactResolved || last.Action != "fcr_taken_back" || last.NoteKey != workorder.NoteKeyFCRTakenBack ||
		last.NoteArgs["repeat"] != repeat.ID {
		t.Errorf("earlier order: fcr %v, last history %+v", earlier.FirstContactResolved, last)
	}
	updated := e.eventsOf(queue.TypeWorkOrderUpdated, earlier.ID)
	if len(updated) == 0 || !bytes.Contains(updated[len(updated)-1].Data, []byte(`"fcr_taken_back"`)) ||
		bytes.Contains(updated[len(updated)-1].Data, []byte(`"first_contact_resolved":true`)) {
		t.Errorf("%d updated events of the earlier order; the last says nothing of the take-back", len(updated))
	}
	if _, err := e.svc.Indicators(ctx, "GD", later, day); !errors.Is(err, workorder.ErrBadRange) {
		t.Errorf("reversed range: %v", err)
	}
}

// TestBatchComplaint: 10 complaints of one problem in one province within
// 2 hours, any tier, raise a batch incident: members flagged batch, routed
// to the batch topic, their class kept; the 11th joins.
func TestBatchComplaint(t *testing.T) {
	e := newEnv(t, func(r *classifier.Rules) { r.GroupComplaint.SameMonth.Threshold = 1000 })
	var ids []string
	for i := 0; i < 10; i++ {
		o := e.submit(intake("province", fmt.Sprintf("1890000%04d", i), complaintNetwork)).Order
		ids = append(ids, o.ID)
		e.clock.Add(10 * time.Minute)
	}
	id := "BC-H2026112311-GD-network.quality" // raised at 11:30
	evs := e.eventsOf(queue.TypeIncidentBatch, id)
	if len(evs) != 1 || !slices.Contains(evs[0].Topics, "hotline.workorders.batch") {
		t.Fatalf("batch events %v", evs)
	}
	if inc := incidentOf(t, evs[0]); inc.State != "open" || !slices.Equal(inc.Members, ids) || inc.Verified {
		t.Errorf("batch incident %+v", inc)
	}
	for _, id := range ids {
		o := e.get(id)
		if o.Class != "complaint" || !o.HasFlag(configs.FlagBatch) || o.HasFlag(configs.FlagSuspectedGroup) {
			t.Errorf("member %s: %s %v", id, o.Class, o.Flags)
		}
	}
	if list, err := e.svc.Incidents(context.Background(), "open"); err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("open incidents %v %v", list, err)
	}
	eleventh := e.submit(intake("group", "18900009999", complaintNetwork)).Order
	if !eleventh.HasFlag(configs.FlagBatch) || !slices.Contains(eleventh.Incidents, id) {
		t.Errorf("11th: %v %v", eleventh.Flags, eleventh.Incidents)
	}
	if ev := e.eventsOf(queue.TypeWorkOrderCreated, eleventh.ID); len(ev) != 1 || !slices.Contains(ev[0].Topics, "hotline.workorders.batch") {
		t.Errorf("the 11th's topics %v", ev)
	}
	// Spread over more than 2 hours: no batch.
	e.clock.Add(24 * time.Hour)
	for i := 0; i < 10; i++ {
		o := e.submit(intake("province", fmt.Sprintf("1890001%04d", i), complaintBilling)).Order
		if o.HasFlag(configs.FlagBatch) {
			t.Fatalf("spread %d: %v", i, o.Flags)
		}
		e.clock.Add(15 * time.Minute)
	}
}

// TestUnsatisfiedReasonFromOtherChannels: a web order about a resolved
// order the customer is unhappy with needs the reason; a call does not.
func TestUnsatisfiedReasonFromOtherChannels(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	first := e.submit(intake("province", "18912345678", complaintBilling)).Order
	e.status(first.ID, "accepted", "resolved")
	web := intake("province", "18912345678", complaintBilling)
	web.Channel, web.Hotline = "web", ""
	if _, err := e.svc.Submit(ctx, web); !errors.Is(err, workorder.ErrUnsatisfiedReasonRequired) {
		t.Fatalf("web without a reason: %v", err)
	}
	web.UnsatisfiedReason = "the refund never came"
	o := e.submit(web).Order
	if o.UnsatisfiedReason != "the refund never came" || !slices.Contains(reasonRules(o), "unsatisfied_with_result") {
		t.Errorf("web order %+v", o)
	}
}
