package classifier

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hotlined/hotlined/configs"
)

// Rules are the classification rules, thresholds, windows and keywords,
// read from the rules file (configs/rules.yaml). Build them with
// DefaultRules, ParseRules or LoadRules: those validate them and compile the
// keyword matcher.
type Rules struct {
	// Priorities per class; 1 is the most urgent.
	Priorities map[string]int `yaml:"priorities"`
	// RepeatComplaint: a complaint while the same service number's previous
	// complaint order was archived at most WindowDays calendar days before
	// (in the operator's time zone: archived 11-01 10:00, a repeat until
	// 12-01 23:59:59 with 30) is a repeat complaint.
	RepeatComplaint struct {
		WindowDays int `yaml:"window_days"`
	} `yaml:"repeat_complaint"`
	// OpenComplaint: a complaint contact about the same problem code as a
	// complaint of the service number still being handled, on the same
	// tier or a lower one, urges that order instead of opening one. On a
	// higher tier it is an escalation: a new order of its tier, related to
	// the open one, which is flagged escalated.
	OpenComplaint struct {
		// UrgePriorityStep is how much each urge raises the priority (a
		// smaller number), never above 1.
		UrgePriorityStep int `yaml:"urge_priority_step"`
	} `yaml:"open_complaint"`
	// UnsatisfiedWithResult: a complaint contact while the service number's
	// latest complaint is resolved (not archived), resolved within Window,
	// is the customer unhappy with the result: a new order says so.
	UnsatisfiedWithResult struct {
		Window Duration `yaml:"window"`
	} `yaml:"unsatisfied_with_result"`
	// EscalationRisk: a complaint whose customer mentions the regulator,
	// 12300, the consumer association, a lawyer or a court (越级倾向) is
	// flagged escalation_risk and gets at least this priority; its class
	// does not change.
	EscalationRisk struct {
		Priority int `yaml:"priority"`
	} `yaml:"escalation_risk"`
	// EscalationRecord: a customer with a group- or appeal-tier order
	// created in the last WindowDays calendar days (越级投诉记录) gets the
	// escalation_record flag, and a complaint at least Priority.
	EscalationRecord struct {
		WindowDays int `yaml:"window_days"`
		Priority   int `yaml:"priority"`
	} `yaml:"escalation_record"`
	GroupComplaint struct {
		SameDay   GroupRule `yaml:"same_day"`
		SameMonth GroupRule `yaml:"same_month"`
		// KeepAfterPeriod is how long a window's counter and incident stay
		// in Redis after its day or month has ended (for confirmation and
		// reconciliation).
		KeepAfterPeriod Duration `yaml:"keep_after_period"`
	} `yaml:"group_complaint"`
	// BatchComplaint (批量投诉): Threshold valid complaints of one problem
	// code in one province within WindowHours, any tier, raise a batch
	// incident (hotline.incident.batch): its members are flagged batch and
	// routed to the batch handler's topic. Threshold 0 turns it off.
	BatchComplaint struct {
		Threshold   int `yaml:"threshold"`
		WindowHours int `yaml:"window_hours"`
	} `yaml:"batch_complaint"`
	// Keywords are searched in the customer's own words only (the intake
	// description and recorded customer statements), never in agents'
	// notes.
	Keywords struct {
		// Rules: a keyword of a rule with effect major makes a complaint a
		// major complaint (with the rule's exposure); with effect
		// escalation_risk it flags the order escalation_risk.
		Rules []KeywordRule `yaml:"rules"`
		// Exclusions are phrases in which a keyword means something else
		// (product names: 抖音定向流量包); text inside them never matches.
		Exclusions []string `yaml:"exclusions"`
		// Negations cancel a keyword later in the same clause (不会, 不找).
		Negations []string `yaml:"negations"`
	} `yaml:"keywords"`

	matcher *Matcher
}

// GroupRule is one group-complaint clause: Threshold valid complaints of
// one province and problem code from Tiers within the window. Either
// clause raises a suspected incident that a supervisor confirms (问题属实)
// or rejects: DOMAIN.md requires the problem verified in both.
type GroupRule struct {
	Tiers     []string `yaml:"tiers"`
	Threshold int      `yaml:"threshold"`
	// Window is the monthly clause's window: rolling_30d (the default) or
	// calendar_month. The daily clause is always one calendar day.
	Window string `yaml:"window"`
}

// KeywordRule names a list of keywords; the name is the reason's rule.
type KeywordRule struct {
	Rule string `yaml:"rule"`
	// Effect is EffectMajor or EffectEscalationRisk.
	Effect string `yaml:"effect"`
	// Exposure, for effect major: threatened (the default) or exposed.
	Exposure string   `yaml:"exposure"`
	Keywords []string `yaml:"keywords"`
}

