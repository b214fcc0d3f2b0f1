package activities_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

func rulesByName(rs []apoyo.RuleOutcome) map[string]apoyo.RuleOutcome {
	m := map[string]apoyo.RuleOutcome{}
	for _, r := range rs {
		m[r.Rule] = r
	}
	return m
}

func TestScreenCURPVerifiedAndEligible(t *testing.T) {
	f := newFixture(t, options{people: []person{{name: "Ana", clabe: goodCLABE, needs: "employment;health"}}})
	in := f.screenIn("Ana")
	in.Required = []apoyo.Secretariat{apoyo.STyFE, apoyo.SIBISO}
	res, err := f.act.Screen(f.ctx, in)
	require.NoError(t, err)
	require.Equal(t, apoyo.IdentityVerified, res.Identity)
	require.Contains(t, res.IdentityReason, "CURP")
	require.True(t, res.Eligible)
	require.Len(t, res.Rules, 5)
	for _, r := range res.Rules {
		require.True(t, r.Passed, r.Rule)
	}
	require.Len(t, res.Referrals, 2)
	require.Equal(t, "employment", res.Referrals[0].Need)
	require.Equal(t, "health", res.Referrals[1].Need)

	proj, err := f.cases.Case(f.ctx, apoyo.CaseID(f.cycle.ID, f.id("Ana")))
	require.NoError(t, err)
	require.Equal(t, apoyo.StepApproval, proj.Step)
	require.Equal(t, apoyo.CaseStatus("waiting"), proj.Status)
	require.Equal(t, []string{string(apoyo.STyFE), string(apoyo.SIBISO)}, proj.WaitingOn)
	require.Empty(t, proj.Outcome)
}

func TestScreenDocumentNeedsReviewOnce(t *testing.T) {
	f := newFixture(t, options{people: []person{
		{name: "Beto", method: apoyo.RailCashPickup, docType: apoyo.DocTVRH, docNumber: "TVRH99887766"},
	}})
	caseID := apoyo.CaseID(f.cycle.ID, f.id("Beto"))
	for range 2 { // an activity retry
		res, err := f.act.Screen(f.ctx, f.screenIn("Beto"))
		require.NoError(t, err)
		require.Equal(t, apoyo.IdentityNeedsReview, res.Identity)
		require.False(t, res.Eligible)
		require.Empty(t, res.Rules, "eligibility waits for identity")
	}
	proj, err := f.cases.Case(f.ctx, caseID)
	require.NoError(t, err)
	require.Equal(t, apoyo.StepIdentity, proj.Step)
	require.Equal(t, apoyo.CaseStatus("waiting"), proj.Status)
	require.Equal(t, []string{"caseworker"}, proj.WaitingOn)
	tasks, err := f.cases.OpenTasks(f.ctx, f.cycle.ID, 0)
	require.NoError(t, err)
	require.Len(t, tasks, 1, "one identity_review task, however often Screen runs")
	require.Equal(t, apoyo.TaskKind("identity_review"), tasks[0].Kind)
	require.Equal(t, caseID, tasks[0].CaseID)

	// The caseworker verified the document: Screen skips identity, finds
	// the person eligible and closes the task.
	in := f.screenIn("Beto")
	in.SkipIdentity, in.Version = true, 5
	res, err := f.act.Screen(f.ctx, in)
	require.NoError(t, err)
	require.Equal(t, apoyo.IdentityVerified, res.Identity)
	require.True(t, res.Eligible)
	tasks, err = f.cases.OpenTasks(f.ctx, f.cycle.ID, 0)
	require.NoError(t, err)
	require.Empty(t, tasks)
}

func TestScreenSharedCLABENeedsReview(t *testing.T) {
	shared := sandbox.CLABE("555")
	f := newFixture(t, options{people: []person{{name: "Caro", clabe: shared}, {name: "Dani", clabe: shared}}})
	for _, n := range []string{"Caro", "Dani"} {
		res, err := f.act.Screen(f.ctx, f.screenIn(n))
		require.NoError(t, err)
		require.Equal(t, apoyo.IdentityNeedsReview, res.Identity, n)
		require.Contains(t, res.IdentityReason, "CLABE")
	}
}

