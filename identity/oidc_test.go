package identity_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/identity"
)

const (
	subject  = "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
	audience = "apoyo"
)

var (
	keysOnce           sync.Once
	issuerKey, evilKey *rsa.PrivateKey
)

func keys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if issuerKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if evilKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return issuerKey, evilKey
}

// issuer is a Keycloak-like OIDC issuer: a realm URL with a discovery
// document and a JWKS endpoint, over TLS.
type issuer struct {
	srv *httptest.Server
	key *rsa.PrivateKey
	// claimedIssuer, when set, is the issuer the discovery document names.
	claimedIssuer string
	failKeys      atomic.Bool
	keyFetches    atomic.Int64
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, _ := keys(t)
	iss := &issuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /realms/cdmx/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		claimed := iss.url()
		if iss.claimedIssuer != "" {
			claimed = iss.claimedIssuer
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                claimed,
			"authorization_endpoint":                iss.url() + "/protocol/openid-connect/auth",
			"token_endpoint":                        iss.url() + "/protocol/openid-connect/token",
			"jwks_uri":                              iss.url() + "/protocol/openid-connect/certs",
			"id_token_signing_alg_values_supported": []string{"RS256", "HS256", "none"},
		})
	})
	mux.HandleFunc("GET /realms/cdmx/protocol/openid-connect/certs", func(w http.ResponseWriter, r *http.Request) {
		iss.keyFetches.Add(1)
		if iss.failKeys.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &iss.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"},
		}})
	})
	iss.srv = httptest.NewTLSServer(mux)
	t.Cleanup(iss.srv.Close)
	return iss
}

func (i *issuer) url() string { return i.srv.URL + "/realms/cdmx" }

func (i *issuer) oidc(t *testing.T, c identity.OIDCConfig) *identity.OIDC {
	t.Helper()
	c.Issuer, c.HTTPClient = i.url(), i.srv.Client()
	if c.Audience == "" {
		c.Audience = audience
	}
	o, err := identity.NewOIDC(context.Background(), c)
	require.NoError(t, err)
	require.NotNil(t, o)
	return o
}

// claims are those of a Keycloak access token for an approver of SIBISO.
func (i *issuer) claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"exp":                now.Add(5 * time.Minute).Unix(),
		"iat":                now.Unix(),
		"jti":                "0b5a3c1e-6d1f-4c39-9d8e-3e1f0c7b2a11",
		"iss":                i.url(),
		"aud":                []string{audience, "account"},
		"sub":                subject,
		"typ":                "Bearer",
		"azp":                audience,
		"preferred_username": "carla.mendez",
		"email":              "carla.mendez@cdmx.gob.mx",
		"realm_access": map[string]any{
			"roles": []any{"offline_access", "uma_authorization", "default-roles-cdmx", "approver"},
		},
		"resource_access": map[string]any{
			"account": map[string]any{"roles": []any{"manage-account", "view-profile"}},
		},
		"secretariat": "sibiso",
		"scope":       "openid profile email",
	}
}

func (i *issuer) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	return signWith(t, jose.RS256, jose.JSONWebKey{Key: i.key, KeyID: "k1"}, claims)
}

func signWith(t *testing.T, alg jose.SignatureAlgorithm, key any, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	require.NoError(t, err)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	jws, err := signer.Sign(payload)
	require.NoError(t, err)
	s, err := jws.CompactSerialize()
	require.NoError(t, err)
	return s
}

