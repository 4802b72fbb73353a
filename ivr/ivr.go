// Package ivr is the hotline menu machine: digits in, a leaf and a service
// number out. It does no I/O and keeps no clock: the SIP layer feeds it
// digits from RTP, SIP INFO or an upstream IVR's X-IVR-Path header, tells it
// when a prompt finished playing, and passes the time in with every event.
//
// A live call drives a Session like this:
//
//	s, err := ivr.NewSessionWithOptions(menu, caller, opts, now)
//	play(s.Prompt())
//	// prompt ended:     s.PromptDone(now); then play(s.Prompt()) if not ""
//	// key (barge-in):   stop playback; r := s.PressAt(key, now); play(s.Prompt()) if not ""
//	// timer fired:      r := s.Tick(now); play(s.Prompt()) if not ""
//	// after each event: re-arm the timer for s.Deadline(); when s.Done(), transfer to s.Leaf()
package ivr

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/hotlined/hotlined/configs"
)

// Result says what one event (a key press or a timer tick) did.
type Result int

const (
	// Continue: the key was taken; more keys are needed. From Tick: the
	// deadline has not passed, nothing changed.
	Continue Result = iota
	// Repeat: the caller asked to hear the current menu again (*). It does
	// not count as a retry.
	Repeat
	// InvalidKey: no option for that key at this menu; the menu is replayed.
	InvalidKey
	// InvalidNumber: the service number entered is not a valid number; it is asked again.
	InvalidNumber
	// Done: a leaf is reached and, where the leaf needs one, the service
	// number is known; or the caller failed the menu and the session ended on
	// the fallback leaf (see Session.Fallback).
	Done
	// Timeout: the caller pressed nothing in time; the current prompt (the
	// menu, or the service-number question) is replayed.
	Timeout
)

func (r Result) String() string {
	switch r {
	case Continue:
		return "continue"
	case Repeat:
		return "repeat"
	case InvalidKey:
		return "invalid_key"
	case InvalidNumber:
		return "invalid_number"
	case Done:
		return "done"
	case Timeout:
		return "timeout"
	}
	return fmt.Sprintf("Result(%d)", int(r))
}

// Reason says how a session ended.
type Reason int

const (
	// NotEnded: the session is still running.
	NotEnded Reason = iota
	// ReasonChoice: the caller or an upstream IVR reached a leaf of the menu.
	ReasonChoice
	// ReasonAgentKey: the caller pressed the agent key at a level with no
	// option for it and went to the fallback leaf. This is a choice, not a
	// failure: Fallback reports false.
	ReasonAgentKey
	// ReasonNoInput: no key in time, more than MaxRetries times at one step.
	ReasonNoInput
	// ReasonInvalidKey: the last of more than MaxRetries failures at one
	// step was a key the menu does not have.
	ReasonInvalidKey
	// ReasonInvalidNumber: the last of more than MaxRetries failures at the
	// service-number step was an invalid number.
	ReasonInvalidNumber
	// ReasonMaxDuration: the caller spent MaxDuration in the IVR.
	ReasonMaxDuration
)

