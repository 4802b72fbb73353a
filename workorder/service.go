package workorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/queue"
)

// Intake is what a finished call (or another channel) brings to the work
// order.
type Intake struct {
	CallID        string
	Hotline       string
	Tier          string
	Province      string
	Caller        string
	ServiceNumber string
	IVRPath       string
	Leaf          configs.Leaf
	// Description is free text from the channel or the agent; the
	// major-complaint keywords are searched in it.
	Description string
	// Channel is where the contact came in: "hotline" (a call) or, for
	// orders created through the API, web, app, letter, wechat or email.
	Channel string
}

// Outcome says what became of a contact.
type Outcome string

// Outcomes.
const (
	// OutcomeCreated: a new work order.
	OutcomeCreated Outcome = "created"
	// OutcomeUrged: the service number has a complaint still being handled;
	// no new order, that one was urged and is the contact's order.
	OutcomeUrged Outcome = "urged"
)

// Result is a contact's work order and what became of it.
type Result struct {
	Order   *Order
	Outcome Outcome
}

// Service classifies, stores and publishes work orders.
type Service struct {
	tracer    trace.Tracer
	store     *Store
	router    *queue.Router
	deadlines map[string]map[string]configs.Duration
	policies  *escalation.Policies // nil: the fixed deadlines above
	loc       *time.Location
	source    string
	now       func() time.Time
	log       zerolog.Logger
	created   *prometheus.CounterVec
	rules     *classifier.Rules
	// stateful: the rules that read shared state apply (open-complaint
	// urge, unsatisfied, repeat, group counting). Off only without rules,
	// see ServiceParams.Rules.
	stateful bool
	groups   GroupCounter
	unknown  string // the province code of an unknown province: not counted
	grace    time.Duration
}

// ServiceParams configures a Service.
type ServiceParams struct {
	Store  *Store
	Router *queue.Router
	Config *configs.Config
	// Rules are the classification rules (classifier.LoadRules of
	// Config.Classifier.RulesFile, or classifier.DefaultRules()). Nil keeps
	// the behaviour from before the rules file: the built-in rules without
	// those that read shared state (no urge, no unsatisfied or repeat
	// complaint, no group counting), until the daemon passes rules.
	Rules *classifier.Rules
	// Policies are the SLA policies (escalation.LoadPolicies of
	// Config.Escalation.PoliciesFile with its calendar). When set, every
	// order's stages, deadlines and timers come from the planner (Plan on
	// creation, Transition on a status change, Reclassify on a change of
	// class or priority) and the timer store must have been built with
	// escalation.WithAlertEvents (ending a stage resolves its alerts). Nil
	// keeps the fixed deadlines of Config.Escalation.Deadlines.
	Policies *escalation.Policies
	// Groups counts group complaints; nil means RedisGroups on the store's
	// Redis.
	Groups GroupCounter
	// Grace is how long a reserved order may take to be stored before it is
	// given up as lost (its daemon died): a group member counted under it
	// is dropped, its placeholder in the customer's index no longer
	// urged. Longer than a call's create attempts, retries included (the
	// SIP edge: 3 of at most 5 s). Default 30s.
	Grace      time.Duration
	Now        func() time.Time
	Logger     zerolog.Logger
	Registerer prometheus.Registerer
	// Tracer records a workorder.submit span per contact; nil records none.
	Tracer trace.Tracer
}

// NewService builds a Service.
func NewService(p ServiceParams) *Service {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Grace <= 0 {
		p.Grace = 30 * time.Second
	}
	created := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotlined_workorders_created_total",
		Help: "Work orders created, by class and tier.",
	}, []string{"class", "tier"})
	p.Registerer.MustRegister(created)
	rules, stateful := p.Rules, true
	if rules == nil {
		rules, stateful = classifier.DefaultRules(), false
	}
	p.Store.keep = max(rules.RepeatComplaint.Window.D(), rules.UnsatisfiedWithResult.Window.D())
	if p.Groups == nil {
		p.Groups = NewRedisGroups(p.Store.rdb, p.Store.prefix, rules.GroupComplaint.KeepAfterPeriod.D())
	}
	if p.Tracer == nil {
		p.Tracer = noop.NewTracerProvider().Tracer("")
	}
	return &Service{
		tracer: p.Tracer,
		store:  p.Store, router: p.Router, deadlines: p.Config.Escalation.Deadlines, policies: p.Policies,
		loc: p.Config.Location, source: p.Config.Kafka.Source, now: p.Now,
		log: p.Logger.With().Str("component", "workorder").Logger(), created: created,
		rules: rules, stateful: stateful, groups: p.Groups, unknown: p.Config.Provinces.Unknown, grace: p.Grace,
	}
}

