package workorder

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/queue"
)

// Errors of reclassification.
var (
	// ErrLowerNeedsSupervisor: only a supervisor may lower an order's
	// severity (DESIGN, agent actions).
	ErrLowerNeedsSupervisor = errors.New("only a supervisor may lower the severity")
	ErrUnknownClass         = errors.New("unknown class")
	ErrSameClass            = errors.New("the order has that class already")
	ErrReasonRequired       = errors.New("an actor and a reason are required")
	errNoChange             = errors.New("nothing to change")
)

// MayReclassify reports whether an order may go from one class to another
// on an agent's word (supervisor false: severity kept or raised, by
// configs.ClassSeverity) or a supervisor's (any change).
func MayReclassify(from, to string, supervisor bool) bool {
	return supervisor || configs.ClassSeverity[to] >= configs.ClassSeverity[from]
}

// Reclassify sets an order's class by a supervisor's or an agent's
// decision (supervisor says which: an agent may only raise the severity,
// MayReclassify): the priority of the new class (less the order's urges),
// a reason naming who and why, a "class" change in the history, and the
// hotline.workorder.reclassified event, in one transaction, re-planned.
// Errors: ErrUnknownClass, ErrReasonRequired, ErrSameClass,
// ErrLowerNeedsSupervisor, ErrNotFound.
func (s *Service) Reclassify(ctx context.Context, id, class, actor, reason string, supervisor bool) (*Order, error) {
	if !slices.Contains(configs.Classes, class) {
		return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownClass, class, strings.Join(configs.Classes, ", "))
	}
	actor, reason = strings.TrimSpace(actor), strings.TrimSpace(reason)
	if actor == "" || reason == "" {
		return nil, ErrReasonRequired
	}
	now := s.now().In(s.loc)
	o, err := s.store.Update(ctx, id, "", func(o *Order) (Mutation, error) {
		if o.Class == class {
			return Mutation{}, fmt.Errorf("%w: %s", ErrSameClass, class)
		}
		if !MayReclassify(o.Class, class, supervisor) {
			return Mutation{}, fmt.Errorf("%w: %s -> %s", ErrLowerNeedsSupervisor, o.Class, class)
		}
		from := o.Class
		o.Class, o.UpdatedAt = class, now
		o.Priority = s.priority(o)
		o.Reasons = append(o.Reasons, classifier.Reason{Rule: classifier.RuleReclassified,
			Detail: fmt.Sprintf("%s -> %s by %s: %s", from, class, actor, reason)})
		o.History = append(o.History, Change{At: now, Actor: actor, Action: "class", From: from, To: class, Note: reason})
		plan := s.replan(o, now)
		evs, err := s.events(queue.TypeWorkOrderReclassified, o, now)
		if err != nil {
			return Mutation{}, err
		}
		return Mutation{Events: evs, Plan: plan}, nil
	})
	if err != nil {
		return o, err
	}
	s.log.Info().Str("work_order", o.ID).Str("class", o.Class).Str("actor", actor).Msg("work order reclassified")
	return o, nil
}

// ChangeStatus moves an order along the status graph, records who and why
// in its history, emits hotline.workorder.status_changed, and cancels or
// reschedules its timers, all in one transaction, which also keeps the
// order's entry in its service number's complaint index (an archived
// complaint opens the repeat window). Archiving needs the follow-up's
// result first (RecordFollowup; ErrFollowupRequired). The note is the
// agent's or the downstream system's words, never searched for the
// keywords (DOMAIN.md: only the customer's words count; see AddNote for a
// customer statement). Errors: ErrUnknownStatus, ErrIllegalTransition,
// ErrFollowupRequired, ErrDuplicate, ErrNotFound.
func (s *Service) ChangeStatus(ctx context.Context, c StatusChange) (*Order, error) {
	return s.changeStatus(ctx, c, nil, false)
}

