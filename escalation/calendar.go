package escalation

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hotlined/hotlined/configs"
)

// MaxCalendarFileBytes caps the size of a calendar file (1 MiB). A file for
// one year is about 2 KiB.
const MaxCalendarFileBytes = 1 << 20

// MaxWorkingDays bounds AddWorkingDays (and AddWorkingHours, as this many
// working days' worth of working time): larger inputs are treated as this
// much, about 380 years. No SLA comes near it; the cap keeps every call
// bounded whatever a config says.
const MaxWorkingDays = 100_000

const (
	defaultCalendarZone  = "Asia/Shanghai"
	defaultCalendarOpen  = "09:00"
	defaultCalendarClose = "18:00"
	maxCalendarProblems  = 20
)

// Calendar tells working days from days off, for deadlines stated in working
// days or working hours ("resolved within 3 working days", "assign within 15
// working days"). It is a value loaded from a data file (see
// configs/calendars), so a new year's holidays need no release.
//
// Only such deadlines use it. A limit stated in hours ("register within 2
// hours", "answer within 24 hours") is wall-clock time: add it with
// time.Time.Add, nights, weekends and holidays included.
//
// A date, taken in the calendar's time zone, is
//   - off if its year lists it under holidays;
//   - a working day if its year lists it under workdays (调休: a Saturday or
//     Sunday worked to make up for a holiday);
//   - otherwise a working day from Monday to Friday, off on Saturday and
//     Sunday.
//
// A year that is not in the file falls back to that last rule alone:
// weekends off, every weekday worked. Deadlines then ignore the public
// holidays and mostly come out early; Covers lets callers warn about it.
//
// Every working day has the same working hours, one window from open to
// close in the calendar's zone (default 09:00-18:00, no lunch break). They
// matter to AddWorkingHours and to how AddWorkingDays treats a start
// outside them.
//
// Methods take the time as an argument and read no clock; a Calendar is
// immutable and safe for concurrent use.
type Calendar struct {
	loc *time.Location
	// open and close are minutes after midnight: 0 <= open < close <= 1440.
	open, close int
	// years maps each year in the file to whether its data is provisional.
	years map[int]bool
	// days holds the listed dates: true for a make-up working day, false
	// for a holiday.
	days map[calDay]bool
	// everyDay makes every date a working day (EveryDay); every is that
	// view of this calendar, made once at load.
	everyDay bool
	every    *Calendar
}

// EveryDay returns the calendar on natural days: the same zone and working
// hours, but every date a working day, weekends and public holidays
// included. Limits of tiers staffed 365 days a year (day_kind: natural in
// the policies) count on it: "3 working days" is then 3 days of working
// hours in a row. It costs nothing; the result is immutable too.
func (c *Calendar) EveryDay() *Calendar {
	if c.every != nil {
		return c.every
	}
	return c.every0()
}

// every0 makes the EveryDay view of c.
func (c *Calendar) every0() *Calendar {
	if c.everyDay {
		return c
	}
	e := *c
	e.everyDay, e.every = true, nil
	return &e
}

// Location is the time zone the calendar counts days in. Results of the
// Add methods are in it.
func (c *Calendar) Location() *time.Location { return c.loc }

// IsWorkingDay reports whether t's date, in the calendar's zone, is a
// working day.
func (c *Calendar) IsWorkingDay(t time.Time) bool {
	return c.isWorkingDay(calDayOf(t.In(c.loc)))
}

// Covers reports whether the file holds the published arrangement for t's
// year (in the calendar's zone). It is false for a missing year, where the
// calendar falls back to weekends only, and for a year marked provisional
// (holidays known before the State Council publishes the arrangement), so
// a caller can warn that deadlines in that year may be early.
func (c *Calendar) Covers(t time.Time) bool {
	provisional, ok := c.years[t.In(c.loc).Year()]
	return ok && !provisional
}

// Provisional reports whether year is in the file but marked provisional:
// its statutory holidays are known, the State Council's arrangement (the
// days off around them and the make-up working days) is not.
func (c *Calendar) Provisional(year int) bool { return c.years[year] }

// Listed reports whether year is in the file at all, provisional or not. A
// year not listed falls back to weekends only.
func (c *Calendar) Listed(year int) bool {
	_, ok := c.years[year]
	return ok
}

