package testenv

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Baresip is a real softphone (Debian's baresip, headless) run by a test:
// its SIP account listens on 127.0.0.1, it sends an 8 kHz tone from a WAV
// file (aufile) and plays what it hears into a null device (aubridge), and
// the test drives it through ctrl_tcp (JSON commands in netstrings) and
// reads its events. Its SIP trace (-s) goes to a file, for the requests
// it received.
type Baresip struct {
	t       testing.TB
	User    string
	SIPPort int
	dir     string
	cmd     *exec.Cmd
	conn    net.Conn

	mu     sync.Mutex
	events []map[string]any
	resps  map[string]map[string]any
	wake   chan struct{}
}

// BaresipOptions are the account's settings.
type BaresipOptions struct {
	// AnswerMode is auto (answers at once) or manual (rings until the test
	// answers or hangs up).
	AnswerMode string
}

// StartBaresip starts a softphone whose account is sip:user@127.0.0.1:PORT
// on free ports, stopped (by its process id) when the test ends. It fails
// the test when baresip is not installed (scripts/deps.sh installs it).
func StartBaresip(t testing.TB, user string, o BaresipOptions) *Baresip {
	t.Helper()
	bin, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatal("baresip not installed (scripts/deps.sh installs baresip-core)")
	}
	if o.AnswerMode == "" {
		o.AnswerMode = "manual"
	}
	dir := t.TempDir()
	sipPort := freeSIPPort(t)
	ctrl := freeTCPPort(t)
	tone := filepath.Join(dir, "tone.wav")
	if err := os.WriteFile(tone, toneWAV(440, 120*time.Second), 0o644); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`poll_method epoll
sip_listen 127.0.0.1:%d
net_interface 127.0.0.1
call_local_timeout 120
call_max_calls 4
audio_source aufile,%s
audio_player aubridge,%s-play
audio_alert aubridge,%s-alert
ring_aufile none
rtp_ports 40000-40999
rtp_stats yes
rtcp_mux no
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module aubridge.so
module ctrl_tcp.so
module_tmp account.so
module_app menu.so
ctrl_tcp_listen 127.0.0.1:%d
`, sipPort, tone, user, user, ctrl)
	account := fmt.Sprintf("<sip:%s@127.0.0.1:%d>;regint=0;answermode=%s;audio_codecs=pcmu,pcma;dtmfmode=rtpevent\n", user, sipPort, o.AnswerMode)
	for name, body := range map[string]string{"config": config, "accounts": account, "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := os.Create(filepath.Join(dir, "trace.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", dir, "-s")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start baresip: %v", err)
	}
	b := &Baresip{t: t, User: user, SIPPort: sipPort, dir: dir, cmd: cmd, resps: map[string]map[string]any{}, wake: make(chan struct{}, 1)}
	t.Cleanup(func() {
		if b.conn != nil {
			b.conn.Close()
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.Close()
		if t.Failed() {
			t.Logf("baresip %s trace (tail):\n%s", user, tail(b.Trace(), 6000))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.conn, err = net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(ctrl))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip %s: ctrl_tcp not reachable: %v\n%s", user, err, b.Trace())
		}
		time.Sleep(50 * time.Millisecond)
	}
	go b.readLoop()
	return b
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// URI is the account's address.
func (b *Baresip) URI() string { return fmt.Sprintf("sip:%s@127.0.0.1:%d", b.User, b.SIPPort) }

// Trace is everything baresip printed, its SIP trace included.
func (b *Baresip) Trace() string {
	data, _ := os.ReadFile(filepath.Join(b.dir, "trace.log"))
	return string(data)
}

// readLoop reads netstrings ("LEN:JSON,") from ctrl_tcp: responses by
// token, events in order.
func (b *Baresip) readLoop() {
	r := bufio.NewReader(b.conn)
	for {
		lenStr, err := r.ReadString(':')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(lenStr, ":")))
		if err != nil || n < 0 || n > 1<<20 {
			return
		}
		buf := make([]byte, n+1)
		if _, err := ioReadFull(r, buf); err != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal(buf[:n], &m) != nil {
			continue
		}
		b.mu.Lock()
		if m["response"] == true {
			tok, _ := m["token"].(string)
			b.resps[tok] = m
		} else {
			b.events = append(b.events, m)
		}
		b.mu.Unlock()
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

func ioReadFull(r *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

var tokenN struct {
	sync.Mutex
	n int
}

// Command runs a menu command (dial, hangup, accept, sndcode,
// audio_debug, ...) and returns its output; an error response fails the
// test.
func (b *Baresip) Command(cmd, params string) string {
	b.t.Helper()
	tokenN.Lock()
	tokenN.n++
	tok := "t" + strconv.Itoa(tokenN.n)
	tokenN.Unlock()
	msg, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": tok})
	if _, err := fmt.Fprintf(b.conn, "%d:%s,", len(msg), msg); err != nil {
		b.t.Fatalf("baresip %s: send %s: %v", b.User, cmd, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		res, ok := b.resps[tok]
		b.mu.Unlock()
		if ok {
			data, _ := res["data"].(string)
			if res["ok"] != true {
				b.t.Fatalf("baresip %s: %s %s: %s", b.User, cmd, params, data)
			}
			return data
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("baresip %s: no response to %s", b.User, cmd)
		}
		b.waitWake(100 * time.Millisecond)
	}
}

func (b *Baresip) waitWake(d time.Duration) {
	select {
	case <-b.wake:
	case <-time.After(d):
	}
}

// WaitEvent waits for an event of type typ (CALL_ESTABLISHED,
// CALL_CLOSED, CALL_INCOMING, ...) from the index from on, and returns it
// with the index after it; it fails the test after timeout.
func (b *Baresip) WaitEvent(typ string, from int, timeout time.Duration) (map[string]any, int) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b.mu.Lock()
		for i := from; i < len(b.events); i++ {
			if b.events[i]["type"] == typ {
				ev := b.events[i]
				b.mu.Unlock()
				return ev, i + 1
			}
		}
		b.mu.Unlock()
		if time.Now().After(deadline) {
			b.t.Fatalf("baresip %s: no %s event within %s", b.User, typ, timeout)
		}
		b.waitWake(100 * time.Millisecond)
	}
}

// Events is the number of events so far (a from index for WaitEvent).
func (b *Baresip) Events() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.events)
}

