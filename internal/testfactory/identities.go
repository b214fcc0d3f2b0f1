package testfactory

import (
	"context"

	"github.com/apoyo-cdmx/apoyo"
)

// TokenAuth is an apoyo.Authenticator that knows a fixed set of tokens,
// for tests of the adapters (API, console) without a database.
type TokenAuth map[string]apoyo.Identity

// Authenticate returns the token's identity, or ErrUnauthenticated.
func (a TokenAuth) Authenticate(_ context.Context, bearer string) (apoyo.Identity, error) {
	if id, ok := a[bearer]; ok {
		return id, nil
	}
	return apoyo.Identity{}, apoyo.ErrUnauthenticated.With("invalid token")
}

// RoleTokens has one token per role, named for it: "pm", "cw", "ap" (an
// approver of SIBISO), "au", "admin".
var RoleTokens = TokenAuth{
	"pm":    {UserID: "usr_pm", Name: "pm", Role: apoyo.RoleProgramManager, Via: "token"},
	"cw":    {UserID: "usr_cw", Name: "cw", Role: apoyo.RoleCaseworker, Via: "token"},
	"ap":    {UserID: "usr_ap", Name: "ap", Role: apoyo.RoleApprover, Secretariat: apoyo.SIBISO, Via: "token"},
	"au":    {UserID: "usr_au", Name: "au", Role: apoyo.RoleAuditor, Via: "token"},
	"admin": {UserID: "usr_ad", Name: "ad", Role: apoyo.RoleAdmin, Via: "token"},
}

// NoEvidence is separation of duties' evidence (app.Evidence) of a world
// where nobody enrolled or handled anything and nobody approved.
type NoEvidence struct{}

// EnrolledBy says nobody enrolled the person.
func (NoEvidence) EnrolledBy(context.Context, string) (string, error) { return "", nil }

// Handled says nobody handled the cases.
func (NoEvidence) Handled(context.Context, string, []string) (map[string]bool, error) {
	return map[string]bool{}, nil
}

// SecretariatsActedFor says the user approved for no secretariat.
func (NoEvidence) SecretariatsActedFor(context.Context, string) ([]apoyo.Secretariat, error) {
	return nil, nil
}
