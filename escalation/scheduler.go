package escalation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/queue"
)

// SchedulerParams configures a Scheduler.
type SchedulerParams struct {
	Store  *Store
	Logger zerolog.Logger
	// Interval between claims of due timers.
	Interval time.Duration
	// Lease is how long a claimed timer stays with this process.
	Lease time.Duration
	// BatchSize is the most timers claimed per shard per round (default 100).
	BatchSize   int
	Source      string // CloudEvents source
	AlertsTopic string
	Now         func() time.Time
	Metrics     *Metrics
}

// Metrics are the scheduler's Prometheus metrics.
type Metrics struct {
	Raised   *prometheus.CounterVec
	FireLag  prometheus.Histogram
	Failures prometheus.Counter
}

// NewMetrics registers the escalation metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Raised: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotlined_alerts_raised_total",
			Help: "Supervisor alerts raised, by severity.",
		}, []string{"severity"}),
		FireLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hotlined_timer_fire_lag_seconds",
			Help:    "Time from a timer's due time to its alert being raised.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		Failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotlined_timer_errors_total",
			Help: "Errors claiming or firing timers (each is retried).",
		}),
	}
	reg.MustRegister(m.Raised, m.FireLag, m.Failures)
	return m
}

// Scheduler claims due timers and raises their alerts.
type Scheduler struct {
	p      SchedulerParams
	cancel context.CancelFunc
	done   chan struct{}
}

// NewScheduler checks params and fills defaults.
func NewScheduler(p SchedulerParams) (*Scheduler, error) {
	if p.Store == nil || p.Interval <= 0 || p.Lease <= 0 || p.AlertsTopic == "" {
		return nil, errors.New("new scheduler: Store, Interval, Lease and AlertsTopic are required")
	}
	if p.BatchSize <= 0 {
		p.BatchSize = 100
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	p.Logger = p.Logger.With().Str("component", "escalation").Logger()
	return &Scheduler{p: p, done: make(chan struct{})}, nil
}

// Start runs the claim loop until Shutdown.
func (s *Scheduler) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.p.Interval)
		defer t.Stop()
		for {
			s.Tick(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Shutdown stops the loop; timers it claimed but did not fire come back
// after their lease.
func (s *Scheduler) Shutdown(ctx context.Context) error {
	s.cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("scheduler shutdown: %w", ctx.Err())
	}
}

// Tick claims and fires every due timer once; exported for tests that drive
// the clock themselves.
func (s *Scheduler) Tick(ctx context.Context) {
	for shard := 0; shard < s.p.Store.Shards(); shard++ {
		for ctx.Err() == nil {
			now := s.p.Now()
			claims, err := s.p.Store.Claim(ctx, shard, now, s.p.Lease, s.p.BatchSize)
			if err != nil {
				s.fail(err, "claim due timers")
			}
			for _, c := range claims {
				if err := s.fire(ctx, c); err != nil {
					s.fail(err, "fire timer")
				}
			}
			if len(claims) < s.p.BatchSize {
				break
			}
		}
	}
}

func (s *Scheduler) fail(err error, msg string) {
	if s.p.Metrics != nil {
		s.p.Metrics.Failures.Inc()
	}
	s.p.Logger.Error().Err(err).Msg(msg)
}

func (s *Scheduler) fire(ctx context.Context, c Claim) error {
	now := s.p.Now()
	alert := breachAlert(c.Timer, now)
	data, err := json.Marshal(alert)
	if err != nil {
		return fmt.Errorf("encode alert: %w", err)
	}
	key := c.Key
	if key == "" {
		key = c.WorkOrderID
	}
	ev := queue.Event{
		ID:      "alert-raised:" + alert.ID, // the same alert always has the same ce_id
		Type:    queue.TypeAlertRaised,
		Source:  s.p.Source,
		Subject: c.WorkOrderID,
		Time:    now,
		Key:     key,
		Topics:  []string{s.p.AlertsTopic},
		Data:    data,
	}
	fired, err := s.p.Store.Fire(ctx, c, alert, ev)
	if errors.Is(err, ErrLeaseLost) {
		s.p.Logger.Warn().Str("timer", c.ID).Msg("timer lease lost before firing; another instance fires it")
		return nil
	}
	if err != nil {
		return err
	}
	if !fired {
		return nil
	}
	if s.p.Metrics != nil {
		s.p.Metrics.Raised.WithLabelValues(alert.Severity).Inc()
		s.p.Metrics.FireLag.Observe(now.Sub(c.Due).Seconds())
	}
	s.p.Logger.Info().Str("work_order", c.WorkOrderID).Str("alert", alert.ID).
		Str("stage", c.Stage).Str("severity", alert.Severity).Msg("alert raised")
	return nil
}
