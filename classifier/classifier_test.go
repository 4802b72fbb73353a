package classifier

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotlined/hotlined/configs"
)

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

func rulesOf(rs []Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Rule
	}
	return out
}

func TestClassifyBase(t *testing.T) {
	r := DefaultRules()
	tests := []struct {
		name     string
		in       Input
		class    string
		priority int
		valid    bool
		rules    []string
	}{
		{"query", Input{Category: "query", Subcategory: "billing", Caller: "18912345678"},
			configs.ClassQuery, 4, true, []string{"base_category"}},
		{"fault", Input{Category: "fault_report", Subcategory: "broadband", Caller: "18912345678", ServiceNumber: "02012345678"},
			configs.ClassFaultReport, 3, true, []string{"base_category"}},
		{"complaint", Input{Category: "complaint", Subcategory: "network", Caller: "18912345678"},
			configs.ClassComplaint, 2, true, []string{"base_category"}},
		{"media involved (IVR leaf)", Input{Category: "complaint", Subcategory: "service", Caller: "18912345678", EscalationTendency: true},
			configs.ClassMajorComplaint, 1, true, []string{"base_category", "escalation_tendency_ivr"}},
		{"tendency flag on a query does not make it a complaint", Input{Category: "query", Subcategory: "billing", Caller: "18912345678", EscalationTendency: true},
			configs.ClassQuery, 4, true, []string{"base_category"}},
		{"keywords on a consultation do not make it a complaint", Input{Category: "consultation", Subcategory: "product", Caller: "18912345678", Texts: []string{"I will call a lawyer"}},
			configs.ClassConsultation, 4, true, []string{"base_category"}},
		{"anonymous", Input{Category: "complaint", Subcategory: "service", Caller: "anonymous"},
			configs.ClassComplaint, 2, false, []string{"base_category", "invalid_anonymous"}},
		{"anonymous with service number", Input{Category: "complaint", Subcategory: "service", Caller: "", ServiceNumber: "18912345678"},
			configs.ClassComplaint, 2, true, []string{"base_category"}},
		{"anonymous query", Input{Category: "query", Subcategory: "billing"},
			configs.ClassQuery, 4, false, []string{"base_category", "invalid_anonymous"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := r.Classify(tc.in)
			if d.Class != tc.class || d.Priority != tc.priority || d.Valid != tc.valid {
				t.Fatalf("got %s/%d/valid=%v, want %s/%d/valid=%v", d.Class, d.Priority, d.Valid, tc.class, tc.priority, tc.valid)
			}
			if !slices.Equal(rulesOf(d.Reasons), tc.rules) {
				t.Fatalf("reasons %+v, want rules %v", d.Reasons, tc.rules)
			}
			for i, r := range d.Reasons {
				if r.Detail == "" {
					t.Errorf("reason %d = %+v has no detail", i, r)
				}
			}
			if d.Related == nil || d.Urge != "" {
				t.Errorf("related %v (want empty, not nil), urge %q", d.Related, d.Urge)
			}
		})
	}
}