// Get reads an order.
func (s *Service) Get(ctx context.Context, id string) (*Order, error) { return s.store.Get(ctx, id) }

// Create takes a contact and returns its work order: a new one, or, for a
// complaint while the service number has one still being handled, that one
// urged (see Submit for which).
func (s *Service) Create(ctx context.Context, in Intake) (*Order, error) {
	r, err := s.Submit(ctx, in)
	return r.Order, err
}

// ghostPoll is how often a contact looks again for an order another contact
// of the same customer is writing at that moment.
const ghostPoll = 20 * time.Millisecond

// Submit takes a contact:
//
//  1. On the customer's shard, in one optimistic transaction: the call's
//     earlier answer (a retried call gets the same order), the service
//     number's complaint history, the classification on it (classifier
//     Rules.Classify), and for a new order its id, reserved.
//  2. A complaint while an earlier one is still being handled urges that
//     one: urge count, priority, hotline.workorder.urged; no new order.
//  3. A valid complaint is counted in its group-complaint windows (one
//     atomic script per window); at a threshold it becomes a group
//     complaint and raises the window's incident.
//  4. The order, its events (created, and the incident's when raised) and
//     its timers are written in one transaction.
//  5. Members of an incident counted before it are reclassified
//     (reconcile); failures there are left to ReconcileIncidents.
func (s *Service) Submit(ctx context.Context, in Intake) (_ Result, err error) {
	ctx, span := s.tracer.Start(ctx, "workorder.submit",
		trace.WithAttributes(attribute.String("channel", channelOf(in)), attribute.String("category", in.Leaf.Category)))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	return s.submit(ctx, in)
}

func (s *Service) submit(ctx context.Context, in Intake) (Result, error) {
	now := s.now().In(s.loc)
	key := in.ServiceNumber
	if key == "" {
		key = in.Caller
	}
	complaint := in.Leaf.Category == classifier.ClassComplaint
	p := beginParams{Shard: s.store.ShardOf(key), CallID: in.CallID, Subcategory: in.Leaf.Subcategory,
		Now: now, Province: in.Province}
	if s.stateful && complaint {
		p.ServiceNumber = in.ServiceNumber
		p.Reserve = in.CallID != ""
	} else if in.CallID != "" {
		p.CallID = "" // nothing is counted under the id before the order exists: the order alone records the call
		id, err := s.store.takenBy(ctx, p.Shard, in.CallID)
		if err != nil {
			return Result{}, err
		}
		if id != "" {
			o, err := s.store.Get(ctx, id)
			return Result{Order: o, Outcome: OutcomeCreated}, err
		}
	}
	p.Decide = func(history []classifier.PastComplaint) classifier.Decision {
		return s.rules.Classify(classifier.Input{
			Tier: in.Tier, Category: in.Leaf.Category, Subcategory: in.Leaf.Subcategory,
			Caller: in.Caller, ServiceNumber: in.ServiceNumber, EscalationTendency: in.Leaf.EscalationTendency,
			Texts: []string{in.Description}, Now: now, History: history,
		})
	}
	for {
		c, err := s.store.begin(ctx, p)
		if err != nil {
			return Result{}, err
		}
		if c.Taken != "" {
			o, err := s.store.Get(ctx, c.Taken)
			return Result{Order: o, Outcome: OutcomeCreated}, err
		}
		if c.Decision.Urge == "" {
			o, err := s.create(ctx, in, c, now)
			return Result{Order: o, Outcome: OutcomeCreated}, err
		}
		o, err := s.urge(ctx, in, c.Decision, now)
		if !errors.Is(err, ErrNotFound) {
			return Result{Order: o, Outcome: OutcomeUrged}, err
		}
		// The open complaint is a placeholder: another contact of this
		// customer is writing it right now, or died doing so. Drop it when
		// it is older than the grace, else look again shortly.
		if _, err := s.store.dropGhost(ctx, in.ServiceNumber, c.Decision.Urge, now.Add(-s.grace)); err != nil {
			return Result{}, err
		}
		select {
		case <-ctx.Done():
			return Result{}, fmt.Errorf("urge %s: %w", c.Decision.Urge, ctx.Err())
		case <-time.After(ghostPoll):
		}
		now = s.now().In(s.loc)
		p.Now = now
	}
}

