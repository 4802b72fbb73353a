package workorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlined/hotlined/internal/rbatch"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
)

// The complaint index of a service number: a hash in the customer's shard,
// order id -> historyEntry, written in the same transaction as the order it
// describes (Create, Update), so the open-complaint, unsatisfied and repeat
// rules read the truth. It holds the number's complaint orders still open,
// and those closed (resolved or archived) within the longest window; the
// key persists while one is open and expires a window after the last close.

// historyEntry is what the rules need of one complaint order.
type historyEntry struct {
	Status      string `json:"status"`
	Tier        string `json:"tier,omitempty"`
	Subcategory string `json:"subcategory"`
	ProblemCode string `json:"problem_code,omitempty"`
	CreatedAt   int64  `json:"created_at"`          // unix ms
	ClosedAt    int64  `json:"closed_at,omitempty"` // unix ms: when it became resolved or archived
	// Placeholder: a contact reserved the order and is about to write it.
	Placeholder bool `json:"placeholder,omitempty"`
}

func (s *Store) historyKey(shard int, serviceNumber string) string {
	return fmt.Sprintf("%s:{%d}:svc:%s:complaints", s.prefix, shard, serviceNumber)
}

// entryOf is the index entry of o, or "" when o has no place in the index
// (not a complaint class).
func entryOf(o *Order) string {
	if !slices.Contains(configs.ComplaintClasses, o.Class) {
		return ""
	}
	e := historyEntry{Status: o.Status, Tier: o.Tier, Subcategory: o.Subcategory, ProblemCode: o.ProblemCode,
		CreatedAt: o.CreatedAt.UnixMilli()}
	if o.Status == configs.StatusResolved || o.Status == configs.StatusArchived {
		e.ClosedAt = closedAt(o).UnixMilli()
	}
	data, _ := json.Marshal(e) // plain strings and ints: cannot fail
	return string(data)
}

// closedAt is when o reached its current status: the last status change to
// it, else its creation (an order resolved in the IVR).
func closedAt(o *Order) time.Time {
	for i := len(o.History) - 1; i >= 0; i-- {
		if c := o.History[i]; c.Action == "status" && c.To == o.Status {
			return c.At
		}
	}
	return o.CreatedAt
}

// historySlack keeps an index a day past its last window, for clocks that
// disagree a little.
const historySlack = 24 * time.Hour

// historyScript writes one entry of a service number's complaint index and
// keeps the index small: entries closed more than keep ago (or unreadable)
// are dropped; the key persists while an entry is open, else expires keep
// (plus slack) after the latest close.
//
// KEYS[1] the index hash (order id -> entry JSON)
// ARGV[1] order id, ARGV[2] entry JSON ("" removes the entry),
// ARGV[3] now (unix ms), ARGV[4] keep (ms), ARGV[5] slack (ms)
// Returns the number of entries left.
var historyScript = rbatch.NewScript(`
local now, keep, slack = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
local all = redis.call('HGETALL', KEYS[1])
local open, last, n = false, 0, 0
for i = 1, #all, 2 do
  local ok, e = pcall(cjson.decode, all[i + 1])
  if not ok or type(e) ~= 'table' then
    redis.call('HDEL', KEYS[1], all[i])
  elseif e.status == 'resolved' or e.status == 'archived' then
    local closed = tonumber(e.closed_at) or 0
    if closed + keep < now then
      redis.call('HDEL', KEYS[1], all[i])
    else
      n = n + 1
      if closed > last then last = closed end
    end
  else
    open = true
    n = n + 1
  end
end
if n > 0 then
  if open then
    redis.call('PERSIST', KEYS[1])
  else
    redis.call('PEXPIRE', KEYS[1], math.max(last + keep - now, 0) + slack)
  end
end
return n
`)

// writeHistory queues the index entry of o on pipe, in the caller's batch
// (rbatch, where historyScript runs as a function). Only an order stored in its customer's shard is indexed (every
// order Service creates is; see Service.Submit).
func (s *Store) writeHistory(ctx context.Context, pipe redis.Pipeliner, o *Order, now time.Time) {
	if o.ServiceNumber == "" || s.ShardOf(o.ServiceNumber) != s.Shard(o.ID) {
		return
	}
	historyScript.Eval(ctx, pipe, []string{s.historyKey(s.Shard(o.ID), o.ServiceNumber)},
		o.ID, entryOf(o), now.UnixMilli(), s.keep.Milliseconds(), historySlack.Milliseconds())
}

