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
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/queue"
)

// Errors of the store.
var (
	ErrNotFound = errors.New("work order not found")
	ErrExists   = errors.New("work order already exists")
)

// Store keeps orders in Redis. An order, its outbox events and its timers
// share the shard hash tag, so Create writes them in one MULTI that works on
// Redis Cluster unchanged.
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
}

// NewStore returns the store.
func NewStore(rdb redis.UniversalClient, prefix string, shards int, outbox *queue.Outbox, timers *escalation.Store) *Store {
	return &Store{rdb: rdb, prefix: prefix, shards: shards, outbox: outbox, timers: timers, keep: 31 * 24 * time.Hour,
		keepEscalations: 181 * 24 * time.Hour}
}

// Shard is the shard of an order, read from its id: the sequence number
// modulo the shard count (see NextID). The shard count therefore must not
// change while orders are stored.
func (s *Store) Shard(id string) int {
	if i := strings.LastIndexByte(id, '-'); i >= 0 {
		if seq, err := strconv.ParseUint(id[i+1:], 10, 64); err == nil {
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

// seqTTL keeps a day's sequence counter past the day in every time zone.
const seqTTL = 72 * time.Hour

// NextID returns a new id WO-YYYYMMDD-PROV-NNNNNN in shard; day is the date
// in the operator's time zone. Each day, province and shard has a counter
// n, and the sequence number is n*shards+shard, so the id names its shard.
func (s *Store) NextID(ctx context.Context, day time.Time, province string, shard int) (string, error) {
	date := day.Format("20060102")
	key := fmt.Sprintf("%s:{%d}:seq:%s:%s", s.prefix, shard, date, province)
	var incr *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		incr = pipe.Incr(ctx, key)
		pipe.Expire(ctx, key, seqTTL)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("next work order id: %w", err)
	}
	seq := incr.Val()*int64(s.shards) + int64(shard)
	return fmt.Sprintf("WO-%s-%s-%06d", date, province, seq), nil
}

// Create writes the order, its events to the outbox and its timers in one
// transaction: either all of them are stored or none. The same transaction
// enters a complaint in its service number's index and records the order
// as its call's (see begin).
func (s *Store) Create(ctx context.Context, o *Order, events []queue.Event, timers []escalation.Timer) error {
	data, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("encode work order: %w", err)
	}
	shard := s.Shard(o.ID)
	for i := range timers {
		timers[i].Shard = shard
	}
	key := s.orderKey(o.ID)
	// WATCH the order key so a second order under the same id (a lost
	// sequence counter) fails whole instead of adding events and timers.
	err = s.rdb.Watch(ctx, func(tx *redis.Tx) error {
		n, err := tx.Exists(ctx, key).Result()
		if err != nil {
			return err
		}
		if n > 0 {
			return ErrExists
		}
		_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
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
		return err
	}, key)
	if err != nil {
		return fmt.Errorf("create work order %s: %w", o.ID, err)
	}
	return nil
}

// Mutation is what an update writes besides the order itself.
type Mutation struct {
	Events       []queue.Event
	AddTimers    []escalation.Timer
	CancelTimers []string
	// Plan, when set, is applied with escalation.Store.Apply in the same
	// MULTI, at the order's UpdatedAt: its timers added and cancelled, the
	// alerts of its ended stages (or all the order's alerts) resolved. The
	// mutation stores Plan.SLA and Plan.Deadlines on the order itself.
	Plan *escalation.Plan
}

// appliedTTL is how long a change id is remembered for de-duplication.
const appliedTTL = 7 * 24 * time.Hour

// Update reads the order, lets mutate change it, and writes the order, the
// mutation's events and timer changes, the change id and the order's entry
// in its customer's complaint index in one optimistic transaction, retried
// when the order changed underneath. A changeID seen before returns
// ErrDuplicate with the current order. An error from mutate writes nothing
// and comes back wrapped (errNoChange: nothing to do).
func (s *Store) Update(ctx context.Context, id, changeID string, mutate func(o *Order) (Mutation, error)) (*Order, error) {
	shard := s.Shard(id)
	key := s.orderKey(id)
	applied := fmt.Sprintf("%s:{%d}:applied:%s", s.prefix, shard, changeID)
	watched := []string{key}
	if changeID != "" {
		watched = append(watched, applied)
	}
	var result *Order
	for attempt := 0; attempt < 10; attempt++ {
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			data, err := tx.Get(ctx, key).Bytes()
			if errors.Is(err, redis.Nil) {
				return ErrNotFound
			}
			if err != nil {
				return err
			}
			var o Order
			if err := json.Unmarshal(data, &o); err != nil {
				return fmt.Errorf("decode work order %s: %w", id, err)
			}
			result = &o
			if changeID != "" {
				n, err := tx.Exists(ctx, applied).Result()
				if err != nil {
					return err
				}
				if n > 0 {
					return ErrDuplicate
				}
			}
			before := o.Status
			m, err := mutate(&o)
			if err != nil {
				return err
			}
			for i := range m.AddTimers {
				m.AddTimers[i].Shard = shard
			}
			data, err = json.Marshal(&o)
			if err != nil {
				return fmt.Errorf("encode work order: %w", err)
			}
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
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
			return err
		}, watched...)
		if errors.Is(err, redis.TxFailedErr) {
			continue // the order changed while we looked: read it again
		}
		if err != nil {
			return result, fmt.Errorf("update work order %s: %w", id, err)
		}
		return result, nil
	}
	return nil, fmt.Errorf("update work order %s: too much contention", id)
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