// CalendarWarning says that a year near now lacks the State Council's
// published arrangement, so working-day deadlines in it may come out early.
type CalendarWarning struct {
	Year int
	// Missing is true when the file does not list the year at all
	// (weekends only), false when it lists it as provisional (statutory
	// holidays only).
	Missing bool
}

// String is the warning for an operator, e.g. "2027 is provisional: ...".
func (w CalendarWarning) String() string {
	if w.Missing {
		return fmt.Sprintf("%d is not in the calendar file: working-day deadlines in %d count weekends only, "+
			"no public holidays; add the year when the State Council publishes it", w.Year, w.Year)
	}
	return fmt.Sprintf("%d is provisional in the calendar file: it lists the statutory holidays only, "+
		"not the State Council's arrangement (extra days off, make-up working days), so working-day deadlines "+
		"in %d may come out early; replace the file when the arrangement is published", w.Year, w.Year)
}

// Warnings lists the warnings due at now: one for the current year and one
// for the next (in the calendar's zone) when either is provisional or
// missing from the file, current year first. None means both are
// published. The daemon logs them at start-up and once a day, and
// -check-config prints them.
func (c *Calendar) Warnings(now time.Time) []CalendarWarning {
	var out []CalendarWarning
	y := now.In(c.loc).Year()
	for _, year := range []int{y, y + 1} {
		if provisional, ok := c.years[year]; !ok || provisional {
			out = append(out, CalendarWarning{Year: year, Missing: !ok})
		}
	}
	return out
}

// AddWorkingDays returns the deadline n working days after start, in the
// calendar's zone. One working day is one day's working hours, so the
// result is the same instant in working time as AddWorkingHours(start, n ×
// the working-day length):
//
//   - start inside working hours of a working day (after opening, before
//     closing): the same clock time on the n-th following working day.
//     Monday 10:30 + 3 = Thursday 10:30.
//   - otherwise the clock starts at the next opening: on a working day at
//     or before opening, that day's; after closing or on a day off, the
//     next working day's. The day it starts on is day 1, and the deadline
//     is the closing time of day n. Saturday 15:00 + 3 = Wednesday 18:00;
//     Monday 08:00 + 1 = Monday 18:00.
//
// A working-day limit thus always gives n whole working days, and a
// deadline never falls outside working hours; make-up working days count
// like any other. n <= 0 returns start; n above MaxWorkingDays counts as
// MaxWorkingDays.
func (c *Calendar) AddWorkingDays(start time.Time, n int) time.Time {
	t := start.In(c.loc)
	if n <= 0 {
		return t
	}
	n = min(n, MaxWorkingDays)
	day := calDayOf(t)
	working := c.isWorkingDay(day)
	open := day.at(c.open, c.loc)
	if working && t.After(open) && t.Before(day.at(c.close, c.loc)) {
		for ; n > 0; n-- {
			day = c.nextWorkingDay(day)
		}
		y, m, d := day.date()
		hh, mm, ss := t.Clock()
		return time.Date(y, m, d, hh, mm, ss, t.Nanosecond(), c.loc)
	}
	if !working || t.After(open) {
		day = c.nextWorkingDay(day)
	}
	for ; n > 1; n-- {
		day = c.nextWorkingDay(day)
	}
	return day.at(c.close, c.loc)
}

// AddWorkingHours returns the instant at which d of working time has passed
// after start, in the calendar's zone. Only time inside working hours of
// working days counts; time before opening, after closing and on days off
// is skipped. A deadline that uses up a day's working hours exactly is that
// day's closing time, not the next opening. d <= 0 returns start; d above
// MaxWorkingDays working days counts as that much.
func (c *Calendar) AddWorkingHours(start time.Time, d time.Duration) time.Time {
	t := start.In(c.loc)
	if d <= 0 {
		return t
	}
	d = min(d, MaxWorkingDays*time.Duration(c.close-c.open)*time.Minute)
	for day := calDayOf(t); ; day++ {
		if !c.isWorkingDay(day) {
			continue
		}
		if open := day.at(c.open, c.loc); t.Before(open) {
			t = open
		}
		closing := day.at(c.close, c.loc)
		if !t.Before(closing) {
			continue
		}
		left := closing.Sub(t)
		if d <= left {
			return t.Add(d)
		}
		d -= left
		t = closing
	}
}

// WorkingDay is the length of one day's working hours (close minus open):
// a limit of n working days is n times this much working time.
func (c *Calendar) WorkingDay() time.Duration {
	return time.Duration(c.close-c.open) * time.Minute
}

