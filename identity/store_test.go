package identity_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/identity"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	admin     = apoyo.Identity{UserID: "usr_aaaaaaaaaaaaaaaa", Name: "root", Role: apoyo.RoleAdmin, Via: "token"}
	bootstrap = apoyo.System("bootstrap")
	userIDRE  = regexp.MustCompile(`^usr_[a-z2-7]{16}$`)
	tokenIDRE = regexp.MustCompile(`^tok_[a-z2-7]{16}$`)
	secretRE  = regexp.MustCompile(`^apoyo_[A-Za-z0-9_-]{43}$`)
)

func newStore(t *testing.T) (*identity.Store, *pgtest.DB) {
	t.Helper()
	db := pgtest.New(t)
	return identity.NewStore(db.Pool), db
}

func mustUser(t *testing.T, s *identity.Store, name string, role apoyo.Role, sec apoyo.Secretariat) apoyo.User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), apoyo.NewUser{Name: name, Role: role, Secretariat: sec}, admin)
	require.NoError(t, err)
	return u
}

func mustToken(t *testing.T, s *identity.Store, name string, ttl time.Duration) apoyo.NewToken {
	t.Helper()
	tok, err := s.CreateToken(context.Background(), name, ttl, admin)
	require.NoError(t, err)
	return tok
}

func requireCode(t *testing.T, err error, code apoyo.ErrorCode, reason, field string) {
	t.Helper()
	require.Error(t, err)
	var e *apoyo.Error
	require.True(t, errors.As(err, &e), "not an *apoyo.Error: %v", err)
	require.Equal(t, code, e.Code, "%v", err)
	require.Equal(t, reason, e.Reason, "%v", err)
	require.Equal(t, field, e.Field, "%v", err)
}

func TestCreateUserOfEveryRole(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	before := time.Now().Add(-time.Minute)
	secs := map[apoyo.Role]apoyo.Secretariat{apoyo.RoleApprover: apoyo.SIBISO}
	names := map[apoyo.Role]string{
		apoyo.RoleProgramManager: "pm.ana",
		apoyo.RoleCaseworker:     "cw-beto",
		apoyo.RoleApprover:       "ap_carla",
		apoyo.RoleAuditor:        "9auditor",
		apoyo.RoleAdmin:          "ad",
	}
	created := map[string]apoyo.User{}
	for _, role := range apoyo.Roles {
		u, err := s.CreateUser(ctx, apoyo.NewUser{Name: names[role], Role: role, Secretariat: secs[role]}, bootstrap)
		require.NoError(t, err, role)
		require.Regexp(t, userIDRE, u.ID)
		require.Equal(t, names[role], u.Name)
		require.Equal(t, role, u.Role)
		require.Equal(t, secs[role], u.Secretariat)
		require.Equal(t, "system:bootstrap", u.CreatedBy)
		require.Nil(t, u.DisabledAt)
		require.True(t, u.CreatedAt.After(before), u.CreatedAt)

		got, err := s.User(ctx, u.Name)
		require.NoError(t, err)
		require.Equal(t, u, got)
		got, err = s.UserByID(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, u, got)
		created[u.Name] = u
	}
	us, err := s.Users(ctx)
	require.NoError(t, err)
	var listed []string
	for _, u := range us {
		require.Equal(t, created[u.Name], u)
		listed = append(listed, u.Name)
	}
	require.Equal(t, []string{"9auditor", "ad", "ap_carla", "cw-beto", "pm.ana"}, listed, "by name")

	_, err = s.User(ctx, "nobody")
	requireCode(t, err, apoyo.ENOTFOUND, "user.not_found", "")
	require.ErrorIs(t, err, identity.ErrUserNotFound)
	_, err = s.UserByID(ctx, "usr_bbbbbbbbbbbbbbbb")
	require.ErrorIs(t, err, identity.ErrUserNotFound)
}

