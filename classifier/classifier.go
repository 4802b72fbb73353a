// Package classifier decides a work order's class by the operator's rules
// (DOMAIN.md). It is pure: the facts come in, a decision with its reasons
// goes out, and a supervisor can read why.
package classifier

import "fmt"

// Input is what is known about a contact when it is classified.
type Input struct {
	Tier          string
	Category      string // query, consultation, fault_report, complaint
	Subcategory   string
	Caller        string // digits, or "" / "anonymous" when withheld
	ServiceNumber string
	// EscalationTendency: the caller says the media, a regulator or a court
	// is involved (越级倾向), e.g. from a dedicated IVR leaf.
	EscalationTendency bool
}

// Reason is one rule that shaped the decision.
type Reason struct {
	Rule   string `json:"rule"`
	Detail string `json:"detail"`
}

// Decision is the classifier's answer.
type Decision struct {
	Class    string
	Priority int // 1 is the most urgent
	Reasons  []Reason
	Valid    bool
}

// Classes.
const (
	ClassQuery           = "query"
	ClassConsultation    = "consultation"
	ClassFaultReport     = "fault_report"
	ClassComplaint       = "complaint"
	ClassRepeatComplaint = "repeat_complaint"
	ClassMajorComplaint  = "major_complaint"
	ClassGroupComplaint  = "group_complaint"
)

// priorities by class; 1 is the most urgent.
var priorities = map[string]int{
	ClassMajorComplaint:  1,
	ClassGroupComplaint:  1,
	ClassRepeatComplaint: 2,
	ClassComplaint:       2,
	ClassFaultReport:     3,
	ClassConsultation:    4,
	ClassQuery:           4,
}

// Classify applies the rules that need no history: the base category, the
// escalation tendency that makes a complaint major, and validity.
func Classify(in Input) Decision {
	d := Decision{Class: in.Category, Valid: true}
	d.Reasons = append(d.Reasons, Reason{Rule: "base_category",
		Detail: fmt.Sprintf("%s/%s chosen in the IVR", in.Category, in.Subcategory)})

	if in.EscalationTendency && in.Category == ClassComplaint {
		d.Class = ClassMajorComplaint
		d.Reasons = append(d.Reasons, Reason{Rule: "escalation_tendency",
			Detail: "the caller says the media or a regulator is involved"})
	}
	if !isNumber(in.Caller) && !isNumber(in.ServiceNumber) {
		d.Valid = false
		d.Reasons = append(d.Reasons, Reason{Rule: "invalid_anonymous",
			Detail: "anonymous caller and no service number: no way to contact the customer"})
	}
	d.Priority = priorities[d.Class]
	return d
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
