package sip

import (
	"errors"
	"fmt"

	"github.com/pion/rtp"
)

// ErrBadRFC4733 marks an RTP packet that is not a valid telephone-event.
var ErrBadRFC4733 = errors.New("bad rfc4733 telephone-event")

// TelephoneEvent is one RFC 4733 event payload (section 2.3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     event     |E|R| volume    |          duration             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type TelephoneEvent struct {
	Event    uint8  // 0-9 digits, 10 *, 11 #, 12-15 A-D, 16 flash
	End      bool   // E: the event has ended
	Reserved bool   // R: senders set 0, receivers ignore it
	Volume   uint8  // 0-63, in -dBm0
	Duration uint16 // in RTP timestamp units since the event's timestamp
}

// ParseTelephoneEvent reads an RFC 4733 payload. The payload is one or more
// 4-byte event blocks; only the first is returned.
func ParseTelephoneEvent(payload []byte) (TelephoneEvent, error) {
	if len(payload) < 4 || len(payload)%4 != 0 {
		return TelephoneEvent{}, fmt.Errorf("%w: payload of %d bytes is not a whole number of 4-byte events", ErrBadRFC4733, len(payload))
	}
	return TelephoneEvent{
		Event:    payload[0],
		End:      payload[1]&0x80 != 0,
		Reserved: payload[1]&0x40 != 0,
		Volume:   payload[1] & 0x3f,
		Duration: uint16(payload[2])<<8 | uint16(payload[3]),
	}, nil
}

// eventKeys maps event codes 0-11 to keys; 12-16 (A-D, flash) have none.
const eventKeys = "0123456789*#"

// A press held past the 16-bit duration field (8.2 s at 8 kHz) goes on in
// a new segment whose timestamp is the old one plus 0xFFFF (RFC 4733
// 2.5.1.3): the same press, not a new one.
const segmentTicks = 0xFFFF

// maxReorder is how many sequence numbers behind the current event a packet
// with an older timestamp may be and still count as a late packet of an
// earlier event (2 s of 20 ms audio). Further behind, the sender has started
// over: SIPp, which replays its DTMF captures verbatim, steps back 4,103
// sequence numbers and 4,352 timestamp units going from its "0" to its "1".
const maxReorder = 100

// copyWindow is how far past the end of the event that just ended (in RTP
// timestamp units: one 20 ms packet interval at 8 kHz) an end-only packet
// of the same key counts as a copy of its end rather than a new press.
const copyWindow = 160

// DTMFDetector turns a stream of RFC 4733 packets into key presses, each
// reported once. An event is one (SSRC, RTP timestamp): its key is reported
// on the first packet to arrive, so a prompt can stop at once (barge-in);
// the updates, the three end packets and retransmits that follow carry the
// same timestamp and are dropped. Pressing the same key twice makes two
// events with two timestamps, so two keys. A key held so long that it is
// sent in segments is one key; a packet that turns up after the next event
// has begun is dropped; a new SSRC starts afresh. Some relays re-stamp the
// end packets of a press with new timestamps: an end-only packet (the
// first packet of its timestamp already has E set) of the key that just
// ended, stamped within one packet interval of that end, is a copy of the
// end, not a press (a real press starts with a packet without E, and a
// second press of one key comes at least an inter-digit gap later).
//
// Only the last event is kept, so memory is fixed. The zero value is ready
// to use; a detector serves one RTP stream and is not safe for concurrent
// use.
type DTMFDetector struct {
	seen  bool   // an event has been seen
	ssrc  uint32 // of the stream the event came on
	ts    uint32 // the event's timestamp (of its latest segment)
	seq   uint16 // the highest sequence number seen in the event
	event uint8
	endTS uint32 // the furthest the event reached: timestamp + duration, or the latest copy's timestamp
}

// reach moves the event's end to ts if that is later.
func (d *DTMFDetector) reach(ts uint32) {
	if int32(ts-d.endTS) > 0 {
		d.endTS = ts
	}
}

// copyOfEnd reports whether an end packet stamped ts, giving the event the
// duration dur, lies within one packet interval of where the current event
// ended: where its packets reached, or where this packet says it ended
// (its timestamp plus the duration it carries on from the original).
func (d *DTMFDetector) copyOfEnd(ts uint32, dur uint16) bool {
	end := d.endTS
	if e := d.ts + uint32(dur); int32(e-end) > 0 {
		end = e
	}
	return int32(ts-end) <= copyWindow
}

// Feed takes one RTP packet that arrived with the negotiated
// telephone-event payload type dtmfPT. It returns the key ('0'-'9', '*',
// '#') with ok true when the packet opens a new key press. A packet that
// repeats or ends the current event, a late packet of an earlier one, and
// the events that are no key (A-D, flash, tones above 16) give ok false and
// no error. A packet of another payload type or with a malformed payload
// gives an error wrapping ErrBadRFC4733 and leaves the detector as it was.
func (d *DTMFDetector) Feed(pkt *rtp.Packet, dtmfPT uint8) (key byte, ok bool, err error) {
	if pkt == nil {
		return 0, false, fmt.Errorf("%w: no packet", ErrBadRFC4733)
	}
	if pkt.PayloadType != dtmfPT {
		return 0, false, fmt.Errorf("%w: payload type %d, want %d", ErrBadRFC4733, pkt.PayloadType, dtmfPT)
	}
	ev, err := ParseTelephoneEvent(pkt.Payload)
	if err != nil {
		return 0, false, err
	}
	if d.seen && pkt.SSRC == d.ssrc {
		// Timestamps and sequence numbers compare in serial number
		// arithmetic, so a stream that wraps goes on as usual.
		dts := pkt.Timestamp - d.ts
		dseq := int16(pkt.SequenceNumber - d.seq)
		switch {
		case dts == 0:
			// The same event: an update, an end packet or a retransmit.
			if dseq > 0 {
				d.seq = pkt.SequenceNumber
			}
			d.reach(pkt.Timestamp + uint32(ev.Duration))
			return 0, false, nil
		case ev.End && ev.Event == d.event && int32(dts) > 0 && d.copyOfEnd(pkt.Timestamp, ev.Duration):
			// A re-stamped copy of the event's end. The event keeps its
			// timestamp: copies are measured from the original.
			if dseq > 0 {
				d.seq = pkt.SequenceNumber
			}
			d.reach(pkt.Timestamp)
			return 0, false, nil
		case dts == segmentTicks && ev.Event == d.event:
			// The next segment of a long press.
			d.ts, d.seq = pkt.Timestamp, pkt.SequenceNumber
			return 0, false, nil
		case int32(dts) < 0 && dseq < 0 && dseq >= -maxReorder:
			// A late packet of an earlier event.
			return 0, false, nil
		}
	}
	d.seen, d.ssrc, d.ts, d.seq, d.event = true, pkt.SSRC, pkt.Timestamp, pkt.SequenceNumber, ev.Event
	d.endTS = pkt.Timestamp + uint32(ev.Duration)
	if int(ev.Event) >= len(eventKeys) {
		return 0, false, nil
	}
	return eventKeys[ev.Event], true, nil
}