// Keyword effects.
const (
	// EffectMajor: public-opinion risk, a major complaint (DOMAIN.md).
	EffectMajor = "major"
	// EffectEscalationRisk: the escalation_risk flag, class unchanged.
	EffectEscalationRisk = "escalation_risk"
)

// Duration is a time.Duration written as "720h" or "90s".
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration like 720h or 90s", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 720h or 90s", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Built-in rule names, which keyword rules may not reuse.
var builtinRules = []string{RuleBaseCategory, RuleInvalidAnonymous, RuleEscalationTendencyIVR,
	RuleOpenComplaintUrged, RuleUnsatisfied, RuleRepeatAfterArchive, RuleGroupSameDay,
	RuleGroupSameMonth, RuleReclassified, RulePublicOpinionIVR, RuleEscalatedFrom, RuleEscalationRecord, RuleKeywordsCancelled, RuleAppealOf, RuleAppealFirstContact, RuleBatch}

// DefaultKeywords are the built-in keyword rules: public-opinion risk
// (media, threatened or already exposed) and escalation tendency
// (regulator, consumer association, lawsuit), in Chinese and English. The
// shipped rules file repeats them; a file that sets keywords.rules
// replaces them.
func DefaultKeywords() []KeywordRule {
	return []KeywordRule{
		{Rule: "public_opinion_exposed", Effect: EffectMajor, Exposure: configs.ExposureExposed, Keywords: []string{
			"已经曝光", "已曝光", "已被曝光", "上了新闻", "已经发到网上", "已发到网上", "已经发微博", "已发微博", "已经发抖音",
			"媒体已经报道", "已经被报道", "已经上网发帖", "已上网发帖",
			"already exposed", "already posted", "already in the news", "went viral",
		}},
		{Rule: "public_opinion_risk", Effect: EffectMajor, Exposure: configs.ExposureThreatened, Keywords: []string{
			"媒体", "记者", "曝光", "微博", "抖音", "快手", "头条", "小红书", "电视台", "报社", "新闻", "上网发帖", "发到网上",
			"media", "journalist", "journalists", "reporter", "reporters", "newspaper",
			"weibo", "douyin", "tiktok", "social media",
		}},
		{Rule: "escalation_tendency", Effect: EffectEscalationRisk, Keywords: []string{
			"工信部", "工业和信息化部", "通信管理局", "管局", "申诉", "消协", "消费者协会", "12315", "12345", "12300",
			"市长热线", "律师", "起诉", "法院", "诉讼", "仲裁", "投诉到集团", "越级",
			"miit", "regulator", "regulators", "consumer association", "lawyer", "lawyers", "attorney",
			"court", "courts", "sue", "suing", "lawsuit", "legal action",
		}},
	}
}

// DefaultExclusions are product and service names that hold a media
// keyword without meaning the media: data bundles and subscriptions named
// after apps (抖音定向流量包, 微博流量包, 头条定向流量) and news services
// (新闻早晚报).
func DefaultExclusions() []string {
	return []string{
		"抖音定向流量", "抖音流量", "抖音专属流量", "抖音会员", "快手定向流量", "快手流量", "微博定向流量", "微博流量",
		"微博会员", "头条定向流量", "头条流量", "今日头条流量", "小红书流量", "新闻早晚报", "新闻早报", "新闻晚报",
		"新闻客户端", "新闻资讯", "手机新闻", "新闻订阅", "媒体卡", "多媒体", "流媒体", "融媒体",
		"douyin data", "tiktok data", "weibo data",
	}
}

// DefaultNegations cancel a keyword later in the same clause.
func DefaultNegations() []string {
	return []string{
		"不会", "不找", "不去", "不打", "没有", "没找", "没去", "不打算", "不想", "不准备", "并未", "未曾", "不用", "无需",
		"不需要", "不至于", "并不",
		"won't", "will not", "not going to", "no intention", "don't", "do not", "didn't", "did not",
	}
}

// DefaultRules returns the built-in rules (DOMAIN.md), the base a rules
// file is laid over.
func DefaultRules() *Rules {
	r := defaults()
	if err := r.Validate(); err != nil {
		panic("classifier: built-in rules are invalid: " + err.Error()) // a programming error, caught by the tests
	}
	return r
}

