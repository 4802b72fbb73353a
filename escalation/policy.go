package escalation

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hotlined/hotlined/configs"
)

// MaxPoliciesFileBytes caps the size of a policies file (1 MiB); the
// shipped one is about 6 KiB.
const MaxPoliciesFileBytes = 1 << 20

// EventCreated names the creation of an order in a stage's starts_on; every
// other entry of starts_on, ends_on, pause_on and resolve_alerts_on is a
// status from Statuses.
const EventCreated = "created"

// EventReceived in a stage's starts_on starts the stage when the order is
// created, as EventCreated does, but its clock counts from the moment the
// operator received the contact (PlanInput.ReceivedAt), which for a letter
// or an order entered later over the API is before the order's creation.
// The MIIT reply limit counts this way: 15 days from receipt (工信部令第35号
// art. 8).
const EventReceived = "received"

// Statuses are the work-order statuses a policies file may name: the
// vocabulary of configs. A status missing there is
// refused by the loader, so a typo in the file stops start-up instead of a
// deadline never ending.
var Statuses = configs.Statuses

// Day kinds: which days a policy's working-time limits ("3 working days",
// "4 working hours") count on. Wall-clock limits (2h, 15d) ignore them.
const (
	// DayKindWorking counts the working days of the calendar: weekends and
	// public holidays off, make-up working days (调休) on.
	DayKindWorking = "working"
	// DayKindNatural counts every day of the year, holidays included, with
	// the calendar's working hours: the 365×8h staffing of escalated
	// complaints from external bodies (DOMAIN.md).
	DayKindNatural = "natural"
)

// DayKinds are the values day_kind and day_kinds take.
var DayKinds = []string{DayKindWorking, DayKindNatural}

// Severities of alerts. A stage's breach raises "breach"; a policy's alert
// at once raises "major" or "group"; warnings before a deadline "warning".
const (
	SeverityWarning = "warning"
	SeverityBreach  = "breach"
	SeverityMajor   = "major"
	SeverityGroup   = "group"
)

// Limits the loader enforces, so that no file makes planning unbounded.
const (
	maxPolicies       = 100
	maxStages         = 20
	maxWarnings       = 9
	maxLadder         = 10
	maxWallLimit      = 3650 * 24 * time.Hour
	maxWorkingDays    = 1000
	maxWorkingHours   = 10_000
	minRepeatInterval = time.Minute
)

// Policies are the SLA policies of configs/policies.yaml: for each class
// and tier of work order, the stages it must get through in time, the
// warnings before each deadline, and the ladder of people alerted after a
// breach. They are immutable and safe for concurrent use; working-time
// limits read the LiveCalendar each time, so a reloaded calendar applies at
// once.
type Policies struct {
	pauseOn   []string
	resolveOn []string
	list      []*Policy
	byName    map[string]*Policy
	cal       *LiveCalendar
}

// Policy is the deadline plan of the orders its match selects.
type Policy struct {
	Name string
	// Classes and Tiers select orders; empty means any.
	Classes, Tiers []string
	Stages         []*Stage
	// Ladder is who is alerted after a breach, in order; Ladder[0] at the
	// breach itself, each next one After the breach.
	Ladder []Rung
	// RepeatEvery re-alerts the last rung until the alert is acknowledged;
	// 0 means once.
	RepeatEvery time.Duration
	// WarningLevel names who gets the warnings (level 0).
	WarningLevel string
	// DayKinds maps each tier to the day kind (DayKindWorking or
	// DayKindNatural) its working-time limits count on; see DayKind.
	DayKinds map[string]string
	stages   map[string]*Stage
}

// DayKind is the day kind of the policy's working-time limits on an order
// of tier: the policy's day_kind, else the file's day_kinds entry for the
// tier, else DayKindWorking.
func (pol *Policy) DayKind(tier string) string {
	if k, ok := pol.DayKinds[tier]; ok {
		return k
	}
	return DayKindWorking
}

