package escalation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotlined/hotlined/internal/tickloop"
	"github.com/rs/zerolog"
)

// LiveCalendar is the calendar file in use, replaceable while the daemon
// runs: Reload reads the file again (on SIGHUP) and swaps the new calendar
// in atomically. Planning and firing read Current each time, so a reload
// takes effect at once; Scheduler.Reload also moves the open timers.
//
// Reload is safe for concurrent use with itself and with Current.
type LiveCalendar struct {
	path string
	mu   sync.Mutex // serialises reloads
	cur  atomic.Pointer[Calendar]
}

// OpenCalendar loads the calendar file at path.
func OpenCalendar(path string) (*LiveCalendar, error) {
	c, err := LoadCalendar(path)
	if err != nil {
		return nil, err
	}
	l := &LiveCalendar{path: path}
	l.cur.Store(c)
	return l, nil
}

// FixedCalendar wraps a calendar that never reloads (tests, tools).
func FixedCalendar(c *Calendar) *LiveCalendar {
	l := &LiveCalendar{}
	l.cur.Store(c)
	return l
}

// Current is the calendar in use.
func (l *LiveCalendar) Current() *Calendar { return l.cur.Load() }

// Path is the file the calendar is read from ("" for a fixed one).
func (l *LiveCalendar) Path() string { return l.path }

// ErrFixedCalendar is returned by Reload of a calendar without a file.
var ErrFixedCalendar = errors.New("calendar has no file to reload")

// Reload reads the file again. On any error the calendar in use stays, so
// a bad edit never leaves the daemon without one; the error names the file,
// key path and line as LoadCalendar's do.
func (l *LiveCalendar) Reload() (*Calendar, error) {
	if l.path == "" {
		return nil, ErrFixedCalendar
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := LoadCalendar(l.path)
	if err != nil {
		return nil, fmt.Errorf("reload calendar (the previous one stays in use): %w", err)
	}
	l.cur.Store(c)
	return c, nil
}

// Replace swaps in c, as Reload does with a file's contents.
func (l *LiveCalendar) Replace(c *Calendar) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur.Store(c)
}

// CalendarWatchParams configure a CalendarWatcher.
type CalendarWatchParams struct {
	Calendar *LiveCalendar
	Logger   zerolog.Logger
	// Every is how often the warnings are logged again; 0 means daily.
	Every time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// CalendarWatcher logs the warnings of the calendar in use
// (Calendar.Warnings: the current or next year provisional or missing) at
// start and then once every Every, so an operator keeps hearing about a
// year whose arrangement is not in the file until it is replaced.
type CalendarWatcher struct {
	p    CalendarWatchParams
	loop tickloop.Loop
}

// NewCalendarWatcher makes a watcher; Start runs it.
func NewCalendarWatcher(p CalendarWatchParams) *CalendarWatcher {
	if p.Every <= 0 {
		p.Every = 24 * time.Hour
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	p.Logger = p.Logger.With().Str("component", "calendar").Logger()
	w := &CalendarWatcher{p: p}
	w.loop = tickloop.New("calendar watcher", p.Every, func(context.Context) { w.Check() })
	return w
}

// Check logs the warnings due now, one line each, and returns them.
func (w *CalendarWatcher) Check() []CalendarWarning {
	cal := w.p.Calendar.Current()
	warnings := cal.Warnings(w.p.Now())
	for _, cw := range warnings {
		w.p.Logger.Warn().Str("calendar", w.p.Calendar.Path()).Int("year", cw.Year).
			Bool("provisional", !cw.Missing).Bool("missing", cw.Missing).Msg(cw.String())
	}
	return warnings
}

// Start checks at once, before it returns, then every Every until
// Shutdown.
func (w *CalendarWatcher) Start(ctx context.Context) error {
	w.Check()
	return w.loop.Start(ctx)
}

// Shutdown stops the loop.
func (w *CalendarWatcher) Shutdown(ctx context.Context) error { return w.loop.Shutdown(ctx) }
