package escalation

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const testOrder = "WO-20260309-GD-000008"

// order is a complaint on the province tier, planned by the shipped
// policies; each change goes through the planner with the clock the test
// sets, the way the work-order service does it.
type order struct {
	t    *testing.T
	p    *Policies
	in   PlanInput
	plan Plan
}

func newOrder(t *testing.T, p *Policies, class string, at time.Time) *order {
	o := &order{t: t, p: p, in: PlanInput{WorkOrderID: testOrder, Key: "02012345678", Class: class,
		Tier: "province", Province: "GD", Priority: 2, Status: "new", CreatedAt: at}}
	o.plan = p.Plan(o.in, at)
	o.in.SLA, o.in.Deadlines = o.plan.SLA, o.plan.Deadlines
	return o
}

func (o *order) status(s string, at time.Time) Plan {
	o.in.Status = s
	o.in.Path = append(o.in.Path, s)
	o.plan = o.p.Transition(o.in, at)
	o.in.SLA, o.in.Deadlines = o.plan.SLA, o.plan.Deadlines
	return o.plan
}

func (o *order) reclassify(class string, at time.Time) Plan {
	o.in.Class = class
	o.plan = o.p.Reclassify(o.in, at)
	o.in.SLA, o.in.Deadlines = o.plan.SLA, o.plan.Deadlines
	return o.plan
}

func timerOf(p Plan, stage string) (Timer, bool) {
	for _, t := range p.Timers {
		if t.Stage == stage {
			return t, true
		}
	}
	return Timer{}, false
}

func wantDeadlines(t *testing.T, p Plan, want map[string]time.Time) {
	t.Helper()
	if len(p.Deadlines) != len(want) {
		t.Errorf("deadlines %v, want %v", p.Deadlines, want)
	}
	for stage, w := range want {
		if got, ok := p.Deadlines[stage]; !ok || !got.Equal(w) {
			t.Errorf("deadline %s = %s, want %s", stage, got, w)
		}
	}
}

