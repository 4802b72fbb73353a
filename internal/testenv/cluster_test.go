package testenv

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Sentinel set-up fails over: once the master is killed, the failover
// client writes to the promoted replica.
func TestSentinelFailsOver(t *testing.T) {
	rs := StartRedisSentinel(t)
	ctx := context.Background()
	if err := rs.Client.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	rs.KillMaster()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := rs.Client.Set(ctx, "k", "w", 0).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write 30 s after the master died: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if addr, err := rs.Client.Do(ctx, "CONFIG", "GET", "port").Result(); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("writing to %v after the failover", addr)
	}
}

// The cluster has three masters serving all slots.
func TestClusterHasThreeMasters(t *testing.T) {
	rc := StartRedisCluster(t)
	var n atomic.Int32 // ForEachMaster calls in parallel
	_ = rc.Client.ForEachMaster(context.Background(), func(context.Context, *redis.Client) error { n.Add(1); return nil })
	if n := n.Load(); n != 3 {
		t.Errorf("%d masters, want 3", n)
	}
}
