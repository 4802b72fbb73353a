// Package workorder holds the work order, its Redis store, and the Service
// that turns a finished IVR walk (or another channel's contact) into a
// classified, stored, published order: a new one, or an urge of the
// customer's open complaint; it counts group complaints and keeps their
// incidents, and reclassifies orders on a supervisor's word.
package workorder

import (
	"regexp"
	"time"

	"github.com/hotlined/hotlined/classifier"
	"github.com/hotlined/hotlined/escalation"
)

// Order is a work order; its JSON is the data of every work-order event.
type Order struct {
	ID            string               `json:"id"`
	CallID        string               `json:"call_id,omitempty"`
	CreatedAt     time.Time            `json:"created_at"`
	Hotline       string               `json:"hotline"` // the called number; "" for other channels
	Channel       string               `json:"channel,omitempty"`
	Tier          string               `json:"tier"`
	Province      string               `json:"province"`
	Caller        string               `json:"caller"`
	ServiceNumber string               `json:"service_number"`
	IVRPath       string               `json:"ivr_path"`
	Category      string               `json:"category"`
	Subcategory   string               `json:"subcategory"`
	Class         string               `json:"class"`
	Reasons       []classifier.Reason  `json:"reasons"`
	Related       []string             `json:"related"`
	Priority      int                  `json:"priority"`
	Status        string               `json:"status"`
	Deadlines     map[string]time.Time `json:"deadlines"`
	// SLA is the clock of each stage of the order's SLA policy, kept by
	// the escalation planner (ServiceParams.Policies); empty for an order
	// planned with the fixed deadlines of the config.
	SLA      escalation.SLA `json:"sla,omitempty"`
	Valid    bool           `json:"valid"`
	Transfer string         `json:"transfer,omitempty"`
	// Description is the free text the contact brought (a channel's
	// description, the agent's notes); the major-complaint keywords are
	// searched in it. Personal data: never logged.
	Description string `json:"description,omitempty"`
	// Urges counts the contacts about this order while it was open (催办).
	Urges int `json:"urges"`
	// Incidents are the group-complaint incidents the order is a member of.
	Incidents []string  `json:"incidents,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	History   []Change  `json:"history"`
}

// Statuses.
const (
	StatusNew      = "new"
	StatusResolved = "resolved"
)

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

// Mask hides the middle of a phone number for logs: 18912345678 becomes
// 189****5678. Short or empty values are masked whole.
func Mask(number string) string {
	if len(number) < 8 {
		if number == "" {
			return ""
		}
		return "****"
	}
	return number[:3] + "****" + number[len(number)-4:]
}

var idRe = regexp.MustCompile(`^WO-[0-9]{8}-[A-Z]{2,3}-[0-9]{6,15}$`)

// ValidID reports whether id has the form of a work order id,
// WO-20261123-GD-5025600013 (second of the day, then the counter; see
// Store.NextID), or the older WO-20261123-GD-000123.
func ValidID(id string) bool { return idRe.MatchString(id) }
