package app

import (
	"context"

	"github.com/apoyo-cdmx/apoyo"
)

// ErrUserMismatch: a wanted user exists disabled, or with another role or
// secretariat; nobody should act as it in the wanted one's place.
var ErrUserMismatch = apoyo.Errorf(apoyo.ECONFLICT, "user.mismatch", "the user exists, disabled or with another role")

// EnsureUsers finds each wanted user by name and creates, as who, those
// that are missing: what the demo's cast and `apoyo dev`'s local users
// both need. It returns the users by name. Errors: ErrUserMismatch.
func EnsureUsers(ctx context.Context, a apoyo.Service, who apoyo.Identity, want []apoyo.NewUser) (map[string]apoyo.User, error) {
	existing, err := a.Users(ctx, who)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]apoyo.User, len(existing))
	for _, u := range existing {
		byName[u.Name] = u
	}
	for _, nu := range want {
		if u, ok := byName[nu.Name]; ok {
			if u.DisabledAt != nil || u.Role != nu.Role || u.Secretariat != nu.Secretariat {
				return nil, ErrUserMismatch.With("user %s exists disabled or as %s %s, not as %s %s", u.Name, u.Role, u.Secretariat, nu.Role, nu.Secretariat)
			}
			continue
		}
		u, err := a.CreateUser(ctx, who, nu)
		if err != nil {
			return nil, err
		}
		byName[u.Name] = u
	}
	return byName, nil
}