// mget reads orders of one shard by id; ids no longer stored are skipped.
func (s *Store) mget(ctx context.Context, ids []string) ([]*Order, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.orderKey(id)
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result() // one slot: the ids' shard
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	out := make([]*Order, 0, len(vals))
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		var o Order
		if err := json.Unmarshal([]byte(str), &o); err != nil {
			return nil, fmt.Errorf("decode work order %s: %w", ids[i], err)
		}
		out = append(out, &o)
	}
	return out, nil
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
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get work order %s: %w", id, err)
	}
	var o Order
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, fmt.Errorf("decode work order %s: %w", id, err)
	}
	return &o, nil
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

// takenBy returns the id of the order a call created, "" when none.
func (s *Store) takenBy(ctx context.Context, shard int, callID string) (string, error) {
	v, err := s.rdb.Get(ctx, s.callKey(shard, callID)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read call %s: %w", callID, err)
	}
	id, _ := strings.CutPrefix(v, callCreated)
	if id == v {
		return "", nil // reserved, not created
	}
	return id, nil
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
	Now         time.Time
	Province    string
	// Decide classifies the contact on its service number's complaint
	// history (newest first; nil when it reads none) and the customer's
	// record of escalations.
	Decide func(history, escalations []classifier.PastComplaint) classifier.Decision
}

// begin reads the call's key and the service number's complaint index,
// lets p.Decide classify the contact on them, and, for a new order, reserves
// its id: under the call (a retry reuses it) and as a placeholder in the
// index (a concurrent contact of the same customer sees it as open and urges
// it instead of opening a second order). The reads and writes are one
// optimistic transaction on the customer's shard, retried when either key
// changed underneath, so two contacts of one customer decide one after the
// other.
func (s *Store) begin(ctx context.Context, p beginParams) (contact, error) {
	var watched []string
	if p.CallID != "" {
		watched = append(watched, s.callKey(p.Shard, p.CallID))
	}
	if p.ServiceNumber != "" {
		watched = append(watched, s.historyKey(p.Shard, p.ServiceNumber))
	}
	if len(watched) == 0 {
		var escalations []classifier.PastComplaint
		if p.Customer != "" {
			raw, err := s.rdb.ZRangeByScoreWithScores(ctx, s.escalationsKey(p.Shard, p.Customer), s.escalationsRange(p.Now)).Result()
			if err != nil {
				return contact{}, fmt.Errorf("take contact: %w", err)
			}
			escalations = decodeEscalations(raw)
		}
		d := p.Decide(nil, escalations)
		id, err := s.NextID(ctx, p.Now, p.Province, p.Shard)
		return contact{ID: id, Decision: d}, err
	}
	var (
		out      contact
		reserved string // kept across attempts: a retry does not waste a number
	)
	for attempt := 0; attempt < 10; attempt++ {
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			var prior *redis.StringCmd
			var index *redis.MapStringStringCmd
			var esc *redis.ZSliceCmd
			_, err := tx.Pipelined(ctx, func(pipe redis.Pipeliner) error {
				if p.CallID != "" {
					prior = pipe.Get(ctx, s.callKey(p.Shard, p.CallID))
				}
				if p.ServiceNumber != "" {
					index = pipe.HGetAll(ctx, s.historyKey(p.Shard, p.ServiceNumber))
				}
				if p.Customer != "" {
					esc = pipe.ZRangeByScoreWithScores(ctx, s.escalationsKey(p.Shard, p.Customer), s.escalationsRange(p.Now))
				}
				return nil
			})
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			self := ""
			if prior != nil {
				v := prior.Val()
				if id, ok := strings.CutPrefix(v, callCreated); ok {
					out = contact{Taken: id}
					return nil
				}
				self, _ = strings.CutPrefix(v, callReserved)
			}
			var history, escalations []classifier.PastComplaint
			if index != nil {
				history = decodeHistory(index.Val(), self)
			}
			if esc != nil {
				escalations = decodeEscalations(esc.Val())
			}
			d := p.Decide(history, escalations)
			if d.Urge != "" {
				out = contact{Decision: d}
				return nil
			}
			if self == "" {
				if reserved == "" {
					if reserved, err = s.NextID(ctx, p.Now, p.Province, p.Shard); err != nil {
						return err
					}
				}
				self = reserved
			}
			out = contact{ID: self, Decision: d}
			if !p.Reserve && p.ServiceNumber == "" {
				return nil
			}
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				if p.CallID != "" && p.Reserve {
					pipe.Set(ctx, s.callKey(p.Shard, p.CallID), callReserved+self, callTTL)
				}
				if p.ServiceNumber != "" {
					e, _ := json.Marshal(historyEntry{Status: configs.StatusNew, Tier: p.Tier, Subcategory: p.Subcategory,
						ProblemCode: p.ProblemCode, CreatedAt: p.Now.UnixMilli(), Placeholder: true})
					// Eval, not Run: a NOSCRIPT inside MULTI would only show at EXEC.
					historyScript.Eval(ctx, pipe, []string{s.historyKey(p.Shard, p.ServiceNumber)},
						self, string(e), p.Now.UnixMilli(), s.keep.Milliseconds(), historySlack.Milliseconds())
				}
				return nil
			})
			return err
		}, watched...)
		if errors.Is(err, redis.TxFailedErr) {
			continue // the customer's state changed while we decided: decide again
		}
		if err != nil {
			return contact{}, fmt.Errorf("take contact: %w", err)
		}
		return out, nil
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

// writeArchiveDue queues, inside the caller's MULTI, o's place among the
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
