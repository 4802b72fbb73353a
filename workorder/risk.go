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
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/queue"
)

// Stages of the alerts raised at once for a flag, outside the SLA
// policies' stages.
const (
	// StageReportEscalationRisk: an escalation-risk order is reported
	// upward at once (DOMAIN.md "Escalation tendency"); apart from the
	// policies' report_upward stage of major complaints.
	StageReportEscalationRisk = "report_escalation_risk"
	// StageSetProvince: the province of the company complained about is
	// unknown; an agent must set it before it is counted.
	StageSetProvince = "set_province"
)

// priority is o's priority: its class's, raised by its urges, and at least
// the escalation risk's and record's when flagged.
func (s *Service) priority(o *Order) int {
	p := s.rules.Priority(o.Class, o.Urges)
	if o.HasFlag(configs.FlagEscalationRisk) {
		p = min(p, s.rules.EscalationRisk.Priority)
	}
	if o.HasFlag(configs.FlagEscalationRecord) && slices.Contains(configs.ComplaintClasses, o.Class) {
		p = min(p, s.rules.EscalationRecord.Priority)
	}
	return p
}

// raiseRisks applies what a later text or contact brings to o:
// public-opinion reasons make a complaint major (unless it is a group
// complaint, which ranks above), with the exposure; escalation-risk
// reasons flag it. src says where they came from, for the history. It
// reports whether the class changed.
func (s *Service) raiseRisks(o *Order, major []classifier.Reason, exposure string, risk []classifier.Reason, src riskSource, now time.Time) bool {
	changed := false
	if len(major) > 0 && slices.Contains(configs.ComplaintClasses, o.Class) {
		if o.Class != configs.ClassMajorComplaint && o.Class != configs.ClassGroupComplaint {
			from := o.Class
			o.Class = configs.ClassMajorComplaint
			o.History = append(o.History, Change{At: now, Actor: "classifier", Action: "class", From: from,
				To: o.Class}.with(riskNote(NoteKeyPublicOpinion, src, major[0].Rule)))
			changed = true
		}
		if exposure == configs.ExposureExposed || o.Exposure == "" {
			o.Exposure = exposure
		}
		o.Reasons = append(o.Reasons, major...)
	}
	if len(risk) > 0 && slices.Contains(configs.ComplaintClasses, o.Class) {
		if o.SetFlag(configs.FlagEscalationRisk) {
			o.History = append(o.History, Change{At: now, Actor: "classifier", Action: "flag", To: configs.FlagEscalationRisk}.
				with(riskNote(NoteKeyEscalationRisk, src, risk[0].Rule)))
		}
		o.Reasons = append(o.Reasons, risk...)
	}
	return changed
}

// attentionTimers are the timers of the alerts o's flags raise at once: the
// upward report of an escalation risk, and the call to set an unknown
// province. Their ids name the order and the stage, so adding one again
// changes nothing the supervisor sees.
func (s *Service) attentionTimers(o *Order, now time.Time) []escalation.Timer {
	var out []escalation.Timer
	if o.HasFlag(configs.FlagEscalationRisk) {
		t := s.timer(o, StageReportEscalationRisk, now)
		t.Severity = escalation.SeverityEscalationRisk
		out = append(out, t)
	}
	if o.HasFlag(configs.FlagProvinceUnknown) {
		t := s.timer(o, StageSetProvince, now)
		t.Severity = escalation.SeverityWarning
		out = append(out, t)
	}
	return out
}

// Errors of agents' actions.
var (
	ErrUnknownNoteKind    = errors.New("unknown note kind")
	ErrEmptyNote          = errors.New("the note is empty")
	ErrUnknownProblemCode = errors.New("unknown problem code")
	ErrBadProvince        = errors.New("not a province code")
	// ErrUnchanged: the order has that value already.
	ErrUnchanged = errors.New("the order has that already")
)

// MaxNoteRunes caps one note.
const MaxNoteRunes = 4000

