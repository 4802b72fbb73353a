// Package escalation keeps the live deadline timers of work orders in Redis
// and raises supervisor alerts when they come due.
//
// Timers sit in one sorted set per shard, scored by due time (unix ms). A
// claimer re-scores a due timer to now+lease in the same script that reads
// it, so a crashed claimer's timers simply come due again after the lease;
// firing checks the lease is still held, so each alert fires once.
package escalation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlined/hotlined/queue"
)

// Timer is one deadline of one work order. It carries what an alert needs,
// so firing does not read the order.
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
}

// TimerID names the timer of a stage of an order.
func TimerID(workOrderID, stage string) string { return workOrderID + "/" + stage }

// Claim is a timer this process holds until its lease ends.
type Claim struct {
	Timer
	token int64 // the lease-until score; firing succeeds only while it holds
}

// Store is the Redis layout of timers and alerts.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	shards int
	outbox *queue.Outbox
}

// NewStore returns the timer store.
func NewStore(rdb redis.UniversalClient, prefix string, shards int, outbox *queue.Outbox) *Store {
	return &Store{rdb: rdb, prefix: prefix, shards: shards, outbox: outbox}
}

// Shards is the shard count.
func (s *Store) Shards() int { return s.shards }

func (s *Store) timersKey(shard int) string { return fmt.Sprintf("%s:{%d}:timers", s.prefix, shard) }
func (s *Store) dataKey(shard int) string   { return fmt.Sprintf("%s:{%d}:timerdata", s.prefix, shard) }
func (s *Store) alertKey(shard int, id string) string {
	return fmt.Sprintf("%s:{%d}:alert:%s", s.prefix, shard, id)
}
func (s *Store) openAlertsKey(shard int) string {
	return fmt.Sprintf("%s:{%d}:alerts:open", s.prefix, shard)
}

// Add queues timers on pipe, which the caller runs as one MULTI with the
// order they belong to. Every timer must be in shard.
func (s *Store) Add(ctx context.Context, pipe redis.Pipeliner, timers ...Timer) error {
	for _, t := range timers {
		data, err := json.Marshal(t)
		if err != nil {
			return fmt.Errorf("encode timer: %w", err)
		}
		pipe.ZAdd(ctx, s.timersKey(t.Shard), redis.Z{Score: float64(t.Due.UnixMilli()), Member: t.ID})
		pipe.HSet(ctx, s.dataKey(t.Shard), t.ID, data)
	}
	return nil
}

// Cancel queues the removal of timers on pipe, inside the caller's MULTI.
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

// claimScript takes due timers and leases them by moving their score forward.
//
// KEYS[1] timers sorted set, KEYS[2] timer data hash
// ARGV[1] now (unix ms), ARGV[2] lease end (unix ms), ARGV[3] most to take
// Returns a flat list: id, data, id, data, ... A member without data is
// dropped (its order's data was removed).
var claimScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
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
return out
`)

// Claim leases up to n timers of shard that are due at now.
func (s *Store) Claim(ctx context.Context, shard int, now time.Time, lease time.Duration, n int) ([]Claim, error) {
	token := now.Add(lease).UnixMilli()
	res, err := claimScript.Run(ctx, s.rdb, []string{s.timersKey(shard), s.dataKey(shard)},
		now.UnixMilli(), token, n).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim timers: %w", err)
	}
	claims := make([]Claim, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		var t Timer
		if err := json.Unmarshal([]byte(res[i+1]), &t); err != nil {
			return claims, fmt.Errorf("decode timer %s: %w", res[i], err)
		}
		claims = append(claims, Claim{Timer: t, token: token})
	}
	return claims, nil
}

// fireScript completes a claimed timer: it removes the timer, records the
// alert and writes its event to the outbox, all or nothing.
//
// KEYS[1] timers, KEYS[2] timer data, KEYS[3] alert, KEYS[4] open alerts set, KEYS[5] outbox stream
// ARGV[1] timer id, ARGV[2] lease token, ARGV[3] alert id, ARGV[4] alert JSON,
// ARGV[5...] outbox entry field, value pairs
// Returns 1 fired, 0 lease lost (another claimer has it), 2 alert existed.
var fireScript = redis.NewScript(`
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if not redis.call('SET', KEYS[3], ARGV[4], 'NX') then
  return 2
end
redis.call('SADD', KEYS[4], ARGV[3])
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[5], '*', unpack(fields))
return 1
`)

// ErrLeaseLost means another claimer took the timer after this lease ended.
var ErrLeaseLost = errors.New("timer lease lost")

// Fire completes c with alert and its event. It reports false when the alert
// had already been raised (the timer is removed all the same).
func (s *Store) Fire(ctx context.Context, c Claim, alert Alert, ev queue.Event) (bool, error) {
	data, err := json.Marshal(alert)
	if err != nil {
		return false, fmt.Errorf("encode alert: %w", err)
	}
	args := []any{c.ID, strconv.FormatInt(c.token, 10), alert.ID, data}
	args = append(args, ev.Values()...)
	keys := []string{s.timersKey(c.Shard), s.dataKey(c.Shard), s.alertKey(c.Shard, alert.ID),
		s.openAlertsKey(c.Shard), s.outbox.Key(c.Shard)}
	n, err := fireScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return false, fmt.Errorf("fire timer %s: %w", c.ID, err)
	}
	switch n {
	case 0:
		return false, ErrLeaseLost
	case 2:
		return false, nil
	}
	return true, nil
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

// Alert reads one alert.
func (s *Store) Alert(ctx context.Context, shard int, id string) (*Alert, error) {
	data, err := s.rdb.Get(ctx, s.alertKey(shard, id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get alert %s: %w", id, err)
	}
	var a Alert
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("decode alert %s: %w", id, err)
	}
	return &a, nil
}

// ErrNotFound is returned for an unknown alert.
var ErrNotFound = errors.New("not found")
