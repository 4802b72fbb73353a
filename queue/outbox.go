package queue

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
)

// Outbox is the Redis side of the outbox: one stream per shard, each key
// carrying the shard's hash tag so it sits in the same slot as the orders
// and timers whose changes write to it.
type Outbox struct {
	prefix string
	shards int
}

// NewOutbox returns the outbox layout for prefix and shard count.
func NewOutbox(prefix string, shards int) *Outbox { return &Outbox{prefix: prefix, shards: shards} }

// Key is the stream of shard.
func (o *Outbox) Key(shard int) string { return fmt.Sprintf("%s:{%d}:outbox", o.prefix, shard) }

// LeaseKey is the key of shard's relay lease (holder#fencing token), in the
// shard's slot so the acknowledging MULTI can WATCH it.
func (o *Outbox) LeaseKey(shard int) string { return o.Key(shard) + ":lease" }

// FenceKey counts shard's lease acquisitions: the fencing tokens.
func (o *Outbox) FenceKey(shard int) string { return o.Key(shard) + ":fence" }

// KafkaErrorKey holds the last Kafka error of shard's relay while Kafka
// refuses its events (deleted once they go through).
func (o *Outbox) KafkaErrorKey(shard int) string { return o.Key(shard) + ":kafka_error" }

// MembersKey is the sorted set of live relays, scored by last heartbeat
// (unix ms); it is in no shard's slot and never in a transaction.
func (o *Outbox) MembersKey() string { return o.prefix + ":relays" }

// Keys are all shard streams.
func (o *Outbox) Keys() []string {
	keys := make([]string, o.shards)
	for i := range keys {
		keys[i] = o.Key(i)
	}
	return keys
}

// Add queues the events on pipe, which the caller runs as one batch
// (internal/rbatch) or MULTI with the state change that caused them.
func (o *Outbox) Add(ctx context.Context, pipe redis.Pipeliner, shard int, events ...Event) {
	for _, e := range events {
		if e.TraceParent == "" {
			e.TraceParent = TraceParent(ctx)
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: o.Key(shard), Values: e.Values()})
	}
}

// Depth is the number of events waiting in all shards.
func (o *Outbox) Depth(ctx context.Context, rdb redis.Cmdable) (int64, error) {
	cmds, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, k := range o.Keys() {
			pipe.XLen(ctx, k)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("outbox depth: %w", err)
	}
	var total int64
	for _, c := range cmds {
		total += c.(*redis.IntCmd).Val()
	}
	return total, nil
}

// Len is the number of shards.
func (o *Outbox) Len() int { return o.shards }

// TraceParent renders the span context in ctx as a W3C traceparent, "" when
// ctx carries none.
func TraceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags())
}

// remoteSpan parses a W3C traceparent into a remote span context.
func remoteSpan(tp string) (trace.SpanContext, bool) {
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || parts[0] != "00" {
		return trace.SpanContext{}, false
	}
	tid, err1 := trace.TraceIDFromHex(parts[1])
	sid, err2 := trace.SpanIDFromHex(parts[2])
	if err1 != nil || err2 != nil {
		return trace.SpanContext{}, false
	}
	flags := trace.TraceFlags(0)
	if parts[3] == "01" {
		flags = trace.FlagsSampled
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true})
	return sc, sc.IsValid()
}
