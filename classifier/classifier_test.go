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
		{"media involved (IVR leaf)", Input{Category: "complaint", Subcategory: "service", Caller: "18912345678", PublicOpinionRisk: true},
			configs.ClassMajorComplaint, 1, true, []string{"base_category", "public_opinion_ivr"}},
		{"regulator (IVR leaf): escalation risk, class kept", Input{Category: "complaint", Subcategory: "service", Caller: "18912345678", EscalationTendency: true},
			configs.ClassComplaint, 1, true, []string{"base_category", "escalation_tendency_ivr"}},
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
		return PastComplaint{ID: id, Status: "archived", Subcategory: "billing", ProblemCode: "billing.overcharge",
			CreatedAt: now.Add(-ago - 5*day), ClosedAt: now.Add(-ago)}
	}
	open := func(id, status, code string, ago time.Duration) PastComplaint {
		return PastComplaint{ID: id, Status: status, Tier: "province", Subcategory: "billing", ProblemCode: code, CreatedAt: now.Add(-ago)}
	}
	tests := []struct {
		name    string
		history []PastComplaint
		code    string
		class   string
		urge    string
		related []string
		rules   []string
	}{
		{"no history", nil, "billing.overcharge", configs.ClassComplaint, "", []string{}, []string{"base_category"}},
		{"archived 3 days ago: repeat", []PastComplaint{archived("WO-1", 3*day)}, "billing.overcharge",
			configs.ClassRepeatComplaint, "", []string{"WO-1"}, []string{"base_category", "repeat_after_archive"}},
		{"repeat whatever the problem", []PastComplaint{archived("WO-1", 3*day)}, "network.quality",
			configs.ClassRepeatComplaint, "", []string{"WO-1"}, []string{"base_category", "repeat_after_archive"}},
		{"the latest archive counts", []PastComplaint{archived("WO-1", 40*day), archived("WO-2", 3*day)}, "network.quality",
			configs.ClassRepeatComplaint, "", []string{"WO-2"}, []string{"base_category", "repeat_after_archive"}},
		{"open complaint, same problem: urge it", []PastComplaint{open("WO-3", "in_progress", "billing.overcharge", day)}, "billing.overcharge",
			configs.ClassComplaint, "WO-3", []string{"WO-3"}, []string{"base_category", "open_complaint_urged"}},
		{"open complaint, another problem: a new order", []PastComplaint{open("WO-3", "in_progress", "billing.overcharge", day)}, "network.broadband_down",
			configs.ClassComplaint, "", []string{}, []string{"base_category"}},
		{"pending on the customer is open", []PastComplaint{open("WO-3", "pending_customer", "billing.overcharge", day)}, "billing.overcharge",
			configs.ClassComplaint, "WO-3", []string{"WO-3"}, []string{"base_category", "open_complaint_urged"}},
		{"reopened is open", []PastComplaint{open("WO-3", "reopened", "billing.overcharge", day)}, "billing.overcharge",
			configs.ClassComplaint, "WO-3", []string{"WO-3"}, []string{"base_category", "open_complaint_urged"}},
		{"the latest open one of the problem is urged", []PastComplaint{open("WO-3", "accepted", "billing.overcharge", 2*day),
			open("WO-4", "new", "billing.overcharge", day), open("WO-5", "new", "network.quality", time.Hour)}, "billing.overcharge",
			configs.ClassComplaint, "WO-4", []string{"WO-4"}, []string{"base_category", "open_complaint_urged"}},
		{"an order from before problem codes matches by subcategory", []PastComplaint{{ID: "WO-3", Status: "new", Subcategory: "billing", CreatedAt: now.Add(-day)}}, "billing.overcharge",
			configs.ClassComplaint, "WO-3", []string{"WO-3"}, []string{"base_category", "open_complaint_urged"}},
		{"open beats archived", []PastComplaint{archived("WO-1", day), open("WO-3", "new", "billing.overcharge", time.Hour)}, "billing.overcharge",
			configs.ClassComplaint, "WO-3", []string{"WO-3"}, []string{"base_category", "open_complaint_urged"}},
		{"resolved, not archived: unsatisfied with the result", []PastComplaint{{ID: "WO-5", Status: "resolved", CreatedAt: now.Add(-3 * day), ClosedAt: now.Add(-day)}}, "billing.overcharge",
			configs.ClassComplaint, "", []string{"WO-5"}, []string{"base_category", "unsatisfied_with_result"}},
		{"resolved long ago: a plain complaint", []PastComplaint{{ID: "WO-5", Status: "resolved", CreatedAt: now.Add(-60 * day), ClosedAt: now.Add(-31 * day)}}, "billing.overcharge",
			configs.ClassComplaint, "", []string{}, []string{"base_category"}},
		{"resolved after an archive in the window: unsatisfied and repeat", []PastComplaint{archived("WO-1", 10*day), {ID: "WO-5", Status: "resolved", CreatedAt: now.Add(-3 * day), ClosedAt: now.Add(-day)}}, "billing.overcharge",
			configs.ClassRepeatComplaint, "", []string{"WO-5", "WO-1"}, []string{"base_category", "unsatisfied_with_result", "repeat_after_archive"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := r.Classify(Input{Tier: "province", Category: "complaint", Subcategory: "billing", ProblemCode: tc.code, Caller: "18912345678",
				ServiceNumber: "18912345678", Now: now, History: tc.history})
			if d.Class != tc.class || d.Urge != tc.urge || !slices.Equal(d.Related, tc.related) || !slices.Equal(rulesOf(d.Reasons), tc.rules) {
				t.Fatalf("got class %s urge %q related %v reasons %+v\nwant %s %q %v %v", d.Class, d.Urge, d.Related, d.Reasons,
					tc.class, tc.urge, tc.related, tc.rules)
			}
		})
	}
	t.Run("history is ignored for other categories", func(t *testing.T) {
		d := r.Classify(Input{Category: "query", Subcategory: "billing", ServiceNumber: "18912345678", Now: now,
			History: []PastComplaint{{ID: "WO-3", Status: "new", CreatedAt: now.Add(-day)}, archived("WO-1", day)}})
		if d.Urge != "" || d.Class != configs.ClassQuery {
			t.Errorf("query: urge %q class %s", d.Urge, d.Class)
		}
	})
}

