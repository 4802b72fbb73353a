package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/hotlined/hotlined/workorder"
)

// Incidents reads and confirms group-complaint incidents; *workorder.Service
// implements it. Nil leaves the routes out.
type Incidents interface {
	Incident(ctx context.Context, id string) (*workorder.Incident, error)
	Incidents(ctx context.Context, state string) ([]*workorder.Incident, error)
	ConfirmGroupComplaint(ctx context.Context, id, actor string) (*workorder.Incident, error)
	RejectGroupComplaint(ctx context.Context, id, actor, note string) (*workorder.Incident, error)
}

// incidentIDRe: GC-<day, R+day (rolling 30 days) or month>-<province>-<problem code>,
// or a batch: BC-H<hour>-<province>-<problem code>.
var incidentIDRe = regexp.MustCompile(`^(GC-(R?[0-9]{8}|[0-9]{6})|BC-H[0-9]{10})-[A-Z]{2,3}-[a-z][a-z0-9_]{0,39}\.[a-z][a-z0-9_]{0,39}$`)

// incidentStates are the states GET /v1/incidents?state= filters on.
var incidentStates = []string{"suspected", "confirmed", "rejected", "open"}

func (s *server) incidentRoutes(mux *http.ServeMux) {
	if s.p.Incidents == nil {
		return
	}
	mux.HandleFunc("GET /v1/incidents", s.auth(s.listIncidents, "agent", "supervisor", "system"))
	mux.HandleFunc("GET /v1/incidents/{id}", s.auth(s.getIncident, "agent", "supervisor", "system"))
	// A group complaint stays suspected until a supervisor confirms the
	// problem is real (问题属实) or rejects it (DOMAIN.md).
	mux.HandleFunc("POST /v1/incidents/{id}/confirm", s.auth(s.confirmIncident, "supervisor"))
	mux.HandleFunc("POST /v1/incidents/{id}/reject", s.auth(s.rejectIncident, "supervisor"))
}

// listIncidents: GET /v1/incidents?state=suspected|confirmed|rejected,
// newest first (every state when empty).
func (s *server) listIncidents(w http.ResponseWriter, r *http.Request) {
	state := r.URL.Query().Get("state")
	if state != "" && !slices.Contains(incidentStates, state) {
		writeError(w, http.StatusBadRequest, "state must be one of "+strings.Join(incidentStates, ", "), "state")
		return
	}
	list, err := s.p.Incidents.Incidents(r.Context(), state)
	if err != nil {
		s.log.Error().Err(err).Msg("list incidents")
		writeServerError(w, err, "could not list the incidents")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": list})
}

// rejectIncident: POST /v1/incidents/{id}/reject {"note": "why"}.
func (s *server) rejectIncident(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Note string `json:"note"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if strings.TrimSpace(body.Note) == "" {
		writeError(w, http.StatusBadRequest, "note is required: say why the complaints are not one problem", "note")
		return
	}
	actor := s.caller(r)
	s.incident(w, r, func(ctx context.Context, id string) (*workorder.Incident, error) {
		return s.p.Incidents.RejectGroupComplaint(ctx, id, actor, body.Note)
	})
}

func (s *server) getIncident(w http.ResponseWriter, r *http.Request) {
	s.incident(w, r, func(ctx context.Context, id string) (*workorder.Incident, error) {
		return s.p.Incidents.Incident(ctx, id)
	})
}

func (s *server) confirmIncident(w http.ResponseWriter, r *http.Request) {
	actor := s.caller(r)
	s.incident(w, r, func(ctx context.Context, id string) (*workorder.Incident, error) {
		return s.p.Incidents.ConfirmGroupComplaint(ctx, id, actor)
	})
}

func (s *server) incident(w http.ResponseWriter, r *http.Request, do func(context.Context, string) (*workorder.Incident, error)) {
	id := r.PathValue("id")
	if !incidentIDRe.MatchString(id) {
		writeError(w, http.StatusBadRequest, "not an incident id like GC-20261123-GD-billing.overcharge", "id")
		return
	}
	inc, err := do(r.Context(), id)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, inc)
	case errors.Is(err, workorder.ErrIncidentNotFound):
		writeError(w, http.StatusNotFound, "no incident "+id, "id")
	case errors.Is(err, workorder.ErrIncidentDecided):
		writeError(w, http.StatusConflict, err.Error(), "id")
	default:
		s.log.Error().Err(err).Str("incident", id).Msg("incident")
		writeServerError(w, err, "could not read the incident")
	}
}
