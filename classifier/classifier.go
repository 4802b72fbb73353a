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
	ProblemCode   string // group.code of the problem-code table; "" when unknown
	Caller        string // digits, or "" / "anonymous" when withheld
	ServiceNumber string
	// EscalationTendency: the caller chose the IVR leaf for the regulator,
	// 12300, the consumer association or a court (越级倾向).
	EscalationTendency bool
	// PublicOpinionRisk: the caller chose the IVR leaf for the media.
	PublicOpinionRisk bool
	// Texts are the customer's own words (the intake description, recorded
	// customer statements), searched for the keywords. Never agents' notes.
	Texts []string
	// Now is the time of the contact, in the operator's time zone: calendar
	// days are counted there.
	Now time.Time
	// History holds the service number's complaint orders the store still
	// remembers (open ones, and closed ones within the windows), for the
	// open-complaint, unsatisfied and repeat rules.
	History []PastComplaint
	// Escalations are the service number's group- and appeal-tier orders
	// the store remembers, for the record-of-escalations rule.
	Escalations []PastComplaint
}

// PastComplaint is one earlier order of the same service number.
type PastComplaint struct {
	ID          string
	Status      string // new, accepted, in_progress, reopened, resolved, archived
	Tier        string // "" for an order indexed before tiers were: province
	Subcategory string
	ProblemCode string // "" for an order indexed before problem codes were
	CreatedAt   time.Time
	// ClosedAt is when it became resolved or archived (zero while open).
	ClosedAt time.Time
}

// Open reports whether the complaint is still being handled.
func (p PastComplaint) Open() bool { return slices.Contains(configs.OpenStatuses, p.Status) }

// SameProblem reports whether the contact in is about p's problem: the
// same problem code, or, when either lacks one (orders from before the
// code table), the same subcategory.
func (p PastComplaint) SameProblem(in Input) bool {
	if p.ProblemCode != "" && in.ProblemCode != "" {
		return p.ProblemCode == in.ProblemCode
	}
	return p.Subcategory == in.Subcategory
}

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
	// Escalates is the id of the open complaint this contact takes to a
	// higher tier: a new order of the contact's tier, related to it; the
	// service flags that one escalated.
	Escalates string
	// Major are the reasons that make the contact a major complaint (also
	// in Reasons); an urged order is upgraded by them.
	Major []Reason
	// Exposure of the public-opinion risk (threatened or exposed) when
	// Major is set.
	Exposure string
	// Risk are the reasons for the escalation_risk flag (also in Reasons);
	// an urged order takes the flag too.
	Risk []Reason
	// Flags are the flags the decision sets (configs.Flag...).
	Flags []string
}

// Built-in rule names, as they appear in reasons.
const (
	RuleBaseCategory          = "base_category"
	RuleInvalidAnonymous      = "invalid_anonymous"
	RuleEscalationTendencyIVR = "escalation_tendency_ivr"
	RulePublicOpinionIVR      = "public_opinion_ivr"
	RuleOpenComplaintUrged    = "open_complaint_urged"
	RuleEscalatedFrom         = "escalated_from_lower_tier"
	RuleAppealOf              = "appeal_of_earlier_complaint"
	RuleAppealFirstContact    = "appeal_first_contact"
	RuleUnsatisfied           = "unsatisfied_with_result"
	RuleRepeatAfterArchive    = "repeat_after_archive"
	RuleEscalationRecord      = "escalation_record"
	RuleKeywordsCancelled     = "keywords_cancelled"
	RuleGroupSameDay          = "group_same_day_escalated"
	RuleGroupSameMonth        = "group_same_month"
	RuleReclassified          = "reclassified"
)

