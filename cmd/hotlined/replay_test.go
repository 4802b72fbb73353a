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
	if code := runReplay([]string{"-h"}, strings.NewReader(""), &out, &errs); code != 0 {
		t.Errorf("-h: exit %d, want 0", code)
	}
	// Bad usage: exit 2 and a sentence that says what to do, before any
	// Redis starts.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"a.jsonl", "-format", "table"}, `one timeline, and the flags before it (got ["-format" "table"] after "a.jsonl")`},
		{[]string{"-redis", "/tmp/x.sock", "-embedded", "miniredis", "a.jsonl"}, "-embedded is the replay's own Redis: not with -redis"},
		{[]string{"-force", "a.jsonl"}, "-force is for a Redis named with -redis"},
		{[]string{"-format", "xml", "a.jsonl"}, `-format "xml": want json, table or summary`},
		{[]string{"-embedded", "valkey", "a.jsonl"}, `-embedded "valkey": want auto, redis-server or miniredis`},
		{[]string{"-log-level", "loud", "a.jsonl"}, `-log-level "loud": want trace, debug, info, warn or error`},
		{[]string{"-config", cfg, "no-such.jsonl"}, "open no-such.jsonl: no such file or directory"},
	} {
		errs.Reset()
		if code := runReplay(tc.args, strings.NewReader(""), &out, &errs); code != 2 || !strings.Contains(errs.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, errs.String(), tc.want)
		}
	}
}
