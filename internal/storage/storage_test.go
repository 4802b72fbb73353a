package storage_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/hotlined/hotlined/internal/storage"
	"github.com/hotlined/hotlined/internal/testenv"
)

func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	// Real replies from real servers: WRONGTYPE is about the command;
	// a replica refusing a write (READONLY) is a Redis that cannot serve.
	master, replica := testenv.StartRedis(t), testenv.StartRedis(t)
	master.Client.Set(ctx, "k", "v", 0)
	wrongType := master.Client.HGet(ctx, "k", "f").Err()
	host, port, _ := net.SplitHostPort(master.Addr)
	if err := replica.Client.ReplicaOf(ctx, host, port).Err(); err != nil {
		t.Fatal(err)
	}
	readOnly := replica.Client.Set(ctx, "k", "w", 0).Err()
	master.Kill()
	refused := master.Client.Get(ctx, "k").Err()
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"redis.Nil", redis.Nil, false},
		{"a reply about the command (WRONGTYPE)", wrongType, false},
		{"a conflict of ours", errors.New("update work order X: illegal status transition"), false},
		{"a replica refusing writes (READONLY)", readOnly, true},
		{"a server that went away", refused, true},
		{"wrapped", fmt.Errorf("take contact: %w", refused), true},
		{"a read that timed out", &os.SyscallError{Syscall: "read", Err: syscall.ETIMEDOUT}, true},
		{"a pool wait", redis.ErrPoolTimeout, true},
		{"a deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
	}
	for _, c := range cases {
		if got := storage.Unavailable(c.err); got != c.want {
			t.Errorf("%s (%v): %v, want %v", c.name, c.err, got, c.want)
		}
	}
	if !storage.DownReply(readOnly) || storage.DownReply(wrongType) || storage.DownReply(refused) {
		t.Errorf("DownReply: READONLY %v, WRONGTYPE %v, refused %v; want true, false, false",
			storage.DownReply(readOnly), storage.DownReply(wrongType), storage.DownReply(refused))
	}
}
