package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/daemon"
	"github.com/hotlined/hotlined/daemon/replay"
	"github.com/hotlined/hotlined/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from this run")

// params are the shipped config's: the rules an operator would replay.
func params(t testing.TB) replay.Params {
	t.Helper()
	cfg, err := configs.Load("../../configs/hotlined.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	files, err := daemon.LoadFiles(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return replay.Params{Config: cfg, Rules: files.Rules, Policies: files.Policies, Logger: zerolog.Nop()}
}

func replayFile(t testing.TB, p replay.Params, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	if err := replay.Run(context.Background(), p, f, &out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out.Bytes()
}

// golden compares got with the golden file, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./daemon/replay -run Golden -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\n got: %.600s\nwant: %.600s\n(check the change, then -update)", path, i+1, g, w)
			}
		}
	}
}

// TestGolden replays every timeline of testdata and compares the output,
// byte for byte, with its .golden file: the rules' decisions at the
// boundaries of time the timelines' comments describe.
func TestGolden(t *testing.T) {
	timelines, err := filepath.Glob("testdata/*.jsonl")
	if err != nil || len(timelines) < 6 {
		t.Fatalf("timelines: %v, %v", timelines, err)
	}
	for _, tl := range timelines {
		name := strings.TrimSuffix(filepath.Base(tl), ".jsonl")
		t.Run(name, func(t *testing.T) {
			golden(t, strings.TrimSuffix(tl, ".jsonl")+".golden", replayFile(t, params(t), tl))
		})
	}
}

// TestGoldenTable is the table format of one timeline.
func TestGoldenTable(t *testing.T) {
	p := params(t)
	p.Format = "table"
	golden(t, "testdata/major_ladder.table.golden", replayFile(t, p, "testdata/major_ladder.jsonl"))
}