// A complaint through its life: created on a Monday morning, accepted,
// waiting on the customer over a weekend, back in progress, resolved,
// reopened.
func TestPlanComplaintLifecycle(t *testing.T) {
	p := shippedPolicies(t)
	created := cst(t, "2026-03-09 10:00") // Monday
	o := newOrder(t, p, "complaint", created)
	plan := o.plan
	wantDeadlines(t, plan, map[string]time.Time{
		"register": cst(t, "2026-03-09 12:00"),
		"resolve":  cst(t, "2026-03-12 10:00"), // 3 working days
		"reply":    cst(t, "2026-03-24 10:00"), // 15 days
	})
	if len(plan.Timers) != 3 || len(plan.Cancel) != 0 || len(plan.Ended) != 0 || plan.ResolveAll {
		t.Fatalf("plan at creation: %+v", plan)
	}
	// Each timer starts at the first warning, 50% of the limit (on the
	// stage's clock: working time for resolve).
	for stage, due := range map[string]time.Time{
		"register": cst(t, "2026-03-09 11:00"),
		"resolve":  cst(t, "2026-03-10 14:30"), // 13.5 of 27 working hours
		"reply":    cst(t, "2026-03-16 22:00"),
	} {
		tm, ok := timerOf(plan, stage)
		if !ok || !tm.Due.Equal(due) || tm.Step != 0 || tm.ID != TimerID(testOrder, stage) || tm.SLA == nil ||
			tm.SLA.Policy != "complaint" || tm.Class != "complaint" || tm.Key != "02012345678" {
			t.Errorf("timer %s = %+v, want due %s", stage, tm, due)
		}
	}

	// Accepted: register ends, its timer goes and its alerts resolve.
	plan = o.status("accepted", cst(t, "2026-03-09 11:30"))
	if !slices.Equal(plan.Cancel, []string{TimerID(testOrder, "register")}) || !slices.Equal(plan.Ended, []string{"register"}) ||
		len(plan.Timers) != 0 {
		t.Errorf("accepted: %+v", plan)
	}
	if _, ok := plan.Deadlines["register"]; ok || !plan.SLA["register"].Ended.Equal(cst(t, "2026-03-09 11:30")) {
		t.Errorf("register after accepted: %v %+v", plan.Deadlines, plan.SLA["register"])
	}

	// Waiting on the customer from Tuesday noon: resolve's clock stops;
	// the reply's (pausable: false, MIIT art. 8) does not.
	replyDue := plan.Deadlines["reply"]
	plan = o.status("pending_customer", cst(t, "2026-03-10 12:00"))
	if !slices.Equal(plan.Cancel, []string{TimerID(testOrder, "resolve")}) ||
		len(plan.Timers) != 0 || len(plan.Ended) != 0 {
		t.Errorf("pending_customer: %+v", plan)
	}
	wantDeadlines(t, plan, map[string]time.Time{"reply": replyDue})
	if s := plan.SLA["resolve"]; !s.Paused() || s.Used != 11*time.Hour { // Mon 10-18, Tue 9-12
		t.Errorf("resolve paused: %+v", s)
	}
	if s := plan.SLA["reply"]; s.Paused() || s.Used != 0 || !s.Since.Equal(created) {
		t.Errorf("reply while pending: %+v", s)
	}

	// Back on Friday 15:00: each resumes with what it had left.
	resumed := cst(t, "2026-03-13 15:00")
	plan = o.status("in_progress", resumed)
	wantDeadlines(t, plan, map[string]time.Time{
		"resolve": cst(t, "2026-03-17 13:00"), // 16 working hours: Fri 3, Mon 9, Tue 4
		"reply":   replyDue,
	})
	// 11 of 27 working hours were used: the warning at 50% (13.5h) is 2.5
	// working hours after resuming. The reply's timer was never touched.
	if tm, ok := timerOf(plan, "resolve"); !ok || tm.Step != 0 || !tm.Due.Equal(cst(t, "2026-03-13 17:30")) {
		t.Errorf("resolve timer after resume: %+v", tm)
	}
	if _, ok := timerOf(plan, "reply"); ok || len(plan.Timers) != 1 || len(plan.Cancel) != 0 {
		t.Errorf("timers after resume: %+v cancel %v", plan.Timers, plan.Cancel)
	}

	// Resolved: every alert of the order resolves; the follow-up call is due
	// in 7 days.
	resolvedAt := cst(t, "2026-03-16 10:00")
	plan = o.status("resolved", resolvedAt)
	if !plan.ResolveAll || !slices.Equal(plan.Ended, []string{"reply", "resolve"}) {
		t.Errorf("resolved: %+v", plan)
	}
	wantDeadlines(t, plan, map[string]time.Time{"follow_up": resolvedAt.Add(7 * 24 * time.Hour)})
	if tm, ok := timerOf(plan, "follow_up"); !ok || len(plan.Timers) != 1 || !tm.Due.Equal(resolvedAt.Add(84*time.Hour)) {
		t.Errorf("follow_up timer: %+v", plan.Timers)
	}

	// Reopened: the follow-up ends, resolve runs again as run 2.
	reopened := cst(t, "2026-03-17 09:30")
	plan = o.status("reopened", reopened)
	if !slices.Equal(plan.Ended, []string{"follow_up"}) || !slices.Equal(plan.Cancel, []string{TimerID(testOrder, "follow_up")}) {
		t.Errorf("reopened: %+v", plan)
	}
	if s := plan.SLA["resolve"]; s.Run != 2 || !s.Start.Equal(reopened) {
		t.Errorf("resolve after reopen: %+v", s)
	}
	wantDeadlines(t, plan, map[string]time.Time{"resolve": cst(t, "2026-03-20 09:30")})

	// Archived after the second resolution: nothing left.
	o.status("resolved", cst(t, "2026-03-18 09:00"))
	plan = o.status("archived", cst(t, "2026-03-19 09:00"))
	if len(plan.Deadlines) != 0 || len(plan.Timers) != 0 || !slices.Equal(plan.Ended, []string{"follow_up"}) {
		t.Errorf("archived: %+v", plan)
	}
	for name, s := range plan.SLA {
		if s.Running() {
			t.Errorf("stage %s still runs: %+v", name, s)
		}
	}
}

