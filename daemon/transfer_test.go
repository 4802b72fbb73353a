package daemon_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
	"github.com/hotlined/hotlined/workorder"
)

// Real softphones, both baresip: a caller dials the province hotline and
// keys 4 1 # (RFC 4733), an agent at the contact centre takes the call.

const callerNumber = "18912345678"

// bootTransfer boots the daemon with the contact centre at agent's
// address (the leaf's queue is its user name) in mode.
func bootTransfer(t *testing.T, agent *testenv.Baresip, mode string, timeout time.Duration) *harness {
	return boot(t, func(cfg *configs.Config) {
		cfg.SIP.TransferMode = mode
		cfg.SIP.ACDURI = "sip:127.0.0.1:" + itoa(agent.SIPPort)
		cfg.SIP.TransferTimeout = configs.Duration(timeout)
		cfg.HTTP.PublicURL = "https://hotline.example"
	})
}

// dialAndKey calls the hotline from the caller phone and keys 4 1 #
// (complaint, billing, the calling number); it returns the event index
// after the caller's call was established.
func dialAndKey(t *testing.T, caller *testenv.Baresip, h *harness) int {
	t.Helper()
	from := caller.Events()
	caller.Command("dial", "sip:10000@"+h.udp)
	_, next := caller.WaitEvent("CALL_ESTABLISHED", from, 10*time.Second)
	time.Sleep(500 * time.Millisecond) // the main prompt starts; keys barge in
	caller.SendKeys("41#", 400*time.Millisecond)
	return next
}

var inviteRe = regexp.MustCompile(`(?s)INVITE sip:[^\n]*SIP/2\.0\r?\n.*?\r?\n\r?\n`)

// firstInvite is the first INVITE in a phone's SIP trace, head only.
func firstInvite(t *testing.T, p *testenv.Baresip) string {
	t.Helper()
	inv := inviteRe.FindString(p.Trace())
	if inv == "" {
		t.Fatalf("no INVITE in the %s phone's trace", p.User)
	}
	return inv
}

