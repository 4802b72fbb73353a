package api

import (
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"
	"gopkg.in/yaml.v3"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/workorder"
)

func TestPickLang(t *testing.T) {
	for _, c := range []struct {
		query, cookie, accept string
		want                  language.Tag
	}{
		{"", "", "", langZH},
		{"", "", "fr-FR,fr;q=0.9", langZH},
		{"", "", "en-US,en;q=0.9", language.English},
		{"", "", "zh-CN,zh;q=0.9,en;q=0.8", langZH},
		{"", "", "zh", langZH},
		{"en", "", "zh-CN", language.English},
		{"zh-CN", "", "en-US", langZH},
		{"", "en", "zh-CN", language.English},
		{"zh", "en", "en-US", langZH},
		{"%%%", "", "en", language.English},
	} {
		r := httptest.NewRequest("GET", "/ui/board?lang="+c.query, nil)
		if c.cookie != "" {
			r.Header.Set("Cookie", langCookie+"="+c.cookie)
		}
		if c.accept != "" {
			r.Header.Set("Accept-Language", c.accept)
		}
		if got := pickLang(r); got != c.want {
			t.Errorf("lang=%q cookie=%q Accept-Language=%q: %v, want %v", c.query, c.cookie, c.accept, got, c.want)
		}
	}
}

// policyNames collects the stage and level names of a policies file.
func policyNames(t *testing.T, path string) (stages, levels []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				switch s, _ := x.(string); {
				case k == "level" || k == "warning_level":
					levels = append(levels, s)
				case k == "stage" || (k == "name" && key == "stages"):
					stages = append(stages, s)
				}
				walk(x, k)
			}
		case []any:
			for _, x := range v {
				walk(x, key)
			}
		}
	}
	walk(doc, "")
	return stages, levels
}

// Every identifier the daemon shows has words in both languages, and the
// Chinese words are not the identifier.
func TestCatalogueCoversIdentifiers(t *testing.T) {
	cfg, err := configs.Load("../configs/hotlined.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"class":    configs.Classes,
		"category": configs.Categories,
		"status":   configs.Statuses,
		"tier":     configs.Tiers,
		"severity": {escalation.SeverityWarning, escalation.SeverityBreach, escalation.SeverityMajor, escalation.SeverityGroup, escalation.SeverityEscalationRisk},
		"flag":     configs.Flags,
		"rule": {classifier.RuleBaseCategory, classifier.RuleInvalidAnonymous, classifier.RuleEscalationTendencyIVR,
			classifier.RuleOpenComplaintUrged, classifier.RuleUnsatisfied, classifier.RuleRepeatAfterArchive,
			classifier.RuleGroupSameDay, classifier.RuleGroupSameMonth, classifier.RuleReclassified,
			classifier.RulePublicOpinionIVR, classifier.RuleEscalatedFrom, classifier.RuleEscalationRecord,
			classifier.RuleKeywordsCancelled, "public_opinion_risk", "public_opinion_exposed", "escalation_tendency",
			classifier.RuleAppealOf, classifier.RuleAppealFirstContact, classifier.RuleBatch},
		"incident_state": {"open", "suspected", "confirmed", "rejected"},
		"note":           workorder.NoteKinds,
		"ground":         configs.InvalidGrounds,
		"followup":       {"satisfied", "basically_satisfied", "unsatisfied"},
		"exposure":       {"threatened", "exposed"},
		"action": {"status", "urge", "class", "escalated", "flag", "note", "problem", "province", "group", "invalid",
			"transfer", "transfer_abandoned", "fcr_taken_back"},
		"role": {"agent", "supervisor", "system", "classifier", "caller"},
		"transfer_reason": {workorder.TransferBusy, workorder.TransferNoAnswer, workorder.TransferRefused, workorder.TransferError,
			workorder.TransferCallLost, workorder.TransferCallerHungUp},
		"province": {cfg.Provinces.Unknown},
	}
	stages, levels := policyNames(t, "../configs/policies.yaml")
	if len(stages) < 5 || len(levels) < 4 {
		t.Fatalf("policies.yaml gave stages %v levels %v: the walk is broken", stages, levels)
	}
	want["stage"] = append(stages, workorder.StageGroupSuspected, workorder.StageReportEscalationRisk,
		workorder.StageSetProvince, workorder.StageTransferFailed, workorder.StageResolve)
	want["level"] = levels
	for _, stages := range cfg.Escalation.Deadlines {
		for st := range stages {
			want["stage"] = append(want["stage"], st)
		}
	}
	for _, p := range cfg.Provinces.Prefixes {
		want["province"] = append(want["province"], p)
	}
	for _, h := range cfg.Hotlines {
		if h.Province != "from_caller" {
			want["province"] = append(want["province"], h.Province)
		}
	}
	var leaves func(n *configs.Node)
	leaves = func(n *configs.Node) {
		if n.Subcategory != "" {
			want["sub"] = append(want["sub"], n.Subcategory)
		}
		for _, o := range n.Options {
			leaves(o)
		}
	}
	for _, m := range cfg.Menus {
		leaves(m)
	}
	zh, en := newLocale(langZH, nil), newLocale(language.English, nil)
	for kind, ids := range want {
		for _, id := range ids {
			if !uiKnown[kind+"."+id] {
				t.Errorf("the catalogue lacks %s.%s", kind, id)
				continue
			}
			if z, e := zh.word(kind, id), en.word(kind, id); z == id || z == e || e == "" {
				t.Errorf("%s.%s: zh %q en %q", kind, id, z, e)
			}
		}
	}
	if got := zh.Stage("cool_off"); got != "cool off" {
		t.Errorf("unknown stage in words = %q", got)
	}
}

