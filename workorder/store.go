package workorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

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
}

// NewStore returns the store.
func NewStore(rdb redis.UniversalClient, prefix string, shards int, outbox *queue.Outbox, timers *escalation.Store) *Store {
	return &Store{rdb: rdb, prefix: prefix, shards: shards, outbox: outbox, timers: timers}
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
// transaction: either all of them are stored or none.
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
			s.outbox.Add(ctx, pipe, shard, events...)
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
}

// appliedTTL is how long a change id is remembered for de-duplication.
const appliedTTL = 7 * 24 * time.Hour

// Update reads the order, lets mutate change it, and writes the order, the
// mutation's events and timer changes, and the change id in one optimistic
// transaction, retried when the order changed underneath. A changeID seen
// before returns ErrDuplicate with the current order.
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
				if changeID != "" {
					pipe.Set(ctx, applied, 1, appliedTTL)
				}
				s.outbox.Add(ctx, pipe, shard, m.Events...)
				s.timers.Cancel(ctx, pipe, shard, m.CancelTimers...)
				return s.timers.Add(ctx, pipe, m.AddTimers...)
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

// RememberArchivedComplaint starts the repeat-complaint window of a service
// number: a complaint from it within window is a repeat complaint.
func (s *Store) RememberArchivedComplaint(ctx context.Context, serviceNumber, id string, window time.Duration) error {
	key := fmt.Sprintf("%s:svc:{%s}:archived_complaint", s.prefix, serviceNumber)
	if err := s.rdb.Set(ctx, key, id, window).Err(); err != nil {
		return fmt.Errorf("remember archived complaint %s: %w", id, err)
	}
	return nil
}

// LastArchivedComplaint returns the order id that opened the service
// number's repeat window, "" when none is open.
func (s *Store) LastArchivedComplaint(ctx context.Context, serviceNumber string) (string, error) {
	key := fmt.Sprintf("%s:svc:{%s}:archived_complaint", s.prefix, serviceNumber)
	id, err := s.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("last archived complaint: %w", err)
	}
	return id, nil
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
