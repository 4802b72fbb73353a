//go:build cluster

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hotlined/hotlined/internal/testenv"
)

// kamailioCfg routes every new INVITE to one of the daemons with the
// dispatcher (round robin over the destinations that answer its OPTIONS
// probes, one probe a second), record-routes so in-dialog requests (ACK,
// BYE, REFER, NOTIFY) pass through it, and fails over to the next
// destination when one does not answer within a second or answers 5xx.
const kamailioCfg = `#!KAMAILIO
debug=2
log_stderror=yes
children=2
auto_aliases=no
listen=udp:127.0.0.1:%d
mpath="%s"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "dispatcher.so"
modparam("tm", "fr_timer", 1000)
modparam("tm", "fr_inv_timer", 10000)
modparam("rr", "enable_full_lr", 1)
modparam("dispatcher", "list_file", "%s")
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "ds_ping_method", "OPTIONS")
modparam("dispatcher", "ds_ping_interval", 1)
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", 1)
modparam("dispatcher", "ds_inactive_threshold", 1)
modparam("dispatcher", "ds_ping_reply_codes", "class=2")

request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (has_totag()) {
		if (loose_route()) {
			t_relay();
			exit;
		}
		if (is_method("ACK") && t_check_trans()) {
			t_relay();
		}
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			t_relay();
		}
		exit;
	}
	t_check_trans();
	if (is_method("INVITE")) {
		record_route();
	}
	if (!ds_select_dst("1", "4")) {
		sl_send_reply("503", "No Hotline Daemon");
		exit;
	}
	t_on_failure("DISPATCH_NEXT");
	t_relay();
}

failure_route[DISPATCH_NEXT] {
	if (t_is_canceled()) {
		exit;
	}
	if (t_check_status("5[0-9][0-9]") || (t_branch_timeout() && !t_branch_replied())) {
		ds_mark_dst("ip");
		if (ds_next_dst()) {
			t_on_failure("DISPATCH_NEXT");
			t_relay();
		}
	}
}
`

// startKamailio runs Debian's kamailio in the foreground with the
// dispatcher over daemons (host:port, UDP); it returns its address.
func startKamailio(t *testing.T, daemons ...string) string {
	t.Helper()
	bin, err := exec.LookPath("kamailio")
	if err != nil {
		t.Fatalf("kamailio is not installed (make test installs it: apt-get install kamailio): %v", err)
	}
	mods := "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
	if m, _ := filepath.Glob("/usr/lib/*/kamailio/modules/dispatcher.so"); len(m) > 0 {
		mods = filepath.Dir(m[0]) + "/"
	}
	dir := t.TempDir()
	var list strings.Builder
	for _, d := range daemons {
		fmt.Fprintf(&list, "1 sip:%s\n", d)
	}
	listFile := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(listFile, []byte(list.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	cfg := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(kamailioCfg, port, mods, listFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "kamailio.log"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("kamailio -c: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-f", cfg, "-DD", "-E", "-m", "64", "-M", "8", "-Y", dir, "-P", filepath.Join(dir, "pid"))
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: kamailio forks its workers, and all of them
	// must go when the test ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_, _ = cmd.Process.Wait()
		if t.Failed() {
			data, _ := os.ReadFile(log.Name())
			if len(data) > 8000 {
				data = data[len(data)-8000:]
			}
			t.Logf("kamailio log (tail):\n%s", data)
		}
	})
	return "127.0.0.1:" + strconv.Itoa(port)
}

// metric reads one unlabelled-or-summed counter from a daemon's /metrics.
func metric(t *testing.T, p *process, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.http + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	total := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += v
		}
	}
	return total
}

// leaseHolders maps each outbox shard to the pid in its lease value
// (host-pid-rand#token), "" when free.
func leaseHolders(t *testing.T, rc *testenv.RedisCluster, shards int) []string {
	t.Helper()
	out := make([]string, shards)
	for s := range shards {
		v, err := rc.Client.Get(context.Background(), fmt.Sprintf("hotlined:{%d}:outbox:lease", s)).Result()
		if err != nil {
			continue
		}
		consumer, _, _ := strings.Cut(v, "#")
		parts := strings.Split(consumer, "-")
		if len(parts) >= 3 {
			out[s] = parts[len(parts)-2]
		}
	}
	return out
}