func TestPlanMajorComplaintAlertsAtOnce(t *testing.T) {
	p := shippedPolicies(t)
	at := cst(t, "2026-03-07 22:00") // a Saturday night: an alert at once ignores the calendar
	o := newOrder(t, p, "major_complaint", at)
	tm, ok := timerOf(o.plan, "report_upward")
	if !ok || !tm.Due.Equal(at) || tm.Step != 0 {
		t.Fatalf("report_upward timer %+v", o.plan.Timers)
	}
	if _, ok := o.plan.Deadlines["report_upward"]; ok {
		t.Error("an alert at once has no deadline")
	}
	f, ok := p.firingOf(tm, at.Add(time.Second))
	if !ok || !f.raise || f.chain || f.alert.Severity != SeverityMajor || f.alert.Level != 1 ||
		f.alert.LevelName != "team_lead" || f.alert.ID != "AL-"+testOrder+"-report_upward-major-team_lead" {
		t.Fatalf("firing %+v", f)
	}
	// A day later, every level is still told in turn: the next firing is
	// the second rung, not the latest due.
	if f2, ok := p.firingOf(*f.next, at.Add(24*time.Hour)); !ok || f2.alert.Level != 2 || f2.chain ||
		f2.alert.ID != "AL-"+testOrder+"-report_upward-major-provincial_complaint_centre" {
		t.Errorf("second rung a day late %+v", f2.alert)
	}
	if f.next == nil || !f.next.Due.Equal(at.Add(15*time.Minute)) || f.next.Step != 1 {
		t.Errorf("next rung %+v", f.next)
	}
	// Waiting on the customer does not pause it.
	plan := o.status("pending_customer", at.Add(time.Minute))
	if s := plan.SLA["report_upward"]; s.Paused() || slices.Contains(plan.Cancel, TimerID(testOrder, "report_upward")) {
		t.Errorf("alert at once paused: %+v %v", s, plan.Cancel)
	}
	// Resolving the order ends it with the rest.
	plan = o.status("resolved", at.Add(time.Hour))
	if !plan.ResolveAll || !slices.Contains(plan.Ended, "report_upward") {
		t.Errorf("resolved: %+v", plan)
	}
}

func TestPlanReclassify(t *testing.T) {
	p := shippedPolicies(t)
	created := cst(t, "2026-03-09 10:00")
	o := newOrder(t, p, "complaint", created)
	o.status("accepted", cst(t, "2026-03-09 10:30"))
	at := cst(t, "2026-03-09 14:00")
	plan := o.reclassify("major_complaint", at)
	// The alert at once starts now; resolve and reply keep their clocks,
	// rewritten with the new class and policy; register stays ended.
	if tm, ok := timerOf(plan, "report_upward"); !ok || !tm.Due.Equal(at) || tm.Class != "major_complaint" {
		t.Errorf("report_upward %+v", plan.Timers)
	}
	wantDeadlines(t, plan, map[string]time.Time{
		"resolve": cst(t, "2026-03-12 10:00"),
		"reply":   cst(t, "2026-03-24 10:00"),
	})
	for _, stage := range []string{"resolve", "reply"} {
		tm, ok := timerOf(plan, stage)
		if !ok || tm.Class != "major_complaint" || tm.SLA.Policy != "major_complaint" || tm.SLA.Run != 1 {
			t.Errorf("%s timer %+v", stage, tm)
		}
	}
	if plan.SLA["register"].Running() || len(plan.Ended) != 0 || len(plan.Cancel) != 0 {
		t.Errorf("plan %+v", plan)
	}

	// A consultation that becomes a complaint: answer ends, the complaint's
	// stages start now.
	c := newOrder(t, p, "consultation", created)
	at = cst(t, "2026-03-09 16:00")
	plan = c.reclassify("complaint", at)
	if !slices.Equal(plan.Ended, []string{"answer"}) || !slices.Equal(plan.Cancel, []string{TimerID(testOrder, "answer")}) {
		t.Errorf("consultation to complaint: %+v", plan)
	}
	wantDeadlines(t, plan, map[string]time.Time{
		"register": at.Add(2 * time.Hour),
		"resolve":  cst(t, "2026-03-12 16:00"),
		"reply":    at.Add(15 * 24 * time.Hour),
	})
}