func defaults() *Rules {
	r := &Rules{Priorities: map[string]int{
		configs.ClassMajorComplaint:  1,
		configs.ClassGroupComplaint:  1,
		configs.ClassRepeatComplaint: 2,
		configs.ClassComplaint:       2,
		configs.ClassFaultReport:     3,
		configs.ClassConsultation:    4,
		configs.ClassQuery:           4,
	}}
	r.RepeatComplaint.WindowDays = 30
	r.OpenComplaint.UrgePriorityStep = 1
	r.UnsatisfiedWithResult.Window = Duration(30 * 24 * time.Hour)
	r.EscalationRisk.Priority = 1
	r.BatchComplaint.Threshold, r.BatchComplaint.WindowHours = 10, 2
	r.EscalationRecord.WindowDays = 180
	r.EscalationRecord.Priority = 1
	r.GroupComplaint.SameDay = GroupRule{Tiers: []string{"group", "appeal"}, Threshold: 3, Window: WindowDay}
	r.GroupComplaint.SameMonth = GroupRule{Tiers: []string{"province", "group", "appeal"}, Threshold: 20, Window: WindowRolling30d}
	r.GroupComplaint.KeepAfterPeriod = Duration(30 * 24 * time.Hour)
	r.Keywords.Rules = DefaultKeywords()
	r.Keywords.Exclusions = DefaultExclusions()
	r.Keywords.Negations = DefaultNegations()
	return r
}

// RulesError is a rules-file error tied to a key path: the same error the
// daemon's config reports.
type RulesError = configs.Error

// MaxRulesBytes caps the rules file.
const MaxRulesBytes = 1 << 20

// LoadRules reads and validates the rules file at path.
func LoadRules(path string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	r, err := ParseRules(data)
	if err != nil {
		return nil, configs.InFile(err, path)
	}
	return r, nil
}