func TestClassifyHistory(t *testing.T) {
	r := DefaultRules()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)
	const day = 24 * time.Hour
	archived := func(id string, ago time.Duration) PastComplaint {
		return PastComplaint{ID: id, Status: "archived", Subcategory: "billing", CreatedAt: now.Add(-ago - 5*day), ClosedAt: now.Add(-ago)}
	}
	tests := []struct {
		name    string
		history []PastComplaint
		subcat  string
		class   string
		urge    string
		related []string
		rules   []string
	}{
		{"no history", nil, "billing", configs.ClassComplaint, "", []string{}, []string{"base_category"}},
		{"archived 29 days 23 hours ago: repeat", []PastComplaint{archived("WO-1", 29*day+23*time.Hour)}, "billing",
			configs.ClassRepeatComplaint, "", []string{"WO-1"}, []string{"base_category", "repeat_after_archive"}},
		{"archived exactly 30 days ago: still a repeat", []PastComplaint{archived("WO-1", 30*day)}, "billing",
			configs.ClassRepeatComplaint, "", []string{"WO-1"}, []string{"base_category", "repeat_after_archive"}},
		{"archived 30 days and 1 second ago: not a repeat", []PastComplaint{archived("WO-1", 30*day+time.Second)}, "billing",
			configs.ClassComplaint, "", []string{}, []string{"base_category"}},
		{"the latest archive counts", []PastComplaint{archived("WO-1", 40*day), archived("WO-2", 3*day)}, "network",
			configs.ClassRepeatComplaint, "", []string{"WO-2"}, []string{"base_category", "repeat_after_archive"}},
		{"open complaint: urge it", []PastComplaint{{ID: "WO-3", Status: "in_progress", Subcategory: "billing", CreatedAt: now.Add(-day)}}, "billing",
			configs.ClassComplaint, "WO-3", []string{"WO-3"}, []string{"base_category", "open_complaint_urged"}},
		{"open complaint of another subcategory: still urged by default", []PastComplaint{{ID: "WO-3", Status: "new", Subcategory: "network", CreatedAt: now.Add(-day)}}, "billing",
			configs.ClassComplaint, "WO-3", []string{"WO-3"}, []string{"base_category", "open_complaint_urged"}},
		{"reopened is open", []PastComplaint{{ID: "WO-3", Status: "reopened", CreatedAt: now.Add(-day)}}, "billing",
			configs.ClassComplaint, "WO-3", []string{"WO-3"}, []string{"base_category", "open_complaint_urged"}},
		{"the latest open one is urged", []PastComplaint{{ID: "WO-3", Status: "accepted", CreatedAt: now.Add(-2 * day)}, {ID: "WO-4", Status: "new", CreatedAt: now.Add(-day)}}, "billing",
			configs.ClassComplaint, "WO-4", []string{"WO-4"}, []string{"base_category", "open_complaint_urged"}},
		{"open beats archived", []PastComplaint{archived("WO-1", day), {ID: "WO-3", Status: "new", CreatedAt: now.Add(-time.Hour)}}, "billing",
			configs.ClassComplaint, "WO-3", []string{"WO-3"}, []string{"base_category", "open_complaint_urged"}},
		{"resolved, not archived: unsatisfied with the result", []PastComplaint{{ID: "WO-5", Status: "resolved", CreatedAt: now.Add(-3 * day), ClosedAt: now.Add(-day)}}, "billing",
			configs.ClassComplaint, "", []string{"WO-5"}, []string{"base_category", "unsatisfied_with_result"}},
		{"resolved long ago: a plain complaint", []PastComplaint{{ID: "WO-5", Status: "resolved", CreatedAt: now.Add(-60 * day), ClosedAt: now.Add(-31 * day)}}, "billing",
			configs.ClassComplaint, "", []string{}, []string{"base_category"}},
		{"resolved after an archive in the window: unsatisfied and repeat", []PastComplaint{archived("WO-1", 10*day), {ID: "WO-5", Status: "resolved", CreatedAt: now.Add(-3 * day), ClosedAt: now.Add(-day)}}, "billing",
			configs.ClassRepeatComplaint, "", []string{"WO-5", "WO-1"}, []string{"base_category", "unsatisfied_with_result", "repeat_after_archive"}},
		{"an older resolved one behind a newer archived one: repeat only", []PastComplaint{{ID: "WO-5", Status: "resolved", CreatedAt: now.Add(-20 * day), ClosedAt: now.Add(-19 * day)}, archived("WO-1", day)}, "billing",
			configs.ClassRepeatComplaint, "", []string{"WO-1"}, []string{"base_category", "repeat_after_archive"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := r.Classify(Input{Category: "complaint", Subcategory: tc.subcat, Caller: "18912345678",
				ServiceNumber: "18912345678", Now: now, History: tc.history})
			if d.Class != tc.class || d.Urge != tc.urge || !slices.Equal(d.Related, tc.related) || !slices.Equal(rulesOf(d.Reasons), tc.rules) {
				t.Fatalf("got class %s urge %q related %v reasons %+v\nwant %s %q %v %v", d.Class, d.Urge, d.Related, d.Reasons,
					tc.class, tc.urge, tc.related, tc.rules)
			}
		})
	}

	t.Run("same_subcategory_only", func(t *testing.T) {
		r := DefaultRules()
		r.OpenComplaint.SameSubcategoryOnly = true
		d := r.Classify(Input{Category: "complaint", Subcategory: "billing", ServiceNumber: "18912345678", Now: now,
			History: []PastComplaint{{ID: "WO-3", Status: "new", Subcategory: "network", CreatedAt: now.Add(-day)}}})
		if d.Urge != "" || d.Class != configs.ClassComplaint {
			t.Errorf("open network complaint, billing contact: urge %q class %s, want a new complaint", d.Urge, d.Class)
		}
	})
	t.Run("history is ignored for other categories", func(t *testing.T) {
		d := r.Classify(Input{Category: "query", Subcategory: "billing", ServiceNumber: "18912345678", Now: now,
			History: []PastComplaint{{ID: "WO-3", Status: "new", CreatedAt: now.Add(-day)}, archived("WO-1", day)}})
		if d.Urge != "" || d.Class != configs.ClassQuery {
			t.Errorf("query: urge %q class %s", d.Urge, d.Class)
		}
	})
	t.Run("repeat detail names the window", func(t *testing.T) {
		d := r.Classify(Input{Category: "complaint", Subcategory: "billing", ServiceNumber: "18912345678", Now: now,
			History: []PastComplaint{archived("WO-1", 29*day+23*time.Hour)}})
		if got := d.Reasons[1].Detail; !strings.Contains(got, "WO-1") || !strings.Contains(got, "29d 23h ago") || !strings.Contains(got, "30d 0h window") {
			t.Errorf("detail %q", got)
		}
	})
}

