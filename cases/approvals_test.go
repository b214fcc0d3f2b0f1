package cases_test

import (
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/audit"
	"github.com/apoyo-cdmx/apoyo/cases"
)

// TestSignedRosterList: the pending list an approver signs is the cases
// waiting for the secretariat, minus those the approver enrolled or
// handled; a signature binds to its hash, a changed list is refused, and
// signing again records nothing new.
func TestSignedRosterList(t *testing.T) {
	t.Parallel()
	e := setup(t, 4)
	amount := decimal.RequireFromString("5600.00")
	c, _, err := e.store.CreateCycle(e.ctx, apoyo.Cycle{ProgramID: e.prog, Name: "2026-11", CycleDate: cycleDate, Amount: amount})
	require.NoError(t, err)
	ids := make([]string, 4)
	for i, b := range e.bens {
		ids[i] = apoyo.CaseID(c.ID, b)
		step, waiting := apoyo.StepApproval, []string{"STYFE", "SIBISO"}
		if i == 3 {
			step, waiting = apoyo.StepIdentity, []string{apoyo.WaitingOnCaseworker}
		}
		require.NoError(t, e.store.Save(e.ctx, apoyo.Case{ProgramID: e.prog, CycleID: c.ID, BeneficiaryID: b, Version: 1,
			Step: step, Status: apoyo.CaseWaiting, WaitingOn: waiting}))
	}
	sibiso := apoyo.Identity{UserID: "usr_sib", Name: "sib", Role: apoyo.RoleApprover, Secretariat: apoyo.SIBISO, Via: "token"}

	l, err := e.store.PendingRoster(e.ctx, c.ID, apoyo.SIBISO, sibiso.UserID)
	require.NoError(t, err)
	require.Equal(t, 3, l.Size)
	require.Equal(t, "16800.00", l.Total.StringFixed(2))
	require.Equal(t, ids[:3], []string{l.Lines[0].CaseID, l.Lines[1].CaseID, l.Lines[2].CaseID})
	require.Equal(t, cases.RosterHash(c.ID, apoyo.SIBISO, l.Lines), l.Hash)
	require.Regexp(t, `^[0-9a-f]{64}$`, l.Hash)
	other, err := e.store.PendingRoster(e.ctx, c.ID, apoyo.STyFE, sibiso.UserID)
	require.NoError(t, err)
	require.NotEqual(t, l.Hash, other.Hash, "the secretariat is part of what is signed")

	// A case the approver handled as a caseworker is left out of their list.
	log := audit.New(e.pool)
	_, err = log.Append(e.ctx, apoyo.AuditEntry{ActorID: "usr_h", ActorName: "h", Role: apoyo.RoleCaseworker, Via: "token",
		Action: apoyo.ActInstrumentSet, Targets: []string{ids[1]}, Outcome: apoyo.AuditOK})
	require.NoError(t, err)
	h, err := e.store.PendingRoster(e.ctx, c.ID, apoyo.SIBISO, "usr_h")
	require.NoError(t, err)
	require.Equal(t, 2, h.Size)
	require.Equal(t, 1, h.Excluded)
	// So are the cases of people the approver enrolled.
	_, err = e.pool.Exec(e.ctx, "UPDATE imports SET imported_by = 'usr_enroller'")
	require.NoError(t, err)
	en, err := e.store.PendingRoster(e.ctx, c.ID, apoyo.SIBISO, "usr_enroller")
	require.NoError(t, err)
	require.Zero(t, en.Size)
	require.Equal(t, 3, en.Excluded)

	// Signing: a bad hash, a hash of another list, then the list shown.
	_, _, _, err = e.store.SignRoster(e.ctx, c.ID, sibiso, "xyz")
	require.ErrorIs(t, err, cases.ErrBadHash)
	_, _, _, err = e.store.SignRoster(e.ctx, c.ID, sibiso, other.Hash)
	require.ErrorIs(t, err, cases.ErrListChanged)
	require.Contains(t, err.Error(), l.Hash, "the refusal names the list as it is now")
	rec, signed, resumed, err := e.store.SignRoster(e.ctx, c.ID, sibiso, l.Hash)
	require.NoError(t, err)
	require.False(t, resumed)
	require.Equal(t, ids[:3], signed)
	require.Equal(t, 3, rec.Size)
	require.Equal(t, "16800.00", rec.Total.StringFixed(2))
	require.Equal(t, "sib", rec.ApproverName)
	again, signedAgain, resumed, err := e.store.SignRoster(e.ctx, c.ID, sibiso, l.Hash)
	require.NoError(t, err)
	require.True(t, resumed)
	require.Equal(t, rec.ID, again.ID)
	require.Equal(t, signed, signedAgain)
	// Another approver of the secretariat cannot resume it: the votes
	// would go out as theirs, past their own exclusions, under the first
	// approver's signature.
	other2 := apoyo.Identity{UserID: "usr_sib2", Name: "sib2", Role: apoyo.RoleApprover, Secretariat: apoyo.SIBISO, Via: "token"}
	_, stolen, _, err := e.store.SignRoster(e.ctx, c.ID, other2, l.Hash)
	require.ErrorIs(t, err, cases.ErrListSigned)
	require.Empty(t, stolen)
	recs, err := e.store.RosterApprovals(e.ctx, c.ID)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, l.Hash, recs[0].Hash)

	// A list that changed between showing and signing is refused: case 4
	// arrives at approval after the list was shown.
	require.NoError(t, e.store.Save(e.ctx, apoyo.Case{ProgramID: e.prog, CycleID: c.ID, BeneficiaryID: e.bens[3], Version: 2,
		Step: apoyo.StepApproval, Status: apoyo.CaseWaiting, WaitingOn: []string{"STYFE"}}))
	_, _, _, err = e.store.SignRoster(e.ctx, c.ID, sibiso, other.Hash)
	require.ErrorIs(t, err, cases.ErrListChanged)

	// The records are append-only.
	_, err = e.pool.Exec(e.ctx, "UPDATE roster_approvals SET size = 1")
	require.Error(t, err)
	_, err = e.pool.Exec(e.ctx, "DELETE FROM roster_approval_cases")
	require.Error(t, err)
	_, err = e.pool.Exec(e.ctx, "TRUNCATE roster_approval_cases, roster_approvals")
	require.Error(t, err)
}