// create counts, writes and publishes a new order.
func (s *Service) create(ctx context.Context, in Intake, c contact, now time.Time) (*Order, error) {
	d := c.Decision
	o := &Order{
		ID: c.ID, CallID: in.CallID, CreatedAt: now, Hotline: in.Hotline, Tier: in.Tier,
		Province: in.Province, Caller: in.Caller, ServiceNumber: in.ServiceNumber,
		IVRPath: in.IVRPath, Category: in.Leaf.Category, Subcategory: in.Leaf.Subcategory,
		Status: StatusNew, Deadlines: map[string]time.Time{}, Valid: d.Valid,
		Transfer: in.Leaf.Transfer, Description: in.Description, UpdatedAt: now, History: []Change{},
		Channel: channelOf(in),
	}
	var (
		windows []classifier.Window
		counts  []GroupCount
		hits    []classifier.GroupHit
		raised  []*Incident
	)
	if s.stateful && in.Province != s.unknown && classifier.Countable(o.Category, o.Province, o.Subcategory, d.Valid) {
		windows = s.rules.GroupWindows(o.Tier, o.Province, o.Subcategory, now, s.loc)
		var err error
		if counts, err = s.groups.Count(ctx, o.ID, now, windows); err != nil {
			return nil, err
		}
		for i, gc := range counts {
			if gc.Incident == nil {
				continue
			}
			hits = append(hits, classifier.GroupHit{Window: windows[i], N: gc.N, Members: gc.Incident.Members})
			o.Incidents = append(o.Incidents, gc.Incident.ID)
			if gc.Raised {
				raised = append(raised, gc.Incident)
			}
		}
		d = s.rules.JoinGroups(d, o.ID, hits)
	}
	o.Class, o.Reasons, o.Related, o.Priority = d.Class, d.Reasons, d.Related, d.Priority

	var timers []escalation.Timer
	if in.Leaf.ResolveInIVR {
		o.Status = StatusResolved
	}
	if s.policies != nil {
		plan := s.policies.Plan(s.planInput(o), now)
		o.SLA, o.Deadlines = plan.SLA, plan.Deadlines
		timers = plan.Timers // nothing to cancel or resolve: the order is new
	} else if !in.Leaf.ResolveInIVR {
		stages := s.deadlines[o.Category]
		names := make([]string, 0, len(stages))
		for stage := range stages {
			names = append(names, stage)
		}
		sort.Strings(names)
		for _, stage := range names {
			due := now.Add(stages[stage].D())
			o.Deadlines[stage] = due
			timers = append(timers, s.timer(o, stage, due))
		}
	}
	ev, err := s.event(queue.TypeWorkOrderCreated, o, now)
	if err != nil {
		return nil, err
	}
	events := []queue.Event{ev}
	for _, inc := range raised {
		iev, err := s.incidentEvent(inc, incidentRaised)
		if err != nil {
			return nil, err
		}
		events = append(events, iev)
	}
	if err := s.store.Create(ctx, o, events, timers); err != nil {
		return nil, err
	}
	s.created.WithLabelValues(o.Class, o.Tier).Inc()
	s.log.Info().Str("call_id", in.CallID).Str("work_order", o.ID).Str("class", o.Class).
		Str("tier", o.Tier).Str("province", o.Province).Str("caller", Mask(o.Caller)).
		Str("service_number", Mask(o.ServiceNumber)).Strs("topics", ev.Topics).Msg("work order created")
	for _, inc := range raised {
		s.log.Warn().Str("work_order", o.ID).Str("incident", inc.ID).Str("rule", inc.Rule).
			Int("members", len(inc.Members)).Bool("verified", inc.Verified).Msg("group complaint raised")
	}
	if len(windows) > 0 {
		s.settleCreated(ctx, o, windows, counts)
	}
	return o, nil
}

