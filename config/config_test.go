package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
)

func TestDefaultsAreValid(t *testing.T) {
	require.NoError(t, Default().Validate())
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "apoyo.yaml")
	require.NoError(t, os.WriteFile(file, []byte("log:\n  level: warn\nledger:\n  batch_size: 100\ntemporal:\n  namespace: fromfile\n"), 0o600))

	t.Setenv("APOYO_LEDGER_BATCH_SIZE", "200")
	t.Setenv("APOYO_TEMPORAL_NAMESPACE", "fromenv")

	flags := pflag.NewFlagSet("t", pflag.ContinueOnError)
	flags.String("namespace", "", "")
	require.NoError(t, flags.Parse([]string{"--namespace", "fromflag"}))

	cfg, err := Load(file, flags, map[string]string{"namespace": "temporal.namespace"})
	require.NoError(t, err)
	require.Equal(t, "warn", cfg.Log.Level, "file beats default")
	require.Equal(t, 200, cfg.Ledger.BatchSize, "env beats file")
	require.Equal(t, "fromflag", cfg.Temporal.Namespace, "flag beats env")
	require.Equal(t, 1, cfg.Ledger.Writers, "default kept")
}

func TestInvalidValueNamesKey(t *testing.T) {
	t.Setenv("APOYO_LOG_LEVEL", "loud")
	_, err := Load("", nil, nil)
	require.Error(t, err)
	require.Equal(t, apoyo.EINVALID, apoyo.ErrorCodeOf(err))
	require.Contains(t, err.Error(), "log.level")
	require.Contains(t, err.Error(), "APOYO_LOG_LEVEL")
	require.Contains(t, err.Error(), "debug info warn error")
}

func TestUnknownKeyInFileRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(file, []byte("ledger:\n  batchsize: 3\n"), 0o600))
	_, err := Load(file, nil, nil)
	require.ErrorContains(t, err, "ledger.batchsize")
}

func TestBadDatabaseURLRefused(t *testing.T) {
	t.Setenv("APOYO_DATABASE_URL", "mysql://x")
	_, err := Load("", nil, nil)
	require.ErrorContains(t, err, "database.url")
	require.NotContains(t, err.Error(), "mysql://x", "secret values are not echoed")
}

func TestMaskedHidesSecrets(t *testing.T) {
	c := Default()
	c.Database.URL = "postgres://apoyo:s3cret@db:5432/apoyo"
	c.PII.Keys = "k1:AAAA"
	m := c.Masked()
	require.NotContains(t, m["database.url"], "s3cret")
	require.Contains(t, m["database.url"], "db:5432")
	require.Equal(t, "********", m["pii.keys"])
	require.Equal(t, "", m["pii.index_key"], "empty secrets stay empty")
}

func TestKeysCoverEveryField(t *testing.T) {
	keys := Keys()
	require.Contains(t, keys, "database.url")
	require.Contains(t, keys, "dev.temporal_port")
	require.Len(t, Default().Masked(), len(keys))
}
