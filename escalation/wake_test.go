package escalation

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// sleepClock is a fake clock the scheduler also sleeps on: its sleeps end
// only when the test moves the clock past them.
type sleepClock struct {
	fakeClock
	smu    sync.Mutex
	sleeps map[*clockSleep]struct{}
}

type clockSleep struct {
	at time.Time
	c  chan time.Time
}

func newSleepClock(t0 time.Time) *sleepClock {
	c := &sleepClock{sleeps: map[*clockSleep]struct{}{}}
	c.Set(t0)
	return c
}

func (c *sleepClock) after(d time.Duration) (<-chan time.Time, func()) {
	sl := &clockSleep{at: c.Now().Add(d), c: make(chan time.Time, 1)}
	c.smu.Lock()
	c.sleeps[sl] = struct{}{}
	c.smu.Unlock()
	return sl.c, func() {
		c.smu.Lock()
		delete(c.sleeps, sl)
		c.smu.Unlock()
	}
}

// advance moves the clock to t and ends the sleeps due by then.
func (c *sleepClock) advance(t time.Time) {
	c.Set(t)
	c.smu.Lock()
	defer c.smu.Unlock()
	for sl := range c.sleeps {
		if !sl.at.After(t) {
			sl.c <- t
			delete(c.sleeps, sl)
		}
	}
}

// sleepingUntil reports whether someone sleeps until exactly at.
func (c *sleepClock) sleepingUntil(at time.Time) bool {
	c.smu.Lock()
	defer c.smu.Unlock()
	for sl := range c.sleeps {
		if sl.at.Equal(at) {
			return true
		}
	}
	return false
}

