package identity

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/textcheck"
)

// OIDCConfig says which OIDC issuer apoyo trusts and where in its tokens
// the role, the secretariat and the name are, so the city's Keycloak (or
// another issuer) can sign people in without apoyo keeping their accounts.
type OIDCConfig struct {
	// Issuer is the issuer's https URL (a Keycloak realm URL,
	// "https://sso.cdmx.gob.mx/realms/apoyo"), exactly as its tokens'
	// "iss" claim has it. "" turns OIDC off. Plain http is accepted only
	// for a loopback host (a developer's local Keycloak).
	Issuer string
	// Audience is the "aud" every token must carry (the client id), so a
	// token issued to another application of the realm is refused.
	Audience string
	// RoleClaim is the dotted path to the roles claim, a string or an
	// array of strings; default "realm_access.roles" (Keycloak's realm
	// roles).
	RoleClaim string
	// SecretariatClaim is the dotted path to an approver's secretariat;
	// default "secretariat".
	SecretariatClaim string
	// NameClaim is the claim with the login name shown in the audit log;
	// default "preferred_username". The subject stands in when it is
	// missing.
	NameClaim string
	// HTTPClient fetches the discovery document and the signing keys;
	// default a client like http.DefaultClient with a 30 s timeout, so a
	// hung issuer cannot hang sign-in.
	HTTPClient *http.Client
}

// OIDC authenticates bearer tokens (JWTs) signed by one OIDC issuer. A nil
// *OIDC authenticates no one.
type OIDC struct {
	verifier                        *oidc.IDTokenVerifier
	rolePath, secretariatPath, name []string
	roleClaim, secretariatClaim     string
}

// defaultHTTPClient has a timeout: the signing keys are fetched while a
// request waits.
var defaultHTTPClient = &http.Client{Timeout: 30 * time.Second}

// asymmetricAlgs are the algorithms a token may be signed with: those
// go-oidc supports, all asymmetric (an HMAC "signature" would be forgeable
// by anyone holding the client secret, and "none" by anyone).
var asymmetricAlgs = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}

var errOIDCConfig = apoyo.Errorf(apoyo.EINVALID, "oidc.config", "invalid OIDC configuration")

// ErrOIDCUnavailable: the issuer's discovery document or signing keys
// cannot be fetched; retry later.
var ErrOIDCUnavailable = apoyo.Errorf(apoyo.EUNAVAILABLE, "oidc.unavailable", "the OIDC issuer cannot be reached")

// NewOIDC discovers the issuer (its /.well-known/openid-configuration) and
// returns an OIDC that verifies its tokens. With c.Issuer "" (OIDC off) it
// returns nil and no error. Errors: EINVALID reason oidc.config (Field
// issuer or audience) for a bad configuration or an issuer whose discovery
// document names another issuer; ErrOIDCUnavailable when the issuer cannot
// be reached.
func NewOIDC(ctx context.Context, c OIDCConfig) (*OIDC, error) {
	if c.Issuer == "" {
		return nil, nil
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Host == "" || !(u.Scheme == "https" || u.Scheme == "http" && loopback(u.Hostname())) {
		return nil, errOIDCConfig.With("the issuer must be an https URL, got %q", c.Issuer).At(0, "issuer")
	}
	if c.Audience == "" {
		return nil, errOIDCConfig.With("an audience (the client id) is required").At(0, "audience")
	}
	if c.RoleClaim == "" {
		c.RoleClaim = "realm_access.roles"
	}
	if c.SecretariatClaim == "" {
		c.SecretariatClaim = "secretariat"
	}
	if c.NameClaim == "" {
		c.NameClaim = "preferred_username"
	}
	client := c.HTTPClient
	if client == nil {
		client = defaultHTTPClient
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, client), c.Issuer)
	if err != nil {
		// go-oidc says so in words only: the issuer answered, but as
		// another issuer. That is a configuration error, not an outage.
		if strings.Contains(err.Error(), "issuer did not match") {
			return nil, errOIDCConfig.With("%v", err).At(0, "issuer").Wrap(err)
		}
		return nil, ErrOIDCUnavailable.With("discovering OIDC issuer %s: %v", c.Issuer, err).Wrap(err)
	}
	var meta struct {
		JWKSURL string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKSURL == "" {
		return nil, ErrOIDCUnavailable.With("OIDC issuer %s publishes no signing keys (jwks_uri)", c.Issuer)
	}
	var algs []string
	for _, a := range meta.Algs {
		if slices.Contains(asymmetricAlgs, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		algs = []string{oidc.RS256} // the one algorithm OIDC makes mandatory
	}
	keys := &keySet{remote: oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), client), meta.JWKSURL)}
	return &OIDC{
		verifier:         oidc.NewVerifier(c.Issuer, keys, &oidc.Config{ClientID: c.Audience, SupportedSigningAlgs: algs}),
		rolePath:         strings.Split(c.RoleClaim, "."),
		secretariatPath:  strings.Split(c.SecretariatClaim, "."),
		name:             strings.Split(c.NameClaim, "."),
		roleClaim:        c.RoleClaim,
		secretariatClaim: c.SecretariatClaim,
	}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// keySet is the issuer's remote key set, noting in the request's probe when
