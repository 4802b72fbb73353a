package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"

	"github.com/hotlined/hotlined/workorder"
)

// Incidents reads and confirms group-complaint incidents; *workorder.Service
// implements it. Nil leaves the routes out.
type Incidents interface {
	Incident(ctx context.Context, id string) (*workorder.Incident, error)
	ConfirmGroupComplaint(ctx context.Context, id, actor string) (*workorder.Incident, error)
}

// incidentIDRe: GC-<day or month>-<province>-<problem code>.
var incidentIDRe = regexp.MustCompile(`^GC-[0-9]{6}([0-9]{2})?-[A-Z]{2,3}-[a-z][a-z0-9_]{0,39}\.[a-z][a-z0-9_]{0,39}$`)

func (s *server) incidentRoutes(mux *http.ServeMux) {
	if s.p.Incidents == nil {
		return
	}
	mux.HandleFunc("GET /v1/incidents/{id}", s.auth(s.getIncident, "agent", "supervisor", "system"))
	// A monthly group complaint stays verified: false until a supervisor
	// confirms the problem is real.
	mux.HandleFunc("POST /v1/incidents/{id}/confirm", s.auth(s.confirmIncident, "supervisor"))
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
		writeError(w, http.StatusBadRequest, "not an incident id like GC-20261123-GD-billing", "id")
		return
	}
	inc, err := do(r.Context(), id)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, inc)
	case errors.Is(err, workorder.ErrIncidentNotFound):
		writeError(w, http.StatusNotFound, "no incident "+id, "id")
	default:
		s.log.Error().Err(err).Str("incident", id).Msg("incident")
		writeError(w, http.StatusInternalServerError, "could not read the incident", "")
	}
}