// Problem codes are named by the table's own labels, in the page's
// language; a code the table lacks is shown as it is.
func TestLocaleProblemLabels(t *testing.T) {
	codes, err := configs.LoadProblemCodes("../configs/problem_codes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	zh := newLocale(langZH, nil).withCodes(codes)
	en := newLocale(language.English, nil).withCodes(codes)
	if got := zh.Problem("billing.overcharge"); got != "多收费及重复扣费" {
		t.Errorf("zh billing.overcharge = %q", got)
	}
	if got := en.Problem("billing.overcharge"); got != "Overcharge or double charge" {
		t.Errorf("en billing.overcharge = %q", got)
	}
	if got := zh.Problem("billing.nonesuch"); got != "billing.nonesuch" {
		t.Errorf("unknown code = %q", got)
	}
	groups := zh.ProblemGroups()
	n := 0
	for _, g := range groups {
		n += len(g.Codes)
	}
	if len(groups) != len(codes.Groups) || n != codes.Len() || groups[0].Label != "计费账务" {
		t.Errorf("problem groups: %d groups, %d codes, first %q", len(groups), n, groups[0].Label)
	}
	words := zh.JSStrings()["words"].(map[string]map[string]string)
	if words["problem"]["billing.overcharge"] != "多收费及重复扣费" {
		t.Errorf("the pages' JavaScript lacks the problem labels: %v", words["problem"]["billing.overcharge"])
	}
	if newLocale(langZH, nil).Problem("billing.overcharge") != "billing.overcharge" || newLocale(langZH, nil).ProblemGroups() != nil {
		t.Error("without a table, codes are shown as they are")
	}
}

func TestLocaleTimeInZone(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	l := newLocale(langZH, sh)
	at := time.Date(2026, 11, 30, 6, 5, 9, 0, time.UTC)
	if got := l.Time(at); got != "2026-11-30 14:05:09 +08:00" {
		t.Errorf("Time = %q", got)
	}
	if got := l.Zone(); got != "Asia/Shanghai (UTC+08:00)" {
		t.Errorf("Zone = %q", got)
	}
	if got := l.T("Priority %d", 2); got != "优先级 2" {
		t.Errorf("T = %q", got)
	}
	if got := newLocale(language.English, sh).T("Priority %d", 2); got != "Priority 2" {
		t.Errorf("T en = %q", got)
	}
	js := l.JSStrings()
	if js["overdue"] != "已超时 {t}" || js["tz"] != "Asia/Shanghai" || js["words"].(map[string]map[string]string)["class"]["major_complaint"] != "重大投诉" {
		t.Errorf("JSStrings = %v", js)
	}
	for k := range js {
		if strings.Contains(k, " ") {
			t.Errorf("JSStrings has a sentence key %q", k)
		}
	}
}

func TestAgentMayReclassify(t *testing.T) {
	for _, c := range []struct {
		from, to string
		want     bool
	}{
		{"complaint", "major_complaint", true},
		{"query", "complaint", true},
		{"query", "consultation", true},
		{"major_complaint", "complaint", false},
		{"repeat_complaint", "complaint", false},
		{"complaint", "query", false},
	} {
		if got := agentMayReclassify(c.from, c.to); got != c.want {
			t.Errorf("%s -> %s = %v", c.from, c.to, got)
		}
	}
	for _, c := range configs.Classes {
		if _, ok := configs.ClassSeverity[c]; !ok {
			t.Errorf("class %s has no rank", c)
		}
	}
}

func TestReasonDetail(t *testing.T) {
	l := newLocale(langZH, nil)
	for _, c := range []struct{ rule, detail, want string }{
		{"reclassified", "complaint -> major_complaint by agent:28aec4d4: 客户称将曝光", "投诉 → 重大投诉 · 坐席 28aec4d4 · 客户称将曝光"},
		{"base_category", "complaint/billing chosen in the IVR or given by the channel", ""},
		{"group_same_month", "incident GC-202611-GD-billing: complaints about billing in GD during 2026-11 reached 20", "GC-202611-GD-billing"},
		{"repeat_after_archive", "WO-20261101-GD-000042 was archived 2026-11-02, 28d ago, within the 720h window", "WO-20261101-GD-000042"},
		{"public_opinion_risk", "keywords in the customer's words: 媒体, 曝光", "媒体, 曝光"},
	} {
		if got := l.ReasonDetail(c.rule, c.detail); got != c.want {
			t.Errorf("%s %q = %q, want %q", c.rule, c.detail, got, c.want)
		}
	}
}

// The notes the daemon writes are said in the page's language from their
// key and arguments, identifiers in words and typed text as typed; every
// other note is shown as stored.
func TestHistoryNote(t *testing.T) {
	zh, en := newLocale(langZH, nil), newLocale(language.English, nil)
	sys := func(key, note string, args map[string]string) workorder.Change {
		return workorder.Change{Action: "x", Note: note, NoteKey: key, NoteArgs: args}
	}
	cases := []struct {
		c      workorder.Change
		zh, en string
	}{
		{sys(workorder.NoteKeyUrge, "contact on 10000 while in_progress (urge 2), call call-2: 还是没退款",
			map[string]string{"hotline": "10000", "channel": "hotline", "status": "in_progress", "urges": "2", "call": "call-2", "description": "还是没退款"}),
			"第2次催办：客户经热线电话（10000）再次联系（当时状态：处理中），通话 call-2：还是没退款",
			"Urge 2: the customer contacted us again by Hotline call (10000) while the order was In progress, call call-2: 还是没退款"},
		{sys(workorder.NoteKeyUrge, "contact by web while accepted (urge 1)", map[string]string{"channel": "web", "status": "accepted", "urges": "1"}),
			"第1次催办：客户经网厅再次联系（当时状态：已受理）",
			"Urge 1: the customer contacted us again by Web while the order was Accepted"},
		{sys(workorder.NoteKeyEscalated, "the customer took the problem to the appeal tier (12300): WO-20261110-GD-3960000001",
			map[string]string{"tier": "appeal", "hotline": "12300", "order": "WO-20261110-GD-3960000001"}),
			"客户就此问题越级至申诉渠道（12300），新工单 WO-20261110-GD-3960000001",
			"The customer took the problem to the Appeal tier (12300), new order WO-20261110-GD-3960000001"},
		{sys(workorder.NoteKeyEscalated, "the customer took the problem to the group tier (): WO-20261110-GD-3960000001",
			map[string]string{"tier": "group", "order": "WO-20261110-GD-3960000001"}),
			"客户就此问题越级至集团渠道，新工单 WO-20261110-GD-3960000001",
			"The customer took the problem to the Group tier, new order WO-20261110-GD-3960000001"},
		{sys(workorder.NoteKeyPublicOpinion, "the urging contact gives a public-opinion reason: public_opinion_risk",
			map[string]string{"source": "urge", "rule": "public_opinion_risk"}),
			"本次催办给出舆情依据：舆情风险（媒体、网络曝光）",
			"The urging contact gives a public-opinion reason: Public-opinion risk (media, internet)"},
		{sys(workorder.NoteKeyEscalationRisk, "the customer's statement recorded by agent:28aec4d4 gives an escalation-risk reason: escalation_tendency",
			map[string]string{"source": "statement", "actor": "agent:28aec4d4", "rule": "escalation_tendency"}),
			"坐席 28aec4d4 记录的客户陈述给出越级倾向依据：越级倾向（监管、消协、诉讼）",
			"The customer's statement recorded by Agent 28aec4d4 gives an escalation-risk reason: Escalation tendency (regulator, consumer body, court)"},
		{sys(workorder.NoteKeyGroupMember, "member of group complaint GC-20261111-GD-billing.overcharge, confirmed",
			map[string]string{"incident": "GC-20261111-GD-billing.overcharge", "state": "confirmed"}),
			"群体投诉事件 GC-20261111-GD-billing.overcharge 的成员（已确认属实）",
			"Member of group complaint GC-20261111-GD-billing.overcharge (Confirmed)"},
		{sys(workorder.NoteKeyGroupMember, "member of group complaint GC-20261111-GD-billing.overcharge",
			map[string]string{"incident": "GC-20261111-GD-billing.overcharge"}),
			"群体投诉事件 GC-20261111-GD-billing.overcharge 的成员",
			"Member of group complaint GC-20261111-GD-billing.overcharge"},
		{sys(workorder.NoteKeyTransferFailed, "transfer to an agent failed: busy", map[string]string{"reason": "busy"}),
			"转接坐席失败：坐席忙", "Transfer to an agent failed: Agent busy"},
		{sys(workorder.NoteKeyTransferFailed, "transfer to an agent failed: refused_603", map[string]string{"reason": "refused_603"}),
			"转接坐席失败：被拒绝（603）", "Transfer to an agent failed: Refused (603)"},
		{sys(workorder.NoteKeyAutoArchived, "archived automatically: the follow-up period ended without a reopen", nil),
			"回访期已过且未重开，系统自动归档", "Archived automatically: the follow-up period ended without a reopen"},
		{sys(workorder.NoteKeyFollowup, "follow-up: satisfied", map[string]string{"result": "satisfied"}),
			"回访结果：满意", "Follow-up: Satisfied"},
		{sys(workorder.NoteKeyFollowup, "follow-up: unsatisfied: 退款少了20元", map[string]string{"result": "unsatisfied", "reason": "退款少了20元"}),
			"回访结果：不满意：退款少了20元", "Follow-up: Unsatisfied: 退款少了20元"},
		{sys(workorder.NoteKeyFCRTakenBack, "no longer resolved at the first contact: repeat complaint WO-20261205-GD-8639900001",
			map[string]string{"repeat": "WO-20261205-GD-8639900001"}),
			"重复投诉 WO-20261205-GD-8639900001 到达，不再计为一次解决", "No longer resolved at the first contact: repeat complaint WO-20261205-GD-8639900001"},
		// People's notes, as typed.
		{workorder.Change{Action: "status", Note: "客户同意退费 50%s"}, "客户同意退费 50%s", "客户同意退费 50%s"},
		{workorder.Change{Action: "class", Note: "media, 记者"}, "media, 记者", "media, 记者"},
		// A key this page does not know, or one without its arguments:
		// the stored English.
		{sys("refund_promised", "refund of 20 yuan promised", map[string]string{"amount": "20"}), "refund of 20 yuan promised", "refund of 20 yuan promised"},
		{sys(workorder.NoteKeyUrge, "contact on 10000 while new (urge 1)", map[string]string{"hotline": "10000"}),
			"contact on 10000 while new (urge 1)", "contact on 10000 while new (urge 1)"},
		{sys(workorder.NoteKeyPublicOpinion, "someone gives a public-opinion reason: x", map[string]string{"source": "letter", "rule": "x"}),
			"someone gives a public-opinion reason: x", "someone gives a public-opinion reason: x"},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		if got := zh.HistoryNote(c.c); got != c.zh {
			t.Errorf("zh %s %v = %q, want %q", c.c.NoteKey, c.c.NoteArgs, got, c.zh)
		}
		if got := en.HistoryNote(c.c); got != c.en {
			t.Errorf("en %s %v = %q, want %q", c.c.NoteKey, c.c.NoteArgs, got, c.en)
		}
		if c.zh != c.c.Note {
			covered[c.c.NoteKey] = true
		}
	}
	for _, k := range workorder.NoteKeys {
		if !covered[k] {
			t.Errorf("no Chinese rendering tested for the note key %s", k)
		}
	}
}
