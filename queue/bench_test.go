package queue_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
)

// BenchmarkOutbox measures events from their commit (a MULTI with XADD, as
// an order's creation does) to Kafka's acknowledgement through the relay,
// against redis-server and kfake, at 100/s, 1,000/s and as fast as 16
// committers go. It reports throughput and p50/p99/max latency.
//
//	make bench-queue
func BenchmarkOutbox(b *testing.B) {
	r := testenv.StartRedis(b)
	cluster := testenv.StartKafka(b)
	const shards = 8
	outbox := queue.NewOutbox("bench", shards)
	writer := &kafka.Writer{Addr: kafka.TCP(cluster.ListenAddrs()...), Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchSize: 1000,
		Compression: kafka.Lz4, AllowAutoTopicCreation: true}
	b.Cleanup(func() { writer.Close() })

	for _, rate := range []int{100, 1000, 0} {
		name := fmt.Sprintf("rate=%d", rate)
		if rate == 0 {
			name = "rate=max"
		}
		b.Run(name, func(b *testing.B) {
			r.Flush(b)
			var (
				mu        sync.Mutex
				latencies []time.Duration
				lastAck   time.Time
				measuring bool
				all       = make(chan struct{})
			)
			relay, err := queue.NewRelay(queue.RelayParams{Redis: r.Client, Outbox: outbox, Publisher: writer,
				Logger: zerolog.Nop(), Consumer: "bench", Block: 100 * time.Millisecond,
				OnPublished: func(events []queue.Event, acked time.Time) {
					mu.Lock()
					defer mu.Unlock()
					if !measuring {
						return
					}
					for _, e := range events {
						latencies = append(latencies, acked.Sub(e.Time))
					}
					lastAck = acked
					if len(latencies) == b.N {
						close(all)
					}
				}})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := relay.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer func() {
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				_ = relay.Shutdown(sctx)
			}()
			// Warm up: topic creation and connections are not what we measure.
			commit(b, r.Client, outbox, 0, "warm-up")
			waitEmpty(b, r.Client, outbox)
			mu.Lock()
			measuring = true
			mu.Unlock()

			b.ResetTimer()
			start := time.Now()
			if rate > 0 {
				for i := 0; i < b.N; i++ {
					if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
						time.Sleep(d)
					}
					commit(b, r.Client, outbox, i, "")
				}
			} else {
				var wg sync.WaitGroup
				next := make(chan int)
				for w := 0; w < 16; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range next {
							commit(b, r.Client, outbox, i, "")
						}
					}()
				}
				for i := 0; i < b.N; i++ {
					next <- i
				}
				close(next)
				wg.Wait()
			}
			select {
			case <-all:
			case <-time.After(2 * time.Minute):
				b.Fatalf("only %d of %d events acknowledged", len(latencies), b.N)
			}
			b.StopTimer()
			mu.Lock()
			defer mu.Unlock()
			slices.Sort(latencies)
			q := func(p float64) float64 {
				return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
			}
			b.ReportMetric(float64(b.N)/lastAck.Sub(start).Seconds(), "events/s")
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(float64(latencies[len(latencies)-1].Microseconds())/1000, "max-ms")
		})
	}
}

// BenchmarkDirectPublish is the baseline the outbox is measured against:
// the same events written straight to Kafka by 16 callers, each waiting
// for the acknowledgement as a call handler would without an outbox.
func BenchmarkDirectPublish(b *testing.B) {
	cluster := testenv.StartKafka(b)
	writer := &kafka.Writer{Addr: kafka.TCP(cluster.ListenAddrs()...), Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchSize: 1000,
		Compression: kafka.Lz4, AllowAutoTopicCreation: true}
	b.Cleanup(func() { writer.Close() })
	ctx := context.Background()
	msg := func(i int) kafka.Message {
		e := queue.Event{ID: fmt.Sprint(i), Type: queue.TypeWorkOrderCreated, Source: "/bench", Subject: "WO",
			Time: time.Now(), Key: fmt.Sprintf("1890000%04d", i%1000), Topics: []string{"bench.direct"},
			Data: []byte(`{"id":"WO-1","class":"complaint"}`)}
		return e.Messages()[0]
	}
	if err := writer.WriteMessages(ctx, msg(0)); err != nil { // warm-up: topic creation
		b.Fatal(err)
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		wg        sync.WaitGroup
		next      = make(chan int)
	)
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				if err := writer.WriteMessages(ctx, msg(i)); err != nil {
					b.Error(err)
				}
				mu.Lock()
				latencies = append(latencies, time.Since(t0))
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	q := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

func commit(b *testing.B, rdb *redis.Client, outbox *queue.Outbox, i int, id string) {
	ctx := context.Background()
	key := fmt.Sprintf("1890000%04d", i%1000)
	if id == "" {
		id = fmt.Sprint(i)
	}
	e := queue.Event{ID: id, Type: queue.TypeWorkOrderCreated, Source: "/bench", Subject: "WO-" + id,
		Time: time.Now(), Key: key, Topics: []string{"bench.orders"}, Data: []byte(`{"id":"WO-` + id + `","class":"complaint"}`)}
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		outbox.Add(ctx, p, i%outbox.Len(), e)
		return nil
	}); err != nil {
		b.Error(err)
	}
}

func waitEmpty(b *testing.B, rdb *redis.Client, outbox *queue.Outbox) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if n, _ := outbox.Depth(context.Background(), rdb); n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatal("warm-up event not published")
}
