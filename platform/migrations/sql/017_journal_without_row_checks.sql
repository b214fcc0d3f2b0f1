-- The journal's rows named their parents through foreign keys, and every
-- row a batch inserted ran its own check (a transaction's currency; a
-- posting's transaction, account and fund): seven lookups per transfer on
-- the ledger's hottest path, each repeating what the writer had just read
-- in the same database transaction. The writer resolves every account,
-- fund and currency before it writes (ledger/writer.go: resolve), and the
-- journal is append-only, so the one thing the keys still guarded is a
-- parent disappearing later. Parents are now never deleted and never
-- change their key, enforced by triggers on the parents' own rare
-- changes instead of a check per journal row.
--
-- reverses_id stays a foreign key (checked only for the few reversals:
-- a NULL key is not checked) and unique, but through a partial index:
-- the UNIQUE constraint indexed every NULL, one more index entry per
-- transfer for nothing.
ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_transaction_id_fkey;
ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_account_id_fkey;
ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_fund_fkey;
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_currency_fkey;
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_reverses_id_key;
CREATE UNIQUE INDEX ledger_transactions_reverses_id ON ledger_transactions (reverses_id) WHERE reverses_id IS NOT NULL;

-- The chain head also counts account closings. A writer that remembers
-- the head it left (ledger/batch.go: headCache) posts without reading
-- anything again only while the head has not moved: every append moves
-- last_id, and every closing moves changes.
ALTER TABLE ledger_chain_head ADD COLUMN changes bigint NOT NULL DEFAULT 0;

CREATE FUNCTION ledger_refuse_parent_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger table %: % of a row the journal may name is refused (close an account instead)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- Deletes are refused per statement. Key changes are caught per row, with
-- WHEN, because the idempotent creates upsert (ON CONFLICT DO UPDATE SET
-- code = EXCLUDED.code) and must keep working.
CREATE TRIGGER ledger_accounts_keep_rows BEFORE DELETE OR TRUNCATE ON ledger_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_parent_change();
CREATE TRIGGER ledger_accounts_keep_keys BEFORE UPDATE ON ledger_accounts
    FOR EACH ROW WHEN (OLD.id <> NEW.id OR OLD.code <> NEW.code OR OLD.currency <> NEW.currency)
    EXECUTE FUNCTION ledger_refuse_parent_change();
CREATE TRIGGER ledger_funds_keep_rows BEFORE DELETE OR TRUNCATE ON ledger_funds
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_parent_change();
CREATE TRIGGER ledger_funds_keep_keys BEFORE UPDATE ON ledger_funds
    FOR EACH ROW WHEN (OLD.code <> NEW.code) EXECUTE FUNCTION ledger_refuse_parent_change();
CREATE TRIGGER ledger_currencies_keep_rows BEFORE DELETE OR TRUNCATE ON ledger_currencies
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_parent_change();
CREATE TRIGGER ledger_currencies_keep_keys BEFORE UPDATE ON ledger_currencies
    FOR EACH ROW WHEN (OLD.code <> NEW.code) EXECUTE FUNCTION ledger_refuse_parent_change();

---- create above / drop below ----

DROP TRIGGER ledger_currencies_keep_keys ON ledger_currencies;
DROP TRIGGER ledger_currencies_keep_rows ON ledger_currencies;
DROP TRIGGER ledger_funds_keep_keys ON ledger_funds;
DROP TRIGGER ledger_funds_keep_rows ON ledger_funds;
DROP TRIGGER ledger_accounts_keep_keys ON ledger_accounts;
DROP TRIGGER ledger_accounts_keep_rows ON ledger_accounts;
DROP FUNCTION ledger_refuse_parent_change();
ALTER TABLE ledger_chain_head DROP COLUMN changes;
DROP INDEX ledger_transactions_reverses_id;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_reverses_id_key UNIQUE (reverses_id);
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_currency_fkey FOREIGN KEY (currency) REFERENCES ledger_currencies (code);
ALTER TABLE ledger_postings ADD CONSTRAINT ledger_postings_fund_fkey FOREIGN KEY (fund) REFERENCES ledger_funds (code);
ALTER TABLE ledger_postings ADD CONSTRAINT ledger_postings_account_id_fkey FOREIGN KEY (account_id) REFERENCES ledger_accounts (id);
ALTER TABLE ledger_postings ADD CONSTRAINT ledger_postings_transaction_id_fkey FOREIGN KEY (transaction_id) REFERENCES ledger_transactions (id);
