package escalation

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// utc is t with every time in UTC and without monotonic readings, for
// comparing decoded timers (the layout keeps instants, not zones).
func utc(t Timer) Timer {
	t.Due = t.Due.UTC().Round(0)
	if t.SLA != nil {
		sla := *t.SLA
		for _, p := range []*time.Time{&sla.Start, &sla.Since, &sla.PausedAt, &sla.Ended} {
			if !p.IsZero() {
				*p = p.UTC().Round(0)
			}
		}
		t.SLA = &sla
	}
	return t
}

func TestTimerEncodingRoundTrip(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	due := time.Date(2026, 11, 23, 10, 0, 0, 123456789, shanghai)
	start := due.Add(-96 * time.Minute).Add(7 * time.Nanosecond)
	base := Timer{ID: "WO-20261123-GD-000123/register", WorkOrderID: "WO-20261123-GD-000123", Shard: 3,
		Stage: "register", Due: due, Key: "18912345678", Class: "complaint", Tier: "province", Province: "GD", Priority: 2}
	with := func(f func(*Timer)) Timer {
		t := base
		f(&t)
		return t
	}
	cases := map[string]struct {
		t       Timer
		maxSize int // bytes; 0: JSON expected
	}{
		"no SLA": {base, 40},
		"SLA running": {with(func(t *Timer) {
			t.Step = 3
			t.SLA = &StageState{Policy: "complaint", Run: 1, Start: start, Since: start}
		}), 48},
		"SLA resumed after a pause, overdue": {with(func(t *Timer) {
			t.SLA = &StageState{Policy: "complaint_appeal", Run: 2, Start: start, Since: start.Add(50 * time.Hour),
				Used: 90 * time.Minute, Overdue: time.Second}
		}), 60},
		"SLA paused and ended": {with(func(t *Timer) {
			t.SLA = &StageState{Policy: "custom policy", Run: 1, Start: start, PausedAt: start.Add(time.Hour),
				Ended: start.Add(2 * time.Hour)}
		}), 70},
		"severity, other words": {with(func(t *Timer) {
			t.Severity, t.Class, t.Tier, t.Priority = "major", "major_complaint", "appeal", -1
		}), 40},
		"names not in the id":      {with(func(t *Timer) { t.ID = "odd/id/with/slashes" }), 80},
		"no key, Chinese province": {with(func(t *Timer) { t.Key, t.Province = "", "广东" }), 40},
		"string too long":          {with(func(t *Timer) { t.Key = strings.Repeat("k", 200) }), 0},
		"an appeal centre's deadline": {with(func(t *Timer) {
			t.SLA = &StageState{Policy: "complaint_appeal", Run: 1, Start: start, Since: start, Limit: 40 * time.Minute}
		}), 0},
		"due out of range": {with(func(t *Timer) { t.Due = time.Time{} }), 0},
		"a later run of an alert at once": {with(func(t *Timer) {
			t.ID, t.Stage, t.Severity, t.Run = "WO-20261123-GD-000123/transfer_failed/2", "transfer_failed", "warning", 2
		}), 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			data, err := encodeTimer(c.t)
			if err != nil {
				t.Fatal(err)
			}
			if json := strings.HasPrefix(data, "{"); json != (c.maxSize == 0) {
				t.Fatalf("stored as JSON: %v, want %v (%q)", json, c.maxSize == 0, data)
			}
			if c.maxSize > 0 && len(data) > c.maxSize {
				t.Errorf("%d bytes, want at most %d", len(data), c.maxSize)
			}
			got, err := decodeTimer(c.t.ID, c.t.Shard, data)
			if err != nil {
				t.Fatal(err)
			}
			if want := utc(c.t); !reflect.DeepEqual(utc(got), want) {
				t.Errorf("round trip\n got %+v %+v\nwant %+v %+v", got, got.SLA, want, want.SLA)
			}
		})
	}
}

