package workorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/internal/rbatch"
	"github.com/hotlined/hotlined/queue"
)

// Errors of the store.
var (
	ErrNotFound = errors.New("work order not found")
	ErrExists   = errors.New("work order already exists")
)

// Store keeps orders in Redis. An order, its outbox events and its timers
// share the shard hash tag, so Create and Update write them in one guarded
// script (internal/rbatch) that works on Redis Cluster unchanged.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	shards int
	outbox *queue.Outbox
	timers *escalation.Store
	// keep is how long a closed complaint stays in its customer's index:
	// the longest window of the rules that read it (NewService sets it).
	keep time.Duration
	// keepEscalations is how long a group- or appeal-tier order stays in
	// its customer's record of escalations (NewService sets it).
	keepEscalations time.Duration
	// archiveAfter is how long a resolved order waits to be archived
	// automatically; 0 never (NewService sets it).
	archiveAfter time.Duration
	// retain is how long an archived order is kept; 0 forever
	// (NewService sets it).
	retain time.Duration
	// drawn is the highest sequence counter this process drew, by counter
	// key (see NextID).
	seqMu sync.Mutex
	drawn map[string]int64
	// updating takes turns among this process's updates of one order, so
	// they do not make each other's guarded writes fail (a hot caller's
	// urges): only other daemons' updates can.
	updating keyedMutex
	// recent are the orders this process last wrote or read, the start of
	// its next update (see recentOrders).
	recent *recentOrders
	// conflicts counts the guarded writes that found what they were
	// decided on changed, by step (NewService registers it).
	conflicts *prometheus.CounterVec
}

// Steps of the conflicts counter.
const (
	conflictReserve = "reserve" // a complaint's reservation: the customer's state changed
	conflictCreate  = "create"  // an order's write: the customer's state changed
	conflictUpdate  = "update"  // an update: the order changed (another daemon, or a stale remembered copy)
)

// conflict counts one guarded write that failed its guards at step.
func (s *Store) conflict(step string) {
	if s.conflicts != nil {
		s.conflicts.WithLabelValues(step).Inc()
	}
}

// keyedMutex is a mutex per key, held only while some goroutine wants it.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	turn    chan struct{} // holds a token while the key is locked
	waiters int           // goroutines holding or waiting for it, under keyedMutex.mu
}

// lock takes key's mutex and returns its unlock, or ctx's error when ctx
// ends first (nothing to unlock then).
func (k *keyedMutex) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{turn: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.waiters++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		if l.waiters--; l.waiters == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.turn <- struct{}{}:
		return func() { <-l.turn; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// NewStore returns the store.
func NewStore(rdb redis.UniversalClient, prefix string, shards int, outbox *queue.Outbox, timers *escalation.Store) *Store {
	return &Store{rdb: rdb, prefix: prefix, shards: shards, outbox: outbox, timers: timers, keep: 31 * 24 * time.Hour,
		keepEscalations: 181 * 24 * time.Hour, drawn: map[string]int64{},
		recent: newRecentOrders(recentBudget)}
}

// Shard is the shard of an order, read from its id (see NextID): the
// counter part of the tail modulo the shard count; for ids of the older
// form (6 to 9 digits) the whole tail modulo the shard count. The shard
// count therefore must not change while orders are stored.
func (s *Store) Shard(id string) int {
	if i := strings.LastIndexByte(id, '-'); i >= 0 {
		tail := id[i+1:]
		if len(tail) >= 10 { // SSSSS + counter
			tail = tail[5:]
		}
		if seq, err := strconv.ParseUint(tail, 10, 64); err == nil {
			return int(seq % uint64(s.shards))
		}
	}
	h := fnv.New32a() // not an order id: any shard will do, nothing is stored under it
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(s.shards))
}

// ShardOf is the shard of a customer: every order of one service number
// lands in it, so the customer's events share one outbox stream and reach
// Kafka in the order they happened.
func (s *Store) ShardOf(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(s.shards))
}

func (s *Store) orderKey(id string) string {
	return fmt.Sprintf("%s:{%d}:wo:%s", s.prefix, s.Shard(id), id)
}

// seqTTL keeps a second's sequence counter long past its second (clock
// skew between daemons, a slow failover).
const seqTTL = time.Hour