// Rung is one level of an escalation ladder.
type Rung struct {
	Level string
	After time.Duration
}

// Stage is one deadline of a policy, e.g. "resolve within 3 working days".
type Stage struct {
	Name   string
	Within Limit
	// Warnings are the fractions of Within at which a warning is raised.
	Warnings []float64
	// StartsOn and EndsOn are the events (EventCreated or a status) that
	// start and end the stage. A start while the stage runs restarts it.
	StartsOn, EndsOn []string
	// Severity is the severity of the stage's breach alert: breach, or
	// major or group for a policy's alert at once.
	Severity string
	// AtOnce marks the stage of an alert at once: it is due when it starts,
	// has no deadline of its own and is never paused.
	AtOnce bool
	// Pausable is true when the statuses of pause_on stop the stage's
	// clock (the default). A stage written with pausable: false counts on
	// whatever the order's status, e.g. the MIIT 15-day reply, which the
	// regulation never suspends. Alerts at once are never pausable.
	Pausable bool
}

// Limit is how long a stage may take: wall-clock time (hours, days:
// nights, weekends and holidays count) or working time from the calendar.
type Limit struct {
	// Working is true for working days and working hours.
	Working bool
	// D is the wall-clock duration, or the working time of a limit in
	// working hours.
	D time.Duration
	// WorkingDays of a limit in working days; each is one working day of
	// the calendar in use (see Calendar.WorkingDay).
	WorkingDays int
	text        string
}

// String is the limit as written in the file.
func (l Limit) String() string { return l.text }

// duration is the limit on its own clock: wall time, or working time.
func (l Limit) duration(cal *Calendar) time.Duration {
	if l.WorkingDays > 0 {
		if cal == nil { // not loaded with a calendar: whole days
			return time.Duration(l.WorkingDays) * 24 * time.Hour
		}
		return time.Duration(l.WorkingDays) * cal.WorkingDay()
	}
	return l.D
}

// Policy returns the policy named name, or nil.
func (p *Policies) Policy(name string) *Policy { return p.byName[name] }

// List returns the policies in file order.
func (p *Policies) List() []*Policy { return slices.Clone(p.list) }

// For returns the policy of an order of class and tier: the first whose
// match holds, nil when none does (such orders have no deadlines).
func (p *Policies) For(class, tier string) *Policy {
	for _, pol := range p.list {
		if pol.matches(class, tier) {
			return pol
		}
	}
	return nil
}

// Calendar is the calendar in use, nil when the policies need none.
func (p *Policies) Calendar() *Calendar {
	if p.cal == nil {
		return nil
	}
	return p.cal.Current()
}

// LiveCalendar is the reloadable calendar the policies read, or nil.
func (p *Policies) LiveCalendar() *LiveCalendar { return p.cal }

// PauseOn lists the statuses that pause an order's stages.
func (p *Policies) PauseOn() []string { return slices.Clone(p.pauseOn) }

// ResolveAlertsOn lists the statuses that resolve all alerts of an order.
func (p *Policies) ResolveAlertsOn() []string { return slices.Clone(p.resolveOn) }

// Stage returns the stage named name, or nil.
func (pol *Policy) Stage(name string) *Stage { return pol.stages[name] }

func (pol *Policy) matches(class, tier string) bool {
	return (len(pol.Classes) == 0 || slices.Contains(pol.Classes, class)) &&
		(len(pol.Tiers) == 0 || slices.Contains(pol.Tiers, tier))
}

// PolicyError is one problem in a policies file, tied to the key path (and
// line, when known) to fix, e.g.
// `policies[2].ladder[0].after: must be 0s: the breach itself alerts the first level (line 31)`.
// It is the config's error type, as every strict YAML loader's; a file
// with several problems gives them all, joined with errors.Join.
type PolicyError = configs.Error