// settleCreated finishes an order's group membership once it is stored:
// an order counted before its window's incident (by a hair, while the
// incident was being raised) reclassifies itself, one counted into it
// leaves the pending set, and the order that raised it reconciles the
// earlier members. Errors are logged: ReconcileIncidents finishes the job.
func (s *Service) settleCreated(ctx context.Context, o *Order, windows []classifier.Window, counts []GroupCount) {
	var below []classifier.Window
	for i, w := range windows {
		gc := counts[i]
		var err error
		switch {
		case gc.Incident == nil:
			below = append(below, w)
		case gc.Raised:
			if err = s.groups.Settle(ctx, w, Settlement{Settled: []string{o.ID}, Announced: true}); err == nil {
				err = s.reconcile(ctx, w)
			}
		case gc.Pending:
			err = s.groups.Settle(ctx, w, Settlement{Settled: []string{o.ID}})
		}
		if err != nil {
			s.log.Warn().Err(err).Str("work_order", o.ID).Str("incident", w.IncidentID()).Msg("group complaint left to the reconciler")
		}
	}
	if len(below) == 0 {
		return
	}
	pending, err := s.groups.Pending(ctx, o.ID, below)
	if err != nil {
		s.log.Warn().Err(err).Str("work_order", o.ID).Msg("group complaint left to the reconciler")
		return
	}
	for i, w := range below {
		if !pending[i] {
			continue
		}
		// Only itself: the other members are the raising order's job.
		inc, err := s.groups.Incident(ctx, w)
		if err == nil && inc != nil {
			if err = s.joinIncident(ctx, o.ID, inc, w, s.now().In(s.loc)); err == nil || errors.Is(err, errNoChange) {
				err = s.groups.Settle(ctx, w, Settlement{Settled: []string{o.ID}})
			}
		}
		if err != nil {
			s.log.Warn().Err(err).Str("work_order", o.ID).Str("incident", w.IncidentID()).Msg("group complaint left to the reconciler")
		}
	}
}

// urge records a contact about an open complaint on that order: the urge
// count, the priority one step more urgent, the history, and the
// hotline.workorder.urged event; a contact that brings a major-complaint
// reason makes the order major too (hotline.workorder.reclassified). The
// same call urges once (its call id is the change id).
func (s *Service) urge(ctx context.Context, in Intake, d classifier.Decision, now time.Time) (*Order, error) {
	changeID := ""
	if in.CallID != "" {
		changeID = "urge:" + in.CallID
	}
	o, err := s.store.Update(ctx, d.Urge, changeID, func(o *Order) (Mutation, error) {
		o.Urges++
		o.UpdatedAt = now
		note := fmt.Sprintf("contact on %s while %s (urge %d)", in.Hotline, o.Status, o.Urges)
		if in.CallID != "" {
			note += ", call " + in.CallID
		}
		if in.Description != "" {
			note += ": " + in.Description
		}
		o.History = append(o.History, Change{At: now, Actor: "caller", Action: "urge", Note: note})
		o.Reasons = append(o.Reasons, classifier.Reason{Rule: classifier.RuleOpenComplaintUrged,
			Detail: fmt.Sprintf("urge %d: the customer contacted %s again while the order is %s", o.Urges, in.Hotline, o.Status)})
		types := []string{queue.TypeWorkOrderUrged}
		if len(d.Major) > 0 && o.Class != classifier.ClassMajorComplaint && o.Class != classifier.ClassGroupComplaint {
			from := o.Class
			o.Class = classifier.ClassMajorComplaint
			o.Reasons = append(o.Reasons, d.Major...)
			o.History = append(o.History, Change{At: now, Actor: "classifier", Action: "class", From: from,
				To: o.Class, Note: "the urging contact gives a major-complaint reason: " + d.Major[0].Rule})
			types = append(types, queue.TypeWorkOrderReclassified)
		}
		fromPriority := o.Priority
		o.Priority = s.rules.Priority(o.Class, o.Urges)
		var m Mutation
		if len(types) > 1 || o.Priority != fromPriority {
			m.Plan = s.replan(o, now) // timers carry class and priority
		}
		for _, typ := range types {
			ev, err := s.event(typ, o, now)
			if err != nil {
				return Mutation{}, err
			}
			m.Events = append(m.Events, ev)
		}
		return m, nil
	})
	if errors.Is(err, ErrDuplicate) {
		return o, nil // this call's urge was applied before: a retry
	}
	if err != nil {
		return nil, err
	}
	s.log.Info().Str("call_id", in.CallID).Str("work_order", o.ID).Int("urges", o.Urges).
		Int("priority", o.Priority).Str("class", o.Class).Msg("open complaint urged")
	return o, nil
}