// nextSeqLua draws the next counter of one second, never at or below the
// highest this process already drew there (a Redis that lost writes would
// hand them out again).
//
// KEYS[1] the second's counter; ARGV[1] this process's highest draw (0:
// none); ARGV[2] TTL in ms. Returns the counter drawn.
const nextSeqLua = `
local n = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[1])
if n <= floor then
  n = floor + 1
  redis.call('SET', KEYS[1], n)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return n
`

var nextSeqScript = redis.NewScript(nextSeqLua)

// seqKey is the counter of ids drawn in now's second for province in shard.
func (s *Store) seqKey(now time.Time, province string, shard int) string {
	sec := now.Hour()*3600 + now.Minute()*60 + now.Second()
	return fmt.Sprintf("%s:{%d}:seq:%s:%s:%05d", s.prefix, shard, now.Format("20060102"), province, sec)
}

// floor is the highest counter this process drew under key (0: none).
func (s *Store) floor(key string) int64 {
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	return s.drawn[key]
}

// drew records that this process drew counter n under key.
func (s *Store) drew(key string, n int64) {
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	if n > s.drawn[key] {
		if len(s.drawn) > 4096 { // only the last seconds matter
			clear(s.drawn)
		}
		s.drawn[key] = n
	}
}

// formatID is the id of the n-th order drawn at now for province in shard
// (see NextID).
func (s *Store) formatID(now time.Time, province string, shard int, n int64) string {
	sec := now.Hour()*3600 + now.Minute()*60 + now.Second()
	return fmt.Sprintf("WO-%s-%s-%05d%05d", now.Format("20060102"), province, sec, n*int64(s.shards)+int64(shard))
}

// NextID returns a new id WO-YYYYMMDD-PROV-SSSSSCCCCC in shard, at now in
// the operator's time zone: SSSSS is the second of the day, CCCCC (five
// digits or more) is n*shards+shard for the n-th id that second, province
// and shard, so the id names its shard.
//
// Ids never repeat, even after Redis loses writes (a failover to a
// lagging replica, a restore), as long as the daemons' clocks agree
// within the time Redis takes to lose and regain a master (seconds): an id
// lost with Redis's data was drawn in an earlier second than any id drawn
// after the loss, and within one process a draw is never at or below one
// it already made. A contact draws its id in its read (readContact).
func (s *Store) NextID(ctx context.Context, now time.Time, province string, shard int) (string, error) {
	key := s.seqKey(now, province, shard)
	n, err := nextSeqScript.Run(ctx, s.rdb, []string{key}, s.floor(key), seqTTL.Milliseconds()).Int64()
	if err != nil {
		return "", fmt.Errorf("next work order id: %w", err)
	}
	s.drew(key, n)
	return s.formatID(now, province, shard, n), nil
}

// Create writes the order, its events to the outbox and its timers in one
// script call (rbatch): either all of them are stored or none. The same
// call enters a complaint in its service number's index and records the
// order as its call's (see begin). An order already stored under the id (a
// lost sequence counter) returns ErrExists and writes nothing.
func (s *Store) Create(ctx context.Context, o *Order, events []queue.Event, timers []escalation.Timer) error {
	return s.create(ctx, o, events, timers, nil)
}

// create is Create behind the guards of the read the order was decided on
// (readContact): one that no longer holds returns an *rbatch.Conflict and
// writes nothing.
func (s *Store) create(ctx context.Context, o *Order, events []queue.Event, timers []escalation.Timer, guards []guard) error {
	data, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("encode work order: %w", err)
	}
	shard := s.Shard(o.ID)
	for i := range timers {
		timers[i].Shard = shard
	}
	key := s.orderKey(o.ID)
	var b rbatch.Batch
	b.Absent(key)
	for _, g := range guards {
		b.Digest(g.key, g.digest)
	}
	err = b.Record(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, key, data, 0)
		if s.ShardOf(o.Key()) == shard { // always, for ids from NextID: the customer's shard
			pipe.ZAdd(ctx, s.customerKey(shard, o.Key()), redis.Z{Score: float64(o.CreatedAt.UnixMilli()), Member: o.ID})
		}
		pipe.ZAdd(ctx, s.statusKey(shard, o.Status), redis.Z{Score: float64(o.CreatedAt.UnixMilli()), Member: o.ID})
		s.writeArchiveDue(ctx, pipe, shard, o)
		s.outbox.Add(ctx, pipe, shard, events...)
		s.writeHistory(ctx, pipe, o, o.UpdatedAt)
		s.writeEscalation(ctx, pipe, o)
		if o.CallID != "" {
			pipe.Set(ctx, s.callKey(shard, o.CallID), callCreated+o.ID, callTTL)
		}
		return s.timers.Add(ctx, pipe, timers...)
	})
	if err == nil {
		err = b.Run(ctx, s.rdb)
	}
	var c *rbatch.Conflict
	if errors.As(err, &c) && c.Guard == 1 {
		err = ErrExists
	}
	if err != nil {
		return fmt.Errorf("create work order %s: %w", o.ID, err)
	}
	s.recent.put(o.ID, data)
	return nil
}

