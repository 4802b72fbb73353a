package workorder

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A waiter for a key another goroutine holds gives up when its context
// ends; other keys are free meanwhile; nothing is left behind.
func TestKeyedMutex(t *testing.T) {
	var k keyedMutex
	ctx := context.Background()
	unlockA, err := k.lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	unlockB, err := k.lock(ctx, "b")
	if err != nil {
		t.Fatalf("another key: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := k.lock(short, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a held: %v, want the context's deadline", err)
	}
	got := make(chan struct{})
	go func() {
		unlock, err := k.lock(ctx, "a")
		if err == nil {
			unlock()
		}
		close(got)
	}()
	unlockA()
	<-got
	unlockB()
	if n := len(k.locks); n != 0 {
		t.Errorf("%d keys left locked or waited for", n)
	}
}
