package workorder

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlined/hotlined/classifier"
)

// GroupCounter counts complaints in group-complaint windows and keeps each
// window's incident. A window's count is exact across daemons and
// concurrent calls. RedisGroups implements it.
type GroupCounter interface {
	// Count adds the order to each window (once: counting it again answers
	// the same) and reports where each window stands after.
	Count(ctx context.Context, orderID string, now time.Time, windows []classifier.Window) ([]GroupCount, error)
	// Pending reports, per window, whether the order waits in the window's
	// incident to be reclassified as a member.
	Pending(ctx context.Context, orderID string, windows []classifier.Window) ([]bool, error)
	// Incident reads a window's incident; nil when none was raised.
	Incident(ctx context.Context, w classifier.Window) (*Incident, error)
	// Settle records progress on a window's incident.
	Settle(ctx context.Context, w classifier.Window, s Settlement) error
	// Confirm marks a window's incident verified by actor; nil when the
	// window has no incident.
	Confirm(ctx context.Context, w classifier.Window, actor string, now time.Time) (*Incident, error)
	// Incidents are the incident ids of the windows counted in a period
	// (20261123 or 202611), raised or not, for the reconciler.
	Incidents(ctx context.Context, period string) ([]string, error)
}

// GroupCount is a window's answer to counting one order.
type GroupCount struct {
	N int // the order's place in the window's count
	// Incident is the window's incident, nil while below the threshold.
	// Its Members are the orders that raised it (the first threshold).
	Incident *Incident
	// Raised: this order's count raised the incident.
	Raised bool
	// Pending: the order was counted before the incident and waits to be
	// reclassified as a member.
	Pending bool
}

// Incident is a group complaint: its JSON is the data of the
// hotline.incident.group_complaint event.
type Incident struct {
	ID          string     `json:"id"`
	Rule        string     `json:"rule"`
	Province    string     `json:"province"`
	ProblemCode string     `json:"problem_code"`
	Subcategory string     `json:"subcategory"`
	Period      string     `json:"period"`
	Members     []string   `json:"members"`
	Verified    bool       `json:"verified"`
	RaisedAt    time.Time  `json:"raised_at"`
	ConfirmedBy string     `json:"confirmed_by,omitempty"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`

	// Trigger is the order whose count raised the incident; its outbox
	// shard carries the incident's events.
	Trigger string `json:"-"`
	// Pending are members counted before the incident not yet reclassified.
	Pending []string `json:"-"`
	// Announced: the raising event is in an outbox. ConfirmAnnounced: the
	// confirmation's event is.
	Announced        bool `json:"-"`
	ConfirmAnnounced bool `json:"-"`
}

// Settlement is progress on an incident, written by the reconciler.
type Settlement struct {
	Settled          []string // members reclassified, or created as members: no longer pending
	Lost             []string // members whose order never came: out of the incident
	Announced        bool
	ConfirmAnnounced bool
}

// RedisGroups keeps group-complaint windows in Redis. Every key of one
// window shares the hash tag {grp:PROVINCE:SUBCATEGORY:PERIOD}, so one
// script counts and raises atomically, and the layout works on Redis
// Cluster unchanged; the window's keys expire keep after its period ends.
// A per-period index (its own slot) lists the windows counted, written
// before the first count of a window, for the reconciler.
type RedisGroups struct {
	rdb    redis.UniversalClient
	prefix string
	keep   time.Duration

	mu      sync.Mutex
	indexed map[string]bool // windows this process has entered in their period's index
}

var _ GroupCounter = (*RedisGroups)(nil)

// NewRedisGroups returns the Redis group counter; keep is how long a
// window's keys outlive its period.
func NewRedisGroups(rdb redis.UniversalClient, prefix string, keep time.Duration) *RedisGroups {
	return &RedisGroups{rdb: rdb, prefix: prefix, keep: keep, indexed: map[string]bool{}}
}

func (g *RedisGroups) key(w classifier.Window, what string) string {
	return fmt.Sprintf("%s:{grp:%s}:%s", g.prefix, w.Slot(), what)
}

func (g *RedisGroups) indexKey(period string) string {
	return fmt.Sprintf("%s:{grpidx:%s}:incidents", g.prefix, period)
}

func (g *RedisGroups) keys(w classifier.Window) []string {
	return []string{g.key(w, "members"), g.key(w, "incident"), g.key(w, "pending")}
}

// ttl is how long a window's keys live from now.
func (g *RedisGroups) ttl(w classifier.Window, now time.Time) time.Duration {
	d := w.End.Add(g.keep).Sub(now)
	if d < time.Second {
		d = time.Second
	}
	return d
}