// TestRepeatWindowIsCalendarDays: archived 11-01 10:00 in Asia/Shanghai, a
// complaint is a repeat through 12-01 23:59:59 and not from 12-02 00:00:00
// (DOMAIN.md "repeat complaint"), whatever the hour of the archive.
func TestRepeatWindowIsCalendarDays(t *testing.T) {
	r := DefaultRules()
	at := func(s string) time.Time {
		v, err := time.ParseInLocation(time.DateTime, s, shanghai)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		archived, now string
		repeat        bool
	}{
		{"2026-11-01 10:00:00", "2026-11-01 10:00:01", true},
		{"2026-11-01 10:00:00", "2026-12-01 10:00:00", true},
		{"2026-11-01 10:00:00", "2026-12-01 10:00:01", true}, // 720 h and 1 s: still day 30
		{"2026-11-01 10:00:00", "2026-12-01 23:59:59", true},
		{"2026-11-01 10:00:00", "2026-12-02 00:00:00", false},
		{"2026-11-01 23:59:59", "2026-12-01 23:59:59", true},
		{"2026-11-01 00:00:00", "2026-12-02 00:00:00", false},
		{"2026-01-31 18:00:00", "2026-03-02 23:59:59", true}, // across a 28-day February
		{"2026-01-31 18:00:00", "2026-03-03 00:00:00", false},
		{"2026-11-01 10:00:00", "2026-10-31 10:00:00", false}, // archived after the contact: clock skew
	} {
		t.Run(tc.archived+" "+tc.now, func(t *testing.T) {
			arch := at(tc.archived)
			d := r.Classify(Input{Tier: "province", Category: "complaint", Subcategory: "billing", ServiceNumber: "18912345678",
				Now: at(tc.now), History: []PastComplaint{{ID: "WO-1", Status: "archived", CreatedAt: arch.Add(-time.Hour), ClosedAt: arch}}})
			if got := d.Class == configs.ClassRepeatComplaint; got != tc.repeat {
				t.Fatalf("repeat = %v, want %v (%+v)", got, tc.repeat, d.Reasons)
			}
		})
	}
	t.Run("the detail names the last day", func(t *testing.T) {
		d := r.Classify(Input{Tier: "province", Category: "complaint", Subcategory: "billing", ServiceNumber: "18912345678",
			Now: at("2026-11-20 09:00:00"), History: []PastComplaint{{ID: "WO-1", Status: "archived", ClosedAt: at("2026-11-01 10:00:00")}}})
		if got := d.Reasons[1].Detail; !strings.Contains(got, "WO-1") || !strings.Contains(got, "end of 2026-12-01") {
			t.Errorf("detail %q", got)
		}
	})
}