// A breached stage climbs the ladder, then repeats the last rung; a daemon
// that was down raises only the latest step.
func TestScheduleLadderAndCatchUp(t *testing.T) {
	p := shippedPolicies(t)
	created := cst(t, "2026-03-09 10:00")
	o := newOrder(t, p, "complaint", created)
	reg, _ := timerOf(o.plan, "register")
	type want struct {
		severity string
		level    int
		repeat   int
		due      string
		next     string
	}
	walk := []want{
		{SeverityWarning, 0, 0, "2026-03-09 11:00", "2026-03-09 11:36"},
		{SeverityWarning, 0, 0, "2026-03-09 11:36", "2026-03-09 12:00"},
		{SeverityBreach, 1, 0, "2026-03-09 12:00", "2026-03-09 16:00"},
		{SeverityBreach, 2, 0, "2026-03-09 16:00", "2026-03-10 12:00"},
		{SeverityBreach, 3, 0, "2026-03-10 12:00", "2026-03-10 16:00"},
		{SeverityBreach, 3, 1, "2026-03-10 16:00", "2026-03-10 20:00"},
	}
	tm := reg
	for i, w := range walk {
		now := tm.Due.Add(200 * time.Millisecond)
		f, ok := p.firingOf(tm, now)
		if !ok || !f.raise || f.alert.Severity != w.severity || f.alert.Level != w.level || f.alert.Repeat != w.repeat ||
			!f.alert.DueAt.Equal(cst(t, w.due)) || f.next == nil || !f.next.Due.Equal(cst(t, w.next)) || f.alert.Step != i {
			t.Fatalf("step %d: %+v next %+v, want %+v", i, f.alert, f.next, w)
		}
		if !f.alert.Deadline.Equal(cst(t, "2026-03-09 12:00")) || f.alert.State != StateOpen {
			t.Errorf("step %d: deadline %s state %s", i, f.alert.Deadline, f.alert.State)
		}
		tm = *f.next
	}
	// The warnings are separate alerts; the breach climbs as one.
	f0, _ := p.firingOf(reg, cst(t, "2026-03-09 11:00"))
	if f0.alert.ID != "AL-"+testOrder+"-register-warn50" || f0.chain {
		t.Errorf("first warning %+v", f0)
	}
	fb, _ := p.firingOf(tm, cst(t, "2026-03-10 20:00"))
	if fb.alert.ID != "AL-"+testOrder+"-register-breach" || !fb.chain {
		t.Errorf("repeat %+v", fb)
	}
	// Down from before the first warning until Wednesday 09:00: one alert,
	// the fifth repeat of the last rung.
	f, ok := p.firingOf(reg, cst(t, "2026-03-11 09:00"))
	if !ok || f.alert.Level != 3 || f.alert.Repeat != 5 || !f.alert.DueAt.Equal(cst(t, "2026-03-11 08:00")) ||
		!f.next.Due.Equal(cst(t, "2026-03-11 12:00")) {
		t.Errorf("catch-up %+v next %+v", f.alert, f.next)
	}
}

