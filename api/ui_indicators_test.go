package api

import (
	"strings"
	"testing"

	"github.com/hotlined/hotlined/workorder"
)

// The indicator chart sums today's rows of every province and draws a
// bar per stage's timeliness, first-contact resolution and satisfaction,
// saying "no data" where nothing was counted.
func TestIndicatorBars(t *testing.T) {
	rows := []workorder.IndicatorDay{
		{Province: "GD", Date: "2026-11-30", Counts: map[string]int64{"stage.register.met": 3, "stage.register.breached": 1, "archived": 2, "fcr": 1}},
		{Province: "BJ", Date: "2026-11-30", Counts: map[string]int64{"stage.resolve.breached": 2, "followup.satisfied": 1, "followup.unsatisfied": 1}},
		{Province: "GD", Date: "total", Counts: map[string]int64{"stage.register.met": 99}},
	}
	zh := newLocale(langZH, nil)
	got := map[string][2]int64{}
	var names []string
	for _, b := range todayBars(zh, rows, "2026-11-30") {
		got[b.Name] = [2]int64{b.Met, b.All}
		names = append(names, b.Name)
	}
	want := map[string][2]int64{"timeliness.register": {3, 4}, "timeliness.resolve": {0, 2}, "first_contact_resolution": {1, 2}, "satisfaction": {1, 2}}
	if strings.Join(names, ",") != "timeliness.register,timeliness.resolve,first_contact_resolution,satisfaction" {
		t.Errorf("bars %v", names)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	svg := indicatorSVG(zh, todayBars(zh, rows, "2026-11-30"))
	for _, s := range []string{"登记及时率", "一次解决率", "满意度", `data-name="timeliness.register" data-rate="0.7500"`, "75% (3/4)"} {
		if !strings.Contains(svg, s) {
			t.Errorf("chart lacks %q", s)
		}
	}
	empty := indicatorSVG(zh, todayBars(zh, nil, "2026-11-30"))
	if strings.Count(empty, "暂无数据") != 3 || !strings.Contains(empty, ">及时率<") {
		t.Errorf("chart without data:\n%s", empty)
	}
}