// policiesFile is the file format; configs/policies.yaml is an annotated
// example.
type policiesFile struct {
	PauseOn         []string          `yaml:"pause_on"`
	ResolveAlertsOn []string          `yaml:"resolve_alerts_on"`
	DayKinds        map[string]string `yaml:"day_kinds"`
	Defaults        policyDefaults    `yaml:"defaults"`
	Policies        []policyFileItem  `yaml:"policies"`
}

type policyDefaults struct {
	Warnings     *[]float64 `yaml:"warnings"`
	WarningLevel string     `yaml:"warning_level"`
	Ladder       []rungFile `yaml:"ladder"`
	RepeatEvery  string     `yaml:"repeat_every"`
}

type policyFileItem struct {
	Name         string           `yaml:"name"`
	Match        policyMatchFile  `yaml:"match"`
	AlertAtOnce  *alertAtOnceFile `yaml:"alert_at_once"`
	Warnings     *[]float64       `yaml:"warnings"`
	WarningLevel string           `yaml:"warning_level"`
	Ladder       []rungFile       `yaml:"ladder"`
	RepeatEvery  string           `yaml:"repeat_every"`
	DayKind      string           `yaml:"day_kind"`
	Stages       []stageFile      `yaml:"stages"`
}

type policyMatchFile struct {
	Classes []string `yaml:"classes"`
	Tiers   []string `yaml:"tiers"`
}

type alertAtOnceFile struct {
	Stage    string `yaml:"stage"`
	Severity string `yaml:"severity"`
}

type rungFile struct {
	Level string `yaml:"level"`
	After string `yaml:"after"`
}

type stageFile struct {
	Name     string     `yaml:"name"`
	Within   string     `yaml:"within"`
	Warnings *[]float64 `yaml:"warnings"`
	StartsOn []string   `yaml:"starts_on"`
	EndsOn   []string   `yaml:"ends_on"`
	Pausable *bool      `yaml:"pausable"`
}

var policyKeys = map[string]string{
	"escalation.policiesFile":    "pause_on, resolve_alerts_on, day_kinds, defaults, policies",
	"escalation.policyDefaults":  "warnings, warning_level, ladder, repeat_every",
	"escalation.policyFileItem":  "name, match, alert_at_once, warnings, warning_level, ladder, repeat_every, day_kind, stages",
	"escalation.policyMatchFile": "classes, tiers",
	"escalation.alertAtOnceFile": "stage, severity",
	"escalation.rungFile":        "level, after",
	"escalation.stageFile":       "name, within, warnings, starts_on, ends_on, pausable",
}

var policyTypeNames = map[string]string{
	"escalation.policiesFile":     "policies (a mapping of pause_on, resolve_alerts_on, day_kinds, defaults, policies)",
	"escalation.policyDefaults":   "defaults (a mapping of warnings, warning_level, ladder, repeat_every)",
	"escalation.policyFileItem":   "a policy (a mapping of name, match, stages, ...)",
	"escalation.policyMatchFile":  "a match (a mapping of classes, tiers)",
	"escalation.alertAtOnceFile":  "an alert at once (a mapping of stage, severity)",
	"escalation.rungFile":         "a ladder level (a mapping of level, after)",
	"escalation.stageFile":        "a stage (a mapping of name, within, warnings, starts_on, ends_on, pausable)",
	"[]escalation.policyFileItem": "a list of policies",
	"[]escalation.stageFile":      "a list of stages",
	"[]escalation.rungFile":       "a list of ladder levels",
	"[]string":                    "a list of names",
	"[]float64":                   "a list of fractions such as [0.5, 0.8]",
	"float64":                     "a fraction such as 0.5",
	"string":                      "text",
	"map[string]string":           "a mapping of tiers to day kinds, such as {appeal: natural}",
	"bool":                        "true or false",
}

func newPolicyProblems(file string) *problems {
	return &problems{file: file, keys: policyKeys, typeNames: policyTypeNames}
}

