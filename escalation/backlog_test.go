package escalation

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
)

func TestBacklogAlertRaisedOnceAndResolved(t *testing.T) {
	s, rdb, outbox := newTestStore(t, 2)
	ctx := context.Background()
	m, err := NewBacklogMonitor(BacklogParams{Store: s, Redis: rdb, Outbox: outbox, Threshold: 10,
		Interval: time.Second, Source: "/t", AlertsTopic: "hotline.alerts", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	fill := func(n int) {
		for i := 0; i < n; i++ {
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: outbox.Key(1), Values: event("x").Values()}).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill(10)
	if err := m.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Alert(ctx, systemShard, BacklogAlertID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("alert at the threshold: %v", err)
	}
	fill(1)
	for i := 0; i < 3; i++ { // several checks, several daemons: one alert, one event
		if err := m.Check(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a, err := s.Alert(ctx, systemShard, BacklogAlertID)
	if err != nil || a.State != "open" || a.Severity != "warning" {
		t.Fatalf("alert = %+v, %v", a, err)
	}
	if n := rdb.XLen(ctx, outbox.Key(systemShard)).Val(); n != 1 {
		t.Errorf("raised events in the outbox: %d, want 1", n)
	}
	// Kafka is back and the relay drains: under half the threshold resolves it.
	rdb.Del(ctx, outbox.Key(1))
	if err := m.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if a, err := s.Alert(ctx, systemShard, BacklogAlertID); err != nil || a.State != StateResolved || a.ResolvedAt.IsZero() {
		t.Errorf("alert after drain: %+v, %v", a, err)
	}
	if err := m.Check(ctx); err != nil { // resolved once
		t.Fatal(err)
	}
	if n := rdb.XLen(ctx, outbox.Key(systemShard)).Val(); n != 2 {
		t.Errorf("events in the outbox: %d, want raised + resolved", n)
	}
	if rdb.SIsMember(ctx, s.openAlertsKey(systemShard), BacklogAlertID).Val() {
		t.Error("alert still listed as open")
	}
	// The feed got both changes, for the SSE clients.
	if n := rdb.XLen(ctx, s.FeedKey(systemShard)).Val(); n != 2 {
		t.Errorf("feed entries: %d, want raised + resolved", n)
	}
	// Kafka down again: a new episode is a new raise of the same alert.
	fill(11)
	if err := m.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if a, err := s.Alert(ctx, systemShard, BacklogAlertID); err != nil || a.State != StateOpen {
		t.Errorf("alert of the second episode: %+v, %v", a, err)
	}
	if n := rdb.XLen(ctx, outbox.Key(systemShard)).Val(); n != 3 {
		t.Errorf("events in the outbox: %d, want 3", n)
	}
	schemas := testenv.LoadSchemas(t)
	for _, m := range rdb.XRange(ctx, outbox.Key(systemShard), "-", "+").Val() {
		ev, err := queue.EventFromValues(m.Values)
		if err != nil {
			t.Fatal(err)
		}
		if err := schemas.Validate(ev.Type, ev.Data); err != nil {
			t.Errorf("%s: %v", ev.Type, err)
		}
	}
}

// The backlog alert names its cause from what the relays leave in Redis: a
// Kafka error recorded by the lease holder, no lease at all, or a lease
// whose holder publishes nothing.
func TestBacklogCause(t *testing.T) {
	s, rdb, outbox := newTestStore(t, 2)
	ctx := context.Background()
	m, err := NewBacklogMonitor(BacklogParams{Store: s, Redis: rdb, Outbox: outbox, Threshold: 1,
		Interval: time.Second, Source: "/t", AlertsTopic: "hotline.alerts", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		rdb.XAdd(ctx, &redis.XAddArgs{Stream: outbox.Key(1), Values: event("x").Values()})
	}
	for _, tc := range []struct {
		lease, kafkaErr, want string
	}{
		{"", "", CauseNoRelay},
		{"daemon-b#7", "", CauseRelayStalled},
		{"daemon-b#7", "dial tcp 10.0.0.9:9092: i/o timeout", CauseKafkaUnreachable},
	} {
		rdb.Del(ctx, outbox.LeaseKey(1), outbox.KafkaErrorKey(1))
		if tc.lease != "" {
			rdb.Set(ctx, outbox.LeaseKey(1), tc.lease, time.Minute)
		}
		if tc.kafkaErr != "" {
			rdb.Set(ctx, outbox.KafkaErrorKey(1), tc.kafkaErr, time.Minute)
		}
		got, detail, err := m.cause(ctx)
		if err != nil || got != tc.want {
			t.Errorf("lease %q, kafka error %q: cause %q (%s), %v; want %q", tc.lease, tc.kafkaErr, got, detail, err, tc.want)
		}
	}
	if err := m.Check(ctx); err != nil {
		t.Fatal(err)
	}
	a, err := s.Alert(ctx, systemShard, BacklogAlertID)
	if err != nil || a.Cause != CauseKafkaUnreachable || !strings.Contains(a.Detail, "i/o timeout") {
		t.Errorf("alert = %+v, %v", a, err)
	}
}
