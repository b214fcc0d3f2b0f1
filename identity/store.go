// Package identity says who is acting in apoyo: its own users and their API
// tokens, kept in PostgreSQL (tables users and api_tokens), and sign-in
// through the city's OIDC issuer (Keycloak), whose tokens carry the role in
// their claims.
//
// It proves identities and nothing more: what an identity may do is decided
// by role elsewhere (the authorization decorator), so a change of rules
// never touches the code that checks credentials.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/audit"
)

// DefaultTokenTTL is how long a token lives when its creator does not say:
// long enough for a script or a partner system to run a season of cycles,
// short enough that a forgotten token dies on its own.
const DefaultTokenTTL = 90 * 24 * time.Hour

// MaxTokenTTL bounds a token's life, so that a forgotten token dies on its
// own within a year.
const MaxTokenTTL = 366 * 24 * time.Hour

// ErrTokenTTL: a token asked to live longer than MaxTokenTTL.
var ErrTokenTTL = apoyo.Errorf(apoyo.EINVALID, "token.ttl_too_long", "a token lives at most 366 days")

// TokenPrefix starts every apoyo API token, so a bearer credential is routed
// to the right verifier without trying both (a JWT starts with "eyJ"), and
// so a leaked token is easy to recognise in logs and by secret scanners.
const TokenPrefix = "apoyo_"

// Errors of the store, to match with errors.Is. Each carries its own
// message when returned.
var (
	// ErrInvalidUser: a user's name, role or secretariat is not acceptable
	// (Field says which).
	ErrInvalidUser = apoyo.Errorf(apoyo.EINVALID, "user.invalid", "invalid user")
	// ErrUserExists: another user already has the name.
	ErrUserExists = apoyo.Errorf(apoyo.ECONFLICT, "user.exists", "a user with this name already exists")
	// ErrUserNotFound: no user has the name or id.
	ErrUserNotFound = apoyo.Errorf(apoyo.ENOTFOUND, "user.not_found", "no such user")
	// ErrUserDisabled: the user is disabled and may get no new token.
	ErrUserDisabled = apoyo.Errorf(apoyo.ECONFLICT, "user.disabled", "the user is disabled")
	// ErrTokenNotFound: no token has the id.
	ErrTokenNotFound = apoyo.Errorf(apoyo.ENOTFOUND, "token.not_found", "no such token")
)

// errBadToken is the one answer to every token that proves nothing
// (unknown, malformed, revoked, expired, or a disabled user's): telling
// them apart would help whoever holds a stolen or guessed token.
var errBadToken = apoyo.ErrUnauthenticated.With("invalid token: unknown, expired or revoked")

