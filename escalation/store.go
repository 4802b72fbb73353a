// Package escalation keeps the live deadline timers of work orders in Redis
// and raises supervisor alerts when they come due.
//
// Policies (policy.go, configs/policies.yaml) say which stages an order has
// and how long each may take; the planner (plan.go) turns an order's
// creation and status changes into stage clocks and timers, with no I/O.
// Each counting stage has exactly one timer, id <order>/<stage>, which
// walks the stage's schedule: its warnings, the breach, the rungs of the
// ladder, the repeats. Because the id is fixed, cancelling or rescheduling
// a stage never needs to know which step it is at.
//
// Timers sit in one sorted set per shard, scored by due time (unix ms). A
// claimer re-scores a due timer to now+lease in the same script that reads
// it, so a crashed claimer's timers simply come due again after the lease;
// firing checks the lease is still held and the timer unchanged, so a
// cancelled or re-planned timer never fires, and the alert id makes each
// alert (and each climb of a breach alert) raise once.
//
// A claimer does not poll on a fixed beat: each claim also returns the
// earliest score left in the shard, and every script that puts a timer
// earlier than that earliest score (Add, a fire moving a timer to its next
// step, a calendar reload moving it) publishes its due time on the shard's
// wake channel in the same script, so a claimer sleeping until the
// earliest due time it knows hears of an earlier one at once. Scripts get
// time only as arguments (never Redis TIME), so an injected clock works.
//
// Alerts live in a hash per shard, listed in open and acked sets and in a
// set per order; every change to one writes its CloudEvent to the outbox
// and an entry to the shard's bounded feed stream (the SSE feed, feed.go)
// in the same script.
package escalation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlined/hotlined/internal/rbatch"

	"github.com/hotlined/hotlined/queue"
)

// Timer is the one timer of one counting stage of one order. It carries
// what an alert needs, so firing does not read the order, and the stage's
// clock, so its schedule can be worked out again from Redis alone.
type Timer struct {
	ID          string    `json:"id"`
	WorkOrderID string    `json:"work_order_id"`
	Shard       int       `json:"shard"`
	Stage       string    `json:"stage"`
	Due         time.Time `json:"due"`
	Key         string    `json:"key"` // Kafka key of the order's events
	Class       string    `json:"class"`
	Tier        string    `json:"tier"`
	Province    string    `json:"province"`
	Priority    int       `json:"priority"`
	// Step is the position on the stage's schedule that Due is for.
	Step int `json:"step,omitempty"`
	// SLA is the stage's clock and policy. A timer without one (the form
	// before policies, or an alert raised at once for a flag) raises one
	// alert at Due, to the team lead.
	SLA *StageState `json:"sla,omitempty"`
	// Severity of the alert of a timer without SLA: "" is a breach.
	Severity string `json:"severity,omitempty"`
	// Run of a timer without SLA whose stage raises its alert more than
	// once on one order (a second call's failed transfer): from 2 on the
	// alert is a new one (alertID's run form), not a duplicate of the
	// last. 0 and 1 are the first.
	Run int `json:"run,omitempty"`
}

// TimerID names the timer of a stage of an order.
func TimerID(workOrderID, stage string) string { return workOrderID + "/" + stage }

// Claim is a timer this process holds until its lease ends.
type Claim struct {
	Timer
	token int64  // the lease-until score; firing succeeds only while it holds
	raw   string // the timer's data as claimed; firing succeeds only if unchanged
}

// Store is the Redis layout of timers and alerts.
type Store struct {
	rdb         redis.UniversalClient
	prefix      string
	shards      int
	outbox      *queue.Outbox
	source      string // CloudEvents source of acked and resolved events
	alertsTopic string
	feedLen     int64
	retention   time.Duration
	// added are told of every timer this process writes (Add, Recompute):
	// the schedulers built on the store (NewScheduler).
	added atomic.Pointer[[]func(shard int, due int64)]
}

// onAdded registers f to be told of every timer this process writes: its
// shard and due time (unix ms), when the write is queued (it may then
// fail: f must take the due time as a time to look, not as a fact).
func (s *Store) onAdded(f func(shard int, due int64)) {
	for {
		old := s.added.Load()
		var fs []func(int, int64)
		if old != nil {
			fs = slices.Clone(*old)
		}
		fs = append(fs, f)
		if s.added.CompareAndSwap(old, &fs) {
			return
		}
	}
}

