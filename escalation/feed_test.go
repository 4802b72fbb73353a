package escalation

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
)

// feedEnv raises breach alerts of the old form, n at a time.
type feedEnv struct {
	t     *testing.T
	s     *Store
	rdb   *redis.Client
	sched *Scheduler
	feed  *Feed
	n     int
}

func newFeedEnv(t *testing.T, buffer int, opts ...StoreOption) *feedEnv {
	t.Helper()
	r := testenv.StartRedis(t)
	s := NewStore(r.Client, "t", 3, queue.NewOutbox("t", 3), append([]StoreOption{WithAlertEvents("/t", "a")}, opts...)...)
	sched, err := NewScheduler(SchedulerParams{Store: s, Interval: time.Second, Lease: time.Minute,
		AlertsTopic: "a", BatchSize: 1000, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	feed, err := NewFeed(FeedParams{Store: s, Interval: 5 * time.Millisecond, Buffer: buffer, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := feed.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = feed.Shutdown(context.Background()) })
	return &feedEnv{t: t, s: s, rdb: r.Client, sched: sched, feed: feed}
}

func (e *feedEnv) raise(n int) {
	e.t.Helper()
	var timers []Timer
	for i := 0; i < n; i++ {
		e.n++
		wo := fmt.Sprintf("WO-20261123-GD-%06d", e.n)
		timers = append(timers, Timer{ID: TimerID(wo, "register"), WorkOrderID: wo, Stage: "register",
			Due: time.Now().Add(-time.Second), Shard: e.n % 3})
	}
	addTimers(e.t, e.s, e.rdb, timers...)
	e.sched.Tick(context.Background())
}

func next(t *testing.T, sub *Subscription) FeedEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestFeedCatchUpAndLive(t *testing.T) {
	e := newFeedEnv(t, 1024)
	sub, err := e.feed.Subscribe(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	e.raise(9)
	var ids []string
	for i := 0; i < 9; i++ {
		ids = append(ids, next(t, sub).ID)
	}
	sub.Close()
	if _, err := sub.Next(context.Background()); !errors.Is(err, ErrFeedStopped) {
		t.Errorf("next after close: %v", err)
	}
	e.raise(4)
	// From the 5th event: the 4 after it, then the 4 raised meanwhile.
	again, err := e.feed.Subscribe(context.Background(), ids[4])
	if err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 9; i++ {
		if ev := next(t, again); ev.ID != ids[i] {
			t.Errorf("replayed event %d has id %s, want %s", i, ev.ID, ids[i])
		}
	}
	for i := 0; i < 4; i++ {
		next(t, again)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if ev, err := again.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("more than was missed: %+v %v", ev, err)
	}
}

func TestFeedDropsSlowSubscriber(t *testing.T) {
	e := newFeedEnv(t, 16)
	slow, _ := e.feed.Subscribe(context.Background(), "")
	fast, _ := e.feed.Subscribe(context.Background(), "")
	got := make(chan int)
	go func() {
		n := 0
		for ; n < 60; n++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := fast.Next(ctx)
			cancel()
			if err != nil {
				break
			}
		}
		got <- n
	}()
	for i := 0; i < 6; i++ {
		e.raise(10) // bursts within the buffer
		time.Sleep(20 * time.Millisecond)
	}
	if n := <-got; n != 60 {
		t.Errorf("the reading subscriber got %d of 60", n)
	}
	drained := 0
	for {
		_, err := slow.Next(context.Background())
		if errors.Is(err, ErrSlowSubscriber) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		drained++
	}
	if drained != 16 || e.feed.Subscribers() != 1 {
		t.Errorf("slow subscriber: %d buffered events, %d subscribers left", drained, e.feed.Subscribers())
	}
}

// A Last-Event-ID older than what the bounded stream still holds, or not
// of this feed, gets a reset.
func TestFeedResetWhenTrimmed(t *testing.T) {
	e := newFeedEnv(t, 4096, WithFeedLength(10))
	sub, _ := e.feed.Subscribe(context.Background(), "")
	e.raise(3)
	early := next(t, sub).ID
	sub.Close()
	e.raise(900) // MAXLEN ~ 10 trims whole nodes of 100 entries
	again, err := e.feed.Subscribe(context.Background(), early)
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, again); ev.Type != FeedReset || ev.ID == "" {
		t.Errorf("first event %+v, want a reset", ev)
	}
	for _, bad := range []string{"x", "1-0,2-0", "1-0,2-0,3-x"} {
		s, err := e.feed.Subscribe(context.Background(), bad)
		if err != nil {
			t.Fatal(err)
		}
		if ev := next(t, s); ev.Type != FeedReset {
			t.Errorf("Last-Event-ID %q: %+v", bad, ev)
		}
	}
	if err := e.feed.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.feed.Subscribe(context.Background(), ""); !errors.Is(err, ErrFeedStopped) {
		t.Errorf("subscribe after shutdown: %v", err)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	c := []streamID{{1773040000123, 0}, {0, 0}, {1773040000124, 7}}
	s := encodeCursor(c)
	if s != "1773040000123-0,0-0,1773040000124-7" {
		t.Errorf("encode %s", s)
	}
	back, ok := parseCursor(s, 3)
	if !ok || fmt.Sprint(back) != fmt.Sprint(c) {
		t.Errorf("parse %v %v", back, ok)
	}
	if _, ok := parseCursor(s, 4); ok {
		t.Error("a cursor of another shard count parsed")
	}
}

// Starting and stopping the feed and the scheduler leaves no goroutine
// behind.
func TestFeedAndSchedulerStopCleanly(t *testing.T) {
	e := newFeedEnv(t, 16)
	e.raise(1) // warm the connection pool
	if err := e.feed.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	for i := 0; i < 3; i++ {
		feed, err := NewFeed(FeedParams{Store: e.s, Interval: time.Millisecond, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		if err := feed.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		sub, _ := feed.Subscribe(context.Background(), "")
		sched, _ := NewScheduler(SchedulerParams{Store: e.s, Interval: time.Millisecond, Lease: time.Second,
			AlertsTopic: "a", Logger: zerolog.Nop()})
		sched.Start(context.Background())
		e.raise(5)
		time.Sleep(20 * time.Millisecond)
		if err := sched.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := feed.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.Next(context.Background()); err != nil && !errors.Is(err, ErrFeedStopped) {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Errorf("goroutines: %d after, %d before", n, base)
	}
}
