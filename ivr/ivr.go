// Package ivr is the hotline menu machine: digits in, a leaf and a service
// number out. It does no I/O and keeps no clock; the SIP layer feeds it
// digits from RTP, SIP INFO or an upstream IVR's X-IVR-Path header.
package ivr

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/hotlined/hotlined/configs"
)

// Result says what one key press did.
type Result int

const (
	// Continue: the key was taken; more keys are needed.
	Continue Result = iota
	// Repeat: the caller asked to hear the current menu again (*).
	Repeat
	// InvalidKey: no option for that key at this menu; the menu is replayed.
	InvalidKey
	// InvalidNumber: the service number entered is not a valid number; it is asked again.
	InvalidNumber
	// Done: a leaf is reached and, where the leaf needs one, the service number is known.
	Done
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
	}
	return fmt.Sprintf("Result(%d)", int(r))
}

// maxNumberDigits bounds the digits collected for a service number.
const maxNumberDigits = 20

// Session is one caller's walk through a menu.
type Session struct {
	node          *configs.Node
	caller        string
	path          []byte
	collecting    bool
	number        []byte
	serviceNumber string
	done          bool
}

// NewSession starts at the root of menu; caller is the calling number, used
// when the caller answers the service-number question with # alone.
func NewSession(menu *configs.Node, caller string) *Session {
	return &Session{node: menu, caller: caller}
}

// Press feeds one DTMF key: 0-9, * or #.
func (s *Session) Press(key byte) Result {
	if s.done {
		return Done
	}
	if s.collecting {
		return s.collect(key)
	}
	if key == '*' {
		return Repeat
	}
	next, ok := s.node.Options[string(key)]
	if !ok {
		return InvalidKey
	}
	s.path = append(s.path, key)
	s.node = next
	if next.Category == "" {
		return Continue
	}
	if next.CollectServiceNumber {
		s.collecting = true
		return Continue
	}
	s.done = true
	return Done
}

func (s *Session) collect(key byte) Result {
	switch {
	case key == '#':
		n := string(s.number)
		if n == "" {
			n = s.caller
		}
		s.number = s.number[:0]
		if !ValidServiceNumber(n) {
			return InvalidNumber
		}
		s.serviceNumber, s.collecting, s.done = n, false, true
		return Done
	case key >= '0' && key <= '9':
		if len(s.number) >= maxNumberDigits {
			s.number = s.number[:0]
			return InvalidNumber
		}
		s.number = append(s.number, key)
		return Continue
	case key == '*':
		s.number = s.number[:0]
		return Repeat
	}
	return InvalidKey
}

// ErrBadPath is returned by FeedPath for a path the menu does not have.
var ErrBadPath = errors.New("path does not match the menu")

// FeedPath feeds the digits an upstream IVR collected (X-IVR-Path). Unlike
// a caller pressing keys, a wrong key here is an error: the upstream IVR and
// this menu disagree.
func (s *Session) FeedPath(path string) (Result, error) {
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
	s.serviceNumber, s.collecting, s.done, s.number = n, false, true, s.number[:0]
	return Done
}

// Collecting reports whether the session waits for the service number.
func (s *Session) Collecting() bool { return s.collecting }

// Done reports whether the session reached its end.
func (s *Session) Done() bool { return s.done }

// Path is the menu keys pressed so far.
func (s *Session) Path() string { return string(s.path) }

// Leaf is the reached leaf, or nil before one is reached.
func (s *Session) Leaf() *configs.Leaf {
	if s.node.Category == "" {
		return nil
	}
	return &s.node.Leaf
}

// ServiceNumber is the number the caller entered or confirmed, "" if the leaf
// does not ask for one.
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
