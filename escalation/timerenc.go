package escalation

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The timer's data in the shard's data hash (field: the timer id) is
// stored compactly, about 40 bytes for a complaint's stage timer against
// 355 bytes of JSON: with the sorted set entry and the hash entry, a live
// timer costs under 300 bytes of Redis instead of 614.
//
// Layout, version 1 (binary; the Lua scripts never read it, they only
// compare it byte for byte):
//
//	byte     0x01, the version (the older JSON form starts with '{')
//	byte     flags, see timerHas*
//	8 bytes  Due, unix ns, big endian
//	string   WorkOrderID, then string Stage, only with timerHasNames (else
//	         both come from the id: <order>/<stage>)
//	string   Key, Class, Tier, Province, Severity
//	varint   Priority, Step
//	with SLA (timerHasSLA):
//	  string Policy
//	  varint Run
//	  varint Start - Due (ns)
//	  varint Since - Start (ns), unless timerSinceIsStart or timerSinceZero
//	  varint PausedAt - Start (ns), only with timerHasPaused
//	  varint Ended - Start (ns), only with timerHasEnded
//	  varint Used (ns), only with timerHasUsed
//	  varint Overdue (ns), only with timerHasOverdue
//
// A timer whose stage carries its own limit (StageState.Limit: an appeal
// centre's deadline) is stored as JSON too.
//
// A string is one byte: below 0x80 the length of the bytes that follow,
// from 0x80 the word timerWords[b-0x80]. Varints are encoding/binary's
// zig-zag varints. A timer the layout cannot hold exactly (a string over
// 127 bytes, a time outside the years 1678 to 2261) is stored as JSON, and
// JSON timers written by earlier versions are read as ever.
const timerVersion1 = 0x01

// Flags of the compact timer layout.
const (
	timerHasNames     = 1 << iota // order id and stage stored, not taken from the id
	timerHasSLA                   // the stage's clock follows
	timerSinceIsStart             // SLA.Since equals SLA.Start
	timerSinceZero                // SLA.Since is zero (paused)
	timerHasPaused                // SLA.PausedAt follows
	timerHasEnded                 // SLA.Ended follows
	timerHasUsed                  // SLA.Used follows
	timerHasOverdue               // SLA.Overdue follows
)

// timerWords are the strings stored as one byte. Append only: stored timers
// refer to a word by its place in this list.
var timerWords = []string{
	"province", "group", "appeal", // tiers
	"query", "consultation", "fault_report", "complaint", // classes, and policies of the shipped config
	"repeat_complaint", "major_complaint", "group_complaint", "complaint_appeal",
	"warning", "breach", "major", // severities ("group" above)
}

var timerWordIndex = func() map[string]byte {
	m := make(map[string]byte, len(timerWords))
	for i, w := range timerWords {
		m[w] = byte(0x80 + i)
	}
	return m
}()

// encodeTimer is the timer's data as stored in the shard's data hash: the
// compact layout, or JSON for a timer it cannot hold exactly.
func encodeTimer(t Timer) (string, error) {
	if b, ok := appendTimer(make([]byte, 0, 64), t); ok {
		return string(b), nil
	}
	data, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("encode timer: %w", err)
	}
	return string(data), nil
}

// decodeTimer reads the data of timer id in shard, in either form.
func decodeTimer(id string, shard int, data string) (Timer, error) {
	if strings.HasPrefix(data, "{") {
		var t Timer
		if err := json.Unmarshal([]byte(data), &t); err != nil {
			return Timer{}, fmt.Errorf("decode timer: %w", err)
		}
		return t, nil
	}
	t, err := readTimer(id, shard, data)
	if err != nil {
		return Timer{}, fmt.Errorf("decode timer: %w", err)
	}
	return t, nil
}

// unixNanos is t in unix ns, false when an int64 cannot hold it.
func unixNanos(t time.Time) (int64, bool) {
	if y := t.Year(); y < 1678 || y > 2261 {
		return 0, false
	}
	return t.UnixNano(), true
}

