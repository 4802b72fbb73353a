package escalation

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// StageState is the clock of one stage of one order. The order keeps the
// states of its stages (an SLA) and hands them back to the planner on every
// change; each timer carries a copy of its stage's state, so firing and a
// calendar reload can re-plan from Redis alone.
//
// A running stage is either counting (Since set) or paused (PausedAt set).
// Used is the time on the stage's clock (wall-clock, or working time for
// limits in working days or hours) spent before Since; Overdue is the
// wall-clock time past the deadline spent before Since, for a stage paused
// after its breach. So the deadline of a counting stage is Since plus what
// is left of the limit on its clock, and pausing and resuming keep exactly
// the time that was left. Used and Overdue are nanoseconds in JSON.
type StageState struct {
	Policy   string        `json:"policy"`
	Run      int           `json:"run"` // 1 for the first run; each restart adds 1
	Start    time.Time     `json:"start"`
	Since    time.Time     `json:"since,omitzero"`
	PausedAt time.Time     `json:"paused_at,omitzero"`
	Ended    time.Time     `json:"ended,omitzero"`
	Used     time.Duration `json:"used,omitzero"`
	Overdue  time.Duration `json:"overdue,omitzero"`
	// Limit replaces the policy's limit when set from outside the
	// policies (PlanInput.Due: the deadline an appeal centre set on its
	// transfer): wall-clock time from Start, never paused.
	Limit time.Duration `json:"limit,omitzero"`
}

// Running reports whether the stage has started and not ended.
func (s StageState) Running() bool { return !s.Start.IsZero() && s.Ended.IsZero() }

// Paused reports whether the stage runs but its clock is stopped.
func (s StageState) Paused() bool { return s.Running() && s.Since.IsZero() }

// SLA holds the stage states of one order by stage name, ended stages
// included (their run numbers keep alert ids apart when a stage restarts).
// The planner never changes an SLA it is given; it returns a new one.
type SLA map[string]StageState

