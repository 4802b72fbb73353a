package classifier

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hotlined/hotlined/configs"
)

// Window kinds of a group-complaint clause (DOMAIN.md "group complaint").
const (
	// WindowDay: one calendar day in the operator's time zone (the daily
	// clause: 3 or more escalated to the group or an appeal channel).
	WindowDay = "day"
	// WindowRolling30d: the 30 days before the contact (the monthly
	// clause by default), so an outbreak across a month boundary counts.
	WindowRolling30d = "rolling_30d"
	// WindowCalendarMonth: the calendar month (the monthly clause, when
	// configured so).
	WindowCalendarMonth = "calendar_month"
)

// RollingSpan is the length of a rolling window, and how long a rolling
// incident keeps taking members after its latest one.
const RollingSpan = 30 * 24 * time.Hour

// WindowBatch is the batch-complaint window (批量投诉): the hours before
// the contact (BatchComplaint.WindowHours).
const WindowBatch = "batch"

// RuleBatch is the reason's rule of a batch-complaint member.
const RuleBatch = "batch_complaint"

// IncidentOpen is the state of a batch incident: raised, no verification.
const IncidentOpen = "open"

// Incident states (DOMAIN.md): raised suspected; a supervisor confirms
// (问题属实) or rejects it.
const (
	IncidentSuspected = "suspected"
	IncidentConfirmed = "confirmed"
	IncidentRejected  = "rejected"
)

// Window is one group-complaint counting window for a contact: the valid
// complaints of one province and problem code (the same kind of problem,
// DOMAIN.md) since From. At most one incident is raised per Period; it
// takes the later complaints of its province and code until End, in
// whatever state it is in, unless rejected (then it is closed).
type Window struct {
	Rule        string // RuleGroupSameDay or RuleGroupSameMonth
	Kind        string // WindowDay, WindowRolling30d or WindowCalendarMonth
	Province    string
	ProblemCode string
	// Subcategory is the counted order's, for routing the incident's
	// events; not part of the window's identity.
	Subcategory string
	// From is where counting starts (inclusive): the start of the day or
	// month, or RollingSpan before the contact.
	From time.Time
	// End is when an incident raised now stops taking members: the end of
	// the day or month; for a rolling window RollingSpan after the contact
	// (moved on by each later member).
	End time.Time
	// Period names an incident raised now: 20261123 (day), R20261123
	// (rolling: the day it was raised) or 202611 (calendar month).
	Period    string
	Threshold int
}

// IncidentID is the id of the incident the window raises now:
// GC-20261123-GD-billing.overcharge (day), GC-R20261123-GD-... (rolling
// 30 days, raised that day), GC-202611-GD-... (calendar month).
func (w Window) IncidentID() string {
	kind := "GC"
	if w.Rule == RuleBatch {
		kind = "BC" // BC-H2026112310-GD-network.broadband_down: raised in that hour
	}
	return fmt.Sprintf("%s-%s-%s-%s", kind, w.Period, w.Province, w.ProblemCode)
}

// Slot is the window's province and problem code, PROVINCE:code, which
// keys its shared counters (one Redis hash slot for both clauses).
func (w Window) Slot() string { return w.Province + ":" + w.ProblemCode }

// Series names the clause within the slot: day or month.
func (w Window) Series() string {
	switch w.Rule {
	case RuleGroupSameDay:
		return "day"
	case RuleBatch:
		return "batch"
	}
	return "month"
}

// Rolling reports whether the window slides (its incident's End moves).
func (w Window) Rolling() bool { return w.Kind == WindowRolling30d || w.Kind == WindowBatch }

// InitialState is the state an incident of the window is raised in:
// suspected for a group complaint (verified first), open for a batch.
func (w Window) InitialState() string {
	if w.Rule == RuleBatch {
		return IncidentOpen
	}
	return IncidentSuspected
}

var incidentRe = regexp.MustCompile(`^(GC|BC)-(R[0-9]{8}|H[0-9]{10}|[0-9]{8}|[0-9]{6})-([A-Z]{2,3})-([a-z][a-z0-9_]{0,39}\.[a-z][a-z0-9_]{0,39})$`)

// ErrBadIncidentID is returned for a string that is not an incident id.
var ErrBadIncidentID = errors.New("not a group-complaint incident id")

// Countable reports whether an order counts toward group complaints: a
// valid complaint with a known province and a problem code.
func Countable(category, province, problemCode string, valid bool) bool {
	return category == configs.ClassComplaint && valid && configs.ValidProvince(province) && configs.ValidProblemCode(problemCode)
}

// GroupWindows are the windows a complaint of tier about (province,
// problemCode) at now counts in: the day when its tier escalated (group
// or appeal channels by default), and the monthly clause (any tier,
// rolling 30 days or the calendar month). Days and months are calendar
// periods in loc.
func (r *Rules) GroupWindows(tier, province, problemCode, subcategory string, now time.Time, loc *time.Location) []Window {
	var out []Window
	now = now.In(loc)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	if g := r.GroupComplaint.SameDay; slices.Contains(g.Tiers, tier) {
		out = append(out, Window{Rule: RuleGroupSameDay, Kind: WindowDay, Province: province, ProblemCode: problemCode,
			Subcategory: subcategory, From: day, End: day.AddDate(0, 0, 1), Period: day.Format("20060102"), Threshold: g.Threshold})
	}
	if g := r.GroupComplaint.SameMonth; slices.Contains(g.Tiers, tier) {
		w := Window{Rule: RuleGroupSameMonth, Kind: g.Window, Province: province, ProblemCode: problemCode,
			Subcategory: subcategory, Threshold: g.Threshold}
		if g.Window == WindowCalendarMonth {
			month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc)
			w.From, w.End, w.Period = month, month.AddDate(0, 1, 0), month.Format("200601")
		} else {
			w.From, w.End, w.Period = now.Add(-RollingSpan), now.Add(RollingSpan), "R"+day.Format("20060102")
		}
		out = append(out, w)
	}
	if b := r.BatchComplaint; b.Threshold > 0 {
		span := time.Duration(b.WindowHours) * time.Hour
		out = append(out, Window{Rule: RuleBatch, Kind: WindowBatch, Province: province, ProblemCode: problemCode,
			Subcategory: subcategory, From: now.Add(-span), End: now.Add(span), Period: "H" + now.Format("2006010215"),
			Threshold: b.Threshold})
	}
	return out
}

