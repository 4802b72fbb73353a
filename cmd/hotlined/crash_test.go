package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
)

// buildBinary builds hotlined once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hotlined")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type process struct {
	cmd  *exec.Cmd
	http string
	sip  string
	log  *os.File
}

// start runs the binary against redisAddr and brokers on fresh ports.
func start(t *testing.T, bin, config, redisAddr string, brokers []string) *process {
	t.Helper()
	p := &process{
		http: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)),
		sip:  "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)),
	}
	log, err := os.CreateTemp(t.TempDir(), "hotlined-*.log")
	if err != nil {
		t.Fatal(err)
	}
	p.log = log
	p.cmd = exec.Command(bin, "-config", config)
	p.cmd.Env = append(os.Environ(),
		"HOTLINED_SIP_LISTEN=udp:"+p.sip,
		"HOTLINED_HTTP_LISTEN="+p.http,
		"HOTLINED_REDIS_ADDR="+redisAddr,
		"HOTLINED_KAFKA_BROKERS="+strings.Join(brokers, ","),
		// The test's callers hang up at once: REFER, as the shipped
		// placeholder contact centre would fail every bridge and add
		// call-back events to the count.
		"HOTLINED_TRANSFER_MODE=refer",
	)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_, _ = p.cmd.Process.Wait()
		if t.Failed() {
			data, _ := os.ReadFile(log.Name())
			t.Logf("hotlined log:\n%s", data)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + p.http + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("hotlined did not become ready")
	return nil
}

// The daemon is killed with SIGKILL while Kafka refuses every produce and
// its outbox holds the work orders of 30 calls; a new daemon publishes them
// all, each customer's in order.
func TestSIGKILLLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	r := testenv.StartRedis(t)
	cluster := testenv.StartKafka(t, kfake.SeedTopics(3, "hotline.workorders.province.GD"))
	var down atomic.Bool
	down.Store(true)
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if down.Load() {
			return nil, fmt.Errorf("broker down"), true // the connection is closed
		}
		return nil, nil, false
	})

	data, err := os.ReadFile("../../configs/hotlined.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "outbox_claim_idle: 2s", "outbox_claim_idle: 1s", 1)
	// Beside the shipped config, so its relative paths (prompts, rules,
	// policies, calendar) resolve the same way.
	f, err := os.CreateTemp("../../configs", ".crash-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	config := f.Name()
	t.Cleanup(func() { os.Remove(config) })
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	f.Close()

	first := start(t, bin, config, r.Addr, cluster.ListenAddrs())
	caller := testenv.NewCaller(t)
	const calls = 30
	numbers := []string{"18900000001", "18900000002", "18900000003"}
	for i := 0; i < calls; i++ {
		sess, err := caller.Call(t, first.sip, "10000", numbers[i%3], sipmsg.NewHeader("X-IVR-Path", "2"))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		testenv.Hangup(t, sess)
		waitCreated(t, first, i+1) // creation order = call order, the reference for the per-key check
	}
	outbox := queue.NewOutbox("hotlined", 8)
	waitDepth := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		var n int64
		for time.Now().Before(deadline) {
			if n, _ = outbox.Depth(context.Background(), r.Client); n == want {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("outbox depth %d, want %d", n, want)
	}
	waitDepth(calls)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = first.cmd.Process.Wait()

	start(t, bin, config, r.Addr, cluster.ListenAddrs())
	down.Store(false)
	waitDepth(0)

	// Every order arrived (at least once), each caller's in creation order.
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: cluster.ListenAddrs(), Topic: "hotline.workorders.province.GD",
		GroupID: "crash-check", StartOffset: kafka.FirstOffset, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := map[string]bool{}
	last := map[string]string{}
	for len(seen) < calls {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("after %d distinct orders: %v", len(seen), err)
		}
		var o struct{ ID string }
		if err := json.Unmarshal(m.Value, &o); err != nil {
			t.Fatal(err)
		}
		if seen[o.ID] {
			continue // at least once: a copy is allowed, ce_id tells them apart
		}
		if prev := last[string(m.Key)]; prev > o.ID {
			t.Errorf("key %s: %s after %s", m.Key, o.ID, prev)
		}
		seen[o.ID], last[string(m.Key)] = true, o.ID
	}
}

// waitCreated polls /metrics until n work orders were created.
func waitCreated(t *testing.T, p *process, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + p.http + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			total := 0.0
			for _, line := range strings.Split(string(body), "\n") {
				if strings.HasPrefix(line, "hotlined_workorders_created_total{") {
					var v float64
					if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
						total += v
					}
				}
			}
			if int(total) >= n {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("work order %d not created", n)
}

// -check-config passes the shipped config (exit 0, "ok") and warns on
// stderr that the calendar in use lacks a published year: 2027 is
// provisional in cn-2027.yaml, and any year after it is missing.
func TestCheckConfigWarnsOfUnpublishedCalendarYear(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin, "-config", "../../configs/hotlined.yaml", "-check-config")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("-check-config: %v\n%s", err, stderr.String())
	}
	if !strings.HasSuffix(strings.TrimSpace(stdout.String()), ": ok") {
		t.Errorf("stdout %q", stdout.String())
	}
	if e := stderr.String(); !strings.Contains(e, "cn-2027.yaml: warning: ") || !strings.Contains(e, "in the calendar file") {
		t.Errorf("stderr %q: want the calendar warning", e)
	}
}

// SIGTERM while Kafka hangs (every produce held unanswered): the process
// exits 0 within shutdown_grace (3 s here), and the order it could not
// publish stays in the outbox for the next daemon.
func TestSIGTERMWithKafkaHungExitsZeroInGrace(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	r := testenv.StartRedis(t)
	cluster := testenv.StartKafka(t, kfake.SeedTopics(3, "hotline.workorders.province.GD"))
	release := make(chan struct{})
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		<-release // the broker hangs
		return nil, fmt.Errorf("hung"), true
	})
	defer close(release)

	data, err := os.ReadFile("../../configs/hotlined.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "shutdown_grace: 30s", "shutdown_grace: 3s", 1)
	f, err := os.CreateTemp("../../configs", ".grace-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	config := f.Name()
	t.Cleanup(func() { os.Remove(config) })
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	f.Close()

	p := start(t, bin, config, r.Addr, cluster.ListenAddrs())
	caller := testenv.NewCaller(t)
	sess, err := caller.Call(t, p.sip, "10000", "18900000001", sipmsg.NewHeader("X-IVR-Path", "2"))
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	testenv.Hangup(t, sess)
	waitCreated(t, p, 1)

	begin := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = p.cmd.Wait()
	took := time.Since(begin)
	t.Logf("SIGTERM with Kafka hung: exit %v after %v (grace 3 s)", err, took.Round(time.Millisecond))
	if err != nil {
		t.Errorf("exit: %v, want 0", err)
	}
	if took > 5*time.Second {
		t.Errorf("stopping took %v, grace is 3 s", took)
	}
	if n, err := queue.NewOutbox("hotlined", 8).Depth(context.Background(), r.Client); err != nil || n == 0 {
		t.Errorf("outbox depth after the stop = %d, %v; want the unpublished order kept", n, err)
	}
}
