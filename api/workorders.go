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
	"time"
	"unicode/utf8"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/internal/phone"
	"github.com/hotlined/hotlined/ivr"
	"github.com/hotlined/hotlined/workorder"
)

// Changes creates, moves and reclassifies work orders; *workorder.Service
// implements it. Nil leaves the routes out.
type Changes interface {
	Submit(ctx context.Context, in workorder.Intake) (workorder.Result, error)
	ChangeStatus(ctx context.Context, c workorder.StatusChange) (*workorder.Order, error)
	Reclassify(ctx context.Context, id, class, actor, reason string, supervisor bool) (*workorder.Order, error)
	AddNote(ctx context.Context, id, kind, text, actor string) (*workorder.Order, error)
	SetProblemCode(ctx context.Context, id, code, actor string) (*workorder.Order, error)
	SetProvince(ctx context.Context, id, province, actor string) (*workorder.Order, error)
	RecordFollowup(ctx context.Context, id, result, reason, actor string) (*workorder.Order, error)
	MarkInvalid(ctx context.Context, id, ground, note, actor string) (*workorder.Order, error)
	UndoInvalid(ctx context.Context, id, note, actor string) (*workorder.Order, error)
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
	// Agents reclassify too (the agent on the call often learns what the
	// IVR could not), but only towards more severe; lowering is for a
	// supervisor (DESIGN, agent actions).
	mux.HandleFunc("POST /v1/workorders/{id}/class", s.auth(s.reclassify, "agent", "supervisor"))
	mux.HandleFunc("POST /v1/workorders/{id}/notes", s.auth(s.addNote, "agent", "supervisor", "system"))
	mux.HandleFunc("POST /v1/workorders/{id}/problem", s.auth(s.setProblemCode, "agent", "supervisor"))
	mux.HandleFunc("POST /v1/workorders/{id}/province", s.auth(s.setProvince, "agent", "supervisor"))
	mux.HandleFunc("POST /v1/workorders/{id}/followup", s.auth(s.recordFollowup, "agent", "supervisor"))
	mux.HandleFunc("POST /v1/workorders/{id}/invalid", s.auth(s.markInvalid, "agent", "supervisor"))
	// Undoing an invalid mark is a supervisor's (DESIGN, agent actions).
	mux.HandleFunc("POST /v1/workorders/{id}/valid", s.auth(s.undoInvalid, "supervisor"))
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
		writeServerError(w, err, "could not change the status")
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
	o, err := s.p.Changes.Reclassify(r.Context(), id, body.Class, s.caller(r), body.Reason, strings.HasPrefix(s.caller(r), "supervisor:"))
	switch {
	case errors.Is(err, workorder.ErrLowerNeedsSupervisor):
		writeError(w, http.StatusForbidden, err.Error(), "class")
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
		writeServerError(w, err, "could not reclassify")
	}
}

// channels an order may come from through the API (calls come by SIP);
// regulator_transfer is an appeal a regulator's or consumer body's centre
// transferred to the operator (tier appeal, with the appeal fields).
var channels = []string{"web", "app", "letter", "wechat", "email", channelRegulatorTransfer}