// Two daemons on a 3-master Redis Cluster and one broker, behind Kamailio's
// dispatcher: calls spread over both; one daemon is SIGKILLed mid-load;
// every order stored reaches Kafka, no id names two orders, the dead
// daemon's outbox shards publish again within seconds, and a page login
// on one daemon is valid on the other.
func TestTwoDaemonsBehindKamailio(t *testing.T) {
	bin := buildBinary(t)
	rc := testenv.StartRedisCluster(t)
	broker := testenv.StartKafka(t, kfake.SeedTopics(3, "hotline.workorders.province.GD", "hotline.alerts"))
	t.Setenv("HOTLINED_TEST_SESSION_KEY", "cluster-test-session-key-0123456789abcdef")
	t.Setenv("HOTLINED_PUBLIC_URL", "https://hotline.example")
	t.Setenv("HOTLINED_API_TOKENS", "supervisor:cluster-supervisor-token")

	data, err := os.ReadFile("../../configs/hotlined.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), `session_key_env: ""`, "session_key_env: HOTLINED_TEST_SESSION_KEY", 1)
	f, err := os.CreateTemp("../../configs", ".cluster-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	config := f.Name()
	t.Cleanup(func() { os.Remove(config) })
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	f.Close()

	addrs := strings.Join(rc.Addrs, ",")
	a := start(t, bin, config, addrs, broker.ListenAddrs())
	b := start(t, bin, config, addrs, broker.ListenAddrs())
	proxy := startKamailio(t, a.sip, b.sip)

	// Both daemons hold about half of the 8 outbox shards.
	pidA, pidB := strconv.Itoa(a.cmd.Process.Pid), strconv.Itoa(b.cmd.Process.Pid)
	count := func(holders []string, pid string) (n int) {
		for _, h := range holders {
			if h == pid {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		h := leaseHolders(t, rc, 8)
		if count(h, pidA) == 4 && count(h, pidB) == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox leases %v: want 4 for a (%s) and 4 for b (%s)", h, pidA, pidB)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A page login on a opens the board on b.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Post("http://"+a.http+"/ui/login", "application/x-www-form-urlencoded",
		strings.NewReader(url.Values{"token": {"cluster-supervisor-token"}, "next": {"/ui/board"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://"+b.http+"/ui/board", nil)
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	if resp, err := noRedirect.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the board on b with a's login cookie: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Load through Kamailio: 80 calls, 4 at a time, b killed after 30.
	const calls, killAt = 80, 30
	caller := testenv.NewCaller(t)
	var (
		mu       sync.Mutex
		answered int
		refused  []string
		killedAt time.Time
	)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := 0; i < calls; i++ {
		if i == killAt {
			wg.Wait()
			if n := metric(t, b, "hotlined_workorders_created_total"); n < 1 {
				t.Errorf("b created %v orders before the kill: the calls did not spread", n)
			}
			if n := metric(t, a, "hotlined_workorders_created_total"); n < 1 {
				t.Errorf("a created %v orders before the kill: the calls did not spread", n)
			}
			_ = b.cmd.Process.Kill() // SIGKILL
			mu.Lock()
			killedAt = time.Now()
			mu.Unlock()
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			number := fmt.Sprintf("1890001%04d", i)
			sess, err := caller.Call(t, proxy, "10000", number, sipmsg.NewHeader("X-IVR-Path", "2"))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				refused = append(refused, fmt.Sprintf("call %d: %v", i, err))
				return
			}
			answered++
			go testenv.Hangup(t, sess)
		}()
	}
	wg.Wait()
	t.Logf("%d of %d calls answered through Kamailio; refused: %v", answered, calls, refused)
	if answered < calls-4 {
		t.Errorf("only %d of %d calls answered; refused: %v", answered, calls, refused)
	}

	// The dead daemon's shards move to a.
	var takeover time.Duration
	for {
		h := leaseHolders(t, rc, 8)
		if count(h, pidA) == 8 {
			takeover = time.Since(killedAt)
			break
		}
		if time.Since(killedAt) > 30*time.Second {
			t.Fatalf("leases 30 s after the kill: %v", h)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the dead daemon's outbox leases moved %v after the SIGKILL", takeover.Round(time.Millisecond))
	if takeover > 5*time.Second {
		t.Errorf("lease takeover took %v, want under 5 s", takeover)
	}

	// Every order stored in Redis reaches Kafka; no id names two orders.
	stored := map[string]bool{}
	var smu sync.Mutex
	idRe := regexp.MustCompile(`:wo:(WO-[0-9A-Z-]+)$`)
	err = rc.Client.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, "hotlined:*:wo:WO-*", 1000).Iterator()
		for iter.Next(ctx) {
			if m := idRe.FindStringSubmatch(iter.Val()); m != nil {
				smu.Lock()
				stored[m[1]] = true
				smu.Unlock()
			}
		}
		return iter.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	// An order is written just after the answer; a call b had answered but
	// not yet stored when it died has no order (nothing was accepted), at
	// most the 4 calls of the last round.
	t.Logf("%d orders stored for %d answered calls", len(stored), answered)
	if len(stored) < answered-4 {
		t.Errorf("%d orders stored for %d answered calls", len(stored), answered)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: broker.ListenAddrs(), Topic: "hotline.workorders.province.GD",
		GroupID: "cluster-check", StartOffset: kafka.FirstOffset, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	callOf := map[string]string{} // order id -> call id
	var maxLag time.Duration
	for missing := len(stored); missing > 0; {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("%d stored orders never reached Kafka: %v", missing, err)
		}
		hdr := testenv.Headers(m)
		if hdr["ce_type"] != "hotline.workorder.created" {
			continue
		}
		id := hdr["ce_subject"]
		callID := regexp.MustCompile(`"call_id":"([^"]*)"`).FindSubmatch(m.Value)
		if len(callID) < 2 {
			t.Fatalf("event without call_id: %s", m.Value)
		}
		if prev, ok := callOf[id]; ok {
			if prev != string(callID[1]) {
				t.Errorf("id %s names two orders (calls %s and %s)", id, prev, callID[1])
			}
			continue // the same event again: at least once
		}
		callOf[id] = string(callID[1])
		if stored[id] {
			missing--
		}
		if at, err := time.Parse(time.RFC3339Nano, hdr["ce_time"]); err == nil && at.After(killedAt) {
			maxLag = max(maxLag, m.Time.Sub(at))
		}
	}
	t.Logf("all %d stored orders reached Kafka; after the kill the slowest went out %v after its creation",
		len(stored), maxLag.Round(time.Millisecond))
	if maxLag > 5*time.Second {
		t.Errorf("an order created after the kill took %v to reach Kafka", maxLag)
	}
}
