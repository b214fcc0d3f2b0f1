package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/apoyo-cdmx/apoyo"
)

// OIDCLogin signs people in through the OIDC issuer (the city's
// Keycloak) with the authorization code flow and PKCE. The ID token it
// gets back becomes the session, and is checked on every request by the
// same Authenticator as the API's bearer tokens (issuer, audience,
// signature, expiry, role claims): the console adds no second way of
// trusting a token.
type OIDCLogin struct {
	config oauth2.Config
}

// OIDCLoginConfig configures sign-in through the issuer.
type OIDCLoginConfig struct {
	// Issuer is the issuer URL (as auth.oidc_issuer).
	Issuer string
	// ClientID is the console's client id; its ID tokens carry it as their
	// audience, so it must be the audience the API accepts
	// (auth.oidc_audience).
	ClientID string
	// ClientSecret is the client's secret ("" for a public client: PKCE
	// protects the exchange).
	ClientSecret string
	// RedirectURL is the console's callback as the issuer knows it:
	// https://<console>/login/oidc/callback.
	RedirectURL string
	// HTTPClient reaches the issuer (default: a client with a 30 s
	// timeout).
	HTTPClient *http.Client
}

// NewOIDCLogin reads the issuer's discovery document. Errors: EUNAVAILABLE
// when the issuer cannot be reached.
func NewOIDCLogin(ctx context.Context, c OIDCLoginConfig) (*OIDCLogin, error) {
	client := c.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, client), c.Issuer)
	if err != nil {
		return nil, apoyo.Errorf(apoyo.EUNAVAILABLE, "auth.oidc_unavailable", "console sign-in: the OIDC issuer's discovery document could not be read").Wrap(err)
	}
	return &OIDCLogin{config: oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: c.RedirectURL, Scopes: []string{oidc.ScopeOpenID, "profile"}}}, nil
}

// oidcCookie carries the flow's state and PKCE verifier to the callback.
const oidcCookie = "apoyo_oidc"

func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	state := hex.EncodeToString(b[:])
	verifier := oauth2.GenerateVerifier()
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: state + "." + verifier, Path: "/login/oidc", MaxAge: 600,
		HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
	// prompt=login: the issuer asks for the password every time, so that on
	// a shared computer (a shelter's, a service window's) signing out of
	// apoyo is not undone by the issuer's own session.
	http.Redirect(w, r, s.OIDC.config.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "login")), http.StatusFound)
}

func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	fail := func(err error) {
		s.render(w, r, http.StatusUnauthorized, "login", loginData{OIDC: true, Error: err})
	}
	c, err := r.Cookie(oidcCookie)
	state, verifier, ok := "", "", false
	if err == nil {
		state, verifier, ok = strings.Cut(c.Value, ".")
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: "/login/oidc", MaxAge: -1, HttpOnly: true, Secure: s.SecureCookies})
	if !ok || state == "" || r.URL.Query().Get("state") != state {
		fail(apoyo.ErrUnauthenticated.With("sign-in through the institutional account did not complete: start again"))
		return
	}
	if e := r.URL.Query().Get("error"); e != "" {
		fail(apoyo.ErrUnauthenticated.With("the institutional account refused the sign-in"))
		return
	}
	tok, err := s.OIDC.config.Exchange(r.Context(), r.URL.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		fail(apoyo.ErrUnauthenticated.With("the institutional account's answer could not be checked: start again"))
		s.log(r).Warn("oidc exchange failed", "err", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := s.Auth.Authenticate(r.Context(), raw)
	if err != nil {
		fail(err)
		return
	}
	s.setSession(w, r, raw)
	s.log(r).Info("signed in", "user", id.UserID, "via", id.Via)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
