package cases

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/audit"
)

// Errors of signed roster approvals.
var (
	// ErrListChanged: the pending list is not the one the approver signed
	// (a case arrived, moved on or was decided meanwhile).
	ErrListChanged = apoyo.Errorf(apoyo.ECONFLICT, "approval.list_changed", "the list changed since it was fetched")
	// ErrListEmpty: there is nothing for the secretariat to sign.
	ErrListEmpty = apoyo.Errorf(apoyo.ECONFLICT, "approval.list_empty", "no cases wait for this secretariat")
	// ErrListSigned: another approver of the secretariat signed this very
	// list; its votes are theirs to resume.
	ErrListSigned = apoyo.Errorf(apoyo.ECONFLICT, "approval.list_signed", "another approver signed this list")
	// ErrBadHash: a list hash that is not 64 hex digits.
	ErrBadHash = apoyo.Errorf(apoyo.EINVALID, "approval.bad_hash", "a list hash is 64 hexadecimal digits")
)

// querier is what reads need of a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// PendingRoster is the list of cycle cycleID's cases waiting for
// secretariat sec that the approver approverID may decide: cases of
// people the approver enrolled (imports.imported_by) or handled as a
// caseworker (an ok casework action of theirs in the audit log) are left
// out, and counted in Excluded. Lines are in case id order; the hash
// covers the cycle, the secretariat and every line. Errors:
// ErrCycleNotFound.
func (s *Store) PendingRoster(ctx context.Context, cycleID string, sec apoyo.Secretariat, approverID string) (apoyo.RosterList, error) {
	if _, err := s.Cycle(ctx, cycleID); err != nil {
		return apoyo.RosterList{}, err
	}
	return pendingRoster(ctx, s.pool, cycleID, sec, approverID)
}

func pendingRoster(ctx context.Context, q querier, cycleID string, sec apoyo.Secretariat, approverID string) (apoyo.RosterList, error) {
	l := apoyo.RosterList{CycleID: cycleID, Secretariat: sec, Total: decimal.Zero, Lines: []apoyo.RosterLine{}}
	rows, err := q.Query(ctx, `SELECT k.id, coalesce(c.amount, 0),
			EXISTS (SELECT 1 FROM beneficiaries b JOIN imports i ON i.id = b.import_id
				WHERE b.id = k.beneficiary_id AND i.imported_by = $3 AND $3 <> '')
			OR EXISTS (SELECT 1 FROM audit_log a WHERE a.actor_id = $3 AND a.outcome = 'ok' AND a.action = ANY($4)
				AND a.targets @> ARRAY[k.id])
		FROM cases k JOIN cycles c ON c.id = k.cycle_id
		WHERE k.cycle_id = $1 AND k.step = $5 AND k.status = $6 AND $2 = ANY(k.waiting_on)
		ORDER BY k.id`, cycleID, string(sec), approverID, apoyo.CaseworkActions, apoyo.StepApproval, apoyo.CaseWaiting)
	if err != nil {
		return l, err
	}
	defer rows.Close()
	for rows.Next() {
		var line apoyo.RosterLine
		var excluded bool
		if err := rows.Scan(&line.CaseID, &line.Amount, &excluded); err != nil {
			return l, err
		}
		if excluded {
			l.Excluded++
			continue
		}
		l.Lines = append(l.Lines, line)
		l.Total = l.Total.Add(line.Amount)
	}
	if err := rows.Err(); err != nil {
		return l, err
	}
	l.Size = len(l.Lines)
	l.Hash = RosterHash(cycleID, sec, l.Lines)
	return l, nil
}

