package escalation

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
)

// Sizes of BenchmarkTimerFiring: 1,000,000 live timers, of which the last
// rate*window come due at rate per second.
const (
	benchTimers = 1_000_000
	benchRate   = 10_000
	benchWindow = 20 * time.Second
	benchShards = 8
)

// BenchmarkTimerFiring loads 1,000,000 live timers into a real
// redis-server and reports Redis memory per timer and the firing lag (the
// outbox entry's commit time, from its stream id, minus the due time)
// p50/p99/max while 10,000 timers a second come due for 20 seconds. It
// measures, in the same run and on the same Redis:
//
//   - design=zset-wake: this package: per-shard sorted sets by due time,
//     claimed by a script with a lease when the earliest known timer comes
//     due (each claim reads the shard's earliest; the shard's wake channel
//     tells of earlier ones), with a 5 s safety poll, fired by a pipeline
//     of scripts that raise the alert and move the timer to its next step;
//   - design=zset-poll-100ms: the same store and scheduler with wake-ups
//     off, claiming every shard every 100 ms (the scheduler before
//     wake-ups, at the default escalation.poll_interval);
//   - design=scan-1s: the polling baseline: every timer's due time in a
//     hash, scanned whole once a second (HSCAN), due ones fired (alert and
//     outbox entry, timer removed).
//
// Not a timed benchmark: run it once.
//
//	make bench-escalation
func BenchmarkTimerFiring(b *testing.B) {
	r := testenv.StartRedis(b)
	b.Run("design=zset-wake", func(b *testing.B) { benchZsetClaim(b, r, 5*time.Second, false) })
	b.Run("design=zset-poll-100ms", func(b *testing.B) { benchZsetClaim(b, r, 100*time.Millisecond, true) })
	b.Run("design=scan-1s", func(b *testing.B) { benchScan(b, r) })
}

// benchTimer is a planned timer at the first warning of a complaint's
// register stage (2h, so due an hour after its start), as Plan makes them.
func benchTimer(i int, due time.Time) Timer {
	wo := fmt.Sprintf("WO-20261123-GD-%07d", i)
	since := due.Add(-time.Hour)
	return Timer{ID: TimerID(wo, "register"), WorkOrderID: wo, Shard: i % benchShards, Stage: "register", Due: due,
		Key: fmt.Sprintf("189%08d", i), Class: "complaint", Tier: "province", Province: "GD", Priority: 2,
		SLA: &StageState{Policy: "complaint", Run: 1, Start: since, Since: since}}
}

// benchDue spreads the timers: the first ones days away, the last
// rate*window of them at rate per second from t0.
func benchDue(i int, t0 time.Time) time.Time {
	due := benchTimers - benchRate*int(benchWindow/time.Second)
	if i < due {
		return t0.Add(72*time.Hour + time.Duration(i)*time.Millisecond)
	}
	return t0.Add(time.Duration(i-due) * time.Second / benchRate)
}

func usedMemory(b *testing.B, rdb *redis.Client) int64 {
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory in INFO")
	return 0
}