func TestCreateUserValidation(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	long := strings.Repeat("a", 65)
	for _, c := range []struct {
		u     apoyo.NewUser
		field string
	}{
		{apoyo.NewUser{Name: "", Role: apoyo.RoleAuditor}, "name"},
		{apoyo.NewUser{Name: "a", Role: apoyo.RoleAuditor}, "name"},
		{apoyo.NewUser{Name: "Maria", Role: apoyo.RoleAuditor}, "name"},
		{apoyo.NewUser{Name: ".maria", Role: apoyo.RoleAuditor}, "name"},
		{apoyo.NewUser{Name: "-maria", Role: apoyo.RoleAuditor}, "name"},
		{apoyo.NewUser{Name: "maria lopez", Role: apoyo.RoleAuditor}, "name"},
		{apoyo.NewUser{Name: "maría", Role: apoyo.RoleAuditor}, "name"},
		{apoyo.NewUser{Name: "maria@cdmx", Role: apoyo.RoleAuditor}, "name"},
		{apoyo.NewUser{Name: long, Role: apoyo.RoleAuditor}, "name"},
		{apoyo.NewUser{Name: "maria", Role: ""}, "role"},
		{apoyo.NewUser{Name: "maria", Role: "boss"}, "role"},
		{apoyo.NewUser{Name: "maria", Role: "Admin"}, "role"},
		{apoyo.NewUser{Name: "maria", Role: apoyo.RoleSystem}, "role"},
		{apoyo.NewUser{Name: "maria", Role: apoyo.RoleApprover}, "secretariat"},
		{apoyo.NewUser{Name: "maria", Role: apoyo.RoleApprover, Secretariat: "SEMOVI"}, "secretariat"},
		{apoyo.NewUser{Name: "maria", Role: apoyo.RoleApprover, Secretariat: "styfe"}, "secretariat"},
		{apoyo.NewUser{Name: "maria", Role: apoyo.RoleCaseworker, Secretariat: apoyo.STyFE}, "secretariat"},
		{apoyo.NewUser{Name: "maria", Role: apoyo.RoleAdmin, Secretariat: apoyo.SEDESA}, "secretariat"},
	} {
		_, err := s.CreateUser(ctx, c.u, admin)
		requireCode(t, err, apoyo.EINVALID, "user.invalid", c.field)
		require.ErrorIs(t, err, identity.ErrInvalidUser)
	}
	us, err := s.Users(ctx)
	require.NoError(t, err)
	require.Empty(t, us)

	// The limits themselves are accepted.
	mustUser(t, s, strings.Repeat("a", 64), apoyo.RoleAuditor, "")
	mustUser(t, s, "a.b_c-d9", apoyo.RoleApprover, apoyo.SEDESA)

	_, err = s.CreateUser(ctx, apoyo.NewUser{Name: "nadie", Role: apoyo.RoleAuditor}, apoyo.Identity{})
	require.ErrorIs(t, err, apoyo.ErrUnauthenticated, "an anonymous identity creates no one")
}

func TestDuplicateName(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	first := mustUser(t, s, "maria.lopez", apoyo.RoleCaseworker, "")
	_, err := s.CreateUser(ctx, apoyo.NewUser{Name: "maria.lopez", Role: apoyo.RoleAuditor}, admin)
	requireCode(t, err, apoyo.ECONFLICT, "user.exists", "name")
	require.ErrorIs(t, err, identity.ErrUserExists)
	got, err := s.User(ctx, "maria.lopez")
	require.NoError(t, err)
	require.Equal(t, first, got, "the first one is untouched")
}