// Pausing after the breach keeps how overdue the stage was: the ladder
// moves by the pause.
func TestPlanPauseAfterBreach(t *testing.T) {
	p := shippedPolicies(t)
	o := newOrder(t, p, "complaint", cst(t, "2026-03-09 10:00"))
	o.status("pending_customer", cst(t, "2026-03-09 13:00")) // register breached at 12:00
	if s := o.plan.SLA["register"]; s.Used != 2*time.Hour || s.Overdue != time.Hour {
		t.Fatalf("register paused %+v", s)
	}
	plan := o.status("in_progress", cst(t, "2026-03-09 15:00"))
	if _, ok := plan.Deadlines["register"]; ok {
		t.Error("in_progress ends register")
	}
	o = newOrder(t, p, "complaint", cst(t, "2026-03-09 10:00"))
	o.status("pending_customer", cst(t, "2026-03-09 13:00"))
	plan = o.status("reopened", cst(t, "2026-03-09 15:00")) // not an end of register
	wantDeadlines(t, plan, map[string]time.Time{
		"register": cst(t, "2026-03-09 14:00"), // an hour overdue, as at the pause
		"resolve":  cst(t, "2026-03-12 15:00"), // restarted by reopened
		"reply":    cst(t, "2026-03-24 10:00"), // not pausable
	})
	tm, _ := timerOf(plan, "register")
	if tm.Step != 2 || !tm.Due.Equal(cst(t, "2026-03-09 14:00")) {
		t.Errorf("register timer %+v: want the breach again (a duplicate, so nothing raised)", tm)
	}
	f, _ := p.firingOf(tm, cst(t, "2026-03-09 15:00"))
	if f.alert.Level != 1 || f.next == nil || !f.next.Due.Equal(cst(t, "2026-03-09 18:00")) {
		t.Errorf("ladder after the pause %+v next %+v", f.alert, f.next)
	}
}

// Creating an order already resolved (answered in the IVR) starts and ends
// its stages at once.
func TestPlanCreatedResolved(t *testing.T) {
	p := shippedPolicies(t)
	at := cst(t, "2026-03-09 10:00")
	in := PlanInput{WorkOrderID: testOrder, Class: "query", Tier: "province", Status: "resolved", CreatedAt: at}
	plan := p.Plan(in, at)
	if len(plan.Timers) != 0 || len(plan.Deadlines) != 0 || !plan.ResolveAll || plan.SLA["answer"].Running() {
		t.Errorf("plan %+v", plan)
	}
	if plan := p.Plan(PlanInput{WorkOrderID: testOrder, Class: "unknown", Tier: "province"}, at); len(plan.Timers) != 0 {
		t.Errorf("no policy, yet timers %+v", plan.Timers)
	}
}

// An order planned before policies has deadlines but no SLA: its stages are
// adopted from its path, and timers of stages that do not run are
// cancelled.
func TestPlanAdoptsOrdersOfTheOldForm(t *testing.T) {
	p := shippedPolicies(t)
	created := cst(t, "2026-03-09 10:00")
	in := PlanInput{WorkOrderID: testOrder, Class: "complaint", Tier: "province", Status: "in_progress",
		CreatedAt: created, Path: []string{"accepted", "in_progress"},
		Deadlines: map[string]time.Time{"register": created.Add(2 * time.Hour), "investigate": created.Add(24 * time.Hour),
			"resolve": created.Add(72 * time.Hour)}}
	plan := p.Transition(in, cst(t, "2026-03-09 12:30"))
	wantDeadlines(t, plan, map[string]time.Time{
		"resolve": cst(t, "2026-03-12 10:00"),
		"reply":   cst(t, "2026-03-24 10:00"),
	})
	if !slices.Equal(plan.Cancel, []string{TimerID(testOrder, "investigate"), TimerID(testOrder, "register")}) {
		t.Errorf("cancel %v", plan.Cancel)
	}
	if _, ok := timerOf(plan, "resolve"); !ok {
		t.Errorf("resolve timer not rewritten: %+v", plan.Timers)
	}
}