func with(base map[string]any, kv ...any) map[string]any {
	c := maps.Clone(base)
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func roles(rs ...any) map[string]any { return map[string]any{"roles": rs} }

func TestOIDCKeycloakToken(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	o := iss.oidc(t, identity.OIDCConfig{})
	id, err := o.Authenticate(context.Background(), iss.sign(t, iss.claims()))
	require.NoError(t, err)
	require.Equal(t, apoyo.Identity{
		UserID:      "oidc:" + subject,
		Name:        "carla.mendez",
		Role:        apoyo.RoleApprover,
		Secretariat: apoyo.SIBISO,
		Via:         "oidc",
	}, id)
}

func TestOIDCClaimMapping(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	base := iss.claims()
	ident := func(name string, role apoyo.Role, sec apoyo.Secretariat) apoyo.Identity {
		return apoyo.Identity{UserID: "oidc:" + subject, Name: name, Role: role, Secretariat: sec, Via: "oidc"}
	}
	for _, c := range []struct {
		name      string
		cfg       identity.OIDCConfig
		claims    map[string]any
		want      apoyo.Identity // zero: forbidden
		forbidden string         // part of the message
	}{
		{name: "approver, secretariat in any case", claims: with(base, "secretariat", "SiBiSo"),
			want: ident("carla.mendez", apoyo.RoleApprover, apoyo.SIBISO)},
		{name: "approver, secretariat as a one-element array", claims: with(base, "secretariat", []any{"sedesa"}),
			want: ident("carla.mendez", apoyo.RoleApprover, apoyo.SEDESA)},
		{name: "approver, the same secretariat twice", claims: with(base, "secretariat", []any{"styfe", "STYFE"}),
			want: ident("carla.mendez", apoyo.RoleApprover, apoyo.STyFE)},
		{name: "auditor: the secretariat claim is ignored",
			claims: with(base, "realm_access", roles("offline_access", "auditor"), "secretariat", []any{"STYFE", "SEDESA"}),
			want:   ident("carla.mendez", apoyo.RoleAuditor, "")},
		{name: "caseworker without secretariat claim",
			claims: with(base, "realm_access", roles("caseworker"), "secretariat", nil),
			want:   ident("carla.mendez", apoyo.RoleCaseworker, "")},
		{name: "one role listed twice", claims: with(base, "realm_access", roles("admin", "default-roles-cdmx", "admin")),
			want: ident("carla.mendez", apoyo.RoleAdmin, "")},
		{name: "no name claim: the subject", claims: with(base, "preferred_username", nil, "realm_access", roles("program_manager")),
			want: ident(subject, apoyo.RoleProgramManager, "")},
		{name: "role claim as a string", cfg: identity.OIDCConfig{RoleClaim: "apoyo_role"},
			claims: with(base, "apoyo_role", "auditor"),
			want:   ident("carla.mendez", apoyo.RoleAuditor, "")},
		{name: "custom claim paths",
			cfg: identity.OIDCConfig{RoleClaim: "resource_access.apoyo.roles", SecretariatClaim: "org.secretariat", NameClaim: "email"},
			claims: with(base,
				"resource_access", map[string]any{"apoyo": roles("approver"), "account": roles("manage-account")},
				"realm_access", roles("offline_access", "auditor", "admin"), // not the configured claim
				"org", map[string]any{"secretariat": "STYFE"}),
			want: ident("carla.mendez@cdmx.gob.mx", apoyo.RoleApprover, apoyo.STyFE)},

		{name: "no apoyo role", claims: with(base, "realm_access", roles("offline_access", "uma_authorization", "default-roles-cdmx")),
			forbidden: "no apoyo role"},
		{name: "system is no user's role", claims: with(base, "realm_access", roles("system")), forbidden: "no apoyo role"},
		{name: "roles are case-sensitive", claims: with(base, "realm_access", roles("Admin")), forbidden: "no apoyo role"},
		{name: "no role claim", claims: with(base, "realm_access", nil), forbidden: "no apoyo role"},
		{name: "role claim not a list", claims: with(base, "realm_access", "approver"), forbidden: "no apoyo role"},
		{name: "two apoyo roles", claims: with(base, "realm_access", roles("offline_access", "caseworker", "approver")),
			forbidden: "2 apoyo roles (approver, caseworker)"},
		{name: "approver without secretariat", claims: with(base, "secretariat", nil), forbidden: "no secretariat"},
		{name: "approver with an empty secretariat", claims: with(base, "secretariat", ""), forbidden: "no secretariat"},
		{name: "approver with two secretariats", claims: with(base, "secretariat", []any{"STYFE", "sedesa"}),
			forbidden: "nobody approves for two secretariats"},
		{name: "approver with an unknown secretariat", claims: with(base, "secretariat", "SEMOVI"),
			forbidden: "unknown secretariat"},
		{name: "approver with a secretariat that is not text", claims: with(base, "secretariat", []any{1}),
			forbidden: "not text"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := iss.oidc(t, c.cfg)
			id, err := o.Authenticate(context.Background(), iss.sign(t, c.claims))
			if c.forbidden == "" {
				require.NoError(t, err)
				require.Equal(t, c.want, id)
				return
			}
			require.ErrorIs(t, err, apoyo.ErrForbidden)
			require.Equal(t, apoyo.EFORBIDDEN, apoyo.ErrorCodeOf(err))
			require.Contains(t, err.Error(), c.forbidden)
			require.True(t, id.Anonymous())
		})
	}
}

