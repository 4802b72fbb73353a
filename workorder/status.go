package workorder

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hotlined/hotlined/configs"
)

// transitions is the legal status graph. An archived order is final: a
// customer unhappy with the result gets a new order (DOMAIN.md).
var transitions = map[string][]string{
	configs.StatusNew:             {configs.StatusAccepted, configs.StatusInProgress, configs.StatusResolved},
	configs.StatusAccepted:        {configs.StatusInProgress, configs.StatusPendingCustomer, configs.StatusResolved},
	configs.StatusInProgress:      {configs.StatusPendingCustomer, configs.StatusResolved},
	configs.StatusPendingCustomer: {configs.StatusInProgress, configs.StatusResolved},
	configs.StatusResolved:        {configs.StatusArchived, configs.StatusReopened},
	configs.StatusReopened:        {configs.StatusAccepted, configs.StatusInProgress, configs.StatusPendingCustomer, configs.StatusResolved},
	configs.StatusArchived:        {},
}

// Errors of status changes.
var (
	ErrIllegalTransition = errors.New("illegal status transition")
	ErrUnknownStatus     = errors.New("unknown status")
	ErrDuplicate         = errors.New("change already applied")
)

// CanTransition reports whether an order may go from one status to another.
func CanTransition(from, to string) bool { return slices.Contains(transitions[from], to) }

// checkTransition explains why from -> to is refused, or returns nil.
func checkTransition(from, to string) error {
	if !slices.Contains(configs.Statuses, to) {
		return fmt.Errorf("%w %q", ErrUnknownStatus, to)
	}
	if !CanTransition(from, to) {
		return fmt.Errorf("%w: %s -> %s (allowed from %s: %v)", ErrIllegalTransition, from, to, from, transitions[from])
	}
	return nil
}

// Change is one entry of an order's audit trail.
type Change struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"` // status, urge, class, flag, escalated, group, invalid, ...
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	// Note is why, in words: what a person typed (a status note, the
	// reason of a reclassification), or a sentence the daemon wrote, in
	// English (then NoteKey is set).
	Note string `json:"note,omitempty"`
	// NoteKey names the kind of a note the daemon wrote (the NoteKey*
	// constants, systemnote.go) and NoteArgs holds its values by name:
	// identifiers (a status, tier, rule...), data (ids, numbers) and the
	// free text people typed, as typed. A reader may say the note in its
	// own language from them and falls back to Note for a key it does not
	// know. Both are absent on notes people wrote and on entries written
	// before they existed.
	NoteKey  string            `json:"note_key,omitempty"`
	NoteArgs map[string]string `json:"note_args,omitempty"`
	// CallID is the SIP Call-ID of the call a transfer entry is about
	// (actions transfer, transfer_abandoned, and flag transfer_failed): an
	// order takes a call per contact (urges), each with its own transfer.
	// Absent on other entries and on those written before it existed.
	CallID string `json:"call_id,omitempty"`
}

// StatusChange asks for an order to move to Status.
type StatusChange struct {
	WorkOrderID string
	Status      string
	Actor       string
	Note        string
	// ChangeID makes applying idempotent: a change with an ID already
	// applied returns ErrDuplicate (the inbound ce_id, or an API request id).
	ChangeID string
	// system, when set, is the daemon's own note (the follow-up, the
	// automatic archive), written instead of Note.
	system *systemNote
}
