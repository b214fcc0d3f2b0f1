package enrolment

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/beneficiary"
	"github.com/apoyo-cdmx/apoyo/pii"
)

// Errors of this package. Compare with errors.Is.
var (
	// ErrNotFound: no beneficiary with that id.
	ErrNotFound = &apoyo.Error{Code: apoyo.ENOTFOUND, Reason: "enrolment.not_found", Message: "beneficiary not found"}
	// ErrInvalid: an update's values break the roster's rules; Field names
	// the column.
	ErrInvalid = &apoyo.Error{Code: apoyo.EINVALID, Reason: "enrolment.invalid", Message: "invalid value"}
	// ErrNoConsent: the person did not consent to the processing of their
	// data, so the programme may not store it.
	ErrNoConsent = &apoyo.Error{Code: apoyo.EINVALID, Reason: "enrolment.no_consent",
		Message: "the person did not consent to the processing of their data; the programme cannot enrol them without consent"}
	// ErrDuplicate: another beneficiary of the programme already has this
	// CURP or document.
	ErrDuplicate = &apoyo.Error{Code: apoyo.ECONFLICT, Reason: "enrolment.duplicate", Message: "another beneficiary of this programme has the same CURP or identity document"}
	// ErrSharedInstrument: a new payment instrument is already on file for
	// another beneficiary of the programme. The message names neither the
	// account nor the other person.
	ErrSharedInstrument = &apoyo.Error{Code: apoyo.ECONFLICT, Reason: "beneficiary.shared_instrument",
		Message: "this account is already on file for another beneficiary of this programme"}
)

// FlagSharedCLABE marks a beneficiary whose CLABE another beneficiary of
// the same programme also gave: a family sharing an account, a typing
// mistake or someone collecting for others. A person decides which.
const FlagSharedCLABE = "shared_clabe"

// Store keeps beneficiaries. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	keyring *pii.Keyring
	indexer *pii.Indexer
	// OnCommit, when set, runs inside the transaction that changes a
	// person's document or payment instrument, just before it commits:
	// the audit log writes its entry there, so it commits with the change.
	OnCommit func(ctx context.Context, tx pgx.Tx) error
}

// ErrNoKeys: the store was opened without the keys that seal and index
// personal data (a reader of aggregates has no need of them), so it can
// neither read nor write a person's data.
var ErrNoKeys = apoyo.Errorf(apoyo.EUNAVAILABLE, "beneficiary.no_keys", "the personal-data keys are not loaded in this process")

// keys checks that the store can seal and unseal.
func (s *Store) keys() error {
	if s.keyring == nil || s.indexer == nil {
		return ErrNoKeys
	}
	return nil
}

// NewStore returns a Store sealing personal data with keyring and indexing
// it with indexer. With nil keys it still answers what needs none (who
// enrolled whom, profiles, counts); the rest fails with ErrNoKeys.
func NewStore(pool *pgxpool.Pool, keyring *pii.Keyring, indexer *pii.Indexer) *Store {
	return &Store{pool: pool, keyring: keyring, indexer: indexer}
}

// Person is an enrolled person with their personal data unsealed. Hold
// it no longer than needed, and never log it or pass it as a workflow
// argument: pass the ID.
type Person struct {
	ID          string
	ProgramID   string
	Record      beneficiary.Record
	ReviewFlags []string
	CreatedAt   time.Time
}

// Columns holding sealed personal data, in the order sealRow fills them.
var sealedColumns = []string{
	"given_names", "first_surname", "second_surname", "curp", "id_document_number",
	"phone", "email", "clabe", "card_number",
}

func sealedValues(r *beneficiary.Record) []string {
	return []string{r.GivenNames, r.FirstSurname, r.SecondSurname, r.CURP, r.IDDocumentNumber,
		r.Phone, r.Email, r.CLABE, r.CardNumber}
}

// sealedRow is a record's personal data as stored.
type sealedRow struct {
	values                    [][]byte // by sealedColumns; nil when empty
	curpIdx, docIdx, clabeIdx []byte
}