func appendTimer(b []byte, t Timer) ([]byte, bool) {
	due, ok := unixNanos(t.Due)
	if !ok {
		return nil, false
	}
	var flags byte
	if TimerID(t.WorkOrderID, t.Stage) != t.ID || strings.Count(t.ID, "/") != 1 {
		flags |= timerHasNames
	}
	sla := t.SLA
	if sla != nil && sla.Limit != 0 || t.Run > 1 {
		// An appeal centre's deadline (StageState.Limit) and an alert's
		// later run have no place in the layout: such timers, few, are
		// stored as JSON.
		return nil, false
	}
	var start int64
	if sla != nil {
		flags |= timerHasSLA
		if start, ok = unixNanos(sla.Start); !ok {
			return nil, false
		}
		switch {
		case sla.Since.IsZero():
			flags |= timerSinceZero
		case sla.Since.Equal(sla.Start):
			flags |= timerSinceIsStart
		}
		if !sla.PausedAt.IsZero() {
			flags |= timerHasPaused
		}
		if !sla.Ended.IsZero() {
			flags |= timerHasEnded
		}
		if sla.Used != 0 {
			flags |= timerHasUsed
		}
		if sla.Overdue != 0 {
			flags |= timerHasOverdue
		}
	}
	b = append(b, timerVersion1, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(due))
	str := func(s string) {
		if !ok {
			return
		}
		if w, known := timerWordIndex[s]; known {
			b = append(b, w)
			return
		}
		if len(s) >= 0x80 {
			ok = false
			return
		}
		b = append(append(b, byte(len(s))), s...)
	}
	since := func(at time.Time) {
		n, in := unixNanos(at)
		ok = ok && in
		b = binary.AppendVarint(b, n-start)
	}
	if flags&timerHasNames != 0 {
		str(t.WorkOrderID)
		str(t.Stage)
	}
	str(t.Key)
	str(t.Class)
	str(t.Tier)
	str(t.Province)
	str(t.Severity)
	b = binary.AppendVarint(b, int64(t.Priority))
	b = binary.AppendVarint(b, int64(t.Step))
	if sla != nil {
		str(sla.Policy)
		b = binary.AppendVarint(b, int64(sla.Run))
		b = binary.AppendVarint(b, start-due)
		if flags&(timerSinceZero|timerSinceIsStart) == 0 {
			since(sla.Since)
		}
		if flags&timerHasPaused != 0 {
			since(sla.PausedAt)
		}
		if flags&timerHasEnded != 0 {
			since(sla.Ended)
		}
		if flags&timerHasUsed != 0 {
			b = binary.AppendVarint(b, int64(sla.Used))
		}
		if flags&timerHasOverdue != 0 {
			b = binary.AppendVarint(b, int64(sla.Overdue))
		}
	}
	return b, ok
}

var errTimerTruncated = errors.New("compact timer truncated")

// timerReader reads the compact layout; the first error sticks.
type timerReader struct {
	b   string
	err error
}

func (r *timerReader) byte1() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = errTimerTruncated
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *timerReader) str() string {
	c := r.byte1()
	if r.err != nil {
		return ""
	}
	if c >= 0x80 {
		if int(c-0x80) >= len(timerWords) {
			r.err = fmt.Errorf("unknown word %d", c-0x80)
			return ""
		}
		return timerWords[c-0x80]
	}
	if len(r.b) < int(c) {
		r.err = errTimerTruncated
		return ""
	}
	s := r.b[:c]
	r.b = r.b[c:]
	return s
}

func (r *timerReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	// binary.Varint needs bytes; a varint is at most 10 of them.
	n, k := binary.Varint([]byte(r.b[:min(len(r.b), binary.MaxVarintLen64)]))
	if k <= 0 {
		r.err = errTimerTruncated
		return 0
	}
	r.b = r.b[k:]
	return n
}

func readTimer(id string, shard int, data string) (Timer, error) {
	r := &timerReader{b: data}
	if v := r.byte1(); r.err == nil && v != timerVersion1 {
		return Timer{}, fmt.Errorf("unknown timer layout %#x", v)
	}
	flags := r.byte1()
	if r.err != nil || len(r.b) < 8 {
		return Timer{}, errTimerTruncated
	}
	due := int64(binary.BigEndian.Uint64([]byte(r.b[:8])))
	r.b = r.b[8:]
	t := Timer{ID: id, Shard: shard, Due: time.Unix(0, due).UTC()}
	if flags&timerHasNames != 0 {
		t.WorkOrderID, t.Stage = r.str(), r.str()
	} else {
		t.WorkOrderID, t.Stage, _ = strings.Cut(id, "/")
	}
	t.Key, t.Class, t.Tier, t.Province, t.Severity = r.str(), r.str(), r.str(), r.str(), r.str()
	t.Priority, t.Step = int(r.varint()), int(r.varint())
	if flags&timerHasSLA != 0 {
		sla := &StageState{Policy: r.str(), Run: int(r.varint())}
		start := due + r.varint()
		at := func(n int64) time.Time { return time.Unix(0, n).UTC() }
		sla.Start = at(start)
		switch {
		case flags&timerSinceIsStart != 0:
			sla.Since = sla.Start
		case flags&timerSinceZero == 0:
			sla.Since = at(start + r.varint())
		}
		if flags&timerHasPaused != 0 {
			sla.PausedAt = at(start + r.varint())
		}
		if flags&timerHasEnded != 0 {
			sla.Ended = at(start + r.varint())
		}
		if flags&timerHasUsed != 0 {
			sla.Used = time.Duration(r.varint())
		}
		if flags&timerHasOverdue != 0 {
			sla.Overdue = time.Duration(r.varint())
		}
		t.SLA = sla
	}
	if r.err == nil && r.b != "" {
		r.err = fmt.Errorf("%d bytes after the timer", len(r.b))
	}
	if r.err != nil {
		return Timer{}, r.err
	}
	return t, nil
}
