package daemon_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/internal/testenv"
	"github.com/hotlined/hotlined/queue"
)

// options sends an OPTIONS to the daemon's UDP listener and returns the
// status code.
func options(t *testing.T, h *harness) int {
	t.Helper()
	c := testenv.NewCaller(t)
	host, portStr, _ := net.SplitHostPort(h.udp)
	port, _ := strconv.Atoi(portStr)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res, err := c.Dialogs.Client.Do(ctx, sipmsg.NewRequest(sipmsg.OPTIONS, sipmsg.Uri{Scheme: "sip", Host: host, Port: port}))
	if err != nil {
		t.Fatalf("OPTIONS: %v", err)
	}
	return res.StatusCode
}

func readyz(t *testing.T, h *harness) (int, string) {
	t.Helper()
	resp := get(t, "http://"+h.d.HTTPAddr()+"/readyz", "")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

// A broker that accepts TCP connections but never answers is reported
// unreachable: the check is a Metadata request, not a connect.
func TestReadyzAsksKafkaForMetadata(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // accept and hold every connection, answering nothing
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	h := boot(t, func(cfg *configs.Config) { cfg.Kafka.Brokers = []string{ln.Addr().String()} })
	status, body := readyz(t, h)
	if status != 200 || !strings.Contains(body, `"kafka":"unreachable`) || !strings.Contains(body, `"redis":"ok"`) {
		t.Errorf("readyz with a hung broker = %d %s; want 200 with kafka unreachable", status, body)
	}

	// Leaving the consumer group on the mute broker is cut short (2 s): an
	// error of the grace kind, expected here.
	stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.d.Shutdown(stop); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("shutdown with a mute broker: %v", err)
	}

	ok := boot(t, nil) // the embedded broker answers
	if status, body := readyz(t, ok); status != 200 || !strings.Contains(body, `"kafka":"ok"`) {
		t.Errorf("readyz with a live broker = %d %s", status, body)
	}
}

// During shutdown /readyz answers 503 (not a refused connection) and SIP
// OPTIONS 503, while a call in progress keeps the daemon up.
func TestShutdownAnswers503(t *testing.T) {
	h := boot(t, nil)
	if code := options(t, h); code != 200 {
		t.Fatalf("OPTIONS before shutdown = %d", code)
	}
	c := testenv.NewCaller(t)
	sess, err := c.Call(t, h.udp, "10000", "18912345678") // waits in the menu
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- h.d.Shutdown(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body := readyz(t, h)
		if status == 503 && strings.Contains(body, "shutting down") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz during shutdown = %d %s, want 503", status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := options(t, h); code != 503 {
		t.Errorf("OPTIONS during shutdown = %d, want 503", code)
	}
	testenv.Hangup(t, sess)
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// With Kafka hung (every produce held unanswered), shutdown ends within
// the grace period; the order not published stays in the outbox, and the
// error is the grace period's, which Run turns into exit 0.
func TestShutdownWithKafkaHungIsBounded(t *testing.T) {
	cluster := testenv.StartKafka(t, kfake.SeedTopics(3, "hotline.workorders.province.GD"))
	release := make(chan struct{})
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		<-release // the broker hangs
		return nil, errors.New("hung"), true
	})
	defer close(release)
	h := boot(t, func(cfg *configs.Config) { cfg.Kafka.Brokers = cluster.ListenAddrs() })
	c := testenv.NewCaller(t)
	sess, err := c.Call(t, h.udp, "10000", "18912345678", sipmsg.NewHeader("X-IVR-Path", "2"))
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	testenv.Hangup(t, sess)
	waitCreated(t, h, 1)

	const grace = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	start := time.Now()
	err = h.d.Shutdown(ctx)
	took := time.Since(start)
	t.Logf("shutdown with Kafka hung took %v (grace %v): %v", took.Round(time.Millisecond), grace, err)
	if took > grace+2*time.Second {
		t.Errorf("shutdown took %v, grace is %v", took, grace)
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("shutdown error %v is not the grace period's", err)
	}
	n, derr := queue.NewOutbox("hotlined", 8).Depth(context.Background(), h.redis.Client)
	if derr != nil || n == 0 {
		t.Errorf("outbox depth after shutdown = %d, %v; want the unpublished order kept", n, derr)
	}
}