// sealRow seals every personal field of r for the row id, and computes its
// blind indexes.
func (s *Store) sealRow(id string, r *beneficiary.Record) (sealedRow, error) {
	out := sealedRow{values: make([][]byte, len(sealedColumns))}
	for i, v := range sealedValues(r) {
		if v == "" {
			continue
		}
		c, err := s.keyring.Seal([]byte(v), []byte(pii.AAD("beneficiary", id, sealedColumns[i])))
		if err != nil {
			return sealedRow{}, err
		}
		out.values[i] = c
	}
	out.curpIdx, out.docIdx, out.clabeIdx = s.indexes(r)
	return out, nil
}

// indexes are the blind indexes of r's dedup keys and CLABE (nil when
// absent, so they store as NULL and never collide).
func (s *Store) indexes(r *beneficiary.Record) (curp, doc, clabe []byte) {
	ck, dk := r.DedupKeys()
	return s.indexer.Index(pii.DomainCURP, pii.NormaliseID(ck)),
		s.indexer.Index(pii.DomainDoc, pii.NormaliseID(dk)),
		s.indexer.Index(pii.DomainCLABE, pii.NormaliseID(r.CLABE))
}

const selectFull = `SELECT id, program_id, birth_date, sex, nationality, population_group, alcaldia,
	coalesce(household_size, 0), coalesce(id_document_type, ''), payment_method, needs, consent,
	given_names, first_surname, second_surname, curp, id_document_number, phone, email, clabe, card_number,
	review_flags, created_at FROM beneficiaries WHERE id = $1`

// Get returns the beneficiary with id, decrypted. Errors: ErrNotFound;
// pii.ErrDecrypt when a stored value does not open (it was altered or
// moved from another row); pii.ErrUnknownKey when it was sealed under a
// key no longer configured.
func (s *Store) Get(ctx context.Context, id string) (Person, error) {
	if err := s.keys(); err != nil {
		return Person{}, err
	}
	return s.get(ctx, s.pool, id, false)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) get(ctx context.Context, q querier, id string, forUpdate bool) (Person, error) {
	sql := selectFull
	if forUpdate {
		sql += " FOR UPDATE"
	}
	var b Person
	r := &b.Record
	var hh int16
	var needs []string
	sealed := make([][]byte, len(sealedColumns))
	dest := []any{&b.ID, &b.ProgramID, &r.BirthDate, &r.Sex, &r.Nationality, &r.PopulationGroup, &r.Alcaldia,
		&hh, &r.IDDocumentType, &r.PaymentMethod, &needs, &r.Consent}
	for i := range sealed {
		dest = append(dest, &sealed[i])
	}
	dest = append(dest, &b.ReviewFlags, &b.CreatedAt)
	if err := q.QueryRow(ctx, sql, id).Scan(dest...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return Person{}, ErrNotFound.With("no beneficiary with id %q", id)
		}
		return Person{}, dbError("reading beneficiary", err)
	}
	r.HouseholdSize = int(hh)
	r.BirthDate = r.BirthDate.UTC()
	b.CreatedAt = b.CreatedAt.UTC()
	r.Needs = toNeeds(needs)
	plain := make([]string, len(sealedColumns))
	for i, c := range sealed {
		if c == nil {
			continue
		}
		v, err := s.keyring.OpenString(c, pii.AAD("beneficiary", b.ID, sealedColumns[i]))
		if err != nil {
			var e *apoyo.Error
			if errors.As(err, &e) {
				return Person{}, e.With("beneficiary %s, column %s: %s", b.ID, sealedColumns[i], e.Message)
			}
			return Person{}, err
		}
		plain[i] = v
	}
	r.GivenNames, r.FirstSurname, r.SecondSurname, r.CURP, r.IDDocumentNumber = plain[0], plain[1], plain[2], plain[3], plain[4]
	r.Phone, r.Email, r.CLABE, r.CardNumber = plain[5], plain[6], plain[7], plain[8]
	return b, nil
}

