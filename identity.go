package apoyo

import (
	"context"
	"time"
)

// Role is what a person may do in apoyo. A user has exactly one role; an
// approver is bound to exactly one secretariat.
type Role string

const (
	// RoleProgramManager defines programmes, imports rosters, launches,
	// pauses, resumes and cancels cycles, and reconciles the bank's
	// statements.
	RoleProgramManager Role = "program_manager"
	// RoleCaseworker finds stuck cases and moves them on: documents,
	// new payment instruments, referral outcomes, retries, cancellations.
	RoleCaseworker Role = "caseworker"
	// RoleApprover approves or rejects cases for one secretariat.
	RoleApprover Role = "approver"
	// RoleAuditor reads the ledger, reports, reconciliation reports and
	// the audit log, and changes nothing.
	RoleAuditor Role = "auditor"
	// RoleAdmin manages users and tokens only: an administrator of
	// accounts neither approves nor pays.
	RoleAdmin Role = "admin"
	// RoleSystem is apoyo acting on its own behalf (the operator's
	// bootstrap of the first administrator, the local stack's setup). No
	// user has it and no token carries it.
	RoleSystem Role = "system"
)

// Roles lists the roles a user may have.
var Roles = []Role{RoleProgramManager, RoleCaseworker, RoleApprover, RoleAuditor, RoleAdmin}

// Valid reports whether r is one of Roles (RoleSystem is not).
func (r Role) Valid() bool { return oneOf(r, Roles) }

// Identity is who is acting: a named user with one role (and, for an
// approver, one secretariat), however they proved it.
type Identity struct {
	// UserID is stable and opaque: "usr_…" for apoyo's own users,
	// "oidc:<subject>" for users of an OIDC issuer, "system:<name>" for
	// RoleSystem.
	UserID string `json:"user_id"`
	// Name is the login name people see in the audit log ("maria.lopez").
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Secretariat is the approver's secretariat ("" for other roles).
	Secretariat Secretariat `json:"secretariat,omitempty"`
	// Via says how the identity was proved: token, oidc or system.
	Via string `json:"via"`
	// TokenID names the API token used (via token), for the audit log.
	TokenID string `json:"token_id,omitempty"`
}

// System returns the identity of apoyo acting on its own behalf, named
// for what it does ("bootstrap", "dev-setup").
func System(name string) Identity {
	return Identity{UserID: "system:" + name, Name: name, Role: RoleSystem, Via: "system"}
}

// Anonymous reports whether the identity is the zero value (no one).
func (i Identity) Anonymous() bool { return i.UserID == "" }

// ErrUnauthenticated: no credentials, or credentials that prove nothing
// (unknown, revoked or expired token; a token the OIDC issuer did not
// sign).
var ErrUnauthenticated = Errorf(EUNAUTHENTICATED, "auth.unauthenticated", "authentication required")

// ErrForbidden: the identity may not do this (its role does not allow
// it, or separation of duties forbids it for this case).
var ErrForbidden = Errorf(EFORBIDDEN, "auth.forbidden", "not allowed")

// User is a person with an account in apoyo.
type User struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Role        Role        `json:"role"`
	Secretariat Secretariat `json:"secretariat,omitempty"`
	CreatedAt   time.Time   `json:"created_at"`
	CreatedBy   string      `json:"created_by"`
	DisabledAt  *time.Time  `json:"disabled_at,omitempty"`
}

// Identity is the user as an acting identity.
func (u User) Identity(via, tokenID string) Identity {
	return Identity{UserID: u.ID, Name: u.Name, Role: u.Role, Secretariat: u.Secretariat, Via: via, TokenID: tokenID}
}

// NewUser is a user to create.
type NewUser struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Secretariat is required for an approver and refused for others.
	Secretariat Secretariat `json:"secretariat,omitempty"`
}

// Token is an API token as stored: its secret is shown once, at
// creation, and kept only as a hash.
type Token struct {
	ID        string     `json:"id"`
	UserID    string     `json:"user_id"`
	UserName  string     `json:"user_name"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// NewToken is a token just created, with its secret.
type NewToken struct {
	Token
	// Secret is the bearer token. It is shown once and never stored.
	Secret string `json:"secret"`
}

// Authenticator turns a bearer credential into an identity.
type Authenticator interface {
	// Authenticate returns the identity a bearer token proves. Errors:
	// ErrUnauthenticated (unknown, revoked or expired token, bad
	// signature, a disabled user); ErrForbidden (a valid credential whose
	// claims give no role, or more than one); EUNAVAILABLE (the issuer or
	// the database cannot be reached).
	Authenticate(ctx context.Context, bearer string) (Identity, error)
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the request being served,
// so that every log line and audit entry of it can be found together.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id ctx carries ("" if none).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
