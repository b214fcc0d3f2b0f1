package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/app"
)

// userBook is a service that knows users and creates them (a pure unit
// test of EnsureUsers); every other method would panic.
type userBook struct {
	apoyo.Service
	users   []apoyo.User
	created []string
}

func (b *userBook) Users(context.Context, apoyo.Identity) ([]apoyo.User, error) { return b.users, nil }
func (b *userBook) CreateUser(_ context.Context, _ apoyo.Identity, nu apoyo.NewUser) (apoyo.User, error) {
	b.created = append(b.created, nu.Name)
	u := apoyo.User{ID: "usr_" + nu.Name, Name: nu.Name, Role: nu.Role, Secretariat: nu.Secretariat}
	b.users = append(b.users, u)
	return u, nil
}

// TestEnsureUsersRefusesAMismatch: a wanted user that exists as wanted is
// kept and a missing one is created; one that exists disabled, or with
// another role or secretariat, is refused rather than acted as.
func TestEnsureUsersRefusesAMismatch(t *testing.T) {
	t.Parallel()
	ctx, sys := context.Background(), apoyo.System("test")
	styfe := apoyo.NewUser{Name: "demo.styfe", Role: apoyo.RoleApprover, Secretariat: apoyo.STyFE}
	caseworker := apoyo.NewUser{Name: "demo.caseworker", Role: apoyo.RoleCaseworker}
	book := &userBook{users: []apoyo.User{{ID: "usr_styfe", Name: styfe.Name, Role: styfe.Role, Secretariat: styfe.Secretariat}}}
	got, err := app.EnsureUsers(ctx, book, sys, []apoyo.NewUser{styfe, caseworker})
	require.NoError(t, err)
	require.Equal(t, []string{"demo.caseworker"}, book.created)
	require.Equal(t, "usr_styfe", got[styfe.Name].ID)

	for name, u := range map[string]apoyo.User{
		"another secretariat": {ID: "usr_styfe", Name: styfe.Name, Role: apoyo.RoleApprover, Secretariat: apoyo.SIBISO},
		"another role":        {ID: "usr_styfe", Name: styfe.Name, Role: apoyo.RoleAdmin},
		"disabled":            {ID: "usr_styfe", Name: styfe.Name, Role: styfe.Role, Secretariat: styfe.Secretariat, DisabledAt: new(time.Now())},
	} {
		book := &userBook{users: []apoyo.User{u}}
		_, err := app.EnsureUsers(ctx, book, sys, []apoyo.NewUser{styfe})
		require.ErrorIs(t, err, app.ErrUserMismatch, name)
		require.Empty(t, book.created, name)
	}
}