// errAnonymous refuses writes by no one: every user and token records who
// made it.
var errAnonymous = apoyo.ErrUnauthenticated.With("an anonymous identity cannot change users or tokens")

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,63}$`)

// Store keeps apoyo's users and API tokens in PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	// OnCommit, when set, is called inside every write transaction, after
	// the change and before the commit, with the transaction: the audit
	// log writes its entry there, so the entry and the change commit
	// together or not at all. An error from it rolls the change back and
	// is returned unchanged.
	OnCommit func(ctx context.Context, tx pgx.Tx) error
}

// NewStore returns a Store on pool, which must be migrated (013_identity).
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// newSecret returns a token secret (TokenPrefix + 256 random bits in
// base64url) and the SHA-256 that is stored instead of it.
func newSecret() (string, []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(secret))
	return secret, sum[:]
}

// secretLen is the length of every token secret: the prefix and 43
// base64url characters for 32 bytes.
var secretLen = len(TokenPrefix) + base64.RawURLEncoding.EncodedLen(32)

// secretHash returns the hash to look bearer up by, or false when bearer
// cannot be a token apoyo issued (so the database is not asked).
func secretHash(bearer string) ([]byte, bool) {
	if len(bearer) != secretLen || !strings.HasPrefix(bearer, TokenPrefix) {
		return nil, false
	}
	if b, err := base64.RawURLEncoding.Strict().DecodeString(bearer[len(TokenPrefix):]); err != nil || len(b) != 32 {
		return nil, false
	}
	sum := sha256.Sum256([]byte(bearer))
	return sum[:], true
}

// validateRole checks a role and its secretariat: exactly the approver has
// one, because nobody approves for two secretariats and an approval must
// name whose it is.
func validateRole(role apoyo.Role, sec apoyo.Secretariat) error {
	if !role.Valid() {
		return ErrInvalidUser.With("unknown role %q: one of program_manager, caseworker, approver, auditor, admin", role).At(0, "role")
	}
	if role == apoyo.RoleApprover && !sec.Valid() {
		if sec == "" {
			return ErrInvalidUser.With("an approver needs a secretariat: STYFE, SIBISO or SEDESA").At(0, "secretariat")
		}
		return ErrInvalidUser.With("unknown secretariat %q: one of STYFE, SIBISO, SEDESA", sec).At(0, "secretariat")
	}
	if role != apoyo.RoleApprover && sec != "" {
		return ErrInvalidUser.With("only an approver has a secretariat, not a %s", role).At(0, "secretariat")
	}
	return nil
}

// ValidateUser checks a user to create, so callers (the CLI, the API) can
// refuse bad input before asking the store. Errors: ErrInvalidUser with
// Field name, role or secretariat.
func ValidateUser(u apoyo.NewUser) error {
	if !nameRE.MatchString(u.Name) {
		return ErrInvalidUser.With("user names are 2 to 64 characters (lowercase letters, digits, '.', '_', '-') starting with a letter or digit").At(0, "name")
	}
	return validateRole(u.Role, u.Secretariat)
}

const userColumns = `id, name, role, coalesce(secretariat, ''), created_at, created_by, disabled_at`

func scanUser(row pgx.Row) (apoyo.User, error) {
	var u apoyo.User
	if err := row.Scan(&u.ID, &u.Name, &u.Role, &u.Secretariat, &u.CreatedAt, &u.CreatedBy, &u.DisabledAt); err != nil {
		return apoyo.User{}, err
	}
	u.CreatedAt = u.CreatedAt.UTC()
	if u.DisabledAt != nil {
		t := u.DisabledAt.UTC()
		u.DisabledAt = &t
	}
	return u, nil
}

const tokenColumns = `t.id, t.user_id, u.name, t.created_at, t.created_by, t.expires_at, t.revoked_at`

func scanToken(row pgx.Row) (apoyo.Token, error) {
	var t apoyo.Token
	if err := row.Scan(&t.ID, &t.UserID, &t.UserName, &t.CreatedAt, &t.CreatedBy, &t.ExpiresAt, &t.RevokedAt); err != nil {
		return apoyo.Token{}, err
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	if t.RevokedAt != nil {
		r := t.RevokedAt.UTC()
		t.RevokedAt = &r
	}
	return t, nil
}

// dbError keeps apoyo errors as they are and calls anything else from the
// database unavailable (retryable).
func dbError(what string, err error) error { return apoyo.StoreError("identity.db", what, err) }

// write runs fn and OnCommit in one transaction and commits.
func (s *Store) write(ctx context.Context, what string, by apoyo.Identity, fn func(tx pgx.Tx) error) error {
	if by.Anonymous() {
		return errAnonymous
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return dbError(what, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return dbError(what, err)
	}
	if s.OnCommit != nil {
		if err := s.OnCommit(ctx, tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return dbError(what, err)
	}
	return nil
}

// CreateUser creates an enabled user, recording by.UserID as its creator.
// Errors: ErrInvalidUser (Field name, role or secretariat); ErrUserExists.
func (s *Store) CreateUser(ctx context.Context, nu apoyo.NewUser, by apoyo.Identity) (apoyo.User, error) {
	if err := ValidateUser(nu); err != nil {
		return apoyo.User{}, err
	}
	var u apoyo.User
	err := s.write(ctx, "creating user", by, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `INSERT INTO users (id, name, role, secretariat, created_by)
			VALUES ($1, $2, $3, NULLIF($4, ''), $5) RETURNING `+userColumns,
			apoyo.NewID("usr_"), nu.Name, string(nu.Role), string(nu.Secretariat), by.UserID))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "users_name_key" {
			return ErrUserExists.With("a user named %q already exists", nu.Name).At(0, "name")
		}
		if err == nil {
			audit.Note(ctx, []string{u.ID}, map[string]string{"role": string(u.Role), "secretariat": string(u.Secretariat)})
		}
		return err
	})
	if err != nil {
		return apoyo.User{}, err
	}
	return u, nil
}

// User returns the user named name, enabled or not. Errors: ErrUserNotFound.
func (s *Store) User(ctx context.Context, name string) (apoyo.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return apoyo.User{}, ErrUserNotFound.With("no user named %q", name)
	}
	if err != nil {
		return apoyo.User{}, dbError("reading user", err)
	}
	return u, nil
}

// UserByID returns the user with id (as the audit log and identities name
// them). Errors: ErrUserNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (apoyo.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return apoyo.User{}, ErrUserNotFound.With("no user with id %q", id)
	}
	if err != nil {
		return apoyo.User{}, dbError("reading user", err)
	}
	return u, nil
}

// Users returns every user, disabled ones included, by name.
func (s *Store) Users(ctx context.Context) ([]apoyo.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	if err != nil {
		return nil, dbError("listing users", err)
	}
	us, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apoyo.User, error) { return scanUser(r) })
	if err != nil {
		return nil, dbError("listing users", err)
	}
	return us, nil
}

// SetRole gives the user named name a new role (and, for an approver, its
// secretariat; "" for any other role). Tokens keep working and carry the
// new role from their next use, since a token names a user, not a role.
// Errors: ErrInvalidUser (Field role or secretariat); ErrUserNotFound.
func (s *Store) SetRole(ctx context.Context, name string, role apoyo.Role, sec apoyo.Secretariat, by apoyo.Identity) (apoyo.User, error) {
	if err := validateRole(role, sec); err != nil {
		return apoyo.User{}, err
	}
	var u apoyo.User
	err := s.write(ctx, "setting role", by, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET role = $2, secretariat = NULLIF($3, ''), updated_at = now()
			WHERE name = $1 RETURNING `+userColumns, name, string(role), string(sec)))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrUserNotFound.With("no user named %q", name)
		}
		return err
	})
	if err != nil {
		return apoyo.User{}, err
	}
	return u, nil
}

