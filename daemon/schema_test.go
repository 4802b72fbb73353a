package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hotlined/hotlined/internal/testenv"
)

// checkEveryEventValid reads every message on every outbound topic and
// validates its data against the schema of its ce_type. It returns how many
// it checked.
func checkEveryEventValid(t *testing.T, brokers []string) int {
	t.Helper()
	schemas := testenv.LoadSchemas(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range parts {
		if p.Topic == "hotline.workorders.updates" || p.Topic == "hotline.deadletter" {
			continue // inbound, and deliberately broken in the tests
		}
		leader, err := kafka.DialLeader(ctx, "tcp", brokers[0], p.Topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, err := leader.ReadLastOffset()
		if err != nil {
			t.Fatal(err)
		}
		for offset := int64(0); offset < last; {
			before := offset
			if _, err := leader.Seek(offset, kafka.SeekAbsolute); err != nil {
				t.Fatal(err)
			}
			_ = leader.SetReadDeadline(time.Now().Add(5 * time.Second))
			batch := leader.ReadBatch(1, 1<<20)
			for {
				m, err := batch.ReadMessage()
				if err != nil {
					break
				}
				typ := testenv.Headers(m)["ce_type"]
				if err := schemas.Validate(typ, m.Value); err != nil {
					t.Errorf("%s/%d@%d: %v", p.Topic, p.ID, m.Offset, err)
				}
				checked++
				offset = m.Offset + 1
			}
			if err := batch.Close(); err != nil {
				t.Fatalf("%s/%d: %v", p.Topic, p.ID, err)
			}
			if offset == before {
				t.Fatalf("%s/%d: no message at offset %d of %d", p.Topic, p.ID, offset, last)
			}
		}
		leader.Close()
	}
	return checked
}
