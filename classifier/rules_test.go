package classifier

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hotlined/hotlined/configs"
)

const rulesTestdata = "../configs/testdata/rules"

// TestShippedRulesAreTheDefaults: configs/rules.yaml shows the built-in
// defaults, so reading it must change nothing.
func TestShippedRulesAreTheDefaults(t *testing.T) {
	shipped, err := LoadRules("../configs/rules.yaml")
	if err != nil {
		t.Fatalf("shipped rules: %v", err)
	}
	def := DefaultRules()
	shipped.matcher, def.matcher = nil, nil
	if !reflect.DeepEqual(shipped, def) {
		t.Errorf("configs/rules.yaml differs from DefaultRules():\nfile:     %+v\ndefaults: %+v", shipped, def)
	}
}

// TestRulesTestdata loads each configs/testdata/rules/*.yaml: good_*.yaml
// must load, every other file must fail with the message in its first line
// ("# want: ...") and name the file.
func TestRulesTestdata(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(rulesTestdata, "*.yaml"))
	if err != nil || len(files) < 10 {
		t.Fatalf("testdata: %d files, %v", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, loadErr := LoadRules(f)
			if strings.HasPrefix(filepath.Base(f), "good_") {
				if loadErr != nil {
					t.Fatalf("want success, got %v", loadErr)
				}
				return
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatalf("first line must be '# want: <error text>'")
			}
			if loadErr == nil {
				t.Fatalf("want error containing %q, got success", want)
			}
			if !strings.Contains(loadErr.Error(), want) {
				t.Fatalf("error %q\n does not contain %q", loadErr, want)
			}
			if !strings.Contains(loadErr.Error(), f) {
				t.Errorf("error %q does not name the file", loadErr)
			}
		})
	}
}

func TestCustomRulesApply(t *testing.T) {
	r, err := LoadRules(filepath.Join(rulesTestdata, "good_custom.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Priority(configs.ClassFaultReport, 0) != 2 || r.Priority(configs.ClassQuery, 0) != 4 {
		t.Errorf("priorities %v: the file's value and the default for the rest", r.Priorities)
	}
	if r.RepeatComplaint.WindowDays != 15 || r.UnsatisfiedWithResult.Window.D() != 30*24*time.Hour {
		t.Errorf("windows %v %v", r.RepeatComplaint.WindowDays, r.UnsatisfiedWithResult.Window.D())
	}
	if r.Priority(configs.ClassComplaint, 3) != 2 {
		t.Errorf("urge step 0 still changes the priority")
	}
	day := r.GroupComplaint.SameDay
	if day.Threshold != 2 || len(day.Tiers) != 1 || day.RequiresConfirmation {
		t.Errorf("same_day %+v", day)
	}
	if m := r.GroupComplaint.SameMonth; m.Threshold != 10 || m.RequiresConfirmation || len(m.Tiers) != 3 {
		t.Errorf("same_month %+v: the file's fields and the default tiers", m)
	}
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)
	d := r.Classify(Input{Category: "complaint", Subcategory: "network", ServiceNumber: "18912345678", Now: now,
		Texts: []string{"I told the press; 我还要找媒体"}})
	if d.Class != configs.ClassMajorComplaint || len(d.Major) != 1 || d.Major[0].Rule != "press" {
		t.Errorf("the file's keywords replace the defaults: %s %+v", d.Class, d.Major)
	}
}

func TestLoadRulesMissingFile(t *testing.T) {
	_, err := LoadRules(filepath.Join(t.TempDir(), "none.yaml"))
	if err == nil || !strings.Contains(err.Error(), "none.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestParseRulesTooLarge(t *testing.T) {
	if _, err := ParseRules(make([]byte, MaxRulesBytes+1)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversize: %v", err)
	}
}

// FuzzParseRules: any input either loads into rules that classify without
// panicking, or fails with a non-empty error and no rules.
func FuzzParseRules(f *testing.F) {
	if data, err := os.ReadFile("../configs/rules.yaml"); err == nil {
		f.Add(data)
	}
	files, _ := filepath.Glob(filepath.Join(rulesTestdata, "*.yaml"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRules(data)
		if err != nil {
			if r != nil {
				t.Fatal("rules returned with an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for _, tier := range configs.Tiers {
			d := r.Classify(Input{Tier: tier, Category: "complaint", Subcategory: "billing", ServiceNumber: "18912345678",
				Now: now, Texts: []string{"记者 lawyer ＭＩＩＴ 12315"}})
			if d.Priority < 1 || d.Priority > 5 || len(d.Reasons) == 0 {
				t.Fatalf("decision %+v", d)
			}
			for _, w := range r.GroupWindows(tier, "GD", "billing.overcharge", "billing", now, shanghai) {
				if w.Threshold < 2 || !w.End.After(w.Start) {
					t.Fatalf("window %+v", w)
				}
			}
		}
	})
}