// countScript counts an order in a group-complaint window and raises the
// window's incident when the count reaches the threshold. Counting an order
// already counted changes nothing and answers the same, so a retried call
// is counted once. The incident lists the members counted before it as
// pending, to be reclassified by whoever gets to them first.
//
// KEYS[1] members (zset: order id -> its place in the count)
// KEYS[2] incident (hash)
// KEYS[3] pending (set: members counted before the incident, not yet reclassified)
// ARGV[1] order id, ARGV[2] now (unix ms), ARGV[3] threshold, ARGV[4] ttl (ms),
// ARGV[5] incident id, ARGV[6] rule, ARGV[7] province, ARGV[8] subcategory,
// ARGV[9] period, ARGV[10] verified (1 or 0), ARGV[11] problem code
// Returns {n, state, pending, trigger, raised_at, members...}: n the
// order's place; state 0 below the threshold, 1 raised by this order, 2 a
// member of an incident raised by trigger; pending 1 when the order waits in
// pending; raised_at (unix ms) and the members that raised it (the first
// threshold, by place) only when state is not 0: a month's incident may
// grow to thousands, and no reply or order carries all of them.
var countScript = redis.NewScript(`
local id = ARGV[1]
local n = redis.call('ZSCORE', KEYS[1], id)
if n then
  n = tonumber(n)
else
  n = redis.call('ZCARD', KEYS[1]) + 1
  redis.call('ZADD', KEYS[1], n, id)
end
local ttl = tonumber(ARGV[4])
redis.call('PEXPIRE', KEYS[1], ttl)
local trigger = redis.call('HGET', KEYS[2], 'trigger')
local state = 0
if trigger then
  state = 2
  if trigger == id then state = 1 end
elseif n >= tonumber(ARGV[3]) then
  state = 1
  trigger = id
  redis.call('HSET', KEYS[2], 'id', ARGV[5], 'rule', ARGV[6], 'province', ARGV[7], 'subcategory', ARGV[8],
    'period', ARGV[9], 'verified', ARGV[10], 'problem_code', ARGV[11], 'raised_at', ARGV[2], 'trigger', id,
    'announced', '0', 'confirm_announced', '0')
  for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    if m ~= id then redis.call('SADD', KEYS[3], m) end
  end
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
end
if state == 0 then return {n, 0, 0, '', ''} end
local out = {n, state, redis.call('SISMEMBER', KEYS[3], id), trigger, redis.call('HGET', KEYS[2], 'raised_at')}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)) do out[#out + 1] = m end
return out
`)

// Count implements GroupCounter: one script per window, all pipelined.
func (g *RedisGroups) Count(ctx context.Context, orderID string, now time.Time, windows []classifier.Window) ([]GroupCount, error) {
	if len(windows) == 0 {
		return nil, nil
	}
	if err := g.index(ctx, now, windows); err != nil {
		return nil, err
	}
	cmds := make([]*redis.Cmd, len(windows))
	run := func(pipe redis.Pipeliner) error {
		for i, w := range windows {
			verified := 0
			if w.Verified {
				verified = 1
			}
			cmds[i] = countScript.EvalSha(ctx, pipe, g.keys(w), orderID, now.UnixMilli(), w.Threshold,
				g.ttl(w, now).Milliseconds(), w.IncidentID(), w.Rule, w.Province, w.Subcategory, w.Period, verified, w.ProblemCode)
		}
		return nil
	}
	_, err := g.rdb.Pipelined(ctx, run)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// A fresh server: load the script and count again (counting twice
		// is harmless; the windows that did count answer the same).
		if err := countScript.Load(ctx, g.rdb).Err(); err != nil {
			return nil, fmt.Errorf("count group complaint: load script: %w", err)
		}
		_, err = g.rdb.Pipelined(ctx, run)
	}
	if err != nil {
		return nil, fmt.Errorf("count group complaint: %w", err)
	}
	out := make([]GroupCount, len(windows))
	for i, cmd := range cmds {
		vals, err := cmd.Slice()
		if err != nil || len(vals) < 5 {
			return nil, fmt.Errorf("count group complaint: reply %v: %v", vals, err)
		}
		n, _ := vals[0].(int64)
		state, _ := vals[1].(int64)
		pending, _ := vals[2].(int64)
		out[i] = GroupCount{N: int(n), Pending: pending == 1, Raised: state == 1}
		if state == 0 {
			continue
		}
		w := windows[i]
		inc := &Incident{ID: w.IncidentID(), Rule: w.Rule, Province: w.Province, ProblemCode: w.ProblemCode, Subcategory: w.Subcategory,
			Period: w.Period, Verified: w.Verified, Members: []string{}}
		inc.Trigger, _ = vals[3].(string)
		for _, v := range vals[5:] {
			if m, ok := v.(string); ok {
				inc.Members = append(inc.Members, m)
			}
		}
		if ms, err := strconv.ParseInt(fmt.Sprint(vals[4]), 10, 64); err == nil {
			inc.RaisedAt = time.UnixMilli(ms)
		}
		out[i].Incident = inc
	}
	return out, nil
}