// AddNote records a note on an order by actor: a customer statement (the
// customer's words: searched for the keywords like the description, so it
// may make a complaint major or flag its escalation risk, with
// hotline.workorder.reclassified), a holding statement or a plan. One
// transaction with the order's event. Errors: ErrUnknownNoteKind,
// ErrEmptyNote, ErrReasonRequired (no actor), ErrNotFound.
func (s *Service) AddNote(ctx context.Context, id, kind, text, actor string) (*Order, error) {
	if !slices.Contains(NoteKinds, kind) {
		return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownNoteKind, kind, strings.Join(NoteKinds, ", "))
	}
	text, actor = strings.TrimSpace(text), strings.TrimSpace(actor)
	if text == "" || len([]rune(text)) > MaxNoteRunes {
		return nil, fmt.Errorf("%w (1 to %d characters)", ErrEmptyNote, MaxNoteRunes)
	}
	if actor == "" {
		return nil, ErrReasonRequired
	}
	now := s.now().In(s.loc)
	o, err := s.store.Update(ctx, id, "", func(o *Order) (Mutation, error) {
		o.Notes = append(o.Notes, Note{At: now, Actor: actor, Kind: kind, Text: text})
		o.UpdatedAt = now
		o.History = append(o.History, Change{At: now, Actor: actor, Action: "note", To: kind})
		var m Mutation
		typ := queue.TypeWorkOrderUpdated
		if kind == NoteCustomerStatement {
			major, exposure, risk := s.rules.KeywordReasons(text)
			hadRisk := o.HasFlag(configs.FlagEscalationRisk)
			reclassified := s.raiseRisks(o, major, exposure, risk, riskFromStatement(actor), now)
			if reclassified {
				typ = queue.TypeWorkOrderReclassified
			}
			from := o.Priority
			if o.Priority = s.priority(o); reclassified || o.Priority != from {
				m.Plan = s.replan(o, now) // timers carry class and priority
			}
			if !hadRisk && o.HasFlag(configs.FlagEscalationRisk) {
				m.AddTimers = append(m.AddTimers, s.attentionTimers(o, now)...)
			}
		}
		evs, err := s.events(typ, o, now)
		if err != nil {
			return Mutation{}, err
		}
		m.Events = append(m.Events, evs...)
		return m, nil
	})
	if err != nil {
		return o, err
	}
	s.log.Info().Str("work_order", o.ID).Str("kind", kind).Str("actor", actor).Str("class", o.Class).Msg("note recorded")
	return o, nil
}

// SetProblemCode refines an order's problem code (agents, DESIGN "Agent
// actions"): the code, a history entry and hotline.workorder.updated; a
// countable complaint is then counted under the new code (the old code's
// count stands: counts are never taken back, supervisors verify
// incidents). Errors: ErrUnknownProblemCode, ErrUnchanged when the code is
// the order's already, ErrReasonRequired (no actor), ErrNotFound.
func (s *Service) SetProblemCode(ctx context.Context, id, code, actor string) (*Order, error) {
	if !s.knownProblemCode(code) {
		return nil, fmt.Errorf("%w %q", ErrUnknownProblemCode, code)
	}
	return s.setAndCount(ctx, id, actor, func(o *Order, now time.Time) error {
		if o.ProblemCode == code {
			return fmt.Errorf("%w: problem code %s", ErrUnchanged, code)
		}
		o.History = append(o.History, Change{At: now, Actor: actor, Action: "problem", From: o.ProblemCode, To: code})
		o.ProblemCode = code
		return nil
	})
}

