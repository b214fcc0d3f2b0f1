-- Who may act in apoyo: its own user accounts and their API tokens.
--
-- users holds the people with an account in apoyo (package identity). Each
-- has exactly one role; an approver is bound to exactly one secretariat,
-- because nobody approves for two secretariats, and no other role carries
-- one. Users are never deleted, only disabled: the audit log and the cases
-- name them by id for as long as the records are kept. People who sign in
-- through the city's OIDC issuer (Keycloak) have no row here; their role
-- comes from the token's claims.
--
-- api_tokens holds the bearer tokens apoyo issues to its users (scripts, the
-- CLI, partner systems). The secret is shown once, when the token is
-- created, and only its SHA-256 is kept: a token is found by the hash of
-- what is presented, so a dump of this table lets no one act as anyone. A
-- token stops working when it expires, when it is revoked, or when its user
-- is disabled (which also revokes it). Tokens are kept after revocation so
-- the audit log's token ids keep meaning something.

CREATE TABLE users (
    -- Opaque, stable: the audit log names users by id.
    id          text PRIMARY KEY CHECK (id ~ '^usr_[a-z2-7]{16}$'),
    -- The login name people see ("maria.lopez").
    name        text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    role        text NOT NULL CHECK (role IN ('program_manager', 'caseworker', 'approver', 'auditor', 'admin')),
    -- NULL for every role but approver.
    secretariat text CHECK (secretariat IN ('STYFE', 'SIBISO', 'SEDESA')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- The acting identity's user id ("usr_…", "oidc:…", "system:bootstrap").
    created_by  text NOT NULL CHECK (created_by <> ''),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Set once; a disabled user's tokens are all revoked.
    disabled_at timestamptz,
    CHECK ((role = 'approver') = (secretariat IS NOT NULL))
);
-- Counting enabled administrators (bootstrapping the first one).
CREATE INDEX users_enabled_role ON users (role) WHERE disabled_at IS NULL;

CREATE TABLE api_tokens (
    id          text PRIMARY KEY CHECK (id ~ '^tok_[a-z2-7]{16}$'),
    user_id     text NOT NULL REFERENCES users (id),
    -- SHA-256 of the secret; the secret itself is never stored. UNIQUE: the
    -- index a presented token is looked up by.
    secret_hash bytea NOT NULL UNIQUE CHECK (octet_length(secret_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL CHECK (created_by <> ''),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    CHECK (expires_at > created_at)
);
-- A user's tokens, for listing and for revoking them all on disable.
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);

---- create above / drop below ----

DROP TABLE api_tokens, users;