// A calendar that moves a deadline later makes a claimed timer move
// instead of raising; one that moves it earlier raises it at once.
func TestFiringFollowsTheCalendarInUse(t *testing.T) {
	cal := FixedCalendar(shippedCalendar(t, "cn-2026.yaml"))
	p, err := LoadPolicies(shippedPoliciesFile, cal)
	if err != nil {
		t.Fatal(err)
	}
	o := newOrder(t, p, "complaint", cst(t, "2026-03-09 10:00"))
	res, _ := timerOf(o.plan, "resolve")
	// 2026-03-10 becomes a holiday: 50% of the limit is on Wednesday now.
	holiday, err := ParseCalendar([]byte("years:\n  2026:\n    holidays: [2026-03-10]\n"))
	if err != nil {
		t.Fatal(err)
	}
	cal.Replace(holiday)
	f, ok := p.firingOf(res, res.Due.Add(time.Second))
	if !ok || f.raise || f.next == nil || !f.next.Due.Equal(cst(t, "2026-03-11 14:30")) || f.next.Step != 0 {
		t.Errorf("firing under the new calendar: %+v next %+v", f, f.next)
	}
	if moved, ok := p.rescheduled(res); !ok || !moved.Due.Equal(cst(t, "2026-03-11 14:30")) {
		t.Errorf("rescheduled %+v %v", moved, ok)
	}
	if d := p.Deadlines(testOrder, "province", o.plan.SLA); !d["resolve"].Equal(cst(t, "2026-03-13 10:00")) ||
		!d["register"].Equal(o.plan.Deadlines["register"]) {
		t.Errorf("deadlines under the new calendar %v", d)
	}
}

func TestAlertIDs(t *testing.T) {
	for _, tc := range []struct {
		run  int
		kind string
		want string
	}{
		{1, "breach", "AL-WO-1-resolve-breach"},
		{2, "breach", "AL-WO-1-resolve-2-breach"},
		{1, "warn80", "AL-WO-1-resolve-warn80"},
	} {
		if got := alertID("WO-1", "resolve", tc.run, tc.kind); got != tc.want || strings.Count(got, "AL-") != 1 {
			t.Errorf("alertID(%d, %s) = %s, want %s", tc.run, tc.kind, got, tc.want)
		}
	}
}

