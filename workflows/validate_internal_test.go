package workflows

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
)

// A vote that arrives while screening's result is still on its way to the
// run (the case at identity or eligibility, running) is refused as early
// by one task, so that its sender may send it again a moment later; a vote
// for a case waiting on a caseworker, or past approval, is refused for
// good. The refusal carries its reason and code to the caller.
func TestVoteRefusalsSayWhetherToWait(t *testing.T) {
	t.Parallel()
	c := &caseRun{rules: withDefaults(CaseRules{}), st: apoyo.CaseState{Votes: map[apoyo.Secretariat]apoyo.ApprovalVote{}}}
	vote := apoyo.ApprovalVote{Secretariat: apoyo.SIBISO, Approve: true}
	validate := refusing(c.validateVote)
	for _, tc := range []struct {
		step   apoyo.Step
		status apoyo.CaseStatus
		reason string
	}{
		{apoyo.StepIdentity, apoyo.CaseRunning, ReasonCatchingUp},
		{apoyo.StepEligibility, apoyo.CaseRunning, ReasonCatchingUp},
		{apoyo.StepIdentity, apoyo.CaseWaiting, "case.not_awaiting_approval"},
		{apoyo.StepPayment, apoyo.CaseRunning, "case.not_awaiting_approval"},
		{apoyo.StepApproval, apoyo.CaseWaiting, ""},
	} {
		c.st.Step, c.st.Status = tc.step, tc.status
		err := validate(vote)
		if tc.reason == "" {
			require.NoError(t, err)
			continue
		}
		r := Refusal(err)
		require.NotNil(t, r, "%s/%s: %v", tc.step, tc.status, err)
		require.Equal(t, tc.reason, r.Reason, "%s/%s", tc.step, tc.status)
		require.Equal(t, apoyo.ECONFLICT, r.Code)
		require.Contains(t, r.Message, string(tc.step))
	}
	require.Nil(t, Refusal(nil))

	// The same for an identity decision while screening's result is on its
	// way, and a referral outcome while the payment's is.
	c.st.Step, c.st.Status = apoyo.StepIdentity, apoyo.CaseRunning
	require.Equal(t, ReasonCatchingUp, Refusal(refusing(c.validateIdentityDecision)(IdentityDecision{Decision: "verified"})).Reason)
	c.st.Status = apoyo.CaseWaiting
	require.NoError(t, refusing(c.validateIdentityDecision)(IdentityDecision{Decision: "verified"}))
	// After a caseworker's new_document, a running case is checking the
	// new document: a decision now is stale, refused for good.
	c.st.Status = apoyo.CaseRunning
	c.st.Timeline = []apoyo.Event{{Step: apoyo.StepIdentity, Outcome: "new_document", Actor: "caseworker"}}
	require.Equal(t, "case.not_awaiting_identity", Refusal(refusing(c.validateIdentityDecision)(IdentityDecision{Decision: "verified"})).Reason)
	c.st.Step, c.st.Status = apoyo.StepPayment, apoyo.CaseRunning
	in := ReferralOutcomeInput{ReferralID: "ref-1", Outcome: apoyo.ReferralAttended}
	require.Equal(t, ReasonCatchingUp, Refusal(refusing(c.validateReferralOutcome)(in)).Reason)
	c.st.Step, c.st.Status = apoyo.StepDone, apoyo.CaseDone
	require.Equal(t, "case.not_in_referrals", Refusal(refusing(c.validateReferralOutcome)(in)).Reason)
}

// While an order is at the bank (the case at payment, waiting on the
// bank), a new payment instrument is refused for good: it would not reach
// the order already sent. A referral's outcome is refused as early, since
// the bank's final answer opens the referrals in the projection just
// before the case hears of it. Once the payment failed and the case waits
// on a caseworker, the instrument is what it waits for.
func TestNoInstrumentWhileTheBankDecides(t *testing.T) {
	t.Parallel()
	c := &caseRun{rules: withDefaults(CaseRules{}), st: apoyo.CaseState{Step: apoyo.StepPayment, Status: apoyo.CaseWaiting,
		WaitingOn: []string{apoyo.WaitingOnBank}, Referrals: []apoyo.Referral{{ID: "ref-1"}}}}
	r := Refusal(refusing(c.validateInstrument)(InstrumentChange{Rail: apoyo.RailSPEI}))
	require.NotNil(t, r)
	require.Equal(t, "case.not_awaiting_instrument", r.Reason)
	require.Contains(t, r.Message, apoyo.WaitingOnBank)
	in := ReferralOutcomeInput{ReferralID: "ref-1", Outcome: apoyo.ReferralAttended}
	require.Equal(t, ReasonCatchingUp, Refusal(refusing(c.validateReferralOutcome)(in)).Reason)

	c.st.WaitingOn = []string{apoyo.WaitingOnCaseworker}
	require.NoError(t, refusing(c.validateInstrument)(InstrumentChange{Rail: apoyo.RailSPEI}))
}
