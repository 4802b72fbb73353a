package workorder_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/queue"
	"github.com/hotlined/hotlined/workorder"
)

// A failed transfer flags the order, says why in its history, raises the
// supervisor's alert timer and asks for a call-back on the caller's number,
// on the order's own topics; a second report of it writes nothing.
func TestTransferFailedRecordsAndRequestsCallBack(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	in := intake("province", "18912345678", complaintBilling)
	in.Caller = "02012345678" // called from a fixed line about the mobile
	in.CallID = "call-tf"
	o := e.submit(in).Order

	got, err := e.svc.TransferFailed(ctx, o.ID, workorder.TransferBusy)
	if err != nil {
		t.Fatal(err)
	}
	if !got.HasFlag(configs.FlagTransferFailed) {
		t.Errorf("flags %v lack transfer_failed", got.Flags)
	}
	stored := e.get(o.ID)
	last := stored.History[len(stored.History)-1]
	if last.Action != "flag" || last.To != configs.FlagTransferFailed || last.Note != "transfer to an agent failed: busy" ||
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

	if _, err := e.svc.TransferFailed(ctx, o.ID, workorder.TransferNoAnswer); !errors.Is(err, workorder.ErrUnchanged) {
		t.Errorf("second report: %v, want ErrUnchanged", err)
	}
	if n := len(e.eventsOf(queue.TypeWorkOrderCallbackRequested, o.ID)); n != 1 {
		t.Errorf("%d call-back events after a second report, want 1", n)
	}
	if _, err := e.svc.TransferFailed(ctx, "WO-20261123-GD-999999", workorder.TransferBusy); !errors.Is(err, workorder.ErrNotFound) {
		t.Errorf("unknown order: %v", err)
	}
}

// A customer who left no number gets the flag and the alert but no
// call-back event: there is nobody to call.
func TestTransferFailedWithoutNumber(t *testing.T) {
	e := newEnv(t, nil)
	in := intake("province", "", queryBilling)
	o := e.submit(in).Order
	if _, err := e.svc.TransferFailed(context.Background(), o.ID, workorder.TransferNoAnswer); err != nil {
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
		if err := e.svc.TransferPending(ctx, o.ID, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.TransferPending(ctx, young.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Transferred(ctx, done.ID, "sip:complaint@acd.example.com", "bridge"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.TransferFailed(ctx, failed.ID, workorder.TransferBusy); err != nil {
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
