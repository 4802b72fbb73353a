// Package classifier decides a work order's class by the operator's rules
// (DOMAIN.md). It is pure: the facts come in (with the time and the
// customer's complaint history as values), a decision with its reasons goes
// out, and a supervisor can read why. Counting across customers (group
// complaints) needs shared state; the package only says which windows an
// order counts in (GroupWindows) and what a count means (JoinGroups).
package classifier

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hotlined/hotlined/configs"
)

// Input is what is known about a contact when it is classified.
type Input struct {
	Tier          string
	Category      string // query, consultation, fault_report, complaint
	Subcategory   string
	Caller        string // digits, or "" / "anonymous" when withheld
	ServiceNumber string
	// EscalationTendency: the caller says the media, a regulator or a court
	// is involved (越级倾向), from a dedicated IVR leaf.
	EscalationTendency bool
	// Texts are the free texts the contact carries (the description, an
	// agent's notes), searched for the major-complaint keywords.
	Texts []string
	// Now is the time of the contact.
	Now time.Time
	// History holds the service number's complaint orders the store still
	// remembers (open ones, and closed ones within the windows), for the
	// open-complaint, unsatisfied and repeat rules.
	History []PastComplaint
}

// PastComplaint is one earlier complaint order of the same service number.
type PastComplaint struct {
	ID          string
	Status      string // new, accepted, in_progress, reopened, resolved, archived
	Subcategory string
	CreatedAt   time.Time
	// ClosedAt is when it became resolved or archived (zero while open).
	ClosedAt time.Time
}

// Open reports whether the complaint is still being handled.
func (p PastComplaint) Open() bool { return slices.Contains(configs.OpenStatuses, p.Status) }

// Reason is one rule that shaped the decision.
type Reason struct {
	Rule   string `json:"rule"`
	Detail string `json:"detail"`
}

// Decision is the classifier's answer.
type Decision struct {
	Class    string
	Priority int // 1 is the most urgent
	Reasons  []Reason
	Valid    bool
	// Related are the earlier orders the decision refers to.
	Related []string
	// Urge is the id of the open complaint this contact is about: no new
	// order; the service urges that one instead.
	Urge string
	// Major are the reasons that make the contact a major complaint (also
	// in Reasons); an urged order is upgraded by them.
	Major []Reason
}

// Built-in rule names, as they appear in reasons.
const (
	RuleBaseCategory          = "base_category"
	RuleInvalidAnonymous      = "invalid_anonymous"
	RuleEscalationTendencyIVR = "escalation_tendency_ivr"
	RuleOpenComplaintUrged    = "open_complaint_urged"
	RuleUnsatisfied           = "unsatisfied_with_result"
	RuleRepeatAfterArchive    = "repeat_after_archive"
	RuleGroupSameDay          = "group_same_day_escalated"
	RuleGroupSameMonth        = "group_same_month"
	RuleReclassified          = "reclassified"
)

