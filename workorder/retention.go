package workorder

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Retention (DOMAIN.md "Data rules"): an archived order is kept for
// retention.after_archive, then purged with its indexes. Each shard keeps
// its archived orders in a sorted set by when they are due to go, written
// in the archiving transaction.

func (s *Store) purgeKey(shard int) string {
	return fmt.Sprintf("%s:{%d}:purge_due", s.prefix, shard)
}

// PurgeDue deletes up to limit orders per shard whose retention ended at
// now: the order, its place in its customer's and its status's indexes
// and in the purge set, each order in one MULTI on its shard. Orders no
// longer archived (or gone) only leave the purge set. It returns how many
// it deleted.
func (s *Store) PurgeDue(ctx context.Context, now time.Time, limit int64) (int, error) {
	n := 0
	var errs []error
	for shard := range s.shards {
		ids, err := s.rdb.ZRangeByScore(ctx, s.purgeKey(shard), &redis.ZRangeBy{Min: "-inf",
			Max: strconv.FormatInt(now.UnixMilli(), 10), Count: limit}).Result()
		if err != nil {
			errs = append(errs, fmt.Errorf("orders due to be purged: %w", err))
			continue
		}
		for _, id := range ids {
			purged, err := s.purge(ctx, shard, id)
			if err != nil {
				errs = append(errs, err)
			} else if purged {
				n++
			}
		}
	}
	return n, errors.Join(errs...)
}

// purge deletes one order if it is still archived.
func (s *Store) purge(ctx context.Context, shard int, id string) (bool, error) {
	o, err := s.Get(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && o.Status != "archived" {
		return false, s.rdb.ZRem(ctx, s.purgeKey(shard), id).Err()
	}
	if err != nil {
		return false, err
	}
	_, err = s.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Del(ctx, s.orderKey(id))
		pipe.ZRem(ctx, s.customerKey(shard, o.Key()), id)
		pipe.ZRem(ctx, s.statusKey(shard, o.Status), id)
		pipe.ZRem(ctx, s.purgeKey(shard), id)
		if o.ServiceNumber != "" {
			pipe.HDel(ctx, s.historyKey(shard, o.ServiceNumber), id)
		}
		return nil
	})
	s.recent.drop(id)
	if err != nil {
		return false, fmt.Errorf("purge work order %s: %w", id, err)
	}
	return true, nil
}

// PurgeDue purges the archived orders whose retention ended (Store.PurgeDue)
// and counts them in hotlined_workorders_purged_total.
func (s *Service) PurgeDue(ctx context.Context) (int, error) {
	n, err := s.store.PurgeDue(ctx, s.now(), 200)
	if n > 0 {
		s.purged.Add(float64(n))
		s.log.Info().Int("orders", n).Msg("archived orders purged after their retention")
	}
	return n, err
}
