-- Reconciliation of the bank's daily settlement statements with the ledger
-- and the payment records: one row per run and one per finding, so an
-- auditor can see what each statement said, what apoyo concluded and which
-- ledger transactions a run posted. Reconciling the same file again is
-- recognised by its sha256 and posts nothing new (ledger idempotency keys do
-- that; these tables only record it). Statements carry tracking keys, order
-- ids and amounts, never names or accounts, and neither do these tables.

CREATE TABLE statement_imports (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The file name as the operator gave it.
    name            text NOT NULL,
    sha256          bytea NOT NULL CHECK (length(sha256) = 32),
    operation_dates text[] NOT NULL DEFAULT '{}',
    lines           integer NOT NULL DEFAULT 0,
    -- 'running' stays if the process died: the run may be repeated safely.
    status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
    -- Lines (and missing payments) per class, as in the report.
    counts          jsonb NOT NULL DEFAULT '{}',
    -- New ledger transactions this run posted (replays are not counted).
    posted          integer NOT NULL DEFAULT 0,
    unmatched       integer NOT NULL DEFAULT 0,
    -- Why a failed run failed (a parse error names row and field).
    error           text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX statement_imports_sha256 ON statement_imports (sha256, id);

-- One row per statement line, plus one per payment that should have been
-- on the statement and was not (line NULL).
CREATE TABLE statement_lines (
    import_id           bigint NOT NULL REFERENCES statement_imports (id),
    seq                 integer NOT NULL,
    -- The CSV row as numbered in the file, header = 1.
    line                integer,
    operation_date      text NOT NULL DEFAULT '',
    tracking_key        text NOT NULL DEFAULT '',
    order_id            text NOT NULL DEFAULT '',
    -- The statement's state (LQ, D, CN), or ours for a missing payment.
    state               text NOT NULL DEFAULT '',
    return_tracking_key text NOT NULL DEFAULT '',
    return_cause        integer,
    amount              numeric,
    expected_amount     numeric,
    class               text NOT NULL CHECK (class IN ('matched', 'amount_mismatch', 'missing_from_statement',
                            'unknown_in_statement', 'duplicate', 'returned_after_settlement', 'state_mismatch')),
    -- Ledger transactions this line made sure of (posted now or found).
    transaction_ids     bigint[] NOT NULL DEFAULT '{}',
    message             text NOT NULL DEFAULT '',
    PRIMARY KEY (import_id, seq)
);
CREATE INDEX statement_lines_tracking_key ON statement_lines (tracking_key);

-- Reconciliation looks for the payments booked on a statement's operation
-- dates (to report those missing from it); pending orders have none.
CREATE INDEX payments_operation_date ON payments (operation_date) WHERE state <> 'pending';

---- create above / drop below ----

DROP INDEX payments_operation_date;
DROP TABLE statement_lines, statement_imports;
