package workorder

import (
	"time"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/escalation"
)

// moveFixedTimers is a status change's timer changes without policies:
// the fixed deadlines of the config.
func (s *Service) moveFixedTimers(o *Order, status string, now time.Time, m *Mutation) {
	switch status {
	case configs.StatusAccepted:
		if _, ok := o.Deadlines["register"]; ok {
			m.CancelTimers = append(m.CancelTimers, escalation.TimerID(o.ID, "register"))
		}
	case configs.StatusResolved, configs.StatusArchived:
		for stage := range o.Deadlines {
			m.CancelTimers = append(m.CancelTimers, escalation.TimerID(o.ID, stage))
		}
	case configs.StatusReopened:
		if d, ok := s.deadlines[o.Category]["resolve"]; ok {
			due := now.Add(d.D())
			if o.Deadlines == nil {
				o.Deadlines = map[string]time.Time{}
			}
			o.Deadlines["resolve"] = due
			m.AddTimers = append(m.AddTimers, s.timer(o, "resolve", due))
		}
	}
}

// planInput is what the planner needs of o: its state after the change
// being planned, with the stage clocks and deadlines from before it.
func (s *Service) planInput(o *Order) escalation.PlanInput {
	in := escalation.PlanInput{
		WorkOrderID: o.ID, Key: o.Key(), Class: o.Class, Tier: o.Tier, Province: o.Province,
		Priority: o.Priority, Status: o.Status, SLA: o.SLA, Deadlines: o.Deadlines,
		CreatedAt: o.CreatedAt, ReceivedAt: o.ReceivedAt, Path: statusPath(o),
	}
	if o.Appeal != nil && !o.Appeal.Deadline.IsZero() {
		in.Due = map[string]time.Time{StageResolve: o.Appeal.Deadline}
	}
	return in
}

// StageResolve is the policies' resolve stage, which an appeal centre's
// deadline replaces.
const StageResolve = "resolve"

// statusPath is the statuses o went through since creation, oldest first,
// up to and including its status; the first status, new, is left out
// (nothing starts or ends on it: the stages of creation start on created).
func statusPath(o *Order) []string {
	var path []string
	first := true
	for _, c := range o.History {
		if c.Action != "status" {
			continue
		}
		if first && c.From != "" && c.From != configs.StatusNew {
			path = append(path, c.From) // created in another status (resolved in the IVR)
		}
		first = false
		path = append(path, c.To)
	}
	if first && o.Status != configs.StatusNew {
		path = append(path, o.Status)
	}
	return path
}

// replan re-plans o after a change of its class or priority (Reclassify:
// kept stages keep their clocks, their timers are rewritten with the new
// class and priority) and stores the outcome on o. Nil without policies.
func (s *Service) replan(o *Order, now time.Time) *escalation.Plan {
	if s.policies == nil {
		return nil
	}
	plan := s.policies.Reclassify(s.planInput(o), now)
	o.SLA, o.Deadlines = plan.SLA, plan.Deadlines
	return &plan
}

func (s *Service) timer(o *Order, stage string, due time.Time) escalation.Timer {
	return escalation.Timer{
		ID: escalation.TimerID(o.ID, stage), WorkOrderID: o.ID, Stage: stage, Due: due,
		Key: o.Key(), Class: o.Class, Tier: o.Tier, Province: o.Province, Priority: o.Priority,
	}
}