// TestListVotesReadsByCase: with tens of thousands of signed lines and
// statistics, the votes of a few cases are read through the index by
// case, not the whole table: the lookup runs once per case a sweep or a
// signature tells, so a whole-table read there is quadratic in the
// cycle's size.
func TestListVotesReadsByCase(t *testing.T) {
	t.Parallel()
	e := setup(t, 0)
	c := e.cycle(t, "2026-11")
	var approval int64
	require.NoError(t, e.pool.QueryRow(e.ctx, `INSERT INTO roster_approvals (cycle_id, secretariat, approver_id, approver_name, list_hash, size, total)
		VALUES ($1, 'SIBISO', 'usr_sib', 'sib', sha256('list'), 20000, 112000000) RETURNING id`, c.ID).Scan(&approval))
	_, err := e.pool.Exec(e.ctx, `INSERT INTO roster_approval_cases (approval_id, case_id, amount)
		SELECT $1, 'case/' || $2 || '/ben_' || lpad(i::text, 16, '0'), 5600 FROM generate_series(1, 20000) i`, approval, c.ID)
	require.NoError(t, err)
	_, err = e.pool.Exec(e.ctx, "ANALYZE roster_approvals, roster_approval_cases")
	require.NoError(t, err)

	ids := []string{"case/" + c.ID + "/ben_0000000000000007", "case/" + c.ID + "/ben_0000000000019000"}
	var plan string
	require.NoError(t, e.pool.QueryRow(e.ctx, "EXPLAIN (FORMAT JSON) "+cases.ListVotesSQL, ids).Scan(&plan))
	require.Contains(t, plan, `"Index Name": "roster_approval_cases_case"`, plan)
	votes, err := e.store.ListVotes(e.ctx, ids)
	require.NoError(t, err)
	require.Len(t, votes, 2)
	require.Equal(t, apoyo.SIBISO, votes[ids[0]][0].Secretariat)
}