// TestSummaryFormat: -format summary is the JSON output's skipped lines
// and summary, nothing else.
func TestSummaryFormat(t *testing.T) {
	// group_same_day with a line that no longer applies (an ack of an
	// alert never raised) at its end.
	data, err := os.ReadFile("testdata/group_same_day.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, `{"at":"2026-11-20T00:00:00+08:00","ack":{"order":"G1","stage":"transfer_failed"}}`+"\n"...)
	tl := filepath.Join(t.TempDir(), "tl.jsonl")
	if err := os.WriteFile(tl, data, 0o644); err != nil {
		t.Fatal(err)
	}
	full := replayFile(t, params(t), tl)
	var want []byte
	for l := range bytes.Lines(full) {
		if bytes.HasPrefix(l, []byte(`{"summary":`)) || bytes.Contains(l, []byte(`"skipped":`)) {
			want = append(want, l...)
		}
	}
	p := params(t)
	p.Format = "summary"
	got := replayFile(t, p, tl)
	if !bytes.Equal(got, want) {
		t.Fatalf("summary format:\n%s\nwant:\n%s", got, want)
	}
	if !bytes.Contains(got, []byte(`"skipped":`)) {
		t.Fatal("the timeline skips no line: not a test of the skipped lines")
	}
}

// TestSameTimelineSameBytes replays one timeline twice in one process
// (Go's map order differs between the runs), into miniredis, into the
// replay's own redis-server and into a redis-server named by -redis: the
// outputs are the same bytes.
func TestSameTimelineSameBytes(t *testing.T) {
	const tl = "testdata/group_same_day.jsonl"
	p := params(t)
	p.Embedded = replay.EmbeddedServer
	first := replayFile(t, p, tl)
	if second := replayFile(t, p, tl); !bytes.Equal(first, second) {
		t.Fatal("two replays of the same timeline differ")
	}
	p.Embedded = replay.EmbeddedMemory
	if memory := replayFile(t, p, tl); !bytes.Equal(first, memory) {
		t.Fatal("the replay on miniredis differs from the one on redis-server")
	}
	p.RedisAddr = testenv.StartRedis(t).Addr
	if named := replayFile(t, p, tl); !bytes.Equal(first, named) {
		t.Fatal("the replay on a named redis-server differs from the one on its own")
	}
	if !bytes.Contains(first, []byte(`"state":"confirmed"`)) {
		t.Fatal("the timeline no longer confirms its incident: not a useful check")
	}
}

// TestEmbeddedRedis: the replay's own Redis is the redis-server on PATH
// by default, miniredis without one or when it cannot start, and a clear
// error when the server is asked for and missing or failing, or the kind
// is unknown; the server is gone when the replay ends; a TMPDIR too long
// for a unix socket moves the socket to /tmp.
func TestEmbeddedRedis(t *testing.T) {
	const tl = `{"at":"2026-11-02T10:00:00+08:00","contact":{"hotline":"10000","ivr_path":"1","caller":"18912340001"}}`
	run := func(embedded string) (string, error) {
		p := params(t)
		p.Embedded = embedded
		var out bytes.Buffer
		err := replay.Run(context.Background(), p, strings.NewReader(tl), &out)
		return out.String(), err
	}
	servers := func() []int { return redisServers(t, os.Getpid()) } // this process's children
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	if err := os.Mkdir(long, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", long)
	if out, err := run(""); err != nil || !strings.Contains(out, "hotline.workorder.created") {
		t.Fatalf("default, TMPDIR of %d bytes: %v\n%s", len(long), err, out)
	}
	if left := servers(); len(left) > 0 {
		t.Errorf("redis-servers %v left running", left)
	}
	if entries, _ := os.ReadDir(long); len(entries) != 0 {
		t.Errorf("left in TMPDIR: %v", entries)
	}
	if _, err := run("valkey"); err == nil || !strings.Contains(err.Error(), `embedded "valkey": want auto, redis-server or miniredis`) {
		t.Errorf("unknown kind: %v", err)
	}
	// A redis-server that cannot start: auto gives way to miniredis, a
	// server asked for is an error that says what the server said.
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "redis-server"), []byte("#!/bin/sh\necho 'FATAL: no memory for you' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":/usr/bin:/bin")
	if out, err := run(replay.EmbeddedAuto); err != nil || !strings.Contains(out, "hotline.workorder.created") {
		t.Fatalf("auto with a failing redis-server: %v\n%s", err, out)
	}
	if _, err := run(replay.EmbeddedServer); !errors.Is(err, replay.ErrServerExited) || !strings.Contains(err.Error(), "no memory for you") {
		t.Errorf("a failing redis-server asked for: %v", err)
	}
	t.Setenv("PATH", t.TempDir())
	if out, err := run(replay.EmbeddedAuto); err != nil || !strings.Contains(out, "hotline.workorder.created") {
		t.Fatalf("auto without redis-server on PATH: %v\n%s", err, out)
	}
	if _, err := run(replay.EmbeddedServer); err == nil || !strings.Contains(err.Error(), "embedded redis-server:") {
		t.Errorf("redis-server asked for and not on PATH: %v", err)
	}
}

// TestInterruptedReplay: a replay stopped by its caller (Ctrl-C) says it
// was interrupted, at which line, whatever call the stop cut short.
func TestInterruptedReplay(t *testing.T) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- replay.Run(ctx, params(t), pr, io.Discard) }()
	for i := 1; i <= 3; i++ {
		if _, err := fmt.Fprintf(pw, `{"at":"2026-11-02T10:00:00+08:00","contact":{"hotline":"10000","ivr_path":"41","caller":"1891234%04d"}}`+"\n", i); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	go func() {
		_, _ = io.WriteString(pw, `{"at":"2026-11-03T10:00:00+08:00","until":"2026-11-03T10:00:00+08:00"}`+"\n")
	}()
	err := <-done
	_ = pr.Close()
	var le *replay.LineError
	if !errors.As(err, &le) || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") || le.Line < 1 {
		t.Fatalf("err = %v, want an interruption at a line", err)
	}
}

