package workorder_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
	"github.com/hotlined/hotlined/workorder"
)

// benchContact is the i-th contact of a hotline day: 35% bill queries, 15%
// consultations, 15% fault reports, 35% complaints (60% province tier, 25%
// group, 15% appeal) over 10 provinces and 3 subcategories, from 200,000
// customers, one in ten with a description that names the media or a
// regulator. Complaints read the customer's history and count in the group
// windows, so incidents are raised and joined during the run.
func benchContact(i int64) workorder.Intake {
	h := uint64(i)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	h ^= h >> 29
	pick := func(n uint64) uint64 { v := h % n; h /= n; return v }
	number := fmt.Sprintf("189%08d", pick(200000))
	provinces := []string{"GD", "BJ", "SH", "JS", "ZJ", "SC", "HB", "HN", "FJ", "SN"}
	in := workorder.Intake{CallID: fmt.Sprintf("bench-%d", i), Hotline: "10000", Tier: "province",
		Province: provinces[pick(10)], Caller: number, ServiceNumber: number}
	switch kind := pick(100); {
	case kind < 35:
		in.IVRPath, in.Leaf = "1", configs.Leaf{Category: "query", Subcategory: "billing", Transfer: "sip:billing@acd.hotline.invalid"}
	case kind < 50:
		in.IVRPath, in.Leaf = "2", configs.Leaf{Category: "consultation", Subcategory: "product", Transfer: "sip:product@acd.hotline.invalid"}
	case kind < 65:
		in.IVRPath, in.Leaf = "31", configs.Leaf{Category: "fault_report", Subcategory: "broadband", Transfer: "sip:fault@acd.hotline.invalid"}
	default:
		sub := []string{"billing", "network", "service"}[pick(3)]
		in.IVRPath, in.Leaf = "4", configs.Leaf{Category: "complaint", Subcategory: sub, Transfer: "sip:complaint@acd.hotline.invalid"}
		switch tier := pick(100); {
		case tier < 15:
			in.Tier, in.Hotline = "appeal", "12300"
		case tier < 40:
			in.Tier, in.Hotline = "group", "4008810000"
		}
	}
	in.Description = "客户反映本月账单多扣了流量费 the bill shows roaming charges twice, please check"
	if pick(10) == 0 {
		in.Description = "客户表示如果今天不解决就向工信部申诉并联系记者, also mentioned a lawyer"
	}
	return in
}

// BenchmarkClassify measures contacts taken per second through
// Service.Submit: the classification with every Redis round trip it makes
// (the call and customer state, the id, the group counts, the order's
// transaction with its outbox events and timers), against a local
// redis-server, at 1, 8 and 64 concurrent callers. It reports
// classifications/s and the p50 and p99 latency of one contact.
//
//	make bench-classifier
func BenchmarkClassify(b *testing.B) {
	r := testenv.StartRedis(b)
	cfg, err := configs.Load("../configs/hotlined.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	rules, err := classifier.LoadRules("../configs/rules.yaml")
	if err != nil {
		b.Fatal(err)
	}
	const shards = 8
	for _, callers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			r.Flush(b)
			outbox := queue.NewOutbox("bench", shards)
			store := workorder.NewStore(r.Client, "bench", shards, outbox, escalation.NewStore(r.Client, "bench", shards, outbox))
			svc := workorder.NewService(workorder.ServiceParams{Store: store, Router: queue.NewRouter(cfg.Kafka.Routes),
				Config: cfg, Rules: rules, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry()})
			ctx := context.Background()
			var (
				next    atomic.Int64
				wg      sync.WaitGroup
				urged   atomic.Int64
				failed  atomic.Int64
				latency = make([][]time.Duration, callers)
			)
			b.ResetTimer()
			start := time.Now()
			for c := 0; c < callers; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						in := benchContact(i)
						t0 := time.Now()
						res, err := svc.Submit(ctx, in)
						latency[c] = append(latency[c], time.Since(t0))
						if err != nil {
							failed.Add(1)
							continue
						}
						if res.Outcome == workorder.OutcomeUrged {
							urged.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d contacts failed", n, b.N)
			}
			all := slices.Concat(latency...)
			slices.Sort(all)
			q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "classifications/s")
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(float64(urged.Load())/float64(b.N)*100, "%urged")
		})
	}
}
