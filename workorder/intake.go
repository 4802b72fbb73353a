package workorder

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/internal/rbatch"
	"github.com/hotlined/hotlined/queue"
)

// Intake is what a finished call (or another channel) brings to the work
// order.
type Intake struct {
	CallID  string
	Hotline string
	Tier    string
	// Province is the province the channel gives: the hotline's own (the
	// province tier) or X-Province. Empty: the province of the company
	// complained about is derived (DESIGN "Province"): the service
	// number's home province, else the caller's; unknown flags the order
	// province_unknown.
	Province      string
	Caller        string // national form (internal/phone), "" when withheld
	ServiceNumber string // national form, "" when none was given
	IVRPath       string
	Leaf          configs.Leaf
	// ProblemCode overrides the leaf's default problem code (the API's
	// intake); "" keeps the leaf's, and without one that of the first menu
	// leaf of the category and subcategory (configs.DefaultProblemCode).
	ProblemCode string
	// Description is free text in the customer's words (from the channel);
	// the keywords are searched in it.
	Description string
	// ReceivedAt is when the operator received the contact, when that was
	// before now (a letter, an order entered later); zero means now.
	ReceivedAt time.Time
	// Appeal is the appeal centre's transfer (channel regulator_transfer,
	// tier appeal); its deadline drives the resolve stage.
	Appeal *Appeal
	// UnsatisfiedReason says why the customer is unhappy with the result
	// of their resolved order; required from other channels when the
	// contact is classified unsatisfied_with_result
	// (ErrUnsatisfiedReasonRequired), optional on a call.
	UnsatisfiedReason string
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
//  1. On the customer's shard, one script reads the call's earlier answer
//     (a retried call gets the same order), the service number's complaint
//     history and the customer's record of escalations and draws an id;
//     the contact is classified on them (classifier Rules.Classify); a
//     complaint's new id is then reserved in one guarded batch (decided
//     again when what was read changed).
//  2. A complaint about the problem of an earlier one still being handled,
//     on the same or a lower tier, urges that one: urge count, priority,
//     hotline.workorder.urged; no new order. On a higher tier it is a new
//     order related to it, and that one is flagged escalated
//     (hotline.workorder.escalated).
//  3. A valid complaint is counted in its group-complaint windows (one
//     atomic script per window); at a threshold it raises a suspected
//     incident (an alert at once, members flagged suspected_group), and it
//     joins an open incident in its state (a confirmed one makes it a
//     group complaint).
//  4. The order, its events (created, and the incident's when raised) and
//     its timers are written in one guarded batch (internal/rbatch).
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
	if in.ProblemCode == "" {
		in.ProblemCode = in.Leaf.ProblemCode
	}
	if in.ProblemCode == "" {
		in.ProblemCode = s.defaultProblemCode(in.Leaf.Category, in.Leaf.Subcategory)
	}
	if in.Province == "" {
		in.Province = s.provinceOfCompany(in)
	}
	complaint := in.Leaf.Category == configs.ClassComplaint
	p := beginParams{Shard: s.store.ShardOf(key), CallID: in.CallID, Subcategory: in.Leaf.Subcategory,
		Tier: in.Tier, ProblemCode: in.ProblemCode, Customer: key, Now: now, Province: in.Province}
	if complaint {
		p.ServiceNumber = in.ServiceNumber
		p.Reserve = in.CallID != ""
	}
	// Other contacts reserve nothing: nothing is counted under the id
	// before the order exists, so the order alone records the call, and
	// its write is guarded by what the decision read.
	p.Decide = func(history, escalations []classifier.PastComplaint) classifier.Decision {
		return s.rules.Classify(classifier.Input{
			Tier: in.Tier, Category: in.Leaf.Category, Subcategory: in.Leaf.Subcategory, ProblemCode: in.ProblemCode,
			Caller: in.Caller, ServiceNumber: in.ServiceNumber,
			EscalationTendency: in.Leaf.EscalationTendency, PublicOpinionRisk: in.Leaf.PublicOpinionRisk,
			Texts: []string{in.Description}, Now: now, History: history, Escalations: escalations,
		})
	}
	attempts := 0
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
			if complaint {
				// A complaint counts its group windows before its write:
				// one decided again after a failed guard could count in
				// other windows (a new now) or turn into an urge, leaving
				// its first count behind. One that reserved its id is
				// protected by the reservation; one with nothing to
				// reserve under (no service number, no call id) is written
				// unguarded, as before the guards.
				c.guards = nil
			}
			o, err := s.create(ctx, in, c, now)
			if rbatch.IsConflict(err) && attempts < 10 {
				s.store.conflict(conflictCreate)
				// The customer's state changed between the read and the
				// write (another contact of theirs): decide again, with
				// the same id.
				attempts++
				now = s.now().In(s.loc)
				p.Now, p.ID = now, c.ID
				continue
			}
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

// provinceOfCompany is the province of the company complained about when
// the channel gives none (DESIGN "Province"): the service number's home
// province by the prefix tables, else the caller's, else unknown.
func (s *Service) provinceOfCompany(in Intake) string {
	for _, n := range []string{in.ServiceNumber, in.Caller} {
		if n == "" {
			continue
		}
		if p := s.provinceOf(n); p != s.unknown {
			return p
		}
	}
	return s.unknown
}

// ErrUnsatisfiedReasonRequired: an order from another channel about a
// result the customer is unhappy with needs the reason.
var ErrUnsatisfiedReasonRequired = errors.New("unsatisfied_reason is required: the customer's previous order is resolved and they are not satisfied with the result")

// create counts, writes and publishes a new order.
func (s *Service) create(ctx context.Context, in Intake, c contact, now time.Time) (*Order, error) {
	d := c.Decision
	if channelOf(in) != "hotline" && strings.TrimSpace(in.UnsatisfiedReason) == "" &&
		slices.ContainsFunc(d.Reasons, func(r classifier.Reason) bool { return r.Rule == classifier.RuleUnsatisfied }) {
		// Refused: take back the placeholder begin left in the customer's
		// index, or the next contact would wait for this order.
		if _, err := s.store.dropGhost(ctx, in.ServiceNumber, c.ID, now.Add(time.Hour)); err != nil {
			return nil, err
		}
		return nil, ErrUnsatisfiedReasonRequired
	}
	o := &Order{
		ID: c.ID, CallID: in.CallID, CreatedAt: now, Hotline: in.Hotline, Tier: in.Tier,
		Province: in.Province, Caller: in.Caller, ServiceNumber: in.ServiceNumber,
		IVRPath: in.IVRPath, Category: in.Leaf.Category, Subcategory: in.Leaf.Subcategory, ProblemCode: in.ProblemCode,
		Status: configs.StatusNew, Deadlines: map[string]time.Time{}, Valid: d.Valid, Flags: []string{}, Exposure: d.Exposure,
		Transfer: in.Leaf.Transfer, Description: in.Description, UpdatedAt: now, History: []Change{},
		Channel: channelOf(in), ReceivedAt: now, Appeal: in.Appeal, UnsatisfiedReason: strings.TrimSpace(in.UnsatisfiedReason),
	}
	if !in.ReceivedAt.IsZero() && in.ReceivedAt.Before(now) {
		o.ReceivedAt = in.ReceivedAt.In(s.loc)
	}
	var (
		windows []classifier.Window
		counts  []GroupCount
		hits    []classifier.GroupHit
		raised  []*Incident
	)
	for _, f := range d.Flags {
		o.SetFlag(f)
	}
	if o.Province == s.unknown {
		o.SetFlag(configs.FlagProvinceUnknown)
	}
	if o.Province != s.unknown && classifier.Countable(o.Category, o.Province, o.ProblemCode, d.Valid) {
		windows = s.rules.GroupWindows(o.Tier, o.Province, o.ProblemCode, o.Subcategory, now, s.loc)
		var err error
		if counts, err = s.groups.Count(ctx, o.ID, now, windows); err != nil {
			return nil, err
		}
		for i, gc := range counts {
			if gc.Incident == nil {
				continue
			}
			hits = append(hits, classifier.GroupHit{Window: windows[i], ID: gc.Incident.ID, State: gc.Incident.State,
				N: gc.N, Members: gc.Incident.Members})
			if gc.Raised {
				raised = append(raised, gc.Incident)
			}
		}
		d = s.rules.JoinGroups(d, o.ID, hits)
		for _, h := range hits {
			joinIncident(o, h)
		}
	}
	o.Class, o.Reasons, o.Related, o.Priority = d.Class, d.Reasons, d.Related, d.Priority
	for _, f := range d.Flags {
		o.SetFlag(f)
	}

	var timers []escalation.Timer
	if in.Leaf.ResolveInIVR {
		o.Status = configs.StatusResolved
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
	timers = append(timers, s.attentionTimers(o, now)...)
	if slices.ContainsFunc(raised, func(inc *Incident) bool { return inc.Rule != classifier.RuleBatch }) {
		// The suspected incident alerts supervisors at once, on the order
		// that raised it.
		t := s.timer(o, StageGroupSuspected, now)
		t.Severity = escalation.SeverityGroup
		timers = append(timers, t)
	}
	evs, err := s.events(queue.TypeWorkOrderCreated, o, now)
	if err != nil {
		return nil, err
	}
	events := evs
	for _, inc := range raised {
		iev, err := s.incidentEvent(inc, raisedState(inc))
		if err != nil {
			return nil, err
		}
		events = append(events, iev)
	}
	if err := s.store.create(ctx, o, events, timers, c.guards); err != nil {
		return nil, err
	}
	s.counts(ctx, o, now, creationCounts(o, 1))
	if o.Class == configs.ClassRepeatComplaint && o.Valid {
		s.takeBackFCR(ctx, o)
	}
	s.created.WithLabelValues(o.Class, o.Tier).Inc()
	s.log.Info().Str("call_id", in.CallID).Str("work_order", o.ID).Str("class", o.Class).
		Str("tier", o.Tier).Str("province", o.Province).Str("caller", Mask(o.Caller)).
		Str("service_number", Mask(o.ServiceNumber)).Strs("topics", topicsOf(evs)).Msg("work order created")
	for _, inc := range raised {
		s.log.Warn().Str("work_order", o.ID).Str("incident", inc.ID).Str("rule", inc.Rule).
			Int("members", len(inc.Members)).Str("state", inc.State).Msg("group complaint raised")
	}
	if len(windows) > 0 {
		s.settleCreated(ctx, o, windows, counts)
	}
	if d.Escalates != "" {
		if err := s.markEscalated(ctx, d.Escalates, o, now); err != nil {
			// The new order holds the relation and the reason; only the
			// flag on the open one is missing. Logged for the on-call.
			s.log.Error().Err(err).Str("work_order", d.Escalates).Str("escalated_to", o.ID).Msg("flag escalated order")
		}
	}
	return o, nil
}

// markEscalated flags the open order id escalated by the new order to (a
// contact on a higher tier about its problem): the flag, the relation, a
// history entry and hotline.workorder.escalated, once per new order.
func (s *Service) markEscalated(ctx context.Context, id string, to *Order, now time.Time) error {
	_, err := s.store.Update(ctx, id, "escalated:"+to.ID, func(o *Order) (Mutation, error) {
		o.SetFlag(configs.FlagEscalated)
		o.Related = appendNew(o.Related, to.ID)
		o.UpdatedAt = now
		o.History = append(o.History, Change{At: now, Actor: "classifier", Action: "escalated", To: to.Tier}.
			with(escalatedNote(to.Tier, to.Hotline, to.ID)))
		evs, err := s.events(queue.TypeWorkOrderEscalated, o, now)
		if err != nil {
			return Mutation{}, err
		}
		return Mutation{Events: evs}, nil
	})
	if errors.Is(err, ErrDuplicate) {
		return nil
	}
	return err
}

func appendNew(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// settleCreated finishes an order's group membership once it is stored:
// the order that raised an incident applies it to the earlier members
// (reconcile); one counted into an incident leaves its pending set; one
// counted just before another raised an incident (by a hair) applies that
// incident to itself. Errors are logged: ReconcileIncidents finishes the
// job.
func (s *Service) settleCreated(ctx context.Context, o *Order, windows []classifier.Window, counts []GroupCount) {
	var below []classifier.Window
	for i, w := range windows {
		gc := counts[i]
		var err error
		if gc.Incident != nil {
			w.Period = gc.Incident.Period
		}
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
		// Only itself: the other members are the raising order's job. The
		// count again names the incident (it is a member: no new count).
		gc, err := s.groups.Count(ctx, o.ID, s.now().In(s.loc), []classifier.Window{w})
		if err == nil && len(gc) == 1 && gc[0].Incident != nil {
			w.Period = gc[0].Incident.Period
			var inc *Incident
			if inc, err = s.groups.Incident(ctx, w); err == nil && inc != nil {
				if err = s.applyIncident(ctx, o.ID, inc, w, s.now().In(s.loc)); err == nil || errors.Is(err, errNoChange) {
					err = s.groups.Settle(ctx, w, Settlement{Settled: []string{o.ID}})
				}
			}
		}
		if err != nil {
			s.log.Warn().Err(err).Str("work_order", o.ID).Str("incident", w.IncidentID()).Msg("group complaint left to the reconciler")
		}
	}
}

// urge records a contact about an open complaint on that order: the urge
// count, the priority one step more urgent, the history, and the
// hotline.workorder.urged event; a contact that brings a public-opinion
// reason makes the order major too (hotline.workorder.reclassified), one
// with an escalation-risk reason flags it. The same call urges once (its
// call id is the change id).
func (s *Service) urge(ctx context.Context, in Intake, d classifier.Decision, now time.Time) (*Order, error) {
	changeID := ""
	if in.CallID != "" {
		changeID = "urge:" + in.CallID
	}
	o, err := s.store.Update(ctx, d.Urge, changeID, func(o *Order) (Mutation, error) {
		o.Urges++
		o.UpdatedAt = now
		o.History = keepLatestUrges(append(o.History, Change{At: now, Actor: "caller", Action: "urge"}.
			with(urgeNote(in.Hotline, channelOf(in), o.Status, o.Urges, in.CallID, in.Description))), MaxUrgeHistory)
		// One urge reason, the latest: the count is in Urges.
		o.Reasons = slices.DeleteFunc(o.Reasons, func(r classifier.Reason) bool { return r.Rule == classifier.RuleOpenComplaintUrged })
		o.Reasons = append(o.Reasons, classifier.Reason{Rule: classifier.RuleOpenComplaintUrged,
			Detail: fmt.Sprintf("urge %d: the customer contacted %s again while the order is %s", o.Urges, in.Hotline, o.Status)})
		types := []string{queue.TypeWorkOrderUrged}
		if s.raiseRisks(o, d.Major, d.Exposure, d.Risk, riskFromUrge, now) {
			types = append(types, queue.TypeWorkOrderReclassified)
		}
		fromPriority := o.Priority
		o.Priority = s.priority(o)
		var m Mutation
		if len(types) > 1 || o.Priority != fromPriority {
			m.Plan = s.replan(o, now) // timers carry class and priority
		}
		if d.Risk != nil {
			m.AddTimers = append(m.AddTimers, s.attentionTimers(o, now)...)
		}
		for _, typ := range types {
			evs, err := s.events(typ, o, now)
			if err != nil {
				return Mutation{}, err
			}
			m.Events = append(m.Events, evs...)
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

// MaxUrgeHistory is how many urge entries an order's history keeps: the
// latest ones. A customer who calls hundreds of times about one open
// complaint would otherwise grow the order by ~400 bytes a call, and every
// urge reads, writes and publishes the whole order. The total stays in
// Order.Urges, each urge's own hotline.workorder.urged event carries its
// note, and only the latest open_complaint_urged reason is kept.
const MaxUrgeHistory = 20

// keepLatestUrges drops the oldest urge entries of history beyond max,
// keeping every other entry and the order of what is left.
func keepLatestUrges(history []Change, max int) []Change {
	n := 0
	for _, c := range history {
		if c.Action == "urge" {
			n++
		}
	}
	if n <= max {
		return history
	}
	drop := n - max
	return slices.DeleteFunc(history, func(c Change) bool {
		if c.Action == "urge" && drop > 0 {
			drop--
			return true
		}
		return false
	})
}

// channelOf is the intake's channel; a call has none set and is "hotline".
func channelOf(in Intake) string {
	if in.Channel == "" {
		return "hotline"
	}
	return in.Channel
}