// Classify applies the rules that need no shared counting: the base
// category, validity, the open-complaint urge, unsatisfied with the result,
// repeat complaint, and the major-complaint keywords and IVR leaf. The class
// goes by precedence: major over repeat over complaint (a group complaint,
// decided later by JoinGroups, over all).
func (r *Rules) Classify(in Input) Decision {
	d := Decision{Class: in.Category, Valid: true, Related: []string{}}
	d.Reasons = append(d.Reasons, Reason{Rule: RuleBaseCategory,
		Detail: fmt.Sprintf("%s/%s chosen in the IVR or given by the channel", in.Category, in.Subcategory)})
	if !isNumber(in.Caller) && !isNumber(in.ServiceNumber) {
		d.Valid = false
		d.Reasons = append(d.Reasons, Reason{Rule: RuleInvalidAnonymous,
			Detail: "anonymous caller and no service number: no way to contact the customer"})
	}
	if in.Category != configs.ClassComplaint {
		d.Priority = r.Priority(d.Class, 0)
		return d
	}

	if in.EscalationTendency {
		d.Major = append(d.Major, Reason{Rule: RuleEscalationTendencyIVR,
			Detail: "the caller chose the IVR option for media or regulator involvement"})
	}
	d.Major = append(d.Major, r.keywordReasons(in.Texts)...)

	if open, ok := r.openComplaint(in); ok {
		d.Urge = open.ID
		d.Related = append(d.Related, open.ID)
		d.Reasons = append(d.Reasons, Reason{Rule: RuleOpenComplaintUrged,
			Detail: fmt.Sprintf("%s is still %s: it is urged, no new order", open.ID, open.Status)})
		d.Reasons = append(d.Reasons, d.Major...)
		d.Priority = r.Priority(d.Class, 0)
		return d
	}
	if prev, ok := r.unsatisfied(in); ok {
		d.Related = append(d.Related, prev.ID)
		d.Reasons = append(d.Reasons, Reason{Rule: RuleUnsatisfied,
			Detail: fmt.Sprintf("%s was resolved %s and not archived; the customer complains again, so is not satisfied with the result",
				prev.ID, prev.ClosedAt.In(in.Now.Location()).Format(time.RFC3339))})
	}
	if prev, ok := r.repeat(in); ok {
		d.Class = configs.ClassRepeatComplaint
		if !slices.Contains(d.Related, prev.ID) {
			d.Related = append(d.Related, prev.ID)
		}
		d.Reasons = append(d.Reasons, Reason{Rule: RuleRepeatAfterArchive,
			Detail: fmt.Sprintf("%s was archived %s, %s ago, within the %s window",
				prev.ID, prev.ClosedAt.In(in.Now.Location()).Format(time.RFC3339),
				span(in.Now.Sub(prev.ClosedAt)), span(r.RepeatComplaint.Window.D()))})
	}
	if len(d.Major) > 0 {
		d.Class = configs.ClassMajorComplaint
		d.Reasons = append(d.Reasons, d.Major...)
	}
	d.Priority = r.Priority(d.Class, 0)
	return d
}

// openComplaint is the latest complaint of the history still being handled
// (of the same subcategory when the rules say so).
func (r *Rules) openComplaint(in Input) (PastComplaint, bool) {
	var best PastComplaint
	found := false
	for _, p := range in.History {
		if !p.Open() || r.OpenComplaint.SameSubcategoryOnly && p.Subcategory != in.Subcategory {
			continue
		}
		if !found || p.CreatedAt.After(best.CreatedAt) {
			best, found = p, true
		}
	}
	return best, found
}

// unsatisfied: the latest complaint is resolved, not archived, and was
// resolved within the window. How "unhappy with the result" is detected:
// the customer complains again while the last result stands unarchived.
func (r *Rules) unsatisfied(in Input) (PastComplaint, bool) {
	var latest PastComplaint
	found := false
	for _, p := range in.History {
		if !found || p.CreatedAt.After(latest.CreatedAt) {
			latest, found = p, true
		}
	}
	if !found || latest.Status != "resolved" {
		return PastComplaint{}, false
	}
	return latest, in.Now.Sub(latest.ClosedAt) <= r.UnsatisfiedWithResult.Window.D()
}

// repeat: the latest archive of a complaint within the window before now
// (inclusive: exactly the window ago is still a repeat).
func (r *Rules) repeat(in Input) (PastComplaint, bool) {
	var best PastComplaint
	found := false
	for _, p := range in.History {
		if p.Status != "archived" || in.Now.Sub(p.ClosedAt) > r.RepeatComplaint.Window.D() {
			continue
		}
		if !found || p.ClosedAt.After(best.ClosedAt) {
			best, found = p, true
		}
	}
	return best, found
}

// KeywordReasons are the reasons the major-complaint keywords give for
// texts: one per keyword rule, naming the keywords found.
func (r *Rules) KeywordReasons(texts ...string) []Reason { return r.keywordReasons(texts) }

func (r *Rules) keywordReasons(texts []string) []Reason {
	hits := r.matcher.Match(texts...)
	var out []Reason
	for _, kr := range r.MajorComplaint.KeywordRules {
		var words []string
		for _, h := range hits {
			if h.Rule == kr.Rule {
				words = append(words, fmt.Sprintf("%q", h.Keyword))
			}
		}
		if len(words) > 0 {
			out = append(out, Reason{Rule: kr.Rule, Detail: "keywords in the free text: " + strings.Join(words, ", ")})
		}
	}
	return out
}

// span writes a duration in days and hours: "29d 23h", "3h 5m", "12s".
func span(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, (d-h*time.Hour)/time.Minute)
	}
	return d.Truncate(time.Second).String()
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
