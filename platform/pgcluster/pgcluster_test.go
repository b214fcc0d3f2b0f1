package pgcluster

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// TestStartRestartStop proves the cluster comes up, keeps its data and its
// port across a restart, and stops.
func TestStartRestartStop(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(TempDir(t), "pg")
	c, err := Start(ctx, Options{Dir: dir})
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, c.URL("apoyo"))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	port := c.Port()
	require.NoError(t, c.Stop())

	c2, err := Start(ctx, Options{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c2.Stop() })
	require.Equal(t, port, c2.Port(), "port is remembered")
	conn, err = pgx.Connect(ctx, c2.URL("apoyo"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var v int
	require.NoError(t, conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v))
	require.Equal(t, 42, v)
	if os.Geteuid() == 0 {
		var who string
		require.NoError(t, conn.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&who))
		require.Contains(t, who, dir)
	}
}
