package queue_test

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
)

func TestRouter(t *testing.T) {
	cfg, err := configs.Load("../configs/hotlined.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	r := queue.NewRouter(cfg.Kafka.Routes)
	tests := []struct {
		a    queue.Attrs
		want []string
	}{
		{queue.Attrs{Tier: "province", Class: "query", Category: "query", Subcategory: "billing", Province: "GD"},
			[]string{"hotline.workorders.province.GD", "hotline.workorders.billing"}},
		{queue.Attrs{Tier: "province", Class: "major_complaint", Category: "complaint", Subcategory: "service", Province: "BJ"},
			[]string{"hotline.workorders.province.BJ", "hotline.workorders.group"}},
		{queue.Attrs{Tier: "appeal", Class: "group_complaint", Category: "complaint", Subcategory: "network", Province: "SH"},
			[]string{"hotline.workorders.province.SH", "hotline.workorders.group"}},
		{queue.Attrs{Tier: "group", Class: "fault_report", Category: "fault_report", Subcategory: "broadband", Province: "GD"},
			[]string{"hotline.workorders.province.GD", "hotline.workorders.group", "hotline.workorders.netops"}},
		{queue.Attrs{Tier: "province", Class: "complaint", Category: "complaint", Subcategory: "network", Province: "GD"},
			[]string{"hotline.workorders.province.GD", "hotline.workorders.group"}},
		{queue.Attrs{Tier: "province", Class: "consultation", Category: "consultation", Subcategory: "product", Province: "GD"},
			[]string{"hotline.workorders.province.GD"}},
	}
	for _, tc := range tests {
		if got := r.Topics(tc.a); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Topics(%+v) = %v, want %v", tc.a, got, tc.want)
		}
	}
}

func TestEventValuesRoundTrip(t *testing.T) {
	e := queue.Event{ID: "id-1", Type: queue.TypeWorkOrderCreated, Source: "/hotlined", Subject: "WO-1",
		Time: time.Date(2026, 11, 23, 1, 2, 3, 4, time.UTC), Key: "18912345678",
		Topics: []string{"a", "b"}, Data: []byte(`{"x":1}`)}
	v := e.Values()
	m := map[string]any{}
	for i := 0; i < len(v); i += 2 {
		m[v[i].(string)] = v[i+1]
	}
	got, err := queue.EventFromValues(m)
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("round trip = %+v, %v\nwant %+v", got, err, e)
	}
	delete(m, "topics")
	if _, err := queue.EventFromValues(m); err == nil {
		t.Error("an entry without topics decoded")
	}
	msgs := e.Messages()
	if len(msgs) != 2 || msgs[1].Topic != "b" || string(msgs[0].Key) != "18912345678" {
		t.Fatalf("messages %+v", msgs)
	}
	h := map[string]string{}
	for _, x := range msgs[0].Headers {
		h[x.Key] = string(x.Value)
	}
	want := map[string]string{"ce_specversion": "1.0", "ce_id": "id-1", "ce_source": "/hotlined",
		"ce_type": queue.TypeWorkOrderCreated, "ce_time": "2026-11-23T01:02:03.000000004Z",
		"ce_subject": "WO-1", "content-type": "application/json"}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("headers %v, want %v", h, want)
	}
}

type fixture struct {
	rdb     *redis.Client
	outbox  *queue.Outbox
	cluster *kfake.Cluster
	writer  *kafka.Writer
}

func newFixture(t *testing.T, shards int) *fixture {
	t.Helper()
	r := testenv.StartRedis(t)
	c := testenv.StartKafka(t, kfake.SeedTopics(3, "orders"))
	w := &kafka.Writer{Addr: kafka.TCP(c.ListenAddrs()...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond, MaxAttempts: 2, WriteBackoffMin: 10 * time.Millisecond, WriteBackoffMax: 50 * time.Millisecond}
	t.Cleanup(func() { w.Close() })
	return &fixture{rdb: r.Client, outbox: queue.NewOutbox("t", shards), cluster: c, writer: w}
}

// commit writes n events for keys k0..k4 round robin, each in its own
// transaction, spread over shards, with a per-key sequence in the data.
func (f *fixture) commit(t *testing.T, n int) {
	t.Helper()
	ctx := context.Background()
	seq := map[string]int{}
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("k%d", i%5)
		seq[key]++
		e := queue.Event{ID: fmt.Sprint(i), Type: queue.TypeWorkOrderCreated, Source: "/t", Subject: key,
			Time: time.Now(), Key: key, Topics: []string{"orders"}, Data: fmt.Appendf(nil, `{"seq":%d}`, seq[key])}
		// One customer's events share a shard, as an order's events do.
		shard := i % 5 % f.outbox.Len()
		if _, err := f.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error { f.outbox.Add(ctx, p, shard, e); return nil }); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) relay(t *testing.T, consumer string, claimIdle time.Duration) *queue.Relay {
	t.Helper()
	r, err := queue.NewRelay(queue.RelayParams{Redis: f.rdb, Outbox: f.outbox, Publisher: f.writer,
		Logger: zerolog.Nop(), Consumer: consumer, Block: 50 * time.Millisecond, ClaimIdle: claimIdle, BatchSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
	})
	return r
}

