package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Publisher is the Kafka side of the relay; *kafka.Writer implements it.
type Publisher interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

var _ Publisher = (*kafka.Writer)(nil)

// relayGroup is the consumer group every daemon's relay joins on each
// outbox stream, so instances share the work without publishing twice.
const relayGroup = "relay"

// RelayParams configures a Relay.
type RelayParams struct {
	Redis     redis.UniversalClient
	Outbox    *Outbox
	Publisher Publisher
	Logger    zerolog.Logger
	// Consumer names this process in the consumer group; unique per process.
	Consumer string
	// BatchSize is the most entries read and published at once (default 256).
	BatchSize int
	// Block is how long a read waits for new entries (default 1s).
	Block time.Duration
	// ClaimIdle is the TTL of a relay's lease on a shard (default 2s),
	// renewed every third of it: how long a crashed daemon's shards, and
	// the entries it read but never acknowledged, wait before another
	// relay takes them over. It also bounds each Kafka write.
	ClaimIdle time.Duration
	// WriteBound is the longest a Kafka write may still reach the broker
	// after WriteMessages returned on its deadline (the writer's batch wait
	// plus its write timeout); a relay starts a write only while its lease
	// is safe for longer than this (default ClaimIdle/3).
	WriteBound time.Duration
	// Metrics may be nil.
	Metrics *RelayMetrics
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Tracer records a kafka.publish span per event, child of the event's
	// traceparent; nil records none.
	Tracer trace.Tracer
	// OnPublished, when set, is called with each batch Kafka acknowledged
	// and the time of the acknowledgement (benchmarks, tracing).
	OnPublished func(events []Event, acked time.Time)
}

// RelayMetrics are the relay's Prometheus metrics.
type RelayMetrics struct {
	Published      *prometheus.CounterVec
	PublishErrors  prometheus.Counter
	PublishLatency prometheus.Histogram
}

// NewRelayMetrics registers the relay metrics on reg.
func NewRelayMetrics(reg prometheus.Registerer) *RelayMetrics {
	m := &RelayMetrics{
		Published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotlined_outbox_published_total",
			Help: "Events published from the outbox to Kafka, by event type.",
		}, []string{"type"}),
		PublishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotlined_outbox_publish_errors_total",
			Help: "Failed attempts to publish an outbox batch to Kafka (each is retried).",
		}),
		PublishLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hotlined_outbox_publish_latency_seconds",
			Help:    "Time from an event's commit to its Kafka acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
	}
	reg.MustRegister(m.Published, m.PublishErrors, m.PublishLatency)
	return m
}

// Relay publishes outbox entries to Kafka, in stream order per shard, and
// deletes each only after Kafka acknowledged it.
type Relay struct {
	p RelayParams
	// owned counts the leases held; target is the most to hold,
	// ceil(shards / live relays).
	owned, target atomic.Int64
	mu            sync.Mutex
	holding       map[int]bool
	stop          chan struct{}
	done          chan struct{}
	stopped       sync.Once
	abort         context.CancelFunc
}

// NewRelay checks params and fills defaults.
func NewRelay(p RelayParams) (*Relay, error) {
	if p.Redis == nil || p.Outbox == nil || p.Publisher == nil || p.Consumer == "" {
		return nil, errors.New("new relay: Redis, Outbox, Publisher and Consumer are required")
	}
	if p.BatchSize <= 0 {
		p.BatchSize = 256
	}
	if p.Block <= 0 {
		p.Block = time.Second
	}
	if p.ClaimIdle <= 0 {
		p.ClaimIdle = 2 * time.Second
	}
	if p.WriteBound <= 0 || p.WriteBound > p.ClaimIdle*2/3 {
		p.WriteBound = p.ClaimIdle / 3
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Tracer == nil {
		p.Tracer = noop.NewTracerProvider().Tracer("")
	}
	p.Logger = p.Logger.With().Str("component", "relay").Logger()
	rl := &Relay{p: p, stop: make(chan struct{}), done: make(chan struct{}), holding: map[int]bool{}}
	rl.target.Store(int64(p.Outbox.Len())) // alone until the first heartbeat says otherwise
	return rl, nil
}

// Start runs one loop per outbox shard until Shutdown. Each loop creates
// its shard's consumer group itself, and again whenever Redis lost it, so
// Start does not fail on a Redis that is down or restarting.
func (r *Relay) Start(ctx context.Context) error {
	ctx, r.abort = context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.heartbeat(ctx)
	}()
	for shard := range r.p.Outbox.Len() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.loop(ctx, shard)
		}()
	}
	go func() {
		wg.Wait()
		close(r.done)
	}()
	return nil
}

