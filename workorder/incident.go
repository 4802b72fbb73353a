package workorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/queue"
)

// A group complaint moves through steps that touch different Redis slots:
// the window's count (its own slot, one script), each member's order (its
// shard, one transaction with its outbox event) and the incident's events.
// Each step is idempotent and the incident record says which are done
// (pending members, announced flags), so the sequence survives a crash
// between any two steps: whoever comes next (the order that raised it, a
// late member, ConfirmGroupComplaint, ReconcileIncidents) finishes it.

// ErrIncidentNotFound is returned for an incident id no window raised.
var ErrIncidentNotFound = errors.New("group-complaint incident not found")

const (
	incidentRaised    = "raised"
	incidentConfirmed = "confirmed"
)

// incidentEvent is the hotline.incident.group_complaint event of inc. Its
// ce_id names the incident and the step, so publishing it again (after a
// crash) is a duplicate consumers drop. It goes to the group topics and the
// province's topic of every tier, the billing topic for billing, by the
// routing rules, keyed by the incident id.
func (s *Service) incidentEvent(inc *Incident, step string) (queue.Event, error) {
	data, err := json.Marshal(inc)
	if err != nil {
		return queue.Event{}, fmt.Errorf("encode incident: %w", err)
	}
	var topics []string
	for _, tier := range configs.Tiers {
		for _, t := range s.router.Topics(queue.Attrs{Tier: tier, Class: configs.ClassGroupComplaint,
			Category: configs.ClassComplaint, Subcategory: inc.Subcategory, Province: inc.Province}) {
			if !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
	}
	if len(topics) == 0 {
		return queue.Event{}, fmt.Errorf("incident %s: no kafka route matches a group complaint", inc.ID)
	}
	at := inc.RaisedAt
	if step == incidentConfirmed && inc.ConfirmedAt != nil {
		at = *inc.ConfirmedAt
	}
	return queue.Event{ID: inc.ID + "/" + step, Type: queue.TypeIncidentGroupComplaint, Source: s.source,
		Subject: inc.ID, Time: at, Key: inc.ID, Topics: topics, Data: data}, nil
}

// reconcile finishes what a window's incident still needs: members counted
// before it are reclassified (each in its own shard's transaction with its
// hotline.workorder.reclassified event); members whose order never came
// within the grace are dropped; the raising and the confirmation events are
// published if no one has.
func (s *Service) reconcile(ctx context.Context, w classifier.Window) error {
	inc, err := s.groups.Incident(ctx, w)
	if err != nil || inc == nil {
		return err
	}
	now := s.now().In(s.loc)
	late := now.Sub(inc.RaisedAt) > s.grace
	var (
		st   Settlement
		errs []error
	)
	for _, id := range inc.Pending {
		err := s.joinIncident(ctx, id, inc, w, now)
		switch {
		case err == nil, errors.Is(err, errNoChange):
			st.Settled = append(st.Settled, id)
		case errors.Is(err, ErrNotFound):
			if late { // counted, then its daemon died before storing it
				st.Lost = append(st.Lost, id)
				s.log.Warn().Str("incident", inc.ID).Str("work_order", id).Msg("group member never stored: dropped")
			}
		default:
			errs = append(errs, err)
		}
	}
	if len(st.Lost) > 0 {
		inc.Members = slices.DeleteFunc(inc.Members, func(m string) bool { return slices.Contains(st.Lost, m) })
	}
	shard := s.store.Shard(inc.Trigger)
	if !inc.Announced {
		// The raising order's transaction carries the event: once the order
		// exists, the event is out. A trigger that never came is published
		// here, once it is surely lost.
		_, err := s.store.Get(ctx, inc.Trigger)
		switch {
		case err == nil:
			st.Announced = true
		case errors.Is(err, ErrNotFound) && late:
			inc.Members = slices.DeleteFunc(inc.Members, func(m string) bool { return m == inc.Trigger })
			ev, err := s.incidentEvent(inc, incidentRaised)
			if err == nil {
				err = s.store.publish(ctx, shard, ev)
			}
			if err != nil {
				errs = append(errs, err)
			} else {
				st.Announced = true
			}
		case !errors.Is(err, ErrNotFound):
			errs = append(errs, err)
		}
	}
	if inc.ConfirmedBy != "" && !inc.ConfirmAnnounced && (inc.Announced || st.Announced) {
		ev, err := s.incidentEvent(inc, incidentConfirmed)
		if err == nil {
			err = s.store.publish(ctx, shard, ev)
		}
		if err != nil {
			errs = append(errs, err)
		} else {
			st.ConfirmAnnounced = true
		}
	}
	if len(st.Settled) > 0 || len(st.Lost) > 0 || st.Announced || st.ConfirmAnnounced {
		if err := s.groups.Settle(ctx, w, st); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// joinIncident makes a stored order a member of inc: group_complaint, the
// window's reason, the other members related, a "class" change by the
// classifier, and hotline.workorder.reclassified. errNoChange when it is a
// member already.
func (s *Service) joinIncident(ctx context.Context, id string, inc *Incident, w classifier.Window, now time.Time) error {
	_, err := s.store.Update(ctx, id, "", func(o *Order) (Mutation, error) {
		if slices.Contains(o.Incidents, inc.ID) {
			return Mutation{}, errNoChange
		}
		from := o.Class
		// Related: the orders that raised it, not every later member.
		raisers := inc.Members[:min(len(inc.Members), w.Threshold)]
		hit := []classifier.GroupHit{{Window: w, N: len(inc.Members), Members: raisers}}
		o.Incidents = append(o.Incidents, inc.ID)
		o.Class = configs.ClassGroupComplaint
		o.Reasons = append(o.Reasons, s.rules.GroupReasons(hit)...)
		o.Related = classifier.Union(o.Related, o.ID, hit)
		o.Priority = s.priority(o)
		o.UpdatedAt = now
		o.History = append(o.History, Change{At: now, Actor: "classifier", Action: "class", From: from,
			To: o.Class, Note: "member of group complaint " + inc.ID})
		ev, err := s.event(queue.TypeWorkOrderReclassified, o, now)
		if err != nil {
			return Mutation{}, err
		}
		return Mutation{Events: []queue.Event{ev}}, nil
	})
	return err
}

// ConfirmGroupComplaint records a supervisor's confirmation that the
// problem of an incident is real: verified: true, who and when, and the
// incident's event again with them. Confirming a verified incident changes
// nothing. ErrIncidentNotFound for an id no window raised.
func (s *Service) ConfirmGroupComplaint(ctx context.Context, incidentID, actor string) (*Incident, error) {
	if actor == "" {
		return nil, ErrReasonRequired
	}
	w, err := s.rules.WindowOf(incidentID, s.loc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIncidentNotFound, err)
	}
	inc, err := s.groups.Confirm(ctx, w, actor, s.now().In(s.loc))
	if err != nil {
		return nil, err
	}
	if inc == nil {
		return nil, fmt.Errorf("%w: %s", ErrIncidentNotFound, incidentID)
	}
	if err := s.reconcile(ctx, w); err != nil {
		return inc, err
	}
	s.log.Info().Str("incident", incidentID).Str("actor", actor).Msg("group complaint confirmed")
	return s.Incident(ctx, incidentID)
}

// Incident reads a group-complaint incident.
func (s *Service) Incident(ctx context.Context, incidentID string) (*Incident, error) {
	w, err := s.rules.WindowOf(incidentID, s.loc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIncidentNotFound, err)
	}
	inc, err := s.groups.Incident(ctx, w)
	if err != nil {
		return nil, err
	}
	if inc == nil {
		return nil, fmt.Errorf("%w: %s", ErrIncidentNotFound, incidentID)
	}
	return inc, nil
}

// ReconcileIncidents finishes every incident of the recent periods (today,
// yesterday, this month, last month) left unfinished by a crash or an
// error: see reconcile. The IncidentSweeper runs it periodically.
func (s *Service) ReconcileIncidents(ctx context.Context) error {
	var errs []error
	for _, period := range classifier.RecentPeriods(s.now(), s.loc) {
		ids, err := s.groups.Incidents(ctx, period)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, id := range ids {
			w, err := s.rules.WindowOf(id, s.loc)
			if err != nil {
				continue // not ours
			}
			inc, err := s.groups.Incident(ctx, w)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if inc == nil || len(inc.Pending) == 0 && inc.Announced && (inc.ConfirmedBy == "" || inc.ConfirmAnnounced) {
				continue
			}
			if err := s.reconcile(ctx, w); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// IncidentSweeper runs Service.ReconcileIncidents every Interval until
// Shutdown.
type IncidentSweeper struct {
	svc      *Service
	interval time.Duration
	log      zerolog.Logger
	cancel   context.CancelFunc
	done     chan struct{}
	once     sync.Once
}

// NewIncidentSweeper returns a sweeper of svc's incidents.
func NewIncidentSweeper(svc *Service, interval time.Duration) (*IncidentSweeper, error) {
	if svc == nil || interval <= 0 {
		return nil, errors.New("new incident sweeper: a service and an interval > 0 are required")
	}
	return &IncidentSweeper{svc: svc, interval: interval, done: make(chan struct{}),
		log: svc.log.With().Str("loop", "incident_sweeper").Logger()}, nil
}

// Start runs the loop until Shutdown.
func (w *IncidentSweeper) Start(ctx context.Context) error {
	ctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(w.done)
		t := time.NewTicker(w.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := w.svc.ReconcileIncidents(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn().Err(err).Msg("reconcile group complaints")
			}
		}
	}()
	return nil
}

// Shutdown stops the loop.
func (w *IncidentSweeper) Shutdown(ctx context.Context) error {
	w.once.Do(func() {
		if w.cancel != nil {
			w.cancel()
		} else {
			close(w.done)
		}
	})
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("incident sweeper shutdown: %w", ctx.Err())
	}
}
