package workorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/queue"
)

// Intake is what a finished call brings to the work order.
type Intake struct {
	CallID        string
	Hotline       string
	Tier          string
	Province      string
	Caller        string
	ServiceNumber string
	IVRPath       string
	Leaf          configs.Leaf
}

// Service classifies, stores and publishes new work orders.
type Service struct {
	store     *Store
	router    *queue.Router
	deadlines map[string]map[string]configs.Duration
	loc       *time.Location
	source    string
	now       func() time.Time
	log       zerolog.Logger
	created   *prometheus.CounterVec
	// repeatWindow is how long an archived complaint makes the next one a repeat.
	repeatWindow time.Duration
}

// ServiceParams configures a Service.
type ServiceParams struct {
	Store      *Store
	Router     *queue.Router
	Config     *configs.Config
	Now        func() time.Time
	Logger     zerolog.Logger
	Registerer prometheus.Registerer
}

// NewService builds a Service.
func NewService(p ServiceParams) *Service {
	if p.Now == nil {
		p.Now = time.Now
	}
	created := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotlined_workorders_created_total",
		Help: "Work orders created, by class and tier.",
	}, []string{"class", "tier"})
	p.Registerer.MustRegister(created)
	return &Service{
		store: p.Store, router: p.Router, deadlines: p.Config.Escalation.Deadlines,
		loc: p.Config.Location, source: p.Config.Kafka.Source, now: p.Now,
		log: p.Logger.With().Str("component", "workorder").Logger(), created: created,
		repeatWindow: p.Config.Classifier.RepeatWindow.D(),
	}
}

// Get reads an order.
func (s *Service) Get(ctx context.Context, id string) (*Order, error) { return s.store.Get(ctx, id) }

// Create classifies the intake and stores the order with its created event
// and deadline timers, all in one transaction.
func (s *Service) Create(ctx context.Context, in Intake) (*Order, error) {
	now := s.now().In(s.loc)
	d := classifier.Classify(classifier.Input{
		Tier: in.Tier, Category: in.Leaf.Category, Subcategory: in.Leaf.Subcategory,
		Caller: in.Caller, ServiceNumber: in.ServiceNumber,
		EscalationTendency: in.Leaf.EscalationTendency,
	})
	key := in.ServiceNumber
	if key == "" {
		key = in.Caller
	}
	id, err := s.store.NextID(ctx, now, in.Province, s.store.ShardOf(key))
	if err != nil {
		return nil, err
	}
	o := &Order{
		ID: id, CallID: in.CallID, CreatedAt: now, Hotline: in.Hotline, Tier: in.Tier,
		Province: in.Province, Caller: in.Caller, ServiceNumber: in.ServiceNumber,
		IVRPath: in.IVRPath, Category: in.Leaf.Category, Subcategory: in.Leaf.Subcategory,
		Class: d.Class, Reasons: d.Reasons, Related: []string{}, Priority: d.Priority,
		Status: StatusNew, Deadlines: map[string]time.Time{}, Valid: d.Valid,
		Transfer: in.Leaf.Transfer, UpdatedAt: now, History: []Change{},
	}
	var timers []escalation.Timer
	if in.Leaf.ResolveInIVR {
		o.Status = StatusResolved
	} else {
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
	if err := s.store.Create(ctx, o, []queue.Event{ev}, timers); err != nil {
		return nil, err
	}
	s.created.WithLabelValues(o.Class, o.Tier).Inc()
	s.log.Info().Str("call_id", in.CallID).Str("work_order", o.ID).Str("class", o.Class).
		Str("tier", o.Tier).Str("province", o.Province).Str("caller", Mask(o.Caller)).
		Str("service_number", Mask(o.ServiceNumber)).Strs("topics", ev.Topics).Msg("work order created")
	return o, nil
}

// complaintClasses start a repeat window when archived.
var complaintClasses = []string{"complaint", "repeat_complaint", "major_complaint", "group_complaint"}

// ChangeStatus moves an order along the status graph, records who and why
// in its history, emits hotline.workorder.status_changed, and cancels or
// reschedules its timers, all in one transaction. An archived complaint
// opens its service number's repeat window.
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
		switch c.Status {
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
				o.Deadlines["resolve"] = due
				m.AddTimers = append(m.AddTimers, s.timer(o, "resolve", due))
			}
		}
		ev, err := s.event(queue.TypeWorkOrderStatusChanged, o, now)
		if err != nil {
			return Mutation{}, err
		}
		m.Events = append(m.Events, ev)
		return m, nil
	})
	if err != nil && !errors.Is(err, ErrDuplicate) {
		return o, err
	}
	// Also on a duplicate: a crash between the change and this write must
	// not lose the window, and setting it again is harmless.
	if o != nil && o.Status == StatusArchived && o.ServiceNumber != "" && slices.Contains(complaintClasses, o.Class) {
		if werr := s.store.RememberArchivedComplaint(ctx, o.ServiceNumber, o.ID, s.repeatWindow); werr != nil {
			return o, errors.Join(err, werr)
		}
	}
	if err == nil {
		s.log.Info().Str("work_order", o.ID).Str("status", o.Status).Str("actor", c.Actor).Msg("status changed")
	}
	return o, err
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
		return queue.Reject(queue.RejectDuplicate, "ce_id %q was applied before", u.EventID)
	}
	return err
}

var _ queue.Applier = (*Service)(nil)
