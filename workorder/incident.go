package workorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/queue"
)

// A group complaint moves through steps that touch different Redis slots:
// the window's count (its own slot, one script), each member's order (its
// shard, one transaction with its outbox event) and the incident's events.
// Each step is idempotent and the incident record says which are done
// (pending members, announced flags), so the sequence survives a crash
// between any two steps: whoever comes next (the order that raised it, a
// late member, a supervisor's decision, ReconcileIncidents) finishes it.
//
// DOMAIN.md: an incident is raised suspected (supervisors alerted at once,
// members flagged suspected_group, classes unchanged); a supervisor
// confirms it (every member becomes a group complaint, re-planned with the
// upward report) or rejects it (closed, classes unchanged).

// ErrIncidentNotFound is returned for an incident id no window raised.
var ErrIncidentNotFound = errors.New("group-complaint incident not found")

// StageGroupSuspected is the stage of the alert a suspected incident raises
// at once, on the order that raised it.
const StageGroupSuspected = "group_suspected"

// incidentEvent is the hotline.incident.group_complaint event of inc in
// state (its ce_id names the incident and the state, so publishing it
// again after a crash is a duplicate consumers drop). It goes to the group
// topics and the province's topic of every tier, the billing topic for
// billing, by the routing rules, keyed by the incident id.
func (s *Service) incidentEvent(inc *Incident, state string) (queue.Event, error) {
	snap := *inc
	snap.State, snap.Verified = state, state == classifier.IncidentConfirmed && inc.Rule != classifier.RuleBatch
	// Times in the operator's zone, as in the orders' events (Redis keeps
	// them as unix ms).
	snap.RaisedAt, snap.End = snap.RaisedAt.In(s.loc), snap.End.In(s.loc)
	if snap.DecidedAt != nil {
		at := snap.DecidedAt.In(s.loc)
		snap.DecidedAt = &at
	}
	data, err := json.Marshal(&snap)
	if err != nil {
		return queue.Event{}, fmt.Errorf("encode incident: %w", err)
	}
	typ, attrs := queue.TypeIncidentGroupComplaint, queue.Attrs{Class: configs.ClassGroupComplaint,
		Category: configs.ClassComplaint, Subcategory: inc.Subcategory, Province: inc.Province}
	if inc.Rule == classifier.RuleBatch {
		typ, attrs.Class, attrs.Flags = queue.TypeIncidentBatch, configs.ClassComplaint, []string{configs.FlagBatch}
	}
	var topics []string
	for _, tier := range configs.Tiers {
		attrs.Tier = tier
		for _, t := range s.router.Topics(attrs) {
			if !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
	}
	if len(topics) == 0 {
		return queue.Event{}, fmt.Errorf("incident %s: no kafka route matches a group complaint", inc.ID)
	}
	at := inc.RaisedAt
	if state != classifier.IncidentSuspected && inc.DecidedAt != nil {
		at = *inc.DecidedAt
	}
	return queue.Event{ID: inc.ID + "/" + state, Type: typ, Source: s.source,
		Subject: inc.ID, Time: at, Key: inc.ID, Topics: topics, Data: data}, nil
}

// reconcile finishes what an incident still needs: its state is applied to
// every pending member (each in its own shard's transaction with its
// event); members whose order never came within the grace are dropped; the
// raising and the decision events are published if no one has.
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
		err := s.applyIncident(ctx, id, inc, w, now)
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
			ev, err := s.incidentEvent(inc, raisedState(inc))
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
	if decided(inc) && !inc.DecisionAnnounced && (inc.Announced || st.Announced) {
		ev, err := s.incidentEvent(inc, inc.State)
		if err == nil {
			err = s.store.publish(ctx, shard, ev)
		}
		if err != nil {
			errs = append(errs, err)
		} else {
			st.DecisionAnnounced = true
		}
	}
	if len(st.Settled) > 0 || len(st.Lost) > 0 || st.Announced || st.DecisionAnnounced {
		if err := s.groups.Settle(ctx, w, st); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// raisedState is the state inc was raised in: open for a batch, else
// suspected.
func raisedState(inc *Incident) string {
	if inc.Rule == classifier.RuleBatch {
		return classifier.IncidentOpen
	}
	return classifier.IncidentSuspected
}

// decided reports whether a supervisor confirmed or rejected inc.
func decided(inc *Incident) bool {
	return inc.State == classifier.IncidentConfirmed || inc.State == classifier.IncidentRejected
}

// applyIncident brings a stored order in line with inc's state: a member
// of it, with the window's reason and the members that raised it related;
// flagged suspected_group while any of its incidents is suspected; a group
// complaint (re-planned: the upward report) once one is confirmed; a
// history entry and its event (reclassified on a class change, else
// updated). errNoChange when the order shows inc's state already.
func (s *Service) applyIncident(ctx context.Context, id string, inc *Incident, w classifier.Window, now time.Time) error {
	return s.joinStored(ctx, id, inc, w, now, false)
}

// joinStored is applyIncident; raised says the order raised inc after it
// was stored (countLater): the incident's event and its alert go in the
// same transaction.
func (s *Service) joinStored(ctx context.Context, id string, inc *Incident, w classifier.Window, now time.Time, raised bool) error {
	_, err := s.store.Update(ctx, id, "", func(o *Order) (Mutation, error) {
		if o.IncidentStates[inc.ID] == inc.State {
			return Mutation{}, errNoChange
		}
		// Related: the orders that raised it, not every later member.
		raisers := inc.Members[:min(len(inc.Members), w.Threshold)]
		hit := classifier.GroupHit{Window: w, ID: inc.ID, State: inc.State, N: len(inc.Members), Members: raisers}
		from := o.Class
		joinIncident(o, hit)
		o.Reasons = append(o.Reasons, s.rules.GroupReasons([]classifier.GroupHit{hit})...)
		o.Related = classifier.Union(o.Related, o.ID, []classifier.GroupHit{hit})
		o.UpdatedAt = now
		var m Mutation
		typ := queue.TypeWorkOrderUpdated
		if o.Class != from {
			o.Priority = s.priority(o)
			o.History = append(o.History, Change{At: now, Actor: "classifier", Action: "class", From: from,
				To: o.Class}.with(groupMemberNote(inc.ID, inc.State)))
			m.Plan = s.replan(o, now)
			typ = queue.TypeWorkOrderReclassified
		} else {
			o.History = append(o.History, Change{At: now, Actor: "classifier", Action: "group", To: inc.State}.
				with(groupMemberNote(inc.ID, "")))
		}
		evs, err := s.events(typ, o, now)
		if err != nil {
			return Mutation{}, err
		}
		m.Events = append(m.Events, evs...)
		if raised {
			iev, err := s.incidentEvent(inc, raisedState(inc))
			if err != nil {
				return Mutation{}, err
			}
			m.Events = append(m.Events, iev)
			if inc.Rule != classifier.RuleBatch {
				t := s.timer(o, StageGroupSuspected, now)
				t.Severity = escalation.SeverityGroup
				m.AddTimers = append(m.AddTimers, t)
			}
		}
		return m, nil
	})
	return err
}

// joinIncident records hit's incident and state on o and derives the class
// and the suspected_group flag from all of o's incidents: a confirmed one
// makes a group complaint; any suspected one flags it.
func joinIncident(o *Order, hit classifier.GroupHit) {
	if !slices.Contains(o.Incidents, hit.ID) {
		o.Incidents = append(o.Incidents, hit.ID)
	}
	if hit.Window.Rule == classifier.RuleBatch { // a batch: the flag, nothing else
		o.SetFlag(configs.FlagBatch)
		if o.IncidentStates == nil {
			o.IncidentStates = map[string]string{}
		}
		o.IncidentStates[hit.ID] = hit.State
		return
	}
	if o.IncidentStates == nil {
		o.IncidentStates = map[string]string{}
	}
	o.IncidentStates[hit.ID] = hit.State
	suspected := false
	for id, st := range o.IncidentStates {
		if strings.HasPrefix(id, "BC-") {
			continue
		}
		switch st {
		case classifier.IncidentConfirmed:
			o.Class = configs.ClassGroupComplaint
		case classifier.IncidentSuspected:
			suspected = true
		}
	}
	if suspected {
		o.SetFlag(configs.FlagSuspectedGroup)
	} else {
		o.ClearFlag(configs.FlagSuspectedGroup)
	}
}

// ConfirmGroupComplaint records a supervisor's confirmation that the
// problem of a suspected incident is real (问题属实): every member becomes
// a group complaint and is re-planned (the upward report), and the
// incident's event goes out again with state confirmed. Confirming a
// confirmed incident changes nothing. Errors: ErrIncidentNotFound,
// ErrIncidentDecided (it was rejected), ErrReasonRequired (no actor).
func (s *Service) ConfirmGroupComplaint(ctx context.Context, incidentID, actor string) (*Incident, error) {
	return s.decideIncident(ctx, incidentID, classifier.IncidentConfirmed, actor, "")
}

// RejectGroupComplaint records a supervisor's finding that a suspected
// incident is not one problem: the incident is closed (later complaints
// count afresh), the members keep their class and lose the suspected flag,
// and the event goes out with state rejected. note says why (required).
// Errors as ConfirmGroupComplaint, and ErrReasonRequired without a note.
func (s *Service) RejectGroupComplaint(ctx context.Context, incidentID, actor, note string) (*Incident, error) {
	if strings.TrimSpace(note) == "" {
		return nil, ErrReasonRequired
	}
	return s.decideIncident(ctx, incidentID, classifier.IncidentRejected, actor, strings.TrimSpace(note))
}

func (s *Service) decideIncident(ctx context.Context, incidentID, state, actor, note string) (*Incident, error) {
	if actor == "" {
		return nil, ErrReasonRequired
	}
	w, err := s.rules.WindowOf(incidentID, s.loc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIncidentNotFound, err)
	}
	inc, changed, err := s.groups.Decide(ctx, w, state, actor, note, s.now().In(s.loc))
	if err != nil {
		return inc, err
	}
	if inc == nil {
		return nil, fmt.Errorf("%w: %s", ErrIncidentNotFound, incidentID)
	}
	if err := s.reconcile(ctx, w); err != nil {
		return inc, err
	}
	if changed {
		s.log.Info().Str("incident", incidentID).Str("state", state).Str("actor", actor).Int("members", len(inc.Members)).Msg("group complaint decided")
	}
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

// MaxIncidents caps a listing of incidents.
const MaxIncidents = 500

// Incidents lists the incidents kept in state (any state when empty),
// newest first, at most MaxIncidents.
func (s *Service) Incidents(ctx context.Context, state string) ([]*Incident, error) {
	ids, err := s.groups.Incidents(ctx)
	if err != nil {
		return nil, err
	}
	out := []*Incident{}
	for _, id := range ids {
		inc, err := s.Incident(ctx, id)
		if errors.Is(err, ErrIncidentNotFound) {
			continue // expired since the listing
		}
		if err != nil {
			return nil, err
		}
		if state == "" || inc.State == state {
			out = append(out, inc)
		}
	}
	slices.SortFunc(out, func(a, b *Incident) int { return b.RaisedAt.Compare(a.RaisedAt) })
	return out[:min(len(out), MaxIncidents)], nil
}

// ReconcileIncidents finishes every incident left unfinished by a crash or
// an error: see reconcile. The IncidentSweeper runs it periodically.
func (s *Service) ReconcileIncidents(ctx context.Context) error {
	ids, err := s.groups.Incidents(ctx)
	if err != nil {
		return err
	}
	var errs []error
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
		if inc == nil || len(inc.Pending) == 0 && inc.Announced && (!decided(inc) || inc.DecisionAnnounced) {
			continue
		}
		if err := s.reconcile(ctx, w); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// IncidentSweeper runs Service.ReconcileIncidents, Service.ArchiveDue and
// Service.PurgeDue every Interval until Shutdown.
type IncidentSweeper struct {
	tickLoop
	svc *Service
	log zerolog.Logger
}

// NewIncidentSweeper returns a sweeper of svc's incidents.
func NewIncidentSweeper(svc *Service, interval time.Duration) (*IncidentSweeper, error) {
	if svc == nil || interval <= 0 {
		return nil, errors.New("new incident sweeper: a service and an interval > 0 are required")
	}
	w := &IncidentSweeper{svc: svc, log: svc.log.With().Str("loop", "incident_sweeper").Logger()}
	w.tickLoop = newTickLoop("incident sweeper", interval, w.sweep)
	return w, nil
}

// sweep is one round of the loop.
func (w *IncidentSweeper) sweep(ctx context.Context) {
	if err := w.svc.ReconcileIncidents(ctx); err != nil && ctx.Err() == nil {
		w.log.Warn().Err(err).Msg("reconcile group complaints")
	}
	if _, err := w.svc.ArchiveDue(ctx); err != nil && ctx.Err() == nil {
		w.log.Warn().Err(err).Msg("archive resolved orders")
	}
	if _, err := w.svc.PurgeDue(ctx); err != nil && ctx.Err() == nil {
		w.log.Warn().Err(err).Msg("purge archived orders")
	}
}