// decodeHistory turns the raw index into past complaints, newest first,
// leaving out the entry of skip (the contact's own reserved order).
func decodeHistory(raw map[string]string, skip string) []classifier.PastComplaint {
	out := make([]classifier.PastComplaint, 0, len(raw))
	for id, v := range raw {
		var e historyEntry
		if id == skip || json.Unmarshal([]byte(v), &e) != nil {
			continue
		}
		p := classifier.PastComplaint{ID: id, Status: e.Status, Tier: e.Tier, Subcategory: e.Subcategory,
			ProblemCode: e.ProblemCode, CreatedAt: time.UnixMilli(e.CreatedAt)}
		if e.ClosedAt != 0 {
			p.ClosedAt = time.UnixMilli(e.ClosedAt)
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { // newest first; ids break ties, so reads agree
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID > out[j].ID
	})
	return out
}

// ComplaintHistory returns the complaint orders the index holds for a
// service number, newest first.
func (s *Store) ComplaintHistory(ctx context.Context, serviceNumber string) ([]classifier.PastComplaint, error) {
	raw, err := s.rdb.HGetAll(ctx, s.historyKey(s.ShardOf(serviceNumber), serviceNumber)).Result()
	if err != nil {
		return nil, fmt.Errorf("complaint history: %w", err)
	}
	return decodeHistory(raw, ""), nil
}

// dropGhostScript removes an index entry whose order never came: a
// placeholder (or a dangling entry) created before a cut-off.
//
// KEYS[1] the index hash; ARGV[1] order id, ARGV[2] cut-off (unix ms)
// Returns 1 when removed, 0 when the entry is younger or gone.
var dropGhostScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local ok, e = pcall(cjson.decode, v)
if ok and type(e) == 'table' and (tonumber(e.created_at) or 0) >= tonumber(ARGV[2]) then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`)

// dropGhost removes the index entry of id when it was made before cutoff and
// its order does not exist; it reports whether it did.
func (s *Store) dropGhost(ctx context.Context, serviceNumber, id string, cutoff time.Time) (bool, error) {
	if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
		return false, err
	}
	n, err := dropGhostScript.Run(ctx, s.rdb, []string{s.historyKey(s.ShardOf(serviceNumber), serviceNumber)},
		id, cutoff.UnixMilli()).Int()
	if err != nil {
		return false, fmt.Errorf("drop index entry %s: %w", id, err)
	}
	return n == 1, nil
}

// The record of escalations of a customer (越级投诉记录): a sorted set in the
// customer's shard, "order id|tier" scored by creation (unix ms), of the
// customer's group- and appeal-tier orders, written in the order's own
// transaction and trimmed to keepEscalations.

func (s *Store) escalationsKey(shard int, customer string) string {
	return fmt.Sprintf("%s:{%d}:svc:%s:escalations", s.prefix, shard, customer)
}

// escalationsRange is the score range of the record still kept at now.
func (s *Store) escalationsRange(now time.Time) *redis.ZRangeBy {
	return &redis.ZRangeBy{Min: strconv.FormatInt(now.Add(-s.keepEscalations).UnixMilli(), 10), Max: "+inf"}
}

// writeEscalation queues o's entry in its customer's record of escalations
// on pipe, in the caller's batch: only group- and appeal-tier orders
// stored in their customer's shard (every order Service creates is).
func (s *Store) writeEscalation(ctx context.Context, pipe redis.Pipeliner, o *Order) {
	shard := s.Shard(o.ID)
	if configs.TierRank(o.Tier) < 1 || s.ShardOf(o.Key()) != shard {
		return
	}
	k := s.escalationsKey(shard, o.Key())
	created := o.CreatedAt.UnixMilli()
	pipe.ZAdd(ctx, k, redis.Z{Score: float64(created), Member: o.ID + "|" + o.Tier})
	pipe.ZRemRangeByScore(ctx, k, "-inf", "("+strconv.FormatInt(created-s.keepEscalations.Milliseconds(), 10))
	pipe.PExpire(ctx, k, s.keepEscalations+historySlack)
}

// decodeEscalations turns the record's entries into past orders.
func decodeEscalations(raw []redis.Z) []classifier.PastComplaint {
	out := make([]classifier.PastComplaint, 0, len(raw))
	for _, z := range raw {
		m, _ := z.Member.(string)
		id, tier, ok := strings.Cut(m, "|")
		if !ok {
			continue
		}
		out = append(out, classifier.PastComplaint{ID: id, Tier: tier, CreatedAt: time.UnixMilli(int64(z.Score))})
	}
	return out
}
