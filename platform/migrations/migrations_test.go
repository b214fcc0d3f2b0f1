package migrations_test

import (
	"context"
	"fmt"
	"io/fs"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/platform/migrations"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// migrator steps conn's database through the embedded migrations.
func migrator(t *testing.T, ctx context.Context, conn *pgx.Conn) *migrate.Migrator {
	t.Helper()
	m, err := migrate.NewMigrator(ctx, conn, migrations.VersionTable)
	require.NoError(t, err)
	sub, err := fs.Sub(migrations.Files, "sql")
	require.NoError(t, err)
	require.NoError(t, m.LoadMigrations(sub))
	return m
}

// TestCaseQueueBackfill: migration 015 gives the tasks that exist when it
// runs their queue columns: every task its cycle and alcaldía, an open
// task its case's step and the secretariat its work waits on; and it goes
// down and up again.
func TestCaseQueueBackfill(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.New(t)
	conn, err := pgx.Connect(ctx, db.URL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	m := migrator(t, ctx, conn)
	require.NoError(t, m.MigrateTo(ctx, 14))

	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := conn.Exec(ctx, sql, args...)
		require.NoError(t, err)
	}
	exec(`INSERT INTO programs (id, name, currency, benefit_amount, config) VALUES ('prg_aaaaaaaaaaaaaaaa', 'Programa', 'MXN', 5600, '{}')`)
	exec(`INSERT INTO cycles (id, program_id, name, cycle_date) VALUES ('cyc_aaaaaa', 'prg_aaaaaaaaaaaaaaaa', '2026-11', '2026-11-01')`)
	exec(`INSERT INTO beneficiaries (id, program_id, birth_date, sex, nationality, population_group, alcaldia, payment_method, consent,
			given_names, first_surname, key_id)
		SELECT 'ben_' || lpad(i::text, 16, '0'), 'prg_aaaaaaaaaaaaaaaa', '1990-01-01', 'M', 'HND', 'migrant', a, 'spei', true, '\x00', '\x00', 'k1'
		FROM unnest(ARRAY['Iztapalapa', 'Tlalpan', 'Coyoacán', 'Milpa Alta']) WITH ORDINALITY AS x(a, i)`)
	// Case 1 waits for two secretariats' votes past the SLA; case 2 for
	// an NGO's referral; case 3's identity review was closed; case 4
	// failed at payment.
	for i, c := range []struct{ step, status, waiting, state string }{
		{"approval", "waiting", "{SEDESA,SIBISO}", `{}`},
		{"referrals", "waiting", "{caseworker}", `{"referrals": [{"id": "a", "secretariat": "SEDESA", "outcome": "attended"},
			{"id": "b", "secretariat": "NGO"}]}`},
		{"approval", "waiting", "{STYFE}", `{}`},
		{"payment", "failed", "{caseworker}", `{}`},
	} {
		ben := fmt.Sprintf("ben_%016d", i+1)
		exec(`INSERT INTO cases (id, program_id, cycle_id, beneficiary_id, step, status, waiting_on, state)
			VALUES ('case/cyc_aaaaaa/' || $1, 'prg_aaaaaaaaaaaaaaaa', 'cyc_aaaaaa', $1, $2, $3, $4, $5)`, ben, c.step, c.status, c.waiting, c.state)
	}
	exec(`INSERT INTO case_tasks (case_id, kind, resolved_at) VALUES
		('case/cyc_aaaaaa/ben_0000000000000001', 'approval_overdue', NULL),
		('case/cyc_aaaaaa/ben_0000000000000002', 'referral_overdue', NULL),
		('case/cyc_aaaaaa/ben_0000000000000003', 'identity_review', now()),
		('case/cyc_aaaaaa/ben_0000000000000004', 'step_failed', NULL)`)

	require.NoError(t, m.MigrateTo(ctx, 15))
	type row struct{ Kind, CycleID, Step, Secretariat, Alcaldia string }
	read := func() []row {
		t.Helper()
		rows, err := conn.Query(ctx, "SELECT kind, cycle_id, step, secretariat, alcaldia FROM case_tasks ORDER BY id")
		require.NoError(t, err)
		out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
		require.NoError(t, err)
		return out
	}
	want := []row{
		{"approval_overdue", "cyc_aaaaaa", "approval", "SIBISO", "Iztapalapa"},
		{"referral_overdue", "cyc_aaaaaa", "referrals", "SIBISO", "Tlalpan"},
		{"identity_review", "cyc_aaaaaa", "", "", "Coyoacán"},
		{"step_failed", "cyc_aaaaaa", "payment", "STYFE", "Milpa Alta"},
	}
	require.Equal(t, want, read())

	// Down and up again: the same.
	require.NoError(t, m.MigrateTo(ctx, 14))
	require.NoError(t, m.MigrateTo(ctx, 15))
	require.Equal(t, want, read())
	require.NoError(t, m.Migrate(ctx))
}
