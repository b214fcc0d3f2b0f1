-- No query searches transactions by metadata (lookups go by idempotency
-- key, id or account), yet every journal insert paid to maintain this GIN
-- index, on the ledger's hottest path. Add a targeted index when a query
-- needs one.
DROP INDEX ledger_transactions_metadata;

---- create above / drop below ----

CREATE INDEX ledger_transactions_metadata ON ledger_transactions USING gin (metadata jsonb_path_ops);