// load writes the timers in pipelines, shard by shard interleaved; add
// queues one timer. It returns t0, the start of the due window, chosen once
// the far timers are in so that loading the rest ends before it.
func load(b *testing.B, rdb *redis.Client, add func(pipe redis.Pipeliner, t Timer) error) time.Time {
	ctx := context.Background()
	far := benchTimers - benchRate*int(benchWindow/time.Second)
	write := func(from, to int, t0 time.Time) {
		const batch = 5000
		for i := from; i < to; i += batch {
			_, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
				for j := i; j < min(i+batch, to); j++ {
					if err := add(pipe, benchTimer(j, benchDue(j, t0))); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	start := time.Now()
	write(0, far, start)
	perTimer := time.Since(start) / time.Duration(far)
	t0 := time.Now().Add(time.Duration(benchTimers-far)*perTimer*2 + 2*time.Second)
	write(far, benchTimers, t0)
	if time.Now().After(t0) {
		b.Fatalf("loading ran into the due window")
	}
	return t0
}

// lags reads the outbox and returns each event's commit time (stream id)
// minus the due time of its alert.
func lags(b *testing.B, rdb *redis.Client, outbox *queue.Outbox) []time.Duration {
	ctx := context.Background()
	var out []time.Duration
	for _, key := range outbox.Keys() {
		start := "-"
		for {
			msgs, err := rdb.XRangeN(ctx, key, start, "+", 10_000).Result()
			if err != nil {
				b.Fatal(err)
			}
			for _, m := range msgs {
				id, _ := parseStreamID(m.ID)
				var a struct {
					DueAt time.Time `json:"due_at"`
				}
				data, _ := m.Values["data"].(string)
				if err := json.Unmarshal([]byte(data), &a); err != nil {
					b.Fatal(err)
				}
				out = append(out, time.UnixMilli(int64(id.ms)).Sub(a.DueAt))
			}
			if len(msgs) < 10_000 {
				break
			}
			start = "(" + msgs[len(msgs)-1].ID
		}
	}
	slices.Sort(out)
	return out
}

func report(b *testing.B, bytesPerTimer float64, l []time.Duration) {
	want := benchRate * int(benchWindow/time.Second)
	if len(l) != want {
		b.Errorf("%d alerts raised, want %d", len(l), want)
	}
	if len(l) == 0 {
		return
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	q := func(p float64) time.Duration { return l[min(len(l)-1, int(p*float64(len(l))))] }
	b.ReportMetric(bytesPerTimer, "redis-bytes/timer")
	b.ReportMetric(ms(q(0.50)), "lag-p50-ms")
	b.ReportMetric(ms(q(0.99)), "lag-p99-ms")
	b.ReportMetric(ms(l[len(l)-1]), "lag-max-ms")
}

func waitOutbox(b *testing.B, rdb *redis.Client, outbox *queue.Outbox, deadline time.Time) {
	want := int64(benchRate * int(benchWindow/time.Second))
	for time.Now().Before(deadline) {
		if n, _ := outbox.Depth(context.Background(), rdb); n >= want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func benchZsetClaim(b *testing.B, r *testenv.Redis, poll time.Duration, pollOnly bool) {
	r.Flush(b)
	ctx := context.Background()
	rdb := r.Client
	policies := shippedPolicies(b)
	outbox := queue.NewOutbox("bench", benchShards)
	store := NewStore(rdb, "bench", benchShards, outbox, WithAlertEvents("/bench", "hotline.alerts"))
	before := usedMemory(b, rdb)
	t0 := load(b, rdb, func(pipe redis.Pipeliner, t Timer) error { return store.Add(ctx, pipe, t) })
	perTimer := float64(usedMemory(b, rdb)-before) / benchTimers

	sched, err := NewScheduler(SchedulerParams{Store: store, Interval: poll, Lease: 30 * time.Second,
		AlertsTopic: "hotline.alerts", Source: "/bench", Policies: policies, Logger: zerolog.Nop(), pollOnly: pollOnly})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	sched.Start(ctx)
	waitOutbox(b, rdb, outbox, t0.Add(benchWindow+time.Minute))
	if err := sched.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n := rdb.ZCard(ctx, store.timersKey(0)).Val(); n != benchTimers/benchShards {
		b.Errorf("shard 0 holds %d timers, want %d: fired timers move to their next step", n, benchTimers/benchShards)
	}
	report(b, perTimer, lags(b, rdb, outbox))
}

// benchScan is the baseline: due times in one hash scanned whole every
// second, timer data in another.
func benchScan(b *testing.B, r *testenv.Redis) {
	r.Flush(b)
	ctx := context.Background()
	rdb := r.Client
	outbox := queue.NewOutbox("poll", benchShards)
	dueKey, dataKey := "poll:due", "poll:data"
	before := usedMemory(b, rdb)
	t0 := load(b, rdb, func(pipe redis.Pipeliner, t Timer) error {
		data, err := json.Marshal(t)
		if err != nil {
			return err
		}
		pipe.HSet(ctx, dueKey, t.ID, t.Due.UnixMilli())
		pipe.HSet(ctx, dataKey, t.ID, data)
		return nil
	})
	perTimer := float64(usedMemory(b, rdb)-before) / benchTimers

	b.ResetTimer()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var passes []time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			start := time.Now()
			scanAndFire(b, rdb, outbox, dueKey, dataKey)
			passes = append(passes, time.Since(start))
		}
	}()
	waitOutbox(b, rdb, outbox, t0.Add(benchWindow+2*time.Minute))
	close(stop)
	wg.Wait()
	b.StopTimer()
	report(b, perTimer, lags(b, rdb, outbox))
	slices.Sort(passes)
	if len(passes) > 0 {
		b.ReportMetric(float64(passes[len(passes)/2].Milliseconds()), "scan-pass-p50-ms")
	}
}

// scanAndFire is one pass of the baseline: scan every due time, fire the
// due ones.
func scanAndFire(b *testing.B, rdb *redis.Client, outbox *queue.Outbox, dueKey, dataKey string) {
	ctx := context.Background()
	var cursor uint64
	now := time.Now().UnixMilli()
	for {
		kv, next, err := rdb.HScan(ctx, dueKey, cursor, "*", 2000).Result()
		if err != nil {
			b.Error(err)
			return
		}
		var due []string
		for i := 0; i+1 < len(kv); i += 2 {
			if ms, _ := strconv.ParseInt(kv[i+1], 10, 64); ms <= now {
				due = append(due, kv[i])
			}
		}
		if len(due) > 0 {
			fireScanned(b, rdb, outbox, dueKey, dataKey, due)
		}
		if cursor = next; cursor == 0 {
			return
		}
	}
}

// fireScanned raises the alerts of due timers: each removed, its alert
// recorded and its event written to the outbox, in one script each.
func fireScanned(b *testing.B, rdb *redis.Client, outbox *queue.Outbox, dueKey, dataKey string, ids []string) {
	ctx := context.Background()
	datas, err := rdb.HMGet(ctx, dataKey, ids...).Result()
	if err != nil {
		b.Error(err)
		return
	}
	now := time.Now()
	_, err = rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, id := range ids {
			raw, _ := datas[i].(string)
			var t Timer
			if err := json.Unmarshal([]byte(raw), &t); err != nil {
				return err
			}
			a := breachAlert(t, now)
			data, _ := json.Marshal(a)
			ev := queue.Event{ID: "alert-raised:" + a.ID, Type: queue.TypeAlertRaised, Source: "/bench", Subject: t.WorkOrderID,
				Time: now, Key: t.Key, Topics: []string{"hotline.alerts"}, Data: data}
			pipe.HDel(ctx, dueKey, id)
			pipe.HDel(ctx, dataKey, id)
			pipe.HSet(ctx, "poll:alerts", a.ID, data)
			outbox.Add(ctx, pipe, i%benchShards, ev)
		}
		return nil
	})
	if err != nil {
		b.Error(err)
	}
}
