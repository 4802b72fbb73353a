package ivr

import (
	"testing"
	"time"
)

// FuzzSession drives a live session with random events: each byte of keys is
// an event at a time gaps[i] quarter-seconds after the one before. 'p' is
// PromptDone, 't' a Tick, 'd' a Tick at the Deadline; any other byte is a key
// press. The machine must not panic, must keep its invariants, and must end
// by the first Tick at or after MaxDuration.
func FuzzSession(f *testing.F) {
	f.Add("p1", []byte{8, 4})
	f.Add("p31p18912345678#", []byte{8, 4, 4, 8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	f.Add("dddd", []byte{0, 0, 0, 0})
	f.Add("9p9p9p9", []byte{4, 4, 4, 4, 4, 4, 4})
	f.Add("3***0", []byte{4, 4, 4, 4, 4})
	f.Add("41p1891d", []byte{4, 4, 20, 4, 4, 4, 4, 0})
	f.Add("42ptptptpt", []byte{4, 4, 20, 20, 20, 20, 20, 20, 20, 20})
	f.Add("4p1p123456789012345678901#A", []byte{255, 255, 0})

	menu := defaultMenu(f)
	f.Fuzz(func(t *testing.T, keys string, gaps []byte) {
		const caller = "18912345678"
		s, err := NewSessionWithOptions(menu, caller, Options{}, t0)
		if err != nil {
			t.Fatal(err)
		}
		limit := t0.Add(DefaultMaxDuration)
		now := t0
		check := func(what string) {
			t.Helper()
			d, ok := s.Deadline()
			if s.Done() {
				if s.Leaf() == nil || ok || s.Prompt() != "" || s.EndReason() == NotEnded {
					t.Fatalf("%s: done with leaf %v, deadline %v, prompt %q, reason %v", what, s.Leaf(), ok, s.Prompt(), s.EndReason())
				}
				if s.EndReason() == ReasonChoice && s.Leaf().CollectServiceNumber && !ValidServiceNumber(s.ServiceNumber()) {
					t.Fatalf("%s: done with service number %q", what, s.ServiceNumber())
				}
				if s.Fallback() && s.ServiceNumber() != "" {
					t.Fatalf("%s: fallback with service number %q", what, s.ServiceNumber())
				}
				return
			}
			if !ok || d.After(limit) {
				t.Fatalf("%s: running with deadline %v (%v), limit %v", what, d.Sub(t0), ok, DefaultMaxDuration)
			}
		}
		tick := func(what string) {
			t.Helper()
			r := s.Tick(now)
			if !now.Before(limit) && (r != Done || !s.Done()) {
				t.Fatalf("%s: Tick at %v = %v, past MaxDuration", what, now.Sub(t0), r)
			}
		}
		for i := 0; i < len(keys); i++ {
			if i < len(gaps) {
				now = now.Add(time.Duration(gaps[i]) * 250 * time.Millisecond)
			}
			switch keys[i] {
			case 'p':
				s.PromptDone(now)
			case 't':
				tick("tick")
			case 'd':
				if d, ok := s.Deadline(); ok && d.After(now) {
					now = d
				}
				tick("tick at deadline")
			default:
				if r := s.PressAt(keys[i], now); (r == Done) != s.Done() {
					t.Fatalf("PressAt(%q) = %v, done %v", keys[i], r, s.Done())
				}
			}
			check("event " + string(keys[i]))
		}
		// A silent caller: prompts play to their end at once, each timer fires.
		for n := 0; !s.Done(); n++ {
			if n > 100 {
				t.Fatalf("not done after %d deadlines", n)
			}
			for s.Prompt() != "" {
				s.PromptDone(now)
			}
			d, ok := s.Deadline()
			if !ok {
				t.Fatalf("running without a deadline")
			}
			if d.After(now) {
				now = d
			}
			tick("silence")
			check("silence")
		}
	})
}
