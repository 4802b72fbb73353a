package classifier

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotlined/hotlined/configs"
)

func TestGroupWindows(t *testing.T) {
	r := DefaultRules()
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name string
		tier string
		at   time.Time
		want []string // incident ids
	}{
		{"group tier counts in the day and the month", "group", utc("2026-11-23T10:00:00+08:00"),
			[]string{"GC-20261123-GD-billing.charge", "GC-202611-GD-billing.charge"}},
		{"appeal tier too", "appeal", utc("2026-11-23T10:00:00+08:00"),
			[]string{"GC-20261123-GD-billing.charge", "GC-202611-GD-billing.charge"}},
		{"province tier: the month only", "province", utc("2026-11-23T10:00:00+08:00"),
			[]string{"GC-202611-GD-billing.charge"}},
		{"one second before midnight Beijing time", "group", utc("2026-11-23T15:59:59Z"),
			[]string{"GC-20261123-GD-billing.charge", "GC-202611-GD-billing.charge"}},
		{"midnight Beijing time is the next day (still 23 Nov in UTC)", "group", utc("2026-11-23T16:00:00Z"),
			[]string{"GC-20261124-GD-billing.charge", "GC-202611-GD-billing.charge"}},
		{"last second of the month", "group", utc("2026-11-30T23:59:59+08:00"),
			[]string{"GC-20261130-GD-billing.charge", "GC-202611-GD-billing.charge"}},
		{"first second of the next month (30 Nov in UTC)", "group", utc("2026-11-30T16:00:00Z"),
			[]string{"GC-20261201-GD-billing.charge", "GC-202612-GD-billing.charge"}},
		{"new year", "appeal", utc("2026-12-31T16:00:00Z"),
			[]string{"GC-20270101-GD-billing.charge", "GC-202701-GD-billing.charge"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := r.GroupWindows(tc.tier, "GD", "billing.charge", "billing", tc.at, shanghai)
			var got []string
			for _, w := range ws {
				got = append(got, w.IncidentID())
				if tc.at.Before(w.Start) || !tc.at.Before(w.End) {
					t.Errorf("%s: %v not in [%v, %v)", w.IncidentID(), tc.at, w.Start, w.End)
				}
				back, err := r.WindowOf(w.IncidentID(), shanghai)
				if err != nil || back.Period != w.Period || !back.Start.Equal(w.Start) || !back.End.Equal(w.End) || back.Rule != w.Rule {
					t.Errorf("WindowOf(%s) = %+v, %v; want %+v", w.IncidentID(), back, err, w)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("windows %v, want %v", got, tc.want)
			}
		})
	}
	day := r.GroupWindows("group", "GD", "billing.charge", "billing", utc("2026-11-23T10:00:00+08:00"), shanghai)
	if day[0].Rule != RuleGroupSameDay || day[0].Threshold != 3 || !day[0].Verified || day[0].Period != "2026-11-23" {
		t.Errorf("day window %+v", day[0])
	}
	if day[1].Rule != RuleGroupSameMonth || day[1].Threshold != 20 || day[1].Verified || day[1].Period != "2026-11" {
		t.Errorf("month window %+v", day[1])
	}
	if got := day[0].Slot(); got != "GD:billing.charge:20261123" {
		t.Errorf("slot %q", got)
	}
}

func TestWindowOfRejects(t *testing.T) {
	r := DefaultRules()
	for _, id := range []string{"", "GC-2026112-GD-billing.charge", "GC-20261323-GD-billing.charge", "GC-202613-GD-billing.charge",
		"GC-20261123-gd-billing", "GC-20261123-GD-Billing", "GC-20261123-GD-billing.charge-x", "WO-20261123-GD-000123",
		"GC-20260230-GD-billing.charge"} {
		if _, err := r.WindowOf(id, shanghai); !errors.Is(err, ErrBadIncidentID) {
			t.Errorf("WindowOf(%q) = %v, want ErrBadIncidentID", id, err)
		}
	}
}

func TestCountable(t *testing.T) {
	for _, tc := range []struct {
		category, province, subcategory string
		valid                           bool
		want                            bool
	}{
		{"complaint", "GD", "billing.overcharge", true, true},
		{"complaint", "GD", "billing.overcharge", false, false},
		{"query", "GD", "billing.overcharge", true, false},
		{"complaint", "", "billing.overcharge", true, false},
		{"complaint", "GD", "", true, false},
		{"complaint", "GD", "billing", true, false},
		{"complaint", "GD", "Bad-Name.x", true, false},
	} {
		if got := Countable(tc.category, tc.province, tc.subcategory, tc.valid); got != tc.want {
			t.Errorf("Countable(%+v) = %v", tc, got)
		}
	}
}

func TestJoinGroups(t *testing.T) {
	r := DefaultRules()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)
	d := r.Classify(Input{Category: "complaint", Subcategory: "billing", ServiceNumber: "18912345678", Now: now,
		History: []PastComplaint{{ID: "WO-0", Status: "archived", ClosedAt: now.Add(-time.Hour)}}})
	ws := r.GroupWindows("group", "GD", "billing.charge", "billing", now, shanghai)
	got := r.JoinGroups(d, "WO-3", []GroupHit{
		{Window: ws[0], N: 3, Members: []string{"WO-1", "WO-2", "WO-3"}},
		{Window: ws[1], N: 20, Members: []string{"WO-9", "WO-1", "WO-3"}},
	})
	if got.Class != configs.ClassGroupComplaint || got.Priority != 1 {
		t.Errorf("class %s priority %d", got.Class, got.Priority)
	}
	if want := []string{"WO-0", "WO-1", "WO-2", "WO-9"}; !slices.Equal(got.Related, want) {
		t.Errorf("related %v, want %v", got.Related, want)
	}
	if want := []string{"base_category", "repeat_after_archive", "group_same_day_escalated", "group_same_month"}; !slices.Equal(rulesOf(got.Reasons), want) {
		t.Errorf("reasons %v", rulesOf(got.Reasons))
	}
	if !strings.Contains(got.Reasons[2].Detail, "GC-20261123-GD-billing.charge") || !strings.Contains(got.Reasons[3].Detail, "unverified") {
		t.Errorf("details %+v", got.Reasons[2:])
	}
	if len(d.Reasons) != 2 {
		t.Errorf("JoinGroups changed its input: %v", rulesOf(d.Reasons))
	}
	if same := r.JoinGroups(d, "WO-3", nil); same.Class != d.Class {
		t.Errorf("no hits changed the class to %s", same.Class)
	}
}

func TestRecentPeriods(t *testing.T) {
	got := RecentPeriods(time.Date(2026, 12, 1, 0, 30, 0, 0, shanghai), shanghai)
	if want := []string{"20261201", "20261130", "202612", "202611"}; !slices.Equal(got, want) {
		t.Errorf("RecentPeriods = %v, want %v", got, want)
	}
}
