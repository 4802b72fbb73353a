package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
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
	// ClaimIdle is the TTL of a relay's lease on a shard (default 30s): how
	// long a crashed daemon's shards, and the entries it read but never
	// acknowledged, wait before another relay takes them over.
	ClaimIdle time.Duration
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
	p       RelayParams
	stop    chan struct{}
	done    chan struct{}
	stopped sync.Once
	abort   context.CancelFunc
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
		p.ClaimIdle = 30 * time.Second
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Tracer == nil {
		p.Tracer = noop.NewTracerProvider().Tracer("")
	}
	p.Logger = p.Logger.With().Str("component", "relay").Logger()
	return &Relay{p: p, stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// Start runs one loop per outbox shard until Shutdown. Each loop creates
// its shard's consumer group itself, and again whenever Redis lost it, so
// Start does not fail on a Redis that is down or restarting.
func (r *Relay) Start(ctx context.Context) error {
	ctx, r.abort = context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, key := range r.p.Outbox.Keys() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.loop(ctx, key)
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
// lease (a key with a TTL of ClaimIdle, renewed while the relay works). A
// relay that takes a shard over first adopts every entry the consumer group
// still has pending, so a crashed peer's unacknowledged events go out
// before anything newer and one customer's events keep their order.

// renewScript extends a lease its holder still has.
// KEYS[1] lease key; ARGV[1] holder; ARGV[2] TTL in ms. Returns 1 if renewed.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// releaseScript deletes a lease its holder still has.
// KEYS[1] lease key; ARGV[1] holder. Returns 1 if released.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

func (r *Relay) loop(ctx context.Context, key string) {
	log := r.p.Logger.With().Str("stream", key).Logger()
	lease := key + ":lease"
	// needGroup: the consumer group must be (re)created and the pending
	// entries adopted before the next read: at the start, after taking the
	// lease, and after any Redis error (Redis may have restarted empty or
	// failed over to a replica that never had the group).
	owned, ownPending, needGroup := false, false, true
	defer func() {
		if owned {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			_ = releaseScript.Run(rctx, r.p.Redis, []string{lease}, r.p.Consumer).Err()
		}
	}()
	tick := r.p.ClaimIdle / 3
	for ctx.Err() == nil {
		if !owned {
			if r.stopping() {
				return // another relay has this shard
			}
			ok, err := r.p.Redis.SetNX(ctx, lease, r.p.Consumer, r.p.ClaimIdle).Result()
			if err != nil || !ok {
				r.pause(ctx, tick)
				continue
			}
			owned, needGroup = true, true
		} else if !r.renew(ctx, lease) {
			if r.stopping() {
				return
			}
			log.Warn().Msg("lost the lease on this outbox shard; another relay takes it")
			owned = false
			continue
		}

		if needGroup {
			if err := r.ensureGroup(ctx, log, key); err != nil {
				if ctx.Err() != nil || r.stopping() {
					return
				}
				log.Error().Err(err).Msg("outbox consumer group")
				r.pause(ctx, time.Second)
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
			r.pause(ctx, time.Second)
			continue
		}
		if len(entries) > 0 && !r.publish(ctx, log, key, entries, func() bool { return r.renew(ctx, lease) }) {
			owned = false // the entries stay pending for the relay that took the shard
		}
	}
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

// renew extends this relay's lease on a shard; false if it is gone.
func (r *Relay) renew(ctx context.Context, lease string) bool {
	n, err := renewScript.Run(ctx, r.p.Redis, []string{lease}, r.p.Consumer, r.p.ClaimIdle.Milliseconds()).Int()
	return err == nil && n == 1
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
// all, then acknowledges and deletes them. It returns false when it gave up:
// ctx ended, or stillOwner reported the shard's lease lost during retries.
func (r *Relay) publish(ctx context.Context, log zerolog.Logger, key string, entries []redis.XMessage, stillOwner func() bool) bool {
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
	for attempt := 1; len(msgs) > 0; attempt++ {
		err := r.p.Publisher.WriteMessages(ctx, msgs...)
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
		sleep(ctx, backoff)
		backoff = min(backoff*2, 5*time.Second, r.p.ClaimIdle/3)
		if !stillOwner() {
			return false
		}
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
	_, err := r.p.Redis.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, b := range bad {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: key + ":dead", Values: b.Values})
		}
		pipe.XAck(ctx, key, relayGroup, ids...)
		pipe.XDel(ctx, key, ids...)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		// Published but not acknowledged: they will be published again
		// (delivery is at least once; ce_id lets consumers drop the copy).
		log.Error().Err(err).Int("events", len(ids)).Msg("acknowledge published outbox entries")
	}
	return true
}
