package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/ivr"
	"github.com/hotlined/hotlined/workorder"
)

// Changes creates, moves and reclassifies work orders; *workorder.Service
// implements it. Nil leaves the routes out.
type Changes interface {
	Submit(ctx context.Context, in workorder.Intake) (workorder.Result, error)
	ChangeStatus(ctx context.Context, c workorder.StatusChange) (*workorder.Order, error)
	Reclassify(ctx context.Context, id, class, actor, reason string) (*workorder.Order, error)
}

// maxBody caps a request body.
const maxBody = 64 << 10

// Lister lists a customer's orders; *workorder.Service implements it. Nil
// leaves GET /v1/workorders out.
type Lister interface {
	List(ctx context.Context, number string, f workorder.Filter) ([]*workorder.Order, error)
}

func (s *server) workOrderRoutes(mux *http.ServeMux) {
	if s.p.Lister != nil {
		mux.HandleFunc("GET /v1/workorders", s.auth(s.listWorkOrders, "agent", "supervisor", "system"))
	}
	if s.p.Changes == nil {
		return
	}
	mux.HandleFunc("POST /v1/workorders", s.auth(s.createWorkOrder, "agent", "supervisor", "system"))
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

// channels an order may come from through the API (calls come by SIP).
var channels = []string{"web", "app", "letter", "wechat", "email"}

var (
	subcategoryRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,40}$`)
	digitsRe      = regexp.MustCompile(`^[0-9]{3,20}$`)
)

// maxDescription caps the free text of an order, in runes.
const maxDescription = 4000

// createWorkOrder takes an order from another channel (web, app, letter):
// the same classification as a call. 201 with the new order, or 200 with
// the customer's open complaint when the contact urged it
// (X-Hotlined-Outcome says which).
func (s *server) createWorkOrder(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Channel            string `json:"channel"`
		Tier               string `json:"tier"`
		Province           string `json:"province"`
		Caller             string `json:"caller"`
		ServiceNumber      string `json:"service_number"`
		Category           string `json:"category"`
		Subcategory        string `json:"subcategory"`
		ProblemCode        string `json:"problem_code"`
		Description        string `json:"description"`
		EscalationTendency bool   `json:"escalation_tendency"`
		PublicOpinionRisk  bool   `json:"public_opinion_risk"`
	}
	if !decodeBody(w, r, &b) {
		return
	}
	bad := func(field, msg string) { writeError(w, http.StatusBadRequest, msg, field) }
	switch {
	case !slices.Contains(channels, b.Channel):
		bad("channel", "must be one of "+strings.Join(channels, ", "))
	case !slices.Contains(configs.Tiers, b.Tier):
		bad("tier", "must be one of "+strings.Join(configs.Tiers, ", "))
	case b.Tier == configs.TierProvince && !configs.ValidProvince(b.Province),
		b.Province != "" && !configs.ValidProvince(b.Province):
		bad("province", "must be a province code like GD (optional on the group and appeal tiers: the service number's)")
	case !slices.Contains(configs.Categories, b.Category):
		bad("category", "must be one of "+strings.Join(configs.Categories, ", "))
	case !subcategoryRe.MatchString(b.Subcategory):
		bad("subcategory", "must be a lower-case name like billing")
	case b.ProblemCode != "" && !s.knownProblemCode(b.ProblemCode):
		bad("problem_code", "not a code of the problem-code table, like billing.overcharge")
	case b.ServiceNumber != "" && !ivr.ValidServiceNumber(b.ServiceNumber):
		bad("service_number", "must be an 11-digit mobile or a fixed line with its area code")
	case b.Caller != "" && !digitsRe.MatchString(b.Caller):
		bad("caller", "must be 3 to 20 digits")
	case utf8.RuneCountInString(b.Description) > maxDescription:
		bad("description", fmt.Sprintf("at most %d characters", maxDescription))
	default:
		res, err := s.p.Changes.Submit(r.Context(), workorder.Intake{
			Channel: b.Channel, Tier: b.Tier, Province: b.Province, Caller: b.Caller,
			ServiceNumber: b.ServiceNumber, Description: b.Description,
			ProblemCode: b.ProblemCode,
			Leaf: configs.Leaf{Category: b.Category, Subcategory: b.Subcategory, EscalationTendency: b.EscalationTendency,
				PublicOpinionRisk: b.PublicOpinionRisk},
		})
		if err != nil {
			s.log.Error().Err(err).Str("channel", b.Channel).Msg("create work order")
			writeError(w, http.StatusInternalServerError, "could not create the work order", "")
			return
		}
		w.Header().Set("X-Hotlined-Outcome", string(res.Outcome))
		status := http.StatusCreated
		if res.Outcome == workorder.OutcomeUrged {
			status = http.StatusOK
		}
		writeJSON(w, status, res.Order)
	}
}

// listWorkOrders: GET /v1/workorders?service_number=&status=&class=&province=,
// newest first: a customer's orders, or without a number every order in a
// status (then filtered by class and province). One of the two is needed:
// there is no listing of every order.
func (s *server) listWorkOrders(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	number := q.Get("service_number")
	f := workorder.Filter{Status: q.Get("status"), Class: q.Get("class"), Province: q.Get("province")}
	switch {
	case number == "" && f.Status == "":
		writeError(w, http.StatusBadRequest, "service_number or status is required: there is no listing of every order", "service_number")
	case number != "" && !digitsRe.MatchString(number):
		writeError(w, http.StatusBadRequest, "service_number must be 3 to 20 digits", "service_number")
	case f.Status != "" && !slices.Contains(configs.Statuses, f.Status):
		writeError(w, http.StatusBadRequest, "unknown status", "status")
	case f.Class != "" && !slices.Contains(configs.Classes, f.Class):
		writeError(w, http.StatusBadRequest, "unknown class", "class")
	case f.Province != "" && !configs.ValidProvince(f.Province):
		writeError(w, http.StatusBadRequest, "must be a province code like GD", "province")
	default:
		orders, err := s.p.Lister.List(r.Context(), number, f)
		if err != nil {
			s.log.Error().Err(err).Msg("list work orders")
			writeError(w, http.StatusInternalServerError, "could not list the work orders", "")
			return
		}
		if orders == nil {
			orders = []*workorder.Order{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"work_orders": orders})
	}
}

// knownProblemCode reports whether code is in the configured table (any
// well-formed code when none is configured).
func (s *server) knownProblemCode(code string) bool {
	if s.p.ProblemCodes == nil {
		return configs.ValidProblemCode(code)
	}
	_, ok := s.p.ProblemCodes.Lookup(code)
	return ok
}
