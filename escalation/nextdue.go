package escalation

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// NextDue is when the earliest timer of any shard is due (a claimed timer:
// when its lease ends), and false when there is none. It only reads: a
// driver of a simulated clock (hotlined replay) moves its clock there and
// runs Scheduler.Tick, so every timer fires at its own due time.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	cmds := make([]*redis.ZSliceCmd, s.shards)
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for shard := range cmds {
			cmds[shard] = pipe.ZRangeWithScores(ctx, s.timersKey(shard), 0, 0)
		}
		return nil
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due timer: %w", err)
	}
	var (
		next  int64
		found bool
	)
	for _, c := range cmds {
		for _, z := range c.Val() {
			if ms := int64(z.Score); !found || ms < next {
				next, found = ms, true
			}
		}
	}
	if !found {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(next), true, nil
}
