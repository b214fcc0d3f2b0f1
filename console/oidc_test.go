package console_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/app"
	"github.com/apoyo-cdmx/apoyo/console"
	"github.com/apoyo-cdmx/apoyo/identity"
	"github.com/apoyo-cdmx/apoyo/internal/testfactory"
)

// fakeIssuer is a Keycloak-like issuer on loopback: discovery, keys, and a
// token endpoint that hands out an ID token for one code, only to the
// holder of the PKCE verifier whose challenge came with the code.
type fakeIssuer struct {
	srv       *httptest.Server
	key       *rsa.PrivateKey
	challenge string
}

func newFakeIssuer(t *testing.T) *fakeIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	f := &fakeIssuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /realms/cdmx/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": f.url(), "authorization_endpoint": f.url() + "/auth",
			"token_endpoint": f.url() + "/token", "jwks_uri": f.url() + "/certs", "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /realms/cdmx/certs", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("POST /realms/cdmx/token", func(w http.ResponseWriter, r *http.Request) {
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if r.PostFormValue("code") != "the-code" || base64.RawURLEncoding.EncodeToString(sum[:]) != f.challenge {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "id_token": f.idToken(t)})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIssuer) url() string { return f.srv.URL + "/realms/cdmx" }

func (f *fakeIssuer) idToken(t *testing.T) string {
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{"iss": f.url(), "aud": "apoyo", "sub": "3f1c", "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(),
		"preferred_username": "ana.ruiz", "realm_access": map[string]any{"roles": []any{"caseworker", "offline_access"}}})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: f.key, KeyID: "k1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	jws, err := signer.Sign(payload)
	require.NoError(t, err)
	s, err := jws.CompactSerialize()
	require.NoError(t, err)
	return s
}

// TestOIDCSignIn: the console sends the person to the issuer with a state
// and a PKCE challenge; back with the code, it exchanges it with the
// verifier, checks the ID token as the API checks bearer tokens, and
// signs the person in with their role. A callback whose state is not the
// one this browser was given signs no one in.
func TestOIDCSignIn(t *testing.T) {
	t.Parallel()
	iss := newFakeIssuer(t)
	ctx := context.Background()
	verifier, err := identity.NewOIDC(ctx, identity.OIDCConfig{Issuer: iss.url(), Audience: "apoyo"})
	require.NoError(t, err)
	login, err := console.NewOIDCLogin(ctx, console.OIDCLoginConfig{Issuer: iss.url(), ClientID: "apoyo", RedirectURL: "http://console.test/login/oidc/callback"})
	require.NoError(t, err)
	s := &console.Server{App: app.NewAuthorizedWith(&sampleService{}, testfactory.NoEvidence{}), Auth: verifier, OIDC: login, Logger: slog.New(slog.DiscardHandler),
		Can: func(who apoyo.Identity, act apoyo.Action) bool { return app.Allowed(who, act) == nil }}
	h, err := s.Handler()
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()

	_, _, page := call(t, srv, "", "GET", "/login", nil)
	require.Contains(t, page, `href="/login/oidc"`)
	status, hdr, _ := call(t, srv, "", "GET", "/login/oidc", nil)
	require.Equal(t, http.StatusFound, status)
	to, err := url.Parse(hdr.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, iss.url()+"/auth", to.Scheme+"://"+to.Host+to.Path)
	q := to.Query()
	require.Equal(t, "S256", q.Get("code_challenge_method"))
	require.Equal(t, "apoyo", q.Get("client_id"))
	iss.challenge = q.Get("code_challenge")
	flow := hdr.Get("Set-Cookie")
	require.Contains(t, flow, "HttpOnly")
	flowCookie := strings.SplitN(flow, ";", 2)[0]

	// Another browser's state: refused, nobody signed in.
	status, hdr, _ = call(t, srv, "", "GET", "/login/oidc/callback?code=the-code&state=forged", nil, "Cookie", flowCookie)
	require.Equal(t, http.StatusUnauthorized, status)
	require.NotContains(t, hdr.Get("Set-Cookie"), "apoyo_session=ey")

	status, hdr, body := call(t, srv, "", "GET", "/login/oidc/callback?code=the-code&state="+q.Get("state"), nil, "Cookie", flowCookie)
	require.Equal(t, http.StatusSeeOther, status, body)
	var session string
	for _, c := range hdr.Values("Set-Cookie") {
		if v, ok := strings.CutPrefix(c, "apoyo_session="); ok {
			session = strings.SplitN(v, ";", 2)[0]
		}
	}
	require.NotEmpty(t, session)
	status, _, body = call(t, srv, session, "GET", "/queue", nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "ana.ruiz")
}
