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
//
// Two things cancel a match: an exclusion phrase that covers it (a product
// name: 抖音定向流量包 holds 抖音 but is a data bundle, not the media), and
// a negation earlier in the same clause (客户表示不会找媒体). A clause ends
// at sentence or clause punctuation (，。！？；、 and their ASCII forms), a
// line break, or a contrasting conjunction (但是, 但, 可是, 不过, but,
// however), so 不会投诉，但要找媒体 still matches 媒体.
type Matcher struct {
	keywords   []keyword
	exclusions []string // normalized
	negations  []keyword
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
	// Negated: every occurrence stands after a negation in its clause; the
	// keyword does not count, but the decision says it was seen.
	Negated bool
	// Negation is the negation word of the first negated occurrence.
	Negation string
}

// ErrEmptyKeyword is returned for a keyword with nothing left to match.
var ErrEmptyKeyword = errors.New("empty keyword")

// NewMatcher compiles keyword rules with the exclusion phrases and the
// negation words (both may be empty). ErrEmptyKeyword for a keyword,
// exclusion or negation that normalizes to nothing.
func NewMatcher(rules []KeywordRule, exclusions, negations []string) (*Matcher, error) {
	m := &Matcher{}
	for _, e := range exclusions {
		n := Normalize(e)
		if n == "" {
			return nil, fmt.Errorf("exclusion: %w", ErrEmptyKeyword)
		}
		m.exclusions = append(m.exclusions, n)
	}
	for _, w := range negations {
		n := Normalize(w)
		if n == "" {
			return nil, fmt.Errorf("negation: %w", ErrEmptyKeyword)
		}
		first, _ := utf8.DecodeRuneInString(n)
		last, _ := utf8.DecodeLastRuneInString(n)
		m.negations = append(m.negations, keyword{norm: n, raw: w, bounds: [2]bool{isWordByte(first), isWordByte(last)}})
	}
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
// order; a keyword found only after negations is returned Negated.
func (m *Matcher) Match(texts ...string) []Hit {
	if m == nil || len(m.keywords) == 0 {
		return nil
	}
	norm := make([]string, 0, len(texts))
	for _, t := range texts {
		if t != "" {
			norm = append(norm, m.blankExclusions(Normalize(t)))
		}
	}
	if len(norm) == 0 {
		return nil
	}
	var hits []Hit
	for _, k := range m.keywords {
		found, negation := false, ""
		for _, t := range norm {
			ok, neg := m.find(t, k)
			if ok {
				found, negation = true, ""
				break
			}
			if neg != "" && negation == "" {
				negation = neg
			}
		}
		switch {
		case found:
			hits = append(hits, Hit{Rule: k.rule, Keyword: k.raw})
		case negation != "":
			hits = append(hits, Hit{Rule: k.rule, Keyword: k.raw, Negated: true, Negation: negation})
		}
	}
	return hits
}

// blankExclusions replaces every exclusion phrase in t with a clause break,
// so no keyword matches inside it.
func (m *Matcher) blankExclusions(t string) string {
	for _, e := range m.exclusions {
		if strings.Contains(t, e) {
			t = strings.ReplaceAll(t, e, "\n")
		}
	}
	return t
}

// find reports whether normalized text t holds k at word boundaries with no
// negation before it in its clause; when every occurrence is negated, it
// returns the first negation word.
func (m *Matcher) find(t string, k keyword) (bool, string) {
	negation := ""
	for from := 0; from <= len(t)-len(k.norm); {
		i := strings.Index(t[from:], k.norm)
		if i < 0 {
			break
		}
		at := from + i
		from = at + 1
		if !k.at(t, at) {
			continue
		}
		clause := t[clauseStart(t, at):at]
		neg := ""
		for _, n := range m.negations {
			if n.in(clause) {
				neg = n.raw
				break
			}
		}
		if neg == "" {
			return true, ""
		}
		if negation == "" {
			negation = neg
		}
	}
	return false, negation
}

// clauseBreaks end a clause: punctuation after Normalize (full-width forms
// are half-width by then), line breaks, and contrasting conjunctions.
var clauseBreaks = []string{",", ".", "!", "?", ";", ":", "\n", "，", "。", "、", "；", "：", "但是", "但", "可是", "不过", " but ", " however "}

// clauseStart is the index where the clause holding t[at] begins.
func clauseStart(t string, at int) int {
	start := 0
	for _, b := range clauseBreaks {
		if i := strings.LastIndex(t[:at], b); i >= 0 && i+len(b) > start {
			start = i + len(b)
		}
	}
	return start
}

// at reports whether k matches t at byte offset at, word boundaries
// included.
func (k keyword) at(t string, at int) bool {
	end := at + len(k.norm)
	if end > len(t) || t[at:end] != k.norm {
		return false
	}
	leftOK := !k.bounds[0] || at == 0 || !isWordByte(rune(t[at-1]))
	rightOK := !k.bounds[1] || end == len(t) || !isWordByte(rune(t[end]))
	return leftOK && rightOK
}

// in reports whether k occurs in t at word boundaries.
func (k keyword) in(t string) bool {
	for from := 0; from <= len(t)-len(k.norm); {
		i := strings.Index(t[from:], k.norm)
		if i < 0 {
			return false
		}
		if k.at(t, from+i) {
			return true
		}
		from += i + 1
	}
	return false
}

// isWordByte: a Latin letter or digit after Normalize (lower-case ASCII).
// A byte of a multi-byte character is >= 0x80 and never one.
func isWordByte(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
}
