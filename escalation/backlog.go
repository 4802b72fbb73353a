package escalation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/queue"
)

// BacklogAlertID is the id of the system alert raised while the outbox is
// backed up (Kafka down or slow); at most one is open at a time.
const BacklogAlertID = "AL-system-outbox-backlog"

// systemShard holds system alerts.
const systemShard = 0

// raiseScript records a system alert unless one with its id is open or
// acknowledged, and writes its event to the outbox and the feed.
//
// KEYS[1] alerts, KEYS[2] open alerts, KEYS[3] acked alerts, KEYS[4] outbox
// stream, KEYS[5] feed stream
// ARGV[1] alert id, ARGV[2] alert JSON, ARGV[3] feed length, ARGV[4...]
// outbox field, value pairs
// Returns 1 raised, 0 already raised.
var raiseScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cjson.decode(cur).state ~= 'resolved' then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[4], '*', unpack(fields))
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[3], '*', 'type', 'hotline.alert.raised', 'data', ARGV[2])
return 1
`)

// resolveSystemScript resolves a system alert unless it changed since it
// was read, and writes its event to the outbox and the feed.
//
// KEYS[1] alerts, KEYS[2] open alerts, KEYS[3] acked alerts, KEYS[4]
// resolved alerts, KEYS[5] outbox stream, KEYS[6] feed stream
// ARGV[1] alert id, ARGV[2] alert JSON as read, ARGV[3] resolved alert
// JSON, ARGV[4] now (unix ms), ARGV[5] feed length, ARGV[6...] outbox
// field, value pairs
// Returns 1 resolved, 0 changed meanwhile (the next check tries again).
var resolveSystemScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[5], '*', unpack(fields))
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[5], '*', 'type', 'hotline.alert.resolved', 'data', ARGV[3])
return 1
`)

// BacklogParams configures a BacklogMonitor.
type BacklogParams struct {
	Store  *Store
	Redis  redis.UniversalClient
	Outbox *queue.Outbox
	// Threshold: an alert is raised when more events than this wait; it is
	// resolved when fewer than half as many do.
	Threshold   int64
	Interval    time.Duration
	Source      string
	AlertsTopic string
	Logger      zerolog.Logger
	Now         func() time.Time
}

// BacklogMonitor watches the outbox depth and raises a supervisor alert
// while it is past the threshold. Several daemons may run one: the alert
// is recorded once.
type BacklogMonitor struct {
	p      BacklogParams
	cancel context.CancelFunc
	done   chan struct{}
}