func toNeeds(ns []string) []apoyo.Need {
	out := make([]apoyo.Need, len(ns))
	for i, n := range ns {
		out[i] = apoyo.Need(n)
	}
	return out
}

// Profile returns the beneficiary with id without any personal data; it
// decrypts nothing. Errors: ErrNotFound.
func (s *Store) Profile(ctx context.Context, id string) (apoyo.Beneficiary, error) {
	var p apoyo.Beneficiary
	var hh int16
	var needs []string
	var importID *string
	var row *int32
	err := s.pool.QueryRow(ctx, `SELECT id, program_id, birth_date, sex, nationality, population_group, alcaldia,
		coalesce(household_size, 0), coalesce(id_document_type, ''), curp IS NOT NULL, payment_method, needs, consent,
		review_flags, import_id, source_row, created_at FROM beneficiaries WHERE id = $1`, id).Scan(
		&p.ID, &p.ProgramID, &p.BirthDate, &p.Sex, &p.Nationality, &p.PopulationGroup, &p.Alcaldia,
		&hh, &p.IDDocumentType, &p.HasCURP, &p.PaymentMethod, &needs, &p.Consent,
		&p.ReviewFlags, &importID, &row, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return apoyo.Beneficiary{}, ErrNotFound.With("no beneficiary with id %q", id)
	}
	if err != nil {
		return apoyo.Beneficiary{}, dbError("reading beneficiary", err)
	}
	p.HouseholdSize = int(hh)
	p.Needs = toNeeds(needs)
	p.BirthDate, p.CreatedAt = p.BirthDate.UTC(), p.CreatedAt.UTC()
	if importID != nil {
		p.ImportID = *importID
	}
	if row != nil {
		p.SourceRow = int(*row)
	}
	return p, nil
}