// DisableUser disables the user named name and revokes all their tokens, so
// someone who leaves loses every way in at once. Users are disabled, never
// deleted: the audit log names them. Disabling a disabled user changes
// nothing and returns it as it is. Errors: ErrUserNotFound.
func (s *Store) DisableUser(ctx context.Context, name string, by apoyo.Identity) (apoyo.User, error) {
	var u apoyo.User
	err := s.write(ctx, "disabling user", by, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `UPDATE users
			SET disabled_at = coalesce(disabled_at, now()),
			    updated_at = CASE WHEN disabled_at IS NULL THEN now() ELSE updated_at END
			WHERE name = $1 RETURNING `+userColumns, name))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrUserNotFound.With("no user named %q", name)
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, u.ID)
		audit.Note(ctx, []string{u.ID}, map[string]string{"disabled": "true", "tokens_revoked": strconv.FormatInt(tag.RowsAffected(), 10)})
		return err
	})
	if err != nil {
		return apoyo.User{}, err
	}
	return u, nil
}

// CreateToken issues an API token for the user named userName, valid for
// ttl (DefaultTokenTTL when ttl <= 0). The secret is in the result and
// nowhere else: only its SHA-256 is stored, so it cannot be shown again.
// Errors: ErrTokenTTL; ErrUserNotFound; ErrUserDisabled.
func (s *Store) CreateToken(ctx context.Context, userName string, ttl time.Duration, by apoyo.Identity) (apoyo.NewToken, error) {
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	if ttl > MaxTokenTTL {
		return apoyo.NewToken{}, ErrTokenTTL.With("a token lives at most %s; %s asked", MaxTokenTTL, ttl).At(0, "ttl")
	}
	micros := max(ttl.Microseconds(), 1) // the database keeps microseconds
	secret, hash := newSecret()
	var nt apoyo.NewToken
	err := s.write(ctx, "creating token", by, func(tx pgx.Tx) error {
		var userID string
		var disabled *time.Time
		// FOR SHARE: a concurrent DisableUser waits for this token and
		// then revokes it, or this waits and sees the user disabled.
		err := tx.QueryRow(ctx, `SELECT id, disabled_at FROM users WHERE name = $1 FOR SHARE`, userName).Scan(&userID, &disabled)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrUserNotFound.With("no user named %q", userName)
		}
		if err != nil {
			return err
		}
		if disabled != nil {
			return ErrUserDisabled.With("user %q is disabled and can get no token", userName)
		}
		nt.Token, err = scanToken(tx.QueryRow(ctx, `WITH t AS (
				INSERT INTO api_tokens (id, user_id, secret_hash, created_by, expires_at)
				VALUES ($1, $2, $3, $4, now() + $5::bigint * interval '1 microsecond')
				RETURNING *)
			SELECT `+tokenColumns+` FROM t JOIN users u ON u.id = t.user_id`,
			apoyo.NewID("tok_"), userID, hash, by.UserID, micros))
		if err == nil {
			audit.Note(ctx, []string{nt.ID, userID}, map[string]string{"expires_at": nt.ExpiresAt.UTC().Format(time.RFC3339)})
		}
		return err
	})
	if err != nil {
		return apoyo.NewToken{}, err
	}
	nt.Secret = secret
	return nt, nil
}