// TestTimerEncodingKeepsEveryStageField sets each field of StageState in
// turn and reads the timer back: a field added to StageState that the
// compact layout does not store (as Limit once was: an appeal's deadline
// lost, its alerts on the policy's schedule) fails here.
func TestTimerEncodingKeepsEveryStageField(t *testing.T) {
	start := time.Date(2026, 11, 30, 18, 20, 0, 0, time.UTC)
	typ := reflect.TypeOf(StageState{})
	for i := range typ.NumField() {
		f := typ.Field(i)
		sla := StageState{Policy: "complaint", Run: 1, Start: start, Since: start}
		v := reflect.ValueOf(&sla).Elem().Field(i)
		switch {
		case f.Type == reflect.TypeOf(time.Time{}):
			v.Set(reflect.ValueOf(start.Add(time.Hour)))
		case f.Type == reflect.TypeOf(time.Duration(0)):
			v.SetInt(int64(42 * time.Minute))
		case f.Type.Kind() == reflect.Int:
			v.SetInt(3)
		case f.Type.Kind() == reflect.String:
			v.SetString("complaint_appeal")
		default:
			t.Fatalf("StageState.%s is a %s: teach this test (and the layout) about it", f.Name, f.Type)
		}
		timer := Timer{ID: "WO-20261130-GD-0000100001/resolve", WorkOrderID: "WO-20261130-GD-0000100001", Stage: "resolve",
			Due: start.Add(2 * time.Hour), Class: "complaint", Tier: "appeal", SLA: &sla}
		got := roundTrip(t, timer)
		if !reflect.DeepEqual(utc(got).SLA, utc(timer).SLA) {
			t.Errorf("StageState.%s lost: stored %+v, read %+v", f.Name, *timer.SLA, *got.SLA)
		}
	}
}

// TestTimerEncodingKeepsEveryTimerField does the same for the fields of
// Timer itself.
func TestTimerEncodingKeepsEveryTimerField(t *testing.T) {
	due := time.Date(2026, 11, 30, 18, 20, 0, 0, time.UTC)
	typ := reflect.TypeOf(Timer{})
	for i := range typ.NumField() {
		f := typ.Field(i)
		timer := Timer{ID: "WO-20261130-GD-0000100001/reply", WorkOrderID: "WO-20261130-GD-0000100001", Stage: "reply", Due: due}
		v := reflect.ValueOf(&timer).Elem().Field(i)
		switch {
		case f.Name == "ID" || f.Name == "WorkOrderID" || f.Name == "Stage" || f.Name == "Shard" || f.Name == "Due":
			continue // the timer's names and place: given to decodeTimer, or tested above
		case f.Type == reflect.TypeOf(&StageState{}):
			v.Set(reflect.ValueOf(&StageState{Policy: "complaint", Run: 1, Start: due.Add(-time.Hour), Since: due.Add(-time.Hour)}))
		case f.Type.Kind() == reflect.Int:
			v.SetInt(3)
		case f.Type.Kind() == reflect.String:
			v.SetString("major_complaint")
		default:
			t.Fatalf("Timer.%s is a %s: teach this test (and the layout) about it", f.Name, f.Type)
		}
		got := roundTrip(t, timer)
		if !reflect.DeepEqual(utc(got), utc(timer)) {
			t.Errorf("Timer.%s lost: stored %+v, read %+v", f.Name, timer, got)
		}
	}
}