// LoadPolicies reads and checks the policies file at path. cal is the
// calendar for limits in working days or hours; it may be nil when no
// stage has one. Errors name the file, the key path and the line.
func LoadPolicies(path string, cal *LiveCalendar) (*Policies, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load policies: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPoliciesFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("load policies %s: %w", path, err)
	}
	return parsePolicies(data, path, cal)
}

// ParsePolicies parses a policies file; see LoadPolicies.
func ParsePolicies(data []byte, cal *LiveCalendar) (*Policies, error) {
	return parsePolicies(data, "", cal)
}

var (
	policyNameRe   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	workingLimitRe = regexp.MustCompile(`^([0-9]{1,9}) +working +(day|days|hour|hours)$`)
	daysRe         = regexp.MustCompile(`^([0-9]{1,9})d$`)
)

func parsePolicies(data []byte, file string, cal *LiveCalendar) (*Policies, error) {
	p := newPolicyProblems(file)
	if len(data) > MaxPoliciesFileBytes {
		p.add("", 0, "file is larger than %d bytes (1 MiB)", MaxPoliciesFileBytes)
		return nil, p.err()
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		p.addYAML(err, nil)
		return nil, p.err()
	}
	lines := configs.NewKeyLines(&root)
	var f policiesFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		p.addYAML(err, lines.ByLine)
		return nil, p.err()
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		p.add("", 0, "the file holds more than one YAML document")
	}
	v := &policyChecker{p: p, lines: lines, cal: cal}
	out := &Policies{byName: map[string]*Policy{}, cal: cal}

	out.pauseOn = v.statuses("pause_on", f.PauseOn, false)
	if slices.Contains(out.pauseOn, "new") {
		v.bad("pause_on", "new cannot pause: every order starts in it")
	}
	out.resolveOn = v.statuses("resolve_alerts_on", f.ResolveAlertsOn, false)
	if f.ResolveAlertsOn == nil {
		out.resolveOn = []string{"resolved"}
	}
	for _, s := range out.resolveOn {
		if slices.Contains(out.pauseOn, s) {
			v.bad("resolve_alerts_on", "%s also pauses (pause_on); a status cannot do both", s)
		}
	}

	dayKinds := map[string]string{}
	tiers := make([]string, 0, len(f.DayKinds))
	for tier := range f.DayKinds {
		tiers = append(tiers, tier)
	}
	slices.Sort(tiers)
	for _, tier := range tiers {
		path := "day_kinds." + tier
		if !slices.Contains(configs.Tiers, tier) {
			v.bad(path, "%q is not a tier; tiers are %s", tier, strings.Join(configs.Tiers, ", "))
			continue
		}
		if k := v.dayKind(path, f.DayKinds[tier]); k != "" {
			dayKinds[tier] = k
		}
	}

	defWarnings := []float64{0.5, 0.8}
	if f.Defaults.Warnings != nil {
		defWarnings = v.warnings("defaults.warnings", *f.Defaults.Warnings)
	}
	defLevel := "handling_agent"
	if f.Defaults.WarningLevel != "" {
		defLevel = v.name("defaults.warning_level", f.Defaults.WarningLevel)
	}
	var defLadder []Rung
	if f.Defaults.Ladder != nil {
		defLadder = v.ladder("defaults.ladder", f.Defaults.Ladder)
	}
	var defRepeat time.Duration
	if f.Defaults.RepeatEvery != "" {
		defRepeat = v.repeat("defaults.repeat_every", f.Defaults.RepeatEvery)
	}

	if len(f.Policies) == 0 {
		v.bad("policies", "at least one policy is required")
	}
	if len(f.Policies) > maxPolicies {
		v.bad("policies", "at most %d policies", maxPolicies)
		f.Policies = f.Policies[:maxPolicies]
	}
	// taken maps each class/tier pair to the policy that applies to it, so
	// a policy that can never apply is reported.
	taken := map[[2]string]int{}
	for i, item := range f.Policies {
		path := fmt.Sprintf("policies[%d]", i)
		pol := &Policy{stages: map[string]*Stage{}}
		pol.Name = v.name(path+".name", item.Name)
		if _, dup := out.byName[pol.Name]; dup && pol.Name != "" {
			v.bad(path+".name", "%q is used by an earlier policy", pol.Name)
		}
		pol.Classes = v.oneOf(path+".match.classes", item.Match.Classes, configs.Classes)
		pol.Tiers = v.oneOf(path+".match.tiers", item.Match.Tiers, configs.Tiers)
		fresh := false
		for _, class := range orAll(pol.Classes, configs.Classes) {
			for _, tier := range orAll(pol.Tiers, configs.Tiers) {
				if _, ok := taken[[2]string{class, tier}]; !ok {
					taken[[2]string{class, tier}] = i
					fresh = true
				}
			}
		}
		if !fresh && len(item.Match.Classes) == len(pol.Classes) && len(item.Match.Tiers) == len(pol.Tiers) {
			v.bad(path+".match", "never applies: every class and tier it matches is taken by an earlier policy (the first match wins)")
		}

		warnings := defWarnings
		if item.Warnings != nil {
			warnings = v.warnings(path+".warnings", *item.Warnings)
		}
		pol.WarningLevel = defLevel
		if item.WarningLevel != "" {
			pol.WarningLevel = v.name(path+".warning_level", item.WarningLevel)
		}
		pol.Ladder = defLadder
		if item.Ladder != nil {
			pol.Ladder = v.ladder(path+".ladder", item.Ladder)
		} else if f.Defaults.Ladder == nil {
			v.bad(path+".ladder", "required here or under defaults.ladder: who is alerted after a breach")
		}
		pol.RepeatEvery = defRepeat
		if item.RepeatEvery != "" {
			pol.RepeatEvery = v.repeat(path+".repeat_every", item.RepeatEvery)
		}
		pol.DayKinds = dayKinds
		if item.DayKind != "" {
			pol.DayKinds = map[string]string{}
			if k := v.dayKind(path+".day_kind", item.DayKind); k != "" {
				for _, tier := range configs.Tiers {
					pol.DayKinds[tier] = k
				}
			}
		}

		if len(item.Stages) == 0 && item.AlertAtOnce == nil {
			v.bad(path+".stages", "at least one stage (or an alert_at_once) is required")
		}
		if len(item.Stages) > maxStages {
			v.bad(path+".stages", "at most %d stages", maxStages)
			item.Stages = item.Stages[:maxStages]
		}
		for j, sf := range item.Stages {
			sp := fmt.Sprintf("%s.stages[%d]", path, j)
			st := &Stage{Severity: SeverityBreach, Pausable: sf.Pausable == nil || *sf.Pausable}
			st.Name = v.name(sp+".name", sf.Name)
			if _, dup := pol.stages[st.Name]; dup && st.Name != "" {
				v.bad(sp+".name", "%q is already a stage of this policy", st.Name)
			}
			st.Within = v.limit(sp+".within", sf.Within)
			st.Warnings = warnings
			if sf.Warnings != nil {
				st.Warnings = v.warnings(sp+".warnings", *sf.Warnings)
			}
			st.StartsOn = []string{EventCreated}
			if sf.StartsOn != nil {
				st.StartsOn = v.statuses(sp+".starts_on", sf.StartsOn, true)
				if len(sf.StartsOn) == 0 {
					v.bad(sp+".starts_on", "must not be empty (leave it out for [created])")
				}
				if slices.Contains(st.StartsOn, EventCreated) && slices.Contains(st.StartsOn, EventReceived) {
					v.bad(sp+".starts_on", "created and received both start the stage at creation; name one (received counts from the receipt)")
				}
			}
			st.EndsOn = v.statuses(sp+".ends_on", sf.EndsOn, false)
			if len(sf.EndsOn) == 0 {
				v.bad(sp+".ends_on", "required: the statuses that end the stage")
			}
			for _, s := range st.StartsOn {
				if slices.Contains(st.EndsOn, s) {
					v.bad(sp+".ends_on", "%s also starts the stage (starts_on)", s)
				}
				if slices.Contains(out.pauseOn, s) {
					v.bad(sp+".starts_on", "%s pauses every stage (pause_on); it cannot start one", s)
				}
			}
			for _, s := range st.EndsOn {
				if slices.Contains(out.pauseOn, s) {
					v.bad(sp+".ends_on", "%s pauses every stage (pause_on); it cannot end one", s)
				}
			}
			pol.Stages = append(pol.Stages, st)
			pol.stages[st.Name] = st
		}
		if a := item.AlertAtOnce; a != nil {
			ap := path + ".alert_at_once"
			st := &Stage{AtOnce: true, StartsOn: []string{EventCreated}, EndsOn: out.resolveOn,
				Within: Limit{text: "0s"}}
			st.Name = v.name(ap+".stage", a.Stage)
			if _, dup := pol.stages[st.Name]; dup && st.Name != "" {
				v.bad(ap+".stage", "%q is already a stage of this policy", st.Name)
			}
			switch a.Severity {
			case SeverityMajor, SeverityGroup:
				st.Severity = a.Severity
			default:
				v.bad(ap+".severity", "must be major or group; got %q", a.Severity)
			}
			// First, so that the alert comes before any deadline's timers.
			pol.Stages = append([]*Stage{st}, pol.Stages...)
			pol.stages[st.Name] = st
		}
		out.list = append(out.list, pol)
		if pol.Name != "" {
			if _, dup := out.byName[pol.Name]; !dup {
				out.byName[pol.Name] = pol
			}
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return out, nil
}

func orAll(list, all []string) []string {
	if len(list) == 0 {
		return all
	}
	return list
}

// policyChecker validates values of a policies file, reporting each
// problem at its key path.
type policyChecker struct {
	p     *problems
	lines configs.KeyLines
	cal   *LiveCalendar
}

func (v *policyChecker) bad(path, format string, args ...any) {
	v.p.add(path, v.lines.Line(path), format, args...)
}

func (v *policyChecker) name(path, s string) string {
	if !policyNameRe.MatchString(s) || len(s) > 64 {
		if s == "" {
			v.bad(path, "required: a lower-case name such as team_lead")
		} else {
			v.bad(path, "%q is not a lower-case name of letters, digits and _ (at most 64)", s)
		}
		return ""
	}
	return s
}

func (v *policyChecker) oneOf(path string, list, allowed []string) []string {
	var out []string
	for i, s := range list {
		ip := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case !slices.Contains(allowed, s):
			v.bad(ip, "must be one of %s; got %q", strings.Join(allowed, ", "), s)
		case slices.Contains(out, s):
			v.bad(ip, "%s is listed twice", s)
		default:
			out = append(out, s)
		}
	}
	return out
}