// SetProvince sets the province of the company complained about on an
// order whose province was unknown or wrong (DESIGN "Province"): the
// province, the province_unknown flag cleared (its alert resolved), a
// history entry and hotline.workorder.updated; a countable complaint is
// then counted for group complaints. Errors: ErrBadProvince, ErrUnchanged
// when it is the order's already, ErrReasonRequired, ErrNotFound.
func (s *Service) SetProvince(ctx context.Context, id, province, actor string) (*Order, error) {
	if !configs.ValidProvince(province) || province == s.unknown {
		return nil, fmt.Errorf("%w: %q (two or three upper-case letters, like GD)", ErrBadProvince, province)
	}
	return s.setAndCount(ctx, id, actor, func(o *Order, now time.Time) error {
		if o.Province == province {
			return fmt.Errorf("%w: province %s", ErrUnchanged, province)
		}
		o.History = append(o.History, Change{At: now, Actor: actor, Action: "province", From: o.Province, To: province})
		o.Province = province
		o.ClearFlag(configs.FlagProvinceUnknown)
		return nil
	})
}

// setAndCount applies change to order id in one transaction with its
// updated event, its timers re-planned (they carry the province), the
// set_province alert timer cancelled once the province is known; then
// counts the order for group complaints.
func (s *Service) setAndCount(ctx context.Context, id, actor string, change func(*Order, time.Time) error) (*Order, error) {
	if strings.TrimSpace(actor) == "" {
		return nil, ErrReasonRequired
	}
	now := s.now().In(s.loc)
	o, err := s.store.Update(ctx, id, "", func(o *Order) (Mutation, error) {
		if err := change(o, now); err != nil {
			return Mutation{}, err
		}
		o.UpdatedAt = now
		var m Mutation
		m.Plan = s.replan(o, now)
		if !o.HasFlag(configs.FlagProvinceUnknown) {
			m.CancelTimers = append(m.CancelTimers, escalation.TimerID(o.ID, StageSetProvince))
		}
		evs, err := s.events(queue.TypeWorkOrderUpdated, o, now)
		if err != nil {
			return Mutation{}, err
		}
		m.Events = append(m.Events, evs...)
		return m, nil
	})
	if err != nil {
		return o, err
	}
	s.log.Info().Str("work_order", o.ID).Str("province", o.Province).Str("problem_code", o.ProblemCode).Str("actor", actor).Msg("work order updated")
	if err := s.countLater(ctx, o); err != nil {
		s.log.Warn().Err(err).Str("work_order", o.ID).Msg("group complaint left to the reconciler")
	}
	return s.store.Get(ctx, o.ID)
}

// knownProblemCode reports whether code is in the table (any well-formed
// code without one).
func (s *Service) knownProblemCode(code string) bool {
	if s.problemCodes == nil {
		return configs.ValidProblemCode(code)
	}
	_, ok := s.problemCodes.Lookup(code)
	return ok
}

// countLater counts a stored order for group complaints now (its province
// or problem code became known after its creation): a raised incident is
// announced and alerted on it, and its state applied to every member.
func (s *Service) countLater(ctx context.Context, o *Order) error {
	if o.Province == s.unknown || !classifier.Countable(o.Category, o.Province, o.ProblemCode, o.Valid) {
		return nil
	}
	now := s.now().In(s.loc)
	windows := s.rules.GroupWindows(o.Tier, o.Province, o.ProblemCode, o.Subcategory, now, s.loc)
	counts, err := s.groups.Count(ctx, o.ID, now, windows)
	if err != nil {
		return err
	}
	var errs []error
	for i, gc := range counts {
		if gc.Incident == nil {
			continue
		}
		w := windows[i]
		w.Period = gc.Incident.Period
		inc, err := s.groups.Incident(ctx, w)
		if err != nil || inc == nil {
			errs = append(errs, err)
			continue
		}
		err = s.joinStored(ctx, o.ID, inc, w, now, gc.Raised)
		if err == nil || errors.Is(err, errNoChange) {
			err = s.groups.Settle(ctx, w, Settlement{Settled: []string{o.ID}, Announced: gc.Raised})
		}
		if err == nil && gc.Raised {
			err = s.reconcile(ctx, w)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