func TestOIDCTokensThatProveNothing(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	other := newIssuer(t)
	o := iss.oidc(t, identity.OIDCConfig{})
	ctx := context.Background()
	base := iss.claims()
	_, evil := keys(t)

	// The control: a good token passes.
	_, err := o.Authenticate(ctx, iss.sign(t, base))
	require.NoError(t, err)

	b64 := func(v any) string {
		j, err := json.Marshal(v)
		require.NoError(t, err)
		return base64.RawURLEncoding.EncodeToString(j)
	}
	for name, tok := range map[string]string{
		"wrong audience":    iss.sign(t, with(base, "aud", []string{"account"})),
		"no audience":       iss.sign(t, with(base, "aud", nil)),
		"wrong issuer":      iss.sign(t, with(base, "iss", other.url())),
		"no issuer":         iss.sign(t, with(base, "iss", nil)),
		"expired":           iss.sign(t, with(base, "exp", time.Now().Add(-time.Minute).Unix())),
		"no expiry":         iss.sign(t, with(base, "exp", nil)),
		"not yet valid":     iss.sign(t, with(base, "nbf", time.Now().Add(time.Hour).Unix())),
		"no subject":        iss.sign(t, with(base, "sub", nil)),
		"another key":       signWith(t, jose.RS256, jose.JSONWebKey{Key: evil, KeyID: "k1"}, base),
		"another key, kid2": signWith(t, jose.RS256, jose.JSONWebKey{Key: evil, KeyID: "k2"}, base),
		"another key, none": signWith(t, jose.RS256, evil, base),
		"HS256":             signWith(t, jose.HS256, []byte(strings.Repeat("s", 32)), base),
		"alg none":          b64(map[string]string{"alg": "none", "typ": "JWT"}) + "." + b64(base) + ".",
		"tampered claims": func() string {
			parts := strings.Split(iss.sign(t, with(base, "realm_access", roles("auditor"))), ".")
			parts[1] = b64(with(base, "realm_access", roles("admin")))
			return strings.Join(parts, ".")
		}(),
		"malformed":   "not.a.jwt",
		"two parts":   "eyJhbGciOiJSUzI1NiJ9.e30",
		"garbage":     "Bearer abc",
		"empty":       "",
		"apoyo token": identity.TokenPrefix + strings.Repeat("A", 43),
	} {
		id, err := o.Authenticate(ctx, tok)
		require.ErrorIs(t, err, apoyo.ErrUnauthenticated, name)
		require.Equal(t, apoyo.EUNAUTHENTICATED, apoyo.ErrorCodeOf(err), name)
		require.True(t, id.Anonymous(), name)
		if tok != "" {
			require.NotContains(t, err.Error(), tok, name)
			if cause := errors.Unwrap(err); cause != nil {
				require.NotContains(t, cause.Error(), tok, name)
			}
		}
	}
}

func TestOIDCKeysUnavailable(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	o := iss.oidc(t, identity.OIDCConfig{})
	ctx := context.Background()
	iss.failKeys.Store(true)
	_, err := o.Authenticate(ctx, iss.sign(t, iss.claims()))
	require.ErrorIs(t, err, identity.ErrOIDCUnavailable)
	require.Equal(t, apoyo.EUNAVAILABLE, apoyo.ErrorCodeOf(err), "an outage is not a forged token: %v", err)
	require.True(t, apoyo.Retryable(err))
	require.Positive(t, iss.keyFetches.Load())

	iss.failKeys.Store(false)
	// go-oidc shares one fetch of the keys among the requests that need
	// them, and a request may still be handed the result of the failed
	// fetch as it finishes (seen once in CI): the next ones fetch again.
	var id apoyo.Identity
	require.Eventually(t, func() bool {
		id, err = o.Authenticate(ctx, iss.sign(t, iss.claims()))
		return err == nil
	}, 5*time.Second, 20*time.Millisecond, "the keys are fetched again once the issuer is back")
	require.Equal(t, apoyo.RoleApprover, id.Role)
}

