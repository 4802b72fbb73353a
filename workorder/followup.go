package workorder

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/queue"
)

// Follow-up results (回访, DOMAIN.md "Follow-up, satisfaction and
// indicators").
const (
	FollowupSatisfied          = "satisfied"
	FollowupBasicallySatisfied = "basically_satisfied"
	FollowupUnsatisfied        = "unsatisfied"
)

// FollowupResults lists the follow-up results.
var FollowupResults = []string{FollowupSatisfied, FollowupBasicallySatisfied, FollowupUnsatisfied}

// Followup is the result of calling the customer back after resolution.
type Followup struct {
	Result string    `json:"result"`
	Reason string    `json:"reason,omitempty"` // why not satisfied
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
}

// Errors of the follow-up and of invalid complaints.
var (
	ErrUnknownFollowup  = errors.New("unknown follow-up result")
	ErrNotResolved      = errors.New("the order is not resolved")
	ErrFollowupRequired = errors.New("archiving needs a follow-up result (or the end of the follow-up period)")
	ErrUnknownGround    = errors.New("unknown invalid-complaint ground")
	ErrNotInvalid       = errors.New("the order is not marked invalid")
)

// actorAutoArchive archives without a follow-up result: the follow-up
// period ended (ArchiveDue).
const actorAutoArchive = "system:auto_archive"

// RecordFollowup records the follow-up of a resolved order (DOMAIN.md):
// satisfied or basically satisfied archives it (the repeat window opens);
// unsatisfied reopens it with the reason (required), so it is handled
// again. One transaction with the order's status_changed event and its
// timers. Errors: ErrUnknownFollowup, ErrReasonRequired (no actor, or
// unsatisfied without a reason), ErrNotResolved, ErrNotFound.
func (s *Service) RecordFollowup(ctx context.Context, id, result, reason, actor string) (*Order, error) {
	if !slices.Contains(FollowupResults, result) {
		return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownFollowup, result, strings.Join(FollowupResults, ", "))
	}
	reason, actor = strings.TrimSpace(reason), strings.TrimSpace(actor)
	switch {
	case actor == "":
		return nil, fmt.Errorf("%w: no actor", ErrReasonRequired)
	case result == FollowupUnsatisfied && reason == "":
		return nil, fmt.Errorf("%w: an unsatisfied follow-up needs the customer's reason", ErrReasonRequired)
	}
	to, note := configs.StatusArchived, followupNote(result, reason)
	if result == FollowupUnsatisfied {
		to = configs.StatusReopened
	}
	return s.changeStatus(ctx, StatusChange{WorkOrderID: id, Status: to, Actor: actor, system: &note}, func(o *Order, now time.Time) error {
		if o.Status != configs.StatusResolved {
			return fmt.Errorf("%w: it is %s", ErrNotResolved, o.Status)
		}
		o.Followup = &Followup{Result: result, Reason: reason, At: now, Actor: actor}
		return nil
	}, false)
}

// MarkInvalid marks an order an invalid complaint on one of the five
// grounds (DOMAIN.md "Invalid complaint"): kept, but not counted for group
// complaints or indicators from now on (its count is taken back from the
// open windows). Errors: ErrUnknownGround, ErrReasonRequired (no actor),
// ErrUnchanged when it is invalid on that ground already, ErrNotFound.
func (s *Service) MarkInvalid(ctx context.Context, id, ground, note, actor string) (*Order, error) {
	if !slices.Contains(configs.InvalidGrounds, ground) {
		return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownGround, ground, strings.Join(configs.InvalidGrounds, ", "))
	}
	wasValid := false
	o, err := s.setValidity(ctx, id, actor, func(o *Order, now time.Time) error {
		if !o.Valid && o.InvalidGround == ground {
			return fmt.Errorf("%w: invalid (%s)", ErrUnchanged, ground)
		}
		wasValid = o.Valid
		o.Valid, o.InvalidGround = false, ground
		o.History = append(o.History, Change{At: now, Actor: actor, Action: "invalid", To: ground, Note: note})
		return nil
	})
	if err != nil {
		return o, err
	}
	if err := s.uncount(ctx, o); err != nil {
		s.log.Warn().Err(err).Str("work_order", o.ID).Msg("invalid order left in the group counts")
	}
	if wasValid { // out of the indicators too
		valid := *o
		valid.Valid = true
		s.counts(ctx, o, o.CreatedAt, creationCounts(&valid, -1))
	}
	return o, nil
}

// UndoInvalid makes an order marked invalid valid again (a supervisor's
// decision) and counts it for group complaints. Errors: ErrNotInvalid,
// ErrReasonRequired, ErrNotFound.
func (s *Service) UndoInvalid(ctx context.Context, id, note, actor string) (*Order, error) {
	o, err := s.setValidity(ctx, id, actor, func(o *Order, now time.Time) error {
		if o.Valid {
			return ErrNotInvalid
		}
		o.History = append(o.History, Change{At: now, Actor: actor, Action: "invalid", From: o.InvalidGround, Note: note})
		o.Valid, o.InvalidGround = true, ""
		return nil
	})
	if err != nil {
		return o, err
	}
	if err := s.countLater(ctx, o); err != nil {
		s.log.Warn().Err(err).Str("work_order", o.ID).Msg("group complaint left to the reconciler")
	}
	s.counts(ctx, o, o.CreatedAt, creationCounts(o, 1))
	return s.store.Get(ctx, o.ID)
}

// setValidity applies change in one transaction with the updated event.
func (s *Service) setValidity(ctx context.Context, id, actor string, change func(*Order, time.Time) error) (*Order, error) {
	if strings.TrimSpace(actor) == "" {
		return nil, ErrReasonRequired
	}
	now := s.now().In(s.loc)
	o, err := s.store.Update(ctx, id, "", func(o *Order) (Mutation, error) {
		if err := change(o, now); err != nil {
			return Mutation{}, err
		}
		o.UpdatedAt = now
		evs, err := s.events(queue.TypeWorkOrderUpdated, o, now)
		if err != nil {
			return Mutation{}, err
		}
		return Mutation{Events: evs}, nil
	})
	if err != nil {
		return o, err
	}
	s.log.Info().Str("work_order", o.ID).Bool("valid", o.Valid).Str("ground", o.InvalidGround).Str("actor", actor).Msg("validity changed")
	return o, nil
}

// uncount takes an order back out of its group-complaint windows' counts
// (an incident raised already keeps it as a member: its state is the
// supervisor's call).
func (s *Service) uncount(ctx context.Context, o *Order) error {
	if o.Category != configs.CategoryComplaint || !configs.ValidProblemCode(o.ProblemCode) {
		return nil
	}
	return s.groups.Uncount(ctx, o.ID, s.rules.GroupWindows(o.Tier, o.Province, o.ProblemCode, o.Subcategory, s.now(), s.loc))
}