func headerOf(msg, name string) string {
	for _, l := range strings.Split(msg, "\n") {
		if k, v, ok := strings.Cut(strings.TrimRight(l, "\r"), ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// getOrder reads an order through the API.
func getOrder(t *testing.T, h *harness, id string) *workorder.Order {
	t.Helper()
	res := get(t, "http://"+h.d.HTTPAddr()+"/v1/workorders/"+id, testToken)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET order %s: %d %s", id, res.StatusCode, body)
	}
	var o workorder.Order
	if err := json.Unmarshal(body, &o); err != nil {
		t.Fatal(err)
	}
	return &o
}

// callerMediaFlows checks over two seconds that the caller's phone sends
// RTP and receives it (from the agent: hotlined sends nothing of its own
// once the call is bridged): its counts grow by a second's worth at least.
func callerMediaFlows(t *testing.T, caller *testenv.Baresip) {
	t.Helper()
	cs0, cr0 := caller.Media()
	time.Sleep(2 * time.Second)
	cs1, cr1 := caller.Media()
	t.Logf("RTP at the caller's phone over 2 s: sent %d, received %d", cs1-cs0, cr1-cr0)
	for name, n := range map[string]int{"sent": cs1 - cs0, "received": cr1 - cr0} {
		if n < 50 { // 100 expected at 20 ms; half is plenty on a busy machine
			t.Errorf("caller's phone %s %d RTP packets in 2 s", name, n)
		}
	}
}

// agentMediaFlowed checks the agent phone's count of its ended call: its
// whole call was with the caller, so what it received came from the
// caller's phone.
func agentMediaFlowed(t *testing.T, agent *testenv.Baresip) {
	t.Helper()
	var ended [][2]int
	for deadline := time.Now().Add(5 * time.Second); len(ended) == 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		ended = agent.Ended()
	}
	if len(ended) == 0 {
		t.Fatal("the agent's phone printed no RTP summary for its call")
	}
	last := ended[len(ended)-1]
	t.Logf("RTP at the agent's phone over its call: sent %d, received %d", last[0], last[1])
	if last[0] < 50 || last[1] < 50 {
		t.Errorf("agent's phone sent %d and received %d RTP packets over its call", last[0], last[1])
	}
}

// cpuTime is this process's user+system CPU time (the daemon runs in it).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Bridge mode: the agent's INVITE comes from hotlined with the work order
// as real headers and the screen-pop link; media flows both ways through
// hotlined's relay; the agent hanging up ends the caller's call, and on a
// second call the caller hanging up ends the agent's. The order records
// the transfer.
func TestBaresipBridgedToAgent(t *testing.T) {
	agent := testenv.StartBaresip(t, "complaint", testenv.BaresipOptions{AnswerMode: "auto"})
	caller := testenv.StartBaresip(t, callerNumber, testenv.BaresipOptions{})
	h := bootTransfer(t, agent, configs.TransferBridge, 20*time.Second)

	next := dialAndKey(t, caller, h)
	_, agentNext := agent.WaitEvent("CALL_ESTABLISHED", 0, 30*time.Second)
	inv := firstInvite(t, agent)
	id := headerOf(inv, "X-Work-Order-ID")
	if !strings.HasPrefix(id, "WO-") {
		t.Fatalf("agent's INVITE has no X-Work-Order-ID:\n%s", inv)
	}
	for name, want := range map[string]string{"X-Work-Order-Class": "complaint", "X-Priority": "",
		"Call-Info": "<https://hotline.example/ui/workorders/" + id + ">;purpose=info"} {
		if got := headerOf(inv, name); got == "" || want != "" && got != want {
			t.Errorf("agent's INVITE %s = %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(headerOf(inv, "From"), callerNumber) {
		t.Errorf("agent's INVITE From %q does not show the caller", headerOf(inv, "From"))
	}

	cpu0, wall0 := cpuTime(), time.Now()
	callerMediaFlows(t, caller)
	t.Logf("daemon CPU while one call is bridged (relay and all else): %.2f%% of a core",
		100*float64(cpuTime()-cpu0)/float64(time.Since(wall0)))

	agent.Command("hangup", "")
	caller.WaitEvent("CALL_CLOSED", next, 10*time.Second)
	agentMediaFlowed(t, agent)
	o := getOrder(t, h, id)
	last := o.History[len(o.History)-1]
	if last.Action != "transfer" || !strings.HasPrefix(o.Transfer, "sip:complaint@127.0.0.1") {
		t.Errorf("order's last history entry %+v, want the bridge transfer", last)
	}
	if o.HasFlag(configs.FlagTransferFailed) {
		t.Error("a transferred order is flagged transfer_failed")
	}

	// The caller hangs up this time (a new number: the first complaint is
	// still open and would be urged, which is fine but not the point).
	next = dialAndKey(t, caller, h)
	_, _ = agent.WaitEvent("CALL_ESTABLISHED", agentNext, 30*time.Second)
	caller.Command("hangup", "")
	agent.WaitEvent("CALL_CLOSED", agentNext, 10*time.Second)
	_ = next
}

// REFER mode: the caller's phone is referred to the agent and calls it
// itself (the work order travels in the Refer-To URI, which is all REFER
// can carry); media flows between the phones; hotlined leaves the call
// after the NOTIFY 200 and records the transfer; the agent hanging up
// ends the call.
func TestBaresipReferredToAgent(t *testing.T) {
	agent := testenv.StartBaresip(t, "complaint", testenv.BaresipOptions{AnswerMode: "auto"})
	caller := testenv.StartBaresip(t, callerNumber, testenv.BaresipOptions{})
	h := bootTransfer(t, agent, configs.TransferRefer, 20*time.Second)

	next := dialAndKey(t, caller, h)
	agent.WaitEvent("CALL_ESTABLISHED", 0, 30*time.Second)
	inv := firstInvite(t, agent)
	m := regexp.MustCompile(`WO-\d{8}-[A-Z]{2,3}-\d{6,15}`).FindString(inv)
	if m == "" {
		t.Fatalf("the referred INVITE names no work order:\n%s", inv)
	}
	if !strings.Contains(headerOf(inv, "From"), callerNumber) {
		t.Errorf("the referred INVITE is not from the caller's phone:\n%s", inv)
	}
	// hotlined's leg ends after the NOTIFY 200 (its BYE)
	_, next = caller.WaitEvent("CALL_CLOSED", next, 15*time.Second)
	callerMediaFlows(t, caller)
	deadline := time.Now().Add(10 * time.Second)
	for {
		o := getOrder(t, h, m)
		if l := o.History[len(o.History)-1]; l.Action == "transfer" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order history %+v lacks the refer transfer", o.History)
		}
		time.Sleep(100 * time.Millisecond)
	}
	agent.Command("hangup", "")
	caller.WaitEvent("CALL_CLOSED", next, 10*time.Second)
	agentMediaFlowed(t, agent)
}

// A target that answers 486, and one that rings past sip.transfer_timeout:
// each order is flagged transfer_failed with the reason in its history,
// and a call-back request with the caller's number reaches Kafka on the
// order's topic.
func TestBaresipTransferBusyAndNoAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, reason string
		busy         bool
	}{{"busy", workorder.TransferBusy, true}, {"no answer", workorder.TransferNoAnswer, false}} {
		t.Run(tc.name, func(t *testing.T) {
			agent := testenv.StartBaresip(t, "complaint", testenv.BaresipOptions{AnswerMode: "manual"})
			caller := testenv.StartBaresip(t, callerNumber, testenv.BaresipOptions{})
			h := bootTransfer(t, agent, configs.TransferBridge, 3*time.Second)

			next := dialAndKey(t, caller, h)
			agent.WaitEvent("CALL_INCOMING", 0, 30*time.Second)
			if tc.busy {
				agent.Command("hangup", "") // rejects the ringing call: 486 Busy Here
			}
			inv := firstInvite(t, agent)
			id := headerOf(inv, "X-Work-Order-ID")
			// goodbye with the reference, then hotlined hangs up
			caller.WaitEvent("CALL_CLOSED", next, 30*time.Second)
			o := getOrder(t, h, id)
			if !o.HasFlag(configs.FlagTransferFailed) {
				t.Fatalf("order %s flags %v lack transfer_failed", id, o.Flags)
			}
			found := false
			for _, c := range o.History {
				found = found || c.Action == "flag" && c.To == configs.FlagTransferFailed && strings.HasSuffix(c.Note, ": "+tc.reason)
			}
			if !found {
				t.Errorf("history %+v lacks the failure with reason %s", o.History, tc.reason)
			}
			msg := testenv.ReadEvent(t, h.d.KafkaBrokers(), "hotline.workorders.province.GD", func(m kafka.Message) bool {
				hd := testenv.Headers(m)
				return hd["ce_type"] == queue.TypeWorkOrderCallbackRequested && hd["ce_subject"] == id
			})
			var cb workorder.CallbackRequest
			if err := json.Unmarshal(msg.Value, &cb); err != nil {
				t.Fatal(err)
			}
			if cb.Number != callerNumber || cb.Reason != tc.reason {
				t.Errorf("call-back request %+v", cb)
			}
		})
	}
}
