package escalation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
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
	// Policies plan each timer's next step. Without them (or for a timer
	// planned before policies) a timer raises one breach alert.
	Policies *Policies

	// beforeFire, in tests, runs between claiming and firing a batch.
	beforeFire func(ctx context.Context, claims []Claim)
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
			Help: "Supervisor alerts raised (each climb of a breach alert counts), by severity.",
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

// Scheduler claims due timers and raises their alerts. Several daemons
// may run one on the same Redis: the claim lease gives each due timer to
// one of them, and a crashed one's claims come back after the lease.
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
func (s *Scheduler) Start(ctx context.Context) error {
	// Load the scripts once, so that the first batches run as pipelines of
	// EVALSHA; if this fails they are loaded on their first NOSCRIPT.
	for _, sc := range []*redis.Script{claimScript, fireScript} {
		_ = sc.Load(ctx, s.p.Store.rdb).Err()
	}
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
	return nil
}

// Shutdown stops the loop; timers it claimed but did not fire come back
// after their lease.
func (s *Scheduler) Shutdown(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("scheduler shutdown: %w", ctx.Err())
	}
}

// Reload reads the calendar file again and moves the open timers whose
// due time it changes; call it on SIGHUP. A calendar that does not load
// leaves the old one in use and returns the error (file, key path, line).
// Safe for concurrent use, also with the claim loop.
func (s *Scheduler) Reload(ctx context.Context) (RecomputeStats, error) {
	if s.p.Policies == nil || s.p.Policies.LiveCalendar() == nil {
		return RecomputeStats{}, ErrFixedCalendar
	}
	cal, err := s.p.Policies.LiveCalendar().Reload()
	if err != nil {
		return RecomputeStats{}, err
	}
	st, err := s.p.Store.Recompute(ctx, s.p.Policies)
	if err != nil {
		return st, err
	}
	for _, w := range cal.Warnings(s.p.Now()) {
		s.p.Logger.Warn().Str("calendar", s.p.Policies.LiveCalendar().Path()).Int("year", w.Year).
			Bool("provisional", !w.Missing).Bool("missing", w.Missing).Msg(w.String())
	}
	s.p.Logger.Info().Str("calendar", s.p.Policies.LiveCalendar().Path()).Int("timers", st.Timers).
		Int("moved", st.Moved).Msg("calendar reloaded; open timers recomputed")
	return st, nil
}

// Tick claims and fires every due timer once; exported for tests that drive
// the clock themselves. Each round claims from every shard in one round
// trip and fires what it got in another; shards that gave a full batch are
// claimed again.
func (s *Scheduler) Tick(ctx context.Context) {
	shards := make([]int, s.p.Store.Shards())
	for i := range shards {
		shards[i] = i
	}
	for len(shards) > 0 && ctx.Err() == nil {
		claims, full, err := s.p.Store.claimShards(ctx, shards, s.p.Now(), s.p.Lease, s.p.BatchSize)
		if err != nil {
			s.fail(err, "claim due timers")
		}
		if len(claims) > 0 {
			if s.p.beforeFire != nil {
				s.p.beforeFire(ctx, claims)
			}
			if ctx.Err() != nil {
				return // a crash between claim and fire: the leases bring them back
			}
			s.fire(ctx, claims)
		}
		shards = full
	}
}

func (s *Scheduler) fail(err error, msg string) {
	if s.p.Metrics != nil {
		s.p.Metrics.Failures.Inc()
	}
	s.p.Logger.Error().Err(err).Msg(msg)
}

// planned is one claim with what firing it does.
type planned struct {
	c    Claim
	f    firing
	call fireCall
	cmd  *redis.Cmd
}

// fireChunk is how many fire scripts go in one pipeline. While Redis runs
// one chunk, the next is prepared: encoding is about half the cost of a
// firing, so the two overlap.
const fireChunk = 128

// fire completes a batch of claims: pipelines of fire scripts, each script
// atomic on its own, at most a few in flight.
func (s *Scheduler) fire(ctx context.Context, claims []Claim) {
	now := s.p.Now()
	var wg sync.WaitGroup
	for len(claims) > 0 {
		n := min(len(claims), fireChunk)
		chunk := s.prepare(claims[:n], now)
		claims = claims[n:]
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.exec(ctx, chunk, now)
		}()
	}
	wg.Wait()
}

