package daemon_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/hotlined/hotlined/internal/testenv"
)

// An order from the web channel is classified like a call: a description
// naming a journalist makes the complaint major, with the keyword as its
// reason, and the order goes to the group topic too. A second complaint
// from the same number while the first is open urges it (200).
func TestCreateFromAnotherChannel(t *testing.T) {
	h := boot(t, nil)
	post := func(body string) (*http.Response, map[string]any) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+h.d.HTTPAddr()+"/v1/workorders", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var o map[string]any
		_ = json.Unmarshal(data, &o)
		return resp, o
	}
	body := `{"channel":"web","tier":"province","province":"GD","caller":"13800138000","service_number":"13800138000",
		"category":"complaint","subcategory":"billing","description":"话费多扣了，我已经联系了记者"}`
	resp, o := post(body)
	if resp.StatusCode != http.StatusCreated || o["class"] != "major_complaint" || o["channel"] != "web" || o["hotline"] != "" {
		t.Fatalf("create: %d %v", resp.StatusCode, o)
	}
	reasons, _ := json.Marshal(o["reasons"])
	if !strings.Contains(string(reasons), "记者") {
		t.Errorf("reasons %s do not name the keyword", reasons)
	}
	id, _ := o["id"].(string)
	testenv.ReadEvent(t, h.d.KafkaBrokers(), "hotline.workorders.group", func(m kafka.Message) bool {
		return testenv.Headers(m)["ce_subject"] == id
	})
	resp, again := post(body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Hotlined-Outcome") != "urged" || again["id"] != id {
		t.Errorf("second contact: %d %s %v", resp.StatusCode, resp.Header.Get("X-Hotlined-Outcome"), again["id"])
	}
	// The customer's orders are listed by service number, filtered by status.
	list := func(query string) (int, []map[string]any) {
		resp := get(t, "http://"+h.d.HTTPAddr()+"/v1/workorders?"+query, testToken)
		var body struct {
			WorkOrders []map[string]any `json:"work_orders"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.WorkOrders
	}
	if code, got := list("service_number=13800138000"); code != 200 || len(got) != 1 || got[0]["id"] != id {
		t.Errorf("list: %d %v", code, got)
	}
	if code, got := list("service_number=13800138000&status=new&class=major_complaint&province=GD"); code != 200 || len(got) != 1 {
		t.Errorf("list filtered: %d %v", code, got)
	}
	if code, got := list("service_number=13800138000&status=archived"); code != 200 || len(got) != 0 {
		t.Errorf("list archived: %d %v", code, got)
	}
	if code, _ := list("class=complaint"); code != 400 {
		t.Errorf("list without a number or a status: %d, want 400", code)
	}
	// Without a number: every order in a status, across the shards.
	has := func(orders []map[string]any) bool {
		for _, o := range orders {
			if o["id"] == id {
				return true
			}
		}
		return false
	}
	if code, got := list("status=new&class=major_complaint&province=GD"); code != 200 || !has(got) {
		t.Errorf("list by status: %d %v", code, got)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+h.d.HTTPAddr()+"/v1/workorders/"+id+"/status", strings.NewReader(`{"status":"accepted"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("accept: %v %v", resp, err)
	}
	if _, got := list("status=new"); has(got) {
		t.Errorf("still listed as new after it was accepted")
	}
	if _, got := list("status=accepted"); !has(got) {
		t.Errorf("not listed as accepted")
	}
	if n := checkEveryEventValid(t, h.d.KafkaBrokers()); n < 3 {
		t.Errorf("validated %d events", n)
	}
}