// WindowOf returns the window an incident id names (rule, kind, province,
// problem code, period), with today's thresholds; From and End are not
// known from an id and stay zero. ErrBadIncidentID when id is not one.
func (r *Rules) WindowOf(incidentID string, loc *time.Location) (Window, error) {
	m := incidentRe.FindStringSubmatch(incidentID)
	if m == nil || (m[1] == "BC") != strings.HasPrefix(m[2], "H") {
		return Window{}, fmt.Errorf("%w: %q", ErrBadIncidentID, incidentID)
	}
	w := Window{Province: m[3], ProblemCode: m[4], Period: m[2]}
	date, layout := strings.TrimLeft(m[2], "RH"), "20060102"
	switch {
	case strings.HasPrefix(m[2], "H"):
		w.Rule, w.Kind, w.Threshold, layout = RuleBatch, WindowBatch, r.BatchComplaint.Threshold, "2006010215"
	case strings.HasPrefix(m[2], "R"):
		w.Rule, w.Kind, w.Threshold = RuleGroupSameMonth, WindowRolling30d, r.GroupComplaint.SameMonth.Threshold
	case len(m[2]) == 8:
		w.Rule, w.Kind, w.Threshold = RuleGroupSameDay, WindowDay, r.GroupComplaint.SameDay.Threshold
	default:
		w.Rule, w.Kind, w.Threshold, layout = RuleGroupSameMonth, WindowCalendarMonth, r.GroupComplaint.SameMonth.Threshold, "200601"
	}
	t, err := time.ParseInLocation(layout, date, loc)
	if err != nil || t.Format(layout) != date {
		return Window{}, fmt.Errorf("%w: %q", ErrBadIncidentID, incidentID)
	}
	return w, nil
}

// GroupHit is an order's membership in an incident.
type GroupHit struct {
	Window Window
	// ID and State are the incident's (suspected, confirmed, rejected).
	ID    string
	State string
	// N is the order's place among the incident's members.
	N int
	// Members are the orders that raised it (the first Threshold).
	Members []string
}

// JoinGroups applies an order's incidents to its decision d (DOMAIN.md:
// verification first): a suspected incident flags it suspected_group and
// leaves the class; a confirmed one makes it a group complaint; a rejected
// one changes nothing but the reason. Each hit gives a reason and relates
// the members that raised it.
func (r *Rules) JoinGroups(d Decision, self string, hits []GroupHit) Decision {
	if len(hits) == 0 {
		return d
	}
	d.Reasons = append(slices.Clip(d.Reasons), r.GroupReasons(hits)...)
	d.Related = Union(d.Related, self, hits)
	d.Flags = slices.Clip(d.Flags)
	for _, h := range hits {
		switch {
		case h.Window.Rule == RuleBatch:
			if !slices.Contains(d.Flags, configs.FlagBatch) {
				d.Flags = append(d.Flags, configs.FlagBatch)
			}
		case h.State == IncidentConfirmed:
			d.Class = configs.ClassGroupComplaint
		case h.State == IncidentSuspected:
			if !slices.Contains(d.Flags, configs.FlagSuspectedGroup) {
				d.Flags = append(d.Flags, configs.FlagSuspectedGroup)
			}
		}
	}
	if d.Class == configs.ClassGroupComplaint {
		d.Priority = min(d.Priority, r.Priority(d.Class, 0))
	}
	return d
}

// GroupReasons are the reasons of group membership, one per incident.
func (r *Rules) GroupReasons(hits []GroupHit) []Reason {
	out := make([]Reason, 0, len(hits))
	for _, h := range hits {
		w := h.Window
		what := "complaints within 30 days"
		switch w.Kind {
		case WindowBatch:
			what = "complaints within a few hours (batch)"
		case WindowDay:
			what = "complaints escalated to group or appeal channels in one day"
		case WindowCalendarMonth:
			what = "complaints within the calendar month"
		}
		detail := fmt.Sprintf("incident %s (%s): %s about %s in %s reached %d (threshold %d)",
			h.ID, h.State, what, w.ProblemCode, w.Province, max(h.N, len(h.Members)), w.Threshold)
		switch h.State {
		case IncidentSuspected:
			detail += "; suspected until a supervisor verifies the problem"
		case IncidentRejected:
			detail += "; rejected by a supervisor: the class stands"
		}
		out = append(out, Reason{Rule: w.Rule, Detail: detail})
	}
	return out
}

// Union returns related plus every member of hits other than self, each once,
// in order.
func Union(related []string, self string, hits []GroupHit) []string {
	out := slices.Clone(related)
	if out == nil {
		out = []string{}
	}
	for _, h := range hits {
		for _, m := range h.Members {
			if m != self && !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}