// noteAdded tells the registered functions of a timer written.
func (s *Store) noteAdded(shard int, due int64) {
	if fs := s.added.Load(); fs != nil {
		for _, f := range *fs {
			f(shard, due)
		}
	}
}

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithAlertEvents sets the CloudEvents source and the topic of the alert
// events the store writes itself: hotline.alert.acked and
// hotline.alert.resolved. Ack and the resolve methods need it.
func WithAlertEvents(source, alertsTopic string) StoreOption {
	return func(s *Store) { s.source, s.alertsTopic = source, alertsTopic }
}

// WithFeedLength bounds each shard's feed stream, about n entries (default
// 10,000): a client reconnecting to the SSE feed gets what it missed
// within that.
func WithFeedLength(n int64) StoreOption {
	return func(s *Store) {
		if n > 0 {
			s.feedLen = n
		}
	}
}

// WithResolvedRetention sets how long resolved alerts stay listed (default
// 24h).
func WithResolvedRetention(d time.Duration) StoreOption {
	return func(s *Store) {
		if d > 0 {
			s.retention = d
		}
	}
}

// Defaults of the options.
const (
	DefaultFeedLength        = 10_000
	DefaultResolvedRetention = 24 * time.Hour
)

// NewStore returns the timer store.
func NewStore(rdb redis.UniversalClient, prefix string, shards int, outbox *queue.Outbox, opts ...StoreOption) *Store {
	s := &Store{rdb: rdb, prefix: prefix, shards: shards, outbox: outbox,
		feedLen: DefaultFeedLength, retention: DefaultResolvedRetention}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Shards is the shard count.
func (s *Store) Shards() int { return s.shards }

func (s *Store) timersKey(shard int) string { return fmt.Sprintf("%s:{%d}:timers", s.prefix, shard) }
func (s *Store) dataKey(shard int) string   { return fmt.Sprintf("%s:{%d}:timerdata", s.prefix, shard) }

// WakeChannel is the Pub/Sub channel on which the scripts of shard publish
// the due time (unix ms, decimal) of a timer put earlier than every other
// timer of the shard. A channel is not a key: on Redis Cluster PUBLISH
// reaches every node, so one subscription hears all shards.
func (s *Store) WakeChannel(shard int) string {
	return fmt.Sprintf("%s:{%d}:timers:wake", s.prefix, shard)
}

// alertsKey is the hash of a shard's alerts, id -> alert JSON.
func (s *Store) alertsKey(shard int) string { return fmt.Sprintf("%s:{%d}:alerts", s.prefix, shard) }

// alertKafkaKeysKey is the hash id -> Kafka key of the alert's events (the
// order's key: the customer's service number, which stays out of the
// alert's data).
func (s *Store) alertKafkaKeysKey(shard int) string {
	return fmt.Sprintf("%s:{%d}:alerts:kafkakey", s.prefix, shard)
}
func (s *Store) openAlertsKey(shard int) string {
	return fmt.Sprintf("%s:{%d}:alerts:open", s.prefix, shard)
}
func (s *Store) ackedAlertsKey(shard int) string {
	return fmt.Sprintf("%s:{%d}:alerts:acked", s.prefix, shard)
}

// resolvedAlertsKey is a sorted set of resolved alerts by resolve time.
func (s *Store) resolvedAlertsKey(shard int) string {
	return fmt.Sprintf("%s:{%d}:alerts:resolved", s.prefix, shard)
}

// orderAlertsKey is the set of the alerts of one order not yet resolved.
func (s *Store) orderAlertsKey(shard int, workOrderID string) string {
	return fmt.Sprintf("%s:{%d}:alerts:wo:%s", s.prefix, shard, workOrderID)
}

// FeedKey is the stream of shard's alert changes, read by the SSE feed.
func (s *Store) FeedKey(shard int) string { return fmt.Sprintf("%s:{%d}:alerts:feed", s.prefix, shard) }

// addScript writes timers of one shard and wakes the claimers when one of
// them comes due before every timer the shard had.
//
// KEYS[1] timers sorted set, KEYS[2] timer data hash
// ARGV[1] wake channel, then per timer: id, due (unix ms), data
// Returns the number of timers written.
var addScript = rbatch.NewScript(`
local earliest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
local wake, wakeArg = nil, nil
local n = 0
for i = 2, #ARGV, 3 do
  redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
  local due = tonumber(ARGV[i + 1])
  if (earliest == nil or due < earliest) and (wake == nil or due < wake) then
    wake, wakeArg = due, ARGV[i + 1]
  end
  n = n + 1
end
if wakeArg then redis.call('PUBLISH', ARGV[1], wakeArg) end
return n
`)

// Add queues timers on pipe, which the caller runs as one batch
// (internal/rbatch) or MULTI with the order they belong to: one script per
// shard (EVAL of a script registered with rbatch, which runs it inside the
// batch; a MULTI cannot retry a missing EVALSHA), which also wakes the claimers when a timer comes due
// before the shard's earliest. Every timer must be in its shard's slot. A
// timer replaces the one with its id, whatever step that was at.
func (s *Store) Add(ctx context.Context, pipe redis.Pipeliner, timers ...Timer) error {
	byShard := map[int][]any{}
	var order []int
	for _, t := range timers {
		data, err := encodeTimer(t)
		if err != nil {
			return err
		}
		if _, ok := byShard[t.Shard]; !ok {
			order = append(order, t.Shard)
			byShard[t.Shard] = []any{s.WakeChannel(t.Shard)}
		}
		byShard[t.Shard] = append(byShard[t.Shard], t.ID, t.Due.UnixMilli(), data)
		s.noteAdded(t.Shard, t.Due.UnixMilli())
	}
	for _, shard := range order {
		addScript.Eval(ctx, pipe, []string{s.timersKey(shard), s.dataKey(shard)}, byShard[shard]...)
	}
	return nil
}

// Cancel queues the removal of timers on pipe, in the caller's batch or
// MULTI.
// A claimer holding one of them finds it gone and raises nothing.
func (s *Store) Cancel(ctx context.Context, pipe redis.Pipeliner, shard int, ids ...string) {
	if len(ids) == 0 {
		return
	}
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	pipe.ZRem(ctx, s.timersKey(shard), members...)
	pipe.HDel(ctx, s.dataKey(shard), ids...)
}

// ErrNoAlertEvents is returned when the store was built without
// WithAlertEvents and has to write an alert event itself.
var ErrNoAlertEvents = errors.New("escalation store: alert events are not configured (WithAlertEvents)")

// Apply queues a plan's changes on pipe, the caller's batch that also
// writes the order with plan.SLA and plan.Deadlines: cancelled timers are
// removed; the alerts of ended stages (all the order's alerts when
// plan.ResolveAll) are resolved, each with its hotline.alert.resolved event;
// new and re-planned timers replace what their stage had.
func (s *Store) Apply(ctx context.Context, pipe redis.Pipeliner, shard int, workOrderID string, plan Plan, now time.Time) error {
	s.Cancel(ctx, pipe, shard, plan.Cancel...)
	switch {
	case plan.ResolveAll:
		if err := s.ResolveOrderAlerts(ctx, pipe, shard, workOrderID, now); err != nil {
			return err
		}
	case len(plan.Ended) > 0:
		if err := s.ResolveStageAlerts(ctx, pipe, shard, workOrderID, plan.Ended, now); err != nil {
			return err
		}
	}
	timers := make([]Timer, len(plan.Timers))
	for i, t := range plan.Timers {
		t.Shard = shard
		timers[i] = t
	}
	return s.Add(ctx, pipe, timers...)
}

// claimScript takes due timers and leases them by moving their score
// forward, and says when the shard's next timer is due.
//
// KEYS[1] timers sorted set, KEYS[2] timer data hash
// ARGV[1] now (unix ms), ARGV[2] lease end (unix ms), ARGV[3] most to take
// Returns a flat list: the earliest score left after the claim (unix ms;
// an empty string when the shard has no timer), then id, data, id, data,
// ... A member without data is dropped (its order's data was removed).
var claimScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {''}
for _, id in ipairs(ids) do
  local data = redis.call('HGET', KEYS[2], id)
  if data then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    out[#out + 1] = id
    out[#out + 1] = data
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then out[1] = first[2] end
return out
`)

// noTimer is the earliest due time of a shard without timers.
const noTimer = math.MaxInt64

// Claim leases up to n timers of shard that are due at now.
func (s *Store) Claim(ctx context.Context, shard int, now time.Time, lease time.Duration, n int) ([]Claim, error) {
	res, err := claimScript.Run(ctx, s.rdb, []string{s.timersKey(shard), s.dataKey(shard)},
		now.UnixMilli(), now.Add(lease).UnixMilli(), n).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim timers: %w", err)
	}
	claims, _, err := decodeClaims(res, shard, now.Add(lease).UnixMilli())
	return claims, err
}

// shardClaim is what claiming one shard found.
type shardClaim struct {
	shard int
	// earliest is the earliest score (unix ms) left in the shard after
	// the claim, noTimer when it has none.
	earliest int64
}

// claimShards is Claim on several shards in one round trip. full lists the
// shards that gave n timers (more may be due there); seen has the earliest
// score left in each shard that answered.
func (s *Store) claimShards(ctx context.Context, shards []int, now time.Time, lease time.Duration, n int) (claims []Claim, full []int, seen []shardClaim, err error) {
	token := now.Add(lease).UnixMilli()
	cmds := make([]*redis.Cmd, len(shards))
	pipe := s.rdb.Pipeline()
	for i, shard := range shards {
		cmds[i] = claimScript.EvalSha(ctx, pipe, []string{s.timersKey(shard), s.dataKey(shard)}, now.UnixMilli(), token, n)
	}
	// Each command's error is looked at below. After a Redis restart or a
	// SCRIPT FLUSH the script is loaded once, then run again.
	_, _ = pipe.Exec(ctx)
	if len(cmds) > 0 && isNoScript(cmds[0].Err()) {
		_ = claimScript.Load(ctx, s.rdb).Err()
	}
	for i, shard := range shards {
		if isNoScript(cmds[i].Err()) {
			cmds[i] = claimScript.Run(ctx, s.rdb, []string{s.timersKey(shard), s.dataKey(shard)}, now.UnixMilli(), token, n)
		}
		res, cerr := cmds[i].StringSlice()
		if cerr != nil {
			err = errors.Join(err, fmt.Errorf("claim timers of shard %d: %w", shard, cerr))
			continue
		}
		got, earliest, derr := decodeClaims(res, shard, token)
		err = errors.Join(err, derr)
		claims = append(claims, got...)
		seen = append(seen, shardClaim{shard: shard, earliest: earliest})
		if (len(res)-1)/2 >= n {
			full = append(full, shard)
		}
	}
	return claims, full, seen, err
}

// decodeClaims reads the claim script's answer: the claims and the
// earliest score left.
func decodeClaims(res []string, shard int, token int64) ([]Claim, int64, error) {
	earliest := int64(noTimer)
	if len(res) == 0 {
		return nil, earliest, errors.New("claim timers: empty answer")
	}
	if res[0] != "" {
		f, err := strconv.ParseFloat(res[0], 64)
		if err != nil {
			return nil, earliest, fmt.Errorf("claim timers: earliest score %q: %w", res[0], err)
		}
		earliest = int64(f)
	}
	res = res[1:]
	claims := make([]Claim, 0, len(res)/2)
	var bad error
	for i := 0; i+1 < len(res); i += 2 {
		t, err := decodeTimer(res[i], shard, res[i+1])
		if err != nil {
			// Not ours to fix: it stays claimed and comes back after the
			// lease, and the error is counted each time.
			bad = errors.Join(bad, fmt.Errorf("timer %s: %w", res[i], err))
			continue
		}
		claims = append(claims, Claim{Timer: t, token: token, raw: res[i+1]})
	}
	return claims, earliest, bad
}

// fireScript completes a claimed timer: it records the alert of the step
// and writes its event to the outbox and the feed, then moves the timer to
// its next step or removes it, all or nothing.
//
// KEYS[1] timers, KEYS[2] timer data, KEYS[3] alerts, KEYS[4] open alerts,
// KEYS[5] the order's alerts, KEYS[6] alert Kafka keys, KEYS[7] outbox
// stream, KEYS[8] feed stream
// ARGV[1] timer id, ARGV[2] lease token, ARGV[3] timer data as claimed,
// ARGV[4] alert id (empty: only move the timer), ARGV[5] alert JSON,
// ARGV[6] step, ARGV[7] '1' for a rung of a breach chain, ARGV[8] next due
// (unix ms; empty removes the timer), ARGV[9] next data, ARGV[10] feed length,
// ARGV[11] Kafka key, ARGV[12] wake channel, ARGV[13...] outbox entry
// field, value pairs. A next due earlier than every timer of the shard is
// published on the wake channel.
// Returns 1 raised, 2 raised before (a duplicate: no event), 3 the chain's
// alert was acknowledged or resolved (no event, timer removed), 4 moved
// only, 0 lease lost (the timer was re-claimed, cancelled or re-planned).
var fireScript = redis.NewScript(`
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) or redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[3] then
  return 0
end
local result = 4
if ARGV[4] ~= '' then
  result = 1
  local cur = redis.call('HGET', KEYS[3], ARGV[4])
  if cur then
    local a = cjson.decode(cur)
    if ARGV[7] == '1' and a.state ~= 'open' then
      redis.call('ZREM', KEYS[1], ARGV[1])
      redis.call('HDEL', KEYS[2], ARGV[1])
      return 3
    end
    if ARGV[7] ~= '1' or (tonumber(a.step) or 0) >= tonumber(ARGV[6]) then
      result = 2
    end
  end
  if result == 1 then
    redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
    redis.call('SADD', KEYS[4], ARGV[4])
    redis.call('SADD', KEYS[5], ARGV[4])
    redis.call('HSET', KEYS[6], ARGV[4], ARGV[11])
    local fields = {}
    for i = 13, #ARGV do fields[#fields + 1] = ARGV[i] end
    redis.call('XADD', KEYS[7], '*', unpack(fields))
    redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[10], '*', 'type', 'hotline.alert.raised', 'data', ARGV[5])
  end
end
if ARGV[8] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  local first = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
  if first == nil or tonumber(ARGV[8]) < first then redis.call('PUBLISH', ARGV[12], ARGV[8]) end
  redis.call('ZADD', KEYS[1], ARGV[8], ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[9])
end
return result
`)

// Results of the fire script.
const (
	fireLeaseLost = 0
	fireRaised    = 1
	fireDuplicate = 2
	fireStopped   = 3
	fireMoved     = 4
)

// ErrLeaseLost means the timer changed after it was claimed: another
// claimer took it after this lease ended, or it was cancelled or
// re-planned. Nothing was raised.
var ErrLeaseLost = errors.New("timer lease lost")

// fireCall is one run of fireScript.
type fireCall struct {
	keys []string
	args []any
}

// fireArgs builds the script call completing c: raising alert with ev
// (when f.raise) and moving the timer to f.next (nil removes it).
func (s *Store) fireArgs(c Claim, f firing, ev queue.Event) (fireCall, error) {
	var alertID, alertData, nextDue, nextData string
	chain := "0"
	if f.raise {
		data := f.data
		if data == nil {
			var err error
			if data, err = json.Marshal(f.alert); err != nil {
				return fireCall{}, fmt.Errorf("encode alert: %w", err)
			}
		}
		alertID, alertData = f.alert.ID, string(data)
		if f.chain {
			chain = "1"
		}
	}
	if f.next != nil {
		data, err := encodeTimer(*f.next)
		if err != nil {
			return fireCall{}, err
		}
		nextDue, nextData = strconv.FormatInt(f.next.Due.UnixMilli(), 10), data
	}
	args := []any{c.ID, strconv.FormatInt(c.token, 10), c.raw, alertID, alertData, f.alert.Step, chain,
		nextDue, nextData, s.feedLen, ev.Key, s.WakeChannel(c.Shard)}
	if f.raise {
		args = append(args, ev.Values()...)
	}
	keys := []string{s.timersKey(c.Shard), s.dataKey(c.Shard), s.alertsKey(c.Shard), s.openAlertsKey(c.Shard),
		s.orderAlertsKey(c.Shard, c.WorkOrderID), s.alertKafkaKeysKey(c.Shard), s.outbox.Key(c.Shard), s.FeedKey(c.Shard)}
	return fireCall{keys: keys, args: args}, nil
}

// Fire completes c with alert and its event, once: the timer is removed.
// It reports false when the alert had been raised already (the timer is
// removed all the same), and ErrLeaseLost when c no longer holds the timer.
func (s *Store) Fire(ctx context.Context, c Claim, alert Alert, ev queue.Event) (bool, error) {
	call, err := s.fireArgs(c, firing{raise: true, alert: alert}, ev)
	if err != nil {
		return false, err
	}
	n, err := fireScript.Run(ctx, s.rdb, call.keys, call.args...).Int()
	if err != nil {
		return false, fmt.Errorf("fire timer %s: %w", c.ID, err)
	}
	switch n {
	case fireLeaseLost:
		return false, ErrLeaseLost
	case fireRaised:
		return true, nil
	}
	return false, nil
}

// Pending returns the due times of the timers of an order, for tests and the API.
func (s *Store) Pending(ctx context.Context, shard int, ids ...string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	for _, id := range ids {
		score, err := s.rdb.ZScore(ctx, s.timersKey(shard), id).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("timer %s: %w", id, err)
		}
		out[id] = time.UnixMilli(int64(score))
	}
	return out, nil
}

// TimerOf reads the timer with id in shard, ErrNotFound when there is none.
func (s *Store) TimerOf(ctx context.Context, shard int, id string) (*Timer, error) {
	data, err := s.rdb.HGet(ctx, s.dataKey(shard), id).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get timer %s: %w", id, err)
	}
	t, err := decodeTimer(id, shard, data)
	if err != nil {
		return nil, fmt.Errorf("timer %s: %w", id, err)
	}
	return &t, nil
}

// Errors of alerts.
var (
	// ErrNotFound is returned for an unknown alert or timer.
	ErrNotFound = errors.New("not found")
	// ErrAlertResolved is returned when acknowledging a resolved alert.
	ErrAlertResolved = errors.New("alert is resolved")
)

// Alert reads one alert of shard.
func (s *Store) Alert(ctx context.Context, shard int, id string) (*Alert, error) {
	data, err := s.rdb.HGet(ctx, s.alertsKey(shard), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get alert %s: %w", id, err)
	}
	return decodeAlert(id, data)
}

func decodeAlert(id string, data []byte) (*Alert, error) {
	var a Alert
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("decode alert %s: %w", id, err)
	}
	return &a, nil
}

// findAlert returns the shard holding alert id, asking every shard at once
// (alert ids do not name their shard; acknowledging is rare).
func (s *Store) findAlert(ctx context.Context, id string) (int, error) {
	cmds := make([]*redis.BoolCmd, s.shards)
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for shard := range cmds {
			cmds[shard] = pipe.HExists(ctx, s.alertsKey(shard), id)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("find alert %s: %w", id, err)
	}
	for shard, c := range cmds {
		if c.Val() {
			return shard, nil
		}
	}
	return 0, ErrNotFound
}

// FindAlert reads an alert by id alone.
func (s *Store) FindAlert(ctx context.Context, id string) (*Alert, error) {
	shard, err := s.findAlert(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.Alert(ctx, shard, id)
}

// OpenAlerts counts the alerts open in every shard (a metric's source).
func (s *Store) OpenAlerts(ctx context.Context) (int64, error) {
	cmds, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for shard := 0; shard < s.shards; shard++ {
			pipe.SCard(ctx, s.openAlertsKey(shard))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count open alerts: %w", err)
	}
	var total int64
	for _, c := range cmds {
		total += c.(*redis.IntCmd).Val()
	}
	return total, nil
}

// Alerts lists the alerts in state (open, acked or resolved), newest
// raised first, at most limit of them (limit <= 0: all).
func (s *Store) Alerts(ctx context.Context, state string, limit int) ([]Alert, error) {
	ids := make([]*redis.StringSliceCmd, s.shards)
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for shard := range ids {
			switch state {
			case StateOpen:
				ids[shard] = pipe.SMembers(ctx, s.openAlertsKey(shard))
			case StateAcked:
				ids[shard] = pipe.SMembers(ctx, s.ackedAlertsKey(shard))
			case StateResolved:
				stop := int64(-1)
				if limit > 0 {
					stop = int64(limit) - 1
				}
				ids[shard] = pipe.ZRevRange(ctx, s.resolvedAlertsKey(shard), 0, stop)
			default:
				return fmt.Errorf("unknown alert state %q", state)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s alerts: %w", state, err)
	}
	data := make([]*redis.SliceCmd, s.shards)
	_, err = s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for shard, c := range ids {
			if len(c.Val()) > 0 {
				data[shard] = pipe.HMGet(ctx, s.alertsKey(shard), c.Val()...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s alerts: %w", state, err)
	}
	out := []Alert{}
	for shard, c := range data {
		if c == nil {
			continue
		}
		for i, v := range c.Val() {
			raw, ok := v.(string)
			if !ok {
				continue // removed between the two reads
			}
			a, err := decodeAlert(ids[shard].Val()[i], []byte(raw))
			if err != nil {
				return nil, err
			}
			if a.State == state {
				out = append(out, *a)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].RaisedAt.Equal(out[j].RaisedAt) {
			return out[i].RaisedAt.After(out[j].RaisedAt)
		}
		return out[i].ID < out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// ackScript acknowledges an open alert: it stops the climb of a breach
// alert (the stage's timer sees the state and stops) and writes
// hotline.alert.acked to the outbox and the feed.
//
// KEYS[1] alerts, KEYS[2] open alerts, KEYS[3] acked alerts, KEYS[4] alert
// Kafka keys, KEYS[5] outbox stream, KEYS[6] feed stream
// ARGV[1] alert id, ARGV[2] now (RFC 3339), ARGV[3] who, ARGV[4] note,
// ARGV[5] feed length, ARGV[6] event source, ARGV[7] alerts topic,
// ARGV[8] event time (RFC 3339, UTC)
// Returns {code, alert JSON}: 1 acknowledged, 2 acknowledged before,
// 3 resolved, 0 unknown.
var ackScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return {0, ''} end
local a = cjson.decode(cur)
if a.state == 'acked' then return {2, cur} end
if a.state ~= 'open' then return {3, cur} end
a.state = 'acked'
a.acked_at = ARGV[2]
a.acked_by = ARGV[3]
if ARGV[4] ~= '' then a.ack_note = ARGV[4] end
local data = cjson.encode(a)
redis.call('HSET', KEYS[1], ARGV[1], data)
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
local subject = a.work_order_id
if type(subject) ~= 'string' or subject == '' then subject = ARGV[1] end
local key = redis.call('HGET', KEYS[4], ARGV[1]) or subject
redis.call('XADD', KEYS[5], '*', 'id', 'alert-acked:' .. ARGV[1] .. ':' .. tostring(a.raised_at),
  'type', 'hotline.alert.acked', 'source', ARGV[6], 'subject', subject, 'time', ARGV[8], 'key', key,
  'topics', ARGV[7], 'data', data)
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[5], '*', 'type', 'hotline.alert.acked', 'data', data)
return {1, data}
`)