// WorkingTimeBetween returns how much working time lies between from and
// to: the inverse of AddWorkingHours, so that
// AddWorkingHours(from, WorkingTimeBetween(from, to)) is to when to is
// inside working hours. It is 0 when to is not after from, and counts at
// most MaxWorkingDays working days.
func (c *Calendar) WorkingTimeBetween(from, to time.Time) time.Duration {
	if !to.After(from) {
		return 0
	}
	var total time.Duration
	start, end := calDayOf(from.In(c.loc)), calDayOf(to.In(c.loc))
	for day, days := start, 0; day <= end && days < MaxWorkingDays; day++ {
		if !c.isWorkingDay(day) {
			continue
		}
		days++
		lo, hi := day.at(c.open, c.loc), day.at(c.close, c.loc)
		if from.After(lo) {
			lo = from
		}
		if to.Before(hi) {
			hi = to
		}
		if hi.After(lo) {
			total += hi.Sub(lo)
		}
	}
	return total
}

func (c *Calendar) isWorkingDay(d calDay) bool {
	if c.everyDay {
		return true
	}
	if working, listed := c.days[d]; listed {
		return working
	}
	switch d.weekday() {
	case time.Saturday, time.Sunday:
		return false
	}
	return true
}

// nextWorkingDay is the first working day after d. It ends: only the
// years in the file can list holidays, and every week after them has
// weekdays.
func (c *Calendar) nextWorkingDay(d calDay) calDay {
	for {
		d++
		if c.isWorkingDay(d) {
			return d
		}
	}
}

// calDay is a date without a zone, counted in days from 1970-01-01.
type calDay int64

const secondsPerDay = 24 * 60 * 60

// calDayOf is the date of t in t's own location.
func calDayOf(t time.Time) calDay {
	y, m, d := t.Date()
	return calDay(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / secondsPerDay)
}

func (d calDay) utc() time.Time { return time.Unix(int64(d)*secondsPerDay, 0).UTC() }

func (d calDay) date() (int, time.Month, int) { return d.utc().Date() }

func (d calDay) weekday() time.Weekday { return d.utc().Weekday() }

// at is the wall-clock time minutes after midnight of d in loc.
func (d calDay) at(minutes int, loc *time.Location) time.Time {
	y, m, dd := d.date()
	return time.Date(y, m, dd, 0, minutes, 0, 0, loc)
}

// CalendarError is one problem in a calendar file, tied to the key path
// (and line, when known) an operator must fix, e.g.
// `years.2026.holidays[3]: "2026-02-30" is not a date YYYY-MM-DD (line 12)`.
// It is the config's error type, as every strict YAML loader's; a file
// with several problems gives them all, joined with errors.Join.
type CalendarError = configs.Error

// calendarFile is the file format; configs/calendars/cn-2026.yaml is an
// annotated example.
type calendarFile struct {
	TimeZone     string                      `yaml:"time_zone"`
	WorkingHours calendarHoursFile           `yaml:"working_hours"`
	Years        map[string]calendarYearFile `yaml:"years"`
}

// calendarHoursFile holds the working hours, "HH:MM" in the calendar's zone.
// They apply only to deadlines in working days or working hours; deadlines
// in plain hours are wall-clock and never consult the calendar.
type calendarHoursFile struct {
	Open  string `yaml:"open"`
	Close string `yaml:"close"`
}

type calendarYearFile struct {
	// Source names the notice the dates come from; free text, for people.
	Source string `yaml:"source"`
	// Provisional marks a year whose arrangement is not published yet: its
	// dates are used, but Covers reports the year as not covered.
	Provisional bool `yaml:"provisional"`
	// Holidays and Workdays are nodes, not strings, so that a null or
	// nested entry keeps its index and is reported instead of dropped.
	Holidays []yaml.Node `yaml:"holidays"`
	Workdays []yaml.Node `yaml:"workdays"`
}

// LoadCalendar reads and parses the calendar file at path. Errors name the
// file, the key path and the line.
func LoadCalendar(path string) (*Calendar, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load calendar: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxCalendarFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("load calendar %s: %w", path, err)
	}
	return parseCalendar(data, path)
}

// ParseCalendar parses a calendar file. It is strict: unknown keys, dates
// that do not exist, a date under the wrong year, a date listed twice or
// as both holiday and workday, and a workday that is not a Saturday or
// Sunday are errors, each naming its key path.
func ParseCalendar(data []byte) (*Calendar, error) {
	return parseCalendar(data, "")
}

