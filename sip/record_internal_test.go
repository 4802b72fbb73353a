package sip

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/workorder"
)

// flakyTransfers fails its first fails writes as a Redis that is down,
// then records them.
type flakyTransfers struct {
	mu       sync.Mutex
	fails    int
	attempts int
	recorded []string
	err      error // returned instead, when set
}

func (f *flakyTransfers) write(what string) (*workorder.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.err != nil {
		return nil, f.err
	}
	if f.attempts <= f.fails {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	}
	f.recorded = append(f.recorded, what)
	return &workorder.Order{}, nil
}

func (f *flakyTransfers) TransferPending(context.Context, string, string, time.Time) error {
	return nil
}
func (f *flakyTransfers) Transferred(_ context.Context, id, callID, _, _ string) (*workorder.Order, error) {
	return f.write("transferred " + id + " " + callID)
}
func (f *flakyTransfers) TransferFailed(_ context.Context, id, callID, reason string) (*workorder.Order, error) {
	return f.write("failed " + id + " " + callID + " " + reason)
}
func (f *flakyTransfers) TransferAbandoned(_ context.Context, id, callID, _, _ string) (*workorder.Order, error) {
	return f.write("abandoned " + id + " " + callID)
}

// A failed transfer's outcome (its call-back) survives Redis being down
// for a moment: the write is retried while storage cannot serve, once it
// can it is recorded once; an error of another kind is not retried.
func TestTransferOutcomeRetriedWhileStorageIsDown(t *testing.T) {
	ts := startServer(t, nil)
	flaky := &flakyTransfers{fails: 3}
	ts.transfers = flaky
	o := &workorder.Order{ID: "WO-20261130-GD-0000100001"}
	ts.recordTransfer(zerolog.Nop(), "call-1@host", o, "sip:billing@acd", "bridge", transferRefused, workorder.TransferBusy)
	if flaky.attempts != 4 || len(flaky.recorded) != 1 || flaky.recorded[0] != "failed "+o.ID+" call-1@host busy" {
		t.Errorf("attempts %d, recorded %v; want 4 and the failure once", flaky.attempts, flaky.recorded)
	}

	other := &flakyTransfers{err: errors.New("work order not found")}
	ts.transfers = other
	ts.recordTransfer(zerolog.Nop(), "call-1@host", o, "sip:billing@acd", "bridge", transferAccepted, "")
	if other.attempts != 1 {
		t.Errorf("an error that is not storage's was tried %d times, want 1", other.attempts)
	}
}
