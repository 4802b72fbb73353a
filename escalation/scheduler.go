package escalation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	// Interval is the safety poll: the longest the scheduler sleeps before
	// claiming from every shard again. It sleeps until the earliest due
	// time it knows of (each claim reads the shard's earliest; the shard's
	// wake channel tells it of earlier timers as they are added), so this
	// only bounds how late a timer can fire when a wake-up was missed (a
	// Pub/Sub reconnect): seconds are fine.
	Interval time.Duration
	// Lease is how long a claimed timer stays with this process.
	Lease time.Duration
	// BatchSize is the most timers claimed per shard per round (default 100).
	BatchSize int
	// Coalesce is the least time from the start of one claim round to the
	// next (default 10 ms): under a steady stream of due timers, those
	// coming due within it are claimed and fired together instead of in a
	// round each, which costs Redis a claim script per shard per round. A
	// timer due after a quiet spell is claimed at once.
	Coalesce    time.Duration
	Source      string // CloudEvents source
	AlertsTopic string
	Now         func() time.Time
	Metrics     *Metrics
	// Policies plan each timer's next step. Without them (or for a timer
	// planned before policies) a timer raises one breach alert.
	Policies *Policies

	// beforeFire, in tests, runs between claiming and firing a batch.
	beforeFire func(ctx context.Context, claims []Claim)
	// after, in tests, replaces the real timer the loop sleeps on: it
	// returns a channel that gets a value once d has passed on the
	// injected clock, and a function that stops it.
	after func(d time.Duration) (<-chan time.Time, func())
	// pollOnly, in the benchmark, is the scheduler before wake-ups: no
	// subscription, a claim of every shard every Interval.
	pollOnly bool
}

// DefaultCoalesce is SchedulerParams.Coalesce when not set.
const DefaultCoalesce = 10 * time.Millisecond

// subscribeTimeout bounds the wait for Redis to confirm the subscription
// to the wake channels at Start.
const subscribeTimeout = 5 * time.Second

// retryWait is the least the loop sleeps after a failed claim, so that a
// Redis outage is not a busy loop.
const retryWait = time.Second

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

	mu sync.Mutex
	// earliest is, per shard, the earliest due time (unix ms) this
	// scheduler knows of: read by each claim, lowered by the next steps of
	// the timers it fires. Only the claim loop raises it.
	earliest []int64
	// woken is, per shard, the earliest due time heard on the wake channel
	// since the loop last looked; merged into earliest after a claim round
	// so that a claim's read never hides a later wake-up.
	woken []int64
	kick  chan struct{}
}

// NewScheduler checks params and fills defaults.
func NewScheduler(p SchedulerParams) (*Scheduler, error) {
	if p.Store == nil || p.Interval <= 0 || p.Lease <= 0 || p.AlertsTopic == "" {
		return nil, errors.New("new scheduler: Store, Interval, Lease and AlertsTopic are required")
	}
	if p.BatchSize <= 0 {
		p.BatchSize = 100
	}
	if p.Coalesce <= 0 {
		p.Coalesce = DefaultCoalesce
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.after == nil {
		p.after = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTimer(d)
			return t.C, func() { t.Stop() }
		}
	}
	p.Logger = p.Logger.With().Str("component", "escalation").Logger()
	s := &Scheduler{p: p, done: make(chan struct{}), kick: make(chan struct{}, 1),
		earliest: make([]int64, p.Store.Shards()), woken: make([]int64, p.Store.Shards())}
	for i := range s.woken {
		s.woken[i] = noTimer
	}
	p.Store.onAdded(s.added)
	return s, nil
}

// Start runs the claim loop until Shutdown: it subscribes to the shards'
// wake channels, then claims from every shard, and after each round sleeps
// until the earliest due time it knows of, a wake-up, or the safety poll
// (Interval), whichever comes first. When the subscription fails the loop
// still runs, on the earliest due times and the safety poll alone.
func (s *Scheduler) Start(ctx context.Context) error {
	// Load the scripts once, so that the first batches run as pipelines of
	// EVALSHA; if this fails they are loaded on their first NOSCRIPT.
	for _, sc := range []*redis.Script{claimScript, fireScript} {
		_ = sc.Load(ctx, s.p.Store.rdb).Err()
	}
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	var sub <-chan struct{}
	if !s.p.pollOnly {
		sub = s.subscribe(ctx)
	}
	go func() {
		defer close(s.done)
		if sub != nil {
			defer func() { <-sub }()
		}
		s.loop(ctx)
	}()
	return nil
}

// subscribe listens on every shard's wake channel until ctx ends; the
// subscription is in place when it returns. The returned channel closes
// when the listener has stopped (nil: no subscription).
func (s *Scheduler) subscribe(ctx context.Context) <-chan struct{} {
	shardOf := map[string]int{}
	channels := make([]string, s.p.Store.Shards())
	for i := range channels {
		channels[i] = s.p.Store.WakeChannel(i)
		shardOf[channels[i]] = i
	}
	ps := s.p.Store.rdb.Subscribe(ctx, channels...)
	// One SUBSCRIBE: once Redis confirms the first channel, all are on.
	rctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	_, err := ps.Receive(rctx)
	cancel()
	if err != nil {
		_ = ps.Close()
		s.fail(fmt.Errorf("subscribe to timer wake-ups: %w", err), "timer wake-ups unavailable: claiming on the safety poll and known due times")
		return nil
	}
	stopped := make(chan struct{})
	msgs := ps.Channel()
	go func() {
		defer close(stopped)
		defer func() { _ = ps.Close() }()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				shard, known := shardOf[m.Channel]
				due, err := strconv.ParseInt(m.Payload, 10, 64)
				if known && err == nil {
					s.wake(shard, due)
				}
			}
		}
	}()
	return stopped
}