// ListIDs returns up to limit ids of the programme's beneficiaries greater
// than afterID, in id order: keyset pagination, so paging through millions
// costs the same per page ("" starts at the beginning; pass the last id of
// a page to get the next). limit ≤ 0 means 1000; at most 10000.
func (s *Store) ListIDs(ctx context.Context, programID, afterID string, limit int) ([]string, error) {
	if limit <= 0 {
		limit = 1000
	}
	limit = min(limit, 10000)
	rows, err := s.pool.Query(ctx, `SELECT id FROM beneficiaries WHERE program_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
		programID, afterID, limit)
	if err != nil {
		return nil, dbError("listing beneficiaries", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, dbError("listing beneficiaries", err)
	}
	return ids, nil
}

// Count returns the number of beneficiaries enrolled in the programme.
func (s *Store) Count(ctx context.Context, programID string) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM beneficiaries WHERE program_id = $1", programID).Scan(&n); err != nil {
		return 0, dbError("counting beneficiaries", err)
	}
	return n, nil
}

// UpdatePaymentInstrument replaces how a beneficiary is paid, typically
// after a returned payment: the caseworker gets a new CLABE or card. The
// values are checked as in a roster (a CLABE for spei, a card for card,
// check digits). The CLABE's index is recomputed and the shared-CLABE flag
// re-evaluated: this beneficiary loses it unless the new CLABE is shared,
// in which case the others sharing it get it too. Others flagged for
// sharing the old CLABE keep their flag: it was raised for a person to
// review, and only a person clears it.
//
// A CLABE already on file for another beneficiary of the programme (the
// blind-index check import runs) is refused with ErrSharedInstrument and
// nothing changes: money must not move to an account that may be
// someone else's before a person has looked; once they have (a family
// sharing an account), UpdatePaymentInstrumentShared stores it flagged.
// Card numbers have no blind index, so they are not checked. Errors:
// ErrNotFound, ErrInvalid (Field the column), ErrSharedInstrument.
func (s *Store) UpdatePaymentInstrument(ctx context.Context, id string, method apoyo.Rail, clabe, cardNumber string) error {
	return s.update(ctx, id, []string{"payment_method", "clabe", "card_number"}, true, func(r *beneficiary.Record) {
		r.PaymentMethod, r.CLABE, r.CardNumber = method, clabe, cardNumber
	})
}

// UpdatePaymentInstrumentShared is UpdatePaymentInstrument for an
// instrument a person has confirmed may be shared with another
// beneficiary: it is stored, and everyone on it gets the shared-CLABE
// flag, as at import. Errors: ErrNotFound, ErrInvalid.
func (s *Store) UpdatePaymentInstrumentShared(ctx context.Context, id string, method apoyo.Rail, clabe, cardNumber string) error {
	return s.update(ctx, id, []string{"payment_method", "clabe", "card_number"}, false, func(r *beneficiary.Record) {
		r.PaymentMethod, r.CLABE, r.CardNumber = method, clabe, cardNumber
	})
}

// UpdateDocument replaces a beneficiary's identity document, e.g. after a
// caseworker has seen it. With type curp the number is the CURP, which
// replaces the one on file. The document's index is recomputed, so the
// same document cannot then belong to two beneficiaries of the programme.
// Errors: ErrNotFound, ErrInvalid (Field the column), ErrDuplicate.
func (s *Store) UpdateDocument(ctx context.Context, id string, docType apoyo.IDDocumentType, docNumber string) error {
	return s.update(ctx, id, []string{"curp", "id_document_type", "id_document_number"}, false, func(r *beneficiary.Record) {
		r.IDDocumentType, r.IDDocumentNumber = docType, docNumber
		if apoyo.IDDocumentType(strings.ToLower(strings.TrimSpace(string(docType)))) == apoyo.DocCURP {
			r.CURP = docNumber
		}
	})
}

// update changes a record under the programme's lock, validates the
// changed fields with the roster's rules, reseals the whole row under the
// active key (so key_id stays true for every column) and re-evaluates the
// shared-CLABE flag. With refuseShared, a CLABE that another beneficiary
// of the programme has on file is refused (ErrSharedInstrument) instead;
// the check runs under the programme's lock, so a concurrent import or
// update cannot slip the same CLABE in meanwhile.
func (s *Store) update(ctx context.Context, id string, checked []string, refuseShared bool, change func(*beneficiary.Record)) error {
	if err := s.keys(); err != nil {
		return err
	}
	return retryTx(ctx, s.pool, func(tx pgx.Tx) error {
		var programID string
		err := tx.QueryRow(ctx, "SELECT program_id FROM beneficiaries WHERE id = $1", id).Scan(&programID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound.With("no beneficiary with id %q", id)
		}
		if err != nil {
			return err
		}
		if err := lockProgram(ctx, tx, programID); err != nil {
			return err
		}
		b, err := s.get(ctx, tx, id, true)
		if err != nil {
			return err
		}
		r := &b.Record
		change(r)
		r.Normalize()
		for _, fe := range r.Validate(nil, time.Now()) {
			if slices.Contains(checked, fe.Field) {
				return ErrInvalid.With("%s", fe.Message).At(0, fe.Field).Wrap(fe.Err)
			}
		}
		if !r.Consent {
			return ErrNoConsent.With("beneficiary %s has no consent on file", id)
		}
		sr, err := s.sealRow(id, r)
		if err != nil {
			return err
		}
		if refuseShared && sr.clabeIdx != nil {
			var shared bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM beneficiaries WHERE program_id = $1 AND clabe_idx = $2 AND id <> $3)`,
				programID, sr.clabeIdx, id).Scan(&shared); err != nil {
				return err
			}
			if shared {
				return ErrSharedInstrument.With("beneficiary %s: the new CLABE is already on file for another beneficiary of this programme; "+
					"nothing was changed: a caseworker must check whose account it is before any money is sent to it", id).At(0, "clabe")
			}
		}
		hh := householdSize(r.HouseholdSize)
		args := []any{id, docType(r.IDDocumentType), string(r.PaymentMethod), hh, s.keyring.ActiveKeyID(),
			sr.curpIdx, sr.docIdx, sr.clabeIdx}
		for _, v := range sr.values {
			args = append(args, v)
		}
		_, err = tx.Exec(ctx, `UPDATE beneficiaries SET id_document_type = $2, payment_method = $3, household_size = $4,
			key_id = $5, curp_idx = $6, doc_idx = $7, clabe_idx = $8,
			given_names = $9, first_surname = $10, second_surname = $11, curp = $12, id_document_number = $13,
			phone = $14, email = $15, clabe = $16, card_number = $17,
			review_flags = array_remove(review_flags, '`+FlagSharedCLABE+`')
			WHERE id = $1`, args...)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return ErrDuplicate.With("another beneficiary of this programme already has this %s", dupWhat(pgErr.ConstraintName))
		}
		if err != nil {
			return err
		}
		if sr.clabeIdx != nil {
			if _, err := flagSharedCLABE(ctx, tx, programID, [][]byte{sr.clabeIdx}); err != nil {
				return err
			}
		}
		if s.OnCommit != nil {
			return s.OnCommit(ctx, tx)
		}
		return nil
	})
}