// Ack acknowledges alert id on behalf of by (the caller's role or name),
// with an optional note. Acknowledging stops the repeats of a breach
// alert; acknowledging an acknowledged alert changes nothing and returns
// it. Errors: ErrNotFound, ErrAlertResolved (with the alert).
func (s *Store) Ack(ctx context.Context, id, by, note string, now time.Time) (*Alert, error) {
	if s.source == "" || s.alertsTopic == "" {
		return nil, ErrNoAlertEvents
	}
	shard, err := s.findAlert(ctx, id)
	if err != nil {
		return nil, err
	}
	keys := []string{s.alertsKey(shard), s.openAlertsKey(shard), s.ackedAlertsKey(shard),
		s.alertKafkaKeysKey(shard), s.outbox.Key(shard), s.FeedKey(shard)}
	res, err := ackScript.Run(ctx, s.rdb, keys, id, now.Format(time.RFC3339Nano), by, note, s.feedLen,
		s.source, s.alertsTopic, now.UTC().Format(time.RFC3339Nano)).Slice()
	if err != nil {
		return nil, fmt.Errorf("ack alert %s: %w", id, err)
	}
	code, _ := res[0].(int64)
	if code == 0 {
		return nil, ErrNotFound
	}
	raw, _ := res[1].(string)
	a, err := decodeAlert(id, []byte(raw))
	if err != nil {
		return nil, err
	}
	if code == 3 {
		return a, ErrAlertResolved
	}
	return a, nil
}

