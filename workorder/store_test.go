package workorder_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
	"github.com/hotlined/hotlined/workorder"
)

func newStore(t *testing.T) (*workorder.Store, *redis.Client, *queue.Outbox) {
	t.Helper()
	r := testenv.StartRedis(t)
	outbox := queue.NewOutbox("t", 4)
	timers := escalation.NewStore(r.Client, "t", 4, outbox)
	return workorder.NewStore(r.Client, "t", 4, outbox, timers), r.Client, outbox
}

func TestCreateWritesOrderOutboxAndTimersTogether(t *testing.T) {
	s, rdb, outbox := newStore(t)
	ctx := context.Background()
	day := time.Date(2026, 11, 23, 23, 59, 0, 0, time.FixedZone("CST", 8*3600))
	// 23:59:00 is second 86340 of the day; the counter part is n*4+shard.
	id, err := s.NextID(ctx, day, "GD", 1)
	if err != nil || id != "WO-20261123-GD-8634000005" || s.Shard(id) != 1 || !workorder.ValidID(id) {
		t.Fatalf("NextID = %q (shard %d), %v", id, s.Shard(id), err)
	}
	if id2, _ := s.NextID(ctx, day, "GD", 1); id2 != "WO-20261123-GD-8634000009" || s.Shard(id2) != 1 {
		t.Fatalf("second NextID = %q", id2)
	}
	if id3, _ := s.NextID(ctx, day, "GD", 3); id3 != "WO-20261123-GD-8634000007" || s.Shard(id3) != 3 {
		t.Fatalf("other shard NextID = %q", id3)
	}
	if id4, _ := s.NextID(ctx, day, "BJ", 1); id4 != "WO-20261123-BJ-8634000005" {
		t.Fatalf("other province NextID = %q", id4)
	}
	if id5, _ := s.NextID(ctx, day.Add(time.Second), "GD", 1); id5 != "WO-20261123-GD-8634100005" {
		t.Fatalf("next second's NextID = %q", id5)
	}
	// Ids of the older form keep their shard.
	if got := s.Shard("WO-20261123-GD-000009"); got != 1 {
		t.Errorf("Shard(old form) = %d, want 1", got)
	}
	// Customers spread over the shards.
	used := map[int]bool{}
	for i := 0; i < 100; i++ {
		used[s.ShardOf(fmt.Sprintf("1890000%04d", i))] = true
	}
	if len(used) != 4 {
		t.Errorf("100 customers use shards %v, want all 4", used)
	}
	o := &workorder.Order{ID: id, Class: "complaint", ServiceNumber: "18912345678", Status: configs.StatusNew}
	ev := queue.Event{ID: "e1", Type: queue.TypeWorkOrderCreated, Source: "/t", Subject: id, Time: day,
		Key: o.Key(), Topics: []string{"a"}, Data: []byte(`{}`)}
	timer := escalation.Timer{ID: escalation.TimerID(id, "register"), WorkOrderID: id, Stage: "register", Due: day.Add(time.Hour)}
	if err := s.Create(ctx, o, []queue.Event{ev}, []escalation.Timer{timer}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, id)
	if err != nil || got.ID != id || got.Class != "complaint" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if n, _ := outbox.Depth(ctx, rdb); n != 1 {
		t.Errorf("outbox depth %d, want 1", n)
	}
	shard := s.Shard(id)
	if n := rdb.ZCard(ctx, fmt.Sprintf("t:{%d}:timers", shard)).Val(); n != 1 {
		t.Errorf("timers in shard %d: %d, want 1", shard, n)
	}

	// The same id again fails whole: no second event, no second timer set.
	err = s.Create(ctx, o, []queue.Event{ev}, []escalation.Timer{timer})
	if !errors.Is(err, workorder.ErrExists) {
		t.Fatalf("duplicate Create = %v, want ErrExists", err)
	}
	if n, _ := outbox.Depth(ctx, rdb); n != 1 {
		t.Errorf("outbox depth after duplicate %d, want 1", n)
	}

	if _, err := s.Get(ctx, "WO-20261123-GD-999999"); !errors.Is(err, workorder.ErrNotFound) {
		t.Errorf("Get unknown = %v", err)
	}
}

func TestCreateFailsWholeWhenRedisIsDown(t *testing.T) {
	s, rdb, _ := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rdb.Close()
	err := s.Create(ctx, &workorder.Order{ID: "WO-20261123-GD-000001"}, nil, nil)
	if err == nil {
		t.Fatal("Create on a closed client succeeded")
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"18912345678":  "189****5678",
		"075512345678": "075****5678",
		"1234567":      "****",
		"":             "",
	} {
		if got := workorder.Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

// Redis loses its writes (FLUSHALL: a failover to a lagging replica, a
// restore): no id drawn after it repeats one drawn before, whether in the
// same second (this process remembers its draws) or later (the second is
// in the id).
func TestIDsNeverRepeatAfterRedisLosesWrites(t *testing.T) {
	s, rdb, _ := newStore(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	draw := func(at time.Time, n int) {
		for i := 0; i < n; i++ {
			id, err := s.NextID(ctx, at, "GD", i%4)
			if err != nil {
				t.Fatal(err)
			}
			if seen[id] {
				t.Fatalf("id %s drawn twice", id)
			}
			seen[id] = true
		}
	}
	draw(now, 40)
	rdb.FlushAll(ctx)
	draw(now, 40)                  // the same second: the process's own floor
	draw(now.Add(time.Second), 40) // later: a new second
	// Another process (a new Store) after the loss, a second later.
	other := workorder.NewStore(rdb, "t", 4, queue.NewOutbox("t", 4), escalation.NewStore(rdb, "t", 4, queue.NewOutbox("t", 4)))
	rdb.FlushAll(ctx)
	for i := 0; i < 40; i++ {
		id, err := other.NextID(ctx, now.Add(2*time.Second), "GD", i%4)
		if err != nil || seen[id] {
			t.Fatalf("other process drew %s (seen before: %v), %v", id, seen[id], err)
		}
		seen[id] = true
	}
}

// TestGetMany: orders of several shards in the order asked, nil for an id
// with no order; on a real cluster too (the pipeline splits by node).
func TestGetMany(t *testing.T) {
	ctx := context.Background()
	c := testenv.StartRedisCluster(t)
	outbox := queue.NewOutbox("t", 4)
	s := workorder.NewStore(c.Client, "t", 4, outbox, escalation.NewStore(c.Client, "t", 4, outbox))
	day := time.Date(2026, 11, 23, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	var ids []string
	for shard := range 4 {
		id, err := s.NextID(ctx, day, "GD", shard)
		if err != nil {
			t.Fatal(err)
		}
		o := &workorder.Order{ID: id, Class: "query", Status: configs.StatusNew, ServiceNumber: fmt.Sprintf("1891234000%d", shard)}
		if err := s.Create(ctx, o, nil, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	missing := "WO-20261123-GD-3600000099"
	ask := []string{ids[3], missing, ids[0], ids[2], ids[1]}
	got, err := s.GetMany(ctx, ask)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ask) {
		t.Fatalf("%d orders for %d ids", len(got), len(ask))
	}
	for i, id := range ask {
		switch {
		case id == missing && got[i] != nil:
			t.Errorf("got[%d] = %s for an id with no order", i, got[i].ID)
		case id != missing && (got[i] == nil || got[i].ID != id):
			t.Errorf("got[%d] = %+v, want %s", i, got[i], id)
		}
	}
	if none, err := s.GetMany(ctx, nil); err != nil || len(none) != 0 {
		t.Errorf("GetMany(nil) = %v, %v", none, err)
	}
}
