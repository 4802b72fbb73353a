package classifier

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "",
		"MIIT":                         "miit",
		"ＭＩＩＴ":                         "miit",
		"１２３１５":                        "12315",
		"记者 Ｌａｗｙｅｒ！":                   "记者 lawyer!",
		"  consumer\t\n  association ": "consumer association",
		"消协　投诉":                        "消协 投诉",
		"Straße":                       "straße",
		"\xff":                         "\uFFFD",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMatcher(t *testing.T) {
	m, err := NewMatcher([]KeywordRule{
		{Rule: "media", Keywords: []string{"记者", "Media", "social media"}},
		{Rule: "legal", Keywords: []string{"court", "12315", "律师", "sue"}},
	}, []string{"抖音定向流量"}, []string{"不会", "won't"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		texts []string
		want  []string // keywords found
	}{
		{[]string{""}, nil},
		{[]string{"the line is down again"}, nil},
		{[]string{"我要找记者"}, []string{"记者"}},
		{[]string{"I went to the MEDIA"}, []string{"Media"}},
		{[]string{"multimedia box broken"}, nil}, // no word boundary
		{[]string{"on Social\n\nMedia already"}, []string{"Media", "social media"}},
		{[]string{"courtesy please"}, nil},
		{[]string{"court."}, []string{"court"}},
		{[]string{"(court)"}, []string{"court"}},
		{[]string{"Court", "记者"}, []string{"记者", "court"}},
		{[]string{"拨打12315投诉"}, []string{"12315"}},
		{[]string{"拨打１２３１５投诉"}, []string{"12315"}},
		{[]string{"order 123156"}, nil},
		{[]string{"a12315"}, nil},
		{[]string{"12315"}, []string{"12315"}},
		{[]string{"issue", "pursue"}, nil},
		{[]string{"I will sue!"}, []string{"sue"}},
		{[]string{"律师函", "courtcourt court"}, []string{"court", "律师"}},
		{[]string{"客户表示不会找记者"}, nil},
		{[]string{"客户表示不会找记者", "我要找记者"}, []string{"记者"}},
		{[]string{"不会找记者，不过要请律师"}, []string{"律师"}},
		{[]string{"I won't go to court"}, nil},
		{[]string{"I won't wait. court!"}, []string{"court"}},
		{[]string{"记者不会管"}, []string{"记者"}}, // negation after the keyword
		{[]string{"抖音定向流量包扣费"}, nil},
	}
	for _, tc := range tests {
		var got []string
		for _, h := range m.Match(tc.texts...) {
			if !h.Negated {
				got = append(got, h.Keyword)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Match(%q) = %v, want %v", tc.texts, got, tc.want)
		}
	}
	var nilMatcher *Matcher
	if hits := nilMatcher.Match("记者"); hits != nil {
		t.Errorf("nil matcher found %v", hits)
	}
	if hits := m.Match("客户表示不会找记者"); len(hits) != 1 || !hits[0].Negated || hits[0].Negation != "不会" {
		t.Errorf("negated hit = %+v", hits)
	}
	if _, err := NewMatcher([]KeywordRule{{Rule: "x", Keywords: []string{" \t"}}}, nil, nil); err == nil {
		t.Error("an empty keyword compiled")
	}
}

// FuzzKeywords checks the matcher against its definition: a keyword placed
// in text between separators is always found (whatever its width or case);
// every hit's normalized keyword occurs in the normalized text; nothing
// panics on any input.
func FuzzKeywords(f *testing.F) {
	f.Add("我要找记者曝光", "记者")
	f.Add("I will call my LAWYER", "lawyer")
	f.Add("拨打１２３１５", "12315")
	f.Add("courtesy", "court")
	f.Add("ＭＩＩＴ and Media", "miit")
	f.Add("\xff\xfe", "\xff")
	f.Add("  ", "a b")
	f.Add("Kelvin \u212a", "k")
	f.Fuzz(func(t *testing.T, text, kw string) {
		if utf8.RuneCountInString(kw) > MaxKeywordRunes {
			return
		}
		m, err := NewMatcher([]KeywordRule{{Rule: "r", Keywords: []string{kw}}}, nil, nil)
		if err != nil {
			if Normalize(kw) != "" {
				t.Fatalf("NewMatcher(%q): %v", kw, err)
			}
			return
		}
		nkw := Normalize(kw)
		hits := m.Match(text)
		if len(hits) > 1 {
			t.Fatalf("one keyword, %d hits", len(hits))
		}
		if len(hits) == 1 && !strings.Contains(Normalize(text), nkw) {
			t.Fatalf("hit %q not in normalized text %q", nkw, Normalize(text))
		}
		// Placed between spaces, the keyword is always found.
		if len(m.Match(text+" "+kw+" "+text)) != 1 {
			t.Fatalf("keyword %q (normalized %q) not found between spaces in %q", kw, nkw, text+" "+kw+" "+text)
		}
		if Normalize(Normalize(text)) != Normalize(text) {
			t.Fatalf("Normalize is not idempotent on %q", text)
		}
	})
}
