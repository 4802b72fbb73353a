package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// component is the one shape of every background loop the daemon owns:
// Start returns once the loop runs (or with why it cannot), Shutdown stops
// it within ctx.
type component interface {
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// step is one named teardown.
type step struct {
	name string
	fn   func(context.Context) error
}

// onShutdown registers a named teardown right after what it stops has
// started; Shutdown runs them in reverse order.
func (d *Daemon) onShutdown(name string, fn func(context.Context) error) {
	d.steps = append(d.steps, step{name: name, fn: fn})
}

// run starts c and registers its Shutdown under name.
func (d *Daemon) run(ctx context.Context, name string, c component) error {
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	d.onShutdown(name, c.Shutdown)
	return nil
}

// stepSlack is how long the steps still running may take, all together,
// once the grace period is over, before Shutdown returns without them (the
// process is exiting).
const stepSlack = 200 * time.Millisecond

// Shutdown stops the daemon within ctx: /readyz and SIP OPTIONS answer
// 503 and new INVITEs get 503 at once; then, in reverse order of start,
// calls in progress may finish (two thirds of the time left), the
// consumers stop, the relay flushes the outbox, the HTTP server closes,
// and the clients close. A step still running when ctx ends is left behind
// (what the relay did not publish stays in the outbox for the next
// daemon); its error says so. Every step runs, whatever the others return.
func (d *Daemon) Shutdown(ctx context.Context) error {
	if !d.draining.CompareAndSwap(false, true) {
		return nil
	}
	if d.sip != nil {
		d.sip.Drain()
	}
	// hard ends stepSlack after ctx: the last moment Shutdown waits.
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
		case <-hard.Done():
			return
		}
		t := time.NewTimer(stepSlack)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-hard.Done():
		}
	}()
	var errs []error
	for i := len(d.steps) - 1; i >= 0; i-- {
		s := d.steps[i]
		start := time.Now()
		if err := runStep(ctx, hard, s.fn); err != nil {
			errs = append(errs, fmt.Errorf("shutdown %s: %w", s.name, err))
		}
		d.log.Debug().Str("step", s.name).Dur("took", time.Since(start)).Msg("shutdown step done")
	}
	return errors.Join(errs...)
}

// runStep runs fn with ctx and waits for it until hard ends (and 10 ms
// more).
func runStep(ctx, hard context.Context, fn func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-hard.Done():
	}
	t := time.NewTimer(10 * time.Millisecond) // a closer that needs no wait still gets to finish
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("left running: %w", context.DeadlineExceeded)
	}
}

// capped bounds a step that must not eat the others' grace (a consumer
// leaving its group on a hung broker) to at most d.
func capped(d time.Duration, fn func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return runStep(ctx, ctx, fn)
	}
}