func TestClassifyMajor(t *testing.T) {
	r := DefaultRules()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)
	tests := []struct {
		name  string
		texts []string
		leaf  bool
		class string
		rules []string
	}{
		{"no text", nil, false, configs.ClassComplaint, []string{"base_category"}},
		{"chinese media", []string{"再不解决我就找记者曝光"}, false, configs.ClassMajorComplaint, []string{"base_category", "public_opinion_risk"}},
		{"mixed chinese and english", []string{"我已经联系了Lawyer，准备去法院起诉"}, false, configs.ClassMajorComplaint, []string{"base_category", "escalation_tendency"}},
		{"both rules", []string{"told the MEDIA and my lawyer"}, false, configs.ClassMajorComplaint, []string{"base_category", "public_opinion_risk", "escalation_tendency"}},
		{"full-width digits", []string{"我要打１２３１５"}, false, configs.ClassMajorComplaint, []string{"base_category", "escalation_tendency"}},
		{"full-width letters, any case", []string{"ＭＩＩＴ"}, false, configs.ClassMajorComplaint, []string{"base_category", "escalation_tendency"}},
		{"word boundary: courtesy is no court", []string{"the agent showed no courtesy"}, false, configs.ClassComplaint, []string{"base_category"}},
		{"word boundary: 12315 inside a number", []string{"my account 9912315000"}, false, configs.ClassComplaint, []string{"base_category"}},
		{"several texts", []string{"slow line", "agent note: 客户称要找通信管理局"}, false, configs.ClassMajorComplaint, []string{"base_category", "escalation_tendency"}},
		{"keyword and leaf", []string{"微博"}, true, configs.ClassMajorComplaint, []string{"base_category", "escalation_tendency_ivr", "public_opinion_risk"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := r.Classify(Input{Category: "complaint", Subcategory: "service", ServiceNumber: "18912345678",
				Now: now, Texts: tc.texts, EscalationTendency: tc.leaf})
			if d.Class != tc.class || !slices.Equal(rulesOf(d.Reasons), tc.rules) {
				t.Fatalf("got %s %+v, want %s %v", d.Class, d.Reasons, tc.class, tc.rules)
			}
			if tc.class == configs.ClassMajorComplaint && d.Priority != 1 {
				t.Errorf("priority %d, want 1", d.Priority)
			}
		})
	}
	t.Run("major beats repeat, both reasons kept", func(t *testing.T) {
		d := r.Classify(Input{Category: "complaint", Subcategory: "service", ServiceNumber: "18912345678", Now: now,
			Texts: []string{"I will sue"}, History: []PastComplaint{{ID: "WO-1", Status: "archived", ClosedAt: now.Add(-time.Hour)}}})
		if d.Class != configs.ClassMajorComplaint || !slices.Equal(rulesOf(d.Reasons), []string{"base_category", "repeat_after_archive", "escalation_tendency"}) {
			t.Errorf("got %s %v", d.Class, rulesOf(d.Reasons))
		}
	})
	t.Run("an urge carries the major reasons", func(t *testing.T) {
		d := r.Classify(Input{Category: "complaint", Subcategory: "service", ServiceNumber: "18912345678", Now: now,
			Texts: []string{"我要去微博曝光"}, History: []PastComplaint{{ID: "WO-1", Status: "new"}}})
		if d.Urge != "WO-1" || len(d.Major) != 1 || d.Major[0].Rule != "public_opinion_risk" || !strings.Contains(d.Major[0].Detail, `"微博"`) {
			t.Errorf("urge %q major %+v", d.Urge, d.Major)
		}
	})
}