// TestEscalationIsNotAnUrge: a contact about an open complaint's problem
// urges it on the same or a lower tier, and is a new order of its own tier,
// related to it, on a higher one (DOMAIN.md "Urge, not a new order").
func TestEscalationIsNotAnUrge(t *testing.T) {
	r := DefaultRules()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)
	for _, tc := range []struct {
		openTier, contactTier, code string
		urge, escalates             bool
	}{
		{"province", "province", "billing.overcharge", true, false},
		{"province", "group", "billing.overcharge", false, true},
		{"province", "appeal", "billing.overcharge", false, true},
		{"group", "appeal", "billing.overcharge", false, true},
		{"group", "group", "billing.overcharge", true, false},
		{"group", "province", "billing.overcharge", true, false},
		{"appeal", "province", "billing.overcharge", true, false},
		{"appeal", "group", "billing.overcharge", true, false},
		{"", "group", "billing.overcharge", false, true}, // indexed before tiers: province
		{"province", "group", "network.broadband_down", false, false},
		{"province", "province", "network.broadband_down", false, false},
	} {
		t.Run(tc.openTier+">"+tc.contactTier+" "+tc.code, func(t *testing.T) {
			d := r.Classify(Input{Tier: tc.contactTier, Category: "complaint", Subcategory: "billing", ProblemCode: tc.code,
				ServiceNumber: "18912345678", Now: now,
				History: []PastComplaint{{ID: "WO-1", Status: "accepted", Tier: tc.openTier, ProblemCode: "billing.overcharge", CreatedAt: now.Add(-time.Hour)}}})
			if (d.Urge == "WO-1") != tc.urge || (d.Escalates == "WO-1") != tc.escalates {
				t.Fatalf("urge %q escalates %q, want urge %v escalates %v", d.Urge, d.Escalates, tc.urge, tc.escalates)
			}
			if tc.escalates {
				if !slices.Contains(d.Related, "WO-1") || !slices.Contains(rulesOf(d.Reasons), RuleEscalatedFrom) || d.Class != configs.ClassComplaint {
					t.Errorf("escalation: class %s related %v reasons %v", d.Class, d.Related, rulesOf(d.Reasons))
				}
			}
		})
	}
}

