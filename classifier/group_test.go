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
	calendar := DefaultRules()
	calendar.GroupComplaint.SameMonth.Window = WindowCalendarMonth
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name  string
		rules *Rules
		tier  string
		at    time.Time
		want  []string // incident ids
	}{
		{"group tier counts in the day and the rolling 30 days", r, "group", utc("2026-11-23T10:00:00+08:00"),
			[]string{"GC-20261123-GD-billing.charge", "GC-R20261123-GD-billing.charge"}},
		{"appeal tier too", r, "appeal", utc("2026-11-23T10:00:00+08:00"),
			[]string{"GC-20261123-GD-billing.charge", "GC-R20261123-GD-billing.charge"}},
		{"province tier: the monthly clause only", r, "province", utc("2026-11-23T10:00:00+08:00"),
			[]string{"GC-R20261123-GD-billing.charge"}},
		{"one second before midnight Beijing time", r, "group", utc("2026-11-23T15:59:59Z"),
			[]string{"GC-20261123-GD-billing.charge", "GC-R20261123-GD-billing.charge"}},
		{"midnight Beijing time is the next day (still 23 Nov in UTC)", r, "group", utc("2026-11-23T16:00:00Z"),
			[]string{"GC-20261124-GD-billing.charge", "GC-R20261124-GD-billing.charge"}},
		{"calendar month: last second of the month", calendar, "group", utc("2026-11-30T23:59:59+08:00"),
			[]string{"GC-20261130-GD-billing.charge", "GC-202611-GD-billing.charge"}},
		{"calendar month: first second of the next (30 Nov in UTC)", calendar, "group", utc("2026-11-30T16:00:00Z"),
			[]string{"GC-20261201-GD-billing.charge", "GC-202612-GD-billing.charge"}},
		{"new year", calendar, "appeal", utc("2026-12-31T16:00:00Z"),
			[]string{"GC-20270101-GD-billing.charge", "GC-202701-GD-billing.charge"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := tc.rules.GroupWindows(tc.tier, "GD", "billing.charge", "billing", tc.at, shanghai)
			var got []string
			for _, w := range ws {
				if w.Rule == RuleBatch {
					continue // TestBatchWindow
				}
				got = append(got, w.IncidentID())
				if tc.at.Before(w.From) || !tc.at.Before(w.End) {
					t.Errorf("%s: %v not in [%v, %v)", w.IncidentID(), tc.at, w.From, w.End)
				}
				back, err := tc.rules.WindowOf(w.IncidentID(), shanghai)
				if err != nil || back.Period != w.Period || back.Rule != w.Rule || back.Kind != w.Kind || back.Slot() != w.Slot() {
					t.Errorf("WindowOf(%s) = %+v, %v; want %+v", w.IncidentID(), back, err, w)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("windows %v, want %v", got, tc.want)
			}
		})
	}
	ws := r.GroupWindows("group", "GD", "billing.charge", "billing", utc("2026-11-23T10:00:00+08:00"), shanghai)
	if ws[0].Rule != RuleGroupSameDay || ws[0].Kind != WindowDay || ws[0].Threshold != 3 || ws[0].Period != "20261123" {
		t.Errorf("day window %+v", ws[0])
	}
	at := utc("2026-11-23T10:00:00+08:00")
	if m := ws[1]; m.Rule != RuleGroupSameMonth || m.Kind != WindowRolling30d || m.Threshold != 20 ||
		!m.From.Equal(at.Add(-30*24*time.Hour)) || !m.End.Equal(at.Add(30*24*time.Hour)) || !m.Rolling() {
		t.Errorf("rolling window %+v", m)
	}
	if got := ws[0].Slot(); got != "GD:billing.charge" || ws[1].Slot() != got || ws[0].Series() == ws[1].Series() {
		t.Errorf("slots %q %q series %q %q", got, ws[1].Slot(), ws[0].Series(), ws[1].Series())
	}
}

func TestWindowOfRejects(t *testing.T) {
	r := DefaultRules()
	for _, id := range []string{"", "GC-2026112-GD-billing.charge", "GC-20261323-GD-billing.charge", "GC-202613-GD-billing.charge",
		"GC-20261123-gd-billing.charge", "GC-20261123-GD-billing", "GC-20261123-GD-billing.charge-x", "WO-20261123-GD-000123",
		"GC-20260230-GD-billing.charge", "GC-R202611-GD-billing.charge", "GC-X20261123-GD-billing.charge"} {
		if _, err := r.WindowOf(id, shanghai); !errors.Is(err, ErrBadIncidentID) {
			t.Errorf("WindowOf(%q) = %v, want ErrBadIncidentID", id, err)
		}
	}
}

func TestCountable(t *testing.T) {
	for _, tc := range []struct {
		category, province, code string
		valid                    bool
		want                     bool
	}{
		{"complaint", "GD", "billing.overcharge", true, true},
		{"complaint", "GD", "billing.overcharge", false, false},
		{"query", "GD", "billing.overcharge", true, false},
		{"complaint", "", "billing.overcharge", true, false},
		{"complaint", "GD", "", true, false},
		{"complaint", "GD", "billing", true, false},
		{"complaint", "GD", "Bad-Name.x", true, false},
	} {
		if got := Countable(tc.category, tc.province, tc.code, tc.valid); got != tc.want {
			t.Errorf("Countable(%+v) = %v", tc, got)
		}
	}
}

