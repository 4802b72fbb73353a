package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hotlined/hotlined/internal/tickloop"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
)

// redisHealth decides whether Redis is up, tolerantly: it is down only
// after downAfter consecutive failures, a failure being a ping that did
// not answer within pingTimeout or a real command that failed for want of
// Redis (a network error, a timeout, a closed pool; not a Redis error
// reply, not redis.Nil); a refused connection counts as downAfter
// failures at once (nothing listens: not slowness). Any command that got an answer counts as a
// success and resets the count, so one slow ping under load never flips
// it. It is a go-redis hook on the daemon's client and a ping loop (its
// Start and Shutdown: the ping every interval, stopped by Shutdown).
type redisHealth struct {
	log       zerolog.Logger
	rdb       redis.UniversalClient
	downAfter int32
	interval  time.Duration
	timeout   time.Duration

	fails   atomic.Int32
	up      atomic.Bool
	mu      sync.Mutex
	lastErr error

	tickLoop // the ping every interval
}

var _ redis.Hook = (*redisHealth)(nil)

// tickLoop is embedded under an unexported name: only Start and Shutdown
// show.
type tickLoop = tickloop.Loop

func newRedisHealth(rdb redis.UniversalClient, log zerolog.Logger) *redisHealth {
	h := &redisHealth{log: log, rdb: rdb, downAfter: 3, interval: time.Second, timeout: 2 * time.Second}
	h.tickLoop = tickloop.New("redis health", h.interval, h.ping)
	h.up.Store(true) // Start has just pinged it
	rdb.AddHook(h)
	return h
}

// Up reports whether new calls can be kept.
func (h *redisHealth) Up() bool { return h.up.Load() }

// Check is the /readyz check: nil while up, else the last failure.
func (h *redisHealth) Check(context.Context) error {
	if h.Up() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return fmt.Errorf("redis down after %d consecutive failures: %w", h.downAfter, h.lastErr)
}

// observe counts one outcome of a command or ping.
func (h *redisHealth) observe(err error) {
	var reply redis.Error
	if err == nil || errors.Is(err, redis.Nil) || errors.As(err, &reply) || errors.Is(err, context.Canceled) {
		if h.fails.Swap(0) >= h.downAfter || !h.up.Load() {
			if !h.up.Swap(true) {
				h.log.Info().Msg("redis reachable again: taking calls")
			}
		}
		return
	}
	h.mu.Lock()
	h.lastErr = err
	h.mu.Unlock()
	n := h.fails.Add(1)
	if errors.Is(err, syscall.ECONNREFUSED) {
		n = h.downAfter // nothing listens there: no reason to wait for more
		h.fails.Store(n)
	}
	if n >= h.downAfter && h.up.Swap(false) {
		h.log.Error().Err(err).Int32("failures", h.downAfter).Msg("redis unreachable: new calls get 503")
	}
}

func (h *redisHealth) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

func (h *redisHealth) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.observe(err)
		return err
	}
}

func (h *redisHealth) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.observe(err)
		return err
	}
}

// ping asks Redis once, within timeout; the hook observes the answer.
func (h *redisHealth) ping(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	_ = h.rdb.Ping(pctx).Err()
}

// kafkaCheck asks a broker for the cluster's brokers (a Metadata request
// on a fresh connection, not the writer's cached metadata): a broker that
// accepts connections but does not answer fails it, unlike a TCP connect.
// One answering broker is enough.
func kafkaCheck(dialer *kafka.Dialer, brokers []string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var errs []error
		for _, b := range brokers {
			err := func() error {
				conn, err := dialer.DialContext(ctx, "tcp", b)
				if err != nil {
					return err
				}
				defer conn.Close()
				if deadline, ok := ctx.Deadline(); ok {
					_ = conn.SetDeadline(deadline)
				}
				got, err := conn.Brokers()
				if err == nil && len(got) == 0 {
					err = errors.New("no brokers in the metadata")
				}
				return err
			}()
			if err == nil {
				return nil
			}
			errs = append(errs, fmt.Errorf("kafka metadata from %s: %w", b, err))
		}
		return errors.Join(errs...)
	}
}