// changeStatus is ChangeStatus; before, when set, changes the order first
// in the same transaction (the follow-up's result); autoArchive lets an
// order be archived without a follow-up result (its period ended).
func (s *Service) changeStatus(ctx context.Context, c StatusChange, before func(*Order, time.Time) error, autoArchive bool) (*Order, error) {
	now := s.now().In(s.loc)
	var counts map[string]int64 // the indicators of this change, counted once it is stored
	o, err := s.store.Update(ctx, c.WorkOrderID, c.ChangeID, func(o *Order) (Mutation, error) {
		counts = map[string]int64{}
		hadFollowup := o.Followup != nil
		if before != nil {
			if err := before(o, now); err != nil {
				return Mutation{}, err
			}
		}
		if err := checkTransition(o.Status, c.Status); err != nil {
			return Mutation{}, err
		}
		if c.Status == configs.StatusArchived && o.Followup == nil && !autoArchive {
			return Mutation{}, ErrFollowupRequired
		}
		var m Mutation
		from, deadlines := o.Status, o.Deadlines
		o.Status, o.UpdatedAt = c.Status, now
		ch := Change{At: now, Actor: c.Actor, Action: "status", From: from, To: c.Status, Note: c.Note}
		if c.system != nil {
			ch = ch.with(*c.system)
		}
		o.History = append(o.History, ch)
		if s.policies != nil {
			plan := s.policies.Transition(s.planInput(o), now)
			o.SLA, o.Deadlines = plan.SLA, plan.Deadlines
			m.Plan = &plan
		} else {
			s.moveFixedTimers(o, c.Status, now, &m)
		}
		if countedComplaint(o) {
			counts = stageCounts(deadlines, o.Deadlines, now)
			if o.Followup != nil && !hadFollowup {
				counts["followup."+o.Followup.Result]++
			}
			if c.Status == configs.StatusArchived {
				counts[indArchived]++
				if o.FirstContactResolved = firstContactResolved(o); o.FirstContactResolved {
					counts[indFCR]++
				}
			}
		}
		evs, err := s.events(queue.TypeWorkOrderStatusChanged, o, now)
		if err != nil {
			return Mutation{}, err
		}
		m.Events = append(m.Events, evs...)
		return m, nil
	})
	if err != nil {
		return o, err
	}
	s.counts(ctx, o, now, counts)
	s.log.Info().Str("work_order", o.ID).Str("status", o.Status).Str("actor", c.Actor).Msg("status changed")
	return o, nil
}

// ApplyUpdate applies a downstream system's status update (queue.Applier):
// what can never apply comes back as a *queue.RejectError for the
// dead-letter topic; anything else is passing and retried.
func (s *Service) ApplyUpdate(ctx context.Context, u queue.Update) error {
	if !ValidID(u.WorkOrderID) {
		return queue.Reject(queue.RejectUnknownOrder, "%q is not a work order id", u.WorkOrderID)
	}
	_, err := s.ChangeStatus(ctx, StatusChange{WorkOrderID: u.WorkOrderID, Status: u.Status,
		Actor: u.Actor, Note: u.Note, ChangeID: u.EventID})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return queue.Reject(queue.RejectUnknownOrder, "no work order %q", u.WorkOrderID)
	case errors.Is(err, ErrIllegalTransition), errors.Is(err, ErrUnknownStatus), errors.Is(err, ErrFollowupRequired):
		return queue.Reject(queue.RejectIllegalTransition, "%v", err)
	case errors.Is(err, ErrDuplicate):
		return fmt.Errorf("ce_id %q: %w", u.EventID, queue.ErrAlreadyApplied)
	}
	return err
}

var _ queue.Applier = (*Service)(nil)

// ArchiveDue archives the orders left resolved past the follow-up period
// without a reopen (escalation.auto_archive_after, DOMAIN.md), each as an
// ordinary status change by the system with the reason in its note, so
// the repeat window opens. It returns how many it archived; an order that
// moved meanwhile is left alone.
func (s *Service) ArchiveDue(ctx context.Context) (int, error) {
	now := s.now().In(s.loc)
	ids, err := s.store.ArchiveDue(ctx, now, 200)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, id := range ids {
		note := autoArchivedNote()
		_, err := s.changeStatus(ctx, StatusChange{WorkOrderID: id, Status: configs.StatusArchived, Actor: actorAutoArchive,
			system: &note}, nil, true)
		switch {
		case err == nil:
			n++
		case errors.Is(err, ErrIllegalTransition), errors.Is(err, ErrNotFound):
			errs = append(errs, s.store.dropArchiveDue(ctx, id)) // moved or gone meanwhile
		default:
			errs = append(errs, err)
		}
	}
	if n > 0 {
		s.log.Info().Int("orders", n).Msg("resolved orders archived automatically")
	}
	return n, errors.Join(errs...)
}