// guard is a key's digest (rbatch.DigestLua) as a decision read it.
type guard struct{ key, digest string }

// Mutation is what an update writes besides the order itself.
type Mutation struct {
	Events       []queue.Event
	AddTimers    []escalation.Timer
	CancelTimers []string
	// Plan, when set, is applied with escalation.Store.Apply in the same
	// batch, at the order's UpdatedAt: its timers added and cancelled, the
	// alerts of its ended stages (or all the order's alerts) resolved. The
	// mutation stores Plan.SLA and Plan.Deadlines on the order itself.
	Plan *escalation.Plan
}

// appliedTTL is how long a change id is remembered for de-duplication.
const appliedTTL = 7 * 24 * time.Hour

// Update reads the order, lets mutate change it, and writes the order, the
// mutation's events and timer changes, the change id and the order's entry
// in its customer's complaint index in one script call (rbatch) guarded by
// the order as read: when the order changed in between, nothing is written
// and it is read and mutated again. A changeID seen before returns
// ErrDuplicate with the current order. An error from mutate writes nothing
// and comes back wrapped (errNoChange: nothing to do). Two round trips
// when nothing contends (one from a remembered copy; three when it was
// stale). Updates of one order in this process take turns
// (a hot caller's urges queue instead of failing each other's writes);
// the guard settles races with other daemons. mutate must not update
// another order: the turns would wait on each other.
func (s *Store) Update(ctx context.Context, id, changeID string, mutate func(o *Order) (Mutation, error)) (*Order, error) {
	shard := s.Shard(id)
	key := s.orderKey(id)
	applied := fmt.Sprintf("%s:{%d}:applied:%s", s.prefix, shard, changeID)
	unlock, err := s.updating.lock(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("update work order %s: waiting for this process's other update: %w", id, err)
	}
	defer unlock()
	var result *Order
	for attempt := 0; attempt < 10; attempt++ {
		err := s.update(ctx, id, key, changeID, applied, shard, attempt == 0, mutate, &result)
		if rbatch.IsConflict(err) || errors.Is(err, errRecheck) {
			if !errors.Is(err, errRecheck) {
				s.conflict(conflictUpdate)
			}
			s.recent.drop(id)
			continue // the order changed while we looked: read it again
		}
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				s.recent.drop(id)
			}
			return result, fmt.Errorf("update work order %s: %w", id, err)
		}
		return result, nil
	}
	return nil, fmt.Errorf("update work order %s: too much contention", id)
}

// errRecheck: mutate refused the remembered copy of an order; the refusal
// stands only on the stored order (Update reads it and tries again).
var errRecheck = errors.New("refused on a remembered copy: read the order")

