package workorder

import (
	"fmt"
	"strconv"
)

// The notes the daemon writes in an order's history. Change.Note keeps the
// English sentence the API, the log and the Kafka consumers have always
// read; Change.NoteKey and Change.NoteArgs carry the same note as a key and
// its values, so a reader (the pages, api/i18n.go) can say it in its own
// language. One function per kind below makes the sentence and the key
// with its arguments together, so the two cannot drift.

// Keys of the notes the daemon writes (Change.NoteKey) and the arguments
// of each (Change.NoteArgs, by name; "opt" marks one left out when empty).
// Identifier arguments hold the daemon's identifiers (a status, a tier, a
// rule...); free text typed by people or brought by the customer is kept
// as typed.
const (
	// NoteKeyUrge: a contact urged the open order (催办). hotline (opt: the
	// called number; none from other channels), channel (hotline, web,
	// app...), status (the order's when urged), urges (the count, decimal),
	// call (opt: the call id), description (opt: the contact's text, in
	// the customer's words).
	NoteKeyUrge = "urge"
	// NoteKeyEscalated: the customer took the problem to a higher tier; a
	// new order holds it. tier (the new order's), hotline (opt: the number
	// called), order (the new order's id).
	NoteKeyEscalated = "escalated"
	// NoteKeyPublicOpinion: a later contact or statement gave a
	// public-opinion reason. source (NoteSourceUrge or
	// NoteSourceStatement), actor (with a statement: who recorded it),
	// rule (the reason's classifier rule).
	NoteKeyPublicOpinion = "public_opinion_reason"
	// NoteKeyEscalationRisk: likewise an escalation-risk reason; the same
	// arguments.
	NoteKeyEscalationRisk = "escalation_risk_reason"
	// NoteKeyGroupMember: the order is a member of a group-complaint
	// incident. incident (its id), state (opt: the incident's state, given
	// when the membership changed the class; a "group" entry has it in To).
	NoteKeyGroupMember = "group_member"
	// NoteKeyTransferFailed: the call could not reach an agent. reason
	// (TransferBusy, TransferNoAnswer, ..., or the SIP edge's refused_NNN).
	NoteKeyTransferFailed = "transfer_failed"
	// NoteKeyAutoArchived: archived when the follow-up period ended
	// without a reopen. No arguments.
	NoteKeyAutoArchived = "auto_archived"
	// NoteKeyFollowup: the follow-up's result archived or reopened the
	// order. result (FollowupResults), reason (opt: why the customer is
	// unsatisfied, as the agent typed it).
	NoteKeyFollowup = "followup"
	// NoteKeyFCRTakenBack: the order no longer counts as resolved at the
	// first contact: a repeat complaint about it came. repeat (the repeat
	// complaint's order id).
	NoteKeyFCRTakenBack = "fcr_taken_back"
)

// NoteKeys lists the keys of the notes the daemon writes.
var NoteKeys = []string{NoteKeyUrge, NoteKeyEscalated, NoteKeyPublicOpinion, NoteKeyEscalationRisk,
	NoteKeyGroupMember, NoteKeyTransferFailed, NoteKeyAutoArchived, NoteKeyFollowup, NoteKeyFCRTakenBack}

// Sources of a later reason (the source of NoteKeyPublicOpinion and
// NoteKeyEscalationRisk).
const (
	NoteSourceUrge      = "urge"      // the urging contact
	NoteSourceStatement = "statement" // a customer statement an agent recorded
)

// systemNote is one note the daemon writes: its English sentence and its
// key and arguments.
type systemNote struct {
	text string
	key  string
	args map[string]string
}

// with returns c carrying the note n.
func (c Change) with(n systemNote) Change {
	c.Note, c.NoteKey, c.NoteArgs = n.text, n.key, n.args
	return c
}

