package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/hotlined/hotlined/workorder"
)

// Changes moves and reclassifies work orders; *workorder.Service implements
// it. Nil leaves the routes out.
type Changes interface {
	ChangeStatus(ctx context.Context, c workorder.StatusChange) (*workorder.Order, error)
	Reclassify(ctx context.Context, id, class, actor, reason string) (*workorder.Order, error)
}

// maxBody caps a request body.
const maxBody = 64 << 10

func (s *server) workOrderRoutes(mux *http.ServeMux) {
	if s.p.Changes == nil {
		return
	}
	mux.HandleFunc("POST /v1/workorders/{id}/status", s.auth(s.changeStatus, "agent", "supervisor", "system"))
	// DESIGN and the classifier's rules let agents reclassify as well as
	// supervisors: the agent on the call often learns what the IVR could not.
	mux.HandleFunc("POST /v1/workorders/{id}/class", s.auth(s.reclassify, "agent", "supervisor"))
}

// decodeBody reads one JSON object with only known fields into v.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error(), "body")
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "body: more than one JSON value", "body")
		return false
	}
	return true
}

func (s *server) changeStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !workorder.ValidID(id) {
		writeError(w, http.StatusBadRequest, "not a work order id like WO-20261123-GD-000123", "id")
		return
	}
	var body struct {
		Status string `json:"status"`
		Note   string `json:"note"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if strings.TrimSpace(body.Status) == "" {
		writeError(w, http.StatusBadRequest, "status is required", "status")
		return
	}
	o, err := s.p.Changes.ChangeStatus(r.Context(), workorder.StatusChange{
		WorkOrderID: id, Status: body.Status, Actor: s.caller(r), Note: body.Note,
		ChangeID: r.Header.Get("Idempotency-Key"),
	})
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, o)
	case errors.Is(err, workorder.ErrNotFound):
		writeError(w, http.StatusNotFound, "no work order "+id, "id")
	case errors.Is(err, workorder.ErrUnknownStatus):
		writeError(w, http.StatusBadRequest, err.Error(), "status")
	case errors.Is(err, workorder.ErrIllegalTransition):
		writeError(w, http.StatusConflict, err.Error(), "status")
	case errors.Is(err, workorder.ErrDuplicate):
		writeJSON(w, http.StatusOK, o) // the same Idempotency-Key again: already done
	default:
		s.log.Error().Err(err).Str("work_order", id).Msg("change status")
		writeError(w, http.StatusInternalServerError, "could not change the status", "")
	}
}

func (s *server) reclassify(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !workorder.ValidID(id) {
		writeError(w, http.StatusBadRequest, "not a work order id like WO-20261123-GD-000123", "id")
		return
	}
	var body struct {
		Class  string `json:"class"`
		Reason string `json:"reason"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	o, err := s.p.Changes.Reclassify(r.Context(), id, body.Class, s.caller(r), body.Reason)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, o)
	case errors.Is(err, workorder.ErrNotFound):
		writeError(w, http.StatusNotFound, "no work order "+id, "id")
	case errors.Is(err, workorder.ErrUnknownClass):
		writeError(w, http.StatusBadRequest, err.Error(), "class")
	case errors.Is(err, workorder.ErrReasonRequired):
		writeError(w, http.StatusBadRequest, err.Error(), "reason")
	case errors.Is(err, workorder.ErrSameClass):
		writeError(w, http.StatusConflict, err.Error(), "class")
	default:
		s.log.Error().Err(err).Str("work_order", id).Msg("reclassify")
		writeError(w, http.StatusInternalServerError, "could not reclassify", "")
	}
}