// update is one attempt of Update: from the remembered copy of the order
// when trusting it (the first attempt) and there is one, else from a read
// of the order and the change id. A remembered copy that is stale, or a
// change id applied meanwhile, fails the write's guards (a Conflict), and
// the next attempt reads.
func (s *Store) update(ctx context.Context, id, key, changeID, applied string, shard int, trustRecent bool,
	mutate func(o *Order) (Mutation, error), result **Order) error {
	*result = nil
	data, remembered := s.recent.get(id)
	guess := trustRecent && remembered
	if !guess {
		var get *redis.StringCmd
		var seen *redis.IntCmd
		_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			get = pipe.Get(ctx, key)
			if changeID != "" {
				seen = pipe.Exists(ctx, applied)
			}
			return nil
		})
		if errors.Is(err, redis.Nil) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		data, _ = get.Bytes()
		if seen != nil && seen.Val() > 0 {
			var o Order
			if err := json.Unmarshal(data, &o); err != nil {
				return fmt.Errorf("decode work order %s: %w", id, err)
			}
			*result = &o
			return ErrDuplicate
		}
		s.recent.put(id, data)
	}
	var o Order
	if err := json.Unmarshal(data, &o); err != nil {
		return fmt.Errorf("decode work order %s: %w", id, err)
	}
	if !guess {
		*result = &o // the stored order, also with mutate's error
	}
	var b rbatch.Batch
	b.Digest(key, rbatch.StringDigest(data))
	if changeID != "" {
		b.Absent(applied)
	}
	before := o.Status
	m, err := mutate(&o)
	if err != nil {
		if guess {
			// Refused on what may be a stale copy: decide on the stored
			// order before saying no.
			return errRecheck
		}
		return err
	}
	for i := range m.AddTimers {
		m.AddTimers[i].Shard = shard
	}
	if data, err = json.Marshal(&o); err != nil {
		return fmt.Errorf("encode work order: %w", err)
	}
	err = b.Record(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, key, data, 0)
		if o.Status != before {
			pipe.ZRem(ctx, s.statusKey(shard, before), o.ID)
			pipe.ZAdd(ctx, s.statusKey(shard, o.Status), redis.Z{Score: float64(o.CreatedAt.UnixMilli()), Member: o.ID})
			s.writeArchiveDue(ctx, pipe, shard, &o)
		}
		if changeID != "" {
			pipe.Set(ctx, applied, 1, appliedTTL)
		}
		s.outbox.Add(ctx, pipe, shard, m.Events...)
		s.writeHistory(ctx, pipe, &o, o.UpdatedAt)
		s.timers.Cancel(ctx, pipe, shard, m.CancelTimers...)
		if err := s.timers.Add(ctx, pipe, m.AddTimers...); err != nil {
			return err
		}
		if m.Plan != nil {
			return s.timers.Apply(ctx, pipe, shard, id, *m.Plan, o.UpdatedAt)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := b.Run(ctx, s.rdb); err != nil {
		return err
	}
	*result = &o
	s.recent.put(id, data)
	return nil
}

// customerKey indexes a customer's orders by creation time; it sits in the
// customer's shard, as the orders do.
func (s *Store) customerKey(shard int, key string) string {
	return fmt.Sprintf("%s:{%d}:customer:%s:orders", s.prefix, shard, key)
}

// statusKey indexes a shard's orders in one status by creation time; it is
// kept in the same transaction as every status change.
func (s *Store) statusKey(shard int, status string) string {
	return fmt.Sprintf("%s:{%d}:status:%s", s.prefix, shard, status)
}