func TestPriority(t *testing.T) {
	r := DefaultRules()
	for _, tc := range []struct {
		class string
		urges int
		want  int
	}{
		{configs.ClassComplaint, 0, 2}, {configs.ClassComplaint, 1, 1}, {configs.ClassComplaint, 5, 1},
		{configs.ClassQuery, 2, 2}, {configs.ClassMajorComplaint, 1, 1}, {"unknown", 0, 5},
	} {
		if got := r.Priority(tc.class, tc.urges); got != tc.want {
			t.Errorf("Priority(%s, %d) = %d, want %d", tc.class, tc.urges, got, tc.want)
		}
	}
}

// BenchmarkRulesClassify is the pure part of a complaint's classification:
// history rules over a customer with three earlier complaints and the
// keyword search of a 100-character mixed-language description.
func BenchmarkRulesClassify(b *testing.B) {
	r := DefaultRules()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)
	in := Input{Tier: "group", Category: "complaint", Subcategory: "billing", Caller: "18912345678", ServiceNumber: "18912345678",
		Now: now, Texts: []string{"客户反映本月账单多扣了流量费 the bill shows roaming charges twice, 如果不解决就找记者 and a lawyer"},
		History: []PastComplaint{
			{ID: "WO-1", Status: "archived", CreatedAt: now.Add(-40 * 24 * time.Hour), ClosedAt: now.Add(-35 * 24 * time.Hour)},
			{ID: "WO-2", Status: "archived", CreatedAt: now.Add(-20 * 24 * time.Hour), ClosedAt: now.Add(-10 * 24 * time.Hour)},
			{ID: "WO-3", Status: "resolved", CreatedAt: now.Add(-5 * 24 * time.Hour), ClosedAt: now.Add(-24 * time.Hour)},
		}}
	b.ReportAllocs()
	for b.Loop() {
		d := r.Classify(in)
		r.JoinGroups(d, "WO-4", nil)
		r.GroupWindows(in.Tier, "GD", in.Subcategory, now, shanghai)
	}
}
