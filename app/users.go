package app

import (
	"context"

	"github.com/apoyo-cdmx/apoyo"
)

// EnsureUsers finds each wanted user by name and creates, as who, those
// that are missing: what the demo's cast and `apoyo dev`'s local users
// both need. It returns the users by name (a disabled one as it is).
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
		if _, ok := byName[nu.Name]; ok {
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
