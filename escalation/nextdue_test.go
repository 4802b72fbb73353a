package escalation

import (
	"context"
	"testing"
	"time"
)

func TestNextDueIsTheEarliestOverShardsAndLeases(t *testing.T) {
	s, rdb, _ := newTestStore(t, 3)
	ctx := context.Background()
	if _, ok, err := s.NextDue(ctx); ok || err != nil {
		t.Fatalf("no timers: ok %v, err %v", ok, err)
	}
	t0 := time.UnixMilli(1_800_000_000_000)
	addTimers(t, s, rdb,
		Timer{ID: "WO-2/resolve", WorkOrderID: "WO-2", Shard: 2, Stage: "resolve", Due: t0.Add(time.Hour)},
		Timer{ID: "WO-1/register", WorkOrderID: "WO-1", Shard: 1, Stage: "register", Due: t0},
		Timer{ID: "WO-0/reply", WorkOrderID: "WO-0", Shard: 0, Stage: "reply", Due: t0.Add(2 * time.Hour)})
	if next, ok, err := s.NextDue(ctx); !ok || err != nil || !next.Equal(t0) {
		t.Fatalf("NextDue = %v, %v, %v; want %v", next, ok, err, t0)
	}
	// Claimed: it counts at the end of its lease, so the next is shard 2's.
	if c, err := s.Claim(ctx, 1, t0, 2*time.Hour, 10); err != nil || len(c) != 1 {
		t.Fatalf("claim = %v, %v", c, err)
	}
	if next, ok, err := s.NextDue(ctx); !ok || err != nil || !next.Equal(t0.Add(time.Hour)) {
		t.Fatalf("NextDue after a claim = %v, %v, %v; want %v", next, ok, err, t0.Add(time.Hour))
	}
}
