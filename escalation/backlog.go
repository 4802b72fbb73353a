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

// raiseScript records an alert unless one with its id is open, and writes
// its event to the outbox.
//
// KEYS[1] alert, KEYS[2] open alerts set, KEYS[3] outbox stream
// ARGV[1] alert id, ARGV[2] alert JSON, ARGV[3...] outbox field, value pairs
// Returns 1 raised, 0 already open.
var raiseScript = redis.NewScript(`
if not redis.call('SET', KEYS[1], ARGV[2], 'NX') then
  return 0
end
redis.call('SADD', KEYS[2], ARGV[1])
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[3], '*', unpack(fields))
return 1
`)

// resolveScript removes an open alert and writes its resolved event.
//
// KEYS[1] alert, KEYS[2] open alerts set, KEYS[3] outbox stream
// ARGV[1] alert id, ARGV[2...] outbox field, value pairs
// Returns 1 resolved, 0 not open.
var resolveScript = redis.NewScript(`
if redis.call('DEL', KEYS[1]) == 0 then
  return 0
end
redis.call('SREM', KEYS[2], ARGV[1])
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[3], '*', unpack(fields))
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
func (m *BacklogMonitor) Start(ctx context.Context) {
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
	keys := []string{s.alertKey(systemShard, BacklogAlertID), s.openAlertsKey(systemShard), m.p.Outbox.Key(systemShard)}
	now := m.p.Now()
	switch {
	case depth > m.p.Threshold:
		a := Alert{ID: BacklogAlertID, Stage: "outbox_backlog", Level: 1, LevelName: "operations",
			Severity: "warning", State: "open", Priority: 1, DueAt: now, RaisedAt: now}
		ev, data, err := m.event(a, queue.TypeAlertRaised, now)
		if err != nil {
			return err
		}
		n, err := raiseScript.Run(ctx, m.p.Redis, keys, append([]any{a.ID, data}, ev.Values()...)...).Int()
		if err != nil {
			return fmt.Errorf("raise backlog alert: %w", err)
		}
		if n == 1 {
			m.p.Logger.Error().Int64("depth", depth).Int64("threshold", m.p.Threshold).
				Msg("outbox backlog past the threshold: Kafka is down or slow; events are kept and wait in Redis")
		}
	case depth < m.p.Threshold/2:
		a, err := s.Alert(ctx, systemShard, BacklogAlertID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		a.State = "resolved"
		ev, _, err := m.event(*a, queue.TypeAlertResolved, now)
		if err != nil {
			return err
		}
		n, err := resolveScript.Run(ctx, m.p.Redis, keys, append([]any{a.ID}, ev.Values()...)...).Int()
		if err != nil {
			return fmt.Errorf("resolve backlog alert: %w", err)
		}
		if n == 1 {
			m.p.Logger.Info().Int64("depth", depth).Msg("outbox backlog cleared")
		}
	}
	return nil
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