func (s SLA) names() []string {
	out := make([]string, 0, len(s))
	for n := range s {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// PlanInput is what the planner needs to know of an order.
type PlanInput struct {
	WorkOrderID string
	Key         string // Kafka key of the order's events (service number, else caller)
	Class       string
	Tier        string
	Province    string
	Priority    int
	// Status is the order's status after the change being planned (at
	// creation: its first status, usually new).
	Status string
	// SLA is the order's stage states before the change (nil at creation).
	SLA SLA
	// Deadlines is the order's deadlines before the change. Timers of
	// stages listed here that no longer run are cancelled, which also
	// clears the timers of orders created before policies existed.
	Deadlines map[string]time.Time
	// CreatedAt is when the order was created.
	CreatedAt time.Time
	// Due sets the deadlines of stages by name from outside the policies:
	// an appeal transferred by a regulator's centre carries the deadline
	// the centre set (002 branch rules), which replaces the stage's limit
	// when it starts (StageState.Limit). Nil for most orders.
	Due map[string]time.Time
	// ReceivedAt is when the operator received the contact, when that is
	// before the order's creation: a letter entered days later, an order
	// created over the API (POST /v1/workorders) for a contact taken on
	// another channel. Zero means CreatedAt. Stages whose starts_on holds
	// EventReceived (the 15-day reply) count from it: at creation (Plan)
	// and when an order of the old form is adopted; a stage a
	// reclassification starts counts from then. A ReceivedAt after the
	// planning instant counts as that instant.
	ReceivedAt time.Time
	// Path is the statuses the order went through since creation, oldest
	// first, up to and including Status. Reclassify replays it under the
	// new policy; Transition reads it only for an order planned before
	// policies existed (no SLA, but Deadlines), to adopt it.
	Path []string
}

// Plan is the outcome of planning: what to store on the order and what to
// change in Redis, in the same transaction (see Store.Apply).
type Plan struct {
	// SLA is the order's new stage states; store them on the order.
	SLA SLA
	// Deadlines are the deadlines of the stages that are counting: the
	// order's deadlines field. A paused stage has none until it resumes.
	Deadlines map[string]time.Time
	// Timers are to be added, replacing a stage's timer if it has one.
	Timers []Timer
	// Cancel lists the timer ids to remove.
	Cancel []string
	// Ended lists the stages that ended (or restarted); their alerts are
	// resolved.
	Ended []string
	// ResolveAll is set when the order reached a status of
	// resolve_alerts_on: every alert of the order is resolved.
	ResolveAll bool
}

// Plan plans a new order: the stages of its policy that start on creation
// (counting from now) or at receipt (counting from o.ReceivedAt), then its
// first status if that is not new (an order resolved in the IVR). The
// timers are the first step of each stage: a warning, or the breach.
func (p *Policies) Plan(o PlanInput, now time.Time) Plan {
	o.SLA = nil
	pl := p.newPlanner(o, now)
	if pol := p.For(o.Class, o.Tier); pol != nil {
		for _, st := range pol.Stages {
			switch {
			case slices.Contains(st.StartsOn, EventCreated):
				pl.start(pol, st)
			case slices.Contains(st.StartsOn, EventReceived):
				pl.startAt(pol, st, pl.receivedAt())
			}
		}
	}
	if o.Status != "" && o.Status != "new" {
		pl.status(o.Status)
	}
	return pl.finish()
}

// Transition plans the move of an order to o.Status: leaving a pause_on
// status resumes the paused stages with the time they had left; stages
// whose ends_on holds the status end (their timers are cancelled and their
// alerts resolved); stages of the order's policy whose starts_on holds it
// start, or restart; a pause_on status pauses every running stage that is
// pausable (not an alert at once, nor a stage written pausable: false); a
// resolve_alerts_on status resolves every alert of the order.
func (p *Policies) Transition(o PlanInput, now time.Time) Plan {
	pl := p.newPlanner(o, now)
	before := o.Path
	if n := len(before); n > 0 && before[n-1] == o.Status {
		before = before[:n-1]
	}
	pl.adopt(before)
	pl.status(o.Status)
	return pl.finish()
}

// adopt gives an order planned before policies existed (deadlines but no
// SLA) the stages its policy would have running after path: those started
// on creation count from CreatedAt, those started at receipt from
// ReceivedAt, the others from now. No alert at once is raised for such an
// order.
func (pl *planner) adopt(path []string) {
	o := pl.o
	if o.SLA != nil || len(o.Deadlines) == 0 || o.CreatedAt.IsZero() {
		return
	}
	pol := pl.p.For(o.Class, o.Tier)
	if pol == nil {
		return
	}
	for name := range replay(pol, path) {
		st := pol.stages[name]
		if st.AtOnce {
			continue
		}
		start := pl.now
		switch {
		case slices.Contains(st.StartsOn, EventCreated):
			start = o.CreatedAt
		case slices.Contains(st.StartsOn, EventReceived):
			start = pl.receivedAt()
		}
		pl.sla[name] = StageState{Policy: pol.Name, Run: 1, Start: start, Since: start}
		pl.changed[name] = true
	}
}

// Reclassify re-plans an order whose class (or tier) changed to o's. The
// stages the new policy would have running after o.Path keep their clocks
// when they were running already (a complaint that becomes a major
// complaint keeps its resolve deadline) and start now otherwise (an alert
// at once fires now); other stages end. Timers of kept stages are rewritten
// with the new class.
func (p *Policies) Reclassify(o PlanInput, now time.Time) Plan {
	pl := p.newPlanner(o, now)
	path := o.Path
	if len(path) == 0 && o.Status != "" && o.Status != "new" {
		path = []string{o.Status}
	}
	pl.adopt(path)
	pol := p.For(o.Class, o.Tier)
	live := map[string]bool{}
	if pol != nil {
		live = replay(pol, path)
	}
	for _, name := range pl.sla.names() {
		s := pl.sla[name]
		if !s.Running() {
			continue
		}
		if !live[name] {
			pl.end(name)
			continue
		}
		st, old := pol.stages[name], pl.stage(name, s)
		if old == nil || old.AtOnce != st.AtOnce || old.Severity != st.Severity {
			pl.start(pol, st) // a different alert: a new run and a fresh ladder
			continue
		}
		s.Policy = pol.Name
		pl.sla[name] = s
		if !s.Paused() {
			pl.changed[name] = true
		}
	}
	if pol != nil {
		for _, st := range pol.Stages {
			if live[st.Name] && !pl.sla[st.Name].Running() {
				pl.start(pol, st)
			}
		}
	}
	return pl.finish()
}

// Deadlines works out the deadlines of an order's counting stages from its
// SLA with the calendar in use: what Plan.Deadlines would say now. tier is
// the order's tier (it picks the day kind of working-time limits). After a
// calendar reload the order's stored deadlines are those of the old
// calendar until its next change; a reader can show these instead.
func (p *Policies) Deadlines(workOrderID, tier string, sla SLA) map[string]time.Time {
	out := map[string]time.Time{}
	for name, s := range sla {
		pol := p.byName[s.Policy]
		if pol == nil || pol.stages[name] == nil || pol.stages[name].AtOnce || !s.Running() || s.Paused() {
			continue
		}
		out[name] = p.newSchedule(workOrderID, tier, name, s, pol.stages[name]).breach
	}
	return out
}

// replay returns the stages of pol running after the statuses of path.
func replay(pol *Policy, path []string) map[string]bool {
	live := map[string]bool{}
	for _, st := range pol.Stages {
		if slices.Contains(st.StartsOn, EventCreated) || slices.Contains(st.StartsOn, EventReceived) {
			live[st.Name] = true
		}
	}
	for _, status := range path {
		for _, st := range pol.Stages {
			if live[st.Name] && slices.Contains(st.EndsOn, status) {
				delete(live, st.Name)
			}
		}
		for _, st := range pol.Stages {
			if slices.Contains(st.StartsOn, status) {
				live[st.Name] = true
			}
		}
	}
	return live
}

type planner struct {
	p          *Policies
	o          PlanInput
	now        time.Time
	sla        SLA
	changed    map[string]bool // stages whose timer is (re)written
	ended      []string
	resolveAll bool
}

func (p *Policies) newPlanner(o PlanInput, now time.Time) *planner {
	sla := make(SLA, len(o.SLA))
	for k, v := range o.SLA {
		sla[k] = v
	}
	return &planner{p: p, o: o, now: now, sla: sla, changed: map[string]bool{}}
}

// stage is the definition of a stage in the state's policy, nil when the
// policy or the stage is no longer configured.
func (pl *planner) stage(name string, s StageState) *Stage {
	if pol := pl.p.byName[s.Policy]; pol != nil {
		return pol.stages[name]
	}
	return nil
}

func (pl *planner) status(to string) {
	pause := slices.Contains(pl.p.pauseOn, to)
	names := pl.sla.names()
	if !pause {
		for _, name := range names {
			pl.resume(name)
		}
	}
	for _, name := range names {
		s := pl.sla[name]
		if st := pl.stage(name, s); st != nil && s.Running() && slices.Contains(st.EndsOn, to) {
			pl.end(name)
		}
	}
	if pol := pl.p.For(pl.o.Class, pl.o.Tier); pol != nil {
		for _, st := range pol.Stages {
			if slices.Contains(st.StartsOn, to) {
				pl.start(pol, st)
			}
		}
	}
	if pause {
		for _, name := range pl.sla.names() {
			pl.pause(name)
		}
	}
	if slices.Contains(pl.p.resolveOn, to) {
		pl.resolveAll = true
	}
}

// receivedAt is when the stages started at receipt count from: ReceivedAt,
// else CreatedAt, never after now.
func (pl *planner) receivedAt() time.Time {
	at := pl.o.ReceivedAt
	if at.IsZero() {
		at = pl.o.CreatedAt
	}
	if at.IsZero() || at.After(pl.now) {
		return pl.now
	}
	return at
}

func (pl *planner) start(pol *Policy, st *Stage) { pl.startAt(pol, st, pl.now) }

// startAt starts (or restarts) st with its clock counting from at (now,
// or the receipt); in a pause_on status a pausable stage is paused at once,
// with the time between at and now used.
func (pl *planner) startAt(pol *Policy, st *Stage, at time.Time) {
	if pl.sla[st.Name].Running() {
		pl.end(st.Name)
	}
	s := StageState{Policy: pol.Name, Run: pl.sla[st.Name].Run + 1, Start: at, Since: at}
	if due, ok := pl.o.Due[st.Name]; ok && !st.AtOnce {
		s.Limit = max(due.Sub(at), time.Second)
	}
	pl.sla[st.Name] = s
	pl.changed[st.Name] = true
	if slices.Contains(pl.p.pauseOn, pl.o.Status) {
		pl.pause(st.Name)
	}
}

func (pl *planner) end(name string) {
	s := pl.sla[name]
	if !s.Running() {
		return
	}
	s.Ended, s.Since, s.PausedAt = pl.now, time.Time{}, time.Time{}
	pl.sla[name] = s
	pl.ended = append(pl.ended, name)
	delete(pl.changed, name)
}

func (pl *planner) pause(name string) {
	s := pl.sla[name]
	st := pl.stage(name, s)
	if st == nil || !st.Pausable || s.Limit > 0 || !s.Running() || s.Paused() {
		return
	}
	sc := pl.p.newSchedule(pl.o.WorkOrderID, pl.o.Tier, name, s, st)
	if pl.now.Before(sc.breach) {
		s.Used = min(s.Used+sc.clock.between(s.Since, pl.now), sc.within)
	} else {
		s.Used = max(s.Used, sc.within)
		s.Overdue = pl.now.Sub(sc.breach)
	}
	s.Since, s.PausedAt = time.Time{}, pl.now
	pl.sla[name] = s
	delete(pl.changed, name)
}

func (pl *planner) resume(name string) {
	s := pl.sla[name]
	if !s.Paused() {
		return
	}
	s.Since, s.PausedAt = pl.now, time.Time{}
	pl.sla[name] = s
	pl.changed[name] = true
}

func (pl *planner) finish() Plan {
	out := Plan{SLA: pl.sla, Deadlines: map[string]time.Time{}, Ended: pl.ended, ResolveAll: pl.resolveAll}
	counting := func(s StageState) bool { return s.Running() && !s.Paused() }
	for _, name := range pl.sla.names() {
		s := pl.sla[name]
		st := pl.stage(name, s)
		if counting(s) && st != nil {
			sc := pl.p.newSchedule(pl.o.WorkOrderID, pl.o.Tier, name, s, st)
			if !st.AtOnce {
				out.Deadlines[name] = sc.breach
			}
			if pl.changed[name] {
				i := sc.first(pl.now)
				step, _ := sc.at(i)
				out.Timers = append(out.Timers, pl.timer(name, s, i, step.due))
			}
			continue
		}
		_, hadDeadline := pl.o.Deadlines[name]
		if hadDeadline || counting(pl.o.SLA[name]) || (st == nil && counting(s)) {
			out.Cancel = append(out.Cancel, TimerID(pl.o.WorkOrderID, name))
		}
	}
	for name := range pl.o.Deadlines { // stages unknown to the SLA: timers of the old form
		if _, ok := pl.sla[name]; !ok {
			out.Cancel = append(out.Cancel, TimerID(pl.o.WorkOrderID, name))
		}
	}
	sort.Strings(out.Cancel)
	out.Cancel = slices.Compact(out.Cancel)
	return out
}

func (pl *planner) timer(name string, s StageState, step int, due time.Time) Timer {
	o := pl.o
	return Timer{ID: TimerID(o.WorkOrderID, name), WorkOrderID: o.WorkOrderID, Stage: name, Due: due,
		Key: o.Key, Class: o.Class, Tier: o.Tier, Province: o.Province, Priority: o.Priority,
		Step: step, SLA: &s}
}

// stageClock adds and measures time on a stage's clock: wall-clock, or
// working time of the calendar.
type stageClock struct {
	cal *Calendar // nil for wall-clock
}

func (c stageClock) add(t time.Time, d time.Duration) time.Time {
	if c.cal == nil {
		return t.Add(d)
	}
	return c.cal.AddWorkingHours(t, d).In(t.Location())
}

func (c stageClock) between(a, b time.Time) time.Duration {
	if c.cal == nil {
		return max(b.Sub(a), 0)
	}
	return c.cal.WorkingTimeBetween(a, b)
}

// schedule is the sequence of steps of one counting stage: its warnings,
// the breach (the first rung of the ladder), the later rungs, then repeats
// of the last rung every RepeatEvery. Steps are numbered from 0 in that
// order; their due times never decrease.
type schedule struct {
	wo, name string
	pol      *Policy
	st       *Stage
	s        StageState
	clock    stageClock
	within   time.Duration
	breach   time.Time
}

// newSchedule is the schedule of stage name of order wo, of tier tier, in
// state s. A working-time limit counts on the calendar in use, or on its
// EveryDay view when the policy runs on natural days for tier.
func (p *Policies) newSchedule(wo, tier, name string, s StageState, st *Stage) *schedule {
	sc := &schedule{wo: wo, name: name, pol: p.byName[s.Policy], st: st, s: s}
	if st.Within.Working {
		sc.clock.cal = p.Calendar() // the loader refuses working time without a calendar
		if sc.pol != nil && sc.pol.DayKind(tier) == DayKindNatural && sc.clock.cal != nil {
			sc.clock.cal = sc.clock.cal.EveryDay()
		}
	}
	sc.within = st.Within.duration(sc.clock.cal)
	if s.Limit > 0 { // a deadline set from outside: wall-clock
		sc.clock.cal, sc.within = nil, s.Limit
	}
	since := s.Since
	if since.IsZero() {
		since = s.PausedAt
	}
	if s.Used < sc.within {
		sc.breach = sc.clock.add(since, sc.within-s.Used)
	} else {
		sc.breach = since.Add(-s.Overdue)
	}
	return sc
}

// step is one alert on a stage's schedule.
type step struct {
	index     int
	due       time.Time
	alertID   string
	severity  string
	level     int
	levelName string
	chain     bool // a rung or repeat of the breach alert: acknowledging it stops the rest
	repeat    int
	passed    bool // a warning whose point the stage passed before a pause: never raised
}

func (sc *schedule) warnings() []float64 {
	if sc.st.AtOnce {
		return nil
	}
	return sc.st.Warnings
}

// at returns step i, false past the end of a schedule without repeats.
func (sc *schedule) at(i int) (step, bool) {
	ws, ladder := sc.warnings(), sc.pol.Ladder
	if i < 0 || len(ladder) == 0 {
		return step{}, false
	}
	if i < len(ws) {
		pct := int(math.Round(ws[i] * 100))
		x := time.Duration(ws[i] * float64(sc.within))
		st := step{index: i, severity: SeverityWarning, levelName: sc.pol.WarningLevel,
			alertID: alertID(sc.wo, sc.name, sc.s.Run, fmt.Sprintf("warn%d", pct))}
		if x < sc.s.Used {
			st.passed, st.due = true, sc.s.Since
		} else {
			st.due = sc.clock.add(sc.s.Since, x-sc.s.Used)
		}
		return st, true
	}
	j := i - len(ws)
	st := step{index: i, severity: sc.st.Severity, chain: true,
		alertID: alertID(sc.wo, sc.name, sc.s.Run, sc.st.Severity)}
	switch {
	case j < len(ladder):
		st.due, st.level, st.levelName = sc.breach.Add(ladder[j].After), j+1, ladder[j].Level
	case sc.pol.RepeatEvery > 0:
		last := ladder[len(ladder)-1]
		st.repeat = j - len(ladder) + 1
		st.due = sc.breach.Add(last.After + time.Duration(st.repeat)*sc.pol.RepeatEvery)
		st.level, st.levelName = len(ladder), last.Level
	default:
		return step{}, false
	}
	if sc.st.AtOnce {
		// A major or group complaint is reported level by level (逐级上报,
		// DOMAIN.md): every level gets its own alert, whatever the acks
		// of the others; the repeats remind the last level until it acks.
		st.alertID = alertID(sc.wo, sc.name, sc.s.Run, sc.st.Severity+"-"+st.levelName)
		st.chain = j >= len(ladder)
	}
	return st, true
}

// latestDue is the index of the last step due at or before now that is
// not passed, -1 when none is.
func (sc *schedule) latestDue(now time.Time) int {
	k := -1
	finite := len(sc.warnings()) + len(sc.pol.Ladder)
	for i := 0; i < finite; i++ {
		st, _ := sc.at(i)
		if st.passed {
			continue
		}
		if st.due.After(now) {
			return k
		}
		k = i
	}
	if r := sc.pol.RepeatEvery; r > 0 && k == finite-1 {
		top, _ := sc.at(k)
		k += int(now.Sub(top.due) / r)
	}
	return k
}

// first is the step a stage's timer is set to when it is (re)planned at
// now: the latest step already due (an earlier one is either raised or
// overtaken; raising it again is a no-op), else the first one not passed.
func (sc *schedule) first(now time.Time) int {
	if k := sc.latestDue(now); k >= 0 {
		return k
	}
	for i := 0; ; i++ {
		if st, ok := sc.at(i); !ok || !st.passed {
			return i
		}
	}
}

// alertID names the alert of a step. The first run of a stage keeps the
// short form (AL-<order>-<stage>-breach); a restarted stage's alerts carry
// the run, so they are new alerts and not duplicates of the last run's.
func alertID(wo, stage string, run int, kind string) string {
	if run > 1 {
		return fmt.Sprintf("AL-%s-%s-%d-%s", wo, stage, run, kind)
	}
	return "AL-" + wo + "-" + stage + "-" + kind
}

// firing is what to do with a claimed timer at now.
type firing struct {
	raise bool // raise alert; false: only move the timer
	alert Alert
	data  []byte // alert's JSON when already encoded (it is the event's data)
	chain bool
	next  *Timer // the timer's next step, nil when the schedule is done
}

// firingOf works out what a claimed timer does at now: the step to raise
// (the latest one due, so a daemon that was down does not replay every
// rung), and the timer's next step. A step that the calendar in use puts
// after now is not raised; the timer moves to it. It reports false for a
// timer of the old form, or of a policy or stage no longer configured.
func (p *Policies) firingOf(t Timer, now time.Time) (firing, bool) {
	if p == nil || t.SLA == nil {
		return firing{}, false
	}
	pol := p.byName[t.SLA.Policy]
	if pol == nil || pol.stages[t.Stage] == nil {
		return firing{}, false
	}
	if !t.SLA.Running() || t.SLA.Paused() {
		return firing{}, true // not counting: nothing to raise, drop the timer
	}
	sc := p.newSchedule(t.WorkOrderID, t.Tier, t.Stage, *t.SLA, pol.stages[t.Stage])
	i := max(t.Step, sc.latestDue(now))
	if sc.st.AtOnce && t.Step < len(sc.pol.Ladder) {
		i = t.Step // every level of an upward report is told in turn: none skipped
	}
	st, ok := sc.at(i)
	for ok && st.passed {
		i++
		st, ok = sc.at(i)
	}
	if !ok {
		return firing{}, true // past the end: drop the timer
	}
	if st.due.After(now) {
		moved := t
		moved.Step, moved.Due = i, st.due
		return firing{next: &moved}, true
	}
	f := firing{raise: true, chain: st.chain, alert: Alert{
		ID: st.alertID, WorkOrderID: t.WorkOrderID, Stage: t.Stage, Level: st.level, LevelName: st.levelName,
		Severity: st.severity, State: StateOpen, Class: t.Class, Tier: t.Tier, Province: t.Province,
		Priority: t.Priority, DueAt: st.due.In(now.Location()), RaisedAt: now, Deadline: sc.breach.In(now.Location()),
		Step: st.index, Repeat: st.repeat,
	}}
	if nx, ok := sc.at(i + 1); ok {
		next := t
		next.Step, next.Due = i+1, nx.due
		f.next = &next
	}
	return f, true
}

// rescheduled returns t moved to where the calendar in use puts its step,
// and whether that differs from t.Due.
func (p *Policies) rescheduled(t Timer) (Timer, bool) {
	if p == nil || t.SLA == nil || !t.SLA.Running() || t.SLA.Paused() {
		return t, false
	}
	pol := p.byName[t.SLA.Policy]
	if pol == nil || pol.stages[t.Stage] == nil {
		return t, false
	}
	sc := p.newSchedule(t.WorkOrderID, t.Tier, t.Stage, *t.SLA, pol.stages[t.Stage])
	st, ok := sc.at(t.Step)
	if !ok || st.due.Equal(t.Due) {
		return t, false
	}
	t.Due = st.due
	return t, true
}