func TestEscalationRecord(t *testing.T) {
	r := DefaultRules()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)
	day0 := time.Date(2026, 11, 23, 0, 0, 0, 0, shanghai)
	for _, tc := range []struct {
		name     string
		past     PastComplaint
		category string
		flag     bool
		priority int
	}{
		{"appeal 10 days ago", PastComplaint{ID: "WO-9", Tier: "appeal", CreatedAt: now.AddDate(0, 0, -10)}, "complaint", true, 1},
		{"group order on the first day of the window", PastComplaint{ID: "WO-9", Tier: "group", CreatedAt: day0.AddDate(0, 0, -180)}, "complaint", true, 1},
		{"group order the day before the window", PastComplaint{ID: "WO-9", Tier: "group", CreatedAt: day0.AddDate(0, 0, -180).Add(-time.Second)}, "complaint", false, 2},
		{"a province-tier order is no record", PastComplaint{ID: "WO-9", Tier: "province", CreatedAt: now.AddDate(0, 0, -1)}, "complaint", false, 2},
		{"a query is flagged, its priority kept", PastComplaint{ID: "WO-9", Tier: "appeal", CreatedAt: now.AddDate(0, 0, -1)}, "query", true, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := r.Classify(Input{Tier: "province", Category: tc.category, Subcategory: "billing", ServiceNumber: "18912345678",
				Now: now, Escalations: []PastComplaint{tc.past}})
			if slices.Contains(d.Flags, configs.FlagEscalationRecord) != tc.flag || d.Priority != tc.priority {
				t.Fatalf("flags %v priority %d, want flag %v priority %d", d.Flags, d.Priority, tc.flag, tc.priority)
			}
			if tc.flag && (!slices.Contains(d.Related, "WO-9") || !slices.Contains(rulesOf(d.Reasons), RuleEscalationRecord)) {
				t.Errorf("related %v reasons %v", d.Related, rulesOf(d.Reasons))
			}
		})
	}
}

