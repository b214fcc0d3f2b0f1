// Package console is apoyo's web console: server-rendered pages, in
// Spanish first and English on request, for caseworkers, approvers,
// programme managers and auditors. It is an adapter like package api:
// every page and every button calls the application layer
// (apoyo.Service) as the signed-in identity, so authorization,
// separation of duties and the audit log are the same as on the API and
// the command line. The console hides what a role may not do (Can); the
// application layer refuses it again.
//
// Pages are html/template files embedded with go:embed; htmx (vendored in
// static/, no CDN) turns forms into in-place requests, and the pages still
// work as plain forms without it. A session is the person's bearer token
// (an apoyo API token, or the ID token of the configured OIDC issuer) in
// an HttpOnly, SameSite cookie; state-changing requests must come from the
// console's own origin (http.CrossOriginProtection).
package console

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"
	"unicode"

	"github.com/go-chi/chi/v5"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/api"
	"github.com/apoyo-cdmx/apoyo/internal/httpmw"
)

//go:embed static templates
var assets embed.FS

// Server serves the console.
type Server struct {
	// App is the application layer (app.New): authorized and audited.
	App apoyo.Service
	// Auth turns the session's bearer token into an identity.
	Auth apoyo.Authenticator
	// Can reports whether a role may take an action, to show only the
	// pages and buttons a person may use (app.Allowed == nil). The
	// application layer checks again whatever the console shows.
	Can func(apoyo.Identity, apoyo.Action) bool
	// OIDC, when set, offers sign-in through the OIDC issuer (nil: token
	// sign-in only).
	OIDC *OIDCLogin
	// Logger receives one line per request, with ids only (default
	// slog.Default()).
	Logger *slog.Logger
	// SecureCookies marks the session cookie Secure; set it whenever the
	// console is served over https (default false, for localhost).
	SecureCookies bool
	// ProgressEvery is how often a cycle's live progress is pushed to a
	// watching page (default DefaultProgressEvery).
	ProgressEvery time.Duration
	// MaxUpload caps an uploaded roster (default 64 MiB).
	MaxUpload int64

	pages    map[string]*pageTemplate
	progress progressHub
}

// Defaults of Server.
const (
	DefaultProgressEvery = time.Second
	DefaultMaxUpload     = 64 << 20
	// sessionCookie holds the bearer token; langCookie the language.
	sessionCookie = "apoyo_session"
	langCookie    = "apoyo_lang"
	// sessionTTL bounds a session cookie; the token's own expiry and
	// revocation bound it further.
	sessionTTL = 12 * time.Hour
)

type ctxKey int

const (
	identityKey ctxKey = iota
	localeKey
	loggerKey
)

func who(r *http.Request) apoyo.Identity {
	id, _ := r.Context().Value(identityKey).(apoyo.Identity)
	return id
}

func localeOf(r *http.Request) *Locale {
	if l, ok := r.Context().Value(localeKey).(*Locale); ok {
		return l
	}
	return NewLocale(LangSpanish)
}

func (s *Server) log(r *http.Request) *slog.Logger {
	if l, ok := r.Context().Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return s.logger()
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// can reports whether the signed-in person may take act.
func (s *Server) can(id apoyo.Identity, act apoyo.Action) bool {
	return !id.Anonymous() && s.Can != nil && s.Can(id, act)
}

// Handler returns the console's routes with their middleware.
func (s *Server) Handler() (http.Handler, error) {
	if s.ProgressEvery <= 0 {
		s.ProgressEvery = DefaultProgressEvery
	}
	if s.MaxUpload <= 0 {
		s.MaxUpload = DefaultMaxUpload
	}
	pages, err := loadTemplates()
	if err != nil {
		return nil, err
	}
	s.pages = pages
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	r := chi.NewRouter()
	r.Use(s.requestID, s.accessLog, s.recoverer, s.headers, s.locale)
	r.Handle("/static/*", http.StripPrefix("/static/", staticFiles(static)))
	r.Get("/login", s.loginPage)
	r.Post("/login", s.login)
	r.Post("/logout", s.logout)
	r.Get("/lang/{lang}", s.setLang)
	if s.OIDC != nil {
		r.Get("/login/oidc", s.oidcStart)
		r.Get("/login/oidc/callback", s.oidcCallback)
	}
	r.Group(func(r chi.Router) {
		r.Use(s.session)
		s.routes(r)
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, apoyo.Errorf(apoyo.ENOTFOUND, "console.not_found", "no page at %s", r.URL.Path))
	})
	cop := http.NewCrossOriginProtection()
	return cop.Handler(r), nil
}