const channelRegulatorTransfer = "regulator_transfer"

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
		// ReceivedAt is when the operator received the contact (RFC 3339);
		// empty: now.
		ReceivedAt        string `json:"received_at"`
		UnsatisfiedReason string `json:"unsatisfied_reason"`
		Appeal            *struct {
			Authority  string `json:"authority"`
			CaseNumber string `json:"case_number"`
			ReceivedAt string `json:"received_at"`
			Deadline   string `json:"deadline"`
		} `json:"appeal"`
	}
	if !decodeBody(w, r, &b) {
		return
	}
	// Numbers in any form (+86…, 0086…, separators) to national form
	// (DESIGN "Numbers"); what is no number stays as sent and is refused.
	for _, n := range []*string{&b.ServiceNumber, &b.Caller} {
		if v := phone.National(*n); v != "" {
			*n = v
		}
	}
	bad := func(field, msg string) { writeError(w, http.StatusBadRequest, msg, field) }
	now := time.Now()
	var received time.Time
	if b.ReceivedAt != "" {
		t, err := time.Parse(time.RFC3339, b.ReceivedAt)
		if err != nil || t.After(now.Add(time.Minute)) {
			bad("received_at", "must be an RFC 3339 time, not in the future")
			return
		}
		received = t
	}
	var appeal *workorder.Appeal
	if a := b.Appeal; a != nil {
		appeal = &workorder.Appeal{Authority: strings.TrimSpace(a.Authority), CaseNumber: strings.TrimSpace(a.CaseNumber)}
		var errA, errD error
		appeal.ReceivedAt, errA = time.Parse(time.RFC3339, a.ReceivedAt)
		appeal.Deadline, errD = time.Parse(time.RFC3339, a.Deadline)
		switch {
		case appeal.Authority == "" || utf8.RuneCountInString(appeal.Authority) > 100:
			bad("appeal.authority", "required: the centre that transferred the appeal (at most 100 characters)")
			return
		case appeal.CaseNumber == "" || utf8.RuneCountInString(appeal.CaseNumber) > 64:
			bad("appeal.case_number", "required: the centre's case number (at most 64 characters)")
			return
		case errA != nil:
			bad("appeal.received_at", "must be an RFC 3339 time")
			return
		case errD != nil || !appeal.Deadline.After(appeal.ReceivedAt):
			bad("appeal.deadline", "must be an RFC 3339 time after appeal.received_at")
			return
		}
		if received.IsZero() {
			received = appeal.ReceivedAt
		}
	}
	switch {
	case !slices.Contains(channels, b.Channel):
		bad("channel", "must be one of "+strings.Join(channels, ", "))
	case b.Channel == channelRegulatorTransfer && (b.Tier != configs.TierAppeal || appeal == nil):
		bad("appeal", "a regulator_transfer is an appeal-tier order with the appeal fields (authority, case_number, received_at, deadline)")
	case b.Channel != channelRegulatorTransfer && appeal != nil:
		bad("appeal", "appeal fields come only with channel regulator_transfer")
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
			ProblemCode: b.ProblemCode, ReceivedAt: received, Appeal: appeal, UnsatisfiedReason: b.UnsatisfiedReason,
			Leaf: configs.Leaf{Category: b.Category, Subcategory: b.Subcategory, EscalationTendency: b.EscalationTendency,
				PublicOpinionRisk: b.PublicOpinionRisk},
		})
		if errors.Is(err, workorder.ErrUnsatisfiedReasonRequired) {
			bad("unsatisfied_reason", err.Error())
			return
		}
		if err != nil {
			s.log.Error().Err(err).Str("channel", b.Channel).Msg("create work order")
			writeServerError(w, err, "could not create the work order")
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
	if v := phone.National(number); v != "" {
		number = v
	}
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
			writeServerError(w, err, "could not list the work orders")
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

// orderAction runs an agent's action on order {id} with the decoded body
// and answers the order, or the action's error as JSON: 404 for an
// unknown order, 409 when nothing changes, 400 for the rest of the
// validation errors named in bad (error -> field).
func (s *server) orderAction(w http.ResponseWriter, r *http.Request, body any, bad map[error]string,
	do func(ctx context.Context, id, actor string) (*workorder.Order, error)) {
	id := r.PathValue("id")
	if !workorder.ValidID(id) {
		writeError(w, http.StatusBadRequest, "not a work order id like WO-20261123-GD-000123", "id")
		return
	}
	if !decodeBody(w, r, body) {
		return
	}
	o, err := do(r.Context(), id, s.caller(r))
	if err == nil {
		writeJSON(w, http.StatusOK, o)
		return
	}
	for target, field := range bad {
		if errors.Is(err, target) {
			writeError(w, http.StatusBadRequest, err.Error(), field)
			return
		}
	}
	switch {
	case errors.Is(err, workorder.ErrNotFound):
		writeError(w, http.StatusNotFound, "no work order "+id, "id")
	case errors.Is(err, workorder.ErrUnchanged), errors.Is(err, workorder.ErrNotResolved), errors.Is(err, workorder.ErrNotInvalid):
		writeError(w, http.StatusConflict, err.Error(), "")
	default:
		s.log.Error().Err(err).Str("work_order", id).Msg("work order action")
		writeServerError(w, err, "could not update the work order")
	}
}

// addNote: POST /v1/workorders/{id}/notes {"kind", "text"}; kind is
// customer_statement (the customer's words: searched for the keywords),
// holding_statement or plan.
func (s *server) addNote(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Kind string `json:"kind"`
		Text string `json:"text"`
	}
	s.orderAction(w, r, &b, map[error]string{workorder.ErrUnknownNoteKind: "kind", workorder.ErrEmptyNote: "text"},
		func(ctx context.Context, id, actor string) (*workorder.Order, error) {
			return s.p.Changes.AddNote(ctx, id, b.Kind, b.Text, actor)
		})
}

// setProblemCode: POST /v1/workorders/{id}/problem {"code"}.
func (s *server) setProblemCode(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Code string `json:"code"`
	}
	s.orderAction(w, r, &b, map[error]string{workorder.ErrUnknownProblemCode: "code"},
		func(ctx context.Context, id, actor string) (*workorder.Order, error) {
			return s.p.Changes.SetProblemCode(ctx, id, b.Code, actor)
		})
}

// setProvince: POST /v1/workorders/{id}/province {"province"}.
func (s *server) setProvince(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Province string `json:"province"`
	}
	s.orderAction(w, r, &b, map[error]string{workorder.ErrBadProvince: "province"},
		func(ctx context.Context, id, actor string) (*workorder.Order, error) {
			return s.p.Changes.SetProvince(ctx, id, b.Province, actor)
		})
}

// recordFollowup: POST /v1/workorders/{id}/followup {"result", "reason"}:
// satisfied or basically_satisfied archives the resolved order,
// unsatisfied (reason required) reopens it.
func (s *server) recordFollowup(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Result string `json:"result"`
		Reason string `json:"reason"`
	}
	s.orderAction(w, r, &b, map[error]string{workorder.ErrUnknownFollowup: "result", workorder.ErrReasonRequired: "reason"},
		func(ctx context.Context, id, actor string) (*workorder.Order, error) {
			return s.p.Changes.RecordFollowup(ctx, id, b.Result, b.Reason, actor)
		})
}

// markInvalid: POST /v1/workorders/{id}/invalid {"ground", "note"}.
func (s *server) markInvalid(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Ground string `json:"ground"`
		Note   string `json:"note"`
	}
	s.orderAction(w, r, &b, map[error]string{workorder.ErrUnknownGround: "ground"},
		func(ctx context.Context, id, actor string) (*workorder.Order, error) {
			return s.p.Changes.MarkInvalid(ctx, id, b.Ground, b.Note, actor)
		})
}

// undoInvalid: POST /v1/workorders/{id}/valid {"note"}: a supervisor makes
// an order marked invalid valid again.
func (s *server) undoInvalid(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Note string `json:"note"`
	}
	s.orderAction(w, r, &b, nil, func(ctx context.Context, id, actor string) (*workorder.Order, error) {
		return s.p.Changes.UndoInvalid(ctx, id, b.Note, actor)
	})
}