func parseCalendar(data []byte, file string) (*Calendar, error) {
	p := newCalendarProblems(file)
	if len(data) > MaxCalendarFileBytes {
		p.add("", 0, "file is larger than %d bytes (1 MiB)", MaxCalendarFileBytes)
		return nil, p.err()
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		p.addYAML(err, nil)
		return nil, p.err()
	}
	lines := configs.NewKeyLines(&root)
	f := calendarFile{
		TimeZone:     defaultCalendarZone,
		WorkingHours: calendarHoursFile{Open: defaultCalendarOpen, Close: defaultCalendarClose},
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		p.addYAML(err, lines.ByLine)
		return nil, p.err()
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		p.add("", 0, "the file holds more than one YAML document; put all years under one years key")
	}

	c := &Calendar{years: map[int]bool{}, days: map[calDay]bool{}}
	c.loc = parseCalendarZone(p, lines, f.TimeZone)
	c.open = parseCalendarClock(p, lines, "working_hours.open", f.WorkingHours.Open, defaultCalendarOpen)
	if c.open == 24*60 {
		p.add("working_hours.open", lines.ByPath["working_hours.open"], "24:00 is a closing time only")
		c.open = -1
	}
	c.close = parseCalendarClock(p, lines, "working_hours.close", f.WorkingHours.Close, defaultCalendarClose)
	if c.open >= 0 && c.close >= 0 && c.open >= c.close {
		p.add("working_hours", lines.ByPath["working_hours"], "open (%s) must be before close (%s)",
			f.WorkingHours.Open, f.WorkingHours.Close)
	}

	if len(f.Years) == 0 {
		p.add("years", lines.ByPath["years"], "at least one year is required")
	}
	keys := make([]string, 0, len(f.Years))
	for k := range f.Years {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		path := "years." + key
		if !calendarYearRe.MatchString(key) {
			p.add(path, lines.ByPath[path], "%q is not a year; write four digits such as 2026", key)
			continue
		}
		year, _ := strconv.Atoi(key)
		y := f.Years[key]
		c.years[year] = y.Provisional
		holidays := parseCalendarDates(p, path+".holidays", year, y.Holidays, nil)
		for _, h := range holidays {
			c.days[h.day] = false
		}
		workdays := parseCalendarDates(p, path+".workdays", year, y.Workdays, func(d calDay) string {
			if j, ok := holidayIndex(holidays, d); ok {
				return fmt.Sprintf("is also listed as holidays[%d]; a date is either a holiday or a make-up working day", j)
			}
			if wd := d.weekday(); wd != time.Saturday && wd != time.Sunday {
				return fmt.Sprintf("is a %s; workdays lists only make-up working days (调休) on a Saturday or Sunday", wd)
			}
			return ""
		})
		for _, w := range workdays {
			c.days[w.day] = true
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	c.every = c.every0()
	return c, nil
}

var (
	calendarYearRe  = regexp.MustCompile(`^[1-9][0-9]{3}$`)
	calendarDateRe  = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	calendarClockRe = regexp.MustCompile(`^(?:([01][0-9]|2[0-3]):([0-5][0-9])|24:00)$`)
	calendarFieldRe = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
)

func parseCalendarZone(p *problems, lines configs.KeyLines, name string) *time.Location {
	if name == "" {
		name = defaultCalendarZone
	}
	if name == "Local" {
		p.add("time_zone", lines.ByPath["time_zone"], "\"Local\" depends on the host; name a zone such as %s", defaultCalendarZone)
		return time.UTC
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		p.add("time_zone", lines.ByPath["time_zone"], "%q is not a known time zone", name)
		return time.UTC
	}
	return loc
}

// parseCalendarClock returns minutes after midnight, or -1 after reporting a
// problem. Empty means the default.
func parseCalendarClock(p *problems, lines configs.KeyLines, path, s, def string) int {
	if s == "" {
		s = def
	}
	m := calendarClockRe.FindStringSubmatch(s)
	if m == nil {
		p.add(path, lines.ByPath[path], "%q is not a time of day HH:MM (00:00 to 24:00)", s)
		return -1
	}
	if m[1] == "" {
		return 24 * 60
	}
	h, _ := strconv.Atoi(m[1])
	mm, _ := strconv.Atoi(m[2])
	return h*60 + mm
}

type calendarDate struct {
	index int
	day   calDay
}

// parseCalendarDates checks the dates of one list of one year and returns
// the good ones. check, when not nil, returns what else is wrong with a
// date ("" if nothing).
func parseCalendarDates(p *problems, path string, year int, nodes []yaml.Node, check func(calDay) string) []calendarDate {
	var out []calendarDate
	seen := make(map[calDay]int, len(nodes))
	for i := range nodes {
		n := &nodes[i]
		ip := fmt.Sprintf("%s[%d]", path, i)
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			p.add(ip, n.Line, "%s is not a date YYYY-MM-DD", describeCalendarNode(n))
			continue
		}
		t, err := time.Parse(time.DateOnly, n.Value)
		if err != nil || !calendarDateRe.MatchString(n.Value) {
			p.add(ip, n.Line, "%q is not a date YYYY-MM-DD", n.Value)
			continue
		}
		if t.Year() != year {
			p.add(ip, n.Line, "%s is in %d, not %d; list it under years.%d", n.Value, t.Year(), year, t.Year())
			continue
		}
		d := calDayOf(t)
		if j, dup := seen[d]; dup {
			p.add(ip, n.Line, "%s is listed twice (also at [%d])", n.Value, j)
			continue
		}
		seen[d] = i
		if check != nil {
			if msg := check(d); msg != "" {
				p.add(ip, n.Line, "%s %s", n.Value, msg)
				continue
			}
		}
		out = append(out, calendarDate{index: i, day: d})
	}
	return out
}

func holidayIndex(holidays []calendarDate, d calDay) (int, bool) {
	for _, h := range holidays {
		if h.day == d {
			return h.index, true
		}
	}
	return 0, false
}

func describeCalendarNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias (*" + n.Value + ")"
	}
	return "an empty entry"
}