func TestTokenAuthenticates(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	u := mustUser(t, s, "carla", apoyo.RoleApprover, apoyo.SEDESA)

	tok := mustToken(t, s, "carla", 0)
	require.Regexp(t, secretRE, tok.Secret)
	require.Regexp(t, tokenIDRE, tok.ID)
	require.Equal(t, u.ID, tok.UserID)
	require.Equal(t, "carla", tok.UserName)
	require.Equal(t, admin.UserID, tok.CreatedBy)
	require.Nil(t, tok.RevokedAt)
	require.WithinDuration(t, tok.CreatedAt.Add(identity.DefaultTokenTTL), tok.ExpiresAt, time.Second, "ttl 0 is the default")

	id, err := s.Authenticate(ctx, tok.Secret)
	require.NoError(t, err)
	require.Equal(t, apoyo.Identity{UserID: u.ID, Name: "carla", Role: apoyo.RoleApprover, Secretariat: apoyo.SEDESA, Via: "token", TokenID: tok.ID}, id)

	short := mustToken(t, s, "carla", time.Hour)
	require.WithinDuration(t, short.CreatedAt.Add(time.Hour), short.ExpiresAt, time.Second)
	require.NotEqual(t, tok.Secret, short.Secret)
	id, err = s.Authenticate(ctx, short.Secret)
	require.NoError(t, err)
	require.Equal(t, short.ID, id.TokenID)

	ts, err := s.Tokens(ctx, "carla")
	require.NoError(t, err)
	require.Equal(t, []apoyo.Token{tok.Token, short.Token}, ts)

	_, err = s.Tokens(ctx, "nobody")
	require.ErrorIs(t, err, identity.ErrUserNotFound)
	_, err = s.CreateToken(ctx, "nobody", 0, admin)
	require.ErrorIs(t, err, identity.ErrUserNotFound)
}

func TestSecretIsNotStored(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	ctx := context.Background()
	mustUser(t, s, "beto", apoyo.RoleCaseworker, "")
	tok := mustToken(t, s, "beto", 0)
	body := strings.TrimPrefix(tok.Secret, identity.TokenPrefix)

	var rows []string
	r, err := db.Pool.Query(ctx, `SELECT t::text FROM api_tokens t`)
	require.NoError(t, err)
	rows, err = pgx.CollectRows(r, pgx.RowTo[string])
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.NotContains(t, rows[0], body)
	require.Contains(t, rows[0], tok.ID, "the row was read")

	var hash []byte
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT secret_hash FROM api_tokens WHERE id = $1`, tok.ID).Scan(&hash))
	sum := sha256.Sum256([]byte(tok.Secret))
	require.Equal(t, sum[:], hash, "only the SHA-256 is kept")
}

func TestTokensThatProveNothing(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	ctx := context.Background()
	mustUser(t, s, "ana", apoyo.RoleProgramManager, "")
	mustUser(t, s, "gone", apoyo.RoleAuditor, "")

	good := mustToken(t, s, "ana", 0)
	revoked := mustToken(t, s, "ana", 0)
	_, err := s.RevokeToken(ctx, revoked.ID, admin)
	require.NoError(t, err)
	tiny := mustToken(t, s, "ana", time.Millisecond)
	expired := mustToken(t, s, "ana", 0)
	_, err = db.Pool.Exec(ctx, `UPDATE api_tokens SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day' WHERE id = $1`, expired.ID)
	require.NoError(t, err)
	disabled := mustToken(t, s, "gone", 0)
	_, err = s.DisableUser(ctx, "gone", admin)
	require.NoError(t, err)
	// Disabled by hand in the database, its tokens left unrevoked: the
	// user's state is checked, not only the token's.
	mustUser(t, s, "hand", apoyo.RoleAuditor, "")
	byHand := mustToken(t, s, "hand", 0)
	_, err = db.Pool.Exec(ctx, `UPDATE users SET disabled_at = now() WHERE name = 'hand'`)
	require.NoError(t, err)
	time.Sleep(5 * time.Millisecond)

	// The control: the same store accepts a good token.
	_, err = s.Authenticate(ctx, good.Secret)
	require.NoError(t, err)

	// Well-formed but never issued: the good one with one character changed.
	b := []byte(good.Secret)
	if b[20] == 'A' {
		b[20] = 'B'
	} else {
		b[20] = 'A'
	}
	unknown := string(b)

	var message string
	for name, bearer := range map[string]string{
		"revoked":                        revoked.Secret,
		"tiny ttl":                       tiny.Secret,
		"expired":                        expired.Secret,
		"disabled user":                  disabled.Secret,
		"disabled user, token unrevoked": byHand.Secret,
		"unknown":                        unknown,
		"empty":                          "",
		"prefix only":                    identity.TokenPrefix,
		"truncated":                      good.Secret[:len(good.Secret)-1],
		"extended":                       good.Secret + "A",
		"not base64":                     identity.TokenPrefix + strings.Repeat("*", 43),
		"other prefix":                   "apoyx_" + strings.TrimPrefix(good.Secret, identity.TokenPrefix),
		"with space":                     " " + good.Secret,
		"a jwt":                          "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
	} {
		id, err := s.Authenticate(ctx, bearer)
		require.ErrorIs(t, err, apoyo.ErrUnauthenticated, name)
		require.Equal(t, apoyo.EUNAUTHENTICATED, apoyo.ErrorCodeOf(err), name)
		require.True(t, id.Anonymous(), name)
		if bearer != "" {
			require.NotContains(t, err.Error(), bearer, "%s: the error echoes the token", name)
		}
		if message == "" {
			message = err.Error()
		}
		require.Equal(t, message, err.Error(), "%s: one message for every rejected token", name)
	}
}

