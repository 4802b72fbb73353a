package ivr

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hotlined/hotlined/configs"
)

func defaultMenu(t testing.TB) *configs.Node {
	t.Helper()
	cfg, err := configs.Load("../configs/hotlined.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Menus["default"]
}

func TestPress(t *testing.T) {
	menu := defaultMenu(t)
	tests := []struct {
		keys        string
		want        []Result
		path        string
		category    string
		subcategory string
		number      string
	}{
		{"1", []Result{Done}, "1", "query", "billing", ""},
		{"2", []Result{Done}, "2", "consultation", "product", ""},
		{"0", []Result{Done}, "0", "consultation", "agent", ""},
		{"31#", []Result{Continue, Continue, Done}, "31", "fault_report", "broadband", "18912345678"},
		{"3318912340000#", nil, "33", "fault_report", "fixed_line", "18912340000"},
		{"42075512345678#", nil, "42", "complaint", "network", "075512345678"},
		{"9", []Result{InvalidKey}, "", "", "", ""},
		{"*", []Result{Repeat}, "", "", "", ""},
		{"39", []Result{Continue, InvalidKey}, "3", "", "", ""},
		{"41123#", []Result{Continue, Continue, Continue, Continue, Continue, InvalidNumber}, "41", "complaint", "billing", ""},
		{"41123#18912345678#", nil, "41", "complaint", "billing", "18912345678"},
		{"41123*#", []Result{Continue, Continue, Continue, Continue, Continue, Repeat, Done}, "41", "complaint", "billing", "18912345678"},
		{"4112345678901234567890#", nil, "41", "complaint", "billing", ""},
		{"11", []Result{Done, Done}, "1", "query", "billing", ""},
	}
	for _, tc := range tests {
		t.Run(tc.keys, func(t *testing.T) {
			s := NewSession(menu, "18912345678")
			var got []Result
			for i := 0; i < len(tc.keys); i++ {
				got = append(got, s.Press(tc.keys[i]))
			}
			if tc.want != nil {
				if len(got) != len(tc.want) {
					t.Fatalf("results %v, want %v", got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("results %v, want %v", got, tc.want)
					}
				}
			}
			if s.Path() != tc.path {
				t.Errorf("path %q, want %q", s.Path(), tc.path)
			}
			leaf := s.Leaf()
			if tc.category == "" {
				if leaf != nil {
					t.Errorf("leaf %+v, want none", leaf)
				}
				return
			}
			if leaf == nil || leaf.Category != tc.category || leaf.Subcategory != tc.subcategory {
				t.Fatalf("leaf %+v, want %s/%s", leaf, tc.category, tc.subcategory)
			}
			if s.ServiceNumber() != tc.number {
				t.Errorf("service number %q, want %q", s.ServiceNumber(), tc.number)
			}
			if s.Done() != (tc.number != "" || !leaf.CollectServiceNumber) {
				t.Errorf("done = %v", s.Done())
			}
		})
	}
}

func TestFeedPath(t *testing.T) {
	menu := defaultMenu(t)
	s := NewSession(menu, "02012345678")
	r, err := s.FeedPath("44")
	if err != nil || r != Continue || !s.Collecting() {
		t.Fatalf("FeedPath(44) = %v, %v, collecting %v", r, err, s.Collecting())
	}
	if !s.Leaf().PublicOpinionRisk || s.Leaf().EscalationTendency {
		t.Errorf("4 4 must carry public-opinion risk (media), not escalation tendency")
	}
	if r := s.SetServiceNumber("123"); r != InvalidNumber {
		t.Errorf("SetServiceNumber(123) = %v", r)
	}
	if r := s.SetServiceNumber(""); r != Done || s.ServiceNumber() != "02012345678" {
		t.Errorf("SetServiceNumber('') = %v, %q", r, s.ServiceNumber())
	}

	for _, bad := range []string{"5", "3*", "4x"} {
		_, err := NewSession(menu, "").FeedPath(bad)
		if !errors.Is(err, ErrBadPath) {
			t.Errorf("FeedPath(%q) err = %v, want ErrBadPath", bad, err)
		}
	}
}

func TestValidServiceNumber(t *testing.T) {
	for n, want := range map[string]bool{
		"18912345678":  true,
		"13000000000":  true,
		"12345678901":  false, // 12x is no mobile range
		"1891234567":   false,
		"189123456789": false,
		"02012345678":  true, // 020 + 8 digits
		"07551234567":  true, // 0755 + 7 digits
		"075512345678": true, // 0755 + 8 digits
		"0201234567":   true, // 020 + 7 digits
		"020123456":    false,
		"00012345678":  false,
		"":             false,
		"1891234567a":  false,
	} {
		if got := ValidServiceNumber(n); got != want {
			t.Errorf("ValidServiceNumber(%q) = %v, want %v", n, got, want)
		}
	}
}

// t0 is the injected clock's start; every step's time is an offset from it.
var t0 = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

const (
	sec  = time.Second
	none = time.Duration(-1) // no deadline
)

// step is one event of a live call: a key ("0"-"9", "*", "#"), "prompt"
// (PromptDone) or "tick" (Tick), at t0+at; then what the session says.
type step struct {
	at     time.Duration
	do     string
	want   Result // of a key or a tick
	prompt string // Prompt() after the step
	due    time.Duration
}

// end is how a session ended.
type end struct {
	reason   Reason
	fallback bool
	path     string
	leaf     string // category/subcategory
	number   string
}

func runSteps(t *testing.T, s *Session, steps []step) {
	t.Helper()
	for i, st := range steps {
		now := t0.Add(st.at)
		var got Result
		switch st.do {
		case "prompt":
			s.PromptDone(now)
		case "tick":
			got = s.Tick(now)
		default:
			got = s.PressAt(st.do[0], now)
		}
		if st.do != "prompt" && got != st.want {
			t.Fatalf("step %d (%s at %v): result %v, want %v", i, st.do, st.at, got, st.want)
		}
		if p := s.Prompt(); p != st.prompt {
			t.Fatalf("step %d (%s at %v): prompt %q, want %q", i, st.do, st.at, p, st.prompt)
		}
		d, ok := s.Deadline()
		switch {
		case st.due == none && ok:
			t.Fatalf("step %d (%s at %v): deadline %v, want none", i, st.do, st.at, d.Sub(t0))
		case st.due != none && (!ok || !d.Equal(t0.Add(st.due))):
			t.Fatalf("step %d (%s at %v): deadline %v (%v), want %v", i, st.do, st.at, d.Sub(t0), ok, st.due)
		}
	}
}

func checkEnd(t *testing.T, s *Session, want end) {
	t.Helper()
	if !s.Done() {
		t.Fatalf("session not done")
	}
	leaf := s.Leaf()
	if leaf == nil {
		t.Fatalf("done without a leaf")
	}
	got := end{s.EndReason(), s.Fallback(), s.Path(), leaf.Category + "/" + leaf.Subcategory, s.ServiceNumber()}
	if got != want {
		t.Errorf("ended %+v, want %+v", got, want)
	}
}

func TestLiveSession(t *testing.T) {
	menu := defaultMenu(t)
	const m3 = 3 * time.Minute // the default MaxDuration deadline
	agent := "consultation/agent"
	tests := []struct {
		name  string
		opts  Options
		steps []step
		end   *end // nil: the session must still run
	}{
		{
			name: "first-digit timeout replays the menu, then a choice",
			steps: []step{
				{2 * sec, "prompt", 0, "", 7 * sec},
				{6 * sec, "tick", Continue, "", 7 * sec}, // early tick: nothing changes
				{7 * sec, "tick", Timeout, "main", m3},
				{9 * sec, "prompt", 0, "", 14 * sec},
				{10 * sec, "1", Done, "", none},
			},
			end: &end{ReasonChoice, false, "1", "query/billing", ""},
		},
		{
			name: "no input MaxRetries times, then the fallback",
			steps: []step{
				{2 * sec, "prompt", 0, "", 7 * sec},
				{7 * sec, "tick", Timeout, "main", m3},
				{9 * sec, "prompt", 0, "", 14 * sec},
				{14 * sec, "tick", Timeout, "main", m3},
				{16 * sec, "prompt", 0, "", 21 * sec},
				{21 * sec, "tick", Timeout, "main", m3},
				{23 * sec, "prompt", 0, "", 28 * sec},
				{28 * sec, "tick", Done, "", none},
			},
			end: &end{ReasonNoInput, true, "", agent, ""},
		},
		{
			name: "invalid keys MaxRetries times, then the fallback",
			steps: []step{
				{1 * sec, "9", InvalidKey, PromptInvalidKey, m3}, // barge-in
				{2 * sec, "prompt", 0, "main", m3},
				{6 * sec, "prompt", 0, "", 11 * sec},
				{7 * sec, "9", InvalidKey, PromptInvalidKey, m3},
				{8 * sec, "#", InvalidKey, PromptInvalidKey, m3},
				{9 * sec, "5", Done, "", none},
			},
			end: &end{ReasonInvalidKey, true, "", agent, ""},
		},
		{
			name: "invalid keys and no input share the count",
			steps: []step{
				{1 * sec, "9", InvalidKey, PromptInvalidKey, m3},
				{2 * sec, "prompt", 0, "main", m3},
				{6 * sec, "prompt", 0, "", 11 * sec},
				{11 * sec, "tick", Timeout, "main", m3},
				{12 * sec, "8", InvalidKey, PromptInvalidKey, m3},
				{13 * sec, "7", Done, "", none},
			},
			end: &end{ReasonInvalidKey, true, "", agent, ""},
		},
		{
			name: "the count starts again at a new menu level",
			steps: []step{
				{1 * sec, "9", InvalidKey, PromptInvalidKey, m3},
				{2 * sec, "9", InvalidKey, PromptInvalidKey, m3},
				{3 * sec, "9", InvalidKey, PromptInvalidKey, m3},
				{4 * sec, "3", Continue, "fault", m3},
				{5 * sec, "9", InvalidKey, PromptInvalidKey, m3},
				{6 * sec, "9", InvalidKey, PromptInvalidKey, m3},
				{7 * sec, "9", InvalidKey, PromptInvalidKey, m3},
				{8 * sec, "2", Continue, PromptServiceNumber, m3},
				{9 * sec, "#", Done, "", none},
			},
			end: &end{ReasonChoice, false, "32", "fault_report/mobile", "18912345678"},
		},
		{
			name: "* repeats without counting as a retry",
			steps: []step{
				{1 * sec, "9", InvalidKey, PromptInvalidKey, m3},
				{2 * sec, "9", InvalidKey, PromptInvalidKey, m3},
				{3 * sec, "9", InvalidKey, PromptInvalidKey, m3},
				{4 * sec, "*", Repeat, "main", m3},
				{5 * sec, "*", Repeat, "main", m3},
				{6 * sec, "*", Repeat, "main", m3},
				{7 * sec, "*", Repeat, "main", m3},
				{20 * sec, "prompt", 0, "", 25 * sec},
				{21 * sec, "4", Continue, "complaint", m3},
				{22 * sec, "1", Continue, PromptServiceNumber, m3},
				{23 * sec, "1", Continue, "", 26 * sec},
				{24 * sec, "*", Repeat, PromptServiceNumber, m3}, // clears the digits
				{30 * sec, "prompt", 0, "", 35 * sec},
				{31 * sec, "#", Done, "", none},
			},
			end: &end{ReasonChoice, false, "41", "complaint/billing", "18912345678"},
		},
		{
			name: "the agent key at a sub-menu goes to the fallback leaf",
			steps: []step{
				{1 * sec, "3", Continue, "fault", m3},
				{2 * sec, "0", Done, "", none},
			},
			end: &end{ReasonAgentKey, false, "30", agent, ""},
		},
		{
			name: "an explicit option for the agent key wins",
			steps: []step{
				{1 * sec, "0", Done, "", none},
			},
			end: &end{ReasonChoice, false, "0", agent, ""},
		},
		{
			name: "another agent key",
			opts: Options{AgentKey: '9'},
			steps: []step{
				{1 * sec, "4", Continue, "complaint", m3},
				{2 * sec, "0", InvalidKey, PromptInvalidKey, m3},
				{3 * sec, "9", Done, "", none},
			},
			end: &end{ReasonAgentKey, false, "49", agent, ""},
		},
		{
			name: "no agent key",
			opts: Options{NoAgentKey: true},
			steps: []step{
				{1 * sec, "3", Continue, "fault", m3},
				{2 * sec, "0", InvalidKey, PromptInvalidKey, m3},
			},
		},
		{
			name: "the agent key is a digit in the service number",
			steps: []step{
				{1 * sec, "4", Continue, "complaint", m3},
				{2 * sec, "2", Continue, PromptServiceNumber, m3},
				{3 * sec, "0", Continue, "", 6 * sec},
				{4 * sec, "2", Continue, "", 7 * sec},
				{5 * sec, "0", Continue, "", 8 * sec},
				{6 * sec, "1", Continue, "", 9 * sec},
				{7 * sec, "2", Continue, "", 10 * sec},
				{8 * sec, "3", Continue, "", 11 * sec},
				{9 * sec, "4", Continue, "", 12 * sec},
				{10 * sec, "5", Continue, "", 13 * sec},
				{11 * sec, "6", Continue, "", 14 * sec},
				{12 * sec, "7", Continue, "", 15 * sec},
				{13 * sec, "8", Continue, "", 16 * sec},
				{14 * sec, "#", Done, "", none},
			},
			end: &end{ReasonChoice, false, "42", "complaint/network", "02012345678"},
		},
		{
			name: "a pause after a complete number ends the entry",
			steps: []step{
				{1 * sec, "3", Continue, "fault", m3},
				{2 * sec, "1", Continue, PromptServiceNumber, m3},
				{5 * sec, "prompt", 0, "", 10 * sec},
				{6 * sec, "1", Continue, "", 9 * sec},
				{6 * sec, "3", Continue, "", 9 * sec},
				{7 * sec, "9", Continue, "", 10 * sec},
				{7 * sec, "1", Continue, "", 10 * sec},
				{7 * sec, "2", Continue, "", 10 * sec},
				{8 * sec, "3", Continue, "", 11 * sec},
				{8 * sec, "4", Continue, "", 11 * sec},
				{8 * sec, "5", Continue, "", 11 * sec},
				{9 * sec, "6", Continue, "", 12 * sec},
				{10 * sec, "7", Continue, "", 13 * sec},
				{11 * sec, "8", Continue, "", 14 * sec},
				{13 * sec, "tick", Continue, "", 14 * sec},
				{14 * sec, "tick", Done, "", none},
			},
			end: &end{ReasonChoice, false, "31", "fault_report/broadband", "13912345678"},
		},
		{
			name: "a pause after an incomplete number is an invalid number",
			steps: []step{
				{1 * sec, "3", Continue, "fault", m3},
				{2 * sec, "1", Continue, PromptServiceNumber, m3},
				{3 * sec, "1", Continue, "", 6 * sec},
				{4 * sec, "8", Continue, "", 7 * sec},
				{7 * sec, "tick", InvalidNumber, PromptInvalidNumber, m3},
				{10 * sec, "prompt", 0, "", 15 * sec},
				{15 * sec, "tick", Timeout, PromptServiceNumber, m3}, // no digit: a first-digit timeout
				{18 * sec, "prompt", 0, "", 23 * sec},
				{19 * sec, "#", Done, "", none},
			},
			end: &end{ReasonChoice, false, "31", "fault_report/broadband", "18912345678"},
		},
		{
			name: "invalid numbers MaxRetries times, then the fallback",
			steps: []step{
				{1 * sec, "4", Continue, "complaint", m3},
				{2 * sec, "1", Continue, PromptServiceNumber, m3},
				{3 * sec, "1", Continue, "", 6 * sec},
				{4 * sec, "#", InvalidNumber, PromptInvalidNumber, m3},
				{5 * sec, "2", Continue, "", 8 * sec},
				{6 * sec, "#", InvalidNumber, PromptInvalidNumber, m3},
				{9 * sec, "prompt", 0, "", 14 * sec},
				{14 * sec, "tick", Timeout, PromptServiceNumber, m3},
				{15 * sec, "3", Continue, "", 18 * sec},
				{16 * sec, "#", Done, "", none},
			},
			end: &end{ReasonInvalidNumber, true, "41", agent, ""},
		},
		{
			name: "MaxDuration passes during number entry",
			opts: Options{MaxDuration: 20 * sec},
			steps: []step{
				{1 * sec, "prompt", 0, "", 6 * sec},
				{2 * sec, "4", Continue, "complaint", 20 * sec},
				{3 * sec, "1", Continue, PromptServiceNumber, 20 * sec},
				{8 * sec, "prompt", 0, "", 13 * sec},
				{12 * sec, "1", Continue, "", 15 * sec},
				{14 * sec, "8", Continue, "", 17 * sec},
				{16 * sec, "9", Continue, "", 19 * sec},
				{18 * sec, "1", Continue, "", 20 * sec}, // MaxDuration comes first
				{20 * sec, "tick", Done, "", none},
			},
			end: &end{ReasonMaxDuration, true, "41", agent, ""},
		},
		{
			name: "a key after MaxDuration ends the session",
			opts: Options{MaxDuration: 20 * sec},
			steps: []step{
				{1 * sec, "3", Continue, "fault", 20 * sec},
				{25 * sec, "1", Done, "", none},
				{26 * sec, "tick", Done, "", none},
			},
			end: &end{ReasonMaxDuration, true, "3", agent, ""},
		},
		{
			name: "shorter timeouts, one retry",
			opts: Options{FirstDigitTimeout: 2 * sec, InterDigitTimeout: sec, MaxRetries: 1},
			steps: []step{
				{1 * sec, "prompt", 0, "", 3 * sec},
				{3 * sec, "tick", Timeout, "main", m3},
				{4 * sec, "3", Continue, "fault", m3},
				{5 * sec, "3", Continue, PromptServiceNumber, m3},
				{6 * sec, "prompt", 0, "", 8 * sec},
				{7 * sec, "1", Continue, "", 8 * sec},
				{8 * sec, "tick", InvalidNumber, PromptInvalidNumber, m3},
				{9 * sec, "prompt", 0, "", 11 * sec},
				{11 * sec, "tick", Done, "", none},
			},
			end: &end{ReasonNoInput, true, "33", agent, ""},
		},
		{
			name: "time never goes back",
			steps: []step{
				{5 * sec, "prompt", 0, "", 10 * sec},
				{4 * sec, "tick", Continue, "", 10 * sec},
				{1 * sec, "3", Continue, "fault", m3},
				{2 * sec, "prompt", 0, "", 10 * sec}, // taken as 5s
			},
		},
		{
			name: "events after the end change nothing",
			steps: []step{
				{1 * sec, "2", Done, "", none},
				{2 * sec, "prompt", 0, "", none},
				{3 * sec, "tick", Done, "", none},
				{4 * sec, "9", Done, "", none},
			},
			end: &end{ReasonChoice, false, "2", "consultation/product", ""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSessionWithOptions(menu, "18912345678", tc.opts, t0)
			if err != nil {
				t.Fatal(err)
			}
			if p := s.Prompt(); p != "main" {
				t.Fatalf("first prompt %q, want main", p)
			}
			maxDur := tc.opts.MaxDuration
			if maxDur == 0 {
				maxDur = DefaultMaxDuration
			}
			if d, ok := s.Deadline(); !ok || !d.Equal(t0.Add(maxDur)) {
				t.Fatalf("first deadline %v (%v), want %v", d.Sub(t0), ok, maxDur)
			}
			runSteps(t, s, tc.steps)
			if tc.end == nil {
				if s.Done() || s.EndReason() != NotEnded || s.Fallback() {
					t.Fatalf("session ended: %v", s.EndReason())
				}
				return
			}
			checkEnd(t, s, *tc.end)
		})
	}
}

func TestFallbackLeaf(t *testing.T) {
	menu := defaultMenu(t)
	// The default fallback is the menu's own agent leaf, its queue included.
	s, _ := NewSessionWithOptions(menu, "", Options{}, t0)
	s.PressAt('3', t0)
	s.PressAt('0', t0)
	if l := s.Leaf(); l.Queue != "agent" || l.ProblemCode != "general.agent" {
		t.Errorf("default fallback %+v, want the menu's agent leaf", l)
	}

	// A menu with no agent leaf: a consultation/agent leaf with no transfer.
	small := &configs.Node{Options: map[string]*configs.Node{
		"1": {Leaf: configs.Leaf{Category: "query", Subcategory: "billing"}},
	}}
	s, _ = NewSessionWithOptions(small, "", Options{}, t0)
	if s.Prompt() != "" {
		t.Errorf("prompt %q for a menu without one", s.Prompt())
	}
	// Nothing to play: the first-digit timer runs from the start.
	if d, ok := s.Deadline(); !ok || !d.Equal(t0.Add(DefaultFirstDigitTimeout)) {
		t.Errorf("deadline %v, want start + first-digit timeout", d.Sub(t0))
	}
	s.PressAt('0', t0.Add(sec))
	if l := s.Leaf(); l == nil || *l != (configs.Leaf{Category: "consultation", Subcategory: "agent"}) {
		t.Errorf("fallback %+v, want a bare consultation/agent leaf", l)
	}

	// An explicit fallback.
	mine := &configs.Leaf{Category: "query", Subcategory: "ivr_failed", Transfer: "sip:help@acd.hotline.invalid"}
	s, _ = NewSessionWithOptions(menu, "", Options{Fallback: mine, MaxRetries: 1}, t0)
	s.PressAt('9', t0)
	if r := s.PressAt('9', t0); r != Done || !s.Fallback() || *s.Leaf() != *mine {
		t.Errorf("result %v, fallback %v, leaf %+v", r, s.Fallback(), s.Leaf())
	}
}

func TestOptionsValidate(t *testing.T) {
	menu := defaultMenu(t)
	for name, o := range map[string]Options{
		"first_digit_timeout":             {FirstDigitTimeout: -sec},
		"inter_digit_timeout":             {InterDigitTimeout: -1},
		"max_duration":                    {MaxDuration: -time.Minute},
		"max_retries":                     {MaxRetries: -1},
		"agent_key":                       {AgentKey: '*'},
		"fallback.category":               {Fallback: &configs.Leaf{Subcategory: "agent"}},
		"fallback.collect_service_number": {Fallback: &configs.Leaf{Category: "complaint", Subcategory: "x", CollectServiceNumber: true}},
	} {
		_, err := NewSessionWithOptions(menu, "", o, t0)
		if !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), name+":") {
			t.Errorf("%s: err = %v, want ErrBadOptions naming the field", name, err)
		}
	}
	if _, err := NewSessionWithOptions(nil, "", Options{}, t0); !errors.Is(err, ErrNoMenu) {
		t.Errorf("nil menu: err = %v", err)
	}
	if _, err := NewSessionWithOptions(menu, "", Options{AgentKey: '9', Fallback: &configs.Leaf{Category: "query", Subcategory: "x"}}, t0); err != nil {
		t.Errorf("good options: %v", err)
	}
}