// TestJoinGroups: a suspected incident flags, a confirmed one makes a group
// complaint, a rejected one leaves the class (DOMAIN.md: verified first).
func TestJoinGroups(t *testing.T) {
	r := DefaultRules()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)
	d := r.Classify(Input{Category: "complaint", Subcategory: "billing", ServiceNumber: "18912345678", Now: now,
		History: []PastComplaint{{ID: "WO-0", Status: "archived", ClosedAt: now.Add(-time.Hour)}}})
	ws := r.GroupWindows("group", "GD", "billing.charge", "billing", now, shanghai)
	day := GroupHit{Window: ws[0], ID: ws[0].IncidentID(), N: 3, Members: []string{"WO-1", "WO-2", "WO-3"}}
	month := GroupHit{Window: ws[1], ID: ws[1].IncidentID(), N: 20, Members: []string{"WO-9", "WO-1", "WO-3"}}
	for _, tc := range []struct {
		name       string
		day, month string
		class      string
		suspected  bool
	}{
		{"both suspected", IncidentSuspected, IncidentSuspected, configs.ClassRepeatComplaint, true},
		{"day confirmed", IncidentConfirmed, IncidentSuspected, configs.ClassGroupComplaint, true},
		{"both confirmed", IncidentConfirmed, IncidentConfirmed, configs.ClassGroupComplaint, false},
		{"rejected", IncidentRejected, IncidentRejected, configs.ClassRepeatComplaint, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			day.State, month.State = tc.day, tc.month
			got := r.JoinGroups(d, "WO-3", []GroupHit{day, month})
			if got.Class != tc.class || slices.Contains(got.Flags, configs.FlagSuspectedGroup) != tc.suspected {
				t.Errorf("class %s flags %v", got.Class, got.Flags)
			}
			if tc.class == configs.ClassGroupComplaint && got.Priority != 1 {
				t.Errorf("priority %d", got.Priority)
			}
			if want := []string{"WO-0", "WO-1", "WO-2", "WO-9"}; !slices.Equal(got.Related, want) {
				t.Errorf("related %v, want %v", got.Related, want)
			}
			if want := []string{"base_category", "repeat_after_archive", "group_same_day_escalated", "group_same_month"}; !slices.Equal(rulesOf(got.Reasons), want) {
				t.Errorf("reasons %v", rulesOf(got.Reasons))
			}
			if !strings.Contains(got.Reasons[2].Detail, "GC-20261123-GD-billing.charge ("+tc.day+")") {
				t.Errorf("details %+v", got.Reasons[2:])
			}
		})
	}
	if len(d.Reasons) != 2 || len(d.Flags) != 0 {
		t.Errorf("JoinGroups changed its input: %v %v", rulesOf(d.Reasons), d.Flags)
	}
	if same := r.JoinGroups(d, "WO-3", nil); same.Class != d.Class {
		t.Errorf("no hits changed the class to %s", same.Class)
	}
}

// TestBatchWindow: any tier counts in the batch window: the hours before
// the contact; its incident is named by the hour it is raised in.
func TestBatchWindow(t *testing.T) {
	r := DefaultRules()
	at := time.Date(2026, 11, 23, 10, 30, 0, 0, shanghai)
	for _, tier := range configs.Tiers {
		ws := r.GroupWindows(tier, "GD", "network.broadband_down", "broadband", at, shanghai)
		b := ws[len(ws)-1]
		if b.Rule != RuleBatch || b.IncidentID() != "BC-H2026112310-GD-network.broadband_down" || b.Threshold != 10 ||
			!b.From.Equal(at.Add(-2*time.Hour)) || !b.End.Equal(at.Add(2*time.Hour)) || !b.Rolling() || b.InitialState() != IncidentOpen {
			t.Errorf("%s: batch window %+v", tier, b)
		}
		back, err := r.WindowOf(b.IncidentID(), shanghai)
		if err != nil || back.Rule != RuleBatch || back.Period != b.Period || back.Slot() != b.Slot() || back.Series() != "batch" {
			t.Errorf("WindowOf(%s) = %+v %v", b.IncidentID(), back, err)
		}
	}
	for _, id := range []string{"BC-20261123-GD-a.b", "GC-H2026112310-GD-a.b", "BC-H2026112325-GD-a.b"} {
		if _, err := r.WindowOf(id, shanghai); !errors.Is(err, ErrBadIncidentID) {
			t.Errorf("WindowOf(%q) = %v", id, err)
		}
	}
	off := DefaultRules()
	off.BatchComplaint.Threshold = 0
	if ws := off.GroupWindows("province", "GD", "a.b", "x", at, shanghai); len(ws) != 1 {
		t.Errorf("batch off: %d windows", len(ws))
	}
	d := r.JoinGroups(Decision{Class: configs.ClassComplaint}, "WO-3", []GroupHit{{Window: r.GroupWindows("province", "GD", "a.b", "x", at, shanghai)[1], State: IncidentOpen}})
	if d.Class != configs.ClassComplaint || !slices.Equal(d.Flags, []string{configs.FlagBatch}) {
		t.Errorf("a batch member: %s %v", d.Class, d.Flags)
	}
}