// staticFiles serves the embedded assets with a long cache: they change
// only with the binary.
func staticFiles(static fs.FS) http.Handler {
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id := "req_" + hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		ctx := apoyo.WithRequestID(r.Context(), id)
		ctx = context.WithValue(ctx, loggerKey, s.logger().With("request_id", id))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// accessLog writes one line per request (httpmw.AccessLog); the user is
// in the request's logger once the session is known.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return httpmw.AccessLog("console", s.log, nil)(next)
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log(r).Error("panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				s.fail(w, r, apoyo.Errorf(apoyo.EINTERNAL, "internal", "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// headers: pages may show personal data, so nothing is cached, framed or
// sent on as a referrer, and only the console's own scripts run.
func (s *Server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// locale picks the language: the person's choice (cookie), else Spanish.
func (s *Server) locale(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lang := LangSpanish
		if c, err := r.Cookie(langCookie); err == nil && c.Value == string(LangEnglish) {
			lang = LangEnglish
		}
		ctx := context.WithValue(r.Context(), localeKey, NewLocale(lang))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *Server) setLang(w http.ResponseWriter, r *http.Request) {
	lang := Lang(chi.URLParam(r, "lang"))
	if lang != LangEnglish {
		lang = LangSpanish
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: string(lang), Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, localPath(r.URL.Query().Get("back")), http.StatusSeeOther)
}

// localPath is back if it is a path on this site, rebuilt from its parsed
// path and query, and "/" otherwise: "//host", "/\\host", a scheme, a
// host or a control character would send the person elsewhere.
func localPath(back string) string {
	u, err := url.Parse(back)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") ||
		strings.HasPrefix(u.Path, "//") || strings.ContainsAny(back+u.Path, "\\") || strings.IndexFunc(back+u.Path, unicode.IsControl) >= 0 {
		return "/"
	}
	out := (&url.URL{Path: u.Path, RawQuery: u.RawQuery}).String()
	if strings.HasPrefix(out, "//") || !strings.HasPrefix(out, "/") {
		return "/"
	}
	return out
}

// session requires a signed-in person: a request without a valid session
// goes to the sign-in page (an htmx request is told to go there).
func (s *Server) session(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		if err != nil || c.Value == "" {
			s.toLogin(w, r, "")
			return
		}
		id, err := s.Auth.Authenticate(r.Context(), c.Value)
		if err != nil {
			if apoyo.ErrorCodeOf(err) == apoyo.EUNAVAILABLE {
				s.fail(w, r, err)
				return
			}
			s.clearSession(w)
			s.toLogin(w, r, "login.expired")
			return
		}
		s.log(r).Debug("session", "user", id.UserID)
		ctx := context.WithValue(r.Context(), identityKey, id)
		ctx = context.WithValue(ctx, loggerKey, s.log(r).With("user", id.UserID))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *Server) toLogin(w http.ResponseWriter, r *http.Request, why string) {
	to := "/login"
	if why != "" {
		to += "?why=" + why
	}
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", to)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (s *Server) setSession(w http.ResponseWriter, r *http.Request, token string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", MaxAge: int(sessionTTL.Seconds()),
		HttpOnly: true, Secure: s.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

func (s *Server) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.SecureCookies,
		SameSite: http.SameSiteLaxMode})
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", loginData{Why: r.URL.Query().Get("why"), OIDC: s.OIDC != nil})
}

type loginData struct {
	Why   string
	OIDC  bool
	Error error
}

// login signs a person in with an API token they paste: the token is
// checked before it becomes the session.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" {
		s.render(w, r, http.StatusUnauthorized, "login", loginData{OIDC: s.OIDC != nil,
			Error: apoyo.ErrUnauthenticated.With("paste your API token").At(0, "token")})
		return
	}
	id, err := s.Auth.Authenticate(r.Context(), token)
	if err != nil {
		status := http.StatusUnauthorized
		if apoyo.ErrorCodeOf(err) == apoyo.EUNAVAILABLE {
			status = http.StatusServiceUnavailable
		}
		s.render(w, r, status, "login", loginData{OIDC: s.OIDC != nil, Error: err})
		return
	}
	s.setSession(w, r, token)
	s.log(r).Info("signed in", "user", id.UserID, "via", id.Via)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.clearSession(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// fail answers an error: a fragment for an htmx request (shown in place
// of the form's result), a page otherwise. Only the error's code, reason
// and message are shown: messages carry ids, never personal data.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := api.StatusOf(err)
	err = s.shown(r, err)
	if r.Header.Get("HX-Request") == "true" {
		s.fragment(w, r, status, "error", err)
		return
	}
	s.render(w, r, status, "error", errorData{Err: err})
}

type errorData struct{ Err error }

// shown is an error as a page may show it: apoyo's errors as they are
// (their messages carry ids, never personal data), anything else (a
// driver's or Temporal's words) logged and replaced by the request id to
// quote.
func (s *Server) shown(r *http.Request, err error) error {
	if err == nil {
		return nil
	}
	var ae *apoyo.Error
	if !errors.As(err, &ae) || ae.Code == apoyo.EINTERNAL || ae.Code == "" {
		s.log(r).Error("console error", "err", err)
		return apoyo.Errorf(apoyo.EINTERNAL, "internal", "internal error (request %s)", apoyo.RequestID(r.Context()))
	}
	return err
}
