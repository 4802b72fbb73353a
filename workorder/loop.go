package workorder

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// tickLoop runs tick every interval until Shutdown: the one lifecycle
// shape of the package's background loops (Start(ctx) error, Shutdown(ctx)
// error, a second Shutdown a no-op).
type tickLoop struct {
	name     string
	interval time.Duration
	tick     func(ctx context.Context)
	cancel   context.CancelFunc
	done     chan struct{}
	once     sync.Once
}

func newTickLoop(name string, interval time.Duration, tick func(ctx context.Context)) tickLoop {
	return tickLoop{name: name, interval: interval, tick: tick, done: make(chan struct{})}
}

// Start runs the loop until Shutdown; the loop outlives ctx's cancellation
// (only Shutdown stops it) but keeps its values.
func (l *tickLoop) Start(ctx context.Context) error {
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
func (l *tickLoop) Shutdown(ctx context.Context) error {
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
