package workorder

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlined/hotlined/classifier"
)

// GroupCounter counts complaints in group-complaint windows and keeps their
// incidents. A window's count is exact across daemons and concurrent
// calls. RedisGroups implements it.
type GroupCounter interface {
	// Count adds the order to each window (once: counting it again answers
	// the same) and reports where each window stands after: below the
	// threshold, or the incident the order raised or joined.
	Count(ctx context.Context, orderID string, now time.Time, windows []classifier.Window) ([]GroupCount, error)
	// Pending reports, per window, whether the order waits in the window's
	// open incident to have the incident's state applied to it.
	Pending(ctx context.Context, orderID string, windows []classifier.Window) ([]bool, error)
	// Incident reads an incident by id (its window from
	// classifier.Rules.WindowOf); nil when there is none.
	Incident(ctx context.Context, w classifier.Window) (*Incident, error)
	// Settle records progress on an incident.
	Settle(ctx context.Context, w classifier.Window, s Settlement) error
	// Decide sets a suspected incident's state to confirmed or rejected by
	// actor: every member waits again to have it applied. It returns the
	// incident and whether this call changed it; ErrIncidentDecided when it
	// was decided the other way before; nil when there is no incident.
	Decide(ctx context.Context, w classifier.Window, state, actor, note string, now time.Time) (*Incident, bool, error)
	// Incidents are the ids of every incident kept, for the reconciler and
	// the listing.
	Incidents(ctx context.Context) ([]string, error)
	// Uncount takes the order out of the windows' counts (an invalid
	// complaint); an incident raised already keeps it as a member.
	Uncount(ctx context.Context, orderID string, windows []classifier.Window) error
}

// ErrIncidentDecided: the incident was confirmed or rejected already, the
// other way.
var ErrIncidentDecided = errors.New("the incident was decided already")

// GroupCount is a window's answer to counting one order.
type GroupCount struct {
	N int // the count in the window, or the order's place in the incident
	// Incident is the incident the order belongs to, nil while below the
	// threshold. Its Members are those that raised it (the first
	// threshold).
	Incident *Incident
	// Raised: this order's count raised the incident.
	Raised bool
	// Pending: the order is in the incident's pending set (it was counted
	// before the incident, or before its last decision).
	Pending bool
}

