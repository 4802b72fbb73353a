package daemon_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/segmentio/kafka-go"

	"github.com/hotlined/hotlined/internal/testenv"
)

// Three billing complaints from Guangdong in one day on the group hotline:
// the third raises a suspected group complaint, the incident event lists
// all three and the API shows it; a supervisor rejects it. Seventeen more
// in the province make 20 within 30 days: a
// monthly incident, unverified until a supervisor (not an agent) confirms.
//
// It runs on one server and on a 3-master Redis Cluster, where the group
// windows' scripts and transactions must each stay in one slot.
func TestGroupComplaintThroughCallsAndAPI(t *testing.T) {
	t.Run("single", func(t *testing.T) { groupComplaints(t, boot(t, nil)) })
	t.Run("cluster", func(t *testing.T) {
		rc := testenv.StartRedisCluster(t)
		groupComplaints(t, bootOn(t, map[string]string{"HOTLINED_REDIS_ADDR": strings.Join(rc.Addrs, ",")}, nil))
	})
}

func groupComplaints(t *testing.T, h *harness) {
	c := testenv.NewCaller(t)
	for i := 0; i < 3; i++ {
		sess, err := c.Call(t, h.udp, "4008810000", fmt.Sprintf("1890200%04d", i),
			sipmsg.NewHeader("X-IVR-Path", "41"), sipmsg.NewHeader("X-Province", "GD"))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		testenv.Hangup(t, sess)
	}
	m := testenv.ReadEvent(t, h.d.KafkaBrokers(), "hotline.workorders.group", func(m kafka.Message) bool {
		return testenv.Headers(m)["ce_type"] == "hotline.incident.group_complaint"
	})
	var inc struct {
		ID       string   `json:"id"`
		State    string   `json:"state"`
		Members  []string `json:"members"`
		Verified bool     `json:"verified"`
	}
	if err := json.Unmarshal(m.Value, &inc); err != nil {
		t.Fatal(err)
	}
	day := time.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102")
	if inc.ID != "GC-"+day+"-GD-billing.charge_dispute" || len(inc.Members) != 3 || inc.State != "suspected" || inc.Verified {
		t.Fatalf("incident %+v", inc)
	}

	url := "http://" + h.d.HTTPAddr() + "/v1/incidents/" + inc.ID
	resp := get(t, url, testToken)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), inc.Members[0]) {
		t.Fatalf("GET incident: %d %s", resp.StatusCode, body)
	}
	if resp := get(t, "http://"+h.d.HTTPAddr()+"/v1/incidents/GC-"+day+"-GD-network.quality", testToken); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown incident: %d", resp.StatusCode)
	}
	// 17 more on the provincial hotline make the month's 20th: a monthly
	// group complaint, unverified until a supervisor confirms it.
	for i := 3; i < 20; i++ {
		sess, err := c.Call(t, h.udp, "10000", fmt.Sprintf("1890200%04d", i), sipmsg.NewHeader("X-IVR-Path", "41"))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		testenv.Hangup(t, sess)
	}
	// The supervisor rejects the day's incident (the same customers' orders
	// are still in the 30-day count).
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/reject", strings.NewReader(`{"note":"three different bills"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("reject: %v %v", resp, err)
	}
	month := "GC-R" + day + "-GD-billing.charge_dispute"
	monthly := testenv.ReadEvent(t, h.d.KafkaBrokers(), "hotline.workorders.group", func(m kafka.Message) bool {
		return testenv.Headers(m)["ce_subject"] == month
	})
	var mi struct {
		Members  []string `json:"members"`
		Verified bool     `json:"verified"`
	}
	if err := json.Unmarshal(monthly.Value, &mi); err != nil || len(mi.Members) != 20 || mi.Verified {
		t.Fatalf("monthly incident %s: %+v %v", monthly.Value, mi, err)
	}
	post := func(token string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+h.d.HTTPAddr()+"/v1/incidents/"+month+"/confirm", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := post(agentToken); resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent confirm: %d, want 403", resp.StatusCode)
	}
	if resp := post(testToken); resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("supervisor confirm: %d %s", resp.StatusCode, b)
	}
	var confirmed struct {
		State     string `json:"state"`
		Verified  bool   `json:"verified"`
		DecidedBy string `json:"decided_by"`
	}
	resp = get(t, "http://"+h.d.HTTPAddr()+"/v1/incidents/"+month, testToken)
	_ = json.NewDecoder(resp.Body).Decode(&confirmed)
	if confirmed.State != "confirmed" || !confirmed.Verified || !strings.HasPrefix(confirmed.DecidedBy, "supervisor:") {
		t.Errorf("after confirm: %+v", confirmed)
	}
	for i, id := range inc.Members {
		resp := get(t, "http://"+h.d.HTTPAddr()+"/v1/workorders/"+id, testToken)
		var o struct{ Class string }
		_ = json.NewDecoder(resp.Body).Decode(&o)
		if o.Class != "group_complaint" {
			t.Errorf("member %d %s is %q", i, id, o.Class)
		}
	}
}
