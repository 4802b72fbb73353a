package escalation

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestCalendarWarnings(t *testing.T) {
	c2026 := shippedCalendar(t, "cn-2026.yaml")
	c2027 := shippedCalendar(t, "cn-2027.yaml")
	published, err := ParseCalendar([]byte("years:\n  2026: {}\n  2027: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, m := func(y int) CalendarWarning { return CalendarWarning{Year: y} }, func(y int) CalendarWarning { return CalendarWarning{Year: y, Missing: true} }
	for _, tc := range []struct {
		name string
		cal  *Calendar
		at   time.Time
		want []CalendarWarning
	}{
		{"shipped, today: next year provisional", c2027, cst(t, "2026-11-30 10:00"), []CalendarWarning{p(2027)}},
		{"shipped, in 2027: provisional, and 2028 missing", c2027, cst(t, "2027-01-01 00:00"), []CalendarWarning{p(2027), m(2028)}},
		{"the year is taken in the calendar's zone", c2027, time.Date(2026, 12, 31, 16, 0, 0, 0, time.UTC), []CalendarWarning{p(2027), m(2028)}},
		{"last second of 2026 in Shanghai", c2027, cst(t, "2026-12-31 23:59:59"), []CalendarWarning{p(2027)}},
		{"cn-2026 alone: 2027 missing", c2026, cst(t, "2026-03-09 10:00"), []CalendarWarning{m(2027)}},
		{"cn-2026 in 2025: 2025 missing", c2026, cst(t, "2025-12-01 10:00"), []CalendarWarning{m(2025)}},
		{"both years published", published, cst(t, "2026-11-30 10:00"), nil},
	} {
		if got := tc.cal.Warnings(tc.at); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Warnings(%s) = %+v, want %+v", tc.name, tc.at, got, tc.want)
		}
	}
	if !c2027.Provisional(2027) || c2027.Provisional(2026) || c2027.Provisional(2028) || !c2027.Listed(2026) || c2027.Listed(2028) {
		t.Error("Provisional/Listed of cn-2027.yaml")
	}
	if s := p(2027).String(); !strings.Contains(s, "2027 is provisional") || !strings.Contains(s, "may come out early") {
		t.Errorf("provisional warning %q", s)
	}
	if s := m(2028).String(); !strings.Contains(s, "2028 is not in the calendar file") {
		t.Errorf("missing warning %q", s)
	}
}

// syncBuffer is a log sink the watcher's goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// The watcher warns before Start returns (the start-up warning), then on
// every tick, and stops on Shutdown.
func TestCalendarWatcher(t *testing.T) {
	cal, err := OpenCalendar(calendarDir + "/cn-2027.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var buf syncBuffer
	now := cst(t, "2026-11-30 10:00")
	w := NewCalendarWatcher(CalendarWatchParams{Calendar: cal, Logger: zerolog.New(&buf),
		Every: time.Millisecond, Now: func() time.Time { return now }})
	w.Start(context.Background())
	first := buf.lines()
	if len(first) < 1 || first[0]["level"] != "warn" || first[0]["year"] != float64(2027) ||
		first[0]["provisional"] != true || first[0]["component"] != "calendar" ||
		!strings.HasSuffix(first[0]["calendar"].(string), "cn-2027.yaml") {
		t.Fatalf("start-up warning %v", first)
	}
	for deadline := time.Now().Add(10 * time.Second); len(buf.lines()) < 3 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if err := w.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := len(buf.lines())
	if n < 3 {
		t.Fatalf("%d warnings after ticks, want the start-up one and at least two more", n)
	}
	// A published file: nothing to say.
	published, _ := ParseCalendar([]byte("years:\n  2026: {}\n  2027: {}\n"))
	var quiet syncBuffer
	q := NewCalendarWatcher(CalendarWatchParams{Calendar: FixedCalendar(published), Logger: zerolog.New(&quiet),
		Now: func() time.Time { return now }})
	if got := q.Check(); len(got) != 0 || len(quiet.lines()) != 0 {
		t.Errorf("published calendar: %v %v", got, quiet.lines())
	}
	if err := q.Shutdown(context.Background()); err != nil {
		t.Errorf("shutdown before start: %v", err)
	}
}