// the keys could not be fetched: go-oidc reports that only in words, and
// an outage of the issuer must not look like a forged token.
type keySet struct{ remote *oidc.RemoteKeySet }

type probeKey struct{}

type probe struct{ unavailable error }

func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.remote.VerifySignature(ctx, jwt)
	if err != nil && keysUnavailable(err) {
		if p, ok := ctx.Value(probeKey{}).(*probe); ok {
			p.unavailable = err
		}
	}
	return payload, err
}

func keysUnavailable(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		strings.HasPrefix(err.Error(), "fetching keys") // go-oidc v3.11's words for a failed fetch
}

// Authenticate verifies bearer as a JWT of the issuer (signature against
// the issuer's published keys, issuer, audience, expiry) and maps its
// claims to an identity: UserID "oidc:" + subject, Name from the name claim
// (or the subject), Via "oidc".
//
// Of the role claim's values exactly one must be an apoyo role (the others,
// such as Keycloak's default roles, are ignored), since a user has one
// role. An approver must carry exactly one secretariat (STYFE, SIBISO or
// SEDESA, any case), since nobody approves for two; for other roles the
// secretariat claim is ignored.
//
// Errors: apoyo.ErrUnauthenticated for a token that proves nothing;
// apoyo.ErrForbidden for a valid token whose claims give no role, more than
// one, or an approver no single secretariat; ErrOIDCUnavailable when the
// issuer's keys cannot be fetched. Errors never contain the token.
func (o *OIDC) Authenticate(ctx context.Context, bearer string) (apoyo.Identity, error) {
	if o == nil {
		return apoyo.Identity{}, apoyo.ErrUnauthenticated.With("OIDC sign-in is not configured")
	}
	if bearer == "" {
		return apoyo.Identity{}, apoyo.ErrUnauthenticated
	}
	p := &probe{}
	tok, err := o.verifier.Verify(context.WithValue(ctx, probeKey{}, p), bearer)
	if err != nil {
		if p.unavailable != nil {
			return apoyo.Identity{}, ErrOIDCUnavailable.With("fetching the OIDC issuer's signing keys: %v", p.unavailable).Wrap(p.unavailable)
		}
		var exp *oidc.TokenExpiredError
		if errors.As(err, &exp) {
			return apoyo.Identity{}, apoyo.ErrUnauthenticated.With("the OIDC token has expired").Wrap(err)
		}
		return apoyo.Identity{}, apoyo.ErrUnauthenticated.With("the OIDC token is not valid").Wrap(err)
	}
	if tok.Subject == "" || !textcheck.Valid(tok.Subject, maxClaimLen) {
		return apoyo.Identity{}, apoyo.ErrUnauthenticated.With("the OIDC token has no usable subject")
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return apoyo.Identity{}, apoyo.ErrUnauthenticated.With("the OIDC token's claims cannot be read").Wrap(err)
	}
	id := apoyo.Identity{UserID: "oidc:" + tok.Subject, Name: tok.Subject, Via: "oidc"}
	// The name goes into every audit entry and log line of the user: a
	// name that is not plain text within the limit is replaced by the
	// subject rather than refused or passed on.
	if n, ok := lookup(claims, o.name).(string); ok && n != "" && textcheck.Valid(n, maxClaimLen) {
		id.Name = n
	}

	// Roles: keep the apoyo ones, ignore the rest (and anything not a
	// string: it cannot be an apoyo role either).
	var roles []apoyo.Role
	raw := lookup(claims, o.rolePath)
	vals, _ := raw.([]any)
	if s, ok := raw.(string); ok {
		vals = []any{s}
	}
	for _, v := range vals {
		if s, ok := v.(string); ok && apoyo.Role(s).Valid() && !slices.Contains(roles, apoyo.Role(s)) {
			roles = append(roles, apoyo.Role(s))
		}
	}
	switch len(roles) {
	case 0:
		return apoyo.Identity{}, apoyo.ErrForbidden.With("the OIDC token of %s carries no apoyo role in claim %s (one of program_manager, caseworker, approver, auditor, admin)", id.UserID, o.roleClaim)
	case 1:
		id.Role = roles[0]
	default:
		names := make([]string, len(roles))
		for i, r := range roles {
			names[i] = string(r)
		}
		sort.Strings(names)
		return apoyo.Identity{}, apoyo.ErrForbidden.With("the OIDC token of %s carries %d apoyo roles (%s) in claim %s; a user has exactly one", id.UserID, len(roles), strings.Join(names, ", "), o.roleClaim)
	}
	if id.Role != apoyo.RoleApprover {
		return id, nil
	}

	// An approver's secretariat: exactly one value, and a secretariat.
	raw = lookup(claims, o.secretariatPath)
	vals, _ = raw.([]any)
	if s, ok := raw.(string); ok {
		vals = []any{s}
	}
	var secs []string
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			return apoyo.Identity{}, apoyo.ErrForbidden.With("the OIDC token of approver %s has a secretariat claim %s that is not text", id.UserID, o.secretariatClaim)
		}
		if s = strings.ToUpper(strings.TrimSpace(s)); s != "" && !slices.Contains(secs, s) {
			secs = append(secs, s)
		}
	}
	switch {
	case len(secs) == 0:
		return apoyo.Identity{}, apoyo.ErrForbidden.With("the OIDC token of approver %s carries no secretariat in claim %s (one of STYFE, SIBISO, SEDESA)", id.UserID, o.secretariatClaim)
	case len(secs) > 1:
		return apoyo.Identity{}, apoyo.ErrForbidden.With("the OIDC token of approver %s carries %d secretariats in claim %s: nobody approves for two secretariats", id.UserID, len(secs), o.secretariatClaim)
	case !apoyo.Secretariat(secs[0]).Valid():
		return apoyo.Identity{}, apoyo.ErrForbidden.With("the OIDC token of approver %s names an unknown secretariat in claim %s (use one of STYFE, SIBISO, SEDESA)", id.UserID, o.secretariatClaim)
	}
	id.Secretariat = apoyo.Secretariat(secs[0])
	return id, nil
}