func TestRevokeToken(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	mustUser(t, s, "ana", apoyo.RoleProgramManager, "")
	tok := mustToken(t, s, "ana", 0)
	other := mustToken(t, s, "ana", 0)

	r, err := s.RevokeToken(ctx, tok.ID, admin)
	require.NoError(t, err)
	require.NotNil(t, r.RevokedAt)
	require.Equal(t, tok.ID, r.ID)
	require.Equal(t, "ana", r.UserName)
	again, err := s.RevokeToken(ctx, tok.ID, admin)
	require.NoError(t, err, "idempotent")
	require.Equal(t, r, again, "the first revocation stands")

	_, err = s.Authenticate(ctx, tok.Secret)
	require.ErrorIs(t, err, apoyo.ErrUnauthenticated)
	_, err = s.Authenticate(ctx, other.Secret)
	require.NoError(t, err, "only that token is revoked")

	_, err = s.RevokeToken(ctx, "tok_bbbbbbbbbbbbbbbb", admin)
	requireCode(t, err, apoyo.ENOTFOUND, "token.not_found", "")
	require.ErrorIs(t, err, identity.ErrTokenNotFound)
}

func TestDisableUser(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	mustUser(t, s, "beto", apoyo.RoleCaseworker, "")
	mustUser(t, s, "ana", apoyo.RoleCaseworker, "")
	t1 := mustToken(t, s, "beto", 0)
	t2 := mustToken(t, s, "beto", time.Hour)
	kept := mustToken(t, s, "ana", 0)

	u, err := s.DisableUser(ctx, "beto", admin)
	require.NoError(t, err)
	require.NotNil(t, u.DisabledAt)
	again, err := s.DisableUser(ctx, "beto", admin)
	require.NoError(t, err, "idempotent")
	require.Equal(t, u, again)

	ts, err := s.Tokens(ctx, "beto")
	require.NoError(t, err)
	require.Len(t, ts, 2)
	for _, tk := range ts {
		require.NotNil(t, tk.RevokedAt, "every token of a disabled user is revoked")
	}
	for _, tk := range []apoyo.NewToken{t1, t2} {
		_, err = s.Authenticate(ctx, tk.Secret)
		require.ErrorIs(t, err, apoyo.ErrUnauthenticated)
	}
	_, err = s.Authenticate(ctx, kept.Secret)
	require.NoError(t, err, "another user's token keeps working")

	_, err = s.CreateToken(ctx, "beto", 0, admin)
	requireCode(t, err, apoyo.ECONFLICT, "user.disabled", "")
	require.ErrorIs(t, err, identity.ErrUserDisabled)

	_, err = s.DisableUser(ctx, "nobody", admin)
	require.ErrorIs(t, err, identity.ErrUserNotFound)
}