func (r Reason) String() string {
	switch r {
	case NotEnded:
		return "not_ended"
	case ReasonChoice:
		return "choice"
	case ReasonAgentKey:
		return "agent_key"
	case ReasonNoInput:
		return "no_input"
	case ReasonInvalidKey:
		return "invalid_key"
	case ReasonInvalidNumber:
		return "invalid_number"
	case ReasonMaxDuration:
		return "max_duration"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Prompt names the machine itself asks for, besides the menu nodes' own
// prompt names from the config. The SIP layer maps each to a WAV file.
const (
	// PromptServiceNumber asks for the service number and #, or # alone for
	// the calling number.
	PromptServiceNumber = "service_number"
	// PromptInvalidNumber says the number is not valid and asks for it again;
	// no other prompt follows it.
	PromptInvalidNumber = "invalid_number"
	// PromptInvalidKey says the key is not valid; the menu prompt follows it.
	PromptInvalidKey = "invalid_key"
)

// Defaults for the zero fields of Options.
const (
	DefaultFirstDigitTimeout = 5 * time.Second
	DefaultInterDigitTimeout = 3 * time.Second
	DefaultMaxRetries        = 3
	DefaultMaxDuration       = 3 * time.Minute
	DefaultAgentKey          = '0'
)

// Options tune a live session. The zero value of each field means its default.
type Options struct {
	// FirstDigitTimeout is the time allowed for the first key after the
	// last prompt of a step (a menu, or the service-number question)
	// finished playing. Default 5s.
	FirstDigitTimeout time.Duration
	// InterDigitTimeout is the time allowed between keys while the caller
	// enters the service number. When it passes with digits entered, the
	// entry ends as if # had been pressed. Default 3s.
	InterDigitTimeout time.Duration
	// MaxRetries is how many failures one step forgives: an invalid key, no
	// input in time, or an invalid service number replays the step's prompt
	// up to MaxRetries times; the next failure ends the session on Fallback.
	// The count starts again at each new menu level and at the
	// service-number question; * (repeat) does not count. Default 3.
	MaxRetries int
	// MaxDuration bounds the time in the IVR, counted from the session's
	// start; when it has passed, the next Tick or key ends the session on
	// Fallback. Default 3m.
	MaxDuration time.Duration
	// Fallback is where a caller who fails the menu, or presses the agent
	// key, goes: a leaf that asks no service number. Default: the menu's
	// own top-level consultation/agent leaf if it has one (the default menu's
	// 0, so the transfer URI from the config applies), else a consultation/agent
	// leaf with no transfer URI (the SIP layer's default agent route).
	Fallback *configs.Leaf
	// AgentKey is the key that goes to an agent from any menu level: where
	// the current level has an option for that key, the option wins (the
	// default menu's top-level 0 is its own consultation/agent leaf);
	// elsewhere the key ends the session on Fallback. It has no effect while
	// the caller enters the service number, where it is a digit. A digit
	// 0-9; default '0'.
	AgentKey byte
	// NoAgentKey turns the agent key off: the key is then an invalid key
	// wherever the level has no option for it.
	NoAgentKey bool
}

// ErrBadOptions marks Options that NewSessionWithOptions refuses.
var ErrBadOptions = errors.New("bad ivr options")

// ErrNoMenu is returned by NewSessionWithOptions for a nil menu.
var ErrNoMenu = errors.New("no menu")

// Validate reports the first field that is wrong, wrapping ErrBadOptions.
func (o Options) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadOptions, field, fmt.Sprintf(format, args...))
	}
	switch {
	case o.FirstDigitTimeout < 0:
		return bad("first_digit_timeout", "must not be negative; got %v", o.FirstDigitTimeout)
	case o.InterDigitTimeout < 0:
		return bad("inter_digit_timeout", "must not be negative; got %v", o.InterDigitTimeout)
	case o.MaxDuration < 0:
		return bad("max_duration", "must not be negative; got %v", o.MaxDuration)
	case o.MaxRetries < 0:
		return bad("max_retries", "must not be negative; got %d", o.MaxRetries)
	case o.AgentKey != 0 && (o.AgentKey < '0' || o.AgentKey > '9'):
		return bad("agent_key", "must be a digit 0-9; got %q", o.AgentKey)
	}
	if f := o.Fallback; f != nil {
		switch {
		case !slices.Contains(configs.Categories, f.Category):
			return bad("fallback.category", "must be one of %v; got %q", configs.Categories, f.Category)
		case f.CollectServiceNumber:
			return bad("fallback.collect_service_number", "the fallback leaf cannot ask for a service number")
		}
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.FirstDigitTimeout == 0 {
		o.FirstDigitTimeout = DefaultFirstDigitTimeout
	}
	if o.InterDigitTimeout == 0 {
		o.InterDigitTimeout = DefaultInterDigitTimeout
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = DefaultMaxRetries
	}
	if o.MaxDuration == 0 {
		o.MaxDuration = DefaultMaxDuration
	}
	if o.AgentKey == 0 {
		o.AgentKey = DefaultAgentKey
	}
	return o
}

// fallbackLeaf is Options.Fallback's default for menu.
func fallbackLeaf(menu *configs.Node) configs.Leaf {
	if menu != nil {
		for _, k := range []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"} {
			if n := menu.Options[k]; n != nil && n.Category == "consultation" && n.Subcategory == "agent" && !n.CollectServiceNumber {
				return n.Leaf
			}
		}
	}
	return configs.Leaf{Category: "consultation", Subcategory: "agent"}
}

// maxNumberDigits bounds the digits collected for a service number.
const maxNumberDigits = 20