// consume reads n messages from topic and checks each key's sequence is
// 1, 2, 3, ... with none missing and none out of order.
func (f *fixture) consume(t *testing.T, n int) {
	t.Helper()
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: f.cluster.ListenAddrs(), Topic: "orders", GroupID: t.Name(),
		StartOffset: kafka.FirstOffset, MaxBytes: 1 << 20, MaxWait: 50 * time.Millisecond})
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	next := map[string]int{}
	for i := 0; i < n; i++ {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", i, n, err)
		}
		var seq int
		fmt.Sscanf(string(m.Value), `{"seq":%d}`, &seq)
		k := string(m.Key)
		next[k]++
		if seq != next[k] {
			t.Fatalf("key %s: got seq %d, want %d (lost or reordered)", k, seq, next[k])
		}
	}
}

func (f *fixture) waitDrained(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if n, err := f.outbox.Depth(context.Background(), f.rdb); err == nil && n == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	n, _ := f.outbox.Depth(context.Background(), f.rdb)
	t.Fatalf("outbox not drained: %d left", n)
}

func TestRelayPublishesInOrderAndEmptiesTheOutbox(t *testing.T) {
	f := newFixture(t, 4)
	f.relay(t, "a", time.Minute)
	f.commit(t, 100)
	f.consume(t, 100)
	f.waitDrained(t)
}

// While the broker refuses every produce, events wait in the outbox; when it
// recovers they all arrive, each key's order intact.
func TestRelaySurvivesKafkaOutage(t *testing.T) {
	f := newFixture(t, 4)
	var down atomic.Bool
	down.Store(true)
	refused := testenv.RefuseProduce(f.cluster, &down)
	f.relay(t, "a", time.Minute)
	f.commit(t, 200)
	deadline := time.Now().Add(10 * time.Second)
	for refused.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if refused.Load() < 3 {
		t.Fatalf("the broker saw %d produce requests during the outage", refused.Load())
	}
	if n, _ := f.outbox.Depth(context.Background(), f.rdb); n != 200 {
		t.Fatalf("outbox during outage holds %d, want 200", n)
	}
	down.Store(false)
	f.consume(t, 200)
	f.waitDrained(t)
}

// A relay that read entries and died before acknowledging them: another
// relay takes them over after ClaimIdle and publishes them.
func TestRelayTakesOverADeadRelaysEntries(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	if err := f.rdb.XGroupCreateMkStream(ctx, f.outbox.Key(0), "relay", "0").Err(); err != nil {
		t.Fatal(err)
	}
	f.commit(t, 10)
	// The dead relay read everything and never acknowledged it.
	res, err := f.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "relay", Consumer: "dead",
		Streams: []string{f.outbox.Key(0), ">"}, Count: 100, Block: -1}).Result()
	if err != nil || len(res[0].Messages) != 10 {
		t.Fatalf("dead relay read %v, %v", res, err)
	}
	f.relay(t, "alive", 200*time.Millisecond)
	f.consume(t, 10)
	f.waitDrained(t)
}

// Two relays on the same outbox share the shards by lease: every event is
// published once, each key's in order.
func TestTwoRelaysPublishEachEventOnce(t *testing.T) {
	f := newFixture(t, 4)
	f.relay(t, "a", 2*time.Second)
	f.relay(t, "b", 2*time.Second)
	f.commit(t, 200)
	f.consume(t, 200)
	f.waitDrained(t)
	// Nothing more arrives: no event was published twice.
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: f.cluster.ListenAddrs(), Topic: "orders", GroupID: t.Name(),
		MaxBytes: 1 << 20, MaxWait: 50 * time.Millisecond})
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if m, err := rd.ReadMessage(ctx); err == nil {
		t.Errorf("a 201st message arrived: key %s value %s", m.Key, m.Value)
	}
}

