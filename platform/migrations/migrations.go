// Package migrations holds apoyo's PostgreSQL schema as numbered SQL files
// embedded in the binary, applied by tern (`apoyo migrate`, `apoyo dev` and
// the test helpers all go through Migrate).
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed sql/*.sql
var files embed.FS

// VersionTable records which migrations have run.
const VersionTable = "apoyo_schema_version"

// Migrate brings the database behind conn to the newest schema. It takes
// tern's advisory lock, so concurrent callers (several workers starting at
// once) apply each migration exactly once.
func Migrate(ctx context.Context, conn *pgx.Conn) (from, to int32, err error) {
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return 0, 0, fmt.Errorf("migrations: %w", err)
	}
	sub, err := fs.Sub(files, "sql")
	if err != nil {
		return 0, 0, err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return 0, 0, fmt.Errorf("migrations: loading: %w", err)
	}
	if from, err = m.GetCurrentVersion(ctx); err != nil {
		return 0, 0, fmt.Errorf("migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return from, 0, fmt.Errorf("migrations: %w", err)
	}
	to, err = m.GetCurrentVersion(ctx)
	return from, to, err
}

// MigrateURL connects to url and migrates.
func MigrateURL(ctx context.Context, url string) (from, to int32, err error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(ctx)
	return Migrate(ctx, conn)
}