// Session is one caller's walk through a menu. It is not safe for
// concurrent use.
type Session struct {
	opts     Options // with defaults applied
	fallback configs.Leaf

	node          *configs.Node
	caller        string
	path          []byte
	collecting    bool
	number        []byte
	serviceNumber string
	done          bool
	reason        Reason

	failures int      // failures at the current step
	prompts  []string // prompts to play, in order; Prompt is the first
	strict   bool     // FeedPath: no agent key, no retry counting

	start    time.Time // zero until the session has seen a time
	now      time.Time // the latest time seen
	waiting  bool      // a key is awaited within waitFor of waitFrom
	waitFrom time.Time // zero while the clock has not started
	waitFor  time.Duration
}

// NewSession starts at the root of menu (which must not be nil) with the
// default Options; caller is the calling number, used when the caller
// answers the service-number question with # alone. Its clock has not
// started: MaxDuration counts from the first non-zero time passed to
// PromptDone, PressAt or Tick, and a session fed only by Press, FeedPath and
// SetServiceNumber, as for header input, never needs a timer.
func NewSession(menu *configs.Node, caller string) *Session {
	return newSession(menu, caller, Options{}, time.Time{})
}

// NewSessionWithOptions starts at the root of menu at time now, the start of
// MaxDuration (a zero now behaves as NewSession's unstarted clock). The menu
// prompt is due first: play Prompt and call PromptDone when it ends.
func NewSessionWithOptions(menu *configs.Node, caller string, opts Options, now time.Time) (*Session, error) {
	if menu == nil {
		return nil, ErrNoMenu
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return newSession(menu, caller, opts, now), nil
}

func newSession(menu *configs.Node, caller string, opts Options, now time.Time) *Session {
	s := &Session{opts: opts.withDefaults(), node: menu, caller: caller, start: now, now: now}
	if opts.Fallback != nil {
		s.fallback = *opts.Fallback
	} else {
		s.fallback = fallbackLeaf(menu)
	}
	if menu != nil {
		s.play(now, menu.Prompt)
	}
	return s
}

// Press feeds one DTMF key: 0-9, * or #. It is PressAt at the latest time
// the session has seen; a live call uses PressAt.
func (s *Session) Press(key byte) Result { return s.PressAt(key, s.now) }

// PressAt feeds one DTMF key pressed at now. A key interrupts the prompt
// playing (barge-in): after it, play Prompt if it is not "". Once
// MaxDuration has passed, any key ends the session on the fallback.
func (s *Session) PressAt(key byte, now time.Time) Result {
	now = s.observe(now)
	if s.done {
		return Done
	}
	if s.expired(now) {
		return s.end(ReasonMaxDuration)
	}
	if s.collecting {
		return s.collect(key, now)
	}
	if key == '*' {
		s.play(now, s.node.Prompt)
		return Repeat
	}
	next, ok := s.node.Options[string(key)]
	if !ok {
		if !s.strict && !s.opts.NoAgentKey && key == s.opts.AgentKey {
			s.path = append(s.path, key)
			return s.end(ReasonAgentKey)
		}
		return s.fail(ReasonInvalidKey, InvalidKey, now, PromptInvalidKey, s.node.Prompt)
	}
	s.path = append(s.path, key)
	s.node = next
	s.failures = 0
	if next.Category == "" {
		s.play(now, next.Prompt)
		return Continue
	}
	if next.CollectServiceNumber {
		s.collecting = true
		s.play(now, PromptServiceNumber)
		return Continue
	}
	s.done, s.reason = true, ReasonChoice
	s.stopTimers()
	return Done
}

func (s *Session) collect(key byte, now time.Time) Result {
	switch {
	case key == '#':
		return s.submit(now)
	case key >= '0' && key <= '9':
		if len(s.number) >= maxNumberDigits {
			s.number = s.number[:0]
			return s.fail(ReasonInvalidNumber, InvalidNumber, now, PromptInvalidNumber)
		}
		s.number = append(s.number, key)
		s.prompts = nil
		s.wait(now, s.opts.InterDigitTimeout)
		return Continue
	case key == '*':
		s.number = s.number[:0]
		s.play(now, PromptServiceNumber)
		return Repeat
	}
	// A key no keypad digit maps to (A-D): ignored, nothing changes.
	return InvalidKey
}

// submit ends the service-number entry: the digits entered, or the caller's
// number when there are none.
func (s *Session) submit(now time.Time) Result {
	n := string(s.number)
	if n == "" {
		n = s.caller
	}
	s.number = s.number[:0]
	if !ValidServiceNumber(n) {
		return s.fail(ReasonInvalidNumber, InvalidNumber, now, PromptInvalidNumber)
	}
	s.serviceNumber, s.collecting, s.done, s.reason = n, false, true, ReasonChoice
	s.stopTimers()
	return Done
}

// fail counts a failure at the current step: up to MaxRetries of them
// return r and queue prompts; the next one ends the session on the fallback.
func (s *Session) fail(why Reason, r Result, now time.Time, prompts ...string) Result {
	if s.strict {
		return r
	}
	s.failures++
	if s.failures > s.opts.MaxRetries {
		return s.end(why)
	}
	s.play(now, prompts...)
	return r
}

// end ends the session on the fallback leaf.
func (s *Session) end(why Reason) Result {
	s.done, s.reason, s.collecting = true, why, false
	s.number = s.number[:0]
	s.stopTimers()
	return Done
}

// play queues the prompts to play before the caller's next key; with none
// (a menu node without a prompt name), the first-digit timer starts at now.
func (s *Session) play(now time.Time, prompts ...string) {
	s.prompts = s.prompts[:0]
	for _, p := range prompts {
		if p != "" {
			s.prompts = append(s.prompts, p)
		}
	}
	s.waiting = false
	if len(s.prompts) == 0 {
		s.wait(now, s.opts.FirstDigitTimeout)
	}
}

// wait starts the timer for the caller's next key.
func (s *Session) wait(now time.Time, d time.Duration) {
	s.waiting, s.waitFrom, s.waitFor = true, now, d
}

func (s *Session) stopTimers() {
	s.prompts, s.waiting = nil, false
}

// observe takes now as the latest time, never going back, and starts the
// clock if it has not started: MaxDuration and a timer armed before it
// started count from now.
func (s *Session) observe(now time.Time) time.Time {
	if now.Before(s.now) {
		now = s.now
	}
	s.now = now
	if s.start.IsZero() {
		s.start = now
		if s.waiting {
			s.waitFrom = now
		}
	}
	return now
}

// keyDue reports when the caller's next key is due, if a key is awaited and
// the clock has started.
func (s *Session) keyDue() (time.Time, bool) {
	if !s.waiting || s.waitFrom.IsZero() {
		return time.Time{}, false
	}
	return s.waitFrom.Add(s.waitFor), true
}

func (s *Session) expired(now time.Time) bool {
	return !s.start.IsZero() && !now.Before(s.start.Add(s.opts.MaxDuration))
}

// Prompt names the prompt to play now: a menu node's prompt from the config,
// or one of the Prompt constants. It is "" while the session waits for keys
// and once it is done.
func (s *Session) Prompt() string {
	if s.done || len(s.prompts) == 0 {
		return ""
	}
	return s.prompts[0]
}

// PromptDone says the prompt Prompt named has played to its end at now. Call
// it only then: not when a key interrupted the prompt (the key already moved
// the session on), nor when Prompt is "". If another prompt follows, Prompt
// names it; after the last one the first-digit timer starts at now.
func (s *Session) PromptDone(now time.Time) {
	now = s.observe(now)
	if s.done || len(s.prompts) == 0 {
		return
	}
	s.prompts = s.prompts[1:]
	if len(s.prompts) == 0 {
		s.wait(now, s.opts.FirstDigitTimeout)
	}
}

// Deadline is when the caller must next act: the first- or inter-digit
// timeout, or the end of MaxDuration, whichever comes first. The SIP layer
// arms a timer for it and calls Tick when it fires. false: no deadline (the
// session is done, or its clock has not started: a NewSession fed only by
// Press, FeedPath and SetServiceNumber).
func (s *Session) Deadline() (time.Time, bool) {
	if s.done {
		return time.Time{}, false
	}
	d, ok := s.keyDue()
	if !s.start.IsZero() {
		if end := s.start.Add(s.opts.MaxDuration); !ok || end.Before(d) {
			d, ok = end, true
		}
	}
	return d, ok
}

// Tick is called at now, when the Deadline has passed:
//   - MaxDuration passed: the session ends on the fallback (Done).
//   - No key after the prompt (menu or service-number question): a failure;
//     Timeout, and Prompt replays the step's prompt, or after MaxRetries
//     failures the session ends on the fallback (Done).
//   - A pause after service-number digits: the entry ends as if # had been
//     pressed: Done with a valid number, else InvalidNumber (a failure).
//
// Before the deadline Tick changes nothing and returns Continue.
func (s *Session) Tick(now time.Time) Result {
	now = s.observe(now)
	if s.done {
		return Done
	}
	if s.expired(now) {
		return s.end(ReasonMaxDuration)
	}
	if due, ok := s.keyDue(); !ok || now.Before(due) {
		return Continue
	}
	if s.collecting {
		if len(s.number) > 0 {
			return s.submit(now)
		}
		return s.fail(ReasonNoInput, Timeout, now, PromptServiceNumber)
	}
	return s.fail(ReasonNoInput, Timeout, now, s.node.Prompt)
}

// ErrBadPath is returned by FeedPath for a path the menu does not have.
var ErrBadPath = errors.New("path does not match the menu")

// FeedPath feeds the digits an upstream IVR collected (X-IVR-Path). Unlike
// a caller pressing keys, a wrong key here is an error: the upstream IVR and
// this menu disagree. The agent key is only a key here: a path must follow
// the menu's own options. FeedPath needs no time and counts no retries.
func (s *Session) FeedPath(path string) (Result, error) {
	s.strict = true
	defer func() { s.strict = false }()
	r := Continue
	for i := 0; i < len(path); i++ {
		r = s.Press(path[i])
		switch r {
		case InvalidKey, Repeat:
			return r, fmt.Errorf("%w: no option %q after %q", ErrBadPath, path[i], path[:i])
		case InvalidNumber:
			return r, fmt.Errorf("%w: invalid service number in %q", ErrBadPath, path)
		}
	}
	return r, nil
}

// SetServiceNumber answers the service-number question without keys, as an
// upstream IVR's X-Service-Number does; an empty number means the caller's.
// An invalid number returns InvalidNumber and changes nothing.
func (s *Session) SetServiceNumber(n string) Result {
	if !s.collecting {
		return InvalidKey
	}
	if n == "" {
		n = s.caller
	}
	if !ValidServiceNumber(n) {
		return InvalidNumber
	}
	s.serviceNumber, s.collecting, s.done, s.reason, s.number = n, false, true, ReasonChoice, s.number[:0]
	s.stopTimers()
	return Done
}

// Collecting reports whether the session waits for the service number.
func (s *Session) Collecting() bool { return s.collecting }

// Done reports whether the session reached its end.
func (s *Session) Done() bool { return s.done }

// EndReason says how the session ended; NotEnded before Done.
func (s *Session) EndReason() Reason { return s.reason }

// Fallback reports whether the session ended on the fallback leaf because
// the caller failed the menu: retries used up or MaxDuration passed. The
// agent key also leads to the fallback leaf, but is the caller's choice:
// Fallback is false then and EndReason is ReasonAgentKey.
func (s *Session) Fallback() bool {
	switch s.reason {
	case ReasonNoInput, ReasonInvalidKey, ReasonInvalidNumber, ReasonMaxDuration:
		return true
	}
	return false
}

// Path is the menu keys taken so far, the agent key included.
func (s *Session) Path() string { return string(s.path) }

// Leaf is the reached leaf, or nil before one is reached. A session ended on
// the fallback (EndReason other than ReasonChoice) returns the fallback leaf.
func (s *Session) Leaf() *configs.Leaf {
	if s.done && s.reason != ReasonChoice {
		return &s.fallback
	}
	if s.node.Category == "" {
		return nil
	}
	return &s.node.Leaf
}

// ServiceNumber is the number the caller entered or confirmed, "" if the leaf
// does not ask for one or the session ended on the fallback.
func (s *Session) ServiceNumber() string { return s.serviceNumber }

var (
	mobileRe    = regexp.MustCompile(`^1[3-9][0-9]{9}$`)
	fixedLineRe = regexp.MustCompile(`^0[1-9][0-9]{8,10}$`)
)

// ValidServiceNumber accepts an 11-digit mobile number or a fixed line with
// its area code (0 + 2 or 3 digit area code + 7 or 8 digit number).
func ValidServiceNumber(n string) bool {
	return mobileRe.MatchString(n) || fixedLineRe.MatchString(n)
}