func (s *Scheduler) prepare(claims []Claim, now time.Time) []*planned {
	batch := make([]*planned, 0, len(claims))
	for _, c := range claims {
		f, ok := s.p.Policies.firingOf(c.Timer, now)
		if !ok {
			if c.SLA != nil {
				s.p.Logger.Warn().Str("work_order", c.WorkOrderID).Str("timer", c.ID).Str("policy", c.SLA.Policy).
					Msg("timer of a policy or stage no longer configured: raising one breach alert")
			}
			f = firing{raise: true, alert: breachAlert(c.Timer, now)}
		}
		ev, err := s.event(c.Timer, f.alert, now)
		if err != nil {
			s.fail(err, "fire timer")
			continue
		}
		f.data = ev.Data
		call, err := s.p.Store.fireArgs(c, f, ev)
		if err != nil {
			s.fail(err, "fire timer")
			continue
		}
		batch = append(batch, &planned{c: c, f: f, call: call})
	}
	return batch
}

func (s *Scheduler) exec(ctx context.Context, batch []*planned, now time.Time) {
	rdb := s.p.Store.rdb
	run := func(batch []*planned) {
		pipe := rdb.Pipeline()
		for _, b := range batch {
			b.cmd = fireScript.EvalSha(ctx, pipe, b.call.keys, b.call.args...)
		}
		_, _ = pipe.Exec(ctx) // each command's error is looked at below
	}
	run(batch)
	var again []*planned
	for _, b := range batch {
		if isNoScript(b.cmd.Err()) { // Redis restarted or SCRIPT FLUSH: nothing ran
			again = append(again, b)
		}
	}
	if len(again) > 0 && fireScript.Load(ctx, rdb).Err() == nil {
		run(again)
	}
	for _, b := range batch {
		n, err := b.cmd.Int()
		if err != nil {
			s.fail(fmt.Errorf("fire timer %s: %w", b.c.ID, err), "fire timer")
			continue
		}
		s.done1(b, n, now)
	}
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

func (s *Scheduler) done1(b *planned, n int, now time.Time) {
	switch n {
	case fireLeaseLost:
		s.p.Logger.Debug().Str("timer", b.c.ID).Msg("timer changed after it was claimed (re-claimed, cancelled or re-planned); nothing raised")
	case fireRaised:
		a := b.f.alert
		if s.p.Metrics != nil {
			s.p.Metrics.Raised.WithLabelValues(a.Severity).Inc()
			s.p.Metrics.FireLag.Observe(now.Sub(a.DueAt).Seconds())
		}
		// alert_level, not level: zerolog's own "level" key is the log line's.
		s.p.Logger.Info().Str("work_order", a.WorkOrderID).Str("alert", a.ID).Str("stage", a.Stage).
			Str("severity", a.Severity).Int("alert_level", a.Level).Str("level_name", a.LevelName).Msg("alert raised")
	case fireStopped:
		s.p.Logger.Debug().Str("timer", b.c.ID).Str("alert", b.f.alert.ID).Msg("alert acknowledged or resolved: its ladder stops")
	}
}

func (s *Scheduler) event(t Timer, a Alert, now time.Time) (queue.Event, error) {
	if a.ID == "" {
		return queue.Event{}, nil // the timer only moves
	}
	data, err := json.Marshal(a)
	if err != nil {
		return queue.Event{}, fmt.Errorf("encode alert: %w", err)
	}
	key := t.Key
	if key == "" {
		key = t.WorkOrderID
	}
	id := "alert-raised:" + a.ID // the same alert always has the same ce_id
	if a.Step > 0 {
		id = fmt.Sprintf("%s:%d", id, a.Step) // and so does each climb of a breach alert
	}
	return queue.Event{
		ID:      id,
		Type:    queue.TypeAlertRaised,
		Source:  s.p.Source,
		Subject: t.WorkOrderID,
		Time:    now,
		Key:     key,
		Topics:  []string{s.p.AlertsTopic},
		Data:    data,
	}, nil
}