// noteArgs makes the arguments of a note from name, value pairs, leaving
// out the empty values.
func noteArgs(kv ...string) map[string]string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			m[kv[i]] = kv[i+1]
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// urgeNote: "contact on 10000 while accepted (urge 2), call c-1: still no
// signal"; a contact without a hotline says its channel: "contact by web
// while accepted (urge 1)".
func urgeNote(hotline, channel, status string, urges int, callID, description string) systemNote {
	via := "on " + hotline
	if hotline == "" {
		via = "by " + channel
	}
	text := fmt.Sprintf("contact %s while %s (urge %d)", via, status, urges)
	if callID != "" {
		text += ", call " + callID
	}
	if description != "" {
		text += ": " + description
	}
	return systemNote{text, NoteKeyUrge, noteArgs("hotline", hotline, "channel", channel, "status", status,
		"urges", strconv.Itoa(urges), "call", callID, "description", description)}
}

// escalatedNote: "the customer took the problem to the appeal tier (12300): WO-...".
func escalatedNote(tier, hotline, order string) systemNote {
	return systemNote{fmt.Sprintf("the customer took the problem to the %s tier (%s): %s", tier, hotline, order),
		NoteKeyEscalated, noteArgs("tier", tier, "hotline", hotline, "order", order)}
}

// riskSource is where a later public-opinion or escalation-risk reason
// came from: the urging contact (riskFromUrge), or a customer statement an
// actor recorded (riskFromStatement).
type riskSource struct{ actor string }

// riskFromUrge: the urging contact.
var riskFromUrge = riskSource{}

// riskFromStatement: the customer's statement actor recorded.
func riskFromStatement(actor string) riskSource { return riskSource{actor: actor} }

// riskNote: "the urging contact gives a public-opinion reason: public_opinion_risk",
// "the customer's statement recorded by agent-1 gives an escalation-risk reason: ...";
// key is NoteKeyPublicOpinion or NoteKeyEscalationRisk.
func riskNote(key string, src riskSource, rule string) systemNote {
	who, source := "the urging contact", NoteSourceUrge
	if src != riskFromUrge {
		who, source = "the customer's statement recorded by "+src.actor, NoteSourceStatement
	}
	what := "a public-opinion reason"
	if key == NoteKeyEscalationRisk {
		what = "an escalation-risk reason"
	}
	return systemNote{who + " gives " + what + ": " + rule, key, noteArgs("source", source, "actor", src.actor, "rule", rule)}
}

// groupMemberNote: "member of group complaint GC-..., confirmed"; state ""
// leaves it out.
func groupMemberNote(incident, state string) systemNote {
	text := "member of group complaint " + incident
	if state != "" {
		text += ", " + state
	}
	return systemNote{text, NoteKeyGroupMember, noteArgs("incident", incident, "state", state)}
}

// transferFailedNote: "transfer to an agent failed: busy".
func transferFailedNote(reason string) systemNote {
	return systemNote{"transfer to an agent failed: " + reason, NoteKeyTransferFailed, noteArgs("reason", reason)}
}

// autoArchivedNote: "archived automatically: the follow-up period ended without a reopen".
func autoArchivedNote() systemNote {
	return systemNote{"archived automatically: the follow-up period ended without a reopen", NoteKeyAutoArchived, nil}
}

// fcrTakenBackNote: "no longer resolved at the first contact: repeat complaint WO-...".
func fcrTakenBackNote(repeat string) systemNote {
	return systemNote{"no longer resolved at the first contact: repeat complaint " + repeat, NoteKeyFCRTakenBack,
		noteArgs("repeat", repeat)}
}

// followupNote: "follow-up: satisfied", "follow-up: unsatisfied: <reason>"
// (only an unsatisfied result carries its reason).
func followupNote(result, reason string) systemNote {
	if result != FollowupUnsatisfied {
		reason = ""
	}
	text := "follow-up: " + result
	if reason != "" {
		text += ": " + reason
	}
	return systemNote{text, NoteKeyFollowup, noteArgs("result", result, "reason", reason)}
}