// Incident is a group complaint; its JSON is the data of the
// hotline.incident.group_complaint event.
type Incident struct {
	ID   string `json:"id"`
	Rule string `json:"rule"`
	// Window is day, rolling_30d or calendar_month.
	Window      string   `json:"window"`
	State       string   `json:"state"` // suspected, confirmed, rejected
	Province    string   `json:"province"`
	ProblemCode string   `json:"problem_code"`
	Subcategory string   `json:"subcategory"`
	Period      string   `json:"period"`
	Members     []string `json:"members"`
	// Verified: confirmed by a supervisor (the problem is real, 问题属实).
	Verified bool      `json:"verified"`
	RaisedAt time.Time `json:"raised_at"`
	// End is when it stops taking members (moves on for a rolling window).
	End       time.Time  `json:"end,omitzero"`
	DecidedBy string     `json:"decided_by,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	Note      string     `json:"note,omitempty"`

	// Trigger is the order whose count raised the incident; its outbox
	// shard carries the incident's events.
	Trigger string `json:"-"`
	// Pending are members the incident's state is not yet applied to.
	Pending []string `json:"-"`
	// Announced: the raising event is in an outbox. DecisionAnnounced: the
	// decision's event is.
	Announced         bool `json:"-"`
	DecisionAnnounced bool `json:"-"`
}

// Settlement is progress on an incident, written by the reconciler.
type Settlement struct {
	Settled           []string // members the incident's state is applied to: no longer pending
	Lost              []string // members whose order never came: out of the incident
	Announced         bool
	DecisionAnnounced bool
}

// RedisGroups keeps group-complaint counts and incidents in Redis. Every key
// of one (province, problem code) shares the hash tag
// {grp:PROVINCE:CODE}, so one script counts, raises and joins atomically,
// and the layout works on Redis Cluster unchanged:
//
//	…:day:recent, …:month:recent   zset order id -> counted at (unix ms)
//	…:day:current, …:month:current the open incident's period (expires at its end)
//	…:day:since, …:month:since     when the last incident was rejected (unix ms)
//	…:inc:PERIOD                   hash: the incident; :members zset (place); :pending set
//	…:incidents                    zset period -> raised at
//
// A set {grpidx}:slots (its own slot) lists the (province, code) pairs
// ever counted, written before their first count, for the reconciler and
// the listing.
type RedisGroups struct {
	rdb    redis.UniversalClient
	prefix string
	keep   time.Duration

	mu      sync.Mutex
	indexed map[string]bool // slots this process has entered in the index
}

var _ GroupCounter = (*RedisGroups)(nil)

// NewRedisGroups returns the Redis group counter; keep is how long an
// incident's keys outlive its end.
func NewRedisGroups(rdb redis.UniversalClient, prefix string, keep time.Duration) *RedisGroups {
	return &RedisGroups{rdb: rdb, prefix: prefix, keep: keep, indexed: map[string]bool{}}
}

func (g *RedisGroups) slotKey(slot string) string {
	return fmt.Sprintf("%s:{grp:%s}", g.prefix, slot)
}

func (g *RedisGroups) seriesKey(w classifier.Window, what string) string {
	return g.slotKey(w.Slot()) + ":" + w.Series() + ":" + what
}

func (g *RedisGroups) incKey(w classifier.Window, period string) string {
	return g.slotKey(w.Slot()) + ":inc:" + period
}

func (g *RedisGroups) indexKey() string { return g.prefix + ":{grpidx}:slots" }

// recentKeep is how long a count stays in a series: the longest window
// (31 days of a calendar month, 30 rolling) and a day of slack.
const recentKeep = 32 * 24 * time.Hour

// countScript counts an order in one window of a (province, code) and
// answers where it stands. An order already counted is not counted again,
// so a retried call is counted once.
//
//   - The series' open incident (suspected or confirmed, before its end)
//     takes the order as a member (a rolling incident's end moves to a
//     span after it). Its end is checked against now, the argument; every
//     key outlives its end by keep, so expiry only collects garbage and a
//     simulated clock works.
//   - Else the orders counted since the window's start (and since the last
//     rejection) are counted; at the threshold they raise a suspected
//     incident of this period, with every member but this order pending.
//     A period whose incident was rejected raises none again.
//
// KEYS[1] recent (zset), KEYS[2] current (string), KEYS[3] since (string),
// KEYS[4] the slot's incidents (zset)
// ARGV[1] order id, ARGV[2] now (unix ms), ARGV[3] window start (unix ms),
// ARGV[4] threshold, ARGV[5] period of an incident raised now,
// ARGV[6] its end (unix ms), ARGV[7] keep (ms), ARGV[8] incident key
// prefix (…:inc:), ARGV[9] rule, ARGV[10] window kind, ARGV[11] province,
// ARGV[12] problem code, ARGV[13] subcategory, ARGV[14] 1 when rolling,
// ARGV[15] recent keep (ms), ARGV[16] the state it is raised in
// (suspected; open for a batch)
// Returns {state, n} when below the threshold (state 0), else {state, n,
// period, incident state, trigger, raised_at, pending (0/1), members...}:
// state 1 raised by this order, 2 a member; n its place; members the first
// threshold, by place.
var countScript = redis.NewScript(`
local id, now = ARGV[1], tonumber(ARGV[2])
local keep, rkeep, threshold = tonumber(ARGV[7]), tonumber(ARGV[15]), tonumber(ARGV[4])
if not redis.call('ZSCORE', KEYS[1], id) then redis.call('ZADD', KEYS[1], now, id) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - rkeep))
redis.call('PEXPIRE', KEYS[1], rkeep)
local function answer(state, period, n)
  local inc = ARGV[8] .. period
  local out = {state, n, period, redis.call('HGET', inc, 'state'), redis.call('HGET', inc, 'trigger'),
    redis.call('HGET', inc, 'raised_at'), redis.call('SISMEMBER', inc .. ':pending', id)}
  for _, m in ipairs(redis.call('ZRANGE', inc .. ':members', 0, threshold - 1)) do out[#out + 1] = m end
  return out
end
local cur = redis.call('GET', KEYS[2])
if cur then
  local inc = ARGV[8] .. cur
  local st = redis.call('HGET', inc, 'state')
  local ends = tonumber(redis.call('HGET', inc, 'end') or '0')
  if (st == 'suspected' or st == 'confirmed' or st == 'open') and now < ends then
    local n = redis.call('ZSCORE', inc .. ':members', id)
    if not n then
      n = redis.call('ZCARD', inc .. ':members') + 1
      redis.call('ZADD', inc .. ':members', n, id)
      if ARGV[14] == '1' then
        local ttl = math.max(tonumber(ARGV[6]) - now, 1)
        redis.call('HSET', inc, 'end', ARGV[6])
        for _, k in ipairs({KEYS[2], inc, inc .. ':members', inc .. ':pending'}) do redis.call('PEXPIRE', k, ttl + keep) end
      end
    end
    local state = 2
    if redis.call('HGET', inc, 'trigger') == id then state = 1 end
    return answer(state, cur, tonumber(n))
  end
end
local from = tonumber(ARGV[3])
local since = tonumber(redis.call('GET', KEYS[3]) or '-1')
if since >= from then from = since + 1 end
-- Up to +inf, not now: contacts stamp their time before their script
-- runs, so a later script may carry an earlier time; every count since the
-- start is in the window.
local count = redis.call('ZCOUNT', KEYS[1], from, '+inf')
if count < threshold then return {0, count} end
local period = ARGV[5]
local inc = ARGV[8] .. period
if redis.call('EXISTS', inc) == 1 then return {0, count} end
local members = redis.call('ZRANGEBYSCORE', KEYS[1], from, '+inf')
local place = count
redis.call('HSET', inc, 'rule', ARGV[9], 'window', ARGV[10], 'province', ARGV[11], 'problem_code', ARGV[12],
  'subcategory', ARGV[13], 'period', period, 'state', ARGV[16], 'raised_at', now, 'end', ARGV[6],
  'trigger', id, 'announced', '0', 'decision_announced', '0')
for i, m in ipairs(members) do
  redis.call('ZADD', inc .. ':members', i, m)
  if m == id then place = i else redis.call('SADD', inc .. ':pending', m) end
end
local ttl = math.max(tonumber(ARGV[6]) - now, 1)
redis.call('SET', KEYS[2], period, 'PX', ttl + keep)
for _, k in ipairs({inc, inc .. ':members', inc .. ':pending'}) do redis.call('PEXPIRE', k, ttl + keep) end
redis.call('ZADD', KEYS[4], now, period)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. (now - ttl - keep - rkeep))
return answer(1, period, place)
`)

// Count implements GroupCounter: one script per window, pipelined.
func (g *RedisGroups) Count(ctx context.Context, orderID string, now time.Time, windows []classifier.Window) ([]GroupCount, error) {
	if len(windows) == 0 {
		return nil, nil
	}
	if err := g.index(ctx, windows); err != nil {
		return nil, err
	}
	cmds := make([]*redis.Cmd, len(windows))
	run := func(pipe redis.Pipeliner) error {
		for i, w := range windows {
			rolling := 0
			if w.Rolling() {
				rolling = 1
			}
			cmds[i] = countScript.EvalSha(ctx, pipe,
				[]string{g.seriesKey(w, "recent"), g.seriesKey(w, "current"), g.seriesKey(w, "since"), g.slotKey(w.Slot()) + ":incidents"},
				orderID, now.UnixMilli(), w.From.UnixMilli(), w.Threshold, w.Period, w.End.UnixMilli(), g.keep.Milliseconds(),
				g.slotKey(w.Slot())+":inc:", w.Rule, w.Kind, w.Province, w.ProblemCode, w.Subcategory, rolling, recentKeep.Milliseconds(),
				w.InitialState())
		}
		return nil
	}
	// Counting twice after a NOSCRIPT is harmless: the windows that did
	// count answer the same.
	if err := pipelineScript(ctx, g.rdb, countScript, run); err != nil {
		return nil, fmt.Errorf("count group complaint: %w", err)
	}
	out := make([]GroupCount, len(windows))
	for i, cmd := range cmds {
		vals, err := cmd.Slice()
		if err != nil || len(vals) < 2 {
			return nil, fmt.Errorf("count group complaint: reply %v: %v", vals, err)
		}
		state, _ := vals[0].(int64)
		n, _ := vals[1].(int64)
		out[i] = GroupCount{N: int(n), Raised: state == 1}
		if state == 0 {
			continue
		}
		if len(vals) < 7 {
			return nil, fmt.Errorf("count group complaint: reply %v", vals)
		}
		w := windows[i]
		period, _ := vals[2].(string)
		st, _ := vals[3].(string)
		inc := &Incident{ID: incidentID(w, period), Rule: w.Rule, Window: w.Kind, State: st, Province: w.Province, End: w.End,
			ProblemCode: w.ProblemCode, Subcategory: w.Subcategory, Period: period, Verified: st == classifier.IncidentConfirmed,
			Members: []string{}}
		inc.Trigger, _ = vals[4].(string)
		if ms, err := strconv.ParseInt(fmt.Sprint(vals[5]), 10, 64); err == nil {
			inc.RaisedAt = time.UnixMilli(ms)
		}
		pending, _ := vals[6].(int64)
		out[i].Pending = pending == 1
		for _, v := range vals[7:] {
			if m, ok := v.(string); ok {
				inc.Members = append(inc.Members, m)
			}
		}
		out[i].Incident = inc
	}
	return out, nil
}

// incidentID is the id of w's incident of period.
func incidentID(w classifier.Window, period string) string {
	w.Period = period
	return w.IncidentID()
}

// index enters the windows' slots in the index before they are first
// counted, so a reconciler finds every incident.
func (g *RedisGroups) index(ctx context.Context, windows []classifier.Window) error {
	g.mu.Lock()
	var todo []string
	for _, w := range windows {
		if !g.indexed[w.Slot()] && !slices.Contains(todo, w.Slot()) {
			todo = append(todo, w.Slot())
		}
	}
	g.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	if err := g.rdb.SAdd(ctx, g.indexKey(), todo).Err(); err != nil {
		return fmt.Errorf("index group windows: %w", err)
	}
	g.mu.Lock()
	for _, s := range todo {
		g.indexed[s] = true
	}
	g.mu.Unlock()
	return nil
}

// pendingScript reports whether an order waits in the series' open
// incident. KEYS[1] current; ARGV[1] order id, ARGV[2] incident key
// prefix. Returns 1 or 0.
var pendingScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
return redis.call('SISMEMBER', ARGV[2] .. cur .. ':pending', ARGV[1])
`)

