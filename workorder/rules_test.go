package workorder_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
	t       *testing.T
	redis   *testenv.Redis
	cfg     *configs.Config
	rules   *classifier.Rules
	store   *workorder.Store
	timers  *escalation.Store
	svc     *workorder.Service
	outbox  *queue.Outbox
	clock   *clock
	schemas *testenv.Schemas
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
	e.timers = escalation.NewStore(r.Client, "t", shards, e.outbox)
	e.store = workorder.NewStore(r.Client, "t", shards, e.outbox, e.timers)
	var groups workorder.GroupCounter
	if wrap != nil {
		groups = wrap(workorder.NewRedisGroups(r.Client, "t", rules.GroupComplaint.KeepAfterPeriod.D()))
	}
	e.svc = workorder.NewService(workorder.ServiceParams{Store: e.store, Router: queue.NewRouter(cfg.Kafka.Routes),
		Config: cfg, Rules: rules, Groups: groups, Now: e.clock.Now, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry()})
	t.Cleanup(e.checkEvents)
	return e
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
	if last.Action != "urge" || last.Actor != "caller" || !e.clock.Now().Equal(last.At) || last.Note == "" {
		t.Errorf("history %+v", last)
	}
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
	if inc := incidentOf(t, evs[0]); !slices.Equal(inc.Members, members) || inc.Province != "GD" {
		t.Errorf("incident members %v province %s, want %v GD", inc.Members, inc.Province, members)
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
	got, err := e.svc.Reclassify(ctx, o.ID, "complaint", "supervisor-3", "the customer disputes the bill")
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
		if _, err := e.svc.Reclassify(ctx, tc.id, tc.class, tc.actor, tc.reason); !errors.Is(err, tc.want) {
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

func TestGroupSameDay(t *testing.T) {
	e := newEnv(t, nil)
	var ids []string
	submit := func(tier string, leaf configs.Leaf) *workorder.Order {
		o := e.submit(intake(tier, fmt.Sprintf("1890000%04d", len(ids)), leaf)).Order
		ids = append(ids, o.ID)
		return o
	}
	// Province-tier orders do not count toward the daily rule.
	for i := 0; i < 3; i++ {
		if o := submit("province", complaintBilling); o.Class != "complaint" {
			t.Fatalf("province-tier order %d: %s", i, o.Class)
		}
	}
	// Nor do other subcategories or queries.
	submit("group", complaintNetwork)
	submit("group", queryBilling)
	first := submit("group", complaintBilling)
	second := submit("appeal", complaintBilling)
	if first.Class != "complaint" || second.Class != "complaint" {
		t.Fatalf("1st and 2nd group-tier orders: %s %s", first.Class, second.Class)
	}
	if n := len(e.eventsOf(queue.TypeIncidentGroupComplaint, "")); n != 0 {
		t.Fatalf("incident after 2 orders: %d events", n)
	}
	third := submit("group", complaintBilling)
	if third.Class != "group_complaint" || third.Priority != 1 || !slices.Equal(third.Incidents, []string{"GC-20261123-GD-billing.charge_dispute"}) ||
		!slices.Equal(third.Related, []string{first.ID, second.ID}) {
		t.Fatalf("3rd: class %s incidents %v related %v", third.Class, third.Incidents, third.Related)
	}
	evs := e.eventsOf(queue.TypeIncidentGroupComplaint, "GC-20261123-GD-billing.charge_dispute")
	if len(evs) != 1 {
		t.Fatalf("incident events %d, want 1", len(evs))
	}
	inc := incidentOf(t, evs[0])
	if inc.Rule != "group_same_day_escalated" || inc.Period != "2026-11-23" || !inc.Verified || inc.Province != "GD" ||
		inc.Subcategory != "billing" || !slices.Equal(inc.Members, []string{first.ID, second.ID, third.ID}) {
		t.Errorf("incident %+v", inc)
	}
	if evs[0].ID != "GC-20261123-GD-billing.charge_dispute/raised" || evs[0].Key != "GC-20261123-GD-billing.charge_dispute" ||
		!slices.Equal(evs[0].Topics, []string{"hotline.workorders.province.GD", "hotline.workorders.group", "hotline.workorders.billing"}) {
		t.Errorf("incident event %s key %s topics %v", evs[0].ID, evs[0].Key, evs[0].Topics)
	}
	// Earlier members are reclassified and linked.
	for _, o := range []*workorder.Order{first, second} {
		got := e.get(o.ID)
		if got.Class != "group_complaint" || !slices.Contains(got.Related, third.ID) || got.History[len(got.History)-1].Action != "class" {
			t.Errorf("earlier member %s: class %s related %v", o.ID, got.Class, got.Related)
		}
		if n := len(e.eventsOf(queue.TypeWorkOrderReclassified, o.ID)); n != 1 {
			t.Errorf("reclassified events of %s: %d", o.ID, n)
		}
	}
	// A later member joins at creation.
	fourth := submit("appeal", complaintBilling)
	if fourth.Class != "group_complaint" || !slices.Equal(fourth.Related, []string{first.ID, second.ID, third.ID}) {
		t.Errorf("4th: class %s related %v", fourth.Class, fourth.Related)
	}
	// Related are the orders that raised it, not every later member.
	fifth := submit("group", complaintBilling)
	if !slices.Equal(fifth.Related, []string{first.ID, second.ID, third.ID}) {
		t.Errorf("5th: related %v", fifth.Related)
	}
	if n := len(e.eventsOf(queue.TypeIncidentGroupComplaint, "")); n != 1 {
		t.Errorf("incident events after the 5th: %d, want still 1", n)
	}
	stored, err := e.svc.Incident(context.Background(), "GC-20261123-GD-billing.charge_dispute")
	if err != nil || !slices.Equal(stored.Members, []string{first.ID, second.ID, third.ID, fourth.ID, fifth.ID}) || len(stored.Pending) != 0 || !stored.Announced {
		t.Errorf("stored incident %+v, %v", stored, err)
	}
	// Reconciling finds nothing left to do.
	if err := e.svc.ReconcileIncidents(context.Background()); err != nil {
		t.Error(err)
	}
	if n := len(e.events()); n != len(ids)+1+2 {
		t.Errorf("events %d, want %d created, 1 incident, 2 reclassified", n, len(ids))
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
		if got := e.get(o.ID); got.Class != "complaint" {
			t.Errorf("%s: %s", o.ID, got.Class)
		}
	}
	if c.ID[3:11] != "20261124" {
		t.Errorf("the order after midnight Beijing time has id %s", c.ID)
	}
	// Two more on the 24th make three that day.
	d := e.submit(intake("group", "18900000004", complaintBilling)).Order
	f := e.submit(intake("group", "18900000005", complaintBilling)).Order
	if f.Class != "group_complaint" || !slices.Equal(f.Incidents, []string{"GC-20261124-GD-billing.charge_dispute"}) {
		t.Errorf("3rd on the 24th: %s %v", f.Class, f.Incidents)
	}
	if got := e.get(d.ID); got.Class != "group_complaint" {
		t.Errorf("2nd on the 24th: %s", got.Class)
	}
	if got := e.get(b.ID); got.Class != "complaint" {
		t.Errorf("order of the 23rd: %s", got.Class)
	}
}

func TestGroupSameMonth(t *testing.T) {
	monthly := func(r *classifier.Rules) { r.GroupComplaint.SameDay.Threshold = 1000 }
	t.Run("19th and 20th", func(t *testing.T) {
		e := newEnv(t, monthly)
		e.clock.Set(time.Date(2026, 11, 1, 0, 0, 0, 0, e.cfg.Location))
		var ids []string
		for i := 1; i <= 19; i++ {
			o := e.submit(intake([]string{"province", "group", "appeal"}[i%3], fmt.Sprintf("1890000%04d", i), complaintNetwork)).Order
			if o.Class != "complaint" {
				t.Fatalf("order %d: %s", i, o.Class)
			}
			ids = append(ids, o.ID)
			e.clock.Add(36 * time.Hour)
		}
		if n := len(e.eventsOf(queue.TypeIncidentGroupComplaint, "")); n != 0 {
			t.Fatalf("incident after 19: %d", n)
		}
		e.clock.Set(time.Date(2026, 11, 30, 23, 59, 59, 0, e.cfg.Location))
		twentieth := e.submit(intake("province", "18900009999", complaintNetwork)).Order
		ids = append(ids, twentieth.ID)
		if twentieth.Class != "group_complaint" || !slices.Equal(twentieth.Incidents, []string{"GC-202611-GD-network.quality"}) {
			t.Fatalf("20th: %s %v", twentieth.Class, twentieth.Incidents)
		}
		evs := e.eventsOf(queue.TypeIncidentGroupComplaint, "GC-202611-GD-network.quality")
		if len(evs) != 1 {
			t.Fatalf("incident events %d", len(evs))
		}
		inc := incidentOf(t, evs[0])
		if inc.Verified || inc.Rule != "group_same_month" || inc.Period != "2026-11" || !slices.Equal(inc.Members, ids) {
			t.Errorf("incident %+v", inc)
		}
		for _, id := range ids {
			if got := e.get(id); got.Class != "group_complaint" {
				t.Errorf("member %s: %s", id, got.Class)
			}
		}
		// A supervisor confirms it: verified, and the event again.
		e.clock.Add(time.Hour)
		ctx := context.Background()
		got, err := e.svc.ConfirmGroupComplaint(ctx, "GC-202611-GD-network.quality", "supervisor-1")
		if err != nil || !got.Verified || got.ConfirmedBy != "supervisor-1" || got.ConfirmedAt == nil || !got.ConfirmedAt.Equal(e.clock.Now()) {
			t.Fatalf("confirm: %+v, %v", got, err)
		}
		evs = e.eventsOf(queue.TypeIncidentGroupComplaint, "GC-202611-GD-network.quality")
		if len(evs) != 2 || evs[1].ID != "GC-202611-GD-network.quality/confirmed" || !incidentOf(t, evs[1]).Verified {
			t.Fatalf("events after confirm: %d", len(evs))
		}
		// Confirming again changes nothing.
		if _, err := e.svc.ConfirmGroupComplaint(ctx, "GC-202611-GD-network.quality", "supervisor-2"); err != nil {
			t.Error(err)
		}
		if n := len(e.eventsOf(queue.TypeIncidentGroupComplaint, "")); n != 2 {
			t.Errorf("events after a second confirm: %d", n)
		}
		for _, id := range []string{"GC-202611-GD-billing.charge_dispute", "GC-202613-GD-network.quality", "nonsense"} {
			if _, err := e.svc.ConfirmGroupComplaint(ctx, id, "s"); !errors.Is(err, workorder.ErrIncidentNotFound) {
				t.Errorf("confirm %s: %v", id, err)
			}
		}
	})
	t.Run("across the month boundary", func(t *testing.T) {
		e := newEnv(t, monthly)
		e.clock.Set(time.Date(2026, 11, 30, 12, 0, 0, 0, e.cfg.Location))
		for i := 1; i <= 19; i++ {
			e.submit(intake("province", fmt.Sprintf("1890000%04d", i), complaintNetwork))
		}
		// Midnight Beijing time, 16:00 UTC on the 30th.
		e.clock.Set(time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC))
		o := e.submit(intake("province", "18900009999", complaintNetwork)).Order
		if o.Class != "complaint" || len(e.eventsOf(queue.TypeIncidentGroupComplaint, "")) != 0 {
			t.Errorf("1st of December after 19 in November: %s", o.Class)
		}
	})
}

// TestGroupConcurrent: 50 calls at once for the same province and
// subcategory on the group tier, each with its own customer: exactly one
// incident per window, and every order in it.
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
	for _, id := range []string{"GC-20261123-GD-billing.charge_dispute", "GC-202611-GD-billing.charge_dispute"} {
		evs := e.eventsOf(queue.TypeIncidentGroupComplaint, id)
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
	var before int
	for _, id := range ids {
		o := e.get(id)
		if o.Class != "group_complaint" {
			t.Errorf("%s: %s", id, o.Class)
		}
		if len(o.Incidents) != 2 {
			t.Errorf("%s: incidents %v", id, o.Incidents)
		}
		if len(e.eventsOf(queue.TypeWorkOrderReclassified, id)) > 0 {
			before++
		}
	}
	// The day's 3rd raised it: two earlier members (the month's 20th also
	// reclassifies up to 19), each reclassified once per incident at most.
	if before < 2 || before > 19 {
		t.Errorf("%d orders were reclassified, want 2 to 19", before)
	}
}

// TestGroupCrashBetweenSteps: a member counted by a daemon that died before
// storing the order. The incident still completes: the stored members are
// reclassified at once, the lost one is dropped after the grace, and an
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
	if b.Class != "group_complaint" || e.get(a.ID).Class != "group_complaint" {
		t.Fatalf("classes %s %s", e.get(a.ID).Class, b.Class)
	}
	inc, _ := e.svc.Incident(ctx, "GC-20261123-GD-billing.charge_dispute")
	if !slices.Equal(inc.Pending, []string{"WO-20261123-GD-000901"}) {
		t.Fatalf("pending %v: the lost member waits for the grace", inc.Pending)
	}
	e.clock.Add(2 * time.Minute)
	if err := e.svc.ReconcileIncidents(ctx); err != nil {
		t.Fatal(err)
	}
	inc, _ = e.svc.Incident(ctx, "GC-20261123-GD-billing.charge_dispute")
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
	for _, o := range []*workorder.Order{c, d} {
		if got := e.get(o.ID); got.Class != "group_complaint" {
			t.Errorf("member %s after the sweep: %s", o.ID, got.Class)
		}
	}
	if n := len(e.eventsOf(queue.TypeIncidentGroupComplaint, "GC-20261124-GD-billing.charge_dispute")); n != 0 {
		t.Errorf("announced within the grace: %d", n)
	}
	e.clock.Add(2 * time.Minute)
	if err := e.svc.ReconcileIncidents(ctx); err != nil {
		t.Fatal(err)
	}
	evs := e.eventsOf(queue.TypeIncidentGroupComplaint, "GC-20261124-GD-billing.charge_dispute")
	if len(evs) != 1 || !slices.Equal(incidentOf(t, evs[0]).Members, []string{c.ID, d.ID}) {
		t.Fatalf("announcement of the lost trigger's incident: %d events", len(evs))
	}
	if err := e.svc.ReconcileIncidents(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.eventsOf(queue.TypeIncidentGroupComplaint, "GC-20261124-GD-billing.charge_dispute")); n != 1 {
		t.Errorf("announced again: %d", n)
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
// only after the 3rd raised the incident and tried to reclassify it; it
// reclassifies itself once stored.
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
	if c.Class != "group_complaint" || e.get(b.ID).Class != "group_complaint" {
		t.Fatalf("2nd and 3rd: %s %s", e.get(b.ID).Class, c.Class)
	}
	inc, _ := e.svc.Incident(ctx, "GC-20261123-GD-billing.charge_dispute")
	if !slices.Equal(inc.Pending, []string{slow}) {
		t.Fatalf("pending %v, want the slow order %s", inc.Pending, slow)
	}
	close(release)
	a := <-done
	if a.ID != slow {
		t.Fatalf("slow order %s, reserved %s", a.ID, slow)
	}
	if got := e.get(a.ID); got.Class != "group_complaint" || !slices.Equal(got.Incidents, []string{"GC-20261123-GD-billing.charge_dispute"}) {
		t.Errorf("the slow 1st member: %s %v", got.Class, got.Incidents)
	}
	if inc, _ := e.svc.Incident(ctx, "GC-20261123-GD-billing.charge_dispute"); len(inc.Pending) != 0 {
		t.Errorf("pending %v", inc.Pending)
	}
	if n := len(e.eventsOf(queue.TypeWorkOrderReclassified, a.ID)); n != 1 {
		t.Errorf("reclassified events of the slow member: %d", n)
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
	if third.Class != "group_complaint" || len(third.Related) != 2 {
		t.Fatalf("3rd: %s related %v", third.Class, third.Related)
	}
	a, err := e.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if a.Class != "group_complaint" || !slices.Contains(third.Related, a.ID) {
		t.Errorf("retried call: %s %s, want a member (3rd related %v)", a.ID, a.Class, third.Related)
	}
	inc, _ := e.svc.Incident(ctx, "GC-20261123-GD-billing.charge_dispute")
	if len(inc.Members) != 3 || len(inc.Pending) != 0 {
		t.Errorf("incident members %v pending %v", inc.Members, inc.Pending)
	}
	if n := len(e.eventsOf(queue.TypeWorkOrderReclassified, a.ID)); n != 0 {
		t.Errorf("the retried order was a member at creation, yet reclassified %d times", n)
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
		if got := e.get(o.ID); got.Class != "group_complaint" {
			t.Errorf("%s: %s", o.ID, got.Class)
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