// RosterHash is the hex SHA-256 a signature binds to: a version tag, the
// cycle, the secretariat, then each line's case id and amount (two
// decimals), in the order given (case id order), each field
// length-prefixed by a newline-free encoding so no two lists collide.
func RosterHash(cycleID string, sec apoyo.Secretariat, lines []apoyo.RosterLine) string {
	h := sha256.New()
	w := func(s string) {
		_, _ = io.WriteString(h, s)
		_, _ = h.Write([]byte{0})
	}
	w("apoyo.roster.v1")
	w(cycleID)
	w(string(sec))
	for _, l := range lines {
		w(l.CaseID)
		w(l.Amount.StringFixed(2))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SignRoster records approver's signature on the pending list whose hash
// they were shown, and returns the record with the case ids it covers.
// The list is recomputed under a lock of the (cycle, secretariat) pair: a
// list that is not the signed one is refused with ErrListChanged, naming
// the list as it is now. Signing a hash already recorded for the cycle
// and secretariat returns that record (resumed = true) and records
// nothing; a hash another approver signed is ErrListSigned (a signature
// is resumed only by whoever made it). The signature's row commits with
// OnCommit's writes (the audit entry). Errors: ErrBadHash, ErrListChanged,
// ErrListSigned, ErrListEmpty, ErrCycleNotFound.
func (s *Store) SignRoster(ctx context.Context, cycleID string, approver apoyo.Identity, hash string) (rec apoyo.RosterApproval, caseIDs []string, resumed bool, err error) {
	raw, err := hex.DecodeString(hash)
	if err != nil || len(raw) != sha256.Size {
		return rec, nil, false, ErrBadHash.With("list hash %q: expected 64 hexadecimal digits", hash).At(0, "list_hash")
	}
	if _, err := s.Cycle(ctx, cycleID); err != nil {
		return rec, nil, false, err
	}
	sec := approver.Secretariat
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('roster:' || $1 || ':' || $2, 0))", cycleID, string(sec)); err != nil {
			return err
		}
		found, err := scanApprovals(tx.Query(ctx, selectApprovals+" WHERE cycle_id = $1 AND secretariat = $2 AND list_hash = $3", cycleID, string(sec), raw))
		if err != nil {
			return err
		}
		if len(found) > 0 {
			if found[0].ApproverID != approver.UserID {
				return ErrListSigned.With("cycle %s, %s: %s signed this list at %s; its votes are theirs to resume",
					cycleID, sec, found[0].ApproverName, found[0].ApprovedAt.UTC().Format(time.RFC3339))
			}
			rec, resumed = found[0], true
			caseIDs, err = approvalCases(ctx, tx, rec.ID)
			return err
		}
		list, err := pendingRoster(ctx, tx, cycleID, sec, approver.UserID)
		if err != nil {
			return err
		}
		if list.Hash != hash {
			return ErrListChanged.With("cycle %s, %s: the list you signed is not the list now (%d cases, %s total, hash %s); fetch it again and sign that",
				cycleID, sec, list.Size, list.Total.StringFixed(2), list.Hash)
		}
		if list.Size == 0 {
			return ErrListEmpty.With("cycle %s: no cases wait for %s", cycleID, sec)
		}
		rec = apoyo.RosterApproval{CycleID: cycleID, Secretariat: sec, ApproverID: approver.UserID, ApproverName: approver.Name,
			Hash: hash, Size: list.Size, Total: list.Total}
		if err := tx.QueryRow(ctx, `INSERT INTO roster_approvals (cycle_id, secretariat, approver_id, approver_name, list_hash, size, total)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, approved_at`, cycleID, string(sec), approver.UserID, approver.Name, raw, list.Size, list.Total).
			Scan(&rec.ID, &rec.ApprovedAt); err != nil {
			return err
		}
		rows := make([][]any, len(list.Lines))
		for i, l := range list.Lines {
			rows[i] = []any{rec.ID, l.CaseID, l.Amount}
			caseIDs = append(caseIDs, l.CaseID)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"roster_approval_cases"}, []string{"approval_id", "case_id", "amount"}, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		audit.Note(ctx, nil, map[string]string{"approval": strconv.FormatInt(rec.ID, 10), "size": strconv.Itoa(rec.Size), "total": rec.Total.StringFixed(2)})
		return s.onCommit(ctx, tx)
	})
	if err != nil {
		return apoyo.RosterApproval{}, nil, false, err
	}
	return rec, caseIDs, resumed, nil
}

const selectApprovals = `SELECT id, cycle_id, secretariat, approver_id, approver_name, encode(list_hash, 'hex'), size, total, approved_at FROM roster_approvals`

func scanApprovals(rows pgx.Rows, err error) ([]apoyo.RosterApproval, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (apoyo.RosterApproval, error) {
		var a apoyo.RosterApproval
		err := r.Scan(&a.ID, &a.CycleID, &a.Secretariat, &a.ApproverID, &a.ApproverName, &a.Hash, &a.Size, &a.Total, &a.ApprovedAt)
		return a, err
	})
}

func approvalCases(ctx context.Context, q querier, id int64) ([]string, error) {
	rows, err := q.Query(ctx, "SELECT case_id FROM roster_approval_cases WHERE approval_id = $1 ORDER BY case_id", id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// RosterApprovals lists the signatures on cycle cycleID's lists, oldest
// first. Errors: ErrCycleNotFound.
func (s *Store) RosterApprovals(ctx context.Context, cycleID string) ([]apoyo.RosterApproval, error) {
	if _, err := s.Cycle(ctx, cycleID); err != nil {
		return nil, err
	}
	out, err := scanApprovals(s.pool.Query(ctx, selectApprovals+" WHERE cycle_id = $1 ORDER BY id", cycleID))
	if out == nil && err == nil {
		out = []apoyo.RosterApproval{}
	}
	return out, err
}

// onCommit runs the store's OnCommit hook inside tx, if there is one.
func (s *Store) onCommit(ctx context.Context, tx pgx.Tx) error {
	if s.OnCommit == nil {
		return nil
	}
	return s.OnCommit(ctx, tx)
}