// Classify applies the rules that need no counting across customers, in
// this order (DOMAIN.md):
//
//   - the base category from the IVR leaf or the channel; validity;
//   - the record of escalations (any category): a group- or appeal-tier
//     order of the service number within EscalationRecord.WindowDays
//     calendar days flags escalation_record;
//   - for complaints: the keywords in the customer's words and the IVR
//     leaves give public-opinion risk (major, with its exposure) and
//     escalation risk (the escalation_risk flag, class unchanged);
//   - an open complaint of the same problem urges it when the contact's
//     tier is the same or lower (Urge, no new order); on a higher tier the
//     contact is a new order related to it (Escalates);
//   - unsatisfied with the result (the latest complaint resolved, not
//     archived), then repeat complaint (archived within the window of
//     calendar days);
//   - the class goes by precedence: major over repeat over complaint (a
//     group complaint, confirmed later, over all); the priority is the
//     class's, raised to the escalation risk's and record's.
func (r *Rules) Classify(in Input) Decision {
	d := Decision{Class: in.Category, Valid: true, Related: []string{}}
	d.Reasons = append(d.Reasons, Reason{Rule: RuleBaseCategory,
		Detail: fmt.Sprintf("%s/%s chosen in the IVR or given by the channel", in.Category, in.Subcategory)})
	if !isNumber(in.Caller) && !isNumber(in.ServiceNumber) {
		d.Valid = false
		d.Reasons = append(d.Reasons, Reason{Rule: RuleInvalidAnonymous,
			Detail: "anonymous caller and no service number: no way to contact the customer"})
	}
	record, hasRecord := r.escalationRecord(in)
	if hasRecord {
		d.Flags = append(d.Flags, configs.FlagEscalationRecord)
		d.Related = append(d.Related, record.ID)
		d.Reasons = append(d.Reasons, Reason{Rule: RuleEscalationRecord,
			Detail: fmt.Sprintf("%s on the %s tier, %s, within %d days: the customer has gone over the operator's head before",
				record.ID, record.Tier, record.CreatedAt.In(in.Now.Location()).Format(time.DateOnly), r.EscalationRecord.WindowDays)})
	}
	if in.Category != configs.ClassComplaint {
		d.Priority = r.Priority(d.Class, 0)
		return d
	}
	r.risks(in, &d)

	if open, ok := r.openComplaint(in); ok {
		d.Related = appendNew(d.Related, open.ID)
		if configs.TierRank(in.Tier) <= configs.TierRank(tierOf(open)) {
			d.Urge = open.ID
			d.Reasons = append(d.Reasons, Reason{Rule: RuleOpenComplaintUrged,
				Detail: fmt.Sprintf("%s (%s tier) is still %s with the same problem: it is urged, no new order", open.ID, tierOf(open), open.Status)})
			d.Reasons = append(d.Reasons, d.Major...)
			d.Reasons = append(d.Reasons, d.Risk...)
			d.Priority = r.Priority(d.Class, 0)
			return d
		}
		d.Escalates = open.ID
		d.Reasons = append(d.Reasons, Reason{Rule: RuleEscalatedFrom,
			Detail: fmt.Sprintf("%s (%s tier) is still %s with the same problem; the customer took it to the %s tier: a new %s-tier order, related to it",
				open.ID, tierOf(open), open.Status, in.Tier, in.Tier)})
	}
	if in.Tier == configs.TierAppeal && d.Escalates == "" {
		r.appealOf(in, &d)
	}
	if prev, ok := r.unsatisfied(in); ok {
		d.Related = appendNew(d.Related, prev.ID)
		d.Reasons = append(d.Reasons, Reason{Rule: RuleUnsatisfied,
			Detail: fmt.Sprintf("%s was resolved %s and not archived; the customer complains again, so is not satisfied with the result",
				prev.ID, prev.ClosedAt.In(in.Now.Location()).Format(time.RFC3339))})
	}
	if prev, ok := r.repeat(in); ok {
		d.Class = configs.ClassRepeatComplaint
		d.Related = appendNew(d.Related, prev.ID)
		d.Reasons = append(d.Reasons, Reason{Rule: RuleRepeatAfterArchive,
			Detail: fmt.Sprintf("%s was archived %s; a repeat until the end of %s (%d calendar days after the archive date)",
				prev.ID, prev.ClosedAt.In(in.Now.Location()).Format(time.RFC3339),
				r.repeatUntil(prev.ClosedAt, in.Now.Location()).Format(time.DateOnly), r.RepeatComplaint.WindowDays)})
	}
	if len(d.Major) > 0 {
		d.Class = configs.ClassMajorComplaint
		d.Reasons = append(d.Reasons, d.Major...)
	}
	d.Reasons = append(d.Reasons, d.Risk...)
	d.Priority = r.Priority(d.Class, 0)
	if len(d.Risk) > 0 {
		d.Priority = min(d.Priority, r.EscalationRisk.Priority)
	}
	if hasRecord {
		d.Priority = min(d.Priority, r.EscalationRecord.Priority)
	}
	return d
}

