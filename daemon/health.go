package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hotlined/hotlined/internal/storage"
	"github.com/hotlined/hotlined/internal/tickloop"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
)

// redisHealth decides whether Redis is up, tolerantly: it is down only
// after downAfter consecutive failures. It watches two things. Its own
// ping, every interval on a client of its own (one connection, no
// retries), so the daemon's pool being busy under load is not mistaken
// for Redis being slow: a ping that failed or did not answer within
// timeout is a failure. And the daemon's real commands (a go-redis hook):
// an answer, even an error reply or redis.Nil, is a success and resets the
// count; a network error, or a reply saying Redis cannot serve
// (storage.DownReply: CLUSTERDOWN, LOADING, ...), is a failure; a refused
// connection counts as downAfter failures at once (nothing listens: not
// slowness). On a Redis Cluster the ping asks for cluster_state, since a
// node answers PING while the cluster is down. A command
// that timed out, was cancelled or waited too long for a pooled
// connection (redis.ErrPoolTimeout) counts neither way: it measures the
// caller's deadline and our own pool, and the ping decides for a hung
// Redis (bench15 found 3,102 goroutines queued on 40 connections marking a
// healthy Redis down). Load beyond what Redis keeps up with is refused by
// the SIP edge's admission (sip.max_pending_orders), not by this check.
// Its Start and Shutdown run the ping every interval; Shutdown also closes
// the ping's client.
type redisHealth struct {
	log       zerolog.Logger
	rdb       redis.UniversalClient // the daemon's client: its commands are observed
	ping      redis.UniversalClient // the health check's own client: nil pings on rdb
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

// newRedisHealth watches rdb's commands (a hook added to it) and pings on
// ping, a client of its own that Shutdown closes (nil: on rdb).
func newRedisHealth(rdb, ping redis.UniversalClient, log zerolog.Logger) *redisHealth {
	h := &redisHealth{log: log, rdb: rdb, ping: ping, downAfter: 3, interval: time.Second, timeout: 2 * time.Second}
	h.tickLoop = tickloop.New("redis health", h.interval, h.pingOnce)
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

// observe counts one outcome of the health check's own ping: every
// failure counts, timeouts included.
func (h *redisHealth) observe(err error) {
	var reply redis.Error
	if err == nil || errors.Is(err, redis.Nil) || (errors.As(err, &reply) && !storage.DownReply(err)) {
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

// observeCommand counts one outcome of the daemon's own command: as
// observe, except that a timeout, a cancellation or a wait for a pooled
// connection counts neither way (see redisHealth).
func (h *redisHealth) observeCommand(err error) {
	var ne net.Error
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, redis.ErrPoolTimeout) || (errors.As(err, &ne) && ne.Timeout()) {
		return
	}
	h.observe(err)
}

func (h *redisHealth) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

func (h *redisHealth) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if h.ping != nil || cmd.Name() != "ping" {
			h.observeCommand(err)
		} else {
			h.observe(err)
		}
		return err
	}
}

func (h *redisHealth) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.observeCommand(err)
		return err
	}
}

// pingOnce asks Redis once, within timeout, on the health check's own
// client (observed here), else on the daemon's (observed by the hook).
func (h *redisHealth) pingOnce(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	if h.ping == nil {
		_ = h.rdb.Ping(pctx).Err()
		return
	}
	if err := pingRedis(pctx, h.ping); ctx.Err() == nil {
		h.observe(err)
	}
}

// errClusterNotOK: a cluster node answers, but not every slot is served
// (its keyed commands get CLUSTERDOWN).
var errClusterNotOK = errors.New("redis cluster: cluster_state is not ok (not every slot is served)")

// pingRedis asks c whether it can serve: PING, and on a Redis Cluster the
// node's cluster_state (a node answers PING while the cluster is down).
func pingRedis(ctx context.Context, c redis.UniversalClient) error {
	cc, ok := c.(*redis.ClusterClient)
	if !ok {
		return c.Ping(ctx).Err()
	}
	info, err := cc.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "cluster_state:ok") {
		return errClusterNotOK
	}
	return nil
}

// Shutdown stops the ping loop and closes the health check's own client.
func (h *redisHealth) Shutdown(ctx context.Context) error {
	if err := h.tickLoop.Shutdown(ctx); err != nil {
		return err
	}
	if h.ping != nil {
		return h.ping.Close()
	}
	return nil
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