// pipelineScript runs the pipeline run queues (EVALSHAs of script), and
// once more after loading script when the server did not have it (a fresh
// or restarted server): run must be safe to repeat.
func pipelineScript(ctx context.Context, rdb redis.UniversalClient, script *redis.Script, run func(redis.Pipeliner) error) error {
	_, err := rdb.Pipelined(ctx, run)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err := script.Load(ctx, rdb).Err(); err != nil {
			return fmt.Errorf("load script: %w", err)
		}
		_, err = rdb.Pipelined(ctx, run)
	}
	return err
}

// Pending implements GroupCounter: one script per window, pipelined (one
// round trip on one server; one per node on a cluster, concurrently).
func (g *RedisGroups) Pending(ctx context.Context, orderID string, windows []classifier.Window) ([]bool, error) {
	cmds := make([]*redis.Cmd, len(windows))
	run := func(pipe redis.Pipeliner) error {
		for i, w := range windows {
			cmds[i] = pendingScript.EvalSha(ctx, pipe, []string{g.seriesKey(w, "current")}, orderID, g.slotKey(w.Slot())+":inc:")
		}
		return nil
	}
	if err := pipelineScript(ctx, g.rdb, pendingScript, run); err != nil {
		return nil, fmt.Errorf("group pending: %w", err)
	}
	out := make([]bool, len(windows))
	for i, c := range cmds {
		n, _ := c.Int()
		out[i] = n == 1
	}
	return out, nil
}

