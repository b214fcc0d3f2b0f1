package enrolment

import (
	"context"
	"crypto/sha256"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/beneficiary"
	"github.com/apoyo-cdmx/apoyo/program"
)

const sharedCLABEMessage = "CLABE already used by another beneficiary of this programme; flagged for review"

// pending is a valid row waiting for its batch.
type pending struct {
	rec beneficiary.Record
	row int
}

// Import reads a roster CSV and enrols its valid rows in the programme.
//
// It streams: rows are read one at a time and inserted in batches of
// BatchSize, each in its own transaction, so memory does not grow with the
// file (only the report's error list does). A header problem fails the
// whole import before anything is stored. A row with errors is rejected and
// reported; the other rows are enrolled all the same. A row without consent
// is rejected: the programme may not store the data of someone who did not
// agree to it. A row whose CURP or document is already enrolled is counted
// as a duplicate.
//
// Duplicates are decided by the unique blind indexes in the database, not
// by memory, with INSERT … ON CONFLICT DO NOTHING: importing the same file
// again, or twice at the same time, enrols nobody twice. Batches of one
// programme take a per-programme lock, so shared CLABEs are detected even
// across concurrent imports.
//
// If reading fails half way (a broken upload), the batches already
// committed stay, the import is recorded as failed, and the error is
// returned with the report so far; importing the file again completes it.
func (s *Store) Import(ctx context.Context, programID string, r io.Reader, opts apoyo.ImportOptions) (apoyo.ImportReport, error) {
	if err := s.keys(); err != nil {
		return apoyo.ImportReport{}, err
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM programs WHERE id = $1)", programID).Scan(&exists); err != nil {
		return apoyo.ImportReport{}, dbError("reading programme", err)
	}
	if !exists {
		return apoyo.ImportReport{}, program.ErrNotFound.With("no programme with id %q", programID)
	}

	hash := sha256.New()
	rd, err := beneficiary.NewReader(io.TeeReader(r, hash), opts.Now)
	if err != nil {
		return apoyo.ImportReport{}, err
	}

	imp := &importer{s: s, programID: programID, importID: apoyo.NewID("imp_"), dry: opts.DryRun,
		rep: apoyo.ImportReport{Errors: []apoyo.ImportRowError{}, Flags: []apoyo.ImportRowFlag{}, Transcoded: rd.Transcoded()}}
	if opts.DryRun {
		// A dry run does the real inserts in one transaction and rolls it
		// back, so it reports exactly what the import would do (duplicates
		// within the file and against the database, shared CLABEs) without
		// keeping every key of the file in memory.
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return apoyo.ImportReport{}, dbError("starting dry run", err)
		}
		defer tx.Rollback(context.Background()) //nolint:errcheck
		imp.dryTx = tx
	} else {
		imp.rep.ImportID = imp.importID
	}
	if err := imp.exec(ctx, "INSERT INTO imports (id, program_id, imported_by) VALUES ($1, $2, $3)", imp.importID, programID, opts.ImportedBy); err != nil {
		return apoyo.ImportReport{}, dbError("recording import", err)
	}

	batch := make([]pending, 0, opts.BatchSize)
	flush := func() error {
		err := imp.insert(ctx, batch)
		batch = batch[:0]
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return imp.fail(ctx, err)
		}
		rec, row, errs, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				return imp.fail(ctx, ferr)
			}
			return imp.fail(ctx, err)
		}
		if e, ok := consentError(rec, row, errs); ok {
			errs = append(errs, e)
		}
		if len(errs) > 0 {
			imp.rep.Rejected++
			for _, fe := range errs {
				imp.rep.Errors = append(imp.rep.Errors, apoyo.ImportRowError{Row: fe.Row, Field: fe.Field, ValueHint: fe.ValueHint, Message: fe.Message})
			}
			continue
		}
		batch = append(batch, pending{rec: rec, row: row})
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return imp.fail(ctx, err)
			}
		}
	}
	if err := flush(); err != nil {
		return imp.fail(ctx, err)
	}
	slices.SortStableFunc(imp.rep.Flags, func(a, b apoyo.ImportRowFlag) int { return a.Row - b.Row })
	if !opts.DryRun {
		if err := imp.finish(ctx, "completed", hash.Sum(nil)); err != nil {
			return imp.rep, dbError("recording import", err)
		}
	}
	return imp.rep, nil
}