func (v *policyChecker) statuses(path string, list []string, created bool) []string {
	allowed := Statuses
	if created {
		allowed = append([]string{EventCreated, EventReceived}, Statuses...)
	}
	out := v.oneOf(path, list, allowed)
	if out == nil {
		out = []string{}
	}
	return out
}

func (v *policyChecker) warnings(path string, fs []float64) []float64 {
	if len(fs) > maxWarnings {
		v.bad(path, "at most %d warnings", maxWarnings)
		return nil
	}
	out := []float64{}
	for i, f := range fs {
		ip := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case math.IsNaN(f) || f <= 0 || f >= 1:
			v.bad(ip, "%v is not a fraction between 0 and 1 (0.5 is half the limit)", f)
		case math.Round(f*100) < 1 || math.Round(f*100) > 99:
			v.bad(ip, "%v rounds to %v%%; a warning is at 1%% to 99%% of the limit", f, math.Round(f*100))
		case len(out) > 0 && math.Round(f*100) <= math.Round(out[len(out)-1]*100):
			v.bad(ip, "%v must be above the warning before it by at least 0.01", f)
		default:
			out = append(out, f)
		}
	}
	return out
}

func (v *policyChecker) ladder(path string, rungs []rungFile) []Rung {
	if len(rungs) == 0 {
		v.bad(path, "at least one level is required")
		return nil
	}
	if len(rungs) > maxLadder {
		v.bad(path, "at most %d levels", maxLadder)
		return nil
	}
	var out []Rung
	for i, r := range rungs {
		ip := fmt.Sprintf("%s[%d]", path, i)
		level := v.name(ip+".level", r.Level)
		for _, prev := range out {
			if prev.Level == level && level != "" {
				v.bad(ip+".level", "%s is already a level of this ladder", level)
			}
		}
		var after time.Duration
		if r.After != "" || i > 0 {
			after = v.wall(ip+".after", r.After, true)
		}
		if i == 0 && after != 0 {
			v.bad(ip+".after", "must be 0s: the breach itself alerts the first level")
		}
		if i > 0 && after < out[i-1].After {
			v.bad(ip+".after", "%s is before the level above it (%s); after counts from the breach", after, out[i-1].After)
		}
		out = append(out, Rung{Level: level, After: after})
	}
	return out
}

