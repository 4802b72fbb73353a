package escalation

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const calendarDir = "../configs/calendars"

func shippedCalendar(t testing.TB, name string) *Calendar {
	t.Helper()
	c, err := LoadCalendar(filepath.Join(calendarDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// cst parses "2006-01-02 15:04" (seconds optional) in Asia/Shanghai.
func cst(t testing.TB, s string) time.Time {
	t.Helper()
	layout := "2006-01-02 15:04"
	if len(s) > len(layout) {
		layout = time.DateTime
	}
	v, err := time.ParseInLocation(layout, s, shanghai)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCalendarShippedFilesLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(calendarDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("want cn-2026.yaml and cn-2027.yaml in %s, found %v", calendarDir, files)
	}
	for _, f := range files {
		c, err := LoadCalendar(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if c.Location().String() != "Asia/Shanghai" {
			t.Errorf("%s: zone %s", f, c.Location())
		}
	}
}

// TestCalendar2026Arrangement checks the shipped 2026 data day by day
// against the State Council notice: 33 days off, 6 make-up working days.
func TestCalendar2026Arrangement(t *testing.T) {
	off := map[string]bool{}
	for _, r := range [][2]string{
		{"2026-01-01", "2026-01-03"}, {"2026-02-15", "2026-02-23"}, {"2026-04-04", "2026-04-06"},
		{"2026-05-01", "2026-05-05"}, {"2026-06-19", "2026-06-21"}, {"2026-09-25", "2026-09-27"},
		{"2026-10-01", "2026-10-07"},
	} {
		for d := cst(t, r[0]+" 12:00"); !d.After(cst(t, r[1]+" 12:00")); d = d.AddDate(0, 0, 1) {
			off[d.Format(time.DateOnly)] = true
		}
	}
	makeUp := map[string]bool{"2026-01-04": true, "2026-02-14": true, "2026-02-28": true,
		"2026-05-09": true, "2026-09-20": true, "2026-10-10": true}
	if len(off) != 33 {
		t.Fatalf("test table has %d days off, want 33", len(off))
	}
	for _, name := range []string{"cn-2026.yaml", "cn-2027.yaml"} {
		c := shippedCalendar(t, name)
		for d := cst(t, "2026-01-01 12:00"); d.Year() == 2026; d = d.AddDate(0, 0, 1) {
			key := d.Format(time.DateOnly)
			want := d.Weekday() != time.Saturday && d.Weekday() != time.Sunday
			if off[key] {
				want = false
			}
			if makeUp[key] {
				want = true
			}
			if got := c.IsWorkingDay(d); got != want {
				t.Errorf("%s: IsWorkingDay(%s %s) = %v, want %v", name, key, d.Weekday(), got, want)
			}
		}
	}
}

func TestCalendarIsWorkingDay(t *testing.T) {
	c := shippedCalendar(t, "cn-2026.yaml")
	for _, tc := range []struct {
		at   time.Time
		want bool
		why  string
	}{
		{cst(t, "2026-03-06 10:00"), true, "ordinary Friday"},
		{cst(t, "2026-03-07 10:00"), false, "ordinary Saturday"},
		{cst(t, "2026-03-08 10:00"), false, "ordinary Sunday"},
		{cst(t, "2026-02-14 10:00"), true, "Saturday made up for Spring Festival"},
		{cst(t, "2026-01-04 10:00"), true, "Sunday made up for New Year"},
		{cst(t, "2026-02-16 10:00"), false, "Spring Festival Monday"},
		{cst(t, "2026-02-23 23:59"), false, "last day of Spring Festival"},
		{cst(t, "2026-02-24 00:00"), true, "first day back"},
		{cst(t, "2026-10-07 10:00"), false, "National Day Wednesday"},
		{cst(t, "2026-10-08 10:00"), true, "Thursday after National Day"},
		// 2026-02-23 17:00 UTC is 2026-02-24 01:00 in Shanghai.
		{time.Date(2026, 2, 23, 17, 0, 0, 0, time.UTC), true, "taken in the calendar's zone, not the argument's"},
		{time.Date(2026, 2, 23, 15, 59, 0, 0, time.UTC), false, "still 2026-02-23 in Shanghai"},
	} {
		if got := c.IsWorkingDay(tc.at); got != tc.want {
			t.Errorf("IsWorkingDay(%s) = %v, want %v (%s)", tc.at, got, tc.want, tc.why)
		}
	}
}

func TestCalendarAddWorkingDays(t *testing.T) {
	c2026 := shippedCalendar(t, "cn-2026.yaml")
	c2027 := shippedCalendar(t, "cn-2027.yaml")
	for _, tc := range []struct {
		name  string
		cal   *Calendar
		start time.Time
		n     int
		want  time.Time
	}{
		{"inside hours, same week", c2026, cst(t, "2026-03-09 10:30"), 3, cst(t, "2026-03-12 10:30")},
		{"crossing a weekend", c2026, cst(t, "2026-03-06 10:00"), 1, cst(t, "2026-03-09 10:00")},
		{"crossing a weekend, 3 days", c2026, cst(t, "2026-03-05 16:45:30"), 3, cst(t, "2026-03-10 16:45:30")},
		{"15 working days over weekends and Qingming", c2026, cst(t, "2026-03-25 11:00"), 15, cst(t, "2026-04-16 11:00")},
		// Thu 02-12, Fri 02-13 | Sat 02-14 make-up day | 02-15..02-23 off.
		{"crossing Spring Festival", c2026, cst(t, "2026-02-12 15:00"), 3, cst(t, "2026-02-24 15:00")},
		{"Spring Festival, starting on the make-up Saturday", c2026, cst(t, "2026-02-14 10:00"), 1, cst(t, "2026-02-24 10:00")},
		{"starting inside Spring Festival", c2026, cst(t, "2026-02-17 10:00"), 3, cst(t, "2026-02-26 18:00")},
		{"National Day week", c2026, cst(t, "2026-09-30 10:00"), 1, cst(t, "2026-10-08 10:00")},
		{"Mid-Autumn then National Day", c2026, cst(t, "2026-09-24 10:00"), 4, cst(t, "2026-10-08 10:00")},
		{"make-up Sunday before National Day counts", c2026, cst(t, "2026-09-18 14:00"), 1, cst(t, "2026-09-20 14:00")},
		{"make-up Saturday after National Day counts", c2026, cst(t, "2026-10-08 10:00"), 2, cst(t, "2026-10-10 10:00")},
		{"make-up Saturday after Labour Day counts", c2026, cst(t, "2026-05-08 11:00"), 1, cst(t, "2026-05-09 11:00")},
		{"before opening: day 1 is today, due at closing", c2026, cst(t, "2026-03-09 07:30"), 3, cst(t, "2026-03-11 18:00")},
		{"before opening, one day", c2026, cst(t, "2026-03-09 08:59"), 1, cst(t, "2026-03-09 18:00")},
		{"exactly at opening counts as before", c2026, cst(t, "2026-03-09 09:00"), 1, cst(t, "2026-03-09 18:00")},
		{"just after opening", c2026, cst(t, "2026-03-09 09:01"), 1, cst(t, "2026-03-10 09:01")},
		{"just before closing", c2026, cst(t, "2026-03-09 17:59"), 1, cst(t, "2026-03-10 17:59")},
		{"exactly at closing counts as after", c2026, cst(t, "2026-03-09 18:00"), 1, cst(t, "2026-03-10 18:00")},
		{"after closing: day 1 is the next working day", c2026, cst(t, "2026-03-09 19:00"), 1, cst(t, "2026-03-10 18:00")},
		{"after closing on Friday", c2026, cst(t, "2026-03-06 20:00"), 3, cst(t, "2026-03-11 18:00")},
		{"on Sunday", c2026, cst(t, "2026-03-08 12:00"), 1, cst(t, "2026-03-09 18:00")},
		{"on Sunday, 3 days", c2026, cst(t, "2026-03-08 12:00"), 3, cst(t, "2026-03-11 18:00")},
		{"after closing before a holiday", c2026, cst(t, "2026-09-30 18:30"), 1, cst(t, "2026-10-08 18:00")},
		{"n = 0 returns start", c2026, cst(t, "2026-03-08 12:00"), 0, cst(t, "2026-03-08 12:00")},
		{"n < 0 returns start", c2026, cst(t, "2026-03-09 12:00"), -2, cst(t, "2026-03-09 12:00")},
		{"start in UTC", c2026, time.Date(2026, 3, 9, 2, 0, 0, 0, time.UTC), 1, cst(t, "2026-03-10 10:00")},
		// cn-2026.yaml has no 2027: 2027-01-01 (Friday) is a working day.
		{"into a year without data", c2026, cst(t, "2026-12-31 10:00"), 1, cst(t, "2027-01-01 10:00")},
		{"into 2027 with its New Year's Day", c2027, cst(t, "2026-12-31 10:00"), 1, cst(t, "2027-01-04 10:00")},
		{"year without data: weekends only", c2026, cst(t, "2027-10-01 10:00"), 1, cst(t, "2027-10-04 10:00")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cal.AddWorkingDays(tc.start, tc.n)
			if !got.Equal(tc.want) {
				t.Errorf("AddWorkingDays(%s %s, %d) = %s %s, want %s %s", tc.start, tc.start.Weekday(), tc.n,
					got, got.Weekday(), tc.want, tc.want.Weekday())
			}
			if got.Location() != tc.cal.Location() {
				t.Errorf("result in %s, want the calendar's zone", got.Location())
			}
		})
	}
}

func TestCalendarAddWorkingHours(t *testing.T) {
	c := shippedCalendar(t, "cn-2026.yaml")
	for _, tc := range []struct {
		name  string
		start time.Time
		d     time.Duration
		want  time.Time
	}{
		{"within a day", cst(t, "2026-03-09 10:00"), 2 * time.Hour, cst(t, "2026-03-09 12:00")},
		{"across a night", cst(t, "2026-03-09 17:00"), 2 * time.Hour, cst(t, "2026-03-10 10:00")},
		{"ends exactly at closing", cst(t, "2026-03-09 17:00"), time.Hour, cst(t, "2026-03-09 18:00")},
		{"across a weekend", cst(t, "2026-03-06 16:00"), 4 * time.Hour, cst(t, "2026-03-09 11:00")},
		{"from after closing on Friday", cst(t, "2026-03-06 21:00"), 30 * time.Minute, cst(t, "2026-03-09 09:30")},
		{"from Saturday", cst(t, "2026-03-07 12:00"), time.Hour, cst(t, "2026-03-09 10:00")},
		{"from before opening", cst(t, "2026-03-09 06:00"), 30 * time.Minute, cst(t, "2026-03-09 09:30")},
		{"a full working day from before opening", cst(t, "2026-03-09 06:00"), 9 * time.Hour, cst(t, "2026-03-09 18:00")},
		{"24 working hours", cst(t, "2026-03-09 10:00"), 24 * time.Hour, cst(t, "2026-03-11 16:00")},
		{"onto the make-up Saturday", cst(t, "2026-02-13 17:00"), 3 * time.Hour, cst(t, "2026-02-14 11:00")},
		{"across Spring Festival", cst(t, "2026-02-14 17:00"), 2 * time.Hour, cst(t, "2026-02-24 10:00")},
		{"across National Day", cst(t, "2026-09-30 17:30"), time.Hour, cst(t, "2026-10-08 09:30")},
		{"keeps seconds", cst(t, "2026-03-09 10:00:07"), time.Minute, cst(t, "2026-03-09 10:01:07")},
		{"zero", cst(t, "2026-03-07 12:00"), 0, cst(t, "2026-03-07 12:00")},
		{"negative", cst(t, "2026-03-07 12:00"), -time.Hour, cst(t, "2026-03-07 12:00")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.AddWorkingHours(tc.start, tc.d); !got.Equal(tc.want) {
				t.Errorf("AddWorkingHours(%s %s, %s) = %s %s, want %s", tc.start, tc.start.Weekday(), tc.d,
					got, got.Weekday(), tc.want)
			}
		})
	}
}

// TestCalendarWorkingDaysAreWorkingHours checks the documented rule: in a
// zone without daylight saving, n working days are n × 9 working hours,
// from any start.
func TestCalendarWorkingDaysAreWorkingHours(t *testing.T) {
	c := shippedCalendar(t, "cn-2027.yaml")
	for start := cst(t, "2026-01-01 00:00"); start.Year() < 2028; start = start.Add(97 * time.Minute) {
		for _, n := range []int{1, 2, 3, 7, 15} {
			days := c.AddWorkingDays(start, n)
			hours := c.AddWorkingHours(start, time.Duration(n)*9*time.Hour)
			if !days.Equal(hours) {
				t.Fatalf("start %s %s, n=%d: AddWorkingDays = %s, AddWorkingHours = %s",
					start, start.Weekday(), n, days, hours)
			}
			if !c.IsWorkingDay(days) || days.Hour() < 9 || days.After(time.Date(days.Year(), days.Month(), days.Day(), 18, 0, 0, 0, shanghai)) {
				t.Fatalf("start %s, n=%d: deadline %s is outside working hours", start, n, days)
			}
		}
	}
}

func TestCalendarCovers(t *testing.T) {
	c2026 := shippedCalendar(t, "cn-2026.yaml")
	c2027 := shippedCalendar(t, "cn-2027.yaml")
	for _, tc := range []struct {
		name string
		cal  *Calendar
		at   time.Time
		want bool
	}{
		{"2026 in cn-2026", c2026, cst(t, "2026-06-01 10:00"), true},
		{"2025 is missing", c2026, cst(t, "2025-12-31 10:00"), false},
		{"2027 is missing", c2026, cst(t, "2027-01-04 10:00"), false},
		// 2026-12-31 16:30 UTC is already 2027 in Shanghai.
		{"year taken in the calendar's zone", c2026, time.Date(2026, 12, 31, 16, 30, 0, 0, time.UTC), false},
		{"2026 in cn-2027", c2027, cst(t, "2026-12-31 23:59"), true},
		{"provisional 2027 is not covered", c2027, cst(t, "2027-03-01 10:00"), false},
	} {
		if got := tc.cal.Covers(tc.at); got != tc.want {
			t.Errorf("%s: Covers(%s) = %v, want %v", tc.name, tc.at, got, tc.want)
		}
	}
}

// TestCalendarFallsBackToWeekends: a year the file lacks is weekends only.
func TestCalendarFallsBackToWeekends(t *testing.T) {
	c := shippedCalendar(t, "cn-2026.yaml")
	for d := cst(t, "2027-01-01 12:00"); d.Year() == 2027; d = d.AddDate(0, 0, 1) {
		want := d.Weekday() != time.Saturday && d.Weekday() != time.Sunday
		if got := c.IsWorkingDay(d); got != want {
			t.Fatalf("IsWorkingDay(%s %s) = %v, want %v", d.Format(time.DateOnly), d.Weekday(), got, want)
		}
	}
	// The provisional 2027 of cn-2027.yaml knows its fixed-date holidays.
	if shippedCalendar(t, "cn-2027.yaml").IsWorkingDay(cst(t, "2027-10-01 12:00")) {
		t.Error("cn-2027.yaml: 2027-10-01 is a working day")
	}
}

func TestParseCalendarDefaultsAndHours(t *testing.T) {
	c, err := ParseCalendar([]byte("years:\n  2026: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Location().String() != "Asia/Shanghai" {
		t.Errorf("default zone %s", c.Location())
	}
	if got, want := c.AddWorkingDays(cst(t, "2026-03-09 07:00"), 1), cst(t, "2026-03-09 18:00"); !got.Equal(want) {
		t.Errorf("default hours: got %s, want %s", got, want)
	}
	if !c.Covers(cst(t, "2026-03-09 07:00")) {
		t.Error("a year with no holidays is still covered")
	}

	c, err = ParseCalendar([]byte(`
time_zone: UTC
working_hours: {open: "08:30", close: "24:00"}
years:
  2026:
    holidays: [2026-03-10]
    workdays: [2026-03-14]
`))
	if err != nil {
		t.Fatal(err)
	}
	utc := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		start time.Time
		d     time.Duration
		want  time.Time
	}{
		{utc("2026-03-09 23:00"), 2 * time.Hour, utc("2026-03-11 09:30")},
		{utc("2026-03-13 08:00"), 15*time.Hour + 30*time.Minute + time.Hour, utc("2026-03-14 09:30")},
		{utc("2026-03-09 00:00"), 15*time.Hour + 30*time.Minute, utc("2026-03-10 00:00")},
	} {
		if got := c.AddWorkingHours(tc.start, tc.d); !got.Equal(tc.want) {
			t.Errorf("UTC 08:30-24:00: AddWorkingHours(%s, %s) = %s, want %s", tc.start, tc.d, got, tc.want)
		}
	}
	if got, want := c.AddWorkingDays(utc("2026-03-09 07:00"), 2), utc("2026-03-12 00:00"); !got.Equal(want) {
		t.Errorf("UTC 08:30-24:00: AddWorkingDays = %s, want %s", got, want)
	}
}

func TestParseCalendarErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // substrings of the error, in order of appearance
	}{
		{"impossible date", "years:\n  2026:\n    holidays:\n      - 2026-01-01\n      - 2026-01-02\n      - 2026-02-01\n      - 2026-02-30\n",
			[]string{`years.2026.holidays[3]: "2026-02-30" is not a date YYYY-MM-DD (line 7)`}},
		{"not ISO", "years:\n  2026:\n    holidays: [2026-2-3]\n", []string{`years.2026.holidays[0]: "2026-2-3" is not a date YYYY-MM-DD`}},
		{"date with time", "years:\n  2026:\n    holidays: [2026-02-03T10:00:00Z]\n", []string{`years.2026.holidays[0]: "2026-02-03T10:00:00Z" is not a date`}},
		{"number", "years:\n  2026:\n    holidays: [20260203]\n", []string{`years.2026.holidays[0]: "20260203" is not a date`}},
		{"empty entry keeps its index", "years:\n  2026:\n    holidays: [2026-01-01, ~, 2026-02-30]\n",
			[]string{`years.2026.holidays[1]: an empty entry is not a date`, `years.2026.holidays[2]: "2026-02-30"`}},
		{"nested list", "years:\n  2026:\n    workdays: [[2026-01-04]]\n", []string{`years.2026.workdays[0]: a list is not a date`}},
		{"alias", "years:\n  2026:\n    holidays: [&d 2026-01-01, *d]\n", []string{`years.2026.holidays[1]: an alias (*d) is not a date`}},
		{"holiday under the wrong year", "years:\n  2026:\n    holidays: [2027-01-01]\n",
			[]string{`years.2026.holidays[0]: 2027-01-01 is in 2027, not 2026; list it under years.2027`}},
		{"workday under the wrong year", "years:\n  2027:\n    workdays: [2026-12-27]\n",
			[]string{`years.2027.workdays[0]: 2026-12-27 is in 2026, not 2027`}},
		{"holiday listed twice", "years:\n  2026:\n    holidays: [2026-10-01, 2026-10-02, 2026-10-01]\n",
			[]string{`years.2026.holidays[2]: 2026-10-01 is listed twice (also at [0])`}},
		{"holiday and workday", "years:\n  2026:\n    holidays: [2026-02-15, 2026-02-14]\n    workdays: [2026-02-14]\n",
			[]string{`years.2026.workdays[0]: 2026-02-14 is also listed as holidays[1]`}},
		{"workday on a weekday", "years:\n  2026:\n    workdays: [2026-02-14, 2026-02-16]\n",
			[]string{`years.2026.workdays[1]: 2026-02-16 is a Monday; workdays lists only make-up working days`}},
		{"year not a number", "years:\n  twenty:\n    holidays: []\n", []string{`years.twenty: "twenty" is not a year`}},
		{"year too short", "years:\n  \"26\": {}\n", []string{`years.26: "26" is not a year`}},
		{"year given twice", "years:\n  2026: {}\n  2026: {}\n", []string{`years.2026: mapping key "2026" already defined at line 2 (line 3)`}},
		{"year given twice, quoted", "years:\n  2026: {}\n  \"2026\": {}\n", []string{`years.2026: mapping key "2026" already defined at line 2 (line 3)`}},
		{"unknown top key", "timezone: Asia/Shanghai\nyears:\n  2026: {}\n",
			[]string{`timezone: unknown key "timezone"; allowed here: time_zone, working_hours, years (line 1)`}},
		{"unknown year key", "years:\n  2026:\n    holiday: [2026-01-01]\n",
			[]string{`years.2026.holiday: unknown key "holiday"; allowed here: source, provisional, holidays, workdays (line 3)`}},
		{"unknown hours key", "working_hours:\n  start: \"09:00\"\nyears:\n  2026: {}\n",
			[]string{`working_hours.start: unknown key "start"; allowed here: open, close`}},
		{"holidays not a list", "years:\n  2026:\n    holidays: 2026-01-01\n",
			[]string{"years.2026.holidays: cannot unmarshal !!timestamp `2026-01-01`; expected a list of dates (line 3)"}},
		{"year not a mapping", "years:\n  2026: [2026-01-01]\n", []string{"years.2026: cannot unmarshal !!seq; expected a year"}},
		{"provisional not a bool", "years:\n  2027:\n    provisional: maybe\n", []string{"years.2027.provisional: cannot unmarshal !!str `maybe`; expected true or false"}},
		{"file not a mapping", "- 2026-01-01\n", []string{"cannot unmarshal !!seq; expected a calendar"}},
		{"syntax", "years:\n  2026:\n    holidays: [2026-01-01\n", []string{"did not find expected"}},
		{"tab indentation", "years:\n\t2026: {}\n", []string{"line 2"}},
		{"empty file", "", []string{"years: at least one year is required"}},
		{"comments only", "# nothing\n", []string{"years: at least one year is required"}},
		{"no years", "time_zone: Asia/Shanghai\nyears: {}\n", []string{"years: at least one year is required (line 2)"}},
		{"unknown zone", "time_zone: Mars/Olympus\nyears:\n  2026: {}\n", []string{`time_zone: "Mars/Olympus" is not a known time zone (line 1)`}},
		{"host zone", "time_zone: Local\nyears:\n  2026: {}\n", []string{`time_zone: "Local" depends on the host`}},
		{"bad opening", "working_hours: {open: \"9:00\"}\nyears:\n  2026: {}\n", []string{`working_hours.open: "9:00" is not a time of day HH:MM`}},
		{"bad closing", "working_hours: {close: \"24:30\"}\nyears:\n  2026: {}\n", []string{`working_hours.close: "24:30" is not a time of day`}},
		{"open after close", "working_hours: {open: \"18:00\", close: \"09:00\"}\nyears:\n  2026: {}\n",
			[]string{`working_hours: open (18:00) must be before close (09:00)`}},
		{"open equals close", "working_hours: {open: \"09:00\", close: \"09:00\"}\nyears:\n  2026: {}\n", []string{`must be before close`}},
		{"open at 24:00", "working_hours: {open: \"24:00\", close: \"24:00\"}\nyears:\n  2026: {}\n",
			[]string{`working_hours.open: 24:00 is a closing time only`}},
		{"two documents", "years:\n  2026: {}\n---\nyears:\n  2027: {}\n", []string{"more than one YAML document"}},
		{"several problems at once", "time_zone: Nowhere\nyears:\n  2026:\n    holidays: [2026-13-01]\n    workdays: [2026-03-09]\n",
			[]string{`time_zone: "Nowhere"`, `years.2026.holidays[0]: "2026-13-01"`, `years.2026.workdays[0]: 2026-03-09 is a Monday`}},
		{"too large", "years:\n  2026: {}\n" + strings.Repeat("#", MaxCalendarFileBytes), []string{"file is larger than 1048576 bytes (1 MiB)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCalendar([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("no error; calendar %+v", c)
			}
			if c != nil {
				t.Error("calendar returned with an error")
			}
			var ce *CalendarError
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *CalendarError", err)
			}
			msg := err.Error()
			at := 0
			for _, w := range tc.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error %q\ndoes not contain, after offset %d, %q", msg, at, w)
				}
				at += i + len(w)
			}
		})
	}
}

func TestParseCalendarCapsProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("years:\n  2026:\n    holidays:\n")
	for range 50 {
		b.WriteString("      - nope\n")
	}
	_, err := ParseCalendar([]byte(b.String()))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if n := strings.Count(msg, "is not a date"); n != maxCalendarProblems {
		t.Errorf("%d problems shown, want %d", n, maxCalendarProblems)
	}
	if !strings.Contains(msg, "and 30 more problems") {
		t.Errorf("error does not count the rest: %s", msg)
	}
}

func TestLoadCalendarErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadCalendar(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("years:\n  2026:\n    workdays: [2026-02-16]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadCalendar(bad)
	var ce *CalendarError
	if !errors.As(err, &ce) || ce.File != bad || ce.Path != "years.2026.workdays[0]" || ce.Line != 3 {
		t.Errorf("bad file: %v (%+v)", err, ce)
	}
	if err != nil && !strings.HasPrefix(err.Error(), bad+": years.2026.workdays[0]: ") {
		t.Errorf("error does not start with file and key path: %v", err)
	}

	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("years:\n  2026: {}\n"+strings.Repeat("#", 2*MaxCalendarFileBytes)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCalendar(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
}

// TestCalendarLargeInputsAreBounded: huge counts end quickly at the cap.
func TestCalendarLargeInputsAreBounded(t *testing.T) {
	c := shippedCalendar(t, "cn-2026.yaml")
	start := cst(t, "2026-03-09 10:00")
	got := c.AddWorkingDays(start, int(^uint(0)>>1))
	if want := c.AddWorkingDays(start, MaxWorkingDays); !got.Equal(want) {
		t.Errorf("AddWorkingDays(max int) = %s, want the cap %s", got, want)
	}
	if got.Year() < 2300 || got.Year() > 2500 {
		t.Errorf("MaxWorkingDays reaches %d", got.Year())
	}
	if got := c.AddWorkingHours(start, time.Duration(1<<63-1)); got.Before(start) {
		t.Errorf("AddWorkingHours(max duration) = %s", got)
	}
}

func FuzzParseCalendar(f *testing.F) {
	f.Add([]byte("years:\n  2026:\n    holidays: [2026-01-01]\n    workdays: [2026-01-04]\n"))
	f.Add([]byte("time_zone: UTC\nworking_hours: {open: \"00:00\", close: \"24:00\"}\nyears: {2026: {provisional: true}}\n"))
	if data, err := os.ReadFile(filepath.Join(calendarDir, "cn-2027.yaml")); err == nil {
		f.Add(data)
	}
	starts := []time.Time{
		time.Date(2026, 2, 13, 17, 30, 0, 0, time.UTC),
		time.Date(2026, 10, 1, 3, 0, 0, 0, time.UTC),
		time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCalendar(data)
		if err != nil {
			if c != nil {
				t.Fatal("calendar returned with an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for _, s := range starts {
			c.IsWorkingDay(s)
			c.Covers(s)
			for _, n := range []int{1, 3} {
				if due := c.AddWorkingDays(s, n); !due.After(s) {
					t.Fatalf("AddWorkingDays(%s, %d) = %s", s, n, due)
				}
			}
			if due := c.AddWorkingHours(s, 90*time.Minute); !due.After(s) {
				t.Fatalf("AddWorkingHours(%s, 90m) = %s", s, due)
			}
		}
	})
}

func TestCalendarEveryDay(t *testing.T) {
	c := shippedCalendar(t, "cn-2026.yaml")
	e := c.EveryDay()
	if e == c || e.EveryDay() != e || c.EveryDay() != e || e.Location() != c.Location() || e.WorkingDay() != c.WorkingDay() {
		t.Fatalf("EveryDay view %p of %p", e, c)
	}
	for _, tc := range []struct {
		at                string
		working, everyDay bool
	}{
		{"2026-10-01 12:00", false, true}, // National Day
		{"2026-03-07 12:00", false, true}, // a Saturday
		{"2026-10-10 12:00", true, true},  // a make-up Saturday
		{"2026-03-09 12:00", true, true},  // a Monday
	} {
		if got := c.IsWorkingDay(cst(t, tc.at)); got != tc.working {
			t.Errorf("calendar %s: %v", tc.at, got)
		}
		if got := e.IsWorkingDay(cst(t, tc.at)); got != tc.everyDay {
			t.Errorf("every day %s: %v", tc.at, got)
		}
	}
	if got := e.AddWorkingDays(cst(t, "2026-09-30 16:00"), 3); !got.Equal(cst(t, "2026-10-03 16:00")) {
		t.Errorf("every day +3 = %s", got)
	}
	if got := e.WorkingTimeBetween(cst(t, "2026-10-01 00:00"), cst(t, "2026-10-08 00:00")); got != 7*9*time.Hour {
		t.Errorf("every day National Day week: %s of working time", got)
	}
}