// resolveScript resolves the alerts of an order that are not resolved yet
// (all, or those of some stages), each with hotline.alert.resolved in the
// outbox and the feed, and forgets alerts resolved before the retention.
//
// KEYS[1] alerts, KEYS[2] open alerts, KEYS[3] acked alerts, KEYS[4]
// resolved alerts (sorted by resolve time), KEYS[5] the order's alerts,
// KEYS[6] alert Kafka keys, KEYS[7] outbox stream, KEYS[8] feed stream
// ARGV[1] now (RFC 3339), ARGV[2] now (unix ms), ARGV[3] forget alerts
// resolved before this (unix ms), ARGV[4] feed length, ARGV[5] event
// source, ARGV[6] alerts topic, ARGV[7] event time (RFC 3339, UTC),
// ARGV[8] 'all' or 'stages', ARGV[9...] the stages
// Returns the number of alerts resolved.
var resolveScript = rbatch.NewScript(`
local only = nil
if ARGV[8] == 'stages' then
  only = {}
  for i = 9, #ARGV do only[ARGV[i]] = true end
end
local ids = redis.call('SMEMBERS', KEYS[5])
table.sort(ids)
local n = 0
for _, id in ipairs(ids) do
  local cur = redis.call('HGET', KEYS[1], id)
  if not cur then
    redis.call('SREM', KEYS[5], id)
  else
    local a = cjson.decode(cur)
    if only == nil or only[a.stage] then
      redis.call('SREM', KEYS[5], id)
      if a.state ~= 'resolved' then
        a.state = 'resolved'
        a.resolved_at = ARGV[1]
        local data = cjson.encode(a)
        redis.call('HSET', KEYS[1], id, data)
        redis.call('SREM', KEYS[2], id)
        redis.call('SREM', KEYS[3], id)
        redis.call('ZADD', KEYS[4], ARGV[2], id)
        local key = redis.call('HGET', KEYS[6], id) or a.work_order_id
        redis.call('XADD', KEYS[7], '*', 'id', 'alert-resolved:' .. id, 'type', 'hotline.alert.resolved',
          'source', ARGV[5], 'subject', a.work_order_id, 'time', ARGV[7], 'key', key, 'topics', ARGV[6], 'data', data)
        redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[4], '*', 'type', 'hotline.alert.resolved', 'data', data)
        n = n + 1
      end
    end
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[3], 'LIMIT', 0, 100)) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[6], id)
  redis.call('ZREM', KEYS[4], id)
end
return n
`)

