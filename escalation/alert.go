package escalation

import (
	"time"
)

// Alert states.
const (
	StateOpen     = "open"
	StateAcked    = "acked"
	StateResolved = "resolved"
)

// Alert is what a supervisor sees when a deadline nears or passes, or a
// major or group complaint arrives; its JSON is the data of every
// hotline.alert.* event (queue/schemas/alert.schema.json).
//
// The id names the condition, so it is the de-duplication key: a warning
// is one alert (…-resolve-warn80); a breach is one alert that climbs the
// ladder (…-resolve-breach at level 1, then 2, 3, then repeats), each climb
// re-raising it with a higher Step; acknowledging it stops the climb.
type Alert struct {
	ID          string    `json:"id"`
	WorkOrderID string    `json:"work_order_id"`
	Stage       string    `json:"stage"`
	Level       int       `json:"level"`      // 0 for warnings, 1.. for the rungs of the ladder
	LevelName   string    `json:"level_name"` // who is alerted: handling_agent, team_lead, ...
	Severity    string    `json:"severity"`   // warning, breach, major, group
	State       string    `json:"state"`      // open, acked, resolved
	Class       string    `json:"class"`
	Tier        string    `json:"tier"`
	Province    string    `json:"province"`
	Priority    int       `json:"priority"`
	DueAt       time.Time `json:"due_at"`    // when this step of the schedule was due
	RaisedAt    time.Time `json:"raised_at"` // when it was raised
	// Deadline is the stage's deadline (the breach time).
	Deadline time.Time `json:"deadline,omitzero"`
	// Step is the position of this raise on the stage's schedule; a raise
	// at a step not above the stored one is a duplicate.
	Step int `json:"step"`
	// Repeat counts the repeats of the last rung (0 before them).
	Repeat     int       `json:"repeat,omitempty"`
	AckedAt    time.Time `json:"acked_at,omitzero"`
	AckedBy    string    `json:"acked_by,omitempty"`
	AckNote    string    `json:"ack_note,omitempty"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// Cause and Detail say why a system alert was raised (the outbox
	// backlog: kafka_unreachable, no_relay, relay_stalled).
	Cause  string `json:"cause,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// SeverityEscalationRisk is the severity of the upward report of an order
// flagged escalation_risk (越级倾向): raised at once, not a breach.
const SeverityEscalationRisk = "escalation_risk"

// breachAlert is the alert of a timer without a policy (the old form, a
// policy no longer configured, or an alert at once for a flag) reaching its
// deadline: the first rung, the team lead, once, with the timer's severity
// (breach when it names none).
func breachAlert(t Timer, now time.Time) Alert {
	severity := t.Severity
	if severity == "" {
		severity = SeverityBreach
	}
	return Alert{
		ID:          alertID(t.WorkOrderID, t.Stage, max(t.Run, 1), severity),
		WorkOrderID: t.WorkOrderID,
		Stage:       t.Stage,
		Level:       1,
		LevelName:   "team_lead",
		Severity:    severity,
		State:       StateOpen,
		Class:       t.Class,
		Tier:        t.Tier,
		Province:    t.Province,
		Priority:    t.Priority,
		DueAt:       t.Due.In(now.Location()), // the zone of now: the daemon's time_zone
		RaisedAt:    now,
		Deadline:    t.Due.In(now.Location()),
	}
}
