package escalation

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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
