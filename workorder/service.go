package workorder

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/queue"
)

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
	eventID   func() string
	log       zerolog.Logger
	created   *prometheus.CounterVec
	purged    prometheus.Counter
	rules     *classifier.Rules
	groups    GroupCounter
	unknown   string // the province code of an unknown province: not counted
	grace     time.Duration
	// provinceOf is the province of a number by the prefix tables
	// (configs.Config.ProvinceOf): unknown when none matches.
	provinceOf func(number string) string
	// defaultProblemCode is configs.Config.DefaultProblemCode.
	defaultProblemCode func(category, subcategory string) string
	// problemCodes is the code table; nil accepts any well-formed code.
	problemCodes *configs.ProblemCodes
}

// ServiceParams configures a Service.
type ServiceParams struct {
	Store  *Store
	Router *queue.Router
	Config *configs.Config
	// Rules are the classification rules (classifier.LoadRules of
	// Config.Classifier.RulesFile); nil means classifier.DefaultRules().
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
	// EventID makes the ce_id of each event the service writes itself (the
	// work-order events; incidents and alerts name theirs after what they
	// are). Nil: a random UUID. hotlined replay gives a counter, so that a
	// timeline replayed twice gives the same ids.
	EventID func() string
}

// NewService builds a Service.
func NewService(p ServiceParams) *Service {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.EventID == nil {
		p.EventID = uuid.NewString
	}
	if p.Grace <= 0 {
		p.Grace = 30 * time.Second
	}
	created := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotlined_workorders_created_total",
		Help: "Work orders created, by class and tier.",
	}, []string{"class", "tier"})
	p.Registerer.MustRegister(created)
	rules := p.Rules
	if rules == nil {
		rules = classifier.DefaultRules()
	}
	// A day more than the windows in calendar days: the last day of a
	// window ends up to a day after the same number of 24-hour periods.
	p.Store.keep = max(time.Duration(rules.RepeatComplaint.WindowDays+1)*24*time.Hour, rules.UnsatisfiedWithResult.Window.D())
	p.Store.keepEscalations = time.Duration(rules.EscalationRecord.WindowDays+1) * 24 * time.Hour
	p.Store.archiveAfter = p.Config.Escalation.AutoArchiveAfter.D()
	p.Store.retain = p.Config.Retention.AfterArchive.D()
	purged := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hotlined_workorders_purged_total",
		Help: "Archived work orders purged after their retention (retention.after_archive).",
	})
	p.Registerer.MustRegister(purged)
	p.Store.conflicts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotlined_workorder_write_conflicts_total",
		Help: "Guarded writes that found what they were decided on changed and were decided again, by step " +
			"(reserve, create: the customer's state; update: the order, changed by another daemon or since this one's remembered copy).",
	}, []string{"step"})
	p.Registerer.MustRegister(p.Store.conflicts)
	for _, step := range []string{conflictReserve, conflictCreate, conflictUpdate} {
		p.Store.conflicts.WithLabelValues(step) // the series exist from the start, at 0
	}
	if p.Groups == nil {
		p.Groups = NewRedisGroups(p.Store.rdb, p.Store.prefix, rules.GroupComplaint.KeepAfterPeriod.D())
	}
	if p.Tracer == nil {
		p.Tracer = noop.NewTracerProvider().Tracer("")
	}
	return &Service{
		tracer: p.Tracer,
		store:  p.Store, router: p.Router, deadlines: p.Config.Escalation.Deadlines, policies: p.Policies,
		loc: p.Config.Location, source: p.Config.Kafka.Source, now: p.Now, eventID: p.EventID,
		log: p.Logger.With().Str("component", "workorder").Logger(), created: created, purged: purged,
		rules: rules, groups: p.Groups, unknown: p.Config.Provinces.Unknown, grace: p.Grace,
		provinceOf: p.Config.ProvinceOf, defaultProblemCode: p.Config.DefaultProblemCode, problemCodes: p.Config.ProblemCodes,
	}
}

// Get reads an order.
func (s *Service) Get(ctx context.Context, id string) (*Order, error) { return s.store.Get(ctx, id) }

// GetMany reads orders by id in one round trip (Store.GetMany): out[i] is
// the order of ids[i], nil when there is none.
func (s *Service) GetMany(ctx context.Context, ids []string) ([]*Order, error) {
	return s.store.GetMany(ctx, ids)
}
