package sip

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/configs"
)

func TestHeadScanner(t *testing.T) {
	t0 := time.Unix(1000, 0)
	msg := "OPTIONS sip:h SIP/2.0\r\nl: 5\r\nVia: x\r\n\r\nhello"
	for _, tc := range []struct {
		name   string
		chunks []string
		inHead bool
	}{
		{"whole message", []string{msg}, false},
		{"keep-alive only", []string{"\r\n\r\n"}, false},
		{"keep-alive then half a head", []string{"\r\n", "INVITE sip:h SIP/2.0\r\nVia: x\r\n"}, true},
		{"head split in the blank line", []string{msg[:len(msg)-7], msg[len(msg)-7:]}, false},
		{"byte by byte", strings.Split(msg, ""), false},
		{"body then next head begun", []string{msg + "INVITE sip:h"}, true},
		{"two messages", []string{msg + msg}, false},
		{"body that looks like a head", []string{"MESSAGE sip:h SIP/2.0\r\nContent-Length: 6\r\n\r\n\r\n\r\nab"}, false},
	} {
		var s headScanner
		for i, c := range tc.chunks {
			s.feed([]byte(c), t0.Add(time.Duration(i)*time.Second))
		}
		if s.inHead != tc.inHead || (!s.inHead && s.body != 0) {
			t.Errorf("%s: inHead %v body %d, want inHead %v body 0", tc.name, s.inHead, s.body, tc.inHead)
		}
	}
	var s headScanner
	s.feed([]byte("\r\nINV"), t0)
	s.feed([]byte("ITE sip"), t0.Add(time.Second))
	if !s.headStart.Equal(t0) {
		t.Errorf("head started %v, want %v: the head timer runs from its first byte", s.headStart, t0)
	}
}

func TestContentLength(t *testing.T) {
	for head, want := range map[string]int{
		"INVITE x SIP/2.0\r\nContent-Length: 12\r\n\r\n": 12,
		"INVITE x SIP/2.0\r\nl:7\r\n\r\n":                7,
		"INVITE x SIP/2.0\r\ncontent-length: -1\r\n\r\n": 0,
		"INVITE x SIP/2.0\r\n\r\n":                       0,
	} {
		if got := contentLength([]byte(head)); got != want {
			t.Errorf("contentLength(%q) = %d, want %d", head, got, want)
		}
	}
}