// Errors of reclassification.
var (
	ErrUnknownClass   = errors.New("unknown class")
	ErrSameClass      = errors.New("the order has that class already")
	ErrReasonRequired = errors.New("an actor and a reason are required")
	errNoChange       = errors.New("nothing to change")
)

// Reclassify sets an order's class by a supervisor's or an agent's
// decision: the priority of the new class (less the order's urges), a
// reason naming who and why, a "class" change in the history, and the
// hotline.workorder.reclassified event, in one transaction. Errors:
// ErrUnknownClass, ErrReasonRequired, ErrSameClass, ErrNotFound.
func (s *Service) Reclassify(ctx context.Context, id, class, actor, reason string) (*Order, error) {
	if !slices.Contains(classifier.Classes, class) {
		return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownClass, class, strings.Join(classifier.Classes, ", "))
	}
	actor, reason = strings.TrimSpace(actor), strings.TrimSpace(reason)
	if actor == "" || reason == "" {
		return nil, ErrReasonRequired
	}
	now := s.now().In(s.loc)
	o, err := s.store.Update(ctx, id, "", func(o *Order) (Mutation, error) {
		if o.Class == class {
			return Mutation{}, fmt.Errorf("%w: %s", ErrSameClass, class)
		}
		from := o.Class
		o.Class, o.Priority, o.UpdatedAt = class, s.rules.Priority(class, o.Urges), now
		o.Reasons = append(o.Reasons, classifier.Reason{Rule: classifier.RuleReclassified,
			Detail: fmt.Sprintf("%s -> %s by %s: %s", from, class, actor, reason)})
		o.History = append(o.History, Change{At: now, Actor: actor, Action: "class", From: from, To: class, Note: reason})
		plan := s.replan(o, now)
		ev, err := s.event(queue.TypeWorkOrderReclassified, o, now)
		if err != nil {
			return Mutation{}, err
		}
		return Mutation{Events: []queue.Event{ev}, Plan: plan}, nil
	})
	if err != nil {
		return o, err
	}
	s.log.Info().Str("work_order", o.ID).Str("class", o.Class).Str("actor", actor).Msg("work order reclassified")
	return o, nil
}

// ChangeStatus moves an order along the status graph, records who and why
// in its history, emits hotline.workorder.status_changed, and cancels or
// reschedules its timers, all in one transaction, which also keeps the
// order's entry in its service number's complaint index (an archived
// complaint opens the repeat window). A note with a major-complaint keyword
// on a complaint makes it major (hotline.workorder.reclassified, same
// transaction).
func (s *Service) ChangeStatus(ctx context.Context, c StatusChange) (*Order, error) {
	now := s.now().In(s.loc)
	o, err := s.store.Update(ctx, c.WorkOrderID, c.ChangeID, func(o *Order) (Mutation, error) {
		if err := checkTransition(o.Status, c.Status); err != nil {
			return Mutation{}, err
		}
		var m Mutation
		from := o.Status
		o.Status, o.UpdatedAt = c.Status, now
		o.History = append(o.History, Change{At: now, Actor: c.Actor, Action: "status", From: from, To: c.Status, Note: c.Note})
		if s.policies != nil {
			plan := s.policies.Transition(s.planInput(o), now)
			o.SLA, o.Deadlines = plan.SLA, plan.Deadlines
			m.Plan = &plan
		} else {
			s.moveFixedTimers(o, c.Status, now, &m)
		}
		types := []string{queue.TypeWorkOrderStatusChanged}
		if major := s.rules.KeywordReasons(c.Note); len(major) > 0 &&
			slices.Contains([]string{classifier.ClassComplaint, classifier.ClassRepeatComplaint}, o.Class) {
			fromClass := o.Class
			o.Class, o.Priority = classifier.ClassMajorComplaint, s.rules.Priority(classifier.ClassMajorComplaint, o.Urges)
			o.Reasons = append(o.Reasons, major...)
			o.History = append(o.History, Change{At: now, Actor: "classifier", Action: "class", From: fromClass,
				To: o.Class, Note: "the note of " + c.Actor + " gives a major-complaint reason: " + major[0].Rule})
			types = append(types, queue.TypeWorkOrderReclassified)
			if m.Plan != nil {
				m.Plan = mergePlans(*m.Plan, s.replan(o, now))
			}
		}
		for _, typ := range types {
			ev, err := s.event(typ, o, now)
			if err != nil {
				return Mutation{}, err
			}
			m.Events = append(m.Events, ev)
		}
		return m, nil
	})
	if err != nil {
		return o, err
	}
	s.log.Info().Str("work_order", o.ID).Str("status", o.Status).Str("actor", c.Actor).Msg("status changed")
	return o, nil
}

