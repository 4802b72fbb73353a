package rbatch_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/hotlined/hotlined/internal/rbatch"
	"github.com/hotlined/hotlined/internal/testenv"
)

// bump is a registered script: it adds ARGV[1] to the counter KEYS[1] and
// appends it to the list KEYS[2]; ARGV[1] "fail" returns an error reply.
var bump = rbatch.NewScript(`
if ARGV[1] == 'fail' then return redis.error_reply('bump refused') end
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[1])
return #ARGV
`)

// readDigest returns digest(KEYS[1]) as the batch script computes it.
var readDigest = redis.NewScript(rbatch.DigestLua + "\nreturn digest(KEYS[1])")

func digestOf(t *testing.T, c redis.Scripter, key string) string {
	t.Helper()
	d, err := readDigest.Run(context.Background(), c, []string{key}).Text()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// exercise runs the same checks on a single server and on a cluster.
func exercise(t *testing.T, c redis.UniversalClient) {
	ctx := context.Background()
	const (
		order   = "t:{7}:wo:1"
		index   = "t:{7}:idx"
		counter = "t:{7}:n"
		list    = "t:{7}:l"
	)
	if err := c.HSet(ctx, index, "a", "1", "b", "2").Err(); err != nil {
		t.Fatal(err)
	}
	d := digestOf(t, c, index)
	if d == "" || !strings.HasPrefix(d, "hash:") {
		t.Fatalf("digest of a hash = %q", d)
	}

	// All guards hold: every write runs, scripts included, in order.
	var b rbatch.Batch
	b.Absent(order)
	b.Digest(index, d)
	err := b.Record(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, order, `{"id":"1"}`, 0)
		bump.Eval(ctx, pipe, []string{counter, list}, 5)
		pipe.HSet(ctx, index, "c", "3")
		bump.Eval(ctx, pipe, []string{counter, list}, 7)
		pipe.Publish(ctx, "t:wake", "x")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Run(ctx, c); err != nil {
		t.Fatal(err)
	}
	if v := c.Get(ctx, order).Val(); v != `{"id":"1"}` {
		t.Errorf("order = %q", v)
	}
	if n := c.Get(ctx, counter).Val(); n != "12" {
		t.Errorf("counter = %s, want 12", n)
	}
	if l := c.LRange(ctx, list, 0, -1).Val(); strings.Join(l, ",") != "5,7" {
		t.Errorf("list = %v, want 5,7 (the scripts' order)", l)
	}
	if c.HGet(ctx, index, "c").Val() != "3" {
		t.Error("hash not written")
	}

	// The same batch sent again (go-redis retries a script call whose
	// reply a dropped connection lost): its guards fail on its own writes,
	// but its nonce says it ran: success, nothing written twice.
	if err := b.Run(ctx, c); err != nil {
		t.Fatalf("the batch sent again: %v, want success", err)
	}
	if n := c.Get(ctx, counter).Val(); n != "12" {
		t.Errorf("the batch sent again wrote again: counter = %s", n)
	}
	// The nonce sits beside the batch's keys, in their slot, and goes.
	var nonces []string
	if cc, ok := c.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		_ = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			keys := m.Keys(ctx, "t:{7}:rbatch:*").Val()
			mu.Lock()
			defer mu.Unlock()
			nonces = append(nonces, keys...)
			return nil
		})
	} else {
		nonces = c.Keys(ctx, "t:{7}:rbatch:*").Val()
	}
	if len(nonces) != 1 {
		t.Fatalf("nonces %v, want the one batch's", nonces)
	}
	if ttl := c.PTTL(ctx, nonces[0]).Val(); ttl <= 0 || ttl > rbatch.NonceTTL {
		t.Errorf("nonce kept for %v, want at most %v", ttl, rbatch.NonceTTL)
	}

	// Another batch of the same writes: the order exists now (guard 1) and
	// the index changed (guard 2): nothing is written.
	var again rbatch.Batch
	again.Absent(order)
	again.Digest(index, d)
	if err := again.Record(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, order, `{"id":"2"}`, 0)
		bump.Eval(ctx, pipe, []string{counter, list}, 5)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	err = again.Run(ctx, c)
	var conflict *rbatch.Conflict
	if !rbatch.IsConflict(err) {
		t.Fatalf("another batch: %v, want a conflict", err)
	}
	if errors.As(err, &conflict); conflict.Guard != 1 {
		t.Errorf("conflict on guard %d, want 1", conflict.Guard)
	}
	if n := c.Get(ctx, counter).Val(); n != "12" || c.Get(ctx, order).Val() != `{"id":"1"}` {
		t.Errorf("a conflicting batch wrote: counter = %s", n)
	}

	// A digest guard alone, stale: guard 1 fails.
	var stale rbatch.Batch
	stale.Digest(index, d)
	if err := stale.Record(ctx, func(pipe redis.Pipeliner) error {
		pipe.Incr(ctx, counter)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := stale.Run(ctx, c); !rbatch.IsConflict(err) {
		t.Fatalf("stale digest: %v, want a conflict", err)
	}
	// With the digest read afresh it runs.
	var fresh rbatch.Batch
	fresh.Digest(index, digestOf(t, c, index))
	fresh.Digest(order, rbatch.StringDigest([]byte(`{"id":"1"}`)))
	fresh.Digest("t:{7}:none", "")
	if err := fresh.Record(ctx, func(pipe redis.Pipeliner) error {
		pipe.Incr(ctx, counter)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Run(ctx, c); err != nil {
		t.Fatalf("fresh digest: %v", err)
	}
	if n := c.Get(ctx, counter).Val(); n != "13" {
		t.Errorf("counter = %s, want 13", n)
	}

	// A registered script's error reply, and a command's error, come back;
	// as in a MULTI, the writes around them still run.
	var failing rbatch.Batch
	if err := failing.Record(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, "t:{7}:before", "1", 0)
		bump.Eval(ctx, pipe, []string{counter, list}, "fail")
		pipe.HSet(ctx, counter, "f", "v")              // WRONGTYPE: the counter is a string
		bump.Eval(ctx, pipe, []string{index, list}, 1) // WRONGTYPE inside the script
		pipe.Set(ctx, "t:{7}:after", "1", 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := failing.Run(ctx, c); err == nil || !strings.Contains(err.Error(), "bump refused") {
		t.Errorf("failing script: %v, want the first failure", err)
	}
	if c.Get(ctx, "t:{7}:before").Val() != "1" || c.Get(ctx, "t:{7}:after").Val() != "1" {
		t.Error("the writes around the failures did not all run")
	}
	// Sent again (a lost reply), it answers the same failure and runs
	// nothing twice.
	c.Del(ctx, "t:{7}:after")
	if err := failing.Run(ctx, c); err == nil || !strings.Contains(err.Error(), "bump refused") {
		t.Errorf("the failing batch sent again: %v, want its first failure again", err)
	}
	if c.Exists(ctx, "t:{7}:after").Val() != 0 {
		t.Error("the failing batch sent again ran its writes again")
	}

	// A batch whose guards do not cover its writes, sent again, does not
	// write again: the nonce is looked at first.
	var unguarded rbatch.Batch
	unguarded.Absent("t:{7}:never")
	if err := unguarded.Record(ctx, func(pipe redis.Pipeliner) error {
		pipe.Incr(ctx, "t:{7}:n2")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := unguarded.Run(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.Get(ctx, "t:{7}:n2").Val(); n != "1" {
		t.Errorf("an unguarded batch sent twice counted %s, want 1", n)
	}

	// A guard on a key without a digest fails the batch with the reason,
	// not as a conflict to retry.
	var listGuard rbatch.Batch
	listGuard.Digest("t:{7}:list", "whatever")
	if err := listGuard.Record(ctx, func(pipe redis.Pipeliner) error {
		pipe.Incr(ctx, "t:{7}:n3")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c.RPush(ctx, "t:{7}:list", "a")
	if err := listGuard.Run(ctx, c); err == nil || rbatch.IsConflict(err) || !strings.Contains(err.Error(), "no digest") {
		t.Errorf("a guard on a list: %v, want the digest's error", err)
	}

	// Digests: a set's members and a sorted set's scores count; a list
	// cannot be guarded (its digest is an error, never a silent match).
	c.SAdd(ctx, "t:{7}:set", "a", "b")
	c.ZAdd(ctx, "t:{7}:z", redis.Z{Score: 1, Member: "a"})
	c.RPush(ctx, "t:{7}:list", "a")
	ds, dz := digestOf(t, c, "t:{7}:set"), digestOf(t, c, "t:{7}:z")
	c.SAdd(ctx, "t:{7}:set", "c")
	c.ZAdd(ctx, "t:{7}:z", redis.Z{Score: 2, Member: "a"})
	if digestOf(t, c, "t:{7}:set") == ds || digestOf(t, c, "t:{7}:z") == dz {
		t.Error("a set or sorted set changed and its digest did not")
	}
	if err := readDigest.Run(ctx, c, []string{"t:{7}:list"}).Err(); err == nil {
		t.Error("a list has a digest")
	}
	// Separators cannot make two hashes look alike.
	c.HSet(ctx, "t:{7}:h1", "a", "b\x01c\x00d")
	c.HSet(ctx, "t:{7}:h2", "a", "b", "c", "d")
	if digestOf(t, c, "t:{7}:h1") == digestOf(t, c, "t:{7}:h2") {
		t.Error("two different hashes share a digest")
	}
}

func TestBatchOnOneServer(t *testing.T) {
	r := testenv.StartRedis(t)
	exercise(t, r.Client)
}

// TestBatchOnCluster proves the batch keeps to one slot on a real Redis
// Cluster: its keys are declared, so the cluster routes it, and a script
// touching an undeclared key of another node would fail.
func TestBatchOnCluster(t *testing.T) {
	rc := testenv.StartRedisCluster(t)
	exercise(t, rc.Client)
}

func TestRecordRefuses(t *testing.T) {
	ctx := context.Background()
	unregistered := redis.NewScript(`return 1`)
	cases := map[string]func(pipe redis.Pipeliner) error{
		"another slot": func(pipe redis.Pipeliner) error {
			pipe.Set(ctx, "t:{1}:a", 1, 0)
			pipe.Set(ctx, "t:{2}:b", 1, 0)
			return nil
		},
		"unregistered script": func(pipe redis.Pipeliner) error {
			unregistered.Eval(ctx, pipe, []string{"t:{1}:a"})
			return nil
		},
		"evalsha": func(pipe redis.Pipeliner) error {
			bump.EvalSha(ctx, pipe, []string{"t:{1}:a", "t:{1}:b"}, 1)
			return nil
		},
		"a command of several keys rbatch does not know": func(pipe redis.Pipeliner) error {
			pipe.MSet(ctx, "t:{1}:a", 1, "t:{2}:b", 2)
			return nil
		},
		"too many arguments for Lua's unpack": func(pipe redis.Pipeliner) error {
			members := make([]any, 8000)
			for i := range members {
				members[i] = i
			}
			pipe.SAdd(ctx, "t:{1}:a", members...)
			return nil
		},
	}
	for name, fn := range cases {
		var b rbatch.Batch
		if err := b.Record(ctx, fn); err == nil {
			t.Errorf("%s: recorded", name)
		}
	}
}