// Shutdown stops reading new work once each shard's stream is drained, or
// when ctx ends, whichever comes first; what is left stays in the outbox for
// the next start.
func (r *Relay) Shutdown(ctx context.Context) error {
	r.stopped.Do(func() { close(r.stop) })
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		r.abort()
		<-r.done
		return fmt.Errorf("relay shutdown: %w", ctx.Err())
	}
}

func (r *Relay) stopping() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// Each shard's stream has one relay at a time: the holder of the shard's
// lease, a key with a TTL of ClaimIdle (2 s by default) renewed on every
// pass of the loop, at most ClaimIdle/3 apart. A relay that takes a shard
// over first adopts every entry the consumer group still has pending, so a
// crashed peer's unacknowledged events go out before anything newer and one
// customer's events keep their order.
//
// Fencing: each acquisition draws a fencing token (INCR of the shard's
// fence key) and the lease holds consumer#token. A relay publishes only
// while its lease is surely alive by its own clock (the moment it sent the
// last successful renewal plus ClaimIdle, which is before Redis expires
// it), each Kafka write bounded by that moment; and it acknowledges entries
// only under WATCH of the lease, so a relay that lost its lease can neither
// publish after the next holder starts nor delete what the next holder
// must publish.
//
// Spreading: every relay registers in a sorted set of live relays
// (heartbeat every ClaimIdle/3, dropped after ClaimIdle without one) and
// holds at most ceil(shards/live) leases, giving back the excess, so N
// daemons hold about shards/N each, and a dead daemon's shards move to the
// others once its leases and heartbeat expire.