// add commits one event for key on shard, as a store's transaction does.
func (f *fixture) add(t *testing.T, shard int, id, key string) {
	t.Helper()
	ctx := context.Background()
	e := queue.Event{ID: id, Type: queue.TypeWorkOrderCreated, Source: "/t", Subject: key,
		Time: time.Now(), Key: key, Topics: []string{"orders"}, Data: []byte(`{}`)}
	if _, err := f.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error { f.outbox.Add(ctx, p, shard, e); return nil }); err != nil {
		t.Error(err)
	}
}

// waitKeys reads topic "orders" from the start until every key in want has
// arrived or within ends; it returns the keys still missing.
func (f *fixture) waitKeys(t *testing.T, within time.Duration, want ...string) []string {
	t.Helper()
	missing := map[string]bool{}
	for _, k := range want {
		missing[k] = true
	}
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: f.cluster.ListenAddrs(), Topic: "orders", GroupID: fmt.Sprint(t.Name(), want),
		StartOffset: kafka.FirstOffset, MaxBytes: 1 << 20, MaxWait: 50 * time.Millisecond})
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for len(missing) > 0 {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			break
		}
		delete(missing, string(m.Key))
	}
	var left []string
	for k := range missing {
		left = append(left, k)
	}
	return left
}

// Redis restarts empty (FLUSHALL) while orders keep coming: the relay
// recreates its consumer groups and leases without a restart, and orders
// committed after the loss reach Kafka within 5 s.
func TestRelayHealsAfterRedisLosesEverything(t *testing.T) {
	const shards = 4
	f := newFixture(t, shards)
	f.relay(t, "a", 3*time.Second)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { // load: an event every 2 ms on every shard in turn
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			f.add(t, i%shards, fmt.Sprint("load-", i), fmt.Sprint("load-", i))
		}
	}()
	defer func() { close(stop); <-done }()
	if left := f.waitKeys(t, 30*time.Second, "load-1", "load-50"); len(left) > 0 {
		t.Fatalf("load never published: %v", left)
	}
	if err := f.rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var want []string
	for s := 0; s < shards; s++ {
		k := fmt.Sprint("after-flush-", s)
		f.add(t, s, k, k)
		want = append(want, k)
	}
	if left := f.waitKeys(t, 5*time.Second, want...); len(left) > 0 {
		t.Fatalf("orders committed after FLUSHALL still not in Kafka after %v: %v", time.Since(start).Round(time.Millisecond), left)
	}
	t.Logf("orders committed after FLUSHALL reached Kafka in %v", time.Since(start).Round(time.Millisecond))
}

