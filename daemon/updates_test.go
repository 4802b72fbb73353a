package daemon_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/segmentio/kafka-go"
)

// Inbound status updates (DESIGN "Inbound Kafka"): the good ones change
// the order, in binary mode (ce_ headers) and in structured mode
// (application/cloudevents+json), with unknown JSON fields ignored; a
// redelivered ce_id is acknowledged silently; the unknown order, the
// illegal transition, the malformed JSON and the oversize message reach the
// dead-letter topic with their reasons, and the consumer goes on each time.
func TestInboundUpdates(t *testing.T) {
	h := boot(t, nil)
	c := testenv.NewCaller(t)
	sess, err := c.Call(t, h.udp, "10000", "18912345678", sipmsg.NewHeader("X-IVR-Path", "42"))
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sess.Bye(ctx)
	}()
	created := testenv.ReadEvent(t, h.d.KafkaBrokers(), "hotline.workorders.province.GD", func(kafka.Message) bool { return true })
	id := testenv.Headers(created)["ce_subject"]

	update := func(ceID, value string) kafka.Message {
		return kafka.Message{Key: []byte("18912345678"), Value: []byte(value), Headers: []kafka.Header{
			{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte(ceID)},
			{Key: "ce_type", Value: []byte("hotline.workorder.status_update")}, {Key: "ce_source", Value: []byte("/billing")},
		}}
	}
	good := `{"work_order_id":"` + id + `","status":"accepted","actor":"billing","note":"taken"}`
	msgs := []kafka.Message{
		update("u-1", good),
		update("u-1", good), // the same event again
		update("u-2", `{"work_order_id":"WO-20260101-GD-999999","status":"accepted","actor":"billing"}`),
		update("u-3", `{"work_order_id":"`+id+`","status":"archived","actor":"billing"}`), // accepted -> archived
		update("u-4", `{"work_order_id":`),
		update("u-5", `{"work_order_id":"`+id+`","status":"in_progress","actor":"billing","note":"`+strings.Repeat("x", 70<<10)+`"}`),
		{Key: []byte("18912345678"), Headers: []kafka.Header{{Key: "content-type", Value: []byte("application/cloudevents+json; charset=utf-8")}},
			Value: []byte(`{"specversion":"1.0","id":"u-6","type":"hotline.workorder.status_update","source":"/netops",
			"time":"2026-11-30T08:00:00Z","datacontenttype":"application/json","traceparent":"00-x",
			"data":{"work_order_id":"` + id + `","status":"in_progress","actor":"netops","ticket":"NOC-1"}}`)},
		update("u-7", `{"work_order_id":"`+id+`","status":"resolved","actor":"billing","resolution_code":"R12","extra":{"a":1}}`),
	}
	w := &kafka.Writer{Addr: kafka.TCP(h.d.KafkaBrokers()...), Topic: "hotline.workorders.updates",
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchBytes: 1 << 20}
	defer w.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for _, m := range msgs { // one by one: a single partition keeps their order anyway
		if err := w.WriteMessages(ctx, m); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}

	want := map[string]string{"u-2": "unknown_order", "u-3": "illegal_transition",
		"u-4": "bad_json", "u-5": "oversize"}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: h.d.KafkaBrokers(), Topic: "hotline.deadletter",
		GroupID: "dl-check", StartOffset: kafka.FirstOffset, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	for len(want) > 0 {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("dead letters still missing %v: %v", want, err)
		}
		hdr := testenv.Headers(m)
		ceID := hdr["ce_id"]
		if _, ok := want[ceID]; !ok {
			t.Errorf("%s dead-lettered (%s: %s); it should have been applied or skipped", ceID, hdr["x-hotline-error-code"], hdr["x-hotline-error"])
			continue
		}
		if hdr["x-hotline-error-code"] != want[ceID] {
			t.Errorf("%s dead-lettered with %q (%s), want %q", ceID, hdr["x-hotline-error-code"], hdr["x-hotline-error"], want[ceID])
		}
		if hdr["x-hotline-error"] == "" || !strings.HasPrefix(hdr["x-hotline-source"], "hotline.workorders.updates/") {
			t.Errorf("%s: error %q source %q", ceID, hdr["x-hotline-error"], hdr["x-hotline-source"])
		}
		delete(want, ceID)
	}

	// u-1 (once), u-6 (structured) and u-7 (extra fields) changed the
	// order, each with its audit entry and event. u-7 comes last, so once
	// the order is resolved every message has been handled.
	var order struct {
		Status  string `json:"status"`
		History []struct {
			Actor, From, To, Note string
		} `json:"history"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp := get(t, "http://"+h.d.HTTPAddr()+"/v1/workorders/"+id, testToken)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %d %s", resp.StatusCode, body)
		}
		if err := json.Unmarshal(body, &order); err != nil {
			t.Fatal(err)
		}
		if order.Status == "resolved" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if order.Status != "resolved" || len(order.History) != 3 || order.History[0].Actor != "billing" ||
		order.History[0].From != "new" || order.History[0].To != "accepted" || order.History[0].Note != "taken" ||
		order.History[1].Actor != "netops" || order.History[1].To != "in_progress" || order.History[2].To != "resolved" {
		t.Errorf("order after updates: %+v", order)
	}
	resp := get(t, "http://"+h.d.HTTPAddr()+"/metrics", "")
	metrics, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(metrics), `hotlined_updates_total{result="duplicate"} 1`) ||
		!strings.Contains(string(metrics), `hotlined_updates_total{result="applied"} 3`) {
		t.Errorf("updates metrics:\n%s", grepLines(string(metrics), "hotlined_updates_total"))
	}
	changed := testenv.ReadEvent(t, h.d.KafkaBrokers(), "hotline.workorders.province.GD", func(m kafka.Message) bool {
		return testenv.Headers(m)["ce_type"] == "hotline.workorder.status_changed"
	})
	if testenv.Headers(changed)["ce_subject"] != id {
		t.Errorf("status_changed for %s, want %s", testenv.Headers(changed)["ce_subject"], id)
	}
	if n := checkEveryEventValid(t, h.d.KafkaBrokers()); n != 8 {
		t.Errorf("validated %d events, want 8 (created and 3 status_changed, each on the province and the group topic)", n)
	}
}

// grepLines keeps the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