func TestScreenEligibility(t *testing.T) {
	f := newFixture(t, options{people: []person{
		{name: "Menor", method: apoyo.RailCashPickup, birth: cycleDate.AddDate(-18, 0, 1)}, // 18 the day after
		{name: "Justo", method: apoyo.RailCashPickup, birth: cycleDate.AddDate(-18, 0, 0)}, // 18 on the day
		{name: "Pagada", clabe: goodCLABE},
	}})

	res, err := f.act.Screen(f.ctx, f.screenIn("Menor"))
	require.NoError(t, err)
	require.Equal(t, apoyo.IdentityVerified, res.Identity)
	require.False(t, res.Eligible)
	rules := rulesByName(res.Rules)
	require.False(t, rules["age"].Passed)
	require.Equal(t, "17 on the cycle date, minimum 18", rules["age"].Reason)
	require.True(t, rules["alcaldia"].Passed)
	proj, err := f.cases.Case(f.ctx, apoyo.CaseID(f.cycle.ID, f.id("Menor")))
	require.NoError(t, err)
	require.Equal(t, apoyo.StepDone, proj.Step)
	require.Equal(t, apoyo.OutcomeIneligible, proj.Outcome)
	require.Contains(t, proj.Reason, "age: 17 on the cycle date")

	res, err = f.act.Screen(f.ctx, f.screenIn("Justo"))
	require.NoError(t, err)
	require.True(t, res.Eligible, "%+v", res.Rules)

	// Paid in this cycle: screening again (a relaunch) finds it.
	f.screen("Pagada")
	pay, err := f.act.Disburse(f.ctx, f.disburseIn("Pagada", 1))
	require.NoError(t, err)
	require.True(t, pay.Paid())
	res, err = f.act.Screen(f.ctx, f.screenIn("Pagada"))
	require.NoError(t, err)
	require.False(t, res.Eligible)
	rules = rulesByName(res.Rules)
	require.False(t, rules["not_already_paid"].Passed)
	require.Equal(t, "already paid in this cycle", rules["not_already_paid"].Reason)
	for _, r := range []string{"age", "alcaldia", "population_group", "consent"} {
		require.True(t, rules[r].Passed, r)
	}
	// The older Screen's projection does not overwrite the paid case's.
	proj, err = f.cases.Case(f.ctx, apoyo.CaseID(f.cycle.ID, f.id("Pagada")))
	require.NoError(t, err)
	require.Equal(t, apoyo.OutcomeCompleted, proj.Outcome)
	f.verifyLedger()
}

func TestScreenAlcaldiaRestricted(t *testing.T) {
	f := newFixture(t, options{alcaldias: []string{"Coyoacán", "Tlalpan"}, people: []person{
		{name: "Fuera", method: apoyo.RailCashPickup, alcaldia: "Iztapalapa"},
		{name: "Dentro", method: apoyo.RailCashPickup, alcaldia: "Tlalpan"},
	}})
	res, err := f.act.Screen(f.ctx, f.screenIn("Fuera"))
	require.NoError(t, err)
	require.False(t, res.Eligible)
	rules := rulesByName(res.Rules)
	require.False(t, rules["alcaldia"].Passed)
	require.Equal(t, "lives in Iztapalapa", rules["alcaldia"].Reason)
	require.True(t, rules["age"].Passed)

	res, err = f.act.Screen(f.ctx, f.screenIn("Dentro"))
	require.NoError(t, err)
	require.True(t, res.Eligible, "%+v", res.Rules)
}

func TestRecordRaisesTaskOnce(t *testing.T) {
	f := newFixture(t, options{people: []person{{name: "Gabo", method: apoyo.RailCashPickup}}})
	caseID := apoyo.CaseID(f.cycle.ID, f.id("Gabo"))
	st := apoyo.CaseState{CaseID: caseID, Version: 7, Step: apoyo.StepApproval, Status: "waiting", WaitingOn: []string{"STyFE"},
		Overdue: true, Reason: "approval overdue"}
	in := workflows.RecordInput{ProgramID: f.prog.ID, CycleID: f.cycle.ID, BeneficiaryID: f.id("Gabo"), State: st, Task: "approval_overdue"}
	require.NoError(t, f.act.Record(f.ctx, in))
	require.NoError(t, f.act.Record(f.ctx, in))
	tasks, err := f.cases.OpenTasks(f.ctx, f.cycle.ID, 0)
	require.NoError(t, err)
	require.Len(t, tasks, 1)
	require.Equal(t, apoyo.TaskKind("approval_overdue"), tasks[0].Kind)
	proj, err := f.cases.Case(f.ctx, caseID)
	require.NoError(t, err)
	require.True(t, proj.Overdue)
	require.Equal(t, int64(7), proj.Version)
	require.NotNil(t, proj.State)
	require.Equal(t, caseID, proj.State.CaseID)
}