// NewBacklogMonitor checks params.
func NewBacklogMonitor(p BacklogParams) (*BacklogMonitor, error) {
	if p.Store == nil || p.Redis == nil || p.Outbox == nil || p.Threshold <= 0 || p.Interval <= 0 || p.AlertsTopic == "" {
		return nil, errors.New("new backlog monitor: Store, Redis, Outbox, Threshold, Interval and AlertsTopic are required")
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	p.Logger = p.Logger.With().Str("component", "backlog").Logger()
	return &BacklogMonitor{p: p, done: make(chan struct{})}, nil
}

// Start checks the depth every Interval until Shutdown.
func (m *BacklogMonitor) Start(ctx context.Context) error {
	ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(m.done)
		t := time.NewTicker(m.p.Interval)
		defer t.Stop()
		for {
			if err := m.Check(ctx); err != nil && ctx.Err() == nil {
				m.p.Logger.Error().Err(err).Msg("check outbox backlog")
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Shutdown stops the monitor.
func (m *BacklogMonitor) Shutdown(ctx context.Context) error {
	m.cancel()
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("backlog monitor shutdown: %w", ctx.Err())
	}
}

// Check compares the depth with the threshold once, raising or resolving
// the backlog alert.
func (m *BacklogMonitor) Check(ctx context.Context) error {
	depth, err := m.p.Outbox.Depth(ctx, m.p.Redis)
	if err != nil {
		return err
	}
	s := m.p.Store
	now := m.p.Now()
	switch {
	case depth > m.p.Threshold:
		cause, detail, err := m.cause(ctx)
		if err != nil {
			return err
		}
		a := Alert{ID: BacklogAlertID, Stage: "outbox_backlog", Level: 1, LevelName: "operations",
			Severity: SeverityWarning, State: StateOpen, Priority: 1, DueAt: now, RaisedAt: now,
			Cause: cause, Detail: detail}
		ev, data, err := m.event(a, queue.TypeAlertRaised, now)
		if err != nil {
			return err
		}
		keys := []string{s.alertsKey(systemShard), s.openAlertsKey(systemShard), s.ackedAlertsKey(systemShard),
			m.p.Outbox.Key(systemShard), s.FeedKey(systemShard)}
		n, err := raiseScript.Run(ctx, m.p.Redis, keys, append([]any{a.ID, data, s.feedLen}, ev.Values()...)...).Int()
		if err != nil {
			return fmt.Errorf("raise backlog alert: %w", err)
		}
		if n == 1 {
			m.p.Logger.Error().Int64("depth", depth).Int64("threshold", m.p.Threshold).Str("cause", cause).
				Msg("outbox backlog past the threshold: " + detail + "; events are kept and wait in Redis")
		}
	case depth < m.p.Threshold/2:
		raw, err := m.p.Redis.HGet(ctx, s.alertsKey(systemShard), BacklogAlertID).Result()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read backlog alert: %w", err)
		}
		a, err := decodeAlert(BacklogAlertID, []byte(raw))
		if err != nil || a.State == StateResolved {
			return err
		}
		a.State, a.ResolvedAt = StateResolved, now
		ev, data, err := m.event(*a, queue.TypeAlertResolved, now)
		if err != nil {
			return err
		}
		keys := []string{s.alertsKey(systemShard), s.openAlertsKey(systemShard), s.ackedAlertsKey(systemShard),
			s.resolvedAlertsKey(systemShard), m.p.Outbox.Key(systemShard), s.FeedKey(systemShard)}
		args := append([]any{a.ID, raw, data, now.UnixMilli(), s.feedLen}, ev.Values()...)
		n, err := resolveSystemScript.Run(ctx, m.p.Redis, keys, args...).Int()
		if err != nil {
			return fmt.Errorf("resolve backlog alert: %w", err)
		}
		if n == 1 {
			m.p.Logger.Info().Int64("depth", depth).Msg("outbox backlog cleared")
		}
	}
	return nil
}

// Backlog causes, in the alert's cause field.
const (
	// CauseKafkaUnreachable: a relay holds the shard and Kafka refuses or
	// does not answer its writes.
	CauseKafkaUnreachable = "kafka_unreachable"
	// CauseNoRelay: no live daemon holds the lease of a backed-up shard.
	CauseNoRelay = "no_relay"
	// CauseRelayStalled: a daemon holds the lease but publishes nothing and
	// reports no Kafka error (a stuck lease holder).
	CauseRelayStalled = "relay_stalled"
)

// cause tells why the outbox backs up, from what the relays leave in Redis:
// each shard's lease and the last Kafka error its holder recorded.
func (m *BacklogMonitor) cause(ctx context.Context) (cause, detail string, err error) {
	type shardState struct{ depth, lease, kafkaErr *redis.Cmd }
	o := m.p.Outbox
	states := make([]shardState, o.Len())
	_, err = m.p.Redis.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i := range states {
			states[i] = shardState{
				depth:    pipe.Do(ctx, "XLEN", o.Key(i)),
				lease:    pipe.Do(ctx, "GET", o.LeaseKey(i)),
				kafkaErr: pipe.Do(ctx, "GET", o.KafkaErrorKey(i)),
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", "", fmt.Errorf("read outbox shard state: %w", err)
	}
	var kafkaShards, freeShards, stalled []int
	var kafkaErr, holders string
	for i, st := range states {
		if n, _ := st.depth.Int64(); n == 0 {
			continue
		}
		lease, _ := st.lease.Text()
		switch e, _ := st.kafkaErr.Text(); {
		case e != "":
			kafkaShards, kafkaErr = append(kafkaShards, i), e
		case lease == "":
			freeShards = append(freeShards, i)
		default:
			stalled, holders = append(stalled, i), holders+" "+lease
		}
	}
	switch {
	case len(kafkaShards) > 0:
		return CauseKafkaUnreachable, fmt.Sprintf("Kafka is unreachable or refuses the events of shards %v: %s", kafkaShards, kafkaErr), nil
	case len(freeShards) > 0:
		return CauseNoRelay, fmt.Sprintf("no live daemon holds the outbox lease of shards %v", freeShards), nil
	default:
		return CauseRelayStalled, fmt.Sprintf("the daemons holding the outbox lease of shards %v publish nothing and report no Kafka error (stuck lease:%s)", stalled, holders), nil
	}
}

func (m *BacklogMonitor) event(a Alert, typ string, now time.Time) (queue.Event, []byte, error) {
	data, err := json.Marshal(a)
	if err != nil {
		return queue.Event{}, nil, fmt.Errorf("encode alert: %w", err)
	}
	return queue.Event{
		// Each episode's events are distinct: the raise time is in the id.
		ID:      typ + ":" + a.ID + ":" + strconv.FormatInt(a.RaisedAt.UnixMilli(), 10),
		Type:    typ,
		Source:  m.p.Source,
		Subject: a.ID,
		Time:    now,
		Key:     a.ID,
		Topics:  []string{m.p.AlertsTopic},
		Data:    data,
	}, data, nil
}
