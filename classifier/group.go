package classifier

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/hotlined/hotlined/configs"
)

// Window is one group-complaint counting window: the complaints of one
// province and problem code (the same kind of problem, DOMAIN.md) within
// one calendar day or month in the operator's time zone. At most one
// incident is raised per window.
type Window struct {
	Rule        string // RuleGroupSameDay or RuleGroupSameMonth
	Province    string
	ProblemCode string
	// Subcategory is the counted order's, for routing the incident's
	// events; not part of the window's identity.
	Subcategory string
	// Period is the calendar day (2026-11-23) or month (2026-11).
	Period string
	// Start and End bound the period: [Start, End).
	Start, End time.Time
	Threshold  int
	// Verified is false when the incident waits for a supervisor's
	// confirmation that the problem is real.
	Verified bool
}

// IncidentID is the id of the window's incident: GC-20261123-GD-billing for
// a day, GC-202611-GD-billing for a month. It names the window, so raising
// the incident twice gives the same id.
func (w Window) IncidentID() string {
	return fmt.Sprintf("GC-%s-%s-%s", compact(w.Period), w.Province, w.ProblemCode)
}

// Slot is the window's compact name, province:problem_code:period, which
// keys its shared counter.
func (w Window) Slot() string {
	return fmt.Sprintf("%s:%s:%s", w.Province, w.ProblemCode, compact(w.Period))
}

// PeriodKey is the period without dashes: 20261123 or 202611.
func (w Window) PeriodKey() string { return compact(w.Period) }

func compact(period string) string {
	out := make([]byte, 0, len(period))
	for i := 0; i < len(period); i++ {
		if period[i] != '-' {
			out = append(out, period[i])
		}
	}
	return string(out)
}

var (
	incidentRe = regexp.MustCompile(`^GC-([0-9]{8}|[0-9]{6})-([A-Z]{2,3})-([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)$`)
)

// ErrBadIncidentID is returned for a string that is not an incident id.
var ErrBadIncidentID = errors.New("not a group-complaint incident id")

// Countable reports whether an order counts toward group complaints: a
// valid complaint with a known province and a problem code.
func Countable(category, province, problemCode string, valid bool) bool {
	return category == configs.ClassComplaint && valid && configs.ValidProvince(province) && configs.ValidProblemCode(problemCode)
}

// GroupWindows are the windows a complaint created at now counts in: the
// day window when its tier escalated (group or appeal channels by default),
// and the month window. Periods are calendar periods in loc.
func (r *Rules) GroupWindows(tier, province, problemCode, subcategory string, now time.Time, loc *time.Location) []Window {
	var out []Window
	now = now.In(loc)
	if g := r.GroupComplaint.SameDay; slices.Contains(g.Tiers, tier) {
		start := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
		out = append(out, Window{Rule: RuleGroupSameDay, Province: province, ProblemCode: problemCode, Subcategory: subcategory,
			Period: start.Format("2006-01-02"), Start: start, End: start.AddDate(0, 0, 1),
			Threshold: g.Threshold, Verified: !g.RequiresConfirmation})
	}
	if g := r.GroupComplaint.SameMonth; slices.Contains(g.Tiers, tier) {
		start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc)
		out = append(out, Window{Rule: RuleGroupSameMonth, Province: province, ProblemCode: problemCode, Subcategory: subcategory,
			Period: start.Format("2006-01"), Start: start, End: start.AddDate(0, 1, 0),
			Threshold: g.Threshold, Verified: !g.RequiresConfirmation})
	}
	return out
}

// WindowOf returns the window an incident id names, with today's rules.
func (r *Rules) WindowOf(incidentID string, loc *time.Location) (Window, error) {
	m := incidentRe.FindStringSubmatch(incidentID)
	if m == nil {
		return Window{}, fmt.Errorf("%w: %q", ErrBadIncidentID, incidentID)
	}
	w := Window{Province: m[2], ProblemCode: m[3]}
	if len(m[1]) == 8 {
		start, err := time.ParseInLocation("20060102", m[1], loc)
		if err != nil {
			return Window{}, fmt.Errorf("%w: %q: %v", ErrBadIncidentID, incidentID, err)
		}
		g := r.GroupComplaint.SameDay
		w.Rule, w.Period, w.Start, w.End = RuleGroupSameDay, start.Format("2006-01-02"), start, start.AddDate(0, 0, 1)
		w.Threshold, w.Verified = g.Threshold, !g.RequiresConfirmation
	} else {
		start, err := time.ParseInLocation("200601", m[1], loc)
		if err != nil {
			return Window{}, fmt.Errorf("%w: %q: %v", ErrBadIncidentID, incidentID, err)
		}
		g := r.GroupComplaint.SameMonth
		w.Rule, w.Period, w.Start, w.End = RuleGroupSameMonth, start.Format("2006-01"), start, start.AddDate(0, 1, 0)
		w.Threshold, w.Verified = g.Threshold, !g.RequiresConfirmation
	}
	if w.IncidentID() != incidentID { // e.g. month 13 normalised by time.Parse would not get here; belt and braces
		return Window{}, fmt.Errorf("%w: %q", ErrBadIncidentID, incidentID)
	}
	return w, nil
}

// RecentPeriods are the windows' periods a reconciler looks back over at
// now: today and yesterday, this month and last month.
func RecentPeriods(now time.Time, loc *time.Location) []string {
	now = now.In(loc)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc)
	return []string{day.Format("20060102"), day.AddDate(0, 0, -1).Format("20060102"),
		month.Format("200601"), month.AddDate(0, -1, 0).Format("200601")}
}

// GroupHit is an order's membership in a window that raised an incident.
type GroupHit struct {
	Window Window
	// N is the order's place in the window's count (the threshold-th raised
	// the incident).
	N int
	// Members are the window's orders the incident holds so far.
	Members []string
}

// JoinGroups makes d a group complaint for each incident the order (self)
// belongs to: the class, a reason per window, the other members related.
func (r *Rules) JoinGroups(d Decision, self string, hits []GroupHit) Decision {
	if len(hits) == 0 {
		return d
	}
	d.Class = configs.ClassGroupComplaint
	d.Reasons = append(slices.Clip(d.Reasons), r.GroupReasons(hits)...)
	d.Related = Union(d.Related, self, hits)
	d.Priority = r.Priority(d.Class, 0)
	return d
}

// GroupReasons are the reasons of group membership, one per window.
func (r *Rules) GroupReasons(hits []GroupHit) []Reason {
	out := make([]Reason, 0, len(hits))
	for _, h := range hits {
		w := h.Window
		what := "complaints"
		if w.Rule == RuleGroupSameDay {
			what = "complaints escalated to group or appeal channels"
		}
		detail := fmt.Sprintf("incident %s: %s about %s in %s during %s reached %d (threshold %d)",
			w.IncidentID(), what, w.ProblemCode, w.Province, w.Period, max(h.N, len(h.Members)), w.Threshold)
		if !w.Verified {
			detail += "; unverified until a supervisor confirms it"
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