func (v *policyChecker) dayKind(path, s string) string {
	if !slices.Contains(DayKinds, s) {
		v.bad(path, "must be working (the calendar's working days) or natural (every day, 365×8h); got %q", s)
		return ""
	}
	return s
}

func (v *policyChecker) repeat(path, s string) time.Duration {
	d := v.wall(path, s, true)
	if d != 0 && d < minRepeatInterval {
		v.bad(path, "must be 0s (no repeats) or at least %s", minRepeatInterval)
	}
	return d
}

// wall parses a wall-clock duration: a Go duration (2h, 90m) or whole days
// (7d).
func (v *policyChecker) wall(path, s string, zeroOK bool) time.Duration {
	d, ok := parseWall(s)
	switch {
	case !ok:
		v.bad(path, "%q is not a duration such as 2h, 90m or 7d", s)
	case d < 0 || (d == 0 && !zeroOK):
		v.bad(path, "must be > 0, got %s", s)
	case d > maxWallLimit:
		v.bad(path, "%s is more than 3650d", s)
	default:
		return d
	}
	return 0
}

func parseWall(s string) (time.Duration, bool) {
	if m := daysRe.FindStringSubmatch(s); m != nil {
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > 3650 {
			return maxWallLimit + 1, true
		}
		return time.Duration(n) * 24 * time.Hour, true
	}
	d, err := time.ParseDuration(s)
	return d, err == nil
}