// consentError is the error for a row without consent. A row whose consent
// cell could not be read, or that could not be split into cells at all,
// already has its error.
func consentError(rec beneficiary.Record, row int, errs []beneficiary.FieldError) (beneficiary.FieldError, bool) {
	if rec.Consent {
		return beneficiary.FieldError{}, false
	}
	for _, fe := range errs {
		if fe.Field == "consent" || fe.Field == "" {
			return beneficiary.FieldError{}, false
		}
	}
	e := ErrNoConsent.At(row, "consent")
	return beneficiary.FieldError{Row: row, Field: "consent", ValueHint: "no", Message: e.Message, Err: e}, true
}

type importer struct {
	s         *Store
	programID string
	importID  string
	dry       bool
	dryTx     pgx.Tx
	rep       apoyo.ImportReport
}

func (imp *importer) exec(ctx context.Context, sql string, args ...any) error {
	if imp.dry {
		_, err := imp.dryTx.Exec(ctx, sql, args...)
		return err
	}
	_, err := imp.s.pool.Exec(ctx, sql, args...)
	return err
}

// fail records a failed import (when something was stored) and returns
// the report so far with err.
func (imp *importer) fail(ctx context.Context, err error) (apoyo.ImportReport, error) {
	if !imp.dry {
		// A cancelled ctx must not stop the audit trail from saying so.
		_ = imp.finish(context.WithoutCancel(ctx), "failed", nil)
	}
	slices.SortStableFunc(imp.rep.Flags, func(a, b apoyo.ImportRowFlag) int { return a.Row - b.Row })
	return imp.rep, dbError("importing", err)
}

func (imp *importer) finish(ctx context.Context, status string, sum []byte) error {
	_, err := imp.s.pool.Exec(ctx, `UPDATE imports SET status = $2, file_sha256 = $3, accepted = $4, rejected = $5,
		duplicates = $6, flagged = $7, finished_at = now() WHERE id = $1`,
		imp.importID, status, sum, imp.rep.Accepted, imp.rep.Rejected, imp.rep.Duplicates, imp.rep.Flagged)
	return err
}

// insertSQL inserts a batch from one array per column (a fixed 27
// parameters whatever the batch size) and returns the ids it stored. ON
// CONFLICT DO NOTHING without a target covers both unique indexes: a row
// already enrolled, by anyone, is skipped, never an error.
const insertSQL = `INSERT INTO beneficiaries (id, program_id, birth_date, sex, nationality, population_group, alcaldia,
	household_size, id_document_type, payment_method, needs, consent,
	given_names, first_surname, second_surname, curp, id_document_number, phone, email, clabe, card_number,
	curp_idx, doc_idx, clabe_idx, key_id, import_id, source_row)
SELECT u.id, $1, u.birth_date, u.sex, u.nationality, u.population_group, u.alcaldia,
	u.household_size, u.id_document_type, u.payment_method, coalesce(string_to_array(u.needs, ';'), '{}'), u.consent,
	u.given_names, u.first_surname, u.second_surname, u.curp, u.id_document_number, u.phone, u.email, u.clabe, u.card_number,
	u.curp_idx, u.doc_idx, u.clabe_idx, $2, $3, u.source_row
FROM unnest($4::text[], $5::date[], $6::text[], $7::text[], $8::text[], $9::text[], $10::smallint[], $11::text[],
	$12::text[], $13::text[], $14::boolean[],
	$15::bytea[], $16::bytea[], $17::bytea[], $18::bytea[], $19::bytea[], $20::bytea[], $21::bytea[], $22::bytea[], $23::bytea[],
	$24::bytea[], $25::bytea[], $26::bytea[], $27::integer[])
	WITH ORDINALITY AS u(id, birth_date, sex, nationality, population_group, alcaldia, household_size, id_document_type,
	payment_method, needs, consent,
	given_names, first_surname, second_surname, curp, id_document_number, phone, email, clabe, card_number,
	curp_idx, doc_idx, clabe_idx, source_row, ord)
ORDER BY u.ord
ON CONFLICT DO NOTHING
RETURNING id`

