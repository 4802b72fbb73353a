package tickloop

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A loop ticks until Shutdown, a second Shutdown is a no-op, a loop never
// started shuts down at once, and a hung tick bounds Shutdown by its ctx.
func TestLoopLifecycle(t *testing.T) {
	ticks := make(chan struct{}, 100)
	l := New("test", time.Millisecond, func(context.Context) { ticks <- struct{}{} })
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-ticks
	<-ticks
	if err := l.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := l.Shutdown(context.Background()); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	for len(ticks) > 0 {
		<-ticks
	}
	time.Sleep(5 * time.Millisecond)
	if len(ticks) != 0 {
		t.Fatal("ticked after Shutdown")
	}

	never := New("never", time.Hour, func(context.Context) {})
	if err := never.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown of a loop never started: %v", err)
	}

	release := make(chan struct{})
	defer close(release)
	entered := make(chan struct{}, 1)
	hung := New("hung", time.Millisecond, func(context.Context) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	})
	_ = hung.Start(context.Background())
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := hung.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown with a hung tick: %v, want the deadline", err)
	}
}