// moveFixedTimers is a status change's timer changes without policies:
// the fixed deadlines of the config.
func (s *Service) moveFixedTimers(o *Order, status string, now time.Time, m *Mutation) {
	switch status {
	case StatusAccepted:
		if _, ok := o.Deadlines["register"]; ok {
			m.CancelTimers = append(m.CancelTimers, escalation.TimerID(o.ID, "register"))
		}
	case StatusResolved, StatusArchived:
		for stage := range o.Deadlines {
			m.CancelTimers = append(m.CancelTimers, escalation.TimerID(o.ID, stage))
		}
	case StatusReopened:
		if d, ok := s.deadlines[o.Category]["resolve"]; ok {
			due := now.Add(d.D())
			if o.Deadlines == nil {
				o.Deadlines = map[string]time.Time{}
			}
			o.Deadlines["resolve"] = due
			m.AddTimers = append(m.AddTimers, s.timer(o, "resolve", due))
		}
	}
}

// planInput is what the planner needs of o: its state after the change
// being planned, with the stage clocks and deadlines from before it.
func (s *Service) planInput(o *Order) escalation.PlanInput {
	return escalation.PlanInput{
		WorkOrderID: o.ID, Key: o.Key(), Class: o.Class, Tier: o.Tier, Province: o.Province,
		Priority: o.Priority, Status: o.Status, SLA: o.SLA, Deadlines: o.Deadlines,
		CreatedAt: o.CreatedAt, Path: statusPath(o),
	}
}

// statusPath is the statuses o went through since creation, oldest first,
// up to and including its status; the first status, new, is left out
// (nothing starts or ends on it: the stages of creation start on created).
func statusPath(o *Order) []string {
	var path []string
	first := true
	for _, c := range o.History {
		if c.Action != "status" {
			continue
		}
		if first && c.From != "" && c.From != StatusNew {
			path = append(path, c.From) // created in another status (resolved in the IVR)
		}
		first = false
		path = append(path, c.To)
	}
	if first && o.Status != StatusNew {
		path = append(path, o.Status)
	}
	return path
}

// replan re-plans o after a change of its class or priority (Reclassify:
// kept stages keep their clocks, their timers are rewritten with the new
// class and priority) and stores the outcome on o. Nil without policies.
func (s *Service) replan(o *Order, now time.Time) *escalation.Plan {
	if s.policies == nil {
		return nil
	}
	plan := s.policies.Reclassify(s.planInput(o), now)
	o.SLA, o.Deadlines = plan.SLA, plan.Deadlines
	return &plan
}