var (
	txPacketsRe = regexp.MustCompile(`TX: packets=(\d+)`)
	rcvdRe      = regexp.MustCompile(`rcvd=(\d+)`)
)

// Media is what the phone's current outgoing call sent and received so far: RTP
// packets sent (its RTP session's count) and packets received and
// decoded (the decoder's audio time over the 20 ms ptime).
func (b *Baresip) Media() (sent, received int) {
	b.t.Helper()
	out := b.Command("audio_debug", "")
	m := txPacketsRe.FindStringSubmatch(out)
	r := rcvdRe.FindAllStringSubmatch(out, -1)
	if m == nil || r == nil {
		b.t.Fatalf("baresip %s: audio_debug output not understood:\n%q", b.User, out)
	}
	sent, _ = strconv.Atoi(m[1])
	for _, x := range r {
		n, _ := strconv.Atoi(x[1])
		received += n
	}
	return sent, received
}

var summaryRe = regexp.MustCompile(`packets:\s+(\d+)\s+(\d+)`)

// Ended lists, for each call the phone has ended, the RTP packets it
// sent and received (baresip's rtp_stats summary at the end of a call),
// oldest first.
func (b *Baresip) Ended() [][2]int {
	var out [][2]int
	for _, m := range summaryRe.FindAllStringSubmatch(b.Trace(), -1) {
		tx, _ := strconv.Atoi(m[1])
		rx, _ := strconv.Atoi(m[2])
		out = append(out, [2]int{tx, rx})
	}
	return out
}

// SendKeys sends digits as RFC 4733 telephone-events, one at a time (each
// with its end packets), pause apart.
func (b *Baresip) SendKeys(keys string, pause time.Duration) {
	for _, k := range keys {
		b.Command("sndcode", string(k))
		time.Sleep(pause)
	}
}

// freeSIPPort is a port free for UDP and TCP whose next port is free too
// (baresip takes port+1 for SIP over TLS).
func freeSIPPort(t testing.TB) int {
	for i := 0; i < 50; i++ {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := u.LocalAddr().(*net.UDPAddr).Port
		ok := true
		var open []net.Listener
		for _, q := range []int{p, p + 1} {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(q))
			if err != nil {
				ok = false
				break
			}
			open = append(open, l)
		}
		for _, l := range open {
			l.Close()
		}
		u.Close()
		if ok {
			return p
		}
	}
	t.Fatal("no free SIP port pair")
	return 0
}

func freeTCPPort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// toneWAV is a 16-bit mono 8 kHz WAV of a sine at freq Hz lasting d.
func toneWAV(freq float64, d time.Duration) []byte {
	n := int(d.Seconds() * 8000)
	data := make([]byte, 44+2*n)
	copy(data, "RIFF")
	binary.LittleEndian.PutUint32(data[4:], uint32(36+2*n))
	copy(data[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(data[16:], 16)
	binary.LittleEndian.PutUint16(data[20:], 1)
	binary.LittleEndian.PutUint16(data[22:], 1)
	binary.LittleEndian.PutUint32(data[24:], 8000)
	binary.LittleEndian.PutUint32(data[28:], 16000)
	binary.LittleEndian.PutUint16(data[32:], 2)
	binary.LittleEndian.PutUint16(data[34:], 16)
	copy(data[36:], "data")
	binary.LittleEndian.PutUint32(data[40:], uint32(2*n))
	for i := 0; i < n; i++ {
		v := int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/8000))
		binary.LittleEndian.PutUint16(data[44+2*i:], uint16(v))
	}
	return data
}