// ResolveOrderAlerts queues, on c (the caller's batch, or the client to run
// it at once), the resolution of every alert of an order: the order is
// resolved. Each gets hotline.alert.resolved; the climbs of its breach
// alerts stop.
func (s *Store) ResolveOrderAlerts(ctx context.Context, c redis.Scripter, shard int, workOrderID string, now time.Time) error {
	return s.resolve(ctx, c, shard, workOrderID, nil, now)
}

// ResolveStageAlerts is ResolveOrderAlerts for the alerts of some stages
// only: the stages ended (a late registration is moot once registered).
func (s *Store) ResolveStageAlerts(ctx context.Context, c redis.Scripter, shard int, workOrderID string, stages []string, now time.Time) error {
	if len(stages) == 0 {
		return nil
	}
	return s.resolve(ctx, c, shard, workOrderID, stages, now)
}

func (s *Store) resolve(ctx context.Context, c redis.Scripter, shard int, workOrderID string, stages []string, now time.Time) error {
	if s.source == "" || s.alertsTopic == "" {
		return ErrNoAlertEvents
	}
	keys := []string{s.alertsKey(shard), s.openAlertsKey(shard), s.ackedAlertsKey(shard), s.resolvedAlertsKey(shard),
		s.orderAlertsKey(shard, workOrderID), s.alertKafkaKeysKey(shard), s.outbox.Key(shard), s.FeedKey(shard)}
	args := []any{now.Format(time.RFC3339Nano), now.UnixMilli(), now.Add(-s.retention).UnixMilli(), s.feedLen,
		s.source, s.alertsTopic, now.UTC().Format(time.RFC3339Nano)}
	if stages == nil {
		args = append(args, "all")
	} else {
		args = append(args, "stages")
		for _, st := range stages {
			args = append(args, st)
		}
	}
	// EVAL, not EVALSHA: a batch (internal/rbatch) runs only registered
	// scripts' EVALs, and inside a MULTI a missing script could not be
	// retried.
	return resolveScript.Eval(ctx, c, keys, args...).Err()
}

