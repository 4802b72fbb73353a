package ivr

import (
	"errors"
	"testing"

	"github.com/hotlined/hotlined/configs"
)

func defaultMenu(t *testing.T) *configs.Node {
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
	if !s.Leaf().EscalationTendency {
		t.Errorf("4 4 must carry escalation tendency")
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
