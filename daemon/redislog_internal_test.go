package daemon

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// go-redis's lines reach our JSON log at warn, masked, one a second, with
// the count of those dropped in between.
func TestRedisLog(t *testing.T) {
	var buf bytes.Buffer
	l := newRedisLog(zerolog.New(&buf))
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	ctx := context.Background()
	l.Printf(ctx, "redis: connection pool: failed to dial after %d attempts: dial tcp 127.0.0.1:6379: refused (caller %s)", 5, "18912345678")
	for range 40 {
		now = now.Add(10 * time.Millisecond)
		l.Printf(ctx, "redis: connection pool: failed to dial")
	}
	now = now.Add(time.Second)
	l.Printf(ctx, "redis: discarding bad PubSub connection")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], `"level":"warn"`) || !strings.Contains(lines[0], `"lib":"go-redis"`) ||
		strings.Contains(lines[0], "18912345678") || !strings.Contains(lines[0], "failed to dial after 5 attempts") {
		t.Errorf("first line: %s", lines[0])
	}
	if !strings.Contains(lines[1], `"dropped_before":40`) || !strings.Contains(lines[1], "discarding bad PubSub") {
		t.Errorf("second line: %s", lines[1])
	}
}
