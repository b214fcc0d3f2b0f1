-- Signed roster approvals. Institutions approve lists, as treasuries do:
-- an approver is shown the cycle's cases waiting for their secretariat
-- (count, total and a hash over case ids and amounts) and signs that hash.
-- A signature approves exactly the cases of the list it was shown; a list
-- that changed in between is refused. Each signature keeps the approver,
-- the time, the hash and the list's size and total, and the cases it
-- covers. Nothing here is ever updated or deleted.
--
-- imports.imported_by names who enrolled each roster row, for separation
-- of duties: nobody approves the case of a person they enrolled.

ALTER TABLE imports ADD COLUMN imported_by text NOT NULL DEFAULT '';
CREATE INDEX beneficiaries_import ON beneficiaries (import_id);

CREATE TABLE roster_approvals (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cycle_id      text NOT NULL REFERENCES cycles (id),
    secretariat   text NOT NULL CHECK (secretariat IN ('STYFE', 'SIBISO', 'SEDESA')),
    approver_id   text NOT NULL,
    approver_name text NOT NULL,
    -- SHA-256 over the cycle, the secretariat and every (case id, amount)
    -- line in case id order.
    list_hash     bytea NOT NULL CHECK (length(list_hash) = 32),
    size          integer NOT NULL CHECK (size > 0),
    total         numeric NOT NULL CHECK (total > 0),
    approved_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cycle_id, secretariat, list_hash)
);

CREATE TABLE roster_approval_cases (
    approval_id bigint NOT NULL REFERENCES roster_approvals (id),
    case_id     text NOT NULL,
    amount      numeric NOT NULL,
    PRIMARY KEY (approval_id, case_id)
);

CREATE FUNCTION roster_approvals_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused; a new signature is a new row', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER roster_approvals_append_only BEFORE UPDATE OR DELETE ON roster_approvals
    FOR EACH ROW EXECUTE FUNCTION roster_approvals_refuse_change();
CREATE TRIGGER roster_approval_cases_append_only BEFORE UPDATE OR DELETE ON roster_approval_cases
    FOR EACH ROW EXECUTE FUNCTION roster_approvals_refuse_change();
CREATE TRIGGER roster_approvals_no_truncate BEFORE TRUNCATE ON roster_approvals
    FOR EACH STATEMENT EXECUTE FUNCTION roster_approvals_refuse_change();
CREATE TRIGGER roster_approval_cases_no_truncate BEFORE TRUNCATE ON roster_approval_cases
    FOR EACH STATEMENT EXECUTE FUNCTION roster_approvals_refuse_change();

---- create above / drop below ----

DROP TABLE roster_approval_cases, roster_approvals;
DROP FUNCTION roster_approvals_refuse_change();
DROP INDEX beneficiaries_import;
ALTER TABLE imports DROP COLUMN imported_by;
