package app_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/app"
	"github.com/apoyo-cdmx/apoyo/audit"
	"github.com/apoyo-cdmx/apoyo/enrolment"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
)

// recorder is the application core's stand-in where only whether a call
// got through matters (pure authorization tests); every method it does
// not define would panic, so a test calls only these.
type recorder struct {
	apoyo.Service
	mu    sync.Mutex
	calls []string
}

func (r *recorder) got(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, name)
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *recorder) Vote(_ context.Context, who apoyo.Identity, id string, v apoyo.VoteRequest) (apoyo.CaseState, error) {
	r.got("Vote " + id + " " + string(who.Secretariat))
	return apoyo.CaseState{CaseID: id}, nil
}
func (r *recorder) ApproveRoster(_ context.Context, who apoyo.Identity, id, hash string) (apoyo.RosterApproval, error) {
	r.got("ApproveRoster " + id + " " + string(who.Secretariat))
	return apoyo.RosterApproval{CycleID: id, Secretariat: who.Secretariat, Hash: hash}, nil
}
func (r *recorder) LaunchCycle(context.Context, apoyo.Identity, apoyo.LaunchRequest) (apoyo.LaunchResult, error) {
	r.got("LaunchCycle")
	return apoyo.LaunchResult{}, nil
}
func (r *recorder) SetPaymentInstrument(context.Context, apoyo.Identity, string, apoyo.InstrumentRequest) (apoyo.CaseState, error) {
	r.got("SetPaymentInstrument")
	return apoyo.CaseState{}, nil
}
func (r *recorder) RetryStep(context.Context, apoyo.Identity, string, string) (apoyo.CaseState, error) {
	r.got("RetryStep")
	return apoyo.CaseState{}, nil
}

// sodFixture is a real database with two beneficiaries, one enrolled by
// ana (then a programme manager), and the audit log.
type sodFixture struct {
	db    *pgtest.DB
	log   *audit.Log
	next  *recorder
	svc   apoyo.Service
	anas  string // case of the person ana enrolled
	other string // case of the other person
}

func newSoD(t *testing.T) *sodFixture {
	t.Helper()
	ctx := context.Background()
	db := pgtest.New(t)
	_, err := db.Pool.Exec(ctx, `INSERT INTO programs (id, name, currency, benefit_amount, config) VALUES ('prg_sodsodsodsodsods', 'SoD', 'MXN', 5600, '{}');
		INSERT INTO imports (id, program_id, imported_by) VALUES ('imp_aaaaaaaaaaaaaaaa', 'prg_sodsodsodsodsods', 'usr_ana'),
			('imp_bbbbbbbbbbbbbbbb', 'prg_sodsodsodsodsods', 'usr_other');
		INSERT INTO beneficiaries (id, program_id, birth_date, sex, nationality, population_group, alcaldia, payment_method, consent,
			given_names, first_surname, key_id, import_id) VALUES
			('ben_anaaaaaaaaaaaaaa', 'prg_sodsodsodsodsods', '1990-01-01', 'M', 'HND', 'migrant', 'Tlalpan', 'spei', true, '\x00', '\x00', 'k', 'imp_aaaaaaaaaaaaaaaa'),
			('ben_othrrrrrrrrrrrrr', 'prg_sodsodsodsodsods', '1990-01-01', 'M', 'HND', 'migrant', 'Tlalpan', 'spei', true, '\x00', '\x00', 'k', 'imp_bbbbbbbbbbbbbbbb')`)
	require.NoError(t, err)
	log := audit.New(db.Pool)
	next := &recorder{}
	enrol := enrolment.NewStore(db.Pool, nil, nil)
	return &sodFixture{db: db, log: log, next: next, svc: app.NewAudited(log, app.NewAuthorized(next, log, enrol)),
		anas: apoyo.CaseID("cyc_sod", "ben_anaaaaaaaaaaaaaa"), other: apoyo.CaseID("cyc_sod", "ben_othrrrrrrrrrrrrr")}
}

func approver(id string, sec apoyo.Secretariat) apoyo.Identity {
	return apoyo.Identity{UserID: id, Name: strings.TrimPrefix(id, "usr_"), Role: apoyo.RoleApprover, Secretariat: sec, Via: "token"}
}

// Nobody approves a case of a person they enrolled: ana imported the
// roster as a programme manager; made an approver later, she may approve
// the other person's case, not hers.
func TestSoDNoApprovalOfWhomOneEnrolled(t *testing.T) {
	t.Parallel()
	f := newSoD(t)
	ctx := context.Background()
	ana := approver("usr_ana", apoyo.SIBISO)
	_, err := f.svc.Vote(ctx, ana, f.anas, apoyo.VoteRequest{Approve: true})
	require.ErrorIs(t, err, apoyo.ErrForbidden)
	require.Contains(t, err.Error(), "enrolled")
	_, err = f.svc.Vote(ctx, ana, f.other, apoyo.VoteRequest{Approve: true})
	require.NoError(t, err)
	require.Equal(t, []string{"Vote " + f.other + " SIBISO"}, f.next.seen())
	denied := entries(t, f.log, apoyo.AuditFilter{Outcome: apoyo.AuditDenied, Target: f.anas})
	require.Len(t, denied, 1, "the refusal is in the audit log")
}