func TestNewOIDC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	iss := newIssuer(t)

	o, err := identity.NewOIDC(ctx, identity.OIDCConfig{})
	require.NoError(t, err)
	require.Nil(t, o, "no issuer: OIDC off")
	_, err = o.Authenticate(ctx, iss.sign(t, iss.claims()))
	require.ErrorIs(t, err, apoyo.ErrUnauthenticated, "a nil OIDC authenticates no one")

	for _, c := range []struct {
		cfg   identity.OIDCConfig
		field string
	}{
		{identity.OIDCConfig{Issuer: "http://sso.cdmx.gob.mx/realms/cdmx", Audience: audience}, "issuer"},
		{identity.OIDCConfig{Issuer: "sso.cdmx.gob.mx/realms/cdmx", Audience: audience}, "issuer"},
		{identity.OIDCConfig{Issuer: "https://", Audience: audience}, "issuer"},
		{identity.OIDCConfig{Issuer: iss.url(), HTTPClient: iss.srv.Client()}, "audience"},
	} {
		_, err := identity.NewOIDC(ctx, c.cfg)
		requireCode(t, err, apoyo.EINVALID, "oidc.config", c.field)
	}

	// Discovery names another issuer: misconfigured, not down.
	liar := newIssuer(t)
	liar.claimedIssuer = "https://sso.example.org/realms/cdmx"
	_, err = identity.NewOIDC(ctx, identity.OIDCConfig{Issuer: liar.url(), Audience: audience, HTTPClient: liar.srv.Client()})
	requireCode(t, err, apoyo.EINVALID, "oidc.config", "issuer")

	// Unreachable: a closed server, a certificate the client does not
	// trust, a loopback http issuer with nothing listening.
	closed := httptest.NewTLSServer(http.NotFoundHandler())
	closed.Close()
	for _, c := range []identity.OIDCConfig{
		{Issuer: closed.URL + "/realms/cdmx", Audience: audience, HTTPClient: closed.Client()},
		{Issuer: iss.url(), Audience: audience},
		{Issuer: "http://127.0.0.1:1/realms/cdmx", Audience: audience},
		{Issuer: iss.srv.URL + "/realms/other", Audience: audience, HTTPClient: iss.srv.Client()},
	} {
		_, err := identity.NewOIDC(ctx, c)
		require.ErrorIs(t, err, identity.ErrOIDCUnavailable, c.Issuer)
		require.Equal(t, apoyo.EUNAVAILABLE, apoyo.ErrorCodeOf(err))
	}
}

// A name claim that is not plain text within the limit (it would break
// every audit entry of the user, or put control characters in the logs)
// gives way to the subject; a refusal names the user by id, never by a
// claim's value.
func TestOIDCNameAndMessagesHoldNoClaimText(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	o := iss.oidc(t, identity.OIDCConfig{})
	for _, bad := range []string{strings.Repeat("n", 300), "carla\x00mendez", "carla\u202emendez", "carla\nmendez"} {
		id, err := o.Authenticate(context.Background(), iss.sign(t, with(iss.claims(), "preferred_username", bad)))
		require.NoError(t, err)
		require.Equal(t, subject, id.Name)
	}
	_, err := o.Authenticate(context.Background(), iss.sign(t, with(iss.claims(), "secretariat", "inm.migracion@example.org")))
	require.ErrorIs(t, err, apoyo.ErrForbidden)
	require.NotContains(t, err.Error(), "inm.migracion")
	require.NotContains(t, err.Error(), "carla.mendez")
	require.Contains(t, err.Error(), "oidc:"+subject)
}