// mergePlans is plan a followed by plan b, b planned from a's outcome, as
// one plan for one Store.Apply (which cancels, then resolves, then adds):
// b's SLA and deadlines, both plans' cancellations and ended stages, and
// a's timers that b neither rewrote nor stopped.
func mergePlans(a escalation.Plan, b *escalation.Plan) *escalation.Plan {
	out := *b
	out.Cancel = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a.Cancel), b.Cancel...))))
	out.Ended = slices.Clone(a.Ended)
	for _, name := range b.Ended {
		if !slices.Contains(out.Ended, name) {
			out.Ended = append(out.Ended, name)
		}
	}
	out.ResolveAll = a.ResolveAll || b.ResolveAll
	out.Timers = nil
	for _, t := range a.Timers {
		st := b.SLA[t.Stage]
		if !st.Running() || st.Paused() || slices.ContainsFunc(b.Timers, func(u escalation.Timer) bool { return u.ID == t.ID }) {
			continue
		}
		out.Timers = append(out.Timers, t)
	}
	out.Timers = append(out.Timers, b.Timers...)
	return &out
}

func (s *Service) timer(o *Order, stage string, due time.Time) escalation.Timer {
	return escalation.Timer{
		ID: escalation.TimerID(o.ID, stage), WorkOrderID: o.ID, Stage: stage, Due: due,
		Key: o.Key(), Class: o.Class, Tier: o.Tier, Province: o.Province, Priority: o.Priority,
	}
}

func (s *Service) event(typ string, o *Order, now time.Time) (queue.Event, error) {
	data, err := json.Marshal(o)
	if err != nil {
		return queue.Event{}, fmt.Errorf("encode work order: %w", err)
	}
	topics := s.router.Topics(queue.Attrs{Tier: o.Tier, Class: o.Class, Category: o.Category,
		Subcategory: o.Subcategory, Province: o.Province})
	if len(topics) == 0 {
		return queue.Event{}, fmt.Errorf("work order %s: no kafka route matches tier %s class %s", o.ID, o.Tier, o.Class)
	}
	return queue.Event{
		ID: uuid.NewString(), Type: typ, Source: s.source, Subject: o.ID, Time: now,
		Key: o.Key(), Topics: topics, Data: data,
	}, nil
}

// ApplyUpdate applies a downstream system's status update (queue.Applier):
// what can never apply comes back as a *queue.RejectError for the
// dead-letter topic; anything else is passing and retried.
func (s *Service) ApplyUpdate(ctx context.Context, u queue.Update) error {
	if !ValidID(u.WorkOrderID) {
		return queue.Reject(queue.RejectUnknownOrder, "%q is not a work order id", u.WorkOrderID)
	}
	_, err := s.ChangeStatus(ctx, StatusChange{WorkOrderID: u.WorkOrderID, Status: u.Status,
		Actor: u.Actor, Note: u.Note, ChangeID: u.EventID})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return queue.Reject(queue.RejectUnknownOrder, "no work order %q", u.WorkOrderID)
	case errors.Is(err, ErrIllegalTransition), errors.Is(err, ErrUnknownStatus):
		return queue.Reject(queue.RejectIllegalTransition, "%v", err)
	case errors.Is(err, ErrDuplicate):
		return fmt.Errorf("ce_id %q: %w", u.EventID, queue.ErrAlreadyApplied)
	}
	return err
}

var _ queue.Applier = (*Service)(nil)

// channelOf is the intake's channel; a call has none set and is "hotline".
func channelOf(in Intake) string {
	if in.Channel == "" {
		return "hotline"
	}
	return in.Channel
}

// Filter narrows a listing; empty fields match anything.
type Filter struct {
	Status, Class, Province string
}

// List returns orders that pass f, newest first: a customer's (number set)
// or, without a number, those in f.Status across all shards.
func (s *Service) List(ctx context.Context, number string, f Filter) ([]*Order, error) {
	keep := func(o *Order) bool {
		return (f.Status == "" || o.Status == f.Status) && (f.Class == "" || o.Class == f.Class) &&
			(f.Province == "" || o.Province == f.Province)
	}
	if number == "" {
		if f.Status == "" {
			return nil, ErrListNeedsKey
		}
		return s.store.ListByStatus(ctx, f.Status, MaxList, keep)
	}
	all, err := s.store.ListByCustomer(ctx, number, MaxList)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, o := range all {
		if keep(o) {
			out = append(out, o)
		}
	}
	return out, nil
}

// ErrListNeedsKey: a listing needs a service number or a status.
var ErrListNeedsKey = errors.New("a service number or a status is required")
