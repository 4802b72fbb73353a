package configs

import (
	"regexp"
	"slices"
)

// The vocabulary of the hotline (DOMAIN.md, DESIGN.md "Work order"): the
// one list of each kind of name that the config, the classifier, the
// planner, the store and the API check against.

// Tiers of a hotline, lowest first: a contact on a higher tier than an open
// order's is an escalation, never an urge (DOMAIN.md "Urge, not a new
// order").
const (
	TierProvince = "province"
	TierGroup    = "group"
	TierAppeal   = "appeal"
)

// Tiers are the hotline tiers, lowest first.
var Tiers = []string{TierProvince, TierGroup, TierAppeal}

// TierRank is a tier's place in Tiers (province 0, group 1, appeal 2); -1
// for a name that is not a tier.
func TierRank(tier string) int { return slices.Index(Tiers, tier) }

// Base categories, what the IVR leaf or the channel says the contact is.
const (
	CategoryQuery        = "query"
	CategoryConsultation = "consultation"
	CategoryFaultReport  = "fault_report"
	CategoryComplaint    = "complaint"
)

// Categories are the base categories a leaf may name.
var Categories = []string{CategoryQuery, CategoryConsultation, CategoryFaultReport, CategoryComplaint}

// Classes of a work order (DOMAIN.md "The classes").
const (
	ClassQuery           = CategoryQuery
	ClassConsultation    = CategoryConsultation
	ClassFaultReport     = CategoryFaultReport
	ClassComplaint       = CategoryComplaint
	ClassRepeatComplaint = "repeat_complaint"
	ClassMajorComplaint  = "major_complaint"
	ClassGroupComplaint  = "group_complaint"
)

// Classes are the work-order classes, least severe first.
var Classes = []string{ClassQuery, ClassConsultation, ClassFaultReport, ClassComplaint,
	ClassRepeatComplaint, ClassMajorComplaint, ClassGroupComplaint}

// ClassSeverity ranks the classes for reclassification (DESIGN, agent
// actions: an agent may raise severity, towards major; only a supervisor
// may lower it): query and consultation 0, fault report 1, complaint 2,
// repeat 3, group 4, major 5.
var ClassSeverity = map[string]int{
	ClassQuery: 0, ClassConsultation: 0, ClassFaultReport: 1, ClassComplaint: 2,
	ClassRepeatComplaint: 3, ClassGroupComplaint: 4, ClassMajorComplaint: 5,
}

// ComplaintClasses are the classes of a complaint order.
var ComplaintClasses = []string{ClassComplaint, ClassRepeatComplaint, ClassMajorComplaint, ClassGroupComplaint}

// Statuses of a work order.
const (
	StatusNew             = "new"
	StatusAccepted        = "accepted"
	StatusInProgress      = "in_progress"
	StatusPendingCustomer = "pending_customer"
	StatusResolved        = "resolved"
	StatusArchived        = "archived"
	StatusReopened        = "reopened"
)

// Statuses lists every status in the order of handling.
var Statuses = []string{StatusNew, StatusAccepted, StatusInProgress, StatusPendingCustomer, StatusResolved,
	StatusArchived, StatusReopened}

// OpenStatuses are the statuses of an order still being handled.
var OpenStatuses = []string{StatusNew, StatusAccepted, StatusInProgress, StatusPendingCustomer, StatusReopened}

// Flags an order may carry (DESIGN.md "Work order, new fields").
const (
	// FlagEscalationRisk: the customer mentions the regulator, 12300, the
	// consumer association, a lawyer or a court (越级倾向).
	FlagEscalationRisk = "escalation_risk"
	// FlagEscalationRecord: the customer went over the operator's head
	// recently (越级投诉记录).
	FlagEscalationRecord = "escalation_record"
	// FlagEscalated: the customer escalated this open order to a higher
	// tier; the new order is related to it.
	FlagEscalated = "escalated"
	// FlagSuspectedGroup: a member of a group-complaint incident not yet
	// confirmed.
	FlagSuspectedGroup  = "suspected_group"
	FlagBatch           = "batch"
	FlagProvinceUnknown = "province_unknown"
	FlagTransferFailed  = "transfer_failed"
	// FlagFirstContact: an appeal about a problem the operator has no
	// complaint of (首诉): the customer went to the regulator first.
	FlagFirstContact = "first_contact"
)

// Flags lists every flag.
var Flags = []string{FlagEscalationRisk, FlagEscalationRecord, FlagEscalated, FlagSuspectedGroup,
	FlagBatch, FlagProvinceUnknown, FlagTransferFailed, FlagFirstContact}

// Exposure of a major complaint's public-opinion risk.
const (
	ExposureThreatened = "threatened"
	ExposureExposed    = "exposed"
)

// Invalid-complaint grounds (DOMAIN.md "Invalid complaint").
var InvalidGrounds = []string{"anonymous", "not_concrete", "unreachable", "outside_operator", "outside_telecom"}

var provinceRe = regexp.MustCompile(`^[A-Z]{2,3}$`)

// ValidProvince reports whether s has the form of a province code: two or
// three upper-case letters (GD, BJ; XX for unknown).
func ValidProvince(s string) bool { return provinceRe.MatchString(s) }
