package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/apoyo-cdmx/apoyo"
)

// DevUser is one of the local stack's users, with its API token: `apoyo
// dev` creates an administrator and one user per role, so that a newcomer
// can act as each of them (`--as caseworker`) and every action is still
// attributed to a named identity. The file that keeps them is readable by
// its owner only, and it is for a developer's machine, never a server.
type DevUser struct {
	Name        string            `json:"name"`
	Role        apoyo.Role        `json:"role"`
	Secretariat apoyo.Secretariat `json:"secretariat,omitempty"`
	Token       string            `json:"token"`
	ExpiresAt   time.Time         `json:"expires_at"`
}

// DevUsersFile is where the local stack's users and tokens are kept.
func DevUsersFile(dataDir string) string { return filepath.Join(dataDir, "dev-users.json") }

// SaveDevUsers writes the local stack's users (mode 0600).
func SaveDevUsers(dataDir string, us []DevUser) error {
	return writeFileAtomic(DevUsersFile(dataDir), us)
}

// LoadDevUsers reads the local stack's users (none if the file is not
// there).
func LoadDevUsers(dataDir string) ([]DevUser, error) {
	b, err := os.ReadFile(DevUsersFile(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var us []DevUser
	if err := json.Unmarshal(b, &us); err != nil {
		return nil, fmt.Errorf("%s: %w", DevUsersFile(dataDir), err)
	}
	return us, nil
}

// DevUserToken returns the token of the local stack's user named as, or
// of the one user with that role or secretariat ("caseworker", "auditor",
// "program_manager", "sibiso"). Errors: EUNAUTHENTICATED when there is no
// such user (listing the ones there are).
func DevUserToken(dataDir, as string) (string, error) {
	us, err := LoadDevUsers(dataDir)
	if err != nil {
		return "", err
	}
	want := strings.ToLower(strings.TrimSpace(as))
	var match []DevUser
	for _, u := range us {
		if u.Name == want || strings.TrimPrefix(u.Name, "dev.") == want || string(u.Role) == want || strings.ToLower(string(u.Secretariat)) == want {
			match = append(match, u)
		}
	}
	if len(match) == 1 {
		return match[0].Token, nil
	}
	names := make([]string, len(us))
	for i, u := range us {
		names[i] = strings.TrimPrefix(u.Name, "dev.")
	}
	sort.Strings(names)
	if len(us) == 0 {
		return "", apoyo.ErrUnauthenticated.With("--as %s: no local users in %s; start `apoyo dev` first", as, dataDir)
	}
	return "", apoyo.ErrUnauthenticated.With("--as %s: use one of %s", as, strings.Join(names, ", "))
}
