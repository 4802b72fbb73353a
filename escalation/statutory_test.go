package escalation

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/6tail/lunar-go/HolidayUtil"
	"github.com/6tail/lunar-go/calendar"
)

// statutoryDay is one day off fixed by 《全国年节及纪念日放假办法》.
type statutoryDay struct {
	date string // YYYY-MM-DD
	name string
}

// statutoryHolidays returns the 13 days off of year that 《全国年节及纪念日
// 放假办法》 fixes for everyone, as revised by State Council Decree No. 795
// (2024-11-10, in force from 2025): 元旦 1月1日; 春节 4 days, 农历除夕 and
// 正月初一 to 初三; 清明节 the day of the solar term; 劳动节 5月1日、2日;
// 端午节 农历五月初五; 中秋节 农历八月十五; 国庆节 10月1日至3日. The lunar
// dates and the solar term (in Beijing time) come from lunar-go. The annual
// arrangement adds days off around them and make-up working days; those
// are not certain before the State Council publishes it.
func statutoryHolidays(t testing.TB, year int) []statutoryDay {
	t.Helper()
	ymd := func(s *calendar.Solar) string { return s.ToYmd() }
	lunar := func(month, day int) string { return ymd(calendar.NewLunarFromYmd(year, month, day).GetSolar()) }
	newYear := calendar.NewLunarFromYmd(year, 1, 1)
	qingming := newYear.GetJieQiTable()["清明"]
	if qingming == nil || qingming.GetYear() != year {
		t.Fatalf("lunar-go: no 清明 in %d: %v", year, qingming)
	}
	eve := newYear.Next(-1)
	if eve.GetMonth() != 12 || eve.Next(1).GetDay() != 1 {
		t.Fatalf("lunar-go: the day before 正月初一 %d is %s, not the last day of the 12th month", year, eve)
	}
	days := []statutoryDay{
		{fmt.Sprintf("%d-01-01", year), "元旦"},
		{ymd(eve.GetSolar()), "春节: 农历除夕"},
		{lunar(1, 1), "春节: 正月初一"},
		{lunar(1, 2), "春节: 正月初二"},
		{lunar(1, 3), "春节: 正月初三"},
		{ymd(qingming), "清明节"},
		{fmt.Sprintf("%d-05-01", year), "劳动节"},
		{fmt.Sprintf("%d-05-02", year), "劳动节"},
		{lunar(5, 5), "端午节: 农历五月初五"},
		{lunar(8, 15), "中秋节: 农历八月十五"},
		{fmt.Sprintf("%d-10-01", year), "国庆节"},
		{fmt.Sprintf("%d-10-02", year), "国庆节"},
		{fmt.Sprintf("%d-10-03", year), "国庆节"},
	}
	slices.SortFunc(days, func(a, b statutoryDay) int { return strings.Compare(a.date, b.date) })
	return days
}

// The rule, checked against arrangements that were published: every
// statutory day of 2025 and 2026 is a day off in lunar-go's table of the
// State Council's arrangements, and in the shipped cn-2026.yaml (checked
// against the 2026 notice). It also pins the lunar conversions of 2025 and
// 2026 to the notices' own words (2026: 2月15日 is 腊月二十八, 2月23日 正月初七).
func TestStatutoryRuleMatchesPublishedArrangements(t *testing.T) {
	for _, year := range []int{2025, 2026} {
		for _, d := range statutoryHolidays(t, year) {
			h := HolidayUtil.GetHoliday(d.date)
			if h == nil || h.IsWork() {
				t.Errorf("%s (%s): not a day off in lunar-go's %d arrangement: %v", d.date, d.name, year, h)
			}
		}
	}
	c := shippedCalendar(t, "cn-2026.yaml")
	for _, d := range statutoryHolidays(t, 2026) {
		if c.IsWorkingDay(cst(t, d.date+" 12:00")) {
			t.Errorf("cn-2026.yaml: %s (%s) is a working day", d.date, d.name)
		}
	}
	if got := statutoryHolidays(t, 2026); got[1].date != "2026-02-16" || got[4].date != "2026-02-19" {
		t.Errorf("2026 春节 %v, want 除夕 02-16 to 初三 02-19", got[1:5])
	}
}

// The shipped 2027, against the statutory rule: while the year is marked
// provisional it lists exactly the statutory days off and no make-up
// working day; once it is replaced by the published arrangement, every
// statutory day must still be off. On a difference the test prints the
// block to paste into the file.
func TestCalendar2027IsTheStatutoryRule(t *testing.T) {
	const year = 2027
	c := shippedCalendar(t, "cn-2027.yaml")
	want := statutoryHolidays(t, year)
	for _, d := range want {
		if c.IsWorkingDay(cst(t, d.date+" 12:00")) {
			t.Errorf("cn-2027.yaml: %s (%s) is a working day", d.date, d.name)
		}
	}
	provisional, ok := c.years[year]
	if !ok {
		t.Fatalf("cn-2027.yaml has no %d", year)
	}
	if !provisional {
		return // the published arrangement: the statutory days are a subset
	}
	var holidays, workdays []string
	for d, working := range c.days {
		if y, _, _ := d.date(); y != year {
			continue
		}
		if working {
			workdays = append(workdays, d.utc().Format(time.DateOnly))
		} else {
			holidays = append(holidays, d.utc().Format(time.DateOnly))
		}
	}
	slices.Sort(holidays)
	var dates []string
	var block strings.Builder
	for _, d := range want {
		dates = append(dates, d.date)
		wd := "一二三四五六日"
		day, _ := time.Parse(time.DateOnly, d.date)
		fmt.Fprintf(&block, "      - %q # %s (周%s)\n", d.date, d.name, string([]rune(wd)[(int(day.Weekday())+6)%7]))
	}
	if !slices.Equal(holidays, dates) || len(workdays) != 0 {
		t.Errorf("cn-2027.yaml, provisional %d: holidays %v workdays %v; want the statutory days and no workdays:\n    holidays:\n%s    workdays: []",
			year, holidays, workdays, block.String())
	}
	// The lunar conversions the issue quoted, recomputed here.
	for i, w := range map[int]string{1: "2027-02-05", 2: "2027-02-06", 5: "2027-04-05", 8: "2027-06-09", 9: "2027-09-15"} {
		if want[i].date != w {
			t.Errorf("%s: %s, want %s", want[i].name, want[i].date, w)
		}
	}
}
