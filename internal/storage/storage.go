// Package storage classifies errors of the Redis the daemon keeps its
// state in: whether Redis could not serve (worth a 503 and a retry later)
// rather than refusing one request.
package storage

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
)

// downReplies are the error replies of a Redis that answers but cannot
// serve: a cluster with slots no master serves, a server loading its data
// or cut from its master, a replica refusing writes after a failover, a
// server that cannot persist.
var downReplies = []string{"CLUSTERDOWN", "LOADING", "MASTERDOWN", "READONLY", "MISCONF"}

// DownReply reports whether err is (or wraps) one of Redis's error
// replies that say it cannot serve now (downReplies).
func DownReply(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return false
	}
	msg := reply.Error()
	for _, p := range downReplies {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// Unavailable reports whether err says Redis could not serve the request:
// a down reply, a network error (refused, reset, a timeout), a wait for a
// pooled connection that timed out, a closed client, or a deadline that
// passed while waiting. Errors of the request itself (a Redis error reply
// about the command, redis.Nil, a conflict) are not.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if DownReply(err) {
		return true
	}
	var ne net.Error
	var op *net.OpError
	return errors.As(err, &ne) || errors.As(err, &op) || errors.Is(err, redis.ErrPoolTimeout) ||
		errors.Is(err, redis.ErrClosed) || errors.Is(err, context.DeadlineExceeded)
}