// EnrolledBy returns the user id of whoever imported the beneficiary's
// roster row ("" for rows imported before identities existed). Errors:
// ErrNotFound.
func (s *Store) EnrolledBy(ctx context.Context, id string) (string, error) {
	var by *string
	err := s.pool.QueryRow(ctx, `SELECT i.imported_by FROM beneficiaries b LEFT JOIN imports i ON i.id = b.import_id WHERE b.id = $1`, id).Scan(&by)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound.With("no beneficiary with id %q", id)
	}
	if by == nil {
		return "", err
	}
	return *by, err
}

func dupWhat(constraint string) string {
	if constraint == "beneficiaries_curp" {
		return "CURP"
	}
	return "identity document"
}

func householdSize(n int) *int16 {
	if n == 0 {
		return nil
	}
	v := int16(n)
	return &v
}

func docType(t apoyo.IDDocumentType) *string {
	if t == "" {
		return nil
	}
	s := string(t)
	return &s
}

// lockProgram serialises, per programme, the writes that decide duplicates
// and shared CLABEs. Without it two concurrent imports would each miss the
// other's uncommitted row with the same CLABE and neither would be
// flagged; with it, each batch sees every batch committed before it.
func lockProgram(ctx context.Context, tx pgx.Tx, programID string) error {
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('enrolment:' || $1, 0))", programID)
	return err
}

type flagged struct {
	importID  string
	sourceRow int
}

// flagSharedCLABE adds the shared-CLABE flag to every beneficiary of the
// programme whose CLABE index is one of idxs and is also another
// beneficiary's, and returns those newly flagged.
func flagSharedCLABE(ctx context.Context, tx pgx.Tx, programID string, idxs [][]byte) ([]flagged, error) {
	rows, err := tx.Query(ctx, `UPDATE beneficiaries b SET review_flags = array_append(b.review_flags, '`+FlagSharedCLABE+`')
		WHERE b.program_id = $1 AND b.clabe_idx = ANY($2::bytea[])
		  AND NOT ('`+FlagSharedCLABE+`' = ANY (b.review_flags))
		  AND EXISTS (SELECT 1 FROM beneficiaries o WHERE o.program_id = b.program_id AND o.clabe_idx = b.clabe_idx AND o.id <> b.id)
		RETURNING coalesce(b.import_id, ''), coalesce(b.source_row, 0)`, programID, idxs)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (flagged, error) {
		var f flagged
		return f, r.Scan(&f.importID, &f.sourceRow)
	})
}

// retryTx runs fn in a transaction, again on a deadlock or serialization
// failure (fn must be safe to repeat).
func retryTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = pgx.BeginFunc(ctx, pool, fn)
		if !retryableDB(err) {
			break
		}
	}
	return dbError("writing beneficiaries", err)
}

func retryableDB(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	return false
}

// dbError passes *apoyo.Error through and makes anything else from the
// database EUNAVAILABLE (retryable).
func dbError(what string, err error) error { return apoyo.StoreError("enrolment.db", what, err) }