// index enters the windows in their periods' index before they are first
// counted, so a reconciler finds every window that may hold an incident.
func (g *RedisGroups) index(ctx context.Context, now time.Time, windows []classifier.Window) error {
	g.mu.Lock()
	var todo []classifier.Window
	for _, w := range windows {
		if !g.indexed[w.IncidentID()] {
			todo = append(todo, w)
		}
	}
	g.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	_, err := g.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, w := range todo {
			k := g.indexKey(w.PeriodKey())
			pipe.SAdd(ctx, k, w.IncidentID())
			pipe.PExpire(ctx, k, g.ttl(w, now))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index group windows: %w", err)
	}
	g.mu.Lock()
	if len(g.indexed) > 100000 { // old periods: forget them all, re-adding is harmless
		clear(g.indexed)
	}
	for _, w := range todo {
		g.indexed[w.IncidentID()] = true
	}
	g.mu.Unlock()
	return nil
}

// Pending implements GroupCounter.
func (g *RedisGroups) Pending(ctx context.Context, orderID string, windows []classifier.Window) ([]bool, error) {
	cmds := make([]*redis.BoolCmd, len(windows))
	_, err := g.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, w := range windows {
			cmds[i] = pipe.SIsMember(ctx, g.key(w, "pending"), orderID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("group pending: %w", err)
	}
	out := make([]bool, len(windows))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// Incident implements GroupCounter.
func (g *RedisGroups) Incident(ctx context.Context, w classifier.Window) (*Incident, error) {
	var (
		fields  *redis.MapStringStringCmd
		members *redis.StringSliceCmd
		pending *redis.StringSliceCmd
	)
	_, err := g.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		fields = pipe.HGetAll(ctx, g.key(w, "incident"))
		members = pipe.ZRange(ctx, g.key(w, "members"), 0, -1)
		pending = pipe.SMembers(ctx, g.key(w, "pending"))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read incident %s: %w", w.IncidentID(), err)
	}
	f := fields.Val()
	if f["trigger"] == "" {
		return nil, nil
	}
	inc := &Incident{ID: f["id"], Rule: f["rule"], Province: f["province"], ProblemCode: w.ProblemCode, Subcategory: f["subcategory"],
		Period: f["period"], Members: members.Val(), Verified: f["verified"] == "1",
		ConfirmedBy: f["confirmed_by"], Trigger: f["trigger"], Pending: pending.Val(),
		Announced: f["announced"] == "1", ConfirmAnnounced: f["confirm_announced"] == "1"}
	slices.Sort(inc.Pending)
	if ms, err := strconv.ParseInt(f["raised_at"], 10, 64); err == nil {
		inc.RaisedAt = time.UnixMilli(ms)
	}
	if ms, err := strconv.ParseInt(f["confirmed_at"], 10, 64); err == nil {
		at := time.UnixMilli(ms)
		inc.ConfirmedAt = &at
	}
	return inc, nil
}

// Settle implements GroupCounter, in one MULTI on the window's slot.
func (g *RedisGroups) Settle(ctx context.Context, w classifier.Window, s Settlement) error {
	_, err := g.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, id := range s.Settled {
			pipe.SRem(ctx, g.key(w, "pending"), id)
		}
		for _, id := range s.Lost {
			pipe.SRem(ctx, g.key(w, "pending"), id)
			pipe.ZRem(ctx, g.key(w, "members"), id)
		}
		if s.Announced {
			pipe.HSet(ctx, g.key(w, "incident"), "announced", "1")
		}
		if s.ConfirmAnnounced {
			pipe.HSet(ctx, g.key(w, "incident"), "confirm_announced", "1")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("settle incident %s: %w", w.IncidentID(), err)
	}
	return nil
}

// confirmScript marks an incident verified.
//
// KEYS[1] incident (hash)
// ARGV[1] actor, ARGV[2] now (unix ms)
// Returns 0 when there is no incident, 1 when confirmed now, 2 when it was
// verified already.
var confirmScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'trigger') == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'verified') == '1' then return 2 end
redis.call('HSET', KEYS[1], 'verified', '1', 'confirmed_by', ARGV[1], 'confirmed_at', ARGV[2], 'confirm_announced', '0')
return 1
`)

// Confirm implements GroupCounter.
func (g *RedisGroups) Confirm(ctx context.Context, w classifier.Window, actor string, now time.Time) (*Incident, error) {
	n, err := confirmScript.Run(ctx, g.rdb, []string{g.key(w, "incident")}, actor, now.UnixMilli()).Int()
	if err != nil {
		return nil, fmt.Errorf("confirm incident %s: %w", w.IncidentID(), err)
	}
	if n == 0 {
		return nil, nil
	}
	return g.Incident(ctx, w)
}

// Incidents implements GroupCounter.
func (g *RedisGroups) Incidents(ctx context.Context, period string) ([]string, error) {
	ids, err := g.rdb.SMembers(ctx, g.indexKey(period)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("group windows of %s: %w", period, err)
	}
	slices.Sort(ids)
	return ids, nil
}