// startRelay runs a relay with its own Redis connection, so the test can
// cut it off as a SIGKILL would (kill): its leases and heartbeat are then
// neither renewed nor released.
func (f *fixture) startRelay(t *testing.T, consumer string, claimIdle time.Duration) (r *queue.Relay, kill func()) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: f.rdb.Options().Addr})
	r, err := queue.NewRelay(queue.RelayParams{Redis: rdb, Outbox: f.outbox, Publisher: f.writer,
		Logger: zerolog.Nop(), Consumer: consumer, Block: 50 * time.Millisecond, ClaimIdle: claimIdle, BatchSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	kill = func() {
		once.Do(func() {
			rdb.Close()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_ = r.Shutdown(ctx)
		})
	}
	t.Cleanup(kill)
	return r, kill
}

// waitFor polls cond every 20 ms until it holds or within ends.
func waitFor(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// Three relays on six shards hold two leases each; when one stops, the
// other two take three each.
func TestRelaysSpreadTheLeases(t *testing.T) {
	f := newFixture(t, 6)
	a, _ := f.startRelay(t, "a", time.Second)
	b, _ := f.startRelay(t, "b", time.Second)
	c, killC := f.startRelay(t, "c", time.Second)
	held := func(rs ...*queue.Relay) []int {
		var n []int
		for _, r := range rs {
			n = append(n, len(r.Holding()))
		}
		return n
	}
	if !waitFor(30*time.Second, func() bool { h := held(a, b, c); return h[0] == 2 && h[1] == 2 && h[2] == 2 }) {
		t.Fatalf("leases held by a, b, c = %v, want 2 each", held(a, b, c))
	}
	killC()
	if !waitFor(30*time.Second, func() bool { h := held(a, b); return h[0] == 3 && h[1] == 3 }) {
		t.Fatalf("after c died, leases held by a, b = %v, want 3 each", held(a, b))
	}
}

// Two relays with the daemon's default lease (ClaimIdle 0: 2 s) under
// load; the holder of half the shards is cut off without releasing them.
// Orders committed on its shards right after reach Kafka within 5 s.
func TestLeaseTakeoverWithinFiveSeconds(t *testing.T) {
	const shards = 4
	f := newFixture(t, shards)
	a, killA := f.startRelay(t, "a", 0)
	b, _ := f.startRelay(t, "b", 0)
	if !waitFor(30*time.Second, func() bool { return len(a.Holding()) == 2 && len(b.Holding()) == 2 }) {
		t.Fatalf("leases held by a, b = %d, %d, want 2 each", len(a.Holding()), len(b.Holding()))
	}
	for i := range 40 {
		f.add(t, i%shards, fmt.Sprint("before-", i), fmt.Sprint("before-", i))
	}
	if left := f.waitKeys(t, 30*time.Second, "before-0", "before-39"); len(left) > 0 {
		t.Fatalf("not published before the kill: %v", left)
	}
	aShards := a.Holding()
	killA()
	start := time.Now()
	var want []string
	for _, s := range aShards {
		k := fmt.Sprint("after-kill-", s)
		f.add(t, s, k, k)
		want = append(want, k)
	}
	if left := f.waitKeys(t, 5*time.Second, want...); len(left) > 0 {
		t.Fatalf("shards %v of the dead relay: %v not published %v after the kill", aShards, left, time.Since(start).Round(time.Millisecond))
	}
	t.Logf("publishing on the dead relay's shards %v resumed %v after the kill", aShards, time.Since(start).Round(time.Millisecond))
}

// span is one Kafka write of a relay, with the shards its messages came from.
type span struct {
	relay      string
	shards     map[int]bool
	start, end time.Time
}

// recorder is a relay's Publisher that records when it wrote which shards.
type recorder struct {
	name    string
	inner   queue.Publisher
	shardOf func(key string) int
	mu      *sync.Mutex
	spans   *[]span
}

func (r recorder) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	s := span{relay: r.name, shards: map[int]bool{}, start: time.Now()}
	for _, m := range msgs {
		s.shards[r.shardOf(string(m.Key))] = true
	}
	err := r.inner.WriteMessages(ctx, msgs...)
	s.end = time.Now()
	r.mu.Lock()
	*r.spans = append(*r.spans, s)
	r.mu.Unlock()
	return err
}

// Relays join and leave under load, so leases move between them (4 shards
// over 3 relays settle as 2, 1, 1): no two relays ever write one shard's
// events at the same time.
func TestLeasesMoveWithoutTwoWritersOnOneShard(t *testing.T) {
	const shards = 4
	f := newFixture(t, shards)
	var (
		mu    sync.Mutex
		spans []span
	)
	shardOf := func(key string) int { // as commit: key k<i> is on shard i % shards
		var i int
		fmt.Sscanf(key, "k%d", &i)
		return i % shards
	}
	start := func(name string) *queue.Relay {
		r, err := queue.NewRelay(queue.RelayParams{Redis: f.rdb, Outbox: f.outbox,
			Publisher: recorder{name: name, inner: f.writer, shardOf: shardOf, mu: &mu, spans: &spans},
			Logger:    zerolog.Nop(), Consumer: name, Block: 50 * time.Millisecond, ClaimIdle: time.Second, BatchSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stop(r) })
		return r
	}
	a := start("a")
	f.commit(t, 100)
	b := start("b")
	if !waitFor(20*time.Second, func() bool { return len(a.Holding()) == 2 && len(b.Holding()) == 2 }) {
		t.Fatalf("a holds %v, b %v", a.Holding(), b.Holding())
	}
	for j := 5; j < 105; j++ { // more load while the leases move again
		f.add(t, j%shards, fmt.Sprint("more-", j), fmt.Sprint("k", j))
	}
	c := start("c")
	if !waitFor(20*time.Second, func() bool { return len(c.Holding()) >= 1 }) {
		t.Fatalf("c took no shard")
	}
	stop(b)
	f.waitDrained(t)
	if left := f.waitKeys(t, 30*time.Second, "k0", "k4", "k5", "k104"); len(left) > 0 {
		t.Errorf("not published: %v", left)
	}

	mu.Lock()
	defer mu.Unlock()
	writers := map[string]bool{}
	for i, x := range spans {
		writers[x.relay] = true
		for _, y := range spans[i+1:] {
			if x.relay == y.relay || x.end.Before(y.start) || y.end.Before(x.start) {
				continue
			}
			for s := range x.shards {
				if y.shards[s] {
					t.Errorf("shard %d written by %s (%v-%v) and %s (%v-%v) at once", s,
						x.relay, x.start.Format("15:04:05.000"), x.end.Format("15:04:05.000"),
						y.relay, y.start.Format("15:04:05.000"), y.end.Format("15:04:05.000"))
				}
			}
		}
	}
	if len(writers) < 2 {
		t.Errorf("only %v wrote: the leases did not move", writers)
	}
}

func stop(r *queue.Relay) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.Shutdown(ctx)
}