// roundTrip stores timer in its encoded form and reads it back.
func roundTrip(t *testing.T, timer Timer) Timer {
	t.Helper()
	data, err := encodeTimer(timer)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeTimer(timer.ID, timer.Shard, data)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestTimerDecodingRejectsDamage(t *testing.T) {
	data, err := encodeTimer(Timer{ID: "WO-1/register", WorkOrderID: "WO-1", Stage: "register", Due: time.Unix(1, 0),
		SLA: &StageState{Policy: "complaint", Run: 1, Start: time.Unix(0, 0), Since: time.Unix(0, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(data) {
		if _, err := decodeTimer("WO-1/register", 0, data[:i]); err == nil {
			t.Errorf("%d of %d bytes decoded without error", i, len(data))
		}
	}
	if _, err := decodeTimer("WO-1/register", 0, data+"x"); err == nil {
		t.Error("trailing byte decoded without error")
	}
	if _, err := decodeTimer("WO-1/register", 0, "\x09"+data[1:]); err == nil {
		t.Error("unknown version decoded without error")
	}
}

// TestTimersOfTheOldEncodingStillFire: timers stored as JSON by an earlier
// version (ZADD and HSET, no wake-up) are read, fire, and move on to their
// next step in the compact form.
func TestTimersOfTheOldEncodingStillFire(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	e.clock.Set(t0)
	plan := e.p.Plan(PlanInput{WorkOrderID: "WO-1", Key: "18912345678", Class: "complaint", Tier: "province",
		Province: "GD", Priority: 2, Status: "new", CreatedAt: t0}, t0)
	if len(plan.Timers) == 0 {
		t.Fatal("no timers planned")
	}
	_, err := e.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		for i := range plan.Timers {
			tm := plan.Timers[i]
			data, err := json.Marshal(tm) // the form before the compact layout
			if err != nil {
				return err
			}
			pipe.ZAdd(ctx, e.s.timersKey(0), redis.Z{Score: float64(tm.Due.UnixMilli()), Member: tm.ID})
			pipe.HSet(ctx, e.s.dataKey(0), tm.ID, data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	first := plan.Timers[0]
	for _, tm := range plan.Timers[1:] {
		if tm.Due.Before(first.Due) {
			first = tm
		}
	}
	got, err := e.s.TimerOf(ctx, 0, first.ID)
	if err != nil || !reflect.DeepEqual(utc(*got), utc(first)) {
		t.Fatalf("old timer read as %+v, %v; want %+v", got, err, first)
	}
	e.tick(first.Due)
	evs := e.events()
	if len(evs) != 1 {
		t.Fatalf("%d events after the old timer's due time, want 1", len(evs))
	}
	if a := decodeEventAlert(t, evs[0]); a.WorkOrderID != "WO-1" || a.Stage != first.Stage || !a.DueAt.Equal(first.Due) {
		t.Errorf("alert %+v, want one of %s due %v", a, first.ID, first.Due)
	}
	raw, err := e.rdb.HGet(ctx, e.s.dataKey(0), first.ID).Result()
	if err != nil {
		t.Fatalf("the fired timer is gone (%v); it should move to its next step", err)
	}
	if strings.HasPrefix(raw, "{") {
		t.Errorf("the moved timer is still JSON: %q", raw)
	}
	next, err := e.s.TimerOf(ctx, 0, first.ID)
	if err != nil || next.Step <= first.Step || !next.Due.After(first.Due) {
		t.Errorf("next step %+v, %v after step %d due %v", next, err, first.Step, first.Due)
	}
}

// FuzzDecodeTimer: damaged data in Redis is an error, never a panic of the
// claim loop.
func FuzzDecodeTimer(f *testing.F) {
	good, _ := encodeTimer(Timer{ID: "WO-1/register", WorkOrderID: "WO-1", Stage: "register", Due: time.Unix(1, 0),
		Key: "18912345678", Class: "complaint", SLA: &StageState{Policy: "x", Run: 1, Start: time.Unix(0, 0), Used: 1}})
	f.Add(good)
	f.Add(`{"id":"WO-1/register"}`)
	f.Add("\x01\xff")
	f.Fuzz(func(t *testing.T, data string) {
		tm, err := decodeTimer("WO-1/register", 0, data)
		if err != nil || strings.HasPrefix(data, "{") {
			return
		}
		again, err := encodeTimer(tm)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := decodeTimer("WO-1/register", 0, again); err != nil || !reflect.DeepEqual(utc(back), utc(tm)) {
			t.Fatalf("re-encoded %q does not read back: %+v, %v", again, back, err)
		}
	})
}
