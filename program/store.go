package program

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/ledger"
)

// Store records programmes in PostgreSQL (table programs).
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store over pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Create records p and opens its money: one ledger fund per programme fund
// (LedgerFund), the funding and available accounts, and a deposit of each
// fund's budget (Dr available, Cr funding, key "deposit:<P>:<F>").
//
// The row is written first, so the name is claimed before any money moves:
// a losing race for a name leaves no accounts behind. Every ledger step is
// idempotent, so if the ledger fails half way, calling Create again with the
// same Program (same id) finishes the job and returns the stored programme.
// Errors: ErrInvalid; ErrExists when another programme has the name (names
// compare case-insensitively); ledger errors.
func (s *Store) Create(ctx context.Context, p apoyo.Program, l *ledger.Ledger) (apoyo.Program, error) {
	if err := Validate(p); err != nil {
		return apoyo.Program{}, err
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	cfg, err := json.Marshal(p)
	if err != nil {
		return apoyo.Program{}, apoyo.Errorf(apoyo.EINTERNAL, "program.encode", "encoding programme: %v", err)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO programs (id, name, currency, benefit_amount, config, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
		p.ID, p.Name, p.Currency, p.BenefitAmount, cfg, p.CreatedAt)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return apoyo.Program{}, ErrExists.With("a programme named %q already exists", p.Name).At(0, "name")
		}
		return apoyo.Program{}, dbError("creating programme", err)
	}
	if tag.RowsAffected() == 0 {
		// Same id: a retry. Carry on with what was stored, not with p,
		// so a retry cannot change a programme's definition.
		stored, err := s.Get(ctx, p.ID)
		if err != nil {
			return apoyo.Program{}, err
		}
		if stored.Name != p.Name {
			return apoyo.Program{}, ErrExists.With("programme id %s is already used by %q", p.ID, stored.Name).At(0, "id")
		}
		p = stored
	}
	if err := openLedger(ctx, l, p); err != nil {
		return apoyo.Program{}, err
	}
	return p, nil
}

func openLedger(ctx context.Context, l *ledger.Ledger, p apoyo.Program) error {
	for _, f := range p.Funds {
		if err := l.CreateFund(ctx, ledger.Fund{Code: LedgerFund(p.ID, f.Code), Name: p.Name + ": " + f.Name}); err != nil {
			return err
		}
	}
	for _, a := range programAccounts(p) {
		if _, err := l.CreateAccount(ctx, a); err != nil {
			return err
		}
	}
	for _, f := range p.Funds {
		if !f.Budget.IsPositive() {
			continue // the ledger has no zero postings; nothing to deposit
		}
		tr := ledger.Transfer("deposit:"+p.ID+":"+f.Code, AvailableAccount(p.ID), FundingAccount(p.ID),
			LedgerFund(p.ID, f.Code), f.Budget, fmt.Sprintf("budget deposit: %s, %s", p.Name, f.Name))
		tr.Currency = p.Currency
		tr.Metadata = map[string]string{"program": p.ID, "fund": f.Code, "kind": "deposit"}
		if _, err := l.Post(ctx, tr); err != nil {
			return err
		}
	}
	return nil
}

const selectProgram = `SELECT id, name, config, created_at FROM programs`

// Get returns the programme with id. Errors: ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (apoyo.Program, error) {
	p, err := s.one(ctx, selectProgram+" WHERE id = $1", id)
	if errors.Is(err, pgx.ErrNoRows) {
		return apoyo.Program{}, ErrNotFound.With("no programme with id %q", id)
	}
	return p, err
}

// ByName returns the programme named name (case-insensitively). Errors:
// ErrNotFound.
func (s *Store) ByName(ctx context.Context, name string) (apoyo.Program, error) {
	p, err := s.one(ctx, selectProgram+" WHERE lower(name) = lower($1)", name)
	if errors.Is(err, pgx.ErrNoRows) {
		return apoyo.Program{}, ErrNotFound.With("no programme named %q", name)
	}
	return p, err
}

// List returns every programme, by name.
func (s *Store) List(ctx context.Context) ([]apoyo.Program, error) {
	rows, err := s.pool.Query(ctx, selectProgram+" ORDER BY lower(name), id")
	if err != nil {
		return nil, dbError("listing programmes", err)
	}
	ps, err := pgx.CollectRows(rows, scanProgram)
	if err != nil {
		return nil, dbError("listing programmes", err)
	}
	return ps, nil
}

func (s *Store) one(ctx context.Context, sql string, arg any) (apoyo.Program, error) {
	rows, err := s.pool.Query(ctx, sql, arg)
	if err != nil {
		return apoyo.Program{}, dbError("reading programme", err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, scanProgram)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return apoyo.Program{}, dbError("reading programme", err)
	}
	return p, err
}

func scanProgram(r pgx.CollectableRow) (apoyo.Program, error) {
	var p apoyo.Program
	var cfg []byte
	var id, name string
	if err := r.Scan(&id, &name, &cfg, &p.CreatedAt); err != nil {
		return apoyo.Program{}, err
	}
	created := p.CreatedAt
	if err := json.Unmarshal(cfg, &p); err != nil {
		return apoyo.Program{}, apoyo.Errorf(apoyo.EINTERNAL, "program.decode", "programme %s: stored config does not decode: %v", id, err)
	}
	// The columns are authoritative for what has one.
	p.ID, p.Name, p.CreatedAt = id, name, created.UTC()
	return p, nil
}

func dbError(what string, err error) error { return apoyo.StoreError("program.db", what, err) }
