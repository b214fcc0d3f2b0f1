-- The double-entry ledger. Journal tables (ledger_transactions,
-- ledger_postings) are append-only: triggers refuse UPDATE, DELETE and
-- TRUNCATE; corrections are new, reversing transactions. ledger_balances is a
-- projection kept by the writer in the same database transaction as the
-- postings, and `apoyo ledger verify` proves it equals the sum of postings.

CREATE TABLE ledger_currencies (
    code  text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
    scale smallint NOT NULL CHECK (scale BETWEEN 0 AND 8)
);
INSERT INTO ledger_currencies (code, scale) VALUES ('MXN', 2), ('USD', 2);

-- A fund is a source of money (city budget, an international grant, a UN
-- trust fund). Every posting names the fund it moves, so every peso can be
-- traced to who paid for it.
CREATE TABLE ledger_funds (
    code       text PRIMARY KEY CHECK (code ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_accounts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_:.-]{0,199}$'),
    name        text NOT NULL,
    type        text NOT NULL CHECK (type IN ('asset', 'liability', 'equity', 'income', 'expense')),
    currency    text NOT NULL REFERENCES ledger_currencies (code),
    -- Balance rule on the account's normal-side balance, per fund: NULL
    -- means none; 0 means the account may never go below zero.
    min_balance numeric,
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz
);

-- Balances per (account, fund), on the account's normal side (debit-normal
-- for assets and expenses, credit-normal for the rest). The CHECK makes the
-- database itself refuse a balance that breaks the account's rule, whatever
-- writer tries it.
CREATE TABLE ledger_balances (
    account_id  bigint NOT NULL REFERENCES ledger_accounts (id),
    fund        text NOT NULL REFERENCES ledger_funds (code),
    balance     numeric NOT NULL DEFAULT 0,
    debits      numeric NOT NULL DEFAULT 0,
    credits     numeric NOT NULL DEFAULT 0,
    min_balance numeric,
    last_transaction_id bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, fund),
    CHECK (min_balance IS NULL OR balance >= min_balance)
);

CREATE TABLE ledger_transactions (
    -- Gap-free sequence assigned under the chain-head lock: the journal's
    -- order, and the order of the hash chain.
    id              bigint PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    -- sha256 of the request's content: the same key with other content is a
    -- conflict, not a replay.
    request_hash    bytea NOT NULL,
    currency        text NOT NULL REFERENCES ledger_currencies (code),
    description     text NOT NULL DEFAULT '',
    metadata        jsonb NOT NULL DEFAULT '{}',
    -- A reversal names the transaction it mirrors; UNIQUE refuses a second
    -- reversal of the same transaction.
    reverses_id     bigint UNIQUE REFERENCES ledger_transactions (id),
    effective_at    timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL
);
CREATE INDEX ledger_transactions_metadata ON ledger_transactions USING gin (metadata jsonb_path_ops);

CREATE TABLE ledger_postings (
    transaction_id bigint NOT NULL REFERENCES ledger_transactions (id),
    seq            smallint NOT NULL,
    account_id     bigint NOT NULL REFERENCES ledger_accounts (id),
    fund           text NOT NULL REFERENCES ledger_funds (code),
    -- Signed: positive debits, negative credits. Never zero.
    amount         numeric NOT NULL CHECK (amount <> 0),
    PRIMARY KEY (transaction_id, seq)
);
CREATE INDEX ledger_postings_account ON ledger_postings (account_id, transaction_id);

-- The head of the hash chain: one row, locked by every batch that appends,
-- so appends from any number of processes form one chain.
CREATE TABLE ledger_chain_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_id   bigint NOT NULL,
    last_hash bytea NOT NULL
);
INSERT INTO ledger_chain_head (last_id, last_hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger journal table % is append-only: % refused; post a reversing transaction instead', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

---- create above / drop below ----

DROP TABLE ledger_postings, ledger_transactions, ledger_chain_head, ledger_balances, ledger_accounts, ledger_funds, ledger_currencies;
DROP FUNCTION ledger_refuse_change();