// limit parses a stage's within: wall-clock (2h, 7d) or working time
// ("3 working days", "4 working hours").
func (v *policyChecker) limit(path, s string) Limit {
	if s == "" {
		v.bad(path, "required: how long the stage may take, such as 2h, 7d or 3 working days")
		return Limit{}
	}
	if m := workingLimitRe.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		l := Limit{Working: true, text: s}
		switch {
		case n <= 0:
			v.bad(path, "must be > 0, got %s", s)
		case strings.HasPrefix(m[2], "day") && n > maxWorkingDays:
			v.bad(path, "at most %d working days", maxWorkingDays)
		case strings.HasPrefix(m[2], "hour") && n > maxWorkingHours:
			v.bad(path, "at most %d working hours", maxWorkingHours)
		case strings.HasPrefix(m[2], "day"):
			l.WorkingDays = n
		default:
			l.D = time.Duration(n) * time.Hour
		}
		if v.cal == nil {
			v.bad(path, "%q needs the working-day calendar: set escalation.calendar_file", s)
		}
		return l
	}
	if strings.Contains(s, "working") {
		v.bad(path, "%q: write working time as \"3 working days\" or \"4 working hours\"", s)
		return Limit{}
	}
	return Limit{D: v.wall(path, s, false), text: s}
}