// appealOf relates an appeal to the customer's latest complaint about its
// problem (closed ones too), or flags it a first contact (首诉) when the
// operator has none: the customer went to the regulator first.
func (r *Rules) appealOf(in Input, d *Decision) {
	var best PastComplaint
	found := false
	for _, p := range in.History {
		if p.SameProblem(in) && (!found || p.CreatedAt.After(best.CreatedAt)) {
			best, found = p, true
		}
	}
	if !found {
		d.Flags = appendNew(d.Flags, configs.FlagFirstContact)
		d.Reasons = append(d.Reasons, Reason{Rule: RuleAppealFirstContact,
			Detail: "no complaint of the customer about this problem on record: the appeal is the first contact (首诉)"})
		return
	}
	d.Related = appendNew(d.Related, best.ID)
	d.Reasons = append(d.Reasons, Reason{Rule: RuleAppealOf,
		Detail: fmt.Sprintf("appeal about the problem of %s (%s)", best.ID, best.Status)})
}

// risks fills d's public-opinion (Major, Exposure) and escalation-risk
// (Risk, the flag) reasons from the IVR leaf and the customer's words, and
// says in a reason which keywords a negation cancelled.
func (r *Rules) risks(in Input, d *Decision) {
	if in.PublicOpinionRisk {
		d.Major = append(d.Major, Reason{Rule: RulePublicOpinionIVR,
			Detail: "the caller chose the IVR option for the media being or becoming involved"})
		d.Exposure = configs.ExposureThreatened
	}
	if in.EscalationTendency {
		d.Risk = append(d.Risk, Reason{Rule: RuleEscalationTendencyIVR,
			Detail: "the caller chose the IVR option for the regulator, 12300, the consumer association or a court"})
	}
	major, risk, cancelled := r.keywordReasons(in.Texts)
	for _, m := range major {
		d.Major = append(d.Major, m.Reason)
		if m.exposure == configs.ExposureExposed || d.Exposure == "" {
			d.Exposure = m.exposure
		}
	}
	d.Risk = append(d.Risk, risk...)
	if len(d.Risk) > 0 {
		d.Flags = appendNew(d.Flags, configs.FlagEscalationRisk)
	}
	if cancelled != nil {
		d.Reasons = append(d.Reasons, *cancelled)
	}
}

// escalationRecord is the latest group- or appeal-tier order of in's
// history within the record window (calendar days in the operator's zone).
func (r *Rules) escalationRecord(in Input) (PastComplaint, bool) {
	var best PastComplaint
	found := false
	loc := in.Now.Location()
	from := startOfDay(in.Now, loc).AddDate(0, 0, -r.EscalationRecord.WindowDays)
	for _, p := range in.Escalations {
		if configs.TierRank(tierOf(p)) < 1 || p.CreatedAt.Before(from) || p.CreatedAt.After(in.Now) {
			continue
		}
		if !found || p.CreatedAt.After(best.CreatedAt) {
			best, found = p, true
		}
	}
	return best, found
}

