package workorder

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/queue"
)

// Errors of reclassification.
var (
	ErrUnknownClass   = errors.New("unknown class")
	ErrSameClass      = errors.New("the order has that class already")
	ErrReasonRequired = errors.New("an actor and a reason are required")
	errNoChange       = errors.New("nothing to change")
)

// Reclassify sets an order's class by a supervisor's or an agent's
// decision: the priority of the new class (less the order's urges), a
// reason naming who and why, a "class" change in the history, and the
// hotline.workorder.reclassified event, in one transaction. Errors:
// ErrUnknownClass, ErrReasonRequired, ErrSameClass, ErrNotFound.
func (s *Service) Reclassify(ctx context.Context, id, class, actor, reason string) (*Order, error) {
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
		from := o.Class
		o.Class, o.UpdatedAt = class, now
		o.Priority = s.priority(o)
		o.Reasons = append(o.Reasons, classifier.Reason{Rule: classifier.RuleReclassified,
			Detail: fmt.Sprintf("%s -> %s by %s: %s", from, class, actor, reason)})
		o.History = append(o.History, Change{At: now, Actor: actor, Action: "class", From: from, To: class, Note: reason})
		plan := s.replan(o, now)
		ev, err := s.event(queue.TypeWorkOrderReclassified, o, now)
		if err != nil {
			return Mutation{}, err
		}
		return Mutation{Events: []queue.Event{ev}, Plan: plan}, nil
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
// complaint opens the repeat window). The note is the agent's or the
// downstream system's words, never searched for the keywords (DOMAIN.md:
// only the customer's words count; see AddNote for a customer statement).
func (s *Service) ChangeStatus(ctx context.Context, c StatusChange) (*Order, error) {
	now := s.now().In(s.loc)
	o, err := s.store.Update(ctx, c.WorkOrderID, c.ChangeID, func(o *Order) (Mutation, error) {
		if err := checkTransition(o.Status, c.Status); err != nil {
			return Mutation{}, err
		}
		var m Mutation
		from := o.Status
		o.Status, o.UpdatedAt = c.Status, now
		o.History = append(o.History, Change{At: now, Actor: c.Actor, Action: "status", From: from, To: c.Status, Note: c.Note})
		if s.policies != nil {
			plan := s.policies.Transition(s.planInput(o), now)
			o.SLA, o.Deadlines = plan.SLA, plan.Deadlines
			m.Plan = &plan
		} else {
			s.moveFixedTimers(o, c.Status, now, &m)
		}
		types := []string{queue.TypeWorkOrderStatusChanged}
		for _, typ := range types {
			ev, err := s.event(typ, o, now)
			if err != nil {
				return Mutation{}, err
			}
			m.Events = append(m.Events, ev)
		}
		return m, nil
	})
	if err != nil {
		return o, err
	}
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
	case errors.Is(err, ErrIllegalTransition), errors.Is(err, ErrUnknownStatus):
		return queue.Reject(queue.RejectIllegalTransition, "%v", err)
	case errors.Is(err, ErrDuplicate):
		return fmt.Errorf("ce_id %q: %w", u.EventID, queue.ErrAlreadyApplied)
	}
	return err
}

var _ queue.Applier = (*Service)(nil)