// columns is a batch laid out for insertSQL.
type columns struct {
	ids, sexes, nats, groups, alcs, methods, needs []string
	births                                         []time.Time
	hh                                             []*int16
	docTypes                                       []*string
	consents                                       []bool
	sealed                                         [][][]byte // by sealedColumns
	curpIdx, docIdx, clabeIdx                      [][]byte
	rows                                           []int32
}

func (imp *importer) insert(ctx context.Context, batch []pending) error {
	if len(batch) == 0 {
		return nil
	}
	n := len(batch)
	c := columns{sealed: make([][][]byte, len(sealedColumns))}
	// Rows of the batch that repeat an earlier row of the batch are
	// duplicates decided here: inside one INSERT, which of two conflicting
	// rows wins is not something to leave to the database.
	seen := make(map[string]bool, 2*n)
	var clabes [][]byte
	for _, p := range batch {
		id := apoyo.NewID("ben_")
		sr, err := imp.s.sealRow(id, &p.rec)
		if err != nil {
			return err
		}
		ck, dk := "c"+string(sr.curpIdx), "d"+string(sr.docIdx)
		if (sr.curpIdx != nil && seen[ck]) || (sr.docIdx != nil && seen[dk]) {
			imp.rep.Duplicates++
			continue
		}
		if sr.curpIdx != nil {
			seen[ck] = true
		}
		if sr.docIdx != nil {
			seen[dk] = true
		}
		r := &p.rec
		c.ids = append(c.ids, id)
		c.births = append(c.births, r.BirthDate)
		c.sexes = append(c.sexes, string(r.Sex))
		c.nats = append(c.nats, r.Nationality)
		c.groups = append(c.groups, string(r.PopulationGroup))
		c.alcs = append(c.alcs, r.Alcaldia)
		c.hh = append(c.hh, householdSize(r.HouseholdSize))
		c.docTypes = append(c.docTypes, docType(r.IDDocumentType))
		c.methods = append(c.methods, string(r.PaymentMethod))
		c.needs = append(c.needs, joinNeeds(r.Needs))
		c.consents = append(c.consents, r.Consent)
		for i, v := range sr.values {
			c.sealed[i] = append(c.sealed[i], v)
		}
		c.curpIdx = append(c.curpIdx, sr.curpIdx)
		c.docIdx = append(c.docIdx, sr.docIdx)
		c.clabeIdx = append(c.clabeIdx, sr.clabeIdx)
		c.rows = append(c.rows, int32(p.row))
		if sr.clabeIdx != nil {
			clabes = append(clabes, sr.clabeIdx)
		}
	}
	if len(c.ids) == 0 {
		return nil
	}
	args := []any{imp.programID, imp.s.keyring.ActiveKeyID(), imp.importID,
		c.ids, c.births, c.sexes, c.nats, c.groups, c.alcs, c.hh, c.docTypes, c.methods, c.needs, c.consents}
	for _, col := range c.sealed {
		args = append(args, col)
	}
	args = append(args, c.curpIdx, c.docIdx, c.clabeIdx, c.rows)

	var inserted int
	var flags []flagged
	work := func(tx pgx.Tx) error {
		if !imp.dry {
			if err := lockProgram(ctx, tx, imp.programID); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, insertSQL, args...)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		inserted = len(ids)
		flags = nil
		if len(clabes) > 0 && inserted > 0 {
			flags, err = flagSharedCLABE(ctx, tx, imp.programID, clabes)
		}
		return err
	}
	if imp.dry {
		if err := work(imp.dryTx); err != nil {
			return dbError("dry run", err)
		}
	} else if err := retryTx(ctx, imp.s.pool, work); err != nil {
		return err
	}
	imp.rep.Accepted += inserted
	imp.rep.Duplicates += len(c.ids) - inserted
	for _, f := range flags {
		if f.importID != imp.importID {
			continue // an earlier import's row: flagged, but not a row of this file
		}
		imp.rep.Flagged++
		imp.rep.Flags = append(imp.rep.Flags, apoyo.ImportRowFlag{Row: f.sourceRow, Field: "clabe", Message: sharedCLABEMessage})
	}
	return nil
}

func joinNeeds(ns []apoyo.Need) string {
	if len(ns) == 0 {
		return ""
	}
	var b strings.Builder
	for i, n := range ns {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(string(n))
	}
	return b.String()
}