// openComplaint is the latest complaint of the history still being handled
// about the contact's problem.
func (r *Rules) openComplaint(in Input) (PastComplaint, bool) {
	var best PastComplaint
	found := false
	for _, p := range in.History {
		if !p.Open() || !p.SameProblem(in) {
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
	if !found || latest.Status != configs.StatusResolved {
		return PastComplaint{}, false
	}
	return latest, in.Now.Sub(latest.ClosedAt) <= r.UnsatisfiedWithResult.Window.D()
}

// repeat: the latest archive of a complaint whose repeat window holds now:
// the archive's local date plus WindowDays, to the end of that day.
func (r *Rules) repeat(in Input) (PastComplaint, bool) {
	var best PastComplaint
	found := false
	loc := in.Now.Location()
	for _, p := range in.History {
		if p.Status != configs.StatusArchived || p.ClosedAt.After(in.Now) || !in.Now.Before(r.repeatUntil(p.ClosedAt, loc).AddDate(0, 0, 1)) {
			continue
		}
		if !found || p.ClosedAt.After(best.ClosedAt) {
			best, found = p, true
		}
	}
	return best, found
}

// repeatUntil is the last day (its midnight in loc) of the repeat window of
// a complaint archived at archived: the archive date plus WindowDays.
func (r *Rules) repeatUntil(archived time.Time, loc *time.Location) time.Time {
	return startOfDay(archived, loc).AddDate(0, 0, r.RepeatComplaint.WindowDays)
}

// RepeatWindowEnd is when the repeat window of a complaint archived at
// archived closes (the first instant no longer in it): midnight after the
// archive date plus WindowDays, in loc.
func (r *Rules) RepeatWindowEnd(archived time.Time, loc *time.Location) time.Time {
	return r.repeatUntil(archived, loc).AddDate(0, 0, 1)
}

func startOfDay(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
}

// tierOf is p's tier; an order indexed before tiers were is province-tier.
func tierOf(p PastComplaint) string {
	if p.Tier == "" {
		return configs.TierProvince
	}
	return p.Tier
}

func appendNew(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// KeywordReasons are the reasons the keywords give for texts (the
// customer's words): public-opinion reasons with the exposure they imply
// ("" when none), and escalation-risk reasons.
func (r *Rules) KeywordReasons(texts ...string) (major []Reason, exposure string, risk []Reason) {
	m, risk, _ := r.keywordReasons(texts)
	for _, x := range m {
		major = append(major, x.Reason)
		if x.exposure == configs.ExposureExposed || exposure == "" {
			exposure = x.exposure
		}
	}
	return major, exposure, risk
}

type majorReason struct {
	Reason
	exposure string
}

// keywordReasons groups the keyword hits in texts by rule: one reason per
// rule naming its keywords, split by effect, plus one reason listing the
// keywords a negation cancelled (nil when none).
func (r *Rules) keywordReasons(texts []string) (major []majorReason, risk []Reason, cancelled *Reason) {
	hits := r.matcher.Match(texts...)
	var negated []string
	for _, kr := range r.Keywords.Rules {
		var words []string
		for _, h := range hits {
			switch {
			case h.Rule != kr.Rule:
			case h.Negated:
				negated = append(negated, fmt.Sprintf("%q (after %q)", h.Keyword, h.Negation))
			default:
				words = append(words, fmt.Sprintf("%q", h.Keyword))
			}
		}
		if len(words) == 0 {
			continue
		}
		reason := Reason{Rule: kr.Rule, Detail: "keywords in the customer's words: " + strings.Join(words, ", ")}
		if kr.Effect == EffectEscalationRisk {
			risk = append(risk, reason)
			continue
		}
		exposure := kr.Exposure
		if exposure == "" {
			exposure = configs.ExposureThreatened
		}
		major = append(major, majorReason{Reason: reason, exposure: exposure})
	}
	if len(negated) > 0 {
		cancelled = &Reason{Rule: RuleKeywordsCancelled, Detail: "negated in the customer's words, not counted: " + strings.Join(negated, ", ")}
	}
	return major, risk, cancelled
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
