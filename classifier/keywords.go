package classifier

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Normalize prepares text for keyword matching: full-width ASCII forms
// (Ａ, １, ＠) become their half-width letters, digits and signs, the
// ideographic space a space, letters lower case, every run of white space
// one space, and invalid UTF-8 the replacement character. Chinese text
// passes unchanged.
func Normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E: // full-width ！ to ～
			r -= 0xFEE0
		case r == 0x3000: // ideographic space
			r = ' '
		}
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// Matcher finds keywords in free text. Chinese keywords match anywhere; a
// keyword that starts (ends) with a Latin letter or digit matches only where
// the text has no Latin letter or digit just before (after) it, so "court"
// does not match "courtesy" and "12315" does not match inside a longer
// number, while "打12315投诉" still matches.
type Matcher struct {
	keywords []keyword
}

type keyword struct {
	norm   string // normalized form searched for
	raw    string // as written in the rules
	rule   string
	bounds [2]bool // check the left / right boundary
}

// Hit is one keyword found.
type Hit struct {
	Rule    string
	Keyword string // as written in the rules
}

// ErrEmptyKeyword is returned for a keyword with nothing left to match.
var ErrEmptyKeyword = errors.New("empty keyword")

// NewMatcher compiles keyword rules.
func NewMatcher(rules []KeywordRule) (*Matcher, error) {
	m := &Matcher{}
	for _, r := range rules {
		for _, k := range r.Keywords {
			n := Normalize(k)
			if n == "" {
				return nil, fmt.Errorf("rule %s: %w", r.Rule, ErrEmptyKeyword)
			}
			first, _ := utf8.DecodeRuneInString(n)
			last, _ := utf8.DecodeLastRuneInString(n)
			m.keywords = append(m.keywords, keyword{norm: n, raw: k, rule: r.Rule,
				bounds: [2]bool{isWordByte(first), isWordByte(last)}})
		}
	}
	return m, nil
}

// Match returns the keywords found in any of texts, each once, in rule
// order.
func (m *Matcher) Match(texts ...string) []Hit {
	if m == nil || len(m.keywords) == 0 {
		return nil
	}
	norm := make([]string, 0, len(texts))
	for _, t := range texts {
		if t != "" {
			norm = append(norm, Normalize(t))
		}
	}
	if len(norm) == 0 {
		return nil
	}
	var hits []Hit
	for _, k := range m.keywords {
		for _, t := range norm {
			if contains(t, k) {
				hits = append(hits, Hit{Rule: k.rule, Keyword: k.raw})
				break
			}
		}
	}
	return hits
}

// contains reports whether normalized text t holds k at word boundaries.
func contains(t string, k keyword) bool {
	for from := 0; from <= len(t)-len(k.norm); {
		i := strings.Index(t[from:], k.norm)
		if i < 0 {
			return false
		}
		at := from + i
		end := at + len(k.norm)
		leftOK := !k.bounds[0] || at == 0 || !isWordByte(rune(t[at-1]))
		rightOK := !k.bounds[1] || end == len(t) || !isWordByte(rune(t[end]))
		if leftOK && rightOK {
			return true
		}
		from = at + 1
	}
	return false
}

// isWordByte: a Latin letter or digit after Normalize (lower-case ASCII).
// A byte of a multi-byte character is >= 0x80 and never one.
func isWordByte(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
}