// The MIIT 15-day reply (art. 8) has no pause: however long the order
// waits on the customer, its deadline stays 15 days after receipt, and
// its breach fires while the order still waits. Each row walks an order
// through statuses at the instants given, on the test's clock.
func TestPlanReplyIsNeverPaused(t *testing.T) {
	p := shippedPolicies(t)
	type step struct{ status, at string }
	for _, tc := range []struct {
		name                string
		created, received   string // received "" leaves ReceivedAt zero
		steps               []step
		wantReply           string // the reply deadline after the last step
		wantResolveDeadline string // "" when resolve is paused after the last step
	}{
		{name: "10 days pending, back before the deadline",
			created: "2026-11-23 10:00",
			steps:   []step{{"accepted", "2026-11-23 11:00"}, {"pending_customer", "2026-11-24 10:00"}, {"in_progress", "2026-12-04 10:00"}},
			// resolve: Mon 10-18 and Tue 9-10 were used (9 of 27 working
			// hours), so 18 are left from Fri 12-04 10:00.
			wantReply: "2026-12-08 10:00", wantResolveDeadline: "2026-12-08 10:00"},
		{name: "pending across the deadline",
			created: "2026-11-23 10:00",
			steps:   []step{{"pending_customer", "2026-11-30 10:00"}, {"in_progress", "2026-12-10 10:00"}},
			// resolve was breached on Thursday 11-26; pausing kept it
			// overdue by 4 days, which it still is after the resume.
			wantReply: "2026-12-08 10:00", wantResolveDeadline: "2026-12-06 10:00"},
		{name: "still pending",
			created:   "2026-11-23 10:00",
			steps:     []step{{"accepted", "2026-11-23 10:30"}, {"pending_customer", "2026-11-23 11:00"}},
			wantReply: "2026-12-08 10:00"},
		{name: "a letter received before the order was entered",
			created: "2026-11-23 10:00", received: "2026-11-20 09:00",
			steps:     []step{{"pending_customer", "2026-11-24 10:00"}},
			wantReply: "2026-12-05 09:00"},
		{name: "a receipt after the order's creation counts from its planning",
			created: "2026-11-23 10:00", received: "2026-11-25 10:00",
			wantReply: "2026-12-08 10:00", wantResolveDeadline: "2026-11-26 10:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			created := cst(t, tc.created)
			o := &order{t: t, p: p, in: PlanInput{WorkOrderID: testOrder, Key: "02012345678", Class: "complaint",
				Tier: "province", Province: "GD", Priority: 2, Status: "new", CreatedAt: created}}
			if tc.received != "" {
				o.in.ReceivedAt = cst(t, tc.received)
			}
			o.plan = p.Plan(o.in, created)
			o.in.SLA, o.in.Deadlines = o.plan.SLA, o.plan.Deadlines
			first := o.plan.Deadlines["reply"]
			if !first.Equal(cst(t, tc.wantReply)) {
				t.Errorf("reply deadline at creation %s, want %s", first, tc.wantReply)
			}
			if reg := o.plan.Deadlines["register"]; !reg.Equal(created.Add(2 * time.Hour)) {
				t.Errorf("register deadline %s: it counts from the order's creation", reg)
			}
			for _, s := range tc.steps {
				plan := o.status(s.status, cst(t, s.at))
				if got := plan.Deadlines["reply"]; !got.Equal(first) {
					t.Errorf("after %s at %s: reply deadline %s, want unchanged %s", s.status, s.at, got, first)
				}
				if slices.Contains(plan.Cancel, TimerID(testOrder, "reply")) {
					t.Errorf("after %s: the reply's timer was cancelled", s.status)
				}
			}
			resolve, ok := o.plan.Deadlines["resolve"]
			if tc.wantResolveDeadline == "" {
				if ok || !o.plan.SLA["resolve"].Paused() {
					t.Errorf("resolve %+v (deadline %s), want paused", o.plan.SLA["resolve"], resolve)
				}
			} else if !resolve.Equal(cst(t, tc.wantResolveDeadline)) {
				t.Errorf("resolve deadline %s, want %s", resolve, tc.wantResolveDeadline)
			}
		})
	}

	// The breach of the reply fires on time while the order still waits
	// on the customer.
	o := newOrder(t, p, "complaint", cst(t, "2026-11-23 10:00"))
	o.status("pending_customer", cst(t, "2026-11-24 10:00"))
	tm, ok := timerOf(o.plan, "reply")
	if ok {
		t.Fatalf("pausing rewrote the reply's timer: %+v", tm)
	}
	tm, _ = timerOf(p.Plan(o.in, cst(t, "2026-11-23 10:00")), "reply")
	tm.SLA = ptr(o.plan.SLA["reply"])
	f, ok := p.firingOf(tm, cst(t, "2026-12-08 10:00:01"))
	if !ok || !f.raise || f.alert.Severity != SeverityBreach || !f.alert.Deadline.Equal(cst(t, "2026-12-08 10:00")) {
		t.Errorf("reply breach while pending: %+v", f)
	}
}

func ptr[T any](v T) *T { return &v }

