package workorder_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/queue"
	"github.com/hotlined/hotlined/workorder"
)

// A failed transfer flags the order, says why in its history (naming the
// call), raises the supervisor's alert timer and asks for a call-back on
// the caller's number, on the order's own topics; a second report of the
// same call writes nothing.
func TestTransferFailedRecordsAndRequestsCallBack(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	in := intake("province", "18912345678", complaintBilling)
	in.Caller = "02012345678" // called from a fixed line about the mobile
	in.CallID = "call-tf"
	o := e.submit(in).Order

	got, err := e.svc.TransferFailed(ctx, o.ID, "call-tf", workorder.TransferBusy)
	if err != nil {
		t.Fatal(err)
	}
	if !got.HasFlag(configs.FlagTransferFailed) {
		t.Errorf("flags %v lack transfer_failed", got.Flags)
	}
	stored := e.get(o.ID)
	last := stored.History[len(stored.History)-1]
	if last.Action != "flag" || last.To != configs.FlagTransferFailed || last.Note != "transfer to an agent failed: busy" || last.CallID != "call-tf" ||
		last.NoteKey != workorder.NoteKeyTransferFailed || last.NoteArgs["reason"] != "busy" {
		t.Errorf("history entry %+v", last)
	}
	cbs := e.eventsOf(queue.TypeWorkOrderCallbackRequested, o.ID)
	if len(cbs) != 1 {
		t.Fatalf("%d call-back events, want 1", len(cbs))
	}
	var cb workorder.CallbackRequest
	if err := json.Unmarshal(cbs[0].Data, &cb); err != nil {
		t.Fatal(err)
	}
	if cb.Number != "02012345678" || cb.Reason != "busy" || cb.WorkOrderID != o.ID || cb.ServiceNumber != "18912345678" {
		t.Errorf("call-back %+v", cb)
	}
	created := e.eventsOf(queue.TypeWorkOrderCreated, o.ID)
	if len(created) != 1 || !slices.Equal(cbs[0].Topics, created[0].Topics) || cbs[0].Key != created[0].Key {
		t.Errorf("call-back on %v key %s, the order's on %v key %s", cbs[0].Topics, cbs[0].Key, created[0].Topics, created[0].Key)
	}
	if n := len(e.eventsOf(queue.TypeWorkOrderUpdated, o.ID)); n != 1 {
		t.Errorf("%d updated events, want 1", n)
	}
	id := escalation.TimerID(o.ID, workorder.StageTransferFailed)
	if p, err := e.timers.Pending(ctx, e.store.Shard(o.ID), id); err != nil || len(p) != 1 {
		t.Errorf("alert timer %s pending: %v, %v", id, p, err)
	}

	if _, err := e.svc.TransferFailed(ctx, o.ID, "call-tf", workorder.TransferNoAnswer); !errors.Is(err, workorder.ErrUnchanged) {
		t.Errorf("second report: %v, want ErrUnchanged", err)
	}
	if n := len(e.eventsOf(queue.TypeWorkOrderCallbackRequested, o.ID)); n != 1 {
		t.Errorf("%d call-back events after a second report, want 1", n)
	}
	if _, err := e.svc.TransferFailed(ctx, "WO-20261123-GD-999999", "call-x", workorder.TransferBusy); !errors.Is(err, workorder.ErrNotFound) {
		t.Errorf("unknown order: %v", err)
	}
}

// A customer who left no number gets the flag and the alert but no
// call-back event: there is nobody to call.
func TestTransferFailedWithoutNumber(t *testing.T) {
	e := newEnv(t, nil)
	in := intake("province", "", queryBilling)
	o := e.submit(in).Order
	if _, err := e.svc.TransferFailed(context.Background(), o.ID, "call-anon", workorder.TransferNoAnswer); err != nil {
		t.Fatal(err)
	}
	if !e.get(o.ID).HasFlag(configs.FlagTransferFailed) {
		t.Error("not flagged")
	}
	if n := len(e.eventsOf(queue.TypeWorkOrderCallbackRequested, o.ID)); n != 0 {
		t.Errorf("%d call-back events for an anonymous caller", n)
	}
}

