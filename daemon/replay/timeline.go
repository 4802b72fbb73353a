package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// step is one line of a timeline: at most one action, at a time no earlier
// than the line before.
type step struct {
	Line int
	// At is when the action happens; for an until line, how far the clock
	// runs.
	At    time.Time
	Until bool
	// Label names the order a contact creates or urges.
	Label string

	Contact  *contactStep
	Status   *statusStep
	Problem  *problemStep
	Province *provinceStep
	Note     *noteStep
	Class    *classStep
	Followup *followupStep
	Incident *incidentStep
	Ack      *ackStep
}

// contactStep is a contact: a call (hotline and ivr_path, as the SIP edge
// takes X-IVR-Path, X-Service-Number and X-Province) or an order from
// another channel (the fields of POST /v1/workorders).
type contactStep struct {
	Hotline       string `json:"hotline"`
	IVRPath       string `json:"ivr_path"`
	CallID        string `json:"call_id"`
	Caller        string `json:"caller"`
	ServiceNumber string `json:"service_number"`
	Province      string `json:"province"`
	Description   string `json:"description"`

	Channel            string      `json:"channel"`
	Tier               string      `json:"tier"`
	Category           string      `json:"category"`
	Subcategory        string      `json:"subcategory"`
	ProblemCode        string      `json:"problem_code"`
	EscalationTendency bool        `json:"escalation_tendency"`
	PublicOpinionRisk  bool        `json:"public_opinion_risk"`
	ReceivedAt         string      `json:"received_at"`
	Appeal             *appealStep `json:"appeal"`
}

// appealStep is the appeal centre's transfer of a regulator_transfer
// contact (RFC 3339 times).
type appealStep struct {
	Authority  string `json:"authority"`
	CaseNumber string `json:"case_number"`
	ReceivedAt string `json:"received_at"`
	Deadline   string `json:"deadline"`
}

type statusStep struct {
	Order string `json:"order"`
	To    string `json:"to"`
	Note  string `json:"note"`
	By    string `json:"by"`
}

type problemStep struct {
	Order string `json:"order"`
	Code  string `json:"code"`
	By    string `json:"by"`
}

type provinceStep struct {
	Order    string `json:"order"`
	Province string `json:"province"`
	By       string `json:"by"`
}

type noteStep struct {
	Order string `json:"order"`
	Kind  string `json:"kind"`
	Text  string `json:"text"`
	By    string `json:"by"`
}

type classStep struct {
	Order  string `json:"order"`
	Class  string `json:"class"`
	Reason string `json:"reason"`
	By     string `json:"by"`
}

type followupStep struct {
	Order  string `json:"order"`
	Result string `json:"result"`
	Reason string `json:"reason"`
	By     string `json:"by"`
}

type incidentStep struct {
	// Member is the label of an order in the incident; Incident its id
	// when the member is in more than one.
	Member   string `json:"member"`
	Incident string `json:"incident"`
	Action   string `json:"action"` // confirm or reject
	Note     string `json:"note"`
	By       string `json:"by"`
}

type ackStep struct {
	Order string `json:"order"`
	Stage string `json:"stage"`
	Note  string `json:"note"`
	By    string `json:"by"`
}

// rawStep is a line as written.
type rawStep struct {
	At       string        `json:"at"`
	Until    string        `json:"until"`
	Label    string        `json:"label"`
	Contact  *contactStep  `json:"contact"`
	Status   *statusStep   `json:"status"`
	Problem  *problemStep  `json:"problem"`
	Province *provinceStep `json:"province"`
	Note     *noteStep     `json:"note"`
	Class    *classStep    `json:"class"`
	Followup *followupStep `json:"followup"`
	Incident *incidentStep `json:"incident"`
	Ack      *ackStep      `json:"ack"`
}

// LineError is an error of one line of the timeline.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// maxLine caps one line of a timeline.
const maxLine = 1 << 20

