// Package workorder holds the work order, its Redis store, and the Service
// that turns a finished IVR walk (or another channel's contact) into a
// classified, stored, published order: a new one, or an urge of the
// customer's open complaint; it counts group complaints and keeps their
// incidents, and reclassifies orders on a supervisor's word.
package workorder

import (
	"regexp"
	"slices"
	"time"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/escalation"
	"github.com/hotlined/hotlined/internal/phone"
)

// Order is a work order; its JSON is the data of every work-order event.
type Order struct {
	ID        string    `json:"id"`
	CallID    string    `json:"call_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// ReceivedAt is when the operator received the contact (a letter, a
	// transfer, an order entered later); the MIIT reply clock counts from
	// it. Equal to CreatedAt for calls.
	ReceivedAt time.Time `json:"received_at,omitzero"`
	// Appeal is the appeal centre's transfer, on appeal-tier orders from
	// a regulator (channel regulator_transfer).
	Appeal        *Appeal `json:"appeal,omitempty"`
	Hotline       string  `json:"hotline"` // the called number; "" for other channels
	Channel       string  `json:"channel,omitempty"`
	Tier          string  `json:"tier"`
	Province      string  `json:"province"`
	Caller        string  `json:"caller"`
	ServiceNumber string  `json:"service_number"`
	IVRPath       string  `json:"ivr_path"`
	Category      string  `json:"category"`
	Subcategory   string  `json:"subcategory"`
	// ProblemCode is the unified complaint code (group.code of
	// configs/problem_codes.yaml): the leaf's default, refined by agents.
	ProblemCode string              `json:"problem_code,omitempty"`
	Class       string              `json:"class"`
	Reasons     []classifier.Reason `json:"reasons"`
	Related     []string            `json:"related"`
	Priority    int                 `json:"priority"`
	// Flags are the order's flags (configs.Flags): escalation_risk,
	// escalation_record, escalated, suspected_group, province_unknown...
	Flags []string `json:"flags"`
	// Exposure of a major complaint's public-opinion risk: threatened or
	// exposed; empty otherwise.
	Exposure  string               `json:"exposure,omitempty"`
	Status    string               `json:"status"`
	Deadlines map[string]time.Time `json:"deadlines"`
	// SLA is the clock of each stage of the order's SLA policy, kept by
	// the escalation planner (ServiceParams.Policies); empty for an order
	// planned with the fixed deadlines of the config.
	SLA   escalation.SLA `json:"sla,omitempty"`
	Valid bool           `json:"valid"`
	// InvalidGround is why an order is not valid (configs.InvalidGrounds).
	InvalidGround string `json:"invalid_ground,omitempty"`
	// Followup is the result of calling the customer back (回访).
	Followup *Followup `json:"followup,omitempty"`
	// FirstContactResolved: archived without another contact or a reopen
	// (一次解决), until a repeat of it comes within the window.
	FirstContactResolved bool   `json:"first_contact_resolved,omitempty"`
	Transfer             string `json:"transfer,omitempty"`
	// Description is the free text the contact brought, in the customer's
	// words; the keywords are searched in it. Personal data: never logged.
	Description string `json:"description,omitempty"`
	// Notes are what agents record on the order: customer statements (the
	// customer's words, searched for the keywords like the description),
	// holding statements and handling plans. Personal data: never logged.
	Notes []Note `json:"notes,omitempty"`
	// Urges counts the contacts about this order while it was open (催办).
	Urges int `json:"urges"`
	// Incidents are the group-complaint incidents the order is a member of,
	// IncidentStates the state of each as last applied to the order.
	Incidents      []string          `json:"incidents,omitempty"`
	IncidentStates map[string]string `json:"incident_states,omitempty"`
	UpdatedAt      time.Time         `json:"updated_at"`
	History        []Change          `json:"history"`
}

// Appeal is an appeal transferred to the operator by a regulator's or a
// consumer body's centre (工信部/通信管理局申诉中心, 12300, 消协).
type Appeal struct {
	Authority  string    `json:"authority"`
	CaseNumber string    `json:"case_number"`
	ReceivedAt time.Time `json:"received_at"` // when the centre received it
	// Deadline is the one the centre set on its transfer: the order's
	// resolve stage is due then (002 branch rules).
	Deadline time.Time `json:"deadline"`
}

// Note is one recorded text on an order.
type Note struct {
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	// Kind is NoteCustomerStatement, NoteHoldingStatement or NotePlan.
	Kind string `json:"kind"`
	Text string `json:"text"`
}

// Note kinds.
const (
	// NoteCustomerStatement: what the customer said, in their words.
	NoteCustomerStatement = "customer_statement"
	// NoteHoldingStatement: the holding statement of a major complaint.
	NoteHoldingStatement = "holding_statement"
	// NotePlan: the handling plan.
	NotePlan = "plan"
)

// NoteKinds lists the note kinds.
var NoteKinds = []string{NoteCustomerStatement, NoteHoldingStatement, NotePlan}

// CustomerWords are the texts in the customer's own words: the description
// and every customer statement, the only texts the keywords are searched in.
func (o *Order) CustomerWords() []string {
	out := []string{o.Description}
	for _, n := range o.Notes {
		if n.Kind == NoteCustomerStatement {
			out = append(out, n.Text)
		}
	}
	return out
}

// HasFlag reports whether o carries flag.
func (o *Order) HasFlag(flag string) bool { return slices.Contains(o.Flags, flag) }

// SetFlag adds flag to o's flags once; it reports whether it was new.
func (o *Order) SetFlag(flag string) bool {
	if o.HasFlag(flag) {
		return false
	}
	o.Flags = append(o.Flags, flag)
	slices.Sort(o.Flags)
	return true
}

// ClearFlag removes flag; it reports whether o had it.
func (o *Order) ClearFlag(flag string) bool {
	n := len(o.Flags)
	o.Flags = slices.DeleteFunc(o.Flags, func(f string) bool { return f == flag })
	return len(o.Flags) != n
}

// Key is the Kafka key of the order's events: the service number, else the
// caller, else the order id, so one customer's events stay in order.
func (o *Order) Key() string {
	switch {
	case o.ServiceNumber != "":
		return o.ServiceNumber
	case o.Caller != "":
		return o.Caller
	}
	return o.ID
}

// Mask hides a phone number for logs: 18912345678 becomes 189****5678. It
// is phone.Mask, kept here for the package's callers.
func Mask(number string) string { return phone.Mask(number) }

var idRe = regexp.MustCompile(`^WO-[0-9]{8}-[A-Z]{2,3}-[0-9]{6,9}$`)

// ValidID reports whether id has the form of a work order id,
// WO-20261123-GD-000123.
func ValidID(id string) bool { return idRe.MatchString(id) }
