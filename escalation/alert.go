package escalation

import (
	"time"
)

// Alert is what a supervisor sees when a deadline is reached.
type Alert struct {
	ID          string    `json:"id"`
	WorkOrderID string    `json:"work_order_id"`
	Stage       string    `json:"stage"`
	Level       int       `json:"level"`
	LevelName   string    `json:"level_name"`
	Severity    string    `json:"severity"` // warning, breach, major, group
	State       string    `json:"state"`    // open, acked, resolved
	Class       string    `json:"class"`
	Tier        string    `json:"tier"`
	Province    string    `json:"province"`
	Priority    int       `json:"priority"`
	DueAt       time.Time `json:"due_at"`
	RaisedAt    time.Time `json:"raised_at"`
}

// breachAlert is the alert of a timer reaching its deadline: the first rung
// of the ladder, the team lead.
func breachAlert(t Timer, now time.Time) Alert {
	return Alert{
		ID:          "AL-" + t.WorkOrderID + "-" + t.Stage + "-breach",
		WorkOrderID: t.WorkOrderID,
		Stage:       t.Stage,
		Level:       1,
		LevelName:   "team_lead",
		Severity:    "breach",
		State:       "open",
		Class:       t.Class,
		Tier:        t.Tier,
		Province:    t.Province,
		Priority:    t.Priority,
		DueAt:       t.Due,
		RaisedAt:    now,
	}
}