func TestSetRole(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	u := mustUser(t, s, "beto", apoyo.RoleCaseworker, "")
	tok := mustToken(t, s, "beto", 0)

	got, err := s.SetRole(ctx, "beto", apoyo.RoleApprover, apoyo.STyFE, admin)
	require.NoError(t, err)
	require.Equal(t, apoyo.RoleApprover, got.Role)
	require.Equal(t, apoyo.STyFE, got.Secretariat)
	require.Equal(t, u.ID, got.ID)
	id, err := s.Authenticate(ctx, tok.Secret)
	require.NoError(t, err)
	require.Equal(t, apoyo.RoleApprover, id.Role, "a token carries the user's current role")
	require.Equal(t, apoyo.STyFE, id.Secretariat)

	got, err = s.SetRole(ctx, "beto", apoyo.RoleAuditor, "", admin)
	require.NoError(t, err)
	require.Equal(t, apoyo.RoleAuditor, got.Role)
	require.Empty(t, got.Secretariat, "the secretariat goes with the approver role")
	stored, err := s.User(ctx, "beto")
	require.NoError(t, err)
	require.Equal(t, got, stored)

	for _, c := range []struct {
		role  apoyo.Role
		sec   apoyo.Secretariat
		field string
	}{
		{"boss", "", "role"},
		{apoyo.RoleSystem, "", "role"},
		{apoyo.RoleApprover, "", "secretariat"},
		{apoyo.RoleApprover, "SEMOVI", "secretariat"},
		{apoyo.RoleCaseworker, apoyo.SIBISO, "secretariat"},
	} {
		_, err = s.SetRole(ctx, "beto", c.role, c.sec, admin)
		requireCode(t, err, apoyo.EINVALID, "user.invalid", c.field)
	}
	stored, err = s.User(ctx, "beto")
	require.NoError(t, err)
	require.Equal(t, got, stored, "refused changes change nothing")

	_, err = s.SetRole(ctx, "nobody", apoyo.RoleAuditor, "", admin)
	require.ErrorIs(t, err, identity.ErrUserNotFound)
}

func TestActiveAdmins(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	count := func() int {
		t.Helper()
		n, err := s.ActiveAdmins(ctx)
		require.NoError(t, err)
		return n
	}
	require.Equal(t, 0, count())
	mustUser(t, s, "root", apoyo.RoleAdmin, "")
	mustUser(t, s, "root2", apoyo.RoleAdmin, "")
	mustUser(t, s, "aud", apoyo.RoleAuditor, "")
	require.Equal(t, 2, count())
	_, err := s.DisableUser(ctx, "root2", admin)
	require.NoError(t, err)
	require.Equal(t, 1, count(), "a disabled admin does not count")
	_, err = s.SetRole(ctx, "root", apoyo.RoleAuditor, "", admin)
	require.NoError(t, err)
	require.Equal(t, 0, count())
	_, err = s.SetRole(ctx, "aud", apoyo.RoleAdmin, "", admin)
	require.NoError(t, err)
	require.Equal(t, 1, count())
}

