package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestReplaySubcommand: the golden timeline through the command line, its
// exit codes, and an error that names the file and the line.
func TestReplaySubcommand(t *testing.T) {
	const cfg = "../../configs/hotlined.yaml"
	var out, errs bytes.Buffer
	code := runReplay([]string{"-config", cfg, "-format", "table", "../../daemon/replay/testdata/major_ladder.jsonl"},
		strings.NewReader(""), &out, &errs)
	if code != 0 || !strings.Contains(out.String(), "report_upward: group_customer_service 4") {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, errs.String(), out.String())
	}

	out.Reset()
	errs.Reset()
	bad := `{"at":"2026-11-02T10:00:00+08:00","contact":{"hotline":"10000","ivr_path":"9"}}`
	if code := runReplay([]string{"-config", cfg, "-"}, strings.NewReader(bad), &out, &errs); code != 1 ||
		!strings.Contains(errs.String(), `hotlined replay: -: line 1: contact: ivr_path "9"`) {
		t.Fatalf("bad line: exit %d, stderr %q", code, errs.String())
	}
	if code := runReplay([]string{"-config", cfg}, strings.NewReader(""), &out, &errs); code != 2 {
		t.Fatalf("no timeline: exit %d, want 2", code)
	}
}
