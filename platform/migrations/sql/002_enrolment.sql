-- Programmes and their enrolled beneficiaries.
--
-- A programme's money lives in the ledger (accounts prg:<id>:..., funds
-- <id>.<fund>); this table holds its definition. Beneficiaries keep in clear
-- only what eligibility rules and disaggregated reports need (age, sex,
-- nationality, population group, borough, household size, document type,
-- payment method, needs, consent). Names, identifiers, contact details and
-- bank accounts are AES-256-GCM ciphertexts (pii.Keyring) bound to their row
-- and column, and are found by equality through keyed blind indexes
-- (pii.Indexer), so a dump of this database does not say who anyone is.

CREATE TABLE programs (
    -- Opaque and lowercase: it is part of ledger fund codes, which must be.
    id             text PRIMARY KEY CHECK (id ~ '^prg_[a-z0-9]{16}$'),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    currency       text NOT NULL REFERENCES ledger_currencies (code),
    benefit_amount numeric NOT NULL CHECK (benefit_amount > 0),
    -- The whole program.Program as JSON (funds, eligibility, approval,
    -- identity and referral rules); the columns above are copies for SQL.
    config         jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
-- "Programa X" and "programa x" would be the same programme to anyone
-- reading a report.
CREATE UNIQUE INDEX programs_name ON programs (lower(name));

-- One row per roster upload, for the audit trail. file_sha256 and the counts
-- are set when the import ends; status stays 'running' if the process died.
CREATE TABLE imports (
    id          text PRIMARY KEY CHECK (id ~ '^imp_[a-z0-9]{16}$'),
    program_id  text NOT NULL REFERENCES programs (id),
    file_sha256 bytea,
    status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
    accepted    integer NOT NULL DEFAULT 0,
    rejected    integer NOT NULL DEFAULT 0,
    duplicates  integer NOT NULL DEFAULT 0,
    flagged     integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX imports_program ON imports (program_id, created_at);

CREATE TABLE beneficiaries (
    id               text PRIMARY KEY CHECK (id ~ '^ben_[a-z0-9]{16}$'),
    program_id       text NOT NULL REFERENCES programs (id),

    -- In clear: needed by eligibility rules and disaggregated reports.
    birth_date       date NOT NULL,
    sex              text NOT NULL CHECK (sex IN ('H', 'M', 'X')),
    nationality      text NOT NULL CHECK (nationality ~ '^[A-Z]{3}$'),
    population_group text NOT NULL CHECK (population_group IN ('migrant', 'refugee', 'asylum_seeker', 'idp', 'returnee')),
    alcaldia         text NOT NULL,
    household_size   smallint CHECK (household_size BETWEEN 1 AND 30), -- NULL: not stated
    id_document_type text,                                              -- NULL: CURP only
    payment_method   text NOT NULL CHECK (payment_method IN ('spei', 'cash_pickup', 'card')),
    needs            text[] NOT NULL DEFAULT '{}',
    consent          boolean NOT NULL,

    -- Sealed with pii.Keyring.Seal under AAD "beneficiary:<id>:<column>";
    -- NULL when the roster left the value empty.
    given_names        bytea NOT NULL,
    first_surname      bytea NOT NULL,
    second_surname     bytea,
    curp               bytea,
    id_document_number bytea,
    phone              bytea,
    email              bytea,
    clabe              bytea,
    card_number        bytea,

    -- Blind indexes (HMAC-SHA256, one domain per column): equality without
    -- decryption. NULL when there is no value, so rows without one never
    -- collide in the unique indexes below.
    curp_idx  bytea,
    doc_idx   bytea,
    clabe_idx bytea,

    -- The key that sealed the row's values, so a rotation job finds the rows
    -- still to rewrap without decrypting anything.
    key_id       text NOT NULL,
    review_flags text[] NOT NULL DEFAULT '{}',
    import_id    text REFERENCES imports (id),
    source_row   integer,
    created_at   timestamptz NOT NULL DEFAULT now()
);
-- The same person cannot be enrolled twice in a programme, whichever import
-- or process tries: imports insert with ON CONFLICT DO NOTHING and count the
-- rows left out as duplicates.
CREATE UNIQUE INDEX beneficiaries_curp ON beneficiaries (program_id, curp_idx) WHERE curp_idx IS NOT NULL;
CREATE UNIQUE INDEX beneficiaries_doc ON beneficiaries (program_id, doc_idx) WHERE doc_idx IS NOT NULL;
-- Not unique: two people may share an account (a family); they are flagged
-- for review instead.
CREATE INDEX beneficiaries_clabe ON beneficiaries (program_id, clabe_idx) WHERE clabe_idx IS NOT NULL;
-- Keyset pagination of a programme's roster (cycles of millions).
CREATE INDEX beneficiaries_program_id ON beneficiaries (program_id, id);
CREATE INDEX beneficiaries_key_id ON beneficiaries (key_id);

---- create above / drop below ----

DROP TABLE beneficiaries, imports, programs;