// reader reads a timeline one step at a time, checking each line's shape
// and that time never goes back. The lines are read by a goroutine of
// its own, so that a replay waiting for its input (a terminal, a pipe
// from tail -f) still stops when its context ends.
type reader struct {
	lines <-chan scanned
	done  chan struct{}
	line  int
	last  time.Time
	seen  int // the line of last
}

// scanned is one line read (a copy), or the error that ended the input
// (io.EOF at its end).
type scanned struct {
	b   []byte
	err error
}

// newReader starts reading r; close stops the reading once the read under
// way returns.
func newReader(r io.Reader) *reader {
	lines, done := make(chan scanned, 64), make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), maxLine)
		for sc.Scan() {
			select {
			case lines <- scanned{b: bytes.Clone(sc.Bytes())}:
			case <-done:
				return
			}
		}
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		select {
		case lines <- scanned{err: err}:
		case <-done:
		}
	}()
	return &reader{lines: lines, done: done}
}

// close stops the reading goroutine (once its read under way returns).
func (r *reader) close() { close(r.done) }

// next returns the next step; io.EOF at the end, ctx's error when it ends
// first. Blank lines and lines starting with # are skipped.
func (r *reader) next(ctx context.Context) (step, error) {
	for {
		var in scanned
		select {
		case <-ctx.Done():
			return step{}, ctx.Err()
		case l, ok := <-r.lines:
			if !ok {
				return step{}, io.EOF
			}
			in = l
		}
		switch {
		case errors.Is(in.err, io.EOF):
			return step{}, io.EOF
		case in.err != nil:
			return step{}, &LineError{Line: r.line + 1, Err: fmt.Errorf("read timeline: %w", in.err)}
		}
		r.line++
		b := in.b
		if r.line == 1 { // a file saved by an editor that marks UTF-8
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		s, err := parseStep(b)
		if err != nil {
			return step{}, &LineError{Line: r.line, Err: err}
		}
		s.Line = r.line
		if s.At.Before(r.last) {
			return step{}, &LineError{Line: r.line, Err: fmt.Errorf("%s is before line %d's %s: lines must be in time order",
				s.At.Format(time.RFC3339), r.seen, r.last.Format(time.RFC3339))}
		}
		r.last, r.seen = s.At, r.line
		return s, nil
	}
}

// parseStep decodes one line: strict JSON (unknown keys are errors), one
// action, a time with its offset.
func parseStep(b []byte) (step, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var raw rawStep
	if err := dec.Decode(&raw); err != nil {
		return step{}, fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return step{}, errors.New("decode: more than one JSON value on the line")
	}
	s := step{Label: raw.Label, Contact: raw.Contact, Status: raw.Status, Problem: raw.Problem, Province: raw.Province,
		Note: raw.Note, Class: raw.Class, Followup: raw.Followup, Incident: raw.Incident, Ack: raw.Ack}
	n := 0
	for _, set := range []bool{raw.Until != "", s.Contact != nil, s.Status != nil, s.Problem != nil, s.Province != nil,
		s.Note != nil, s.Class != nil, s.Followup != nil, s.Incident != nil, s.Ack != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return step{}, errors.New("want exactly one of until, contact, status, problem, province, note, class, followup, incident, ack")
	}
	if raw.Label != "" && s.Contact == nil {
		return step{}, errors.New("label: only a contact takes a label")
	}
	var err error
	switch {
	case raw.Until != "":
		if raw.At != "" {
			return step{}, errors.New("until: takes no at")
		}
		s.Until = true
		if s.At, err = time.Parse(time.RFC3339, raw.Until); err != nil {
			return step{}, fmt.Errorf("until: want RFC 3339 with an offset, like 2026-11-02T10:00:00+08:00: %w", err)
		}
	default:
		if raw.At == "" {
			return step{}, errors.New("at: required")
		}
		if s.At, err = time.Parse(time.RFC3339, raw.At); err != nil {
			return step{}, fmt.Errorf("at: want RFC 3339 with an offset, like 2026-11-02T10:00:00+08:00: %w", err)
		}
	}
	return s, nil
}