// Working-time limits count on the day kind of the order's tier: group
// and appeal tiers are staffed every day (365×8h), so the National Day
// week does not stop them; the province tier counts the calendar's working
// days, make-up Saturdays (调休) included. Each row plans an order at a
// given instant of the test's clock under the shipped policies and the
// 2026 calendar.
func TestPlanDayKindsPerTier(t *testing.T) {
	p := shippedPolicies(t)
	for _, tc := range []struct {
		name, class, tier, created string
		wantResolve                string
	}{
		// The probe of issue 11: an appeal received on the eve of National
		// Day got 10-10 16:00, the week off stopping it.
		{"appeal across National Day", "complaint", "appeal", "2026-09-30 16:00", "2026-10-03 16:00"},
		{"group across National Day", "repeat_complaint", "group", "2026-09-30 16:00", "2026-10-03 16:00"},
		{"major appeal across National Day", "major_complaint", "appeal", "2026-09-30 16:00", "2026-10-03 16:00"},
		{"appeal fault report across National Day", "fault_report", "appeal", "2026-09-30 16:00", "2026-10-03 16:00"},
		// Natural days keep the working hours: a start at night counts
		// from the next opening, day 1 being that day.
		{"appeal on a holiday night", "complaint", "appeal", "2026-10-01 20:00", "2026-10-04 18:00"},
		{"appeal on a Sunday morning", "complaint", "appeal", "2026-03-08 08:00", "2026-03-10 18:00"},
		// Province tier: working days. The holiday week is skipped and the
		// make-up Saturday 10-10 counts (9-30, then 10-08, 10-09, 10-10).
		{"province across National Day", "complaint", "province", "2026-09-30 16:00", "2026-10-10 16:00"},
		// 3 working days from Friday 10-09 across the make-up Saturday:
		// 10-10, 10-12, 10-13 (without the make-up day, 10-14).
		{"province across a make-up Saturday", "complaint", "province", "2026-10-09 10:00", "2026-10-13 10:00"},
		{"appeal across the same Saturday", "complaint", "appeal", "2026-10-09 10:00", "2026-10-12 10:00"},
		{"province on a Saturday that is not made up", "fault_report", "province", "2026-03-07 15:00", "2026-03-11 18:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := cst(t, tc.created)
			in := PlanInput{WorkOrderID: testOrder, Class: tc.class, Tier: tc.tier, Province: "GD", Status: "new", CreatedAt: at}
			plan := p.Plan(in, at)
			if got := plan.Deadlines["resolve"]; !got.Equal(cst(t, tc.wantResolve)) {
				t.Errorf("resolve deadline %s, want %s", got, tc.wantResolve)
			}
			// Wall-clock limits are the same on every tier.
			if got := plan.Deadlines["register"]; !got.Equal(at.Add(2 * time.Hour)) {
				t.Errorf("register deadline %s", got)
			}
			// The timer's firing and a re-plan from its copy of the state
			// agree with the deadline (the tier travels on the timer).
			tm, ok := timerOf(plan, "resolve")
			if !ok {
				t.Fatal("no resolve timer")
			}
			if f, ok := p.firingOf(tm, tm.Due); !ok || !f.alert.Deadline.Equal(cst(t, tc.wantResolve)) {
				t.Errorf("firing %+v", f.alert)
			}
			if d := p.Deadlines(testOrder, tc.tier, plan.SLA); !d["resolve"].Equal(cst(t, tc.wantResolve)) {
				t.Errorf("Deadlines %v", d)
			}
		})
	}

	// Waiting on the customer over National Day on the appeal tier: the
	// working time left is counted on natural days.
	at := cst(t, "2026-09-29 10:00")
	o := &order{t: t, p: p, in: PlanInput{WorkOrderID: testOrder, Class: "complaint", Tier: "appeal", Province: "GD",
		Status: "new", CreatedAt: at}}
	o.plan = p.Plan(o.in, at)
	o.in.SLA, o.in.Deadlines = o.plan.SLA, o.plan.Deadlines
	o.status("pending_customer", cst(t, "2026-09-30 10:00")) // 9 working hours used (29th 10-18, 30th 9-10)
	if s := o.plan.SLA["resolve"]; s.Used != 9*time.Hour {
		t.Errorf("used %s", s.Used)
	}
	plan := o.status("in_progress", cst(t, "2026-10-02 15:00")) // 18h left: 2nd 15-18, 3rd 9-18, 4th 9-15
	wantDeadlines(t, plan, map[string]time.Time{"resolve": cst(t, "2026-10-04 15:00"), "reply": cst(t, "2026-10-14 10:00")})
}
