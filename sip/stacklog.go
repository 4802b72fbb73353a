package sip

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/internal/phone"
)

// Limits of the SIP library's log lines: a flood of malformed messages
// must not flood the log (each line may quote the message).
const (
	stackLogRate   = 10  // lines per second
	stackLogBurst  = 50  // lines at once
	stackLogMaxVal = 512 // bytes of one attribute value (raw messages are cut)
)

// stackLog is the log/slog handler sipgo logs through: every line goes to
// our zerolog logger with phone numbers masked (phone.MaskText on the
// message and every attribute), long values cut, and at most stackLogRate
// lines a second (burst stackLogBurst); the lines dropped are counted and
// the next line that passes says how many. Library errors are mostly
// caused by peers (malformed messages, dropped connections), so they are
// logged at warn, never error. Debug lines pass only when our logger is at
// debug.
type stackLog struct {
	log    zerolog.Logger
	attrs  []slog.Attr
	group  string
	shared *stackLogState
}

type stackLogState struct {
	min        slog.Level
	suppressed prometheus.Counter

	mu      sync.Mutex
	tokens  float64
	last    time.Time
	dropped int
}

var _ slog.Handler = (*stackLog)(nil)

func newStackLog(log zerolog.Logger, suppressed prometheus.Counter) *stackLog {
	min := slog.LevelWarn
	if log.GetLevel() <= zerolog.DebugLevel {
		min = slog.LevelDebug
	}
	return &stackLog{log: log.With().Str("lib", "sipgo").Logger(),
		shared: &stackLogState{min: min, suppressed: suppressed, tokens: stackLogBurst}}
}

func (h *stackLog) Enabled(_ context.Context, l slog.Level) bool { return l >= h.shared.min }

// take spends a token; it returns false when the line must be dropped,
// and otherwise how many were dropped since the last line that passed.
func (s *stackLogState) take(now time.Time) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.last.IsZero() {
		s.tokens = min(stackLogBurst, s.tokens+now.Sub(s.last).Seconds()*stackLogRate)
	}
	s.last = now
	if s.tokens < 1 {
		s.dropped++
		if s.suppressed != nil {
			s.suppressed.Inc()
		}
		return 0, false
	}
	s.tokens--
	n := s.dropped
	s.dropped = 0
	return n, true
}

func (h *stackLog) Handle(_ context.Context, r slog.Record) error {
	dropped, ok := h.shared.take(time.Now())
	if !ok {
		return nil
	}
	var ev *zerolog.Event
	switch {
	case r.Level >= slog.LevelWarn:
		ev = h.log.Warn()
	case r.Level >= slog.LevelInfo:
		ev = h.log.Info()
	default:
		ev = h.log.Debug()
	}
	if dropped > 0 {
		ev = ev.Int("suppressed_before", dropped)
	}
	add := func(a slog.Attr) bool {
		key := a.Key
		if h.group != "" {
			key = h.group + "." + key
		}
		v := a.Value.Resolve().String()
		if len(v) > stackLogMaxVal {
			v = v[:stackLogMaxVal] + "…"
		}
		ev = ev.Str(key, phone.MaskText(v))
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	ev.Msg(phone.MaskText(r.Message))
	return nil
}

func (h *stackLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &c
}

func (h *stackLog) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}
