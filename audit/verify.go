package audit

import (
	"bytes"
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/apoyo-cdmx/apoyo"
)

// txRepeatableReadOnly reads one consistent snapshot of the log and its
// head without locking writers out.
var txRepeatableReadOnly = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// verifier collects what Verify finds: the first problem (lowest seq)
// is reported, the rest are counted.
type verifier struct {
	firstBad int64
	problem  string
	more     int
}

func (v *verifier) add(seq int64, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	switch {
	case v.problem == "":
		v.firstBad, v.problem = seq, msg
	case seq < v.firstBad:
		v.firstBad, v.problem = seq, msg
		v.more++
	default:
		v.more++
	}
}

// Verify re-derives the chain from the stored entries: each entry's hash
// from its fields and its prev_hash, each prev_hash against the hash of
// the entry before it (the first against 32 zero bytes), Seq running
// 1..n without gaps, and the head row against the last entry. It reads
// one snapshot (REPEATABLE READ, read-only) and streams the rows, so it
// runs in constant memory on a log of any size and does not stop writers.
//
// A report that is not OK names FirstBad, the lowest seq at which a check
// fails (for a gap, the first missing seq), and Problem, which says what,
// by seq only, and how many further problems there are. An error means
// the log could not be read, not that it is bad.
func (l *Log) Verify(ctx context.Context) (apoyo.AuditVerifyReport, error) {
	rep := apoyo.AuditVerifyReport{}
	tx, err := l.pool.BeginTx(ctx, txRepeatableReadOnly)
	if err != nil {
		return rep, storeErr("beginning", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck

	var v verifier
	rows, err := tx.Query(ctx, "SELECT "+columns+" FROM audit_log ORDER BY seq")
	if err != nil {
		return rep, storeErr("verifying", err)
	}
	defer rows.Close()
	prev := make([]byte, 32)
	var prevSeq int64 // 0: the chain's start
	expect := int64(1)
	for rows.Next() {
		e, prevHash, h, err := scanEntry(rows)
		if err != nil {
			return rep, storeErr("verifying", err)
		}
		rep.Entries++
		// Rows come in seq order of a positive primary key: a seq other
		// than the expected one is a jump, never a step back.
		gap := e.Seq != expect
		if gap {
			v.add(expect, "entries %d to %d are missing: seq jumps from %d to %d", expect, e.Seq-1, prevSeq, e.Seq)
		}
		// Two checks, both needed: an entry's hash must cover its fields
		// and its prev_hash, and its prev_hash must be the hash of the
		// entry before it. An entry rewritten with its own hash recomputed
		// passes the first and fails the second, at the next link. After
		// a gap the link is broken anyway; the gap says why.
		if !gap && !bytes.Equal(prevHash, prev) {
			before := "the start of the chain"
			if prevSeq != 0 {
				before = fmt.Sprintf("entry %d", prevSeq)
			}
			v.add(e.Seq, "entry %d is not chained to %s: its prev_hash differs from that hash, so %s was rewritten or entry %d was rewritten or relinked",
				e.Seq, before, before, e.Seq)
		}
		if !bytes.Equal(entryHash(prevHash, &e), h) {
			v.add(e.Seq, "entry %d: hash does not match the entry's fields: the entry or its prev_hash was changed", e.Seq)
		}
		prev, prevSeq, expect = h, e.Seq, e.Seq+1
		rep.Head = apoyo.AuditHead{Seq: e.Seq, Hash: e.Hash, At: e.At}
	}
	if err := rows.Err(); err != nil {
		return rep, storeErr("verifying", err)
	}

	var headSeq int64
	var headHash []byte
	if err := tx.QueryRow(ctx, "SELECT last_seq, last_hash FROM audit_chain_head").Scan(&headSeq, &headHash); err != nil {
		return rep, storeErr("reading the head", err)
	}
	switch {
	case headSeq > prevSeq:
		v.add(prevSeq+1, "the chain head says entry %d, the log ends at entry %d: the tail was removed", headSeq, prevSeq)
	case headSeq < prevSeq:
		v.add(headSeq+1, "the chain head says entry %d, the log goes on to entry %d: entries were added around the head", headSeq, prevSeq)
	case !bytes.Equal(headHash, prev):
		v.add(max(prevSeq, 1), "the chain head's hash differs from entry %d's: the tail was rewritten with its hashes recomputed, or the head was changed", prevSeq)
	}
	if err := tx.Commit(ctx); err != nil {
		return rep, storeErr("verifying", err)
	}

	rep.OK = v.problem == ""
	if !rep.OK {
		rep.FirstBad, rep.Problem = v.firstBad, v.problem
		if v.more > 0 {
			rep.Problem += fmt.Sprintf(" (and %d more problem(s))", v.more)
		}
	}
	return rep, nil
}