// maxClaimLen bounds the subject and name taken from a token: both go into
// audit entries, whose ids and names are at most 200 characters.
const maxClaimLen = 190

// lookup follows a dotted path through nested JSON objects; nil when any
// step is missing or not an object.
func lookup(claims map[string]any, path []string) any {
	var v any = claims
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok = m[k]; !ok {
			return nil
		}
	}
	return v
}

// Chain returns an Authenticator that sends apoyo's own tokens (those
// starting with TokenPrefix) to s and anything else to oidc, so one API
// accepts both without trying a credential on a verifier it was not made
// for. A nil s or oidc authenticates nothing of its kind.
func Chain(s *Store, oidc *OIDC) apoyo.Authenticator { return chain{store: s, oidc: oidc} }

type chain struct {
	store *Store
	oidc  *OIDC
}

func (c chain) Authenticate(ctx context.Context, bearer string) (apoyo.Identity, error) {
	if bearer == "" {
		return apoyo.Identity{}, apoyo.ErrUnauthenticated
	}
	if strings.HasPrefix(bearer, TokenPrefix) {
		if c.store == nil {
			return apoyo.Identity{}, errBadToken
		}
		return c.store.Authenticate(ctx, bearer)
	}
	return c.oidc.Authenticate(ctx, bearer) // a nil *OIDC refuses
}