// wake records a wake-up heard for shard and kicks the loop.
func (s *Scheduler) wake(shard int, due int64) {
	s.mu.Lock()
	s.woken[shard] = min(s.woken[shard], due)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// added records a timer this process wrote (Store.Add), as a wake-up
// heard, but without kicking the loop: the write's own wake-up does when
// it is the shard's earliest.
func (s *Scheduler) added(shard int, due int64) {
	s.mu.Lock()
	s.woken[shard] = min(s.woken[shard], due)
	s.mu.Unlock()
}

// loop claims and fires until ctx ends; see Start.
func (s *Scheduler) loop(ctx context.Context) {
	var lastAll, lastRound time.Time
	for ctx.Err() == nil {
		now := s.p.Now()
		var shards []int
		if !s.p.pollOnly {
			shards = s.dueShards(now)
		}
		if lastAll.IsZero() || now.Sub(lastAll) >= s.p.Interval {
			shards, lastAll = s.allShards(), now
		}
		ok := true
		if len(shards) > 0 {
			lastRound = now
			ok = s.round(ctx, shards)
		}
		s.mergeWoken()
		now = s.p.Now()
		wait := s.p.Interval - now.Sub(lastAll)
		if next := s.next(); next != noTimer && !s.p.pollOnly {
			wait = min(wait, max(time.UnixMilli(next).Sub(now), s.p.Coalesce-now.Sub(lastRound)))
		}
		if !ok {
			wait = max(wait, min(s.p.Interval, retryWait))
		}
		if wait <= 0 {
			continue
		}
		fired, stop := s.p.after(wait)
		select {
		case <-ctx.Done():
		case <-fired:
		case <-s.kick:
		}
		stop()
	}
}

func (s *Scheduler) allShards() []int {
	shards := make([]int, s.p.Store.Shards())
	for i := range shards {
		shards[i] = i
	}
	return shards
}

// dueShards lists the shards whose earliest known timer is due at now.
func (s *Scheduler) dueShards(now time.Time) []int {
	ms := now.UnixMilli()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for i, e := range s.earliest {
		if e <= ms {
			out = append(out, i)
		}
	}
	return out
}

// next is the earliest due time (unix ms) known over all shards.
func (s *Scheduler) next() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Min(s.earliest)
}

// mergeWoken folds the wake-ups heard into the known earliest due times.
func (s *Scheduler) mergeWoken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, w := range s.woken {
		s.earliest[i] = min(s.earliest[i], w)
		s.woken[i] = noTimer
	}
}

// lower records that shard holds a timer due at due (unix ms).
func (s *Scheduler) lower(shard int, due int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.earliest[shard] = min(s.earliest[shard], due)
}

// Shutdown stops the loop and its subscription; timers it claimed but did
// not fire come back after their lease.
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
	s.round(ctx, s.allShards())
	s.mergeWoken()
}

// NextKnown is the earliest due time this scheduler knows of: every
// shard's earliest timer left by its last claim (its own leases included),
// lowered by the next steps of the timers it fired and by every timer this
// process wrote through its Store since (Add, Recompute); false when it
// knows of none; before the first Tick, the Unix epoch (a Tick at once
// learns the truth). When no other process writes timers (hotlined
// replay, where Store.NextDue at every step would cost a round trip) it
// is never later than the store's earliest timer; it may be earlier (a timer cancelled since, the lease
// end of one it fired), and a Tick there fires nothing and learns the
// truth. Blind to timers other processes wrote: read Store.NextDue then.
func (s *Scheduler) NextKnown() (time.Time, bool) {
	s.mergeWoken()
	n := s.next()
	if n == noTimer {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

// round claims and fires the due timers of shards, as Tick, and records
// each shard's earliest due time. It reports false when a claim failed.
func (s *Scheduler) round(ctx context.Context, shards []int) bool {
	ok := true
	for len(shards) > 0 && ctx.Err() == nil {
		claims, full, seen, err := s.p.Store.claimShards(ctx, shards, s.p.Now(), s.p.Lease, s.p.BatchSize)
		if err != nil {
			ok = false
			s.fail(err, "claim due timers")
		}
		s.mu.Lock()
		for _, c := range seen {
			s.earliest[c.shard] = c.earliest
		}
		s.mu.Unlock()
		if len(claims) > 0 {
			if s.p.beforeFire != nil {
				s.p.beforeFire(ctx, claims)
			}
			if ctx.Err() != nil {
				return ok // a crash between claim and fire: the leases bring them back
			}
			s.fire(ctx, claims)
		}
		shards = full
	}
	return ok
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
	if b.f.next != nil && (n == fireRaised || n == fireDuplicate || n == fireMoved) {
		s.lower(b.c.Shard, b.f.next.Due.UnixMilli())
	}
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
