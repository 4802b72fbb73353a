package daemon_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/sip"
)

// A header call is transferred with REFER: the Refer-To URI carries the
// order's id, class and priority, Call-Info the screen-pop link; after the
// 200 NOTIFY the daemon hangs up.
func TestTransferCarriesTheWorkOrder(t *testing.T) {
	h := boot(t, func(cfg *configs.Config) { cfg.HTTP.PublicURL = "https://hotline.example" })
	c := testenv.NewCaller(t)
	sess, err := c.Call(t, h.udp, "10000", "18912345678", sipmsg.NewHeader("X-IVR-Path", "44"))
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	var refer *sipmsg.Request
	select {
	case refer = <-c.Refers:
	case <-time.After(15 * time.Second):
		t.Fatal("no REFER")
	}
	referTo := refer.GetHeader("Refer-To").Value()
	for _, want := range []string{"sip:complaint-senior@acd.hotline.invalid", "X-Work-Order-ID=WO-", "X-Work-Order-Class=major_complaint", "X-Priority=1"} {
		if !strings.Contains(referTo, want) {
			t.Errorf("Refer-To %q lacks %q", referTo, want)
		}
	}
	info := refer.GetHeader("Call-Info").Value()
	if !strings.HasPrefix(info, "<https://hotline.example/ui/workorders/WO-") || !strings.HasSuffix(info, ">;purpose=info") {
		t.Errorf("Call-Info %q", info)
	}
	select { // the daemon hangs up after the transfer
	case <-sess.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("no BYE after the transfer")
	}
}

// With no IVR headers the caller hears the main prompt as RTP: 20 ms
// frames, continuous sequence numbers and timestamps, marker on the first,
// the prompt file's own audio; a key stops it (barge-in) and the menu goes
// on to the next prompt.
func TestPromptIsPacedRTPWithBargeIn(t *testing.T) {
	h := boot(t, nil)
	rtpConn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rtpConn.Close()
	port := rtpConn.LocalAddr().(*net.UDPAddr).Port
	c := testenv.NewCaller(t)
	offer := strings.Replace(testenv.Offer, "m=audio 40000 RTP/AVP 8 0 101", "m=audio "+itoa(port)+" RTP/AVP 0 101", 1)
	sess, err := c.CallWithSDP(t, h.udp, "10000", "18912345678", offer)
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	defer testenv.Hangup(t, sess)

	f, err := os.Open("../configs/prompts/zh/main.wav")
	if err != nil {
		t.Fatal(err)
	}
	main, err := sip.LoadPrompt(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	mainAudio := main.MuLaw()

	const frames = 50
	buf := make([]byte, 1500)
	var first time.Time
	var prev rtp.Packet
	for i := 0; i < frames; i++ {
		_ = rtpConn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := rtpConn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = time.Now()
			if !p.Marker {
				t.Error("first packet of the prompt has no marker")
			}
		} else {
			if p.SequenceNumber != prev.SequenceNumber+1 || p.Timestamp != prev.Timestamp+160 || p.SSRC != prev.SSRC {
				t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", i, p.SequenceNumber, p.Timestamp, prev.SequenceNumber, prev.Timestamp)
			}
			if p.Marker {
				t.Errorf("packet %d has the marker", i)
			}
		}
		if p.PayloadType != 0 || len(p.Payload) != 160 {
			t.Fatalf("packet %d: pt %d, %d bytes", i, p.PayloadType, len(p.Payload))
		}
		if string(p.Payload) != string(mainAudio[i*160:(i+1)*160]) {
			t.Fatalf("packet %d: audio differs from main.wav", i)
		}
		prev = p
	}
	// 49 intervals of 20 ms; the schedule is absolute, so the span is exact
	// but for scheduling noise on a shared machine.
	if span := time.Since(first); span < 900*time.Millisecond || span > 1300*time.Millisecond {
		t.Errorf("%d frames took %v, want about 980ms", frames, span)
	}

	// Barge-in: 4 stops the main prompt; the complaint menu's prompt follows.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if res, err := sess.Do(ctx, testenv.Info(sess, "application/dtmf", "4")); err != nil || res.StatusCode != 200 {
		t.Fatalf("INFO: %v %v", res, err)
	}
	f, _ = os.Open("../configs/prompts/zh/complaint.wav")
	complaint, err := sip.LoadPrompt(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := string(complaint.MuLaw()[:160])
	deadline := time.Now().Add(3 * time.Second)
	for {
		_ = rtpConn.SetReadDeadline(deadline)
		n, _, err := rtpConn.ReadFrom(buf)
		if err != nil {
			t.Fatal("the complaint prompt never started: no barge-in")
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) == nil && p.Marker && string(p.Payload) == want {
			break
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