// The sweeper takes a transfer past its pending deadline with no outcome as
// a call lost with its daemon; a transfer that ended (either way) or is
// not yet due is left alone.
func TestSweepTransfersFindsLostCalls(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	lost := e.submit(intake("province", "18911110001", complaintBilling)).Order
	done := e.submit(intake("province", "18911110002", complaintNetwork)).Order
	failed := e.submit(intake("province", "18911110003", queryBilling)).Order
	young := e.submit(intake("province", "18911110004", queryBilling)).Order
	now := e.clock.Now()
	for _, o := range []*workorder.Order{lost, done, failed} {
		if err := e.svc.TransferPending(ctx, o.ID, "call-"+o.ID, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.TransferPending(ctx, young.ID, "call-"+young.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Transferred(ctx, done.ID, "call-"+done.ID, "sip:complaint@acd.example.com", "bridge"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.TransferFailed(ctx, failed.ID, "call-"+failed.ID, workorder.TransferBusy); err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.SweepTransfers(ctx, 100); err != nil || n != 0 {
		t.Fatalf("sweep before the deadline: %d, %v", n, err)
	}

	e.clock.Add(2 * time.Minute)
	n, err := e.svc.SweepTransfers(ctx, 100)
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d flagged, %v; want 1", n, err)
	}
	o := e.get(lost.ID)
	if !o.HasFlag(configs.FlagTransferFailed) || o.History[len(o.History)-1].Note != "transfer to an agent failed: call_lost" {
		t.Errorf("lost call's order: flags %v history %+v", o.Flags, o.History[len(o.History)-1])
	}
	if e.get(done.ID).HasFlag(configs.FlagTransferFailed) || e.get(young.ID).HasFlag(configs.FlagTransferFailed) {
		t.Error("a transferred or not yet due order was flagged")
	}
	if c := e.eventsOf(queue.TypeWorkOrderCallbackRequested, lost.ID); len(c) != 1 {
		t.Errorf("%d call-back events for the lost call", len(c))
	}
	if n, err := e.svc.SweepTransfers(ctx, 100); err != nil || n != 0 {
		t.Errorf("second sweep: %d, %v; want nothing left", n, err)
	}
	h := e.get(done.ID).History
	if last := h[len(h)-1]; last.Action != "transfer" || last.Actor != "system" {
		t.Errorf("transferred history %+v", last)
	}
}

// An order takes a call per contact: a customer who urges an open
// complaint and whose second call fails to reach an agent too is flagged
// once but gets a second history entry, a second call-back request and a
// second alert (not a duplicate of the first); the sweeper tells each
// call's pending mark apart, and a mark written before calls were told
// apart (the order id alone) still counts any outcome. A transfer retried
// after its reply was lost is recorded once.
func TestSecondCallOfAnOrderFailsToo(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	in := intake("province", "18912345679", complaintBilling)
	in.CallID = "call-1"
	o := e.submit(in).Order
	if _, err := e.svc.TransferFailed(ctx, o.ID, "call-1", workorder.TransferBusy); err != nil {
		t.Fatal(err)
	}
	again := in
	again.CallID = "call-2"
	if res := e.submit(again); res.Outcome != workorder.OutcomeUrged || res.Order.ID != o.ID {
		t.Fatalf("second call: %s %s, want an urge of %s", res.Outcome, res.Order.ID, o.ID)
	}
	if err := e.svc.TransferPending(ctx, o.ID, "call-2", e.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(2 * time.Minute)
	// The second call's mark is past its deadline with no outcome: the
	// first call's recorded failure does not stand for it.
	if n, err := e.svc.SweepTransfers(ctx, 100); err != nil || n != 1 {
		t.Fatalf("sweep: %d flagged, %v; want the second call", n, err)
	}
	if _, err := e.svc.TransferFailed(ctx, o.ID, "call-2", workorder.TransferNoAnswer); !errors.Is(err, workorder.ErrUnchanged) {
		t.Errorf("the second call reported again: %v, want ErrUnchanged", err)
	}
	stored := e.get(o.ID)
	var calls []string
	for _, c := range stored.History {
		if c.Action == "flag" && c.To == configs.FlagTransferFailed {
			calls = append(calls, c.CallID+" "+c.NoteArgs["reason"])
		}
	}
	if !slices.Equal(calls, []string{"call-1 busy", "call-2 call_lost"}) {
		t.Errorf("failed transfers in the history: %q", calls)
	}
	if n := slices.Index(stored.Flags, configs.FlagTransferFailed); n < 0 || slices.Contains(stored.Flags[n+1:], configs.FlagTransferFailed) {
		t.Errorf("flags %v: want transfer_failed once", stored.Flags)
	}
	if n := len(e.eventsOf(queue.TypeWorkOrderCallbackRequested, o.ID)); n != 2 {
		t.Errorf("%d call-back requests, want one per failed call", n)
	}
	shard := e.store.Shard(o.ID)
	first, second := escalation.TimerID(o.ID, workorder.StageTransferFailed), escalation.TimerID(o.ID, workorder.StageTransferFailed)+"/2"
	if p, err := e.timers.Pending(ctx, shard, first, second); err != nil || len(p) != 2 {
		t.Errorf("alert timers pending %v, %v; want %s and %s", p, err, first, second)
	}
	sched, err := escalation.NewScheduler(escalation.SchedulerParams{Store: e.timers, Interval: time.Second,
		Lease: 30 * time.Second, AlertsTopic: "hotline.alerts", Source: "/t", Now: e.clock.Now,
		Policies: e.policies, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	sched.Tick(ctx)
	var raised []string
	for _, ev := range e.eventsOf(queue.TypeAlertRaised, o.ID) {
		var a escalation.Alert
		if err := json.Unmarshal(ev.Data, &a); err != nil {
			t.Fatal(err)
		}
		if a.Stage == workorder.StageTransferFailed {
			raised = append(raised, a.ID)
		}
	}
	if want := []string{"AL-" + o.ID + "-transfer_failed-warning", "AL-" + o.ID + "-transfer_failed-2-warning"}; !slices.Equal(raised, want) {
		t.Errorf("alerts raised %q, want %q", raised, want)
	}

	// A retried write of an outcome already recorded adds nothing.
	if _, err := e.svc.Transferred(ctx, o.ID, "call-2", "sip:complaint@acd.example.com", "bridge"); !errors.Is(err, workorder.ErrUnchanged) {
		t.Errorf("a transfer of a call whose failure is recorded: %v, want ErrUnchanged", err)
	}
	in3 := in
	in3.CallID = "call-3"
	e.submit(in3)
	for range 2 {
		_, err := e.svc.Transferred(ctx, o.ID, "call-3", "sip:complaint@acd.example.com", "bridge")
		if err != nil && !errors.Is(err, workorder.ErrUnchanged) {
			t.Fatal(err)
		}
	}
	n := 0
	for _, c := range e.get(o.ID).History {
		if c.Action == "transfer" && c.CallID == "call-3" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("call-3's transfer recorded %d times, want once", n)
	}

	// A mark of the old form (the order id alone) on an order that
	// records an outcome is cleared, not flagged.
	if err := e.svc.TransferPending(ctx, o.ID, "", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Second)
	if n, err := e.svc.SweepTransfers(ctx, 100); err != nil || n != 0 {
		t.Errorf("sweep of an old-form mark: %d flagged, %v", n, err)
	}
}