// Nobody approves a case they handled as a caseworker.
func TestSoDNoApprovalOfACaseOneHandled(t *testing.T) {
	t.Parallel()
	f := newSoD(t)
	ctx := context.Background()
	beto := apoyo.Identity{UserID: "usr_beto", Name: "beto", Role: apoyo.RoleCaseworker, Via: "token"}
	_, err := f.log.Append(ctx, apoyo.AuditEntry{ActorID: beto.UserID, ActorName: beto.Name, Role: beto.Role, Via: "token",
		Action: apoyo.ActIdentityDecide, Targets: []string{f.other}, Outcome: apoyo.AuditOK})
	require.NoError(t, err)
	// A refused casework action is no handling.
	_, err = f.log.Append(ctx, apoyo.AuditEntry{ActorID: beto.UserID, ActorName: beto.Name, Role: beto.Role, Via: "token",
		Action: apoyo.ActInstrumentSet, Targets: []string{f.anas}, Outcome: apoyo.AuditFailed, ErrorCode: apoyo.ECONFLICT})
	require.NoError(t, err)

	asApprover := approver("usr_beto", apoyo.SEDESA)
	_, err = f.svc.Vote(ctx, asApprover, f.other, apoyo.VoteRequest{Approve: true})
	require.ErrorIs(t, err, apoyo.ErrForbidden)
	require.Contains(t, err.Error(), "handled")
	_, err = f.svc.Vote(ctx, asApprover, f.anas, apoyo.VoteRequest{Approve: true})
	require.NoError(t, err)
}

// Nobody approves for two secretariats: once someone approved for one,
// an identity that says another is refused, for votes and signed lists.
func TestSoDOneSecretariatForLife(t *testing.T) {
	t.Parallel()
	f := newSoD(t)
	ctx := context.Background()
	_, err := f.svc.Vote(ctx, approver("usr_cora", apoyo.SIBISO), f.other, apoyo.VoteRequest{Approve: true})
	require.NoError(t, err)
	_, err = f.svc.ApproveRoster(ctx, approver("usr_cora", apoyo.SIBISO), "cyc_sod", strings.Repeat("a", 64))
	require.NoError(t, err, "the same secretariat again is fine")

	styfe := approver("usr_cora", apoyo.STyFE)
	_, err = f.svc.Vote(ctx, styfe, f.anas, apoyo.VoteRequest{Approve: true})
	require.ErrorIs(t, err, apoyo.ErrForbidden)
	require.Contains(t, err.Error(), "two secretariats")
	_, err = f.svc.ApproveRoster(ctx, styfe, "cyc_sod", strings.Repeat("b", 64))
	require.ErrorIs(t, err, apoyo.ErrForbidden)
	require.Len(t, f.next.seen(), 2)
}

// An approver acts for their own secretariat only: the vote that reaches
// the case is the identity's secretariat's, whatever else is asked.
func TestSoDVoteIsTheApproversSecretariat(t *testing.T) {
	t.Parallel()
	f := newSoD(t)
	_, err := f.svc.Vote(context.Background(), approver("usr_dora", apoyo.SEDESA), f.other, apoyo.VoteRequest{Approve: true})
	require.NoError(t, err)
	require.Equal(t, []string{"Vote " + f.other + " SEDESA"}, f.next.seen())
	// An approver without a secretariat does nothing.
	_, err = f.svc.Vote(context.Background(), approver("usr_eva", ""), f.other, apoyo.VoteRequest{Approve: true})
	require.ErrorIs(t, err, apoyo.ErrForbidden)
}

// Auditors change nothing; administrators neither approve nor pay.
func TestSoDAuditorsAndAdminsChangeNothing(t *testing.T) {
	t.Parallel()
	f := newSoD(t)
	ctx := context.Background()
	calls := map[string]func(apoyo.Identity) error{
		"vote": func(w apoyo.Identity) error {
			_, err := f.svc.Vote(ctx, w, f.other, apoyo.VoteRequest{Approve: true})
			return err
		},
		"sign": func(w apoyo.Identity) error {
			_, err := f.svc.ApproveRoster(ctx, w, "cyc_sod", strings.Repeat("a", 64))
			return err
		},
		"launch": func(w apoyo.Identity) error {
			_, err := f.svc.LaunchCycle(ctx, w, apoyo.LaunchRequest{ProgramID: "prg_sodsodsodsodsods"})
			return err
		},
		"instrument": func(w apoyo.Identity) error {
			_, err := f.svc.SetPaymentInstrument(ctx, w, f.other, apoyo.InstrumentRequest{Method: apoyo.RailSPEI})
			return err
		},
		"retry": func(w apoyo.Identity) error {
			_, err := f.svc.RetryStep(ctx, w, f.other, "x")
			return err
		},
		"import": func(w apoyo.Identity) error {
			_, err := f.svc.ImportRoster(ctx, w, "prg_sodsodsodsodsods", io.MultiReader(), apoyo.ImportOptions{})
			return err
		},
		"cancel cycle": func(w apoyo.Identity) error {
			_, err := f.svc.CancelCycle(ctx, w, "cyc_sod", "x")
			return err
		},
		"reconcile": func(w apoyo.Identity) error {
			_, err := f.svc.Reconcile(ctx, w, "s.csv", strings.NewReader(""))
			return err
		},
	}
	for _, who := range []apoyo.Identity{
		{UserID: "usr_aud", Name: "aud", Role: apoyo.RoleAuditor, Via: "token"},
		{UserID: "usr_adm", Name: "adm", Role: apoyo.RoleAdmin, Via: "token"},
	} {
		for name, call := range calls {
			require.ErrorIs(t, call(who), apoyo.ErrForbidden, "%s may not %s", who.Role, name)
		}
	}
	require.Empty(t, f.next.seen(), "nothing reached the core")
	denied := entries(t, f.log, apoyo.AuditFilter{Outcome: apoyo.AuditDenied, Limit: 1000})
	require.Len(t, denied, 2*len(calls), "every refusal is recorded")

}
