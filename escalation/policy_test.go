package escalation

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotlined/hotlined/configs"
)

const (
	shippedPoliciesFile = "../configs/policies.yaml"
	policyTestdataDir   = "../configs/testdata/policies"
	shippedCalendarFile = "../configs/calendars/cn-2026.yaml"
)

func shippedPolicies(t testing.TB) *Policies {
	t.Helper()
	cal, err := OpenCalendar(shippedCalendarFile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadPolicies(shippedPoliciesFile, cal)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestShippedPolicies(t *testing.T) {
	p := shippedPolicies(t)
	for _, tc := range []struct {
		class, tier, policy string
		stages              []string
	}{
		{"complaint", "province", "complaint", []string{"register", "resolve", "reply", "follow_up"}},
		{"repeat_complaint", "group", "complaint", []string{"register", "resolve", "reply", "follow_up"}},
		{"complaint", "appeal", "complaint_appeal", []string{"register", "resolve", "reply", "follow_up"}},
		{"major_complaint", "appeal", "major_complaint", []string{"report_upward", "register", "resolve", "reply", "follow_up"}},
		{"group_complaint", "province", "group_complaint", []string{"report_upward", "register", "resolve", "reply", "follow_up"}},
		{"consultation", "province", "consultation", []string{"answer"}},
		{"query", "group", "consultation", []string{"answer"}},
		{"fault_report", "province", "fault_report", []string{"register", "resolve"}},
	} {
		pol := p.For(tc.class, tc.tier)
		if pol == nil || pol.Name != tc.policy {
			t.Errorf("For(%s, %s) = %v, want %s", tc.class, tc.tier, pol, tc.policy)
			continue
		}
		var names []string
		for _, st := range pol.Stages {
			names = append(names, st.Name)
		}
		if !slices.Equal(names, tc.stages) {
			t.Errorf("%s stages %v, want %v", tc.policy, names, tc.stages)
		}
	}
	// The numbers of DOMAIN.md.
	c := p.Policy("complaint")
	for stage, want := range map[string]string{"register": "2h", "resolve": "3 working days", "reply": "15d", "follow_up": "7d"} {
		if got := c.Stage(stage).Within.String(); got != want {
			t.Errorf("complaint %s within %s, want %s", stage, got, want)
		}
	}
	if got := p.Policy("consultation").Stage("answer").Within.D; got != 24*time.Hour {
		t.Errorf("consultation answer within %s", got)
	}
	if w := c.Stage("resolve").Warnings; !slices.Equal(w, []float64{0.5, 0.8}) {
		t.Errorf("warnings %v", w)
	}
	if l := c.Ladder; len(l) != 3 || l[0].Level != "team_lead" || l[1].Level != "provincial_complaint_centre" ||
		l[2].Level != "group_customer_service" || c.RepeatEvery <= 0 {
		t.Errorf("ladder %+v repeat %s", l, c.RepeatEvery)
	}
	if st := p.Policy("major_complaint").Stage("report_upward"); !st.AtOnce || st.Severity != SeverityMajor {
		t.Errorf("major alert at once %+v", st)
	}
	if !slices.Equal(p.PauseOn(), []string{"pending_customer"}) || !slices.Equal(p.ResolveAlertsOn(), []string{"resolved"}) {
		t.Errorf("pause_on %v resolve_alerts_on %v", p.PauseOn(), p.ResolveAlertsOn())
	}
}

// TestPoliciesTestdata loads each configs/testdata/policies/*.yaml:
// good_*.yaml must load, every other file must fail with the message in
// its first line ("# want: ..."), naming the file.
func TestPoliciesTestdata(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(policyTestdataDir, "*.yaml"))
	if err != nil || len(files) < 20 {
		t.Fatalf("testdata: %d files, %v", len(files), err)
	}
	cal := FixedCalendar(shippedCalendar(t, "cn-2026.yaml"))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, loadErr := LoadPolicies(f, cal)
			if strings.HasPrefix(filepath.Base(f), "good_") {
				if loadErr != nil || p == nil {
					t.Fatalf("want success, got %v", loadErr)
				}
				return
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatalf("first line must be '# want: <error text>'")
			}
			if loadErr == nil || p != nil {
				t.Fatalf("want error containing %q, got success", want)
			}
			if !strings.Contains(loadErr.Error(), want) {
				t.Fatalf("error %q\n does not contain %q", loadErr, want)
			}
			if !strings.Contains(loadErr.Error(), f) {
				t.Errorf("error %q does not name the file", loadErr)
			}
			var pe *PolicyError
			if !errors.As(loadErr, &pe) {
				t.Errorf("error %T is not a *PolicyError", loadErr)
			}
		})
	}
}