func TestOnCommitRunsInTheTransaction(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	ctx := context.Background()
	mustUser(t, s, "ana", apoyo.RoleCaseworker, "")
	tok := mustToken(t, s, "ana", 0)

	// A hook that sees the change (so it runs inside the transaction,
	// after it) and then fails: nothing may be stored.
	boom := errors.New("audit log unavailable")
	var seen []string
	s.OnCommit = func(ctx context.Context, tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, `SELECT string_agg(name || ':' || role || ':' || coalesce(disabled_at::text, '-'), ',' ORDER BY name)
			|| '|' || (SELECT count(*) FROM api_tokens) || '|' || (SELECT count(*) FROM api_tokens WHERE revoked_at IS NOT NULL)
			FROM users`).Scan(&state)
		require.NoError(t, err)
		seen = append(seen, state)
		return boom
	}
	_, err := s.CreateUser(ctx, apoyo.NewUser{Name: "beto", Role: apoyo.RoleAuditor}, admin)
	require.ErrorIs(t, err, boom)
	_, err = s.CreateToken(ctx, "ana", 0, admin)
	require.ErrorIs(t, err, boom)
	_, err = s.SetRole(ctx, "ana", apoyo.RoleAdmin, "", admin)
	require.ErrorIs(t, err, boom)
	_, err = s.RevokeToken(ctx, tok.ID, admin)
	require.ErrorIs(t, err, boom)
	_, err = s.DisableUser(ctx, "ana", admin)
	require.ErrorIs(t, err, boom)

	require.Len(t, seen, 5)
	require.Equal(t, "ana:caseworker:-,beto:auditor:-|1|0", seen[0], "the hook sees the new user")
	require.Equal(t, "ana:caseworker:-|2|0", seen[1], "the hook sees the new token")
	require.Equal(t, "ana:admin:-|1|0", seen[2], "the hook sees the new role")
	require.Equal(t, "ana:caseworker:-|1|1", seen[3], "the hook sees the revocation")
	require.Regexp(t, `^ana:caseworker:[0-9].*\|1\|1$`, seen[4], "the hook sees the user disabled and the token revoked")

	// And nothing of it was committed.
	var state string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT string_agg(name || ':' || role || ':' || coalesce(disabled_at::text, '-'), ',')
		|| '|' || (SELECT count(*) FROM api_tokens) || '|' || (SELECT count(*) FROM api_tokens WHERE revoked_at IS NOT NULL)
		FROM users`).Scan(&state))
	require.Equal(t, "ana:caseworker:-|1|0", state)
	_, err = s.Authenticate(ctx, tok.Secret)
	require.NoError(t, err)

	// A hook that succeeds lets the change commit.
	calls := 0
	s.OnCommit = func(ctx context.Context, tx pgx.Tx) error { calls++; return nil }
	_, err = s.CreateUser(ctx, apoyo.NewUser{Name: "beto", Role: apoyo.RoleAuditor}, admin)
	require.NoError(t, err)
	require.Equal(t, 1, calls)
	_, err = s.User(ctx, "beto")
	require.NoError(t, err)
}

func TestChainRoutesByPrefix(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	iss := newIssuer(t)
	o := iss.oidc(t, identity.OIDCConfig{})
	u := mustUser(t, s, "ana", apoyo.RoleProgramManager, "")
	tok := mustToken(t, s, "ana", 0)
	jwt := iss.sign(t, iss.claims())

	both := identity.Chain(s, o)
	id, err := both.Authenticate(ctx, tok.Secret)
	require.NoError(t, err)
	require.Equal(t, u.Identity("token", tok.ID), id)
	id, err = both.Authenticate(ctx, jwt)
	require.NoError(t, err)
	require.Equal(t, "oidc", id.Via)
	require.Equal(t, "oidc:"+subject, id.UserID)
	_, err = both.Authenticate(ctx, "")
	require.ErrorIs(t, err, apoyo.ErrUnauthenticated)
	_, err = both.Authenticate(ctx, identity.TokenPrefix+"x")
	require.ErrorIs(t, err, apoyo.ErrUnauthenticated)

	storeOnly := identity.Chain(s, nil)
	_, err = storeOnly.Authenticate(ctx, tok.Secret)
	require.NoError(t, err)
	_, err = storeOnly.Authenticate(ctx, jwt)
	require.ErrorIs(t, err, apoyo.ErrUnauthenticated, "no OIDC: a JWT proves nothing")

	oidcOnly := identity.Chain(nil, o)
	_, err = oidcOnly.Authenticate(ctx, jwt)
	require.NoError(t, err)
	_, err = oidcOnly.Authenticate(ctx, tok.Secret)
	require.ErrorIs(t, err, apoyo.ErrUnauthenticated)

	_, err = identity.Chain(nil, nil).Authenticate(ctx, jwt)
	require.ErrorIs(t, err, apoyo.ErrUnauthenticated)
}

// A token lives at most MaxTokenTTL: a forgotten one dies on its own.
func TestTokenLifeIsBounded(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	mustUser(t, s, "dora", apoyo.RoleAuditor, "")
	_, err := s.CreateToken(ctx, "dora", identity.MaxTokenTTL+time.Hour, admin)
	require.ErrorIs(t, err, identity.ErrTokenTTL)
	require.Equal(t, "ttl", err.(*apoyo.Error).Field)
	tok, err := s.CreateToken(ctx, "dora", identity.MaxTokenTTL, admin)
	require.NoError(t, err)
	require.WithinDuration(t, tok.CreatedAt.Add(identity.MaxTokenTTL), tok.ExpiresAt, time.Second)
}
