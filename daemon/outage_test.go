package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/internal/testenv"
)

// 200 calls while the broker rejects every produce: the calls are taken,
// readiness stays true, the work orders wait in the outbox; when the broker
// recovers all 200 arrive, each customer's in order.
func TestKafkaOutageLosesNothing(t *testing.T) {
	const calls = 200
	cluster := testenv.StartKafka(t, kfake.SeedTopics(3, "hotline.workorders.province.GD"))
	var down atomic.Bool
	down.Store(true)
	refused := testenv.RefuseProduce(cluster, &down)
	h := boot(t, func(cfg *configs.Config) { cfg.Kafka.Brokers = cluster.ListenAddrs() })
	c := testenv.NewCaller(t)
	for i := 0; i < calls; i++ {
		number := fmt.Sprintf("1890000%04d", i%7)
		sess, err := c.Call(t, h.udp, "10000", number, sipmsg.NewHeader("X-IVR-Path", "2"))
		if err != nil {
			t.Fatalf("call %d during the outage: %v", i, err)
		}
		testenv.Hangup(t, sess)
		// The order is created after the answer, concurrently with the
		// call; wait for it so that creation order is call order and the
		// per-key check below has a reference.
		waitCreated(t, h, i+1)
	}
	if refused.Load() == 0 {
		t.Fatal("the broker saw no produce during the outage")
	}
	if resp := get(t, "http://"+h.d.HTTPAddr()+"/readyz", ""); resp.StatusCode != 200 {
		t.Errorf("readyz during the outage = %d, want 200", resp.StatusCode)
	}
	down.Store(false)

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: cluster.ListenAddrs(), Topic: "hotline.workorders.province.GD",
		GroupID: "outage-check", StartOffset: kafka.FirstOffset, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	seen, last := map[string]bool{}, map[string]string{}
	for len(seen) < calls {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("after %d of %d orders: %v", len(seen), calls, err)
		}
		var o struct{ ID string }
		if err := json.Unmarshal(m.Value, &o); err != nil {
			t.Fatal(err)
		}
		if seen[o.ID] {
			continue // at least once
		}
		if prev := last[string(m.Key)]; prev > o.ID {
			t.Errorf("key %s: %s after %s", m.Key, o.ID, prev)
		}
		seen[o.ID], last[string(m.Key)] = true, o.ID
	}
}

// waitCreated waits until the daemon has created n work orders.
func waitCreated(t *testing.T, h *harness, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if created(t, h) >= n {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("work order %d not created", n)
}

// created is the daemon's count of work orders created.
func created(t *testing.T, h *harness) int {
	t.Helper()
	total := 0.0
	mfs, err := h.d.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "hotlined_workorders_created_total" {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return int(total)
}