// tcpOptions sends an OPTIONS on conn and reads the status code of the
// answer, 0 when the connection ends first.
func tcpOptions(t *testing.T, conn net.Conn, n int) int {
	t.Helper()
	msg := fmt.Sprintf("OPTIONS sip:10000@%s SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK-tcp-%d\r\n"+
		"From: <sip:probe@%s>;tag=t%d\r\nTo: <sip:10000@%s>\r\nCall-ID: tcp-%d-%s\r\nCSeq: 1 OPTIONS\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		conn.RemoteAddr(), conn.LocalAddr(), n, conn.LocalAddr(), n, conn.RemoteAddr(), n, conn.LocalAddr())
	if _, err := conn.Write([]byte(msg)); err != nil {
		return 0
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return 0
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0
	}
	code, _ := strconv.Atoi(f[1])
	return code
}

// closedByPeer waits up to d for the server to close conn.
func closedByPeer(conn net.Conn, d time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 1024)
	for {
		if _, err := conn.Read(buf); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

// Issue 12, input 11: per-source TCP cap, idle and head timeouts.
func TestTCPGuards(t *testing.T) {
	ts := startServer(t, func(cfg *configs.Config) {
		cfg.SIP.TCPMaxConnsPerSource = 3
		cfg.SIP.TCPIdleTimeout = configs.Duration(2 * time.Second)
		cfg.SIP.TCPHeaderTimeout = configs.Duration(300 * time.Millisecond)
	})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ts.tcp)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var conns []net.Conn
	for range 3 {
		conns = append(conns, dial())
	}
	for i, c := range conns {
		if code := tcpOptions(t, c, i); code != 200 {
			t.Fatalf("OPTIONS on connection %d: %d", i, code)
		}
	}
	if extra := dial(); !closedByPeer(extra, 5*time.Second) {
		t.Error("a fourth connection from one source stayed open")
	}
	if got := ts.counter(t, "hotlined_sip_tcp_refused_total"); got != 1 {
		t.Errorf("tcp_refused = %v, want 1", got)
	}

	// Slowloris: half a head, then nothing.
	conns[0].Close()
	time.Sleep(100 * time.Millisecond) // the server sees the close
	slow := dial()
	if _, err := slow.Write([]byte("INVITE sip:10000@h SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-s\r\n")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if !closedByPeer(slow, 5*time.Second) {
		t.Error("a connection trickling a message head stayed open")
	} else if time.Since(start) > 1900*time.Millisecond {
		t.Errorf("closed after %v: by the idle timeout, not the head timeout", time.Since(start))
	}

	// A connection that sent whole messages is idle, not in a head: it
	// lives past the head timeout and dies at the idle timeout.
	time.Sleep(500 * time.Millisecond)
	if code := tcpOptions(t, conns[1], 10); code != 200 {
		t.Errorf("OPTIONS after a pause longer than the head timeout: %d", code)
	}
	if !closedByPeer(conns[1], 6*time.Second) {
		t.Error("an idle connection outlived tcp_idle_timeout")
	}
}

// fdChildEnv makes the test binary run fdExhaustionChild instead of the
// tests (see TestMain).
const fdChildEnv = "HOTLINED_SIP_FD_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(fdChildEnv) != "" {
		if err := fdExhaustionChild(); err != nil {
			fmt.Println("FAIL:", err)
			os.Exit(1)
		}
		fmt.Println("OK")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Issue 12, input 11: after the process ran out of file descriptors the
// TCP listener accepts again. In a child process, whose limit is lowered.
func TestTCPListenerSurvivesEMFILE(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fdChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child: %s", strings.TrimSpace(string(out)))
}

// fdExhaustionChild runs a server with RLIMIT_NOFILE just above what is
// open, uses every descriptor, connects (the accept gets EMFILE), frees
// them, and expects the connection to be served.
func fdExhaustionChild() error {
	env := map[string]string{"HOTLINED_SIP_LISTEN": "tcp:127.0.0.1:0"}
	cfg, err := configs.Load("../configs/hotlined.yaml", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return err
	}
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	srv, err := New(Params{Config: cfg, Orders: &fakeOrders{}, Registerer: reg, Logger: zerolog.New(logs)})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.Listen(ctx); err != nil {
		return err
	}
	defer srv.Shutdown(ctx)
	addr := strings.TrimPrefix(srv.Addrs()[0], "tcp:")

	open, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	limit := uint64(len(open) + 16)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: limit, Max: limit * 4}); err != nil {
		return fmt.Errorf("setrlimit: %w", err)
	}
	var fillers []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				return fmt.Errorf("fill descriptors: %w", err)
			}
			break
		}
		fillers = append(fillers, f)
	}
	// Room for the client's socket, none for the accept. Another of the
	// process's goroutines may take the freed descriptor first (make test
	// saw it once): then free one more, a few times.
	var conn net.Conn
	for try := 1; ; try++ {
		fillers[0].Close()
		fillers = fillers[1:]
		if conn, err = net.Dial("tcp", addr); err == nil {
			break
		}
		if !errors.Is(err, syscall.EMFILE) || try == 3 {
			return fmt.Errorf("dial with one descriptor free (try %d): %w", try, err)
		}
	}
	defer conn.Close()
	accErr := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "hotlined_sip_accept_errors_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}
	for deadline := time.Now().Add(10 * time.Second); accErr() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("no accept error counted with the descriptors used up")
		}
	}
	if srv.Check(ctx) == nil {
		return errors.New("Check passes while accepts fail")
	}
	for _, f := range fillers {
		f.Close()
	}
	msg := "OPTIONS sip:10000@h SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-fd\r\nFrom: <sip:p@h>;tag=1\r\n" +
		"To: <sip:10000@h>\r\nCall-ID: fd-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(msg)); err != nil {
		return err
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, " 200 ") {
		return fmt.Errorf("after the descriptors came back: %q, %v", line, err)
	}
	if !strings.Contains(logs.String(), `"level":"error"`) || !strings.Contains(logs.String(), "accept failed") {
		return fmt.Errorf("no error-level log of the failed accept:\n%s", logs.String())
	}
	fmt.Printf("accept errors %v, then served\n", accErr())
	return nil
}

// FuzzHeadScanner: any bytes, in any chunks, leave the scanner in a sane
// state; a whole message followed by its body always ends idle.
func FuzzHeadScanner(f *testing.F) {
	f.Add([]byte("OPTIONS sip:h SIP/2.0\r\nl: 5\r\n\r\nhello"), uint8(3))
	f.Add([]byte("\r\n\r\nINVITE sip:h SIP/2.0\r\nContent-Length: 2\r\n\r\nab\r\n"), uint8(1))
	f.Add([]byte("X\r\nContent-Length: -7\r\n\r\n"), uint8(200))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		var s headScanner
		now := time.Unix(0, 0)
		step := int(chunk) + 1
		for i := 0; i < len(data); i += step {
			s.feed(data[i:min(i+step, len(data))], now)
			if s.body < 0 || len(s.head) > maxHead {
				t.Fatalf("body %d, head %d bytes", s.body, len(s.head))
			}
		}
	})
}