// calendarKeys lists the keys each mapping of the file allows.
var calendarKeys = map[string]string{
	"escalation.calendarFile":      "time_zone, working_hours, years",
	"escalation.calendarHoursFile": "open, close",
	"escalation.calendarYearFile":  "source, provisional, holidays, workdays",
}

// calendarTypeNames turns the Go types of yaml.v3 messages into words.
var calendarTypeNames = map[string]string{
	"escalation.calendarFile":                "a calendar (a mapping of time_zone, working_hours, years)",
	"escalation.calendarHoursFile":           "working hours (a mapping of open, close)",
	"escalation.calendarYearFile":            "a year (a mapping of source, provisional, holidays, workdays)",
	"map[string]escalation.calendarYearFile": "a mapping of years",
	"[]yaml.Node":                            "a list of dates",
	"string":                                 "text",
	"bool":                                   "true or false",
}

// problems collects the problems of one file (a calendar or the policies),
// each tied to a key path and line.
type problems struct {
	file string
	// keys lists the keys each struct of the file allows, and typeNames
	// puts the Go types of yaml.v3 messages into words.
	keys, typeNames map[string]string
	errs            []error
	extra           int
}

func newCalendarProblems(file string) *problems {
	return &problems{file: file, keys: calendarKeys, typeNames: calendarTypeNames}
}

func (p *problems) add(path string, line int, format string, args ...any) {
	if len(p.errs) >= maxCalendarProblems {
		p.extra++
		return
	}
	p.errs = append(p.errs, &configs.Error{File: p.file, Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// addYAML records a yaml.v3 error, naming the key on its line when known
// and putting yaml.v3's Go types into words.
func (p *problems) addYAML(err error, byLine map[int]string) {
	for _, pr := range configs.SplitYAMLError(err) {
		line, msg := pr.Line, pr.Msg
		if m := calendarFieldRe.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("unknown key %q; allowed here: %s", m[1], p.keys[m[2]])
		} else if i := strings.LastIndex(msg, " into "); i >= 0 {
			if name, ok := p.typeNames[msg[i+len(" into "):]]; ok {
				msg = msg[:i] + "; expected " + name
			}
		}
		p.add(byLine[line], line, "%s", msg)
	}
}

func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	if p.extra > 0 {
		p.errs = append(p.errs, &configs.Error{File: p.file, Msg: fmt.Sprintf("and %d more problems", p.extra)})
		p.extra = 0
	}
	if len(p.errs) == 1 {
		return p.errs[0]
	}
	return errors.Join(p.errs...)
}