// Tokens returns the tokens of the user named userName, revoked and expired
// ones included, oldest first. Errors: ErrUserNotFound.
func (s *Store) Tokens(ctx context.Context, userName string) ([]apoyo.Token, error) {
	if _, err := s.User(ctx, userName); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE u.name = $1 ORDER BY t.created_at, t.id`, userName)
	if err != nil {
		return nil, dbError("listing tokens", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apoyo.Token, error) { return scanToken(r) })
	if err != nil {
		return nil, dbError("listing tokens", err)
	}
	return ts, nil
}

// RevokeToken ends the token with tokenID for good. Revoking a revoked
// token changes nothing and returns it as it is. Errors: ErrTokenNotFound.
func (s *Store) RevokeToken(ctx context.Context, tokenID string, by apoyo.Identity) (apoyo.Token, error) {
	var t apoyo.Token
	err := s.write(ctx, "revoking token", by, func(tx pgx.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRow(ctx, `WITH t AS (
				UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING *)
			SELECT `+tokenColumns+` FROM t JOIN users u ON u.id = t.user_id`, tokenID))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrTokenNotFound.With("no token with id %q", tokenID)
		}
		return err
	})
	if err != nil {
		return apoyo.Token{}, err
	}
	return t, nil
}

// ActiveAdmins counts the enabled users with role admin, so the operator's
// bootstrap creates the first administrator only when there is none.
func (s *Store) ActiveAdmins(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL`).Scan(&n)
	if err != nil {
		return 0, dbError("counting administrators", err)
	}
	return n, nil
}

// Authenticate implements apoyo.Authenticator for apoyo's own tokens: the
// identity of the token's user, Via "token", with TokenID. An unknown,
// malformed, revoked or expired token, or a disabled user's, gives
// apoyo.ErrUnauthenticated with one message for all, so a caller learns
// nothing about a token it does not hold. Errors never contain the token.
// Errors: apoyo.ErrUnauthenticated; EUNAVAILABLE.
func (s *Store) Authenticate(ctx context.Context, bearer string) (apoyo.Identity, error) {
	hash, ok := secretHash(bearer)
	if !ok {
		return apoyo.Identity{}, errBadToken
	}
	var u apoyo.User
	var tokenID string
	err := s.pool.QueryRow(ctx, `SELECT u.id, u.name, u.role, coalesce(u.secretariat, ''), t.id
		FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.secret_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now() AND u.disabled_at IS NULL`,
		hash).Scan(&u.ID, &u.Name, &u.Role, &u.Secretariat, &tokenID)
	if errors.Is(err, pgx.ErrNoRows) {
		return apoyo.Identity{}, errBadToken
	}
	if err != nil {
		return apoyo.Identity{}, dbError("checking token", err)
	}
	return u.Identity("token", tokenID), nil
}
