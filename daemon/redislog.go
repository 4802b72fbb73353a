package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/internal/phone"
)

// redisLog takes go-redis's own log lines (a pool that cannot dial, a
// connection dropped) into the daemon's JSON log: at warn, with phone
// numbers masked (phone.MaskText), at most one line per redisLogEvery;
// the lines dropped meanwhile are counted on the next one. Without it
// go-redis prints plain text to standard error, dozens of lines a second
// while Redis is down.
type redisLog struct {
	log zerolog.Logger
	now func() time.Time

	mu      sync.Mutex
	last    time.Time
	dropped int
}

// redisLogEvery is the least time between two of go-redis's log lines.
const redisLogEvery = time.Second

func newRedisLog(log zerolog.Logger) *redisLog {
	return &redisLog{log: log.With().Str("lib", "go-redis").Logger(), now: time.Now}
}

// Printf implements go-redis's internal.Logging.
func (l *redisLog) Printf(_ context.Context, format string, v ...any) {
	l.mu.Lock()
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < redisLogEvery {
		l.dropped++
		l.mu.Unlock()
		return
	}
	dropped := l.dropped
	l.last, l.dropped = now, 0
	log := l.log
	l.mu.Unlock()
	ev := log.Warn()
	if dropped > 0 {
		ev = ev.Int("dropped_before", dropped)
	}
	ev.Msg(phone.MaskText(fmt.Sprintf(format, v...)))
}

// use makes log the target of the lines from now on.
func (l *redisLog) use(log zerolog.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = log.With().Str("lib", "go-redis").Logger()
}

// goRedisLog is go-redis's logger (one per process, set once); each daemon
// that starts makes its own logger the target.
var (
	goRedisLog    = newRedisLog(zerolog.Nop())
	setGoRedisLog sync.Once
)

// RouteGoRedisLog makes log the target of go-redis's own log lines, in
// this process, from now on: at warn, phone numbers masked, at most one a
// second (the daemon does this when it starts; hotlined replay, which
// has no daemon, calls it itself).
func RouteGoRedisLog(log zerolog.Logger) {
	goRedisLog.use(log)
	setGoRedisLog.Do(func() { redis.SetLogger(goRedisLog) })
}
