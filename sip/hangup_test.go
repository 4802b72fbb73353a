package sip

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/ivr"
)

// silence writes a WAV file of d of mu-law silence at 8000 Hz.
func silence(t *testing.T, path string, d time.Duration) {
	t.Helper()
	n := int(d.Seconds() * SampleRate)
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	_ = binary.Write(&b, le, uint32(4+8+16+8+n))
	b.WriteString("WAVEfmt ")
	// fmt: 16 bytes, mu-law (7), mono, 8000 Hz, 8000 bytes/s, 1-byte blocks, 8 bits
	for _, v := range []any{uint32(16), uint16(7), uint16(1), uint32(SampleRate), uint32(SampleRate), uint16(1), uint16(8)} {
		_ = binary.Write(&b, le, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, le, uint32(n))
	b.Write(bytes.Repeat([]byte{0xff}, n))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNoReferAfterTheCallerHungUp: a caller who hangs up while the transfer
// prompt plays is gone; no REFER may follow into the ended dialog (a
// carrier or SIPp takes it for an unexpected message and fails the call).
func TestNoReferAfterTheCallerHungUp(t *testing.T) {
	prompts := t.TempDir()
	silence(t, filepath.Join(prompts, "zh", "transfer.wav"), 20*time.Second) // the hang-up surely comes first
	ts := startServer(t, func(c *configs.Config) { c.SIP.Prompts, c.SIP.Language = prompts, "zh" })
	p := newPeer(t, ts.udp, "127.0.0.1")
	d := p.newDialog("sip:10000@"+ts.udp.String(), "X-IVR-Path: 41")
	if res := p.invite(d, "application/sdp", sdpOffer(40000)); res.StatusCode != 200 {
		t.Fatalf("INVITE: %d", res.StatusCode)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ts.orders.mu.Lock()
		taken := len(ts.orders.intakes)
		ts.orders.mu.Unlock()
		if taken == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no order taken")
		}
	}
	p.hangup(d) // the transfer prompt is playing
	for deadline := time.Now().Add(10 * time.Second); ts.activeCalls.Load() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the call did not end after BYE")
		}
	}
	// Whatever the call sent before it ended is on the loopback by now.
	for m := p.read(200 * time.Millisecond); m != nil; m = p.read(200 * time.Millisecond) {
		if r, ok := m.(*sipmsg.Request); ok {
			p.pending = append(p.pending, r)
		}
	}
	for _, r := range p.pending {
		if r.Method == sipmsg.REFER {
			t.Errorf("REFER sent after the caller hung up:\n%s", r)
		}
	}
}

// TestKeysBeforeTheHangUpReachTheLeaf: a caller who pressed the whole
// path and then hung up has made a choice; when the menu goroutine runs
// late (a loaded daemon), the keys and the end of the dialog are ready at
// once and the keys must win, so the order is taken. Go's select picks
// among ready cases at random: 50 rounds leave a dropped key no chance.
func TestKeysBeforeTheHangUpReachTheLeaf(t *testing.T) {
	ts := startServer(t, nil)
	ts.prompts = Prompts{} // no prompt: the menu waits for keys at once
	cfg, err := configs.Load("../configs/hotlined.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for round := range 50 {
		d := admitInvite(cfg, ivr.Options{}, request(t, "INVITE sip:10000@h SIP/2.0", nil, "", ""), time.Now())
		if d.code != 0 {
			t.Fatalf("INVITE refused: %d %s", d.code, d.reason)
		}
		c := &call{keys: make(chan byte, 32), session: d.session, log: zerolog.Nop()}
		for _, k := range []byte("41#") {
			c.keys <- k
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the BYE came before the menu read the keys
		if !ts.walkMenu(ctx, c) {
			t.Fatalf("round %d: the caller's keys were dropped for the hang-up", round)
		}
		if leaf := c.session.Leaf(); leaf == nil || leaf.Category != "complaint" || leaf.Subcategory != "billing" {
			t.Fatalf("round %d: leaf %+v, want the billing complaint", round, leaf)
		}
	}
}
