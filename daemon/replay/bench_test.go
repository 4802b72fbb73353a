package replay_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlined/hotlined/daemon/replay"
)

// month is a synthetic month of contacts on the shipped menu, from 2026-11-01
// to 2026-12-01, with the agents' steps that close them: n contacts, 80% on
// 10000 (province GD), 15% on 4008810000 and 5% on 12300 (31 provinces by
// X-Province); 35% bill queries, 15% consultations, 15% fault reports, 35%
// complaints (one in twenty threatening the media, one in twenty the
// regulator). Queries and consultations are resolved within the hour;
// fault reports and complaints accepted within the hour and resolved in one
// to three days, one in ten late (five to nine days). Every order is then
// archived by the sweeper seven days after resolution, and one customer in
// ten calls again after that (repeat complaints). The result is in time
// order; seed fixes it.
func month(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	loc := time.FixedZone("CST", 8*3600)
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, loc)
	span := 30 * 24 * time.Hour
	provinces := []string{"BJ", "TJ", "HE", "SX", "NM", "LN", "JL", "HL", "SH", "JS", "ZJ", "AH", "FJ", "JX", "SD", "HA",
		"HB", "HN", "GD", "GX", "HI", "CQ", "SC", "GZ", "YN", "XZ", "SN", "GS", "QH", "NX", "XJ"}
	type line struct {
		at   time.Time
		seq  int
		text string
	}
	lines := make([]line, 0, 3*n)
	add := func(at time.Time, format string, args ...any) {
		lines = append(lines, line{at, len(lines), fmt.Sprintf(`{"at":%q,`, at.Format(time.RFC3339)) + fmt.Sprintf(format, args...) + "}"})
	}
	for i := range n {
		at := start.Add(time.Duration(rng.Int64N(int64(span))) / time.Second * time.Second)
		number := fmt.Sprintf("189%08d", i) // one customer per contact: no urges, so every label's steps apply
		hotline, province := "10000", ""
		switch r := rng.IntN(100); {
		case r < 15:
			hotline, province = "4008810000", provinces[rng.IntN(len(provinces))]
		case r < 20:
			hotline, province = "12300", provinces[rng.IntN(len(provinces))]
		}
		var path string
		complaint := false
		switch r := rng.IntN(100); {
		case r < 35:
			path = "1"
		case r < 50:
			path = "2"
		case r < 65:
			path = fmt.Sprintf("3%d", 1+rng.IntN(3))
		default:
			complaint = true
			path = fmt.Sprintf("4%d", 1+rng.IntN(3))
			if k := rng.IntN(20); k == 0 {
				path = "44"
			} else if k == 1 {
				path = "45"
			}
		}
		prov := ""
		if province != "" {
			prov = fmt.Sprintf(`,"province":%q`, province)
		}
		label := fmt.Sprintf("C%d", i)
		add(at, `"label":%q,"contact":{"hotline":%q,"ivr_path":%q,"caller":%q,"service_number":%q%s}`,
			label, hotline, path, number, number, prov)
		handle(add, rng, label, at, path)
		if again := at.Add(12 * 24 * time.Hour); complaint && rng.IntN(10) == 0 && again.Before(start.Add(span)) {
			label := label + "-again"
			add(again, `"label":%q,"contact":{"hotline":"10000","ivr_path":"41","caller":%q,"service_number":%q}`,
				label, number, number)
			handle(add, rng, label, again, "41")
		}
	}
	slices.SortFunc(lines, func(a, b line) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// handle adds the agents' steps on the order label of a contact at at with
// path: queries and consultations resolved within the hour; fault reports
// and complaints accepted within the hour and resolved in one to three
// days, one in thirty late (four to six days); the alert a major complaint
// raises at once acknowledged within a quarter of an hour.
func handle(add func(time.Time, string, ...any), rng *rand.Rand, label string, at time.Time, path string) {
	resolved := at.Add(time.Duration(5+rng.IntN(55)) * time.Minute)
	if path[0] == '3' || path[0] == '4' {
		add(at.Add(time.Duration(1+rng.IntN(59))*time.Minute), `"status":{"order":%q,"to":"accepted"}`, label)
		days := 1 + rng.IntN(3)
		if rng.IntN(30) == 0 {
			days = 4 + rng.IntN(3)
		}
		resolved = at.Add(time.Duration(days)*24*time.Hour + time.Duration(rng.IntN(600))*time.Minute)
	}
	if path == "44" {
		add(at.Add(time.Duration(1+rng.IntN(14))*time.Minute), `"ack":{"order":%q,"stage":"report_upward"}`, label)
	}
	add(resolved, `"status":{"order":%q,"to":"resolved"}`, label)
}

// BenchmarkReplayMonth replays a synthetic month (BENCHMARKS.md, make
// bench-replay), the output discarded: 100,000 contacts into the replay's
// own redis-server (as hotlined replay does by default: paired with it on
// one CPU) and into a redis-server named by -redis (a unix socket, not
// paired: the baseline of the same run), and 10,000 into miniredis. It
// reports contacts per second and the lines of the timeline.
func BenchmarkReplayMonth(b *testing.B) {
	for _, bc := range []struct {
		name     string
		contacts int
		embedded string // "" names a redis-server of the benchmark's own
	}{{"own-redis-server", 100_000, replay.EmbeddedServer}, {"named-redis-server", 100_000, ""}, {"miniredis", 10_000, replay.EmbeddedMemory}} {
		b.Run(fmt.Sprintf("%s/%d", bc.name, bc.contacts), func(b *testing.B) {
			tl := month(bc.contacts, 17)
			p := params(b)
			p.Embedded = bc.embedded
			for b.Loop() {
				if bc.embedded == "" {
					b.StopTimer()
					p.RedisAddr = startRedisUnix(b)
					b.StartTimer()
				}
				if err := replay.Run(context.Background(), p, bytes.NewReader(tl), io.Discard); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bc.contacts*b.N)/b.Elapsed().Seconds(), "contacts/s")
			b.ReportMetric(float64(bytes.Count(tl, []byte("\n"))), "lines")
		})
	}
}

// TestSyntheticMonthReplays replays a small synthetic month, so the
// generator and a long run of the engine are checked on every test run.
func TestSyntheticMonthReplays(t *testing.T) {
	var out bytes.Buffer
	if err := replay.Run(context.Background(), params(t), bytes.NewReader(month(500, 17)), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"type":"hotline.workorder.status_changed"`, `"to":"archived"`, `"repeat_complaint"`, `"type":"hotline.alert.raised"`} {
		if !bytes.Contains(out.Bytes(), []byte(want)) {
			t.Errorf("a month of 500 contacts shows no %s", want)
		}
	}
}

// startRedisUnix starts a redis-server listening only on a unix socket
// (the fastest way to -redis on one machine) and stops it when the
// test or benchmark ends; it returns the socket's path.
func startRedisUnix(b testing.TB) string {
	b.Helper()
	sock := filepath.Join(b.TempDir(), "redis.sock")
	cmd := exec.Command("redis-server", "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		b.Fatalf("start redis-server (make deps installs it): %v", err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	client := redis.NewClient(&redis.Options{Network: "unix", Addr: sock})
	defer client.Close()
	for deadline := time.Now().Add(5 * time.Second); client.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			b.Fatal("redis-server did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return sock
}
