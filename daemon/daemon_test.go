package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/daemon"
	"github.com/hotlined/hotlined/internal/testenv"
)

const (
	testToken  = "e2e-supervisor-token"
	agentToken = "e2e-agent-token"
)

// logSink collects the daemon's log lines for the test to inspect.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type harness struct {
	d     *daemon.Daemon
	redis *testenv.Redis
	logs  *logSink
	udp   string // host:port of the SIP UDP listener
}

// boot starts the whole daemon in-process on port 0 against a real
// redis-server and the daemon's embedded kfake broker.
func boot(t *testing.T, edit func(*configs.Config), opts ...daemon.Option) *harness {
	t.Helper()
	r := testenv.StartRedis(t)
	h := bootOn(t, map[string]string{"HOTLINED_REDIS_ADDR": r.Addr}, edit, opts...)
	h.redis = r
	return h
}

// bootOn starts the whole daemon in-process on port 0 with the Redis named
// by redisEnv (HOTLINED_REDIS_ADDR, HOTLINED_REDIS_MASTER) and the daemon's
// embedded kfake broker.
func bootOn(t *testing.T, redisEnv map[string]string, edit func(*configs.Config), opts ...daemon.Option) *harness {
	t.Helper()
	env := map[string]string{
		"HOTLINED_SIP_LISTEN":    "udp:127.0.0.1:0,tcp:127.0.0.1:0",
		"HOTLINED_HTTP_LISTEN":   "127.0.0.1:0",
		"HOTLINED_KAFKA_BROKERS": "",
		"HOTLINED_API_TOKENS":    "supervisor:" + testToken + ",agent:" + agentToken,
	}
	for k, v := range redisEnv {
		env[k] = v
	}
	cfg, err := configs.Load("../configs/hotlined.yaml", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Kafka.EmbeddedListen = "127.0.0.1:0"
	cfg.SIP.TransferMode = configs.TransferRefer // testenv.Caller answers REFER; bridge tests set it
	if edit != nil {
		edit(cfg)
	}
	logs := &logSink{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel)
	ctx := t.Context()
	d, err := daemon.Start(ctx, cfg, log, opts...)
	if err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(stop); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	h := &harness{d: d, logs: logs}
	for _, a := range d.SIPAddrs() {
		if rest, ok := strings.CutPrefix(a, "udp:"); ok {
			h.udp = rest
		}
	}
	return h
}

// TestCallBecomesWorkOrderOnKafkaWithAlert runs the whole path, call to
// order to Kafka to alert to acknowledgement, on each Redis deployment an
// operator may run: one server, a 3-master Redis Cluster (every MULTI and
// script must stay in one slot there, or Redis and go-redis refuse it), and
// a master watched by a Sentinel.
func TestCallBecomesWorkOrderOnKafkaWithAlert(t *testing.T) {
	// The register deadline comes due a second after the call.
	fast := func(cfg *configs.Config) { cfg.Escalation.PoliciesFile = "testdata/policies-fast.yaml" }
	t.Run("single", func(t *testing.T) {
		h := boot(t, fast)
		callToAlert(t, h)
	})
	t.Run("cluster", func(t *testing.T) {
		rc := testenv.StartRedisCluster(t)
		h := bootOn(t, map[string]string{"HOTLINED_REDIS_ADDR": strings.Join(rc.Addrs, ",")}, fast)
		callToAlert(t, h)
		if !strings.Contains(h.logs.String(), `"mode":"cluster"`) {
			t.Error("the daemon did not use a cluster client")
		}
		// The orders, timers and outbox keys spread over the masters.
		var mu sync.Mutex
		per := map[string]int64{}
		_ = rc.Client.ForEachMaster(t.Context(), func(ctx context.Context, c *redis.Client) error {
			n, err := c.DBSize(ctx).Result()
			mu.Lock()
			defer mu.Unlock()
			per[c.Options().Addr] = n
			return err
		})
		used := 0
		for _, n := range per {
			if n > 0 {
				used++
			}
		}
		if used < 2 {
			t.Errorf("keys per master = %v, want them on several masters", per)
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		rs := testenv.StartRedisSentinel(t)
		h := bootOn(t, map[string]string{"HOTLINED_REDIS_ADDR": strings.Join(rs.Sentinels, ","),
			"HOTLINED_REDIS_MASTER": rs.MasterName}, fast)
		callToAlert(t, h)
		if !strings.Contains(h.logs.String(), `"mode":"sentinel"`) {
			t.Error("the daemon did not use a failover client")
		}
	})
}

func callToAlert(t *testing.T, h *harness) {
	c := testenv.NewCaller(t)
	sess, err := c.Call(t, h.udp, "10000", "18912345678",
		sipmsg.NewHeader("X-IVR-Path", "41"),
		sipmsg.NewHeader("X-Service-Number", "02012345678"),
		sipmsg.NewHeader("P-Asserted-Identity", "<sip:18912345678@127.0.0.1>"))
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	if got := string(sess.InviteResponse.Body()); !strings.Contains(got, "RTP/AVP 8 101") {
		t.Errorf("SDP answer should choose PCMA (first offered) and telephone-event:\n%s", got)
	}
	callID := sess.InviteRequest.CallID().Value()

	m := testenv.ReadEvent(t, h.d.KafkaBrokers(), "hotline.workorders.province.GD", func(kafka.Message) bool { return true })
	hdr := testenv.Headers(m)
	for k, want := range map[string]string{
		"ce_specversion": "1.0", "ce_type": "hotline.workorder.created", "ce_source": "/hotlined",
		"content-type": "application/json",
	} {
		if hdr[k] != want {
			t.Errorf("header %s = %q, want %q", k, hdr[k], want)
		}
	}
	if hdr["ce_id"] == "" {
		t.Error("ce_id is empty")
	}
	if _, err := time.Parse(time.RFC3339Nano, hdr["ce_time"]); err != nil {
		t.Errorf("ce_time %q: %v", hdr["ce_time"], err)
	}
	if string(m.Key) != "02012345678" {
		t.Errorf("key = %q, want the service number", m.Key)
	}
	var order map[string]any
	if err := json.Unmarshal(m.Value, &order); err != nil {
		t.Fatalf("value: %v", err)
	}
	id, _ := order["id"].(string)
	if !regexp.MustCompile(`^WO-\d{8}-GD-\d{10}$`).MatchString(id) || hdr["ce_subject"] != id {
		t.Errorf("id %q, ce_subject %q", id, hdr["ce_subject"])
	}
	for k, want := range map[string]any{
		"call_id": callID, "caller": "18912345678", "service_number": "02012345678", "hotline": "10000",
		"tier": "province", "province": "GD", "ivr_path": "41", "category": "complaint",
		"subcategory": "billing", "class": "complaint", "status": "new", "valid": true,
	} {
		if order[k] != want {
			t.Errorf("order.%s = %v, want %v", k, order[k], want)
		}
	}
	if dl, _ := order["deadlines"].(map[string]any); dl["register"] == nil {
		t.Errorf("deadlines = %v, want a register deadline", order["deadlines"])
	}
	// A billing complaint is copied to the billing topic too.
	testenv.ReadEvent(t, h.d.KafkaBrokers(), "hotline.workorders.billing", func(b kafka.Message) bool { return testenv.Headers(b)["ce_subject"] == id })

	// The order is readable over HTTP with a token, and only with one.
	url := "http://" + h.d.HTTPAddr() + "/v1/workorders/" + id
	resp := get(t, url, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET without token = %d, want 401", resp.StatusCode)
	}
	resp = get(t, url, testToken)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"id":"`+id+`"`) {
		t.Errorf("GET = %d %s", resp.StatusCode, body)
	}

	// The one-second register deadline raises an alert.
	a := testenv.ReadEvent(t, h.d.KafkaBrokers(), "hotline.alerts", func(a kafka.Message) bool { return testenv.Headers(a)["ce_subject"] == id })
	var alert map[string]any
	if err := json.Unmarshal(a.Value, &alert); err != nil {
		t.Fatal(err)
	}
	if testenv.Headers(a)["ce_type"] != "hotline.alert.raised" || alert["stage"] != "register" ||
		alert["severity"] != "breach" || alert["work_order_id"] != id || alert["state"] != "open" {
		t.Errorf("alert %s: %v", testenv.Headers(a)["ce_type"], alert)
	}
	// One convention for times in event data: the operator's zone, with
	// its offset, like the work order's.
	for _, k := range []string{"raised_at", "due_at", "deadline"} {
		if v, _ := alert[k].(string); !strings.HasSuffix(v, "+08:00") {
			t.Errorf("alert %s %q is not in +08:00", k, v)
		}
	}

	// The supervisor sees it open, acknowledges it, and sees it acked.
	alertID, _ := alert["id"].(string)
	list := func(state string) string {
		resp := get(t, "http://"+h.d.HTTPAddr()+"/v1/alerts?state="+state, testToken)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/alerts?state=%s: %d %s", state, resp.StatusCode, body)
		}
		return string(body)
	}
	if !strings.Contains(list("open"), alertID) {
		t.Errorf("open alerts lack %s", alertID)
	}
	metrics := func() string {
		resp := get(t, "http://"+h.d.HTTPAddr()+"/metrics", "")
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if !strings.Contains(metrics(), "\nhotlined_alerts_open 1\n") {
		t.Errorf("hotlined_alerts_open is not 1 with one alert open")
	}
	ackReq, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+h.d.HTTPAddr()+"/v1/alerts/"+alertID+"/ack", strings.NewReader(`{"note":"on it"}`))
	ackReq.Header.Set("Authorization", "Bearer "+testToken)
	ackResp, err := http.DefaultClient.Do(ackReq)
	if err != nil || ackResp.StatusCode != http.StatusOK {
		t.Fatalf("ack: %v %v", ackResp, err)
	}
	ackResp.Body.Close()
	if !strings.Contains(list("acked"), alertID) {
		t.Errorf("acked alerts lack %s", alertID)
	}
	if !strings.Contains(metrics(), "\nhotlined_alerts_open 0\n") {
		t.Errorf("hotlined_alerts_open is not 0 after the ack")
	}

	byeCtx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := sess.Bye(byeCtx); err != nil {
		t.Errorf("bye: %v", err)
	}
	if strings.Contains(h.logs.String(), "18912345678") || strings.Contains(h.logs.String(), "02012345678") {
		t.Errorf("a log line holds an unmasked phone number")
	}
	// created on the province and billing topics, the alert.
	if n := checkEveryEventValid(t, h.d.KafkaBrokers()); n < 3 {
		t.Errorf("validated %d events, want at least 3", n)
	}
}

func TestInfoDTMFOnGroupHotline(t *testing.T) {
	h := boot(t, nil)
	c := testenv.NewCaller(t)
	// No IVR headers: the caller presses 3 1 # by SIP INFO. The group
	// hotline takes the province from the caller's area code (020: GD).
	sess, err := c.Call(t, h.udp, "4008810000", "02087654321")
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, body := range []string{"Signal=3\r\nDuration=160\r\n", "Signal=1\r\nDuration=160\r\n", "Signal=#\r\nDuration=160\r\n"} {
		res, err := sess.Do(ctx, testenv.Info(sess, "application/dtmf-relay", body))
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("INFO %q: %v %v", body, res, err)
		}
	}
	res, err := sess.Do(ctx, testenv.Info(sess, "application/dtmf-relay", "Signal=X\r\n"))
	if err != nil || res.StatusCode != 400 {
		t.Errorf("bad INFO: %v %v, want 400", res, err)
	}
	var order map[string]any
	for _, topic := range []string{"hotline.workorders.province.GD", "hotline.workorders.group", "hotline.workorders.netops"} {
		m := testenv.ReadEvent(t, h.d.KafkaBrokers(), topic, func(kafka.Message) bool { return true })
		if err := json.Unmarshal(m.Value, &order); err != nil {
			t.Fatal(err)
		}
		if order["class"] != "fault_report" || order["subcategory"] != "broadband" || order["tier"] != "group" ||
			order["province"] != "GD" || order["service_number"] != "02087654321" || order["ivr_path"] != "31" {
			t.Errorf("%s: order %v", topic, order)
		}
	}
	if err := sess.Bye(ctx); err != nil {
		t.Errorf("bye: %v", err)
	}
	if n := checkEveryEventValid(t, h.d.KafkaBrokers()); n != 3 {
		t.Errorf("validated %d events, want 3 (province, group and netops)", n)
	}
}

func TestRejections(t *testing.T) {
	h := boot(t, nil)
	c := testenv.NewCaller(t)
	tests := []struct {
		name    string
		hotline string
		headers []sipmsg.Header
		code    int
	}{
		{"unknown number", "12345", nil, 404},
		{"path not in the menu", "10000", []sipmsg.Header{sipmsg.NewHeader("X-IVR-Path", "9")}, 400},
		{"path with letters", "10000", []sipmsg.Header{sipmsg.NewHeader("X-IVR-Path", "4a")}, 400},
		{"bad service number", "10000", []sipmsg.Header{sipmsg.NewHeader("X-IVR-Path", "41"), sipmsg.NewHeader("X-Service-Number", "12")}, 400},
		{"bad province", "4008810000", []sipmsg.Header{sipmsg.NewHeader("X-Province", "guangdong")}, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Call(t, h.udp, tc.hotline, "18912345678", tc.headers...)
			if got := testenv.Status(err); got != tc.code {
				t.Fatalf("got %v, want %d", err, tc.code)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	h := boot(t, nil)
	c := testenv.NewCaller(t)
	host, portStr, _ := net.SplitHostPort(h.udp)
	port, _ := strconv.Atoi(portStr)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res, err := c.Dialogs.Client.Do(ctx, sipmsg.NewRequest(sipmsg.OPTIONS, sipmsg.Uri{Scheme: "sip", Host: host, Port: port}))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("OPTIONS = %v, %v", res, err)
	}
	if allow := res.GetHeader("Allow"); allow == nil || !strings.Contains(allow.Value(), "INVITE") {
		t.Errorf("Allow = %v", allow)
	}
}

func get(t *testing.T, url, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