// acquireScript takes a free lease with a new fencing token.
// KEYS[1] lease key, KEYS[2] fence counter; ARGV[1] holder; ARGV[2] TTL in
// ms. Returns the lease value (holder#token), or false if the lease is
// held.
var acquireScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local v = ARGV[1] .. '#' .. redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
return v
`)

// renewScript extends a lease its holder still has.
// KEYS[1] lease key; ARGV[1] lease value; ARGV[2] TTL in ms. Returns 1 if
// renewed.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// releaseScript deletes a lease its holder still has.
// KEYS[1] lease key; ARGV[1] lease value. Returns 1 if released.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// lease is a relay's hold on one shard.
type lease struct {
	key   string // the lease key
	value string // holder#token, the fencing token
	// safe is when the lease may have expired in Redis, by this process's
	// clock: the send time of the last renewal plus ClaimIdle.
	safe    time.Time
	renewed time.Time
}

// errLeaseLost: the lease expired or another relay holds it.
var errLeaseLost = errors.New("outbox shard lease lost")

// acquire tries to take shard's lease; nil when another relay holds it.
func (r *Relay) acquire(ctx context.Context, shard int) (*lease, error) {
	sent := time.Now()
	v, err := acquireScript.Run(ctx, r.p.Redis, []string{r.p.Outbox.LeaseKey(shard), r.p.Outbox.FenceKey(shard)},
		r.p.Consumer, r.p.ClaimIdle.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("acquire lease of outbox shard %d: %w", shard, err)
	}
	return &lease{key: r.p.Outbox.LeaseKey(shard), value: v, safe: sent.Add(r.p.ClaimIdle), renewed: sent}, nil
}

// renew extends l; errLeaseLost when another relay has it or it expired.
func (r *Relay) renew(ctx context.Context, l *lease) error {
	sent := time.Now()
	n, err := renewScript.Run(ctx, r.p.Redis, []string{l.key}, l.value, r.p.ClaimIdle.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	if n != 1 || sent.After(l.safe) {
		return errLeaseLost // renewed too late: another relay may have published meanwhile
	}
	l.safe, l.renewed = sent.Add(r.p.ClaimIdle), sent
	return nil
}

// release gives l back so another relay can take the shard at once.
func (r *Relay) release(ctx context.Context, l *lease) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_ = releaseScript.Run(rctx, r.p.Redis, []string{l.key}, l.value).Err()
}

// heartbeat keeps this relay in the set of live relays and sets the target
// number of leases, ceil(shards/live), every ClaimIdle/3 until ctx ends;
// then it leaves the set so the others take its shards at once.
func (r *Relay) heartbeat(ctx context.Context) {
	key := r.p.Outbox.MembersKey()
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = r.p.Redis.ZRem(rctx, key, r.p.Consumer).Err()
	}()
	t := time.NewTicker(r.p.ClaimIdle / 3)
	defer t.Stop()
	for {
		if target, ok := r.balance(ctx, key); ok {
			if old := r.target.Swap(target); old != target {
				r.p.Logger.Info().Int64("leases", target).Msg("outbox shards this relay may hold changed")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.stop:
			return
		case <-t.C:
		}
	}
}

// balance renews this relay's heartbeat and returns how many leases it may
// hold: ceil(shards/live), or floor(shards/live) while a live relay holds
// fewer than floor, so 4 shards over 3 relays settle as 2, 1, 1. It reads
// every shard's lease holder (holder#token); false when Redis did not
// answer.
func (r *Relay) balance(ctx context.Context, key string) (int64, bool) {
	now := time.Now()
	var (
		members *redis.StringSliceCmd
		leases  = make([]*redis.StringCmd, r.p.Outbox.Len())
	)
	_, err := r.p.Redis.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.ZAdd(ctx, key, redis.Z{Score: float64(now.UnixMilli()), Member: r.p.Consumer})
		pipe.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(now.Add(-r.p.ClaimIdle).UnixMilli(), 10))
		members = pipe.ZRange(ctx, key, 0, -1)
		pipe.PExpire(ctx, key, 10*r.p.ClaimIdle)
		for s := range leases {
			leases[s] = pipe.Get(ctx, r.p.Outbox.LeaseKey(s))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, false
	}
	live := members.Val()
	if len(live) == 0 {
		return 0, false
	}
	held := map[string]int64{}
	for _, l := range leases {
		if v := l.Val(); v != "" {
			if i := strings.LastIndexByte(v, '#'); i > 0 {
				held[v[:i]]++
			}
		}
	}
	n, m := int64(r.p.Outbox.Len()), int64(len(live))
	floor, ceil := n/m, (n+m-1)/m
	for _, c := range live {
		if held[c] < floor {
			return floor, true // a relay is short: the others give back down to floor
		}
	}
	return ceil, true
}

// claimSlot counts one more held lease if this relay is under its target.
func (r *Relay) claimSlot() bool {
	for {
		n := r.owned.Load()
		if n >= r.target.Load() {
			return false
		}
		if r.owned.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// excess uncounts one held lease if this relay holds more than its target.
func (r *Relay) excess() bool {
	for {
		n := r.owned.Load()
		if n <= r.target.Load() {
			return false
		}
		if r.owned.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

func (r *Relay) loop(ctx context.Context, shard int) {
	key := r.p.Outbox.Key(shard)
	log := r.p.Logger.With().Str("stream", key).Logger()
	// needGroup: the consumer group must be (re)created and the pending
	// entries adopted before the next read: after taking the lease, and
	// after any Redis error (Redis may have restarted empty or failed over
	// to a replica that never had the group).
	var held *lease
	ownPending, needGroup := false, true
	drop := func(release bool) {
		if release {
			r.release(ctx, held)
		}
		held = nil
		r.owned.Add(-1)
		r.setHolding(shard, false)
	}
	defer func() {
		if held != nil {
			drop(true)
		}
	}()
	tick := r.p.ClaimIdle / 3
	for ctx.Err() == nil {
		if held == nil {
			if r.stopping() {
				return // another relay has this shard
			}
			if !r.claimSlot() {
				r.pause(ctx, tick)
				continue
			}
			l, err := r.acquire(ctx, shard)
			if err != nil || l == nil {
				r.owned.Add(-1)
				r.pause(ctx, tick/2+time.Duration(rand.Int64N(int64(tick/2)+1)))
				continue
			}
			held, needGroup = l, true
			r.setHolding(shard, true)
			log.Debug().Str("lease", l.value).Msg("took the outbox shard's lease")
		} else if !r.stopping() && r.excess() {
			r.owned.Add(1) // drop counts it off again
			drop(true)
			log.Debug().Msg("gave the outbox shard's lease back: more relays are live")
			continue
		} else if err := r.renew(ctx, held); err != nil {
			// Release: a late renewal may have reached Redis; the script
			// leaves another holder's lease alone.
			if r.stopping() {
				drop(true)
				return
			}
			log.Warn().Err(err).Msg("lost the lease on this outbox shard; another relay takes it")
			drop(true)
			needGroup = true
			continue
		}
		if needGroup {
			if err := r.ensureGroup(ctx, log, key); err != nil {
				if ctx.Err() != nil || r.stopping() {
					return
				}
				log.Error().Err(err).Msg("outbox consumer group")
				r.pause(ctx, min(time.Second, tick))
				continue
			}
			needGroup, ownPending = false, true
		}
		var (
			entries []redis.XMessage
			err     error
		)
		if ownPending {
			entries, err = r.read(ctx, key, "0", -1) // pending first, in stream order; never waits
			if err == nil && len(entries) == 0 {
				ownPending = false
				continue
			}
		} else {
			block := min(r.p.Block, tick)
			if r.stopping() {
				block = -1 // no wait: drain what is there, then stop
			}
			entries, err = r.read(ctx, key, ">", block)
			if err == nil && len(entries) == 0 && r.stopping() {
				return
			}
		}
		if err != nil {
			if ctx.Err() != nil || r.stopping() {
				return // Redis is unreachable: nothing can be drained now; it stays for the next start
			}
			needGroup = true
			if isNoGroup(err) {
				log.Warn().Err(err).Msg("the outbox consumer group is gone (Redis lost its data?): recreating it")
				continue
			}
			log.Error().Err(err).Msg("read outbox")
			r.pause(ctx, min(time.Second, tick))
			continue
		}
		if len(entries) > 0 && !r.publish(ctx, log, shard, held, entries) {
			drop(true) // the entries stay pending for the relay that takes the shard
			needGroup = true
		}
	}
}

// setHolding records whether this relay holds shard's lease (Holding).
func (r *Relay) setHolding(shard int, v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.holding[shard] = v
}

// Holding returns the shards whose lease this relay holds now, in order.
func (r *Relay) Holding() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for s := range r.p.Outbox.Len() {
		if r.holding[s] {
			out = append(out, s)
		}
	}
	return out
}

// pause waits d, or less if ctx ends or Shutdown begins.
func (r *Relay) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-r.stop:
	case <-t.C:
	}
}

// ensureGroup creates the shard's consumer group if it is missing (a
// stream that Redis lost starts again empty, read from its beginning), then
// adopts every pending entry.
func (r *Relay) ensureGroup(ctx context.Context, log zerolog.Logger, key string) error {
	err := r.p.Redis.XGroupCreateMkStream(ctx, key, relayGroup, "0").Err()
	switch {
	case err == nil:
		log.Info().Msg("created the outbox consumer group")
	case !strings.HasPrefix(err.Error(), "BUSYGROUP"):
		return fmt.Errorf("create group on %s: %w", key, err)
	}
	if err := r.adopt(ctx, log, key); err != nil {
		return fmt.Errorf("adopt pending entries of %s: %w", key, err)
	}
	return nil
}

// isNoGroup reports Redis's answer for a stream or group that does not
// exist.
func isNoGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOGROUP") }

// adopt moves every pending entry of the stream, whoever read it, to this
// consumer, so reading pending entries with id 0 returns them in order.
func (r *Relay) adopt(ctx context.Context, log zerolog.Logger, key string) error {
	start, total := "0-0", 0
	for {
		ids, next, err := r.p.Redis.XAutoClaimJustID(ctx, &redis.XAutoClaimArgs{
			Stream: key, Group: relayGroup, Consumer: r.p.Consumer, MinIdle: 0, Start: start, Count: 1000,
		}).Result()
		if err != nil {
			return err
		}
		total += len(ids)
		if next == "0-0" || next == "" {
			break
		}
		start = next
	}
	if total > 0 {
		log.Warn().Int("entries", total).Msg("took over entries another relay read but never acknowledged")
	}
	return nil
}

// read returns entries after id; block < 0 means do not wait (go-redis
// leaves BLOCK out then; BLOCK 0 would wait for ever).
func (r *Relay) read(ctx context.Context, key, id string, block time.Duration) ([]redis.XMessage, error) {
	args := &redis.XReadGroupArgs{
		Group: relayGroup, Consumer: r.p.Consumer,
		Streams: []string{key, id}, Count: int64(r.p.BatchSize), Block: block,
	}
	res, err := r.p.Redis.XReadGroup(ctx, args).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, nil
	}
	return res[0].Messages, nil
}

// publish sends entries to Kafka in order, retrying until Kafka takes them
// all, then acknowledges and deletes them under the lease's fence. Each
// Kafka write ends by the lease's safe time; the lease is renewed between
// attempts. It returns false when it gave up: ctx ended, or the lease was
// lost (the entries stay pending for the next holder).
func (r *Relay) publish(ctx context.Context, log zerolog.Logger, shard int, held *lease, entries []redis.XMessage) bool {
	key := r.p.Outbox.Key(shard)
	var (
		msgs   []kafka.Message
		events []Event
		ids    []string
		bad    []redis.XMessage
	)
	for _, e := range entries {
		ev, err := EventFromValues(e.Values)
		if err != nil {
			log.Error().Err(err).Str("entry", e.ID).Msg("undecodable outbox entry moved to the dead stream")
			bad = append(bad, e)
			continue
		}
		msgs = append(msgs, ev.Messages()...)
		events = append(events, ev)
		ids = append(ids, e.ID)
	}
	spans := make([]trace.Span, 0, len(events))
	for _, ev := range events {
		if sc, ok := remoteSpan(ev.TraceParent); ok {
			_, span := r.p.Tracer.Start(trace.ContextWithRemoteSpanContext(ctx, sc), "kafka.publish",
				trace.WithSpanKind(trace.SpanKindProducer),
				trace.WithAttributes(attribute.String("ce.type", ev.Type), attribute.String("ce.id", ev.ID),
					attribute.StringSlice("messaging.destinations", ev.Topics)))
			spans = append(spans, span)
		}
	}
	defer func() {
		for _, span := range spans {
			span.End()
		}
	}()
	backoff := 100 * time.Millisecond
	kafkaDown := false
	for attempt := 1; len(msgs) > 0; attempt++ {
		// Renew first unless that was just done, so each attempt has at
		// least a quarter of ClaimIdle before its deadline.
		if time.Since(held.renewed) > r.p.ClaimIdle/4 || time.Until(held.safe) <= r.p.WriteBound {
			if err := r.renew(ctx, held); err != nil {
				log.Warn().Err(err).Msg("lease not renewed before publishing; the next holder publishes these entries")
				return false
			}
		}
		wctx, cancel := context.WithDeadline(ctx, held.safe.Add(-r.p.WriteBound))
		err := r.p.Publisher.WriteMessages(wctx, msgs...)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false // aborted: the entries stay pending and are re-read at next start
		}
		if r.p.Metrics != nil {
			r.p.Metrics.PublishErrors.Inc()
		}
		if attempt == 1 || attempt%20 == 0 {
			log.Warn().Err(err).Int("attempt", attempt).Int("events", len(events)).
				Msg("kafka publish failed; events stay in the outbox and are retried")
		}
		// Tell the backlog monitor, whichever daemon runs it, that Kafka
		// refuses this shard's events (not a stuck lease).
		_ = r.p.Redis.Set(ctx, r.p.Outbox.KafkaErrorKey(shard), err.Error(), 10*r.p.ClaimIdle).Err()
		kafkaDown = true
		sleep(ctx, backoff)
		backoff = min(backoff*2, 5*time.Second, r.p.ClaimIdle/3)
	}
	now := r.p.Now()
	if r.p.OnPublished != nil {
		r.p.OnPublished(events, now)
	}
	if r.p.Metrics != nil {
		for _, ev := range events {
			r.p.Metrics.Published.WithLabelValues(ev.Type).Inc()
			r.p.Metrics.PublishLatency.Observe(now.Sub(ev.Time).Seconds())
		}
	}
	for _, b := range bad {
		ids = append(ids, b.ID)
	}
	// Acknowledge only while the lease is still ours: WATCH it, so a
	// relay that lost it cannot delete entries the next holder must send.
	err := r.p.Redis.Watch(ctx, func(tx *redis.Tx) error {
		v, err := tx.Get(ctx, held.key).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if v != held.value {
			return errLeaseLost
		}
		_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			for _, b := range bad {
				pipe.XAdd(ctx, &redis.XAddArgs{Stream: key + ":dead", Values: b.Values})
			}
			pipe.XAck(ctx, key, relayGroup, ids...)
			pipe.XDel(ctx, key, ids...)
			if kafkaDown {
				pipe.Del(ctx, r.p.Outbox.KafkaErrorKey(shard))
			}
			return nil
		})
		return err
	}, held.key)
	switch {
	case errors.Is(err, errLeaseLost) || errors.Is(err, redis.TxFailedErr):
		log.Warn().Int("events", len(ids)).Msg("lease lost before acknowledging: the next holder publishes these events again")
		return false
	case err != nil && ctx.Err() == nil:
		// Published but not acknowledged: they will be published again
		// (delivery is at least once; ce_id lets consumers drop the copy).
		log.Error().Err(err).Int("events", len(ids)).Msg("acknowledge published outbox entries")
	}
	return true
}