// Incident implements GroupCounter.
func (g *RedisGroups) Incident(ctx context.Context, w classifier.Window) (*Incident, error) {
	k := g.incKey(w, w.Period)
	var (
		fields  *redis.MapStringStringCmd
		members *redis.StringSliceCmd
		pending *redis.StringSliceCmd
	)
	_, err := g.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		fields = pipe.HGetAll(ctx, k)
		members = pipe.ZRange(ctx, k+":members", 0, -1)
		pending = pipe.SMembers(ctx, k+":pending")
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read incident %s: %w", w.IncidentID(), err)
	}
	f := fields.Val()
	if f["trigger"] == "" {
		return nil, nil
	}
	inc := &Incident{ID: w.IncidentID(), Rule: f["rule"], Window: f["window"], State: f["state"], Province: f["province"],
		ProblemCode: f["problem_code"], Subcategory: f["subcategory"], Period: f["period"], Members: members.Val(),
		Verified: f["state"] == classifier.IncidentConfirmed, DecidedBy: f["decided_by"], Note: f["note"],
		Trigger: f["trigger"], Pending: pending.Val(),
		Announced: f["announced"] == "1", DecisionAnnounced: f["decision_announced"] == "1"}
	slices.Sort(inc.Pending)
	if ms, err := strconv.ParseInt(f["raised_at"], 10, 64); err == nil {
		inc.RaisedAt = time.UnixMilli(ms)
	}
	if ms, err := strconv.ParseInt(f["end"], 10, 64); err == nil {
		inc.End = time.UnixMilli(ms)
	}
	if ms, err := strconv.ParseInt(f["decided_at"], 10, 64); err == nil {
		at := time.UnixMilli(ms)
		inc.DecidedAt = &at
	}
	return inc, nil
}