func TestClassifyMajorAndEscalationRisk(t *testing.T) {
	r := DefaultRules()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)
	tests := []struct {
		name     string
		texts    []string
		ivr      string // "media" or "regulator"
		class    string
		exposure string
		risk     bool
		rules    []string
	}{
		{"no text", nil, "", configs.ClassComplaint, "", false, []string{"base_category"}},
		{"chinese media", []string{"再不解决我就找记者曝光"}, "", configs.ClassMajorComplaint, "threatened", false, []string{"base_category", "public_opinion_risk"}},
		{"already exposed", []string{"我已经发到网上了，还上了新闻"}, "", configs.ClassMajorComplaint, "exposed", false, []string{"base_category", "public_opinion_exposed", "public_opinion_risk"}},
		{"a lawyer is escalation risk, not major", []string{"我已经联系了Lawyer，准备去法院起诉"}, "", configs.ClassComplaint, "", true, []string{"base_category", "escalation_tendency"}},
		{"12300 is escalation risk", []string{"我要打12300申诉"}, "", configs.ClassComplaint, "", true, []string{"base_category", "escalation_tendency"}},
		{"both", []string{"told the MEDIA and my lawyer"}, "", configs.ClassMajorComplaint, "threatened", true, []string{"base_category", "public_opinion_risk", "escalation_tendency"}},
		{"full-width digits", []string{"我要打１２３１５"}, "", configs.ClassComplaint, "", true, []string{"base_category", "escalation_tendency"}},
		{"full-width letters, any case", []string{"ＭＩＩＴ"}, "", configs.ClassComplaint, "", true, []string{"base_category", "escalation_tendency"}},
		{"word boundary: courtesy is no court", []string{"the agent showed no courtesy"}, "", configs.ClassComplaint, "", false, []string{"base_category"}},
		{"word boundary: 12315 inside a number", []string{"my account 9912315000"}, "", configs.ClassComplaint, "", false, []string{"base_category"}},
		{"product: 抖音定向流量包", []string{"抖音定向流量包被重复扣费"}, "", configs.ClassComplaint, "", false, []string{"base_category"}},
		{"product: 微博流量包", []string{"微博流量包没有生效"}, "", configs.ClassComplaint, "", false, []string{"base_category"}},
		{"product: 头条定向流量", []string{"头条定向流量用不了"}, "", configs.ClassComplaint, "", false, []string{"base_category"}},
		{"product: 新闻早晚报", []string{"新闻早晚报订阅扣费"}, "", configs.ClassComplaint, "", false, []string{"base_category"}},
		{"product and a real threat", []string{"抖音定向流量包被重复扣费，不退钱我就发抖音曝光"}, "", configs.ClassMajorComplaint, "threatened", false, []string{"base_category", "public_opinion_risk"}},
		{"negated: 不会找媒体", []string{"客户表示不会找媒体"}, "", configs.ClassComplaint, "", false, []string{"base_category", "keywords_cancelled"}},
		{"negated: not going to", []string{"I am not going to call a lawyer"}, "", configs.ClassComplaint, "", false, []string{"base_category", "keywords_cancelled"}},
		{"negation in another clause", []string{"我不会放过你们，我要找媒体"}, "", configs.ClassMajorComplaint, "threatened", false, []string{"base_category", "public_opinion_risk"}},
		{"negation before a contrast", []string{"不会投诉但要找记者"}, "", configs.ClassMajorComplaint, "threatened", false, []string{"base_category", "public_opinion_risk"}},
		{"negation after the keyword", []string{"找媒体也没有用"}, "", configs.ClassMajorComplaint, "threatened", false, []string{"base_category", "public_opinion_risk"}},
		{"media IVR leaf", nil, "media", configs.ClassMajorComplaint, "threatened", false, []string{"base_category", "public_opinion_ivr"}},
		{"regulator IVR leaf", nil, "regulator", configs.ClassComplaint, "", true, []string{"base_category", "escalation_tendency_ivr"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := r.Classify(Input{Tier: "province", Category: "complaint", Subcategory: "service", ServiceNumber: "18912345678",
				Now: now, Texts: tc.texts, PublicOpinionRisk: tc.ivr == "media", EscalationTendency: tc.ivr == "regulator"})
			if d.Class != tc.class || d.Exposure != tc.exposure || !slices.Equal(rulesOf(d.Reasons), tc.rules) {
				t.Fatalf("got %s exposure %q %+v, want %s %q %v", d.Class, d.Exposure, d.Reasons, tc.class, tc.exposure, tc.rules)
			}
			if got := slices.Contains(d.Flags, configs.FlagEscalationRisk); got != tc.risk {
				t.Errorf("escalation_risk flag %v, want %v", got, tc.risk)
			}
			if (tc.class == configs.ClassMajorComplaint || tc.risk) && d.Priority != 1 {
				t.Errorf("priority %d, want 1", d.Priority)
			}
		})
	}
	t.Run("a keyword on a consultation changes nothing", func(t *testing.T) {
		d := r.Classify(Input{Category: "consultation", Subcategory: "product", ServiceNumber: "18912345678", Now: now, Texts: []string{"I will call a lawyer"}})
		if d.Class != configs.ClassConsultation || len(d.Flags) != 0 {
			t.Errorf("got %s flags %v", d.Class, d.Flags)
		}
	})
	t.Run("major beats repeat, both reasons kept", func(t *testing.T) {
		d := r.Classify(Input{Category: "complaint", Subcategory: "service", ServiceNumber: "18912345678", Now: now,
			Texts: []string{"I will tell a journalist"}, History: []PastComplaint{{ID: "WO-1", Status: "archived", ClosedAt: now.Add(-time.Hour)}}})
		if d.Class != configs.ClassMajorComplaint || !slices.Equal(rulesOf(d.Reasons), []string{"base_category", "repeat_after_archive", "public_opinion_risk"}) {
			t.Errorf("got %s %v", d.Class, rulesOf(d.Reasons))
		}
	})
	t.Run("an urge carries the major and risk reasons", func(t *testing.T) {
		d := r.Classify(Input{Tier: "province", Category: "complaint", Subcategory: "service", ServiceNumber: "18912345678", Now: now,
			Texts: []string{"我要去微博曝光，还要找律师"}, History: []PastComplaint{{ID: "WO-1", Status: "new", Subcategory: "service"}}})
		if d.Urge != "WO-1" || len(d.Major) != 1 || d.Major[0].Rule != "public_opinion_risk" || !strings.Contains(d.Major[0].Detail, `"微博"`) ||
			len(d.Risk) != 1 || !slices.Contains(d.Flags, configs.FlagEscalationRisk) {
			t.Errorf("urge %q major %+v risk %+v flags %v", d.Urge, d.Major, d.Risk, d.Flags)
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
		r.GroupWindows(in.Tier, "GD", "billing.overcharge", in.Subcategory, now, shanghai)
	}
}