// TestInterruptedWhileWaitingForInput: a replay waiting for its next line
// (a terminal, tail -f) stops when its context ends, its input still open.
func TestInterruptedWhileWaitingForInput(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- replay.Run(ctx, params(t), pr, io.Discard) }()
	if _, err := io.WriteString(pw, `{"at":"2026-11-02T10:00:00+08:00","contact":{"hotline":"10000","ivr_path":"1","caller":"18912340001"}}`+"\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the replay is waiting for line 2
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("err = %v, want an interruption", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the replay waits for its input after its context ended")
	}
}

// TestReplayWhoseServerDies: the replay's own redis-server killed while it
// runs stops the replay with an error that says so.
func TestReplayWhoseServerDies(t *testing.T) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- replay.Run(context.Background(), params(t), pr, io.Discard) }()
	line := `{"at":"2026-11-02T10:00:00+08:00","contact":{"hotline":"10000","ivr_path":"1","caller":"1891234%04d"}}` + "\n"
	if _, err := fmt.Fprintf(pw, line, 1); err != nil {
		t.Fatal(err)
	}
	var server int
	for deadline := time.Now().Add(10 * time.Second); server == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the replay started no redis-server")
		}
		if pids := redisServers(t, os.Getpid()); len(pids) > 0 {
			server = pids[0]
		}
	}
	if err := syscall.Kill(server, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	go func() { // lines until the replay stops taking them
		for i := 2; ; i++ {
			if _, err := fmt.Fprintf(pw, line, i); err != nil {
				return
			}
		}
	}()
	select {
	case err := <-done:
		_ = pr.Close()
		if !errors.Is(err, replay.ErrServerExited) || !strings.Contains(err.Error(), "signal: killed") {
			t.Fatalf("err = %v, want one wrapping ErrServerExited that says how", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the replay goes on without its server")
	}
}

func TestRefusesARedisWithHotlinedKeys(t *testing.T) {
	r := testenv.StartRedis(t)
	if err := r.Client.Set(context.Background(), "hotlined:{0}:wo:WO-20200101-GD-000001", "{}", 0).Err(); err != nil {
		t.Fatal(err)
	}
	p := params(t)
	p.RedisAddr = r.Addr
	tl := `{"at":"2026-11-02T10:00:00+08:00","contact":{"hotline":"10000","ivr_path":"1","caller":"18912340001"}}`
	err := replay.Run(context.Background(), p, strings.NewReader(tl), &bytes.Buffer{})
	if !errors.Is(err, replay.ErrRedisInUse) {
		t.Fatalf("err = %v, want ErrRedisInUse", err)
	}
	p.Force = true
	var out bytes.Buffer
	if err := replay.Run(context.Background(), p, strings.NewReader(tl), &out); err != nil {
		t.Fatalf("with Force: %v", err)
	}
	if !bytes.Contains(out.Bytes(), []byte(`"type":"hotline.workorder.created"`)) {
		t.Fatalf("with Force, no order:\n%s", out.String())
	}
}

// TestForceOnAnEarlierReplay: a timeline replayed with -force into a Redis
// where an earlier replay left its orders keeps its contacts apart from
// the earlier ones of other customers: each label's order is what a
// fresh replay makes of it (its call is this run's, not the earlier
// run's line of the same number, which the call key would answer with).
func TestForceOnAnEarlierReplay(t *testing.T) {
	p := params(t)
	fresh := finals(t, replayFile(t, p, "testdata/repeat_day30.jsonl"))
	p.RedisAddr = testenv.StartRedis(t).Addr
	replayFile(t, p, "testdata/group_same_day.jsonl") // other customers, the same line numbers
	p.Force = true
	second := replayFile(t, p, "testdata/repeat_day30.jsonl")
	got := finals(t, second)
	if len(got) != len(fresh) {
		t.Fatalf("labels %v, a fresh replay's %v", got, fresh)
	}
	for label, want := range fresh {
		if got[label] != want {
			t.Errorf("%s: %s, in a fresh replay %s", label, got[label], want)
		}
	}
	if !bytes.Contains(second, []byte(`"call_id":"replay-2-line-`)) {
		t.Error("the second replay's calls are not its own")
	}
}

// finals are the caller, class and status of each label's final order.
func finals(t *testing.T, out []byte) map[string]string {
	t.Helper()
	m := map[string]string{}
	for l := range bytes.Lines(out) {
		var f struct {
			Label string
			Final *struct{ Caller, Class, Status string }
		}
		if err := json.Unmarshal(l, &f); err != nil {
			t.Fatal(err)
		}
		if f.Final != nil {
			m[f.Label] = f.Final.Caller + " " + f.Final.Class + " " + f.Final.Status
		}
	}
	return m
}

// TestErrorsNameTheLine: malformed or impossible lines stop the replay
// with their line number; lines that no longer apply are skipped and
// reported.
func TestErrorsNameTheLine(t *testing.T) {
	const c1 = `{"at":"2026-11-02T10:00:00+08:00","label":"C1","contact":{"hotline":"10000","ivr_path":"41","caller":"18912340001"}}`
	for _, tc := range []struct{ name, timeline, want string }{
		{"out of order", c1 + "\n# a comment\n\n" + `{"at":"2026-11-02T09:59:59+08:00","status":{"order":"C1","to":"accepted"}}`,
			"line 4: 2026-11-02T09:59:59+08:00 is before line 1's"},
		{"unknown label", c1 + "\n" + `{"at":"2026-11-02T10:00:00+08:00","status":{"order":"C9","to":"accepted"}}`,
			`line 2: status: order "C9": no contact before has this label`},
		{"illegal transition", c1 + "\n" + `{"at":"2026-11-02T10:00:00+08:00","status":{"order":"C1","to":"archived"}}`,
			"line 2: status: update work order WO-20261102-GD-3600000001: illegal status transition"},
		{"unknown key", `{"at":"2026-11-02T10:00:00+08:00","contact":{"hotline":"10000","ivr_pth":"1"}}`,
			`line 1: decode: json: unknown field "ivr_pth"`},
		{"two actions", `{"at":"2026-11-02T10:00:00+08:00","status":{},"ack":{}}`, "line 1: want exactly one of"},
		{"no offset", `{"at":"2026-11-02T10:00:00","status":{"order":"C1","to":"accepted"}}`, "line 1: at: want RFC 3339 with an offset"},
		{"path off the menu", `{"at":"2026-11-02T10:00:00+08:00","contact":{"hotline":"10000","ivr_path":"49"}}`,
			`line 1: contact: ivr_path "49"`},
		{"path short of a leaf", `{"at":"2026-11-02T10:00:00+08:00","contact":{"hotline":"10000","ivr_path":"4"}}`,
			`line 1: contact: ivr_path "4" does not reach a leaf`},
		{"unknown hotline", `{"at":"2026-11-02T10:00:00+08:00","contact":{"hotline":"95555","ivr_path":"1"}}`,
			`line 1: contact: hotline "95555" is not in the config`},
		{"label twice", c1 + "\n" + strings.Replace(c1, "18912340001", "18912340002", 1), `line 2: label "C1": used before`},
		{"followup before resolved", c1 + "\n" + `{"at":"2026-11-02T10:00:00+08:00","followup":{"order":"C1","result":"satisfied"}}`,
			"the order is not resolved"},
		{"ack of a stage no rule has", c1 + "\n" + `{"at":"2026-11-02T10:00:00+08:00","ack":{"order":"C1","stage":"reponse"}}`,
			`line 2: ack: stage "reponse": no policy or rule raises alerts at it (stages: `},
		{"appeal without regulator_transfer", `{"at":"2026-11-02T10:00:00+08:00","contact":{"channel":"web","tier":"appeal","category":"complaint","subcategory":"billing","appeal":{"authority":"GD CA","case_number":"1","received_at":"2026-11-01T10:00:00+08:00","deadline":"2026-11-10T10:00:00+08:00"}}}`,
			"line 1: contact: appeal: only with channel regulator_transfer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := replay.Run(context.Background(), params(t), strings.NewReader(tc.timeline), &bytes.Buffer{})
			var le *replay.LineError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a *LineError containing %q", err, tc.want)
			}
		})
	}

	// A UTF-8 byte order mark before the first line is no error.
	if err := replay.Run(context.Background(), params(t), strings.NewReader("\xef\xbb\xbf"+c1), &bytes.Buffer{}); err != nil {
		t.Errorf("a timeline with a byte order mark: %v", err)
	}

	// An ack with no open alert and a confirmation without an incident do
	// not apply under these rules: reported, and the replay goes on.
	tl := c1 + "\n" + `{"at":"2026-11-02T10:01:00+08:00","ack":{"order":"C1","stage":"reply"}}` + "\n" +
		`{"at":"2026-11-02T10:02:00+08:00","incident":{"member":"C1","action":"confirm"}}` + "\n" +
		`{"at":"2026-11-02T10:03:00+08:00","status":{"order":"C1","to":"accepted"}}`
	var out bytes.Buffer
	if err := replay.Run(context.Background(), params(t), strings.NewReader(tl), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`{"at":"2026-11-02T10:01:00+08:00","line":2,"skipped":"ack: C1 (WO-20261102-GD-3600000001) has no open alert at stage reply"}`,
		`{"at":"2026-11-02T10:02:00+08:00","line":3,"skipped":"incident: C1 (WO-20261102-GD-3600000001) is in no suspected incident"}`,
		`"type":"hotline.workorder.status_changed"`, `"skipped_lines":2`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
}

// TestKilledReplayTakesItsServer: a replay killed outright (kill -9, a
// crash) does not leave its redis-server running: the kernel kills it
// with the thread that started it.
func TestKilledReplayTakesItsServer(t *testing.T) {
	if os.Getenv("REPLAY_HELPER_WAIT") != "" {
		// The child: replay a timeline that never ends (stdin stays open).
		_ = replay.Run(context.Background(), params(t), os.Stdin, io.Discard)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledReplayTakesItsServer$")
	cmd.Env = append(os.Environ(), "REPLAY_HELPER_WAIT=1", "TMPDIR="+t.TempDir()) // what kill -9 leaves goes with the test
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var server int
	for deadline := time.Now().Add(10 * time.Second); server == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the replay started no redis-server")
		}
		if pids := redisServers(t, cmd.Process.Pid); len(pids) > 0 {
			server = pids[0]
		}
	}
	// Go's runtime may end threads meanwhile: give it some work first.
	_, _ = io.WriteString(stdin, `{"at":"2026-11-02T10:00:00+08:00","contact":{"hotline":"10000","ivr_path":"1","caller":"18912340001"}}`+"\n")
	time.Sleep(200 * time.Millisecond)
	if err := syscall.Kill(server, 0); err != nil {
		t.Fatalf("the replay's redis-server %d is gone while the replay runs: %v", server, err)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	for deadline := time.Now().Add(5 * time.Second); syscall.Kill(server, 0) == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(server, syscall.SIGKILL)
			t.Fatalf("redis-server %d still runs after its replay was killed", server)
		}
	}
}

// redisServers are the pids of the redis-server children of parent, read
// from /proc (proc(5): /proc/PID/stat's comm and ppid).
func redisServers(t *testing.T, parent int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("list processes: %v", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(string(stat[end+1:])) // state, ppid, ...
		if len(fields) > 1 && string(stat[open+1:end]) == "redis-server" && fields[1] == strconv.Itoa(parent) {
			pids = append(pids, pid)
		}
	}
	return pids
}
