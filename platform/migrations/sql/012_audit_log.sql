-- The audit log: who did what to which ids through apoyo's application
-- layer, how it ended and, for a read of personal data, why. Entries hold
-- opaque ids, never a person's data. The table is append-only: triggers
-- refuse UPDATE, DELETE and TRUNCATE. It is hash-chained: each entry's hash
-- covers every field and the previous entry's hash (package audit, hash.go),
-- and audit_chain_head holds the last seq and hash. Every append locks the
-- head row, so seq runs 1..n without gaps and the chain is linear; an entry
-- written inside a change's transaction commits or rolls back with it.

CREATE TABLE audit_log (
    -- Gap-free, assigned under the chain-head lock: the log's order and
    -- the order of the hash chain.
    seq          bigint PRIMARY KEY CHECK (seq > 0),
    at           timestamptz NOT NULL,
    actor_id     text NOT NULL DEFAULT '',
    actor_name   text NOT NULL DEFAULT '',
    role         text NOT NULL DEFAULT '',
    secretariat  text NOT NULL DEFAULT '',
    via          text NOT NULL DEFAULT '',
    token_id     text NOT NULL DEFAULT '',
    action       text NOT NULL,
    -- The ids acted on, in the order the caller gave them.
    targets      text[] NOT NULL DEFAULT '{}',
    purpose      text NOT NULL DEFAULT '',
    outcome      text NOT NULL CHECK (outcome IN ('ok', 'failed', 'denied')),
    error_code   text NOT NULL DEFAULT '',
    error_reason text NOT NULL DEFAULT '',
    request_id   text NOT NULL DEFAULT '',
    detail       jsonb NOT NULL DEFAULT '{}',
    prev_hash    bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash         bytea NOT NULL CHECK (octet_length(hash) = 32)
);
-- The filters of a log read, each in seq order: by target id (also the
-- separation-of-duties evidence), by actor, by action.
CREATE INDEX audit_log_targets ON audit_log USING gin (targets);
CREATE INDEX audit_log_actor ON audit_log (actor_id, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);

-- The head of the hash chain: one row, locked FOR UPDATE by every append.
CREATE TABLE audit_chain_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_seq  bigint NOT NULL,
    last_hash bytea NOT NULL CHECK (octet_length(last_hash) = 32)
);
INSERT INTO audit_chain_head (last_seq, last_hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

---- create above / drop below ----

DROP TABLE audit_log, audit_chain_head;
DROP FUNCTION audit_log_refuse_change();
