package workorder

import (
	"maps"
	"slices"
	"testing"
)

// Each note the daemon writes keeps the English sentence consumers have
// always read, and carries its key with the values the sentence holds.
func TestSystemNotes(t *testing.T) {
	for _, c := range []struct {
		got  systemNote
		text string
		key  string
		args map[string]string
	}{
		{urgeNote("10000", "hotline", "in_progress", 2, "call-2", "还是没退款"),
			"contact on 10000 while in_progress (urge 2), call call-2: 还是没退款", NoteKeyUrge,
			map[string]string{"hotline": "10000", "channel": "hotline", "status": "in_progress", "urges": "2", "call": "call-2", "description": "还是没退款"}},
		{urgeNote("", "web", "accepted", 1, "", ""),
			"contact by web while accepted (urge 1)", NoteKeyUrge,
			map[string]string{"channel": "web", "status": "accepted", "urges": "1"}},
		{escalatedNote("appeal", "12300", "WO-20261110-GD-3960000001"),
			"the customer took the problem to the appeal tier (12300): WO-20261110-GD-3960000001", NoteKeyEscalated,
			map[string]string{"tier": "appeal", "hotline": "12300", "order": "WO-20261110-GD-3960000001"}},
		{riskNote(NoteKeyPublicOpinion, riskFromUrge, "public_opinion_risk"),
			"the urging contact gives a public-opinion reason: public_opinion_risk", NoteKeyPublicOpinion,
			map[string]string{"source": "urge", "rule": "public_opinion_risk"}},
		{riskNote(NoteKeyEscalationRisk, riskFromStatement("agent:28aec4d4"), "escalation_tendency"),
			"the customer's statement recorded by agent:28aec4d4 gives an escalation-risk reason: escalation_tendency", NoteKeyEscalationRisk,
			map[string]string{"source": "statement", "actor": "agent:28aec4d4", "rule": "escalation_tendency"}},
		{groupMemberNote("GC-20261111-GD-billing.charge_dispute", "confirmed"),
			"member of group complaint GC-20261111-GD-billing.charge_dispute, confirmed", NoteKeyGroupMember,
			map[string]string{"incident": "GC-20261111-GD-billing.charge_dispute", "state": "confirmed"}},
		{groupMemberNote("GC-20261111-GD-billing.charge_dispute", ""),
			"member of group complaint GC-20261111-GD-billing.charge_dispute", NoteKeyGroupMember,
			map[string]string{"incident": "GC-20261111-GD-billing.charge_dispute"}},
		{transferFailedNote(TransferNoAnswer), "transfer to an agent failed: no_answer", NoteKeyTransferFailed,
			map[string]string{"reason": "no_answer"}},
		{autoArchivedNote(), "archived automatically: the follow-up period ended without a reopen", NoteKeyAutoArchived, nil},
		{fcrTakenBackNote("WO-20261205-GD-8639900001"), "no longer resolved at the first contact: repeat complaint WO-20261205-GD-8639900001",
			NoteKeyFCRTakenBack, map[string]string{"repeat": "WO-20261205-GD-8639900001"}},
		{followupNote(FollowupSatisfied, "ignored: satisfied"), "follow-up: satisfied", NoteKeyFollowup,
			map[string]string{"result": "satisfied"}},
		{followupNote(FollowupUnsatisfied, "退款少了20元"), "follow-up: unsatisfied: 退款少了20元", NoteKeyFollowup,
			map[string]string{"result": "unsatisfied", "reason": "退款少了20元"}},
	} {
		if c.got.text != c.text || c.got.key != c.key || !maps.Equal(c.got.args, c.args) {
			t.Errorf("got %q %s %v\nwant %q %s %v", c.got.text, c.got.key, c.got.args, c.text, c.key, c.args)
		}
		if !slices.Contains(NoteKeys, c.got.key) {
			t.Errorf("NoteKeys lacks %s", c.got.key)
		}
		ch := Change{Action: "x", Note: "typed"}.with(c.got)
		if ch.Note != c.text || ch.NoteKey != c.key || !maps.Equal(ch.NoteArgs, c.args) {
			t.Errorf("with: %+v", ch)
		}
	}
}