// Settle implements GroupCounter, in one MULTI on the incident's slot.
func (g *RedisGroups) Settle(ctx context.Context, w classifier.Window, s Settlement) error {
	k := g.incKey(w, w.Period)
	_, err := g.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, id := range s.Settled {
			pipe.SRem(ctx, k+":pending", id)
		}
		for _, id := range s.Lost {
			pipe.SRem(ctx, k+":pending", id)
			pipe.ZRem(ctx, k+":members", id)
		}
		if s.Announced {
			pipe.HSet(ctx, k, "announced", "1")
		}
		if s.DecisionAnnounced {
			pipe.HSet(ctx, k, "decision_announced", "1")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("settle incident %s: %w", w.IncidentID(), err)
	}
	return nil
}

// decideScript confirms or rejects a suspected incident: its state, who,
// when and why, every member pending again (the state is to be applied to
// each); a rejected incident is closed: no longer its series' open one,
// and counting starts afresh after now.
//
// KEYS[1] incident (hash), KEYS[2] members, KEYS[3] pending, KEYS[4] the
// series' current, KEYS[5] the series' since
// ARGV[1] state, ARGV[2] actor, ARGV[3] now (unix ms), ARGV[4] note,
// ARGV[5] period, ARGV[6] since's time to live (ms)
// Returns 0 when there is no incident, 1 when decided now, 2 when it was
// decided so already, 3 when it was decided the other way.
var decideScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'trigger') == 0 then return 0 end
local st = redis.call('HGET', KEYS[1], 'state')
if st == ARGV[1] then return 2 end
if st ~= 'suspected' then return 3 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'decided_by', ARGV[2], 'decided_at', ARGV[3], 'note', ARGV[4],
  'decision_announced', '0')
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do redis.call('SADD', KEYS[3], m) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[3], ttl) end
if ARGV[1] == 'rejected' then
  if redis.call('GET', KEYS[4]) == ARGV[5] then redis.call('DEL', KEYS[4]) end
  redis.call('SET', KEYS[5], ARGV[3], 'PX', ARGV[6])
end
return 1
`)

// Decide implements GroupCounter.
func (g *RedisGroups) Decide(ctx context.Context, w classifier.Window, state, actor, note string, now time.Time) (*Incident, bool, error) {
	k := g.incKey(w, w.Period)
	n, err := decideScript.Run(ctx, g.rdb, []string{k, k + ":members", k + ":pending", g.seriesKey(w, "current"), g.seriesKey(w, "since")},
		state, actor, now.UnixMilli(), note, w.Period, recentKeep.Milliseconds()).Int()
	if err != nil {
		return nil, false, fmt.Errorf("decide incident %s: %w", w.IncidentID(), err)
	}
	if n == 0 {
		return nil, false, nil
	}
	inc, err := g.Incident(ctx, w)
	if err == nil && n == 3 {
		err = fmt.Errorf("%w: %s is %s", ErrIncidentDecided, w.IncidentID(), inc.State)
	}
	return inc, n == 1, err
}

// Incidents implements GroupCounter: every slot of the index, its
// incidents, pipelined.
func (g *RedisGroups) Incidents(ctx context.Context) ([]string, error) {
	slots, err := g.rdb.SMembers(ctx, g.indexKey()).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("group incidents: %w", err)
	}
	slices.Sort(slots)
	cmds := make([]*redis.StringSliceCmd, len(slots))
	_, err = g.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, s := range slots {
			cmds[i] = pipe.ZRange(ctx, g.slotKey(s)+":incidents", 0, -1)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("group incidents: %w", err)
	}
	var ids []string
	for i, s := range slots {
		province, code, _ := strings.Cut(s, ":")
		for _, period := range cmds[i].Val() {
			w := classifier.Window{Province: province, ProblemCode: code, Period: period}
			if strings.HasPrefix(period, "H") { // a batch: BC-H<hour>-…
				w.Rule = classifier.RuleBatch
			}
			ids = append(ids, w.IncidentID())
		}
	}
	return ids, nil
}

// Uncount implements GroupCounter: one ZREM per window, pipelined.
func (g *RedisGroups) Uncount(ctx context.Context, orderID string, windows []classifier.Window) error {
	_, err := g.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, w := range windows {
			pipe.ZRem(ctx, g.seriesKey(w, "recent"), orderID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("uncount group complaint: %w", err)
	}
	return nil
}
