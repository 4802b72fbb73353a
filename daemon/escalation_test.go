package daemon_test

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/segmentio/kafka-go"

	"github.com/hotlined/hotlined/internal/testenv"
)

// A customer with an open billing complaint on 10000 calls 4008810000
// about the same problem: not an urge but a group-tier order related to
// the open one, on the group topic; the open order gets the escalated flag
// and a hotline.workorder.escalated event (issue 10's first probe, through
// SIP, redis-server and the Kafka protocol).
func TestEscalationIsNotAnUrgeThroughTheDaemon(t *testing.T) {
	h := boot(t, nil)
	c := testenv.NewCaller(t)
	const caller = "18902001111"
	first, err := c.Call(t, h.udp, "10000", caller, sipmsg.NewHeader("X-IVR-Path", "41"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Hangup(t, first)
	created := testenv.ReadEvent(t, h.d.KafkaBrokers(), "hotline.workorders.province.GD", func(m kafka.Message) bool {
		return testenv.Headers(m)["ce_type"] == "hotline.workorder.created"
	})
	var open struct {
		ID   string `json:"id"`
		Tier string `json:"tier"`
	}
	if err := json.Unmarshal(created.Value, &open); err != nil || open.Tier != "province" {
		t.Fatalf("first order %s: %v", created.Value, err)
	}

	second, err := c.Call(t, h.udp, "4008810000", caller, sipmsg.NewHeader("X-IVR-Path", "41"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Hangup(t, second)
	escalatedTo := testenv.ReadEvent(t, h.d.KafkaBrokers(), "hotline.workorders.group", func(m kafka.Message) bool {
		var o struct{ Tier string }
		return testenv.Headers(m)["ce_type"] == "hotline.workorder.created" && json.Unmarshal(m.Value, &o) == nil && o.Tier == "group"
	})
	type reason struct {
		Rule string `json:"rule"`
	}
	var group struct {
		ID       string   `json:"id"`
		Province string   `json:"province"`
		Related  []string `json:"related"`
		Reasons  []reason `json:"reasons"`
	}
	if err := json.Unmarshal(escalatedTo.Value, &group); err != nil {
		t.Fatal(err)
	}
	if group.ID == open.ID || group.Province != "GD" || !slices.Contains(group.Related, open.ID) ||
		!slices.Contains(group.Reasons, reason{Rule: "escalated_from_lower_tier"}) {
		t.Errorf("group-tier order %s", escalatedTo.Value)
	}
	esc := testenv.ReadEvent(t, h.d.KafkaBrokers(), "hotline.workorders.province.GD", func(m kafka.Message) bool {
		return testenv.Headers(m)["ce_type"] == "hotline.workorder.escalated"
	})
	var flagged struct {
		ID    string   `json:"id"`
		Flags []string `json:"flags"`
		Urges int      `json:"urges"`
	}
	if err := json.Unmarshal(esc.Value, &flagged); err != nil || flagged.ID != open.ID || !slices.Contains(flagged.Flags, "escalated") || flagged.Urges != 0 {
		t.Errorf("escalated event %s: %v", esc.Value, err)
	}
	// Both complaints count in today's indicators, on /metrics too.
	resp := get(t, "http://"+h.d.HTTPAddr()+"/metrics", "")
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `hotlined_indicator_count{name="complaints",province="GD"} 2`) {
		t.Errorf("indicators on /metrics:\n%s", grepLines(string(body), "hotlined_indicator"))
	}
	if n := checkEveryEventValid(t, h.d.KafkaBrokers()); n < 5 {
		t.Errorf("validated %d events", n)
	}
}

// grepLines returns the lines of s containing sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