// ParseRules decodes data over DefaultRules strictly (unknown keys are
// errors) and validates the result. Errors name the key path.
func ParseRules(data []byte) (*Rules, error) {
	if len(data) > MaxRulesBytes {
		return nil, &RulesError{Msg: fmt.Sprintf("file is larger than %d bytes", MaxRulesBytes)}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &RulesError{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	r := defaults()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(r); err != nil && !errors.Is(err, io.EOF) {
		return nil, withKeyPaths(err, &root)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &RulesError{Msg: "more than one YAML document"}
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

var nameRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// MaxKeywordRunes caps one keyword.
const MaxKeywordRunes = 64

// Validate checks every value and compiles the keyword matcher.
func (r *Rules) Validate() error {
	var errs []error
	bad := func(path, format string, a ...any) {
		errs = append(errs, &RulesError{Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	// phrase checks one keyword, exclusion or negation, unique in seen.
	phrase := func(path, k string, seen map[string]string) {
		n := Normalize(k)
		switch {
		case n == "":
			bad(path, "empty keyword")
		case strings.ContainsRune(n, '\uFFFD'):
			bad(path, "not valid UTF-8")
		case len([]rune(n)) > MaxKeywordRunes:
			bad(path, "longer than %d characters", MaxKeywordRunes)
		case seen[n] != "":
			bad(path, "%q is already listed (as %s)", k, seen[n])
		default:
			seen[n] = path
		}
	}
	for _, c := range configs.Classes {
		if _, ok := r.Priorities[c]; !ok {
			bad("priorities."+c, "missing: every class needs a priority")
		}
	}
	for _, c := range sortedKeys(r.Priorities) {
		if !slices.Contains(configs.Classes, c) {
			bad("priorities."+c, "unknown class; want one of %s", strings.Join(configs.Classes, ", "))
		} else if p := r.Priorities[c]; p < 1 || p > 5 {
			bad("priorities."+c, "must be between 1 and 5, got %d", p)
		}
	}
	window := func(path string, d Duration) {
		if d.D() <= 0 || d.D() > 366*24*time.Hour {
			bad(path, "must be > 0 and at most 8784h (366 days), got %s", d.D())
		}
	}
	days := func(path string, n int) {
		if n < 1 || n > 3660 {
			bad(path, "must be between 1 and 3660 days, got %d", n)
		}
	}
	days("repeat_complaint.window_days", r.RepeatComplaint.WindowDays)
	if b := r.BatchComplaint; b.Threshold != 0 && (b.Threshold < 2 || b.Threshold > 100000) {
		bad("batch_complaint.threshold", "must be 0 (off) or between 2 and 100000, got %d", b.Threshold)
	}
	if b := r.BatchComplaint; b.WindowHours < 1 || b.WindowHours > 72 {
		bad("batch_complaint.window_hours", "must be between 1 and 72, got %d", b.WindowHours)
	}
	days("escalation_record.window_days", r.EscalationRecord.WindowDays)
	for path, p := range map[string]int{"escalation_risk.priority": r.EscalationRisk.Priority, "escalation_record.priority": r.EscalationRecord.Priority} {
		if p < 1 || p > 5 {
			bad(path, "must be between 1 and 5, got %d", p)
		}
	}
	window("unsatisfied_with_result.window", r.UnsatisfiedWithResult.Window)
	window("group_complaint.keep_after_period", r.GroupComplaint.KeepAfterPeriod)
	if s := r.OpenComplaint.UrgePriorityStep; s < 0 || s > 4 {
		bad("open_complaint.urge_priority_step", "must be between 0 and 4, got %d", s)
	}
	for _, g := range []struct {
		path string
		rule GroupRule
	}{{"group_complaint.same_day", r.GroupComplaint.SameDay}, {"group_complaint.same_month", r.GroupComplaint.SameMonth}} {
		if g.rule.Threshold < 2 || g.rule.Threshold > 100000 {
			bad(g.path+".threshold", "must be between 2 and 100000, got %d", g.rule.Threshold)
		}
		if len(g.rule.Tiers) == 0 {
			bad(g.path+".tiers", "at least one tier is required")
		}
		switch {
		case g.path == "group_complaint.same_day" && g.rule.Window != WindowDay:
			bad(g.path+".window", "the daily clause counts one calendar day: day; got %q", g.rule.Window)
		case g.path == "group_complaint.same_month" && g.rule.Window != WindowRolling30d && g.rule.Window != WindowCalendarMonth:
			bad(g.path+".window", "must be rolling_30d or calendar_month; got %q", g.rule.Window)
		}
		for i, t := range g.rule.Tiers {
			switch {
			case !slices.Contains(configs.Tiers, t):
				bad(fmt.Sprintf("%s.tiers[%d]", g.path, i), "must be one of %s; got %q", strings.Join(configs.Tiers, ", "), t)
			case slices.Contains(g.rule.Tiers[:i], t):
				bad(fmt.Sprintf("%s.tiers[%d]", g.path, i), "%s is listed twice", t)
			}
		}
	}
	seenRule := map[string]bool{}
	seenKeyword := map[string]string{}
	for i, kr := range r.Keywords.Rules {
		p := fmt.Sprintf("keywords.rules[%d]", i)
		switch {
		case !nameRe.MatchString(kr.Rule):
			bad(p+".rule", "must be a lower-case name like public_opinion_risk; got %q", kr.Rule)
		case slices.Contains(builtinRules, kr.Rule):
			bad(p+".rule", "%q is a built-in rule name", kr.Rule)
		case seenRule[kr.Rule]:
			bad(p+".rule", "%q is named twice", kr.Rule)
		}
		seenRule[kr.Rule] = true
		switch kr.Effect {
		case EffectMajor:
			if kr.Exposure != "" && kr.Exposure != configs.ExposureThreatened && kr.Exposure != configs.ExposureExposed {
				bad(p+".exposure", "must be threatened or exposed; got %q", kr.Exposure)
			}
		case EffectEscalationRisk:
			if kr.Exposure != "" {
				bad(p+".exposure", "only a rule with effect major has an exposure")
			}
		default:
			bad(p+".effect", "must be major or escalation_risk; got %q", kr.Effect)
		}
		if len(kr.Keywords) == 0 {
			bad(p+".keywords", "at least one keyword is required")
		}
		for j, k := range kr.Keywords {
			phrase(fmt.Sprintf("%s.keywords[%d]", p, j), k, seenKeyword)
		}
	}
	seenExclusion, seenNegation := map[string]string{}, map[string]string{}
	for i, e := range r.Keywords.Exclusions {
		phrase(fmt.Sprintf("keywords.exclusions[%d]", i), e, seenExclusion)
	}
	for i, n := range r.Keywords.Negations {
		phrase(fmt.Sprintf("keywords.negations[%d]", i), n, seenNegation)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	m, err := NewMatcher(r.Keywords.Rules, r.Keywords.Exclusions, r.Keywords.Negations)
	if err != nil {
		return &RulesError{Path: "keywords", Msg: err.Error()}
	}
	r.matcher = m
	return nil
}

// Priority is the priority of class after urges: each urge raises it by the
// urge step (a smaller number), never above 1.
func (r *Rules) Priority(class string, urges int) int {
	p, ok := r.Priorities[class]
	if !ok {
		p = 5
	}
	p -= urges * r.OpenComplaint.UrgePriorityStep
	if p < 1 {
		p = 1
	}
	return p
}

// withKeyPaths turns a yaml.v3 decoding error into a RulesError naming key
// paths, the way the daemon's config reports them.
func withKeyPaths(err error, root *yaml.Node) error {
	return &RulesError{Msg: configs.KeyPathMessage(err, root)}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
