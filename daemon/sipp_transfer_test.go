package daemon_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
	"github.com/hotlined/hotlined/workorder"
)

// sipp runs one SIPp scenario of scripts/sipp to completion in dir (its
// logs land there) and fails the test when SIPp reports a failed call.
func sipp(t *testing.T, ctx context.Context, dir, scenario string, args ...string) error {
	t.Helper()
	abs, err := filepath.Abs("../scripts/sipp/" + scenario + ".xml")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "sipp", append([]string{"-sf", abs, "-m", "1", "-i", "127.0.0.1",
		"-nostdin", "-timeout", "60s", "-timeout_error", "-trace_err"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		logs, _ := filepath.Glob(filepath.Join(dir, "*errors.log"))
		var errs []string
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			errs = append(errs, string(b))
		}
		t.Logf("sipp %s: %v\n%s\n%s", scenario, err, tail(string(out), 3000), strings.Join(errs, "\n"))
	}
	return err
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// freeUDPPort is a free UDP port on 127.0.0.1.
func freeUDPPort(t *testing.T) int {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// SIPp on both sides of a bridged call (scripts/sipp/bridge_caller.xml
// and bridge_agent.xml): the agent's INVITE carries the work order and the
// screen-pop link (the agent scenario checks them), the caller's audio
// reaches the agent and comes back (rtp_echo) through hotlined's relay,
// the agent's BYE ends the caller's leg. Then a busy agent
// (bridge_agent_busy.xml): the order is flagged and a call-back request
// reaches Kafka.
func TestSIPpBridge(t *testing.T) {
	agentPort := freeUDPPort(t)
	h := boot(t, func(cfg *configs.Config) {
		cfg.SIP.TransferMode = configs.TransferBridge
		cfg.SIP.ACDURI = "sip:127.0.0.1:" + itoa(agentPort)
	})
	dir := t.TempDir()
	csv := filepath.Join(dir, "callers.csv")
	if err := os.WriteFile(csv, []byte("SEQUENTIAL\n18912340001;\n18912340002;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	agentDone := make(chan error, 1)
	go func() {
		agentDone <- sipp(t, ctx, dir, "bridge_agent", "-p", itoa(agentPort), "-mp", itoa(freeUDPPort(t)), "-rtp_echo")
	}()
	time.Sleep(300 * time.Millisecond) // the agent listens
	if err := sipp(t, ctx, dir, "bridge_caller", "-inf", csv, "-s", "10000", "-p", itoa(freeUDPPort(t)), h.udp); err != nil {
		t.Fatalf("caller scenario failed: %v", err)
	}
	if err := <-agentDone; err != nil {
		t.Fatalf("agent scenario failed: %v", err)
	}
	if n := metricValue(t, h, "hotlined_sip_rtp_relayed_total"); n < 100 {
		t.Errorf("%v RTP packets relayed between caller and agent, want both ways (100 or more)", n)
	}

	go func() {
		agentDone <- sipp(t, ctx, dir, "bridge_agent_busy", "-p", itoa(agentPort))
	}()
	time.Sleep(300 * time.Millisecond)
	if err := sipp(t, ctx, dir, "transfer_failed_caller", "-inf", csv, "-s", "10000", "-p", itoa(freeUDPPort(t)), h.udp); err != nil {
		t.Fatalf("caller of the busy agent: %v", err)
	}
	if err := <-agentDone; err != nil {
		t.Fatalf("busy agent scenario failed: %v", err)
	}
	msg := testenv.ReadEvent(t, h.d.KafkaBrokers(), "hotline.workorders.province.GD", func(m kafka.Message) bool {
		return testenv.Headers(m)["ce_type"] == queue.TypeWorkOrderCallbackRequested
	})
	var cb workorder.CallbackRequest
	if err := json.Unmarshal(msg.Value, &cb); err != nil {
		t.Fatal(err)
	}
	if cb.Reason != workorder.TransferBusy || cb.Number == "" {
		t.Errorf("call-back request %+v", cb)
	}
	if o := getOrder(t, h, cb.WorkOrderID); !o.HasFlag(configs.FlagTransferFailed) {
		t.Errorf("order %s flags %v", o.ID, o.Flags)
	}
}

// metricValue sums a metric's samples from the daemon's registry.
func metricValue(t *testing.T, h *harness, name string) float64 {
	t.Helper()
	mfs, err := h.d.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				total += c.GetValue()
			}
			if g := m.GetGauge(); g != nil {
				total += g.GetValue()
			}
		}
	}
	return total
}