func TestPoliciesWorkingTimeNeedsCalendar(t *testing.T) {
	_, err := LoadPolicies(shippedPoliciesFile, nil)
	if err == nil || !strings.Contains(err.Error(), `policies[0].stages[1].within: "3 working days" needs the working-day calendar: set escalation.calendar_file`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := LoadPolicies(filepath.Join(policyTestdataDir, "good_minimal.yaml"), nil); err != nil {
		t.Errorf("wall-clock limits need no calendar: %v", err)
	}
}

func TestPoliciesErrorsAreAllReported(t *testing.T) {
	_, err := LoadPolicies(filepath.Join(policyTestdataDir, "bad_several.yaml"), nil)
	for _, want := range []string{
		"policies[0].stages[0].within: must be > 0, got -2h (line 7)",
		"policies[0].stages[1].starts_on: must not be empty (leave it out for [created]) (line 8)",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\n lacks %q", err, want)
		}
	}
}

func TestLoadPoliciesMissingFile(t *testing.T) {
	if _, err := LoadPolicies("testdata/no-such-file.yaml", nil); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}

// FuzzLoadPolicies feeds arbitrary files to the loader: it must never
// panic, must return either policies or an error, and whatever it accepts
// must plan an order of every class and tier through its statuses without
// panicking, with timers only for counting stages.
func FuzzLoadPolicies(f *testing.F) {
	for _, name := range []string{shippedPoliciesFile, filepath.Join(policyTestdataDir, "good_overrides.yaml")} {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	cal := FixedCalendar(shippedCalendar(f, "cn-2026.yaml"))
	start := time.Date(2026, 2, 13, 17, 30, 0, 0, shanghai)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicies(data, cal)
		if err != nil {
			if p != nil {
				t.Fatal("policies returned with an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for _, class := range []string{"complaint", "major_complaint", "consultation"} {
			in := PlanInput{WorkOrderID: "WO-20260213-GD-000001", Class: class, Tier: "appeal", Status: "new"}
			plan := p.Plan(in, start)
			now := start
			for _, status := range []string{"accepted", "pending_customer", "in_progress", "resolved", "reopened", "resolved", "archived"} {
				now = now.Add(90 * time.Minute)
				in.Status, in.SLA, in.Deadlines = status, plan.SLA, plan.Deadlines
				in.Path = append(in.Path, status)
				plan = p.Transition(in, now)
				for _, tm := range plan.Timers {
					if s := plan.SLA[tm.Stage]; !s.Running() || s.Paused() {
						t.Fatalf("timer for stage %s in state %+v", tm.Stage, s)
					}
				}
			}
			in.Class = "complaint"
			p.Reclassify(in, now)
		}
	})
}

func TestShippedPoliciesDayKinds(t *testing.T) {
	p := shippedPolicies(t)
	for _, pol := range p.List() {
		for tier, want := range map[string]string{"province": DayKindWorking, "group": DayKindNatural, "appeal": DayKindNatural} {
			if got := pol.DayKind(tier); got != want {
				t.Errorf("policy %s on tier %s: day kind %s, want %s", pol.Name, tier, got, want)
			}
		}
	}
	good, err := LoadPolicies(filepath.Join(policyTestdataDir, "good_day_kinds.yaml"), FixedCalendar(shippedCalendar(t, "cn-2026.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	if k := good.Policy("fault_report").DayKind("appeal"); k != DayKindWorking {
		t.Errorf("a policy's day_kind beats the tier's: got %s", k)
	}
	if k := good.Policy("complaint").DayKind("appeal"); k != DayKindNatural {
		t.Errorf("complaint on appeal: %s", k)
	}
}

// The calendar and policy loaders return the config's error type, with the
// key path and line in their fields, as the config and rules loaders do.
func TestLoaderErrorsAreConfigErrors(t *testing.T) {
	_, calErr := ParseCalendar([]byte("years:\n  2026:\n    holidays: [\"2026-02-30\"]\n"))
	_, polErr := LoadPolicies(filepath.Join(policyTestdataDir, "bad_day_kind.yaml"), nil)
	for _, tc := range []struct {
		err        error
		path, file string
		line       int
	}{
		{calErr, "years.2026.holidays[0]", "", 3},
		{polErr, "policies[0].day_kind", filepath.Join(policyTestdataDir, "bad_day_kind.yaml"), 6},
	} {
		var ce *configs.Error
		if !errors.As(tc.err, &ce) || ce.Path != tc.path || ce.Line != tc.line || ce.File != tc.file {
			t.Errorf("%v: %#v, want a *configs.Error at %s line %d", tc.err, ce, tc.path, tc.line)
		}
	}
}