// ListByStatus returns the newest orders in status across the shards,
// newest first, at most limit (MaxList), those keep rejects left out.
func (s *Store) ListByStatus(ctx context.Context, status string, limit int, keep func(*Order) bool) ([]*Order, error) {
	if limit <= 0 || limit > MaxList {
		limit = MaxList
	}
	var out []*Order
	for shard := 0; shard < s.shards; shard++ {
		// Each shard gives at most limit candidates after filtering; walk its
		// index in pages so a filter that rejects many still fills the page.
		got := 0
		for start := int64(0); got < limit; start += int64(limit) {
			ids, err := s.rdb.ZRevRange(ctx, s.statusKey(shard, status), start, start+int64(limit)-1).Result()
			if err != nil {
				return nil, fmt.Errorf("list orders: %w", err)
			}
			if len(ids) == 0 {
				break
			}
			orders, err := s.mget(ctx, ids)
			if err != nil {
				return nil, err
			}
			for _, o := range orders {
				if got < limit && keep(o) {
					out = append(out, o)
					got++
				}
			}
			if start > 10*int64(limit) { // bound the work of a very selective filter
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b *Order) int { return b.CreatedAt.Compare(a.CreatedAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// mget reads orders by id in one round trip (GetMany); ids no longer
// stored are skipped.
func (s *Store) mget(ctx context.Context, ids []string) ([]*Order, error) {
	orders, err := s.GetMany(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return slices.DeleteFunc(orders, func(o *Order) bool { return o == nil }), nil
}

// MaxList caps the orders one listing returns.
const MaxList = 200

// ListByCustomer returns the newest orders (at most limit, MaxList) of a
// service number (or, for orders without one, the calling number), newest
// first.
func (s *Store) ListByCustomer(ctx context.Context, number string, limit int) ([]*Order, error) {
	if limit <= 0 || limit > MaxList {
		limit = MaxList
	}
	shard := s.ShardOf(number)
	ids, err := s.rdb.ZRevRange(ctx, s.customerKey(shard, number), 0, int64(limit-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return s.mget(ctx, ids)
}

// Get reads an order.
func (s *Store) Get(ctx context.Context, id string) (*Order, error) {
	data, err := s.rdb.Get(ctx, s.orderKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		s.recent.drop(id)
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get work order %s: %w", id, err)
	}
	s.recent.put(id, data)
	var o Order
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, fmt.Errorf("decode work order %s: %w", id, err)
	}
	return &o, nil
}

// GetMany reads orders by id in one round trip (a pipeline of GETs, which
// a cluster client splits by node): out[i] is the order of ids[i], nil
// when none is stored. Errors: Redis, or a stored order that does not
// decode (its id named).
func (s *Store) GetMany(ctx context.Context, ids []string) ([]*Order, error) {
	cmds := make([]*redis.StringCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = pipe.Get(ctx, s.orderKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("get work orders: %w", err)
	}
	out := make([]*Order, len(ids))
	for i, c := range cmds {
		data, err := c.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get work order %s: %w", ids[i], err)
		}
		var o Order
		if err := json.Unmarshal(data, &o); err != nil {
			return nil, fmt.Errorf("decode work order %s: %w", ids[i], err)
		}
		out[i] = &o
	}
	return out, nil
}

// A call's key remembers what became of it, so a retried Create of the same
// call (the SIP edge retries a failed one) returns the same order instead of
// a second one, and counts the order it reserved only once.
const (
	callCreated  = "created:"
	callReserved = "reserved:"
	callTTL      = 24 * time.Hour
)

func (s *Store) callKey(shard int, callID string) string {
	return fmt.Sprintf("%s:{%d}:call:%s", s.prefix, shard, callID)
}

// contact is the first step of taking a contact: what the customer's shard
// says about it, and what was decided on that.
type contact struct {
	// Taken is the id of the order the call created before; nothing more
	// is to be done.
	Taken string
	// ID is the order id reserved for a new order (empty on an urge).
	ID       string
	Decision classifier.Decision
	// guards are the digests of what the decision was made on, for the
	// order's write (create) when begin reserved nothing.
	guards []guard
}

// beginParams are the inputs of begin.
type beginParams struct {
	Shard         int
	CallID        string // "" when the contact has none
	ServiceNumber string // "" when the contact reads no complaint history
	// Customer is the customer's key (service number, else caller) whose
	// record of escalations is read; "" reads none.
	Customer    string
	Subcategory string
	Tier        string
	ProblemCode string
	Reserve     bool // reserve the id under the call: something is counted under it before the order is written
	// ID is an id an earlier attempt of this contact drew: used instead
	// of drawing another ("" draws one).
	ID       string
	Now      time.Time
	Province string
	// Decide classifies the contact on its service number's complaint
	// history (newest first; nil when it reads none) and the customer's
	// record of escalations.
	Decide func(history, escalations []classifier.PastComplaint) classifier.Decision
}

// readContactScript reads, in the customer's shard, what a contact is
// decided on, and draws the id of a new order.
//
// KEYS[1] the call's key, KEYS[2] the service number's complaint index,
// KEYS[3] the customer's record of escalations, KEYS[4] the id counter of
// the second (see NextID)
// ARGV[1..3] "1" to read the call's key, the index, the record; ARGV[4]
// the record's lowest score kept (unix ms); ARGV[5] "1" to draw an id
// (not when the call reserved one);
// ARGV[6] this process's highest draw that second; ARGV[7] the counter's
// TTL (ms)
// Returns {call key's value ("" when none)} when the call created its order,
// else {call value, index digest, record digest, counter drawn (0: none),
// index as field/value pairs, record as member/score pairs}; the digests are
// rbatch.DigestLua's.
var readContactScript = redis.NewScript(rbatch.DigestLua + `
local function nextseq(KEYS, ARGV)
` + nextSeqLua + `
end
local call = ''
if ARGV[1] == '1' then call = redis.call('GET', KEYS[1]) or '' end
if string.sub(call, 1, ` + strconv.Itoa(len(callCreated)) + `) == '` + callCreated + `' then return {call} end
local index, indexDigest = {}, ''
if ARGV[2] == '1' then
  index = redis.call('HGETALL', KEYS[2])
  indexDigest = digest(KEYS[2])
end
local record, recordDigest = {}, ''
if ARGV[3] == '1' then
  record = redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[4], '+inf', 'WITHSCORES')
  recordDigest = digest(KEYS[3])
end
local n = 0
if ARGV[5] == '1' and string.sub(call, 1, ` + strconv.Itoa(len(callReserved)) + `) ~= '` + callReserved + `' then
  n = nextseq({KEYS[4]}, {ARGV[6], ARGV[7]})
end
return {call, indexDigest, recordDigest, n, index, record}
`)

// read is what readContact found.
type read struct {
	call                 string // the call key's value, "" when none
	history, escalations []classifier.PastComplaint
	self                 string // the order id reserved under the call, else a new one ("" when the call's order exists)
	guards               []guard
}

// readContact reads the call's key, the service number's complaint index
// and the customer's record of escalations in one script call, and draws a
// new order id unless the call reserved one.
func (s *Store) readContact(ctx context.Context, p beginParams) (read, error) {
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	none := fmt.Sprintf("%s:{%d}:none", s.prefix, p.Shard) // an unread key of the shard
	callKey, indexKey, recordKey := none, none, none
	if p.CallID != "" {
		callKey = s.callKey(p.Shard, p.CallID)
	}
	if p.ServiceNumber != "" {
		indexKey = s.historyKey(p.Shard, p.ServiceNumber)
	}
	if p.Customer != "" {
		recordKey = s.escalationsKey(p.Shard, p.Customer)
	}
	seq := s.seqKey(p.Now, p.Province, p.Shard)
	res, err := readContactScript.Run(ctx, s.rdb, []string{callKey, indexKey, recordKey, seq},
		flag(p.CallID != ""), flag(p.ServiceNumber != ""), flag(p.Customer != ""), s.escalationsRange(p.Now).Min,
		flag(p.ID == ""), s.floor(seq), seqTTL.Milliseconds()).Slice()
	if err != nil {
		return read{}, err
	}
	var r read
	r.call, _ = res[0].(string)
	if id, ok := strings.CutPrefix(r.call, callCreated); ok {
		r.self = id
		return r, nil
	}
	if len(res) != 6 {
		return read{}, fmt.Errorf("read contact: %d results", len(res))
	}
	indexDigest, _ := res[1].(string)
	recordDigest, _ := res[2].(string)
	n, _ := res[3].(int64)
	if n > 0 {
		s.drew(seq, n)
	}
	pairs := func(v any) []string {
		list, _ := v.([]any)
		out := make([]string, len(list))
		for i, x := range list {
			out[i], _ = x.(string)
		}
		return out
	}
	self, reserved := strings.CutPrefix(r.call, callReserved)
	if p.ServiceNumber != "" {
		kv := pairs(res[4])
		raw := make(map[string]string, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			raw[kv[i]] = kv[i+1]
		}
		r.history = decodeHistory(raw, self)
		r.guards = append(r.guards, guard{indexKey, indexDigest})
	}
	if p.Customer != "" {
		ms := pairs(res[5])
		zs := make([]redis.Z, 0, len(ms)/2)
		for i := 0; i+1 < len(ms); i += 2 {
			score, err := strconv.ParseFloat(ms[i+1], 64)
			if err != nil {
				return read{}, fmt.Errorf("read contact: escalation score %q: %w", ms[i+1], err)
			}
			zs = append(zs, redis.Z{Member: ms[i], Score: score})
		}
		r.escalations = decodeEscalations(zs)
		r.guards = append(r.guards, guard{recordKey, recordDigest})
	}
	if p.CallID != "" {
		d := ""
		if r.call != "" {
			d = rbatch.StringDigest([]byte(r.call))
		}
		r.guards = append(r.guards, guard{callKey, d})
	}
	switch {
	case reserved:
		r.self = self
	case p.ID != "":
		r.self = p.ID
	default:
		r.self = s.formatID(p.Now, p.Province, p.Shard, n)
	}
	return r, nil
}

// begin reads the contact's state (readContact: the call's key, the
// service number's complaint index, the customer's record of escalations)
// and lets p.Decide classify the contact on it. For a new order of a
// contact that reserves (p.Reserve, or one with a complaint index) it then
// reserves the id, under the call (a retry reuses it) and as a placeholder
// in the index (a concurrent contact of the same customer sees it as open
// and urges it instead of opening a second order), in one rbatch call
// guarded by what was read: when the state changed, it reads and decides
// again. Otherwise the order's own write carries those guards (contact.guards).
// Two round trips, one when nothing is reserved.
func (s *Store) begin(ctx context.Context, p beginParams) (contact, error) {
	for attempt := 0; attempt < 10; attempt++ {
		r, err := s.readContact(ctx, p)
		if err != nil {
			return contact{}, fmt.Errorf("take contact: %w", err)
		}
		if p.ID == "" && !strings.HasPrefix(r.call, callReserved) {
			p.ID = r.self // a retry keeps the id: nothing is drawn twice
		}
		if strings.HasPrefix(r.call, callCreated) {
			return contact{Taken: r.self}, nil
		}
		d := p.Decide(r.history, r.escalations)
		if d.Urge != "" {
			return contact{Decision: d}, nil
		}
		if !p.Reserve && p.ServiceNumber == "" {
			return contact{ID: r.self, Decision: d, guards: r.guards}, nil
		}
		var b rbatch.Batch
		for _, g := range r.guards {
			b.Digest(g.key, g.digest)
		}
		err = b.Record(ctx, func(pipe redis.Pipeliner) error {
			if p.CallID != "" && p.Reserve {
				pipe.Set(ctx, s.callKey(p.Shard, p.CallID), callReserved+r.self, callTTL)
			}
			if p.ServiceNumber != "" {
				e, _ := json.Marshal(historyEntry{Status: configs.StatusNew, Tier: p.Tier, Subcategory: p.Subcategory,
					ProblemCode: p.ProblemCode, CreatedAt: p.Now.UnixMilli(), Placeholder: true})
				historyScript.Eval(ctx, pipe, []string{s.historyKey(p.Shard, p.ServiceNumber)},
					r.self, string(e), p.Now.UnixMilli(), s.keep.Milliseconds(), historySlack.Milliseconds())
			}
			return nil
		})
		if err == nil {
			err = b.Run(ctx, s.rdb)
		}
		if rbatch.IsConflict(err) {
			s.conflict(conflictReserve)
			continue // the customer's state changed while we decided: decide again
		}
		if err != nil {
			return contact{}, fmt.Errorf("take contact: %w", err)
		}
		return contact{ID: r.self, Decision: d}, nil
	}
	return contact{}, fmt.Errorf("take contact: too much contention")
}

// publish writes events to shard's outbox on their own, for events of no
// single order (a group-complaint incident).
func (s *Store) publish(ctx context.Context, shard int, events ...queue.Event) error {
	_, err := s.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		s.outbox.Add(ctx, pipe, shard, events...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// archiveKey is a shard's resolved orders by when they are due to be
// archived automatically (unix ms).
func (s *Store) archiveKey(shard int) string {
	return fmt.Sprintf("%s:{%d}:archive_due", s.prefix, shard)
}

// writeArchiveDue queues, in the caller's batch, o's place among the
// orders to archive: due archiveAfter after it became resolved, gone once
// it is in any other status.
func (s *Store) writeArchiveDue(ctx context.Context, pipe redis.Pipeliner, shard int, o *Order) {
	if o.Status == configs.StatusArchived && s.retain > 0 {
		pipe.ZAdd(ctx, s.purgeKey(shard), redis.Z{Score: float64(o.UpdatedAt.Add(s.retain).UnixMilli()), Member: o.ID})
	}
	if o.Status == configs.StatusResolved && s.archiveAfter > 0 {
		pipe.ZAdd(ctx, s.archiveKey(shard), redis.Z{Score: float64(o.UpdatedAt.Add(s.archiveAfter).UnixMilli()), Member: o.ID})
		return
	}
	pipe.ZRem(ctx, s.archiveKey(shard), o.ID)
}

// ArchiveDue returns up to limit orders per shard due to be archived at now.
func (s *Store) ArchiveDue(ctx context.Context, now time.Time, limit int64) ([]string, error) {
	cmds := make([]*redis.StringSliceCmd, s.shards)
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for shard := range s.shards {
			cmds[shard] = pipe.ZRangeByScore(ctx, s.archiveKey(shard), &redis.ZRangeBy{Min: "-inf",
				Max: strconv.FormatInt(now.UnixMilli(), 10), Count: limit})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("orders due to be archived: %w", err)
	}
	var ids []string
	for _, c := range cmds {
		ids = append(ids, c.Val()...)
	}
	return ids, nil
}

// dropArchiveDue removes id from its shard's orders to archive.
func (s *Store) dropArchiveDue(ctx context.Context, id string) error {
	return s.rdb.ZRem(ctx, s.archiveKey(s.Shard(id)), id).Err()
}