// moveScript re-schedules a timer unless it changed since it was read.
//
// KEYS[1] timers, KEYS[2] timer data
// ARGV[1] timer id, ARGV[2] data as read, ARGV[3] new due (unix ms), ARGV[4]
// new data, ARGV[5] wake channel (published to when the new due is the
// shard's earliest)
// Returns 1 moved, 0 changed meanwhile (fired, cancelled or re-planned).
var moveScript = redis.NewScript(`
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
local first = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
if first == nil or tonumber(ARGV[3]) < first then redis.call('PUBLISH', ARGV[5], ARGV[3]) end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
return 1
`)

// RecomputeStats counts what Recompute did.
type RecomputeStats struct {
	Timers int // timers read
	Moved  int // timers whose due time changed
}

// Recompute works out every open timer's due time again with the policies
// and the calendar in use (after a calendar reload) and moves those that
// changed. A timer that fires or changes meanwhile is left to its new
// state. Orders' deadlines fields are not rewritten: they catch up at the
// order's next change.
func (s *Store) Recompute(ctx context.Context, p *Policies) (RecomputeStats, error) {
	var st RecomputeStats
	for shard := 0; shard < s.shards; shard++ {
		var cursor uint64
		for {
			kv, next, err := s.rdb.HScan(ctx, s.dataKey(shard), cursor, "*", 500).Result()
			if err != nil {
				return st, fmt.Errorf("recompute timers: %w", err)
			}
			for i := 0; i+1 < len(kv); i += 2 {
				st.Timers++
				t, err := decodeTimer(kv[i], shard, kv[i+1])
				if err != nil {
					continue
				}
				moved, ok := p.rescheduled(t)
				if !ok {
					continue
				}
				data, err := encodeTimer(moved)
				if err != nil {
					return st, err
				}
				s.noteAdded(shard, moved.Due.UnixMilli())
				n, err := moveScript.Run(ctx, s.rdb, []string{s.timersKey(shard), s.dataKey(shard)},
					kv[i], kv[i+1], moved.Due.UnixMilli(), data, s.WakeChannel(shard)).Int()
				if err != nil {
					return st, fmt.Errorf("move timer %s: %w", kv[i], err)
				}
				st.Moved += n
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	return st, nil
}