// TestHeaderPathNoTimers: input from an upstream IVR's headers ends the
// session without prompts or timers.
func TestHeaderPathNoTimers(t *testing.T) {
	menu := defaultMenu(t)
	s := NewSession(menu, "18912345678")
	if d, ok := s.Deadline(); ok {
		t.Fatalf("NewSession deadline %v before any time", d)
	}
	if r, err := s.FeedPath("31"); r != Continue || err != nil {
		t.Fatalf("FeedPath(31) = %v, %v", r, err)
	}
	if d, ok := s.Deadline(); ok {
		t.Fatalf("deadline %v after FeedPath", d)
	}
	if r := s.SetServiceNumber(""); r != Done || s.Fallback() || s.EndReason() != ReasonChoice {
		t.Fatalf("SetServiceNumber = %v, fallback %v, %v", r, s.Fallback(), s.EndReason())
	}
	if _, ok := s.Deadline(); ok || s.Prompt() != "" {
		t.Fatalf("deadline or prompt %q after the end", s.Prompt())
	}

	// A started session that ends by header input has no deadline either.
	s, _ = NewSessionWithOptions(menu, "", Options{}, t0)
	if r, err := s.FeedPath("2"); r != Done || err != nil {
		t.Fatalf("FeedPath(2) = %v, %v", r, err)
	}
	if _, ok := s.Deadline(); ok {
		t.Fatalf("deadline after FeedPath(2)")
	}

	// Header input follows the menu's own options: no agent key, no retries.
	for _, p := range []string{"30", "99999", "4*"} {
		s, _ := NewSessionWithOptions(menu, "", Options{MaxRetries: 1}, t0)
		if _, err := s.FeedPath(p); !errors.Is(err, ErrBadPath) || s.Done() {
			t.Errorf("FeedPath(%q) err = %v, done %v", p, err, s.Done())
		}
	}

	// A NewSession's clock starts with the first time it sees: the timers of
	// a call that goes on live after partial header input.
	s = NewSession(menu, "")
	s.FeedPath("4")
	if p := s.Prompt(); p != "complaint" {
		t.Fatalf("prompt %q after FeedPath(4)", p)
	}
	s.PromptDone(t0)
	if d, ok := s.Deadline(); !ok || !d.Equal(t0.Add(DefaultFirstDigitTimeout)) {
		t.Fatalf("deadline %v (%v), want t0+5s", d, ok)
	}
	if r := s.Tick(t0.Add(DefaultMaxDuration)); r != Done || s.EndReason() != ReasonMaxDuration {
		t.Fatalf("Tick after MaxDuration = %v, %v", r, s.EndReason())
	}
}

// TestPressOnly: a session fed only by Press (no time) never times out, and
// still goes to the fallback after MaxRetries invalid keys.
func TestPressOnly(t *testing.T) {
	s := NewSession(defaultMenu(t), "")
	for i := 0; i < DefaultMaxRetries; i++ {
		if r := s.Press('7'); r != InvalidKey {
			t.Fatalf("press %d = %v", i, r)
		}
		if _, ok := s.Deadline(); ok {
			t.Fatalf("deadline without a clock")
		}
	}
	if r := s.Press('7'); r != Done || !s.Fallback() || s.Leaf().Subcategory != "agent" {
		t.Fatalf("press = %v, fallback %v, leaf %+v", r, s.Fallback(), s.Leaf())
	}
}

func TestStrings(t *testing.T) {
	for r := Continue; r <= Timeout; r++ {
		if strings.HasPrefix(r.String(), "Result(") {
			t.Errorf("Result %d has no name", int(r))
		}
	}
	for r := NotEnded; r <= ReasonMaxDuration; r++ {
		if strings.HasPrefix(r.String(), "Reason(") {
			t.Errorf("Reason %d has no name", int(r))
		}
	}
}