// stallProxy forwards TCP to target; while stalled it holds every byte, as
// a network partition or a paused process does.
type stallProxy struct {
	ln      net.Listener
	stalled atomic.Bool
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go p.pipe(c, u)
			go p.pipe(u, c)
		}
	}()
	return p
}

func (p *stallProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.stalled.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Fencing: relay a is cut off from Redis (a partition, a long pause) in
// the middle of a Kafka write that would outlast its lease; relay b takes
// the shards once a's leases expire. a is never writing a shard after b
// has begun writing it: each of a's writes is cut at its deadline, before
// its lease can expire.
func TestFencedRelayStopsBeforeTheNextHolderStarts(t *testing.T) {
	const shards = 2
	f := newFixture(t, shards)
	var (
		mu    sync.Mutex
		spans []span
	)
	shardOf := func(key string) int {
		var i int
		fmt.Sscanf(key, "k%d", &i)
		return i % shards
	}
	proxy := newStallProxy(t, f.rdb.Options().Addr)
	newRelay := func(name, addr string, pub queue.Publisher) *queue.Relay {
		rdb := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: 5 * time.Second})
		t.Cleanup(func() { rdb.Close() })
		r, err := queue.NewRelay(queue.RelayParams{Redis: rdb, Outbox: f.outbox,
			Publisher: recorder{name: name, inner: pub, shardOf: shardOf, mu: &mu, spans: &spans},
			Logger:    zerolog.Nop(), Consumer: name, Block: 50 * time.Millisecond, ClaimIdle: time.Second,
			BatchSize: 2, WriteBound: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stop(r) })
		return r
	}
	// a's broker is much slower than a lease (3 s a write, lease 1 s):
	// only the write deadline stops a write that would outlive a's lease.
	a := newRelay("a", proxy.ln.Addr().String(), slowPublisher{f.writer, 3 * time.Second})
	if !waitFor(20*time.Second, func() bool { return len(a.Holding()) == shards }) {
		t.Fatalf("a holds %v", a.Holding())
	}
	f.commit(t, 40)
	time.Sleep(300 * time.Millisecond) // a is in a write
	proxy.stalled.Store(true)          // and loses Redis
	cut := time.Now()
	b := newRelay("b", f.rdb.Options().Addr, f.writer)
	if !waitFor(20*time.Second, func() bool { return len(b.Holding()) == shards }) {
		t.Fatalf("b holds %v", b.Holding())
	}
	f.waitDrained(t)
	proxy.stalled.Store(false)
	stop(a) // a's write in flight, if any, ends and is recorded

	mu.Lock()
	defer mu.Unlock()
	firstB := map[int]time.Time{}
	for _, s := range spans {
		if s.relay != "b" {
			continue
		}
		for sh := range s.shards {
			if at, ok := firstB[sh]; !ok || s.start.Before(at) {
				firstB[sh] = s.start
			}
		}
	}
	if len(firstB) == 0 {
		t.Fatal("b never wrote")
	}
	for _, s := range spans {
		if s.relay != "a" {
			continue
		}
		for sh := range s.shards {
			if at, ok := firstB[sh]; ok && s.end.After(at) {
				t.Errorf("a wrote shard %d until %v, after b began at %v (cut at %v)", sh,
					s.end.Format("15:04:05.000"), at.Format("15:04:05.000"), cut.Format("15:04:05.000"))
			}
		}
	}
}

// slowPublisher takes d per write (a slow broker), or less if ctx ends.
type slowPublisher struct {
	inner queue.Publisher
	d     time.Duration
}

func (p slowPublisher) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	t := time.NewTimer(p.d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	return p.inner.WriteMessages(ctx, msgs...)
}
