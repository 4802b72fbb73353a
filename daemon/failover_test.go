package daemon_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/segmentio/kafka-go"

	"github.com/hotlined/hotlined/internal/testenv"
)

// The Redis master dies and the Sentinel promotes its replica: the daemon
// follows the new master without a restart; calls after the failover
// become orders on Kafka, and no id is drawn twice.
func TestSentinelFailover(t *testing.T) {
	rs := testenv.StartRedisSentinel(t)
	h := bootOn(t, map[string]string{"HOTLINED_REDIS_ADDR": rs.Sentinels[0], "HOTLINED_REDIS_MASTER": rs.MasterName}, nil)
	c := testenv.NewCaller(t)
	call := func(i int) error {
		sess, err := c.Call(t, h.udp, "10000", fmt.Sprintf("1890300%04d", i), sipmsg.NewHeader("X-IVR-Path", "2"))
		if err == nil {
			testenv.Hangup(t, sess)
		}
		return err
	}
	for i := 0; i < 5; i++ {
		if err := call(i); err != nil {
			t.Fatalf("call %d before the failover: %v", i, err)
		}
	}
	waitCreated(t, h, 5)
	rs.KillMaster()
	// Wait for the promotion (the test's own failover client can write),
	// then for the daemon to take calls again.
	deadline := time.Now().Add(30 * time.Second)
	for rs.Client.Set(t.Context(), "failover-probe", "1", 0).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the replica was not promoted within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		if status, _ := readyz(t, h); status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon is not ready 30 s after the master died")
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := created(t, h)
	for i := 5; i < 10; i++ {
		// Right after the promotion a pooled connection to the dead master
		// may still refuse and mark Redis down for a moment (a refused
		// connection counts at once): a 503 then is retried, as an SBC
		// would, within the same 30 s.
		for {
			err := call(i)
			if err == nil {
				break
			}
			if !strings.Contains(err.Error(), "503") || time.Now().After(deadline) {
				t.Fatalf("call %d after the failover: %v", i, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitCreated(t, h, before+5)
	want := before + 5
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: h.d.KafkaBrokers(), Topic: "hotline.workorders.province.GD",
		GroupID: "failover-check", StartOffset: kafka.FirstOffset, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ids := map[string]string{} // id -> ce_id
	for len(ids) < want {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("%d of %d orders on Kafka: %v", len(ids), want, err)
		}
		hdr := testenv.Headers(m)
		if prev, ok := ids[hdr["ce_subject"]]; ok && prev != hdr["ce_id"] {
			t.Errorf("id %s drawn for two orders", hdr["ce_subject"])
		}
		ids[hdr["ce_subject"]] = hdr["ce_id"]
	}
}
