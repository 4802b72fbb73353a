package api

// The work-order page, the softphone's screen-pop target: what the agent
// needs during the call, in words (i18n.go), times in the configured zone.

import (
	"errors"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/workorder"
)

// agentMayReclassify reports whether an agent may move from one class to
// another (workorder.MayReclassify: the API decides; the page only marks
// what the agent's role cannot do).
func agentMayReclassify(from, to string) bool { return workorder.MayReclassify(from, to, false) }

type uiDeadline struct {
	Stage string
	Due   time.Time
}

// uiClassOption is one choice of the reclassify control.
type uiClassOption struct {
	Class      string
	Current    bool
	Supervisor bool // lowering: only a supervisor may
}

// recentLimit caps the customer's other orders on the page.
const recentLimit = 10

func (s *server) workOrderPage(w http.ResponseWriter, r *http.Request) {
	ss, _ := sessionFrom(r)
	id := r.PathValue("id")
	if !workorder.ValidID(id) {
		s.renderError(w, r, http.StatusBadRequest, "Bad id", "Not a work-order id like WO-20261123-GD-000123.")
		return
	}
	o, err := s.p.Orders.Get(r.Context(), id)
	if errors.Is(err, workorder.ErrNotFound) {
		s.renderError(w, r, http.StatusNotFound, "Not found", "No work order %s.", id)
		return
	}
	if err != nil {
		s.log.Error().Err(err).Str("work_order", id).Msg("work-order page")
		s.renderError(w, r, http.StatusInternalServerError, "Error", "Could not read the work order.")
		return
	}
	var deadlines []uiDeadline
	for stage, due := range o.Deadlines {
		deadlines = append(deadlines, uiDeadline{stage, due})
	}
	sort.Slice(deadlines, func(i, j int) bool { return deadlines[i].Due.Before(deadlines[j].Due) })
	var next []string
	for _, st := range configs.Statuses {
		if workorder.CanTransition(o.Status, st) {
			next = append(next, st)
		}
	}
	var classes []uiClassOption
	for _, c := range configs.Classes {
		classes = append(classes, uiClassOption{Class: c, Current: c == o.Class,
			Supervisor: ss.Role != "supervisor" && !agentMayReclassify(o.Class, c)})
	}
	// The customer's other orders, newest first.
	var recent []*workorder.Order
	if number := o.Key(); s.p.Lister != nil && number != o.ID {
		all, err := s.p.Lister.List(r.Context(), number, workorder.Filter{})
		if err != nil {
			s.log.Warn().Err(err).Str("work_order", id).Msg("work-order page: the customer's orders")
		}
		for _, x := range all {
			if x.ID != o.ID && len(recent) < recentLimit {
				recent = append(recent, x)
			}
		}
	}
	// Its open alerts.
	var alerts []escalation.Alert
	if s.p.Alerts.Store != nil {
		open, err := s.p.Alerts.Store.Alerts(r.Context(), escalation.StateOpen, maxAlertLimit)
		if err != nil {
			s.log.Warn().Err(err).Str("work_order", id).Msg("work-order page: alerts")
		}
		alerts = slices.DeleteFunc(open, func(a escalation.Alert) bool { return a.WorkOrderID != o.ID })
	}
	supervisor := ss.Role == "supervisor"
	s.render(w, r, http.StatusOK, "workorder.html", map[string]any{
		"Title": o.ID, "Session": ss, "O": o, "Deadlines": deadlines, "Next": next,
		"CanChange": s.p.Changes != nil, "Classes": classes, "Recent": recent, "HasLister": s.p.Lister != nil,
		"Alerts": alerts, "CanAck": supervisor && s.p.Alerts.Store != nil, "Supervisor": supervisor,
		// The controls of DESIGN's agent actions; the API decides, the
		// page offers what the order's state makes sensible. An archived
		// order gets no status change (no transition out of archived) and
		// no follow-up (resolved orders only); the service still
		// reclassifies it, marks it invalid, sets its problem code and
		// province and records notes on it, so those controls stay.
		"SetProvince":   o.HasFlag(configs.FlagProvinceUnknown) || supervisor,
		"CanFollowup":   o.Status == configs.StatusResolved,
		"NoteKinds":     workorder.NoteKinds,
		"Grounds":       configs.InvalidGrounds,
		"FollowupKinds": []string{workorder.FollowupSatisfied, workorder.FollowupBasicallySatisfied, workorder.FollowupUnsatisfied},
		"ShowReceived":  !o.ReceivedAt.IsZero() && !o.ReceivedAt.Equal(o.CreatedAt),
	})
}