// eventually waits for cond, failing the test after a generous 10 s (the
// goroutines only need to be scheduled; nothing here is timed).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startSleepScheduler(t *testing.T, s *Store, clock *sleepClock, poll time.Duration) *Scheduler {
	t.Helper()
	sched, err := NewScheduler(SchedulerParams{Store: s, Interval: poll, Lease: 30 * time.Second,
		AlertsTopic: "hotline.alerts", Source: "/t", Now: clock.Now, Logger: zerolog.Nop(), after: clock.after})
	if err != nil {
		t.Fatal(err)
	}
	sched.Start(context.Background())
	t.Cleanup(func() {
		if err := sched.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return sched
}

// TestWakeUpFiresEarlierTimerOnTime: with the safety poll a day long, a
// timer added earlier than every timer the scheduler knows of (in a shard
// with a later timer, and in an empty shard) wakes it, and it fires at its
// due time on the injected clock.
func TestWakeUpFiresEarlierTimerOnTime(t *testing.T) {
	s, rdb, outbox := newTestStore(t, 2)
	ctx := context.Background()
	t0 := time.UnixMilli(1_800_000_000_000)
	clock := newSleepClock(t0)
	far := Timer{ID: "WO-1/register", WorkOrderID: "WO-1", Shard: 0, Stage: "register", Due: t0.Add(time.Hour)}
	addTimers(t, s, rdb, far)
	startSleepScheduler(t, s, clock, 24*time.Hour)

	// After its first claim the scheduler sleeps until the earliest timer.
	eventually(t, "a sleep until the far timer", func() bool { return clock.sleepingUntil(far.Due) })

	empty := Timer{ID: "WO-2/register", WorkOrderID: "WO-2", Shard: 1, Stage: "register", Due: t0.Add(20 * time.Second)}
	addTimers(t, s, rdb, empty)
	eventually(t, "a sleep until the timer of the empty shard", func() bool { return clock.sleepingUntil(empty.Due) })

	near := Timer{ID: "WO-3/register", WorkOrderID: "WO-3", Shard: 0, Stage: "register", Due: t0.Add(10 * time.Second)}
	addTimers(t, s, rdb, near)
	eventually(t, "a sleep until the near timer", func() bool { return clock.sleepingUntil(near.Due) })

	clock.advance(near.Due)
	eventually(t, "the near timer's alert", func() bool { n, _ := outbox.Depth(ctx, rdb); return n == 1 })
	a, err := s.Alert(ctx, 0, breachAlert(near, near.Due).ID)
	if err != nil {
		t.Fatal(err)
	}
	if !a.RaisedAt.Equal(near.Due) {
		t.Errorf("near timer raised at %v, due %v", a.RaisedAt, near.Due)
	}
	eventually(t, "a sleep until the next timer", func() bool { return clock.sleepingUntil(empty.Due) })
	clock.advance(empty.Due)
	eventually(t, "the empty shard's timer's alert", func() bool { n, _ := outbox.Depth(ctx, rdb); return n == 2 })
	if p, _ := s.Pending(ctx, 0, far.ID); !p[far.ID].Equal(far.Due) {
		t.Errorf("far timer pending = %v, want it untouched at %v", p, far.Due)
	}
}

// TestSafetyPollFiresUnannouncedTimer: a timer written without a wake-up
// (by a writer of the old layout, or while the subscription was down) fires
// at the safety poll.
func TestSafetyPollFiresUnannouncedTimer(t *testing.T) {
	s, rdb, outbox := newTestStore(t, 1)
	ctx := context.Background()
	t0 := time.UnixMilli(1_800_000_000_000)
	clock := newSleepClock(t0)
	startSleepScheduler(t, s, clock, time.Minute)
	eventually(t, "a sleep until the safety poll", func() bool { return clock.sleepingUntil(t0.Add(time.Minute)) })

	silent := Timer{ID: "WO-1/register", WorkOrderID: "WO-1", Stage: "register", Due: t0.Add(10 * time.Second)}
	data, err := encodeTimer(silent)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.ZAdd(ctx, s.timersKey(0), redis.Z{Score: float64(silent.Due.UnixMilli()), Member: silent.ID})
		pipe.HSet(ctx, s.dataKey(0), silent.ID, data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	clock.advance(silent.Due)
	if n, _ := outbox.Depth(ctx, rdb); n != 0 {
		t.Fatalf("fired without a wake-up or a poll: %d events", n)
	}
	clock.advance(t0.Add(time.Minute))
	eventually(t, "the unannounced timer's alert", func() bool { n, _ := outbox.Depth(ctx, rdb); return n == 1 })
}

// TestWakeUpOnRealClock: on the real clock with an hour's safety poll, a
// timer due shortly fires shortly.
func TestWakeUpOnRealClock(t *testing.T) {
	s, rdb, outbox := newTestStore(t, 2)
	ctx := context.Background()
	now := time.Now()
	addTimers(t, s, rdb, Timer{ID: "WO-1/register", WorkOrderID: "WO-1", Stage: "register", Due: now.Add(time.Hour)})
	sched, err := NewScheduler(SchedulerParams{Store: s, Interval: time.Hour, Lease: 30 * time.Second,
		AlertsTopic: "hotline.alerts", Source: "/t", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	sched.Start(ctx)
	defer func() { _ = sched.Shutdown(ctx) }()
	eventually(t, "the first claim", func() bool { return sched.next() == now.Add(time.Hour).UnixMilli() })

	near := Timer{ID: "WO-2/register", WorkOrderID: "WO-2", Shard: 1, Stage: "register", Due: time.Now().Add(100 * time.Millisecond)}
	addTimers(t, s, rdb, near)
	eventually(t, "the near timer's alert", func() bool { n, _ := outbox.Depth(ctx, rdb); return n == 1 })
	a, err := s.Alert(ctx, 1, breachAlert(near, near.Due).ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fired %v after its due time", a.RaisedAt.Sub(near.Due))
}

// TestAddPublishesOnlyEarlierTimers: Add publishes a timer's due time on
// its shard's wake channel only when no timer of the shard is due sooner.
func TestAddPublishesOnlyEarlierTimers(t *testing.T) {
	s, rdb, _ := newTestStore(t, 1)
	ctx := context.Background()
	ps := rdb.Subscribe(ctx, s.WakeChannel(0))
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.UnixMilli(1_800_000_000_000)
	timer := func(id string, due time.Time) Timer {
		return Timer{ID: id, WorkOrderID: "WO-1", Stage: id, Due: due}
	}
	addTimers(t, s, rdb, timer("a", t0.Add(time.Hour)))                                    // first of the shard: published
	addTimers(t, s, rdb, timer("b", t0.Add(2*time.Hour)))                                  // later: silent
	addTimers(t, s, rdb, timer("c", t0.Add(time.Minute)), timer("d", t0.Add(time.Second))) // earlier: the earliest of them
	for _, want := range []time.Time{t0.Add(time.Hour), t0.Add(time.Second)} {
		m, err := ps.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Payload != formatMs(want) {
			t.Errorf("wake-up %s, want %s", m.Payload, formatMs(want))
		}
	}
}

func formatMs(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
