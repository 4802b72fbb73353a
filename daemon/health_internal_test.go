package daemon

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// One slow ping, or two failures between answers, never mark Redis down;
// three consecutive failures do, a refused connection at once; any answer
// (even an error reply or redis.Nil) brings it back.
func TestRedisHealthIsTolerant(t *testing.T) {
	h := &redisHealth{log: zerolog.Nop(), downAfter: 3}
	h.up.Store(true)
	timeout := &net.OpError{Op: "read", Err: context.DeadlineExceeded}
	steps := []struct {
		err  error
		want bool
	}{
		{timeout, true},
		{timeout, true},
		{nil, true}, // a real command answered: the count starts again
		{timeout, true},
		{redis.Nil, true},
		{timeout, true},
		{timeout, true},
		{errors.New("redis: connection pool timeout"), false},
		{timeout, false},
		{redis.Nil, true},
		{timeout, true},
		// Nothing listens: down at once.
		{&net.OpError{Op: "dial", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}, false},
		{nil, true},
	}
	for i, s := range steps {
		h.observe(s.err)
		if h.Up() != s.want {
			t.Fatalf("step %d (%v): up = %v, want %v", i, s.err, h.Up(), s.want)
		}
	}
	if err := h.Check(context.Background()); err != nil {
		t.Errorf("Check while up: %v", err)
	}
}

// The daemon's own commands timing out or queueing for a pooled connection
// say nothing about Redis (the ping on the health check's own connection
// decides): they never mark it down, however many; a broken connection
// does count, and an answer resets the count.
func TestRedisHealthIgnoresCommandTimeouts(t *testing.T) {
	h := &redisHealth{log: zerolog.Nop(), downAfter: 3}
	h.up.Store(true)
	timeout := &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}
	for range 10 {
		for _, err := range []error{timeout, redis.ErrPoolTimeout, context.DeadlineExceeded, context.Canceled} {
			h.observeCommand(err)
		}
	}
	if !h.Up() {
		t.Fatal("down after command timeouts and pool waits only")
	}
	reset := &net.OpError{Op: "read", Err: syscall.ECONNRESET}
	h.observeCommand(reset)
	h.observeCommand(reset)
	h.observeCommand(nil)
	h.observeCommand(reset)
	h.observeCommand(reset)
	if !h.Up() {
		t.Fatal("down after two failures between answers")
	}
	h.observeCommand(reset)
	if h.Up() {
		t.Fatal("up after three broken connections in a row")
	}
	// The ping's timeouts do count.
	h.observe(nil)
	for range 3 {
		h.observe(timeout)
	}
	if h.Up() {
		t.Fatal("up after three ping timeouts")
	}
}

// replyErr is an error reply of Redis (a redis.Error).
type replyErr string

func (e replyErr) Error() string { return string(e) }
func (replyErr) RedisError()     {}

// A Redis that answers that it cannot serve (a cluster with a master
// gone: CLUSTERDOWN) is down after three such answers, however many
// other error replies came between; an ordinary error reply is an answer.
func TestRedisHealthCountsDownReplies(t *testing.T) {
	h := &redisHealth{log: zerolog.Nop(), downAfter: 3}
	h.up.Store(true)
	down := replyErr("CLUSTERDOWN The cluster is down")
	for i := range 2 {
		h.observeCommand(down)
		if !h.Up() {
			t.Fatalf("down after %d CLUSTERDOWN replies", i+1)
		}
	}
	h.observeCommand(down)
	if h.Up() {
		t.Fatal("up after three CLUSTERDOWN replies in a row")
	}
	h.observeCommand(replyErr("LOADING Redis is loading the dataset in memory"))
	if h.Up() {
		t.Fatal("a LOADING reply brought it back")
	}
	h.observeCommand(replyErr("WRONGTYPE Operation against a key holding the wrong kind of value"))
	if !h.Up() {
		t.Fatal("an ordinary error reply (an answer) did not bring it back")
	}
}

// On a Redis Cluster the ping asks for cluster_state: a node that answers
// PING while a master is gone (the cluster down) fails it.
func TestPingRedisClusterState(t *testing.T) {
	rc := testenv.StartRedisCluster(t)
	ctx := context.Background()
	if err := pingRedis(ctx, rc.Client); err != nil {
		t.Fatalf("healthy cluster: %v", err)
	}
	rc.KillNode(0)
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := pingRedis(ctx, rc.Client)
		if errors.Is(err, errClusterNotOK) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a master gone 15 s: ping says %v, want %v", err, errClusterNotOK)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
