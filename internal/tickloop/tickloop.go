// Package tickloop is the lifecycle shape of hotlined's background loops:
// Start(ctx) error, Shutdown(ctx) error, a tick every interval between.
package tickloop

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Loop runs tick every interval until Shutdown: the one lifecycle
// shape of hotlined's background loops (Start(ctx) error, Shutdown(ctx)
// error, a second Shutdown a no-op).
type Loop struct {
	name     string
	interval time.Duration
	tick     func(ctx context.Context)
	cancel   context.CancelFunc
	done     chan struct{}
	once     sync.Once
}

// New returns a loop named name (in Shutdown's error) that calls tick
// every interval; embed it by value, before Start.
func New(name string, interval time.Duration, tick func(ctx context.Context)) Loop {
	return Loop{name: name, interval: interval, tick: tick, done: make(chan struct{})}
}

// Start runs the loop until Shutdown; the loop outlives ctx's cancellation
// (only Shutdown stops it) but keeps its values.
func (l *Loop) Start(ctx context.Context) error {
	ctx, l.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(l.done)
		t := time.NewTicker(l.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			l.tick(ctx)
		}
	}()
	return nil
}

// Shutdown stops the loop and waits for its last tick, at most until ctx
// ends.
func (l *Loop) Shutdown(ctx context.Context) error {
	l.once.Do(func() {
		if l.cancel != nil {
			l.cancel()
		} else {
			close(l.done) // never started
		}
	})
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s shutdown: %w", l.name, ctx.Err())
	}
}
