package escalation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
)

func newTestStore(t *testing.T, shards int) (*Store, *redis.Client, *queue.Outbox) {
	t.Helper()
	r := testenv.StartRedis(t)
	outbox := queue.NewOutbox("t", shards)
	return NewStore(r.Client, "t", shards, outbox, WithAlertEvents("/t", "hotline.alerts")), r.Client, outbox
}

func addTimers(t *testing.T, s *Store, rdb *redis.Client, timers ...Timer) {
	t.Helper()
	ctx := context.Background()
	_, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error { return s.Add(ctx, pipe, timers...) })
	if err != nil {
		t.Fatal(err)
	}
}

func event(id string) queue.Event {
	return queue.Event{ID: id, Type: queue.TypeAlertRaised, Source: "/t", Subject: "WO", Time: time.Unix(0, 0),
		Key: "k", Topics: []string{"hotline.alerts"}, Data: []byte(`{}`)}
}

func TestClaimLeaseAndFire(t *testing.T) {
	s, rdb, outbox := newTestStore(t, 1)
	ctx := context.Background()
	t0 := time.UnixMilli(1_800_000_000_000)
	due := Timer{ID: "WO-1/register", WorkOrderID: "WO-1", Stage: "register", Due: t0}
	later := Timer{ID: "WO-1/resolve", WorkOrderID: "WO-1", Stage: "resolve", Due: t0.Add(time.Hour)}
	addTimers(t, s, rdb, due, later)

	claims, err := s.Claim(ctx, 0, t0, 30*time.Second, 10)
	if err != nil || len(claims) != 1 || claims[0].ID != due.ID || !claims[0].Due.Equal(t0) {
		t.Fatalf("first claim = %+v, %v", claims, err)
	}
	// Held: nobody else gets it before the lease ends.
	if again, _ := s.Claim(ctx, 0, t0.Add(29*time.Second), 30*time.Second, 10); len(again) != 0 {
		t.Fatalf("claimed during the lease: %+v", again)
	}
	// The holder died: after the lease the timer comes back to another claimer.
	second, err := s.Claim(ctx, 0, t0.Add(31*time.Second), 30*time.Second, 10)
	if err != nil || len(second) != 1 {
		t.Fatalf("claim after lease = %+v, %v", second, err)
	}
	// The first holder wakes up late: its lease is gone.
	if _, err := s.Fire(ctx, claims[0], breachAlert(due, t0), event("x")); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("fire with an expired lease = %v, want ErrLeaseLost", err)
	}
	fired, err := s.Fire(ctx, second[0], breachAlert(due, t0.Add(31*time.Second)), event("e"))
	if err != nil || !fired {
		t.Fatalf("fire = %v, %v", fired, err)
	}
	if n, _ := outbox.Depth(ctx, rdb); n != 1 {
		t.Errorf("outbox depth %d, want 1", n)
	}
	a, err := s.Alert(ctx, 0, "AL-WO-1-register-breach")
	if err != nil || a.State != "open" || a.Stage != "register" {
		t.Errorf("alert = %+v, %v", a, err)
	}
	pending, _ := s.Pending(ctx, 0, due.ID, later.ID)
	if _, ok := pending[due.ID]; ok || len(pending) != 1 {
		t.Errorf("pending after fire = %v, want only the later timer", pending)
	}
}

func TestFireRecordsAnAlertOnce(t *testing.T) {
	s, rdb, outbox := newTestStore(t, 1)
	ctx := context.Background()
	t0 := time.UnixMilli(1_800_000_000_000)
	tm := Timer{ID: "WO-2/register", WorkOrderID: "WO-2", Stage: "register", Due: t0}
	alert := breachAlert(tm, t0)
	for i := 0; i < 2; i++ { // the same timer scheduled twice (e.g. a replayed create)
		addTimers(t, s, rdb, tm)
		claims, err := s.Claim(ctx, 0, t0.Add(time.Duration(i)*time.Minute), time.Second, 10)
		if err != nil || len(claims) != 1 {
			t.Fatalf("claim %d = %+v, %v", i, claims, err)
		}
		fired, err := s.Fire(ctx, claims[0], alert, event(fmt.Sprint(i)))
		if err != nil || fired != (i == 0) {
			t.Fatalf("fire %d = %v, %v", i, fired, err)
		}
	}
	if n, _ := outbox.Depth(ctx, rdb); n != 1 {
		t.Errorf("outbox depth %d, want 1: the alert event is written once", n)
	}
}

// Two schedulers on 10,000 due timers: every alert is raised exactly once.
func TestTwoSchedulersFireEachTimerOnce(t *testing.T) {
	const n = 10_000
	s, rdb, outbox := newTestStore(t, 4)
	ctx := context.Background()
	t0 := time.Now().Add(-time.Minute)
	timers := make([]Timer, n)
	for i := range timers {
		timers[i] = Timer{ID: fmt.Sprintf("WO-%d/register", i), WorkOrderID: fmt.Sprintf("WO-%d", i),
			Stage: "register", Due: t0, Shard: i % 4}
	}
	for i := 0; i < n; i += 1000 {
		addTimers(t, s, rdb, timers[i:i+1000]...)
	}
	var wg sync.WaitGroup
	var raised atomic.Int64
	for w := 0; w < 2; w++ {
		sched, err := NewScheduler(SchedulerParams{Store: s, Interval: time.Millisecond, Lease: time.Minute,
			AlertsTopic: "hotline.alerts", Source: "/t", BatchSize: 50})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sched.Tick(ctx)
		}()
	}
	wg.Wait()
	for shard := 0; shard < 4; shard++ {
		raised.Add(rdb.SCard(ctx, s.openAlertsKey(shard)).Val())
		if left := rdb.ZCard(ctx, s.timersKey(shard)).Val(); left != 0 {
			t.Errorf("shard %d: %d timers left", shard, left)
		}
	}
	if raised.Load() != n {
		t.Errorf("alerts raised %d, want %d", raised.Load(), n)
	}
	if depth, _ := outbox.Depth(ctx, rdb); depth != n {
		t.Errorf("alert events in the outbox %d, want %d", depth, n)
	}
}
