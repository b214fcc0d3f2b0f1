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

// TestMaskedHidesSecrets exercises Masked itself, with every way a secret
// can sit in a setting: a password in a URL (parseable or not, in its
// user part or its query), a keyword/value connection string, credentials
// in the bank's URL, and the key settings.
func TestMaskedHidesSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		set    func(*Config)
		key    string
		want   string // exact masked value; "" = only check the secret is gone
		secret string
	}{
		{"password in URL", func(c *Config) { c.Database.URL = "postgres://apoyo:s3cret@db:5432/apoyo" }, "database.url", "postgres://apoyo:xxxxx@db:5432/apoyo", "s3cret"},
		{"user without password is shown", func(c *Config) { c.Database.URL = "postgres://apoyo@db/apoyo" }, "database.url", "postgres://apoyo@db/apoyo", ""},
		{"password in the query", func(c *Config) {
			c.Database.URL = "postgres://db/apoyo?user=apoyo&password=s3cret&sslmode=require"
		}, "database.url", "postgres://db/apoyo?password=xxxxx&sslmode=require&user=apoyo", "s3cret"},
		{"URL that does not parse", func(c *Config) { c.Database.URL = "postgres://apoyo:s3cret@db:port/apoyo" }, "database.url", "********", "s3cret"},
		{"keyword/value connection string", func(c *Config) { c.Database.URL = "host=db user=apoyo password=s3cret dbname=apoyo" }, "database.url", "********", "s3cret"},
		{"credentials in the bank URL", func(c *Config) { c.Payments.BankURL = "https://apoyo:t0ken@bank.example/api" }, "payments.bank_url", "https://apoyo:xxxxx@bank.example/api", "t0ken"},
		{"encryption keys", func(c *Config) { c.PII.Keys = "k1:AAAA" }, "pii.keys", "********", "AAAA"},
		{"index key", func(c *Config) { c.PII.IndexKey = "BBBB" }, "pii.index_key", "********", "BBBB"},
		{"empty secrets stay empty", func(*Config) {}, "pii.index_key", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			tc.set(&c)
			got := c.Masked()[tc.key]
			require.Equal(t, tc.want, got)
			if tc.secret != "" {
				require.NotContains(t, got, tc.secret)
			}
		})
	}
}

// TestKeysCoverEveryField compares Keys with a list written by hand (the
// README's table), so a field without a mapstructure tag, or a key
// renamed by accident, fails here.
func TestKeysCoverEveryField(t *testing.T) {
	t.Parallel()
	want := []string{
		"data_dir",
		"database.url", "database.max_conns",
		"temporal.address", "temporal.namespace", "temporal.task_queue",
		"temporal.tls", "temporal.tls_cert", "temporal.tls_key", "temporal.tls_ca", "temporal.tls_server_name", "temporal.api_key",
		"dev.temporal_port", "dev.ui_port", "dev.postgres_port", "dev.bank_port", "dev.postgres_bin_dir",
		"ledger.batch_size", "ledger.writers",
		"payments.bank_url", "payments.poll_interval", "payments.callback_address", "payments.callback_url",
		"worker.max_concurrent_activities", "worker.metrics_address", "worker.rail_queues",
		"pii.keys", "pii.active_key", "pii.index_key",
		"log.level", "log.format",
		"auth.token", "auth.token_ttl", "auth.oidc_issuer", "auth.oidc_audience", "auth.oidc_role_claim", "auth.oidc_secretariat_claim", "auth.oidc_name_claim",
		"auth.oidc_console_redirect", "auth.oidc_client_secret",
		"api.address", "api.max_body", "api.max_upload", "api.secure_cookies",
	}
	require.Equal(t, want, Keys())
	m := Default().Masked()
	require.Len(t, m, len(want))
	for _, k := range want {
		require.Contains(t, m, k)
	}
	require.Equal(t, []string{"database.url", "temporal.api_key", "payments.bank_url", "pii.keys", "pii.index_key", "auth.token", "auth.oidc_client_secret"}, SecretKeys())
}

// TestMalformedKeysNeverEchoed: a key setting that is not base64, has the
// wrong length, or has id and key swapped is refused naming the setting,
// and the error holds none of the key material.
func TestMalformedKeysNeverEchoed(t *testing.T) {
	key := "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8M=" // 32 bytes
	short := "q83vEjRWeJq83vEjRWeJ"                       // 15 bytes
	for _, tc := range []struct{ env, value, key string }{
		{"APOYO_PII_KEYS", key + ":k1", "pii.keys"}, // swapped
		{"APOYO_PII_KEYS", "k1:" + key[:len(key)-3] + "!!=", "pii.keys"},
		{"APOYO_PII_KEYS", "k1:" + short, "pii.keys"},
		{"APOYO_PII_KEYS", "k1:" + key + ",k2:" + short, "pii.keys"},
		{"APOYO_PII_KEYS", key, "pii.keys"}, // no id
		{"APOYO_PII_INDEX_KEY", short, "pii.index_key"},
		{"APOYO_PII_INDEX_KEY", key + "%", "pii.index_key"},
	} {
		t.Run(tc.env+" "+tc.value[:4], func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			_, err := Load("", nil, nil)
			require.Error(t, err)
			require.Equal(t, apoyo.EINVALID, apoyo.ErrorCodeOf(err))
			require.Contains(t, err.Error(), tc.key)
			for _, secret := range []string{key, key[:12], short, short[:12]} {
				require.NotContains(t, err.Error(), secret)
			}
		})
	}
	t.Run("well-formed keys load", func(t *testing.T) {
		t.Setenv("APOYO_PII_KEYS", "k1:"+key+", k2:"+key)
		t.Setenv("APOYO_PII_ACTIVE_KEY", "k2")
		t.Setenv("APOYO_PII_INDEX_KEY", key)
		_, err := Load("", nil, nil)
		require.NoError(t, err)
	})
}

// Rail queues parse to rates per rail; a rail that does not exist or a
// rate that is not a number is refused naming the key.
func TestRailQueues(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Worker.RailQueues = "spei=200, cash_pickup=20,card=0"
	require.NoError(t, c.Validate())
	require.Equal(t, map[string]float64{"spei": 200, "cash_pickup": 20, "card": 0}, c.Worker.RailRates())
	require.Equal(t, "apoyo-pay-spei", RailQueueOf("apoyo", "spei"))
	for _, bad := range []string{"wire=10", "spei=fast", "spei", "spei=-1"} {
		c.Worker.RailQueues = bad
		err := c.Validate()
		require.Error(t, err, bad)
		require.Contains(t, err.Error(), "worker.rail_queues (env APOYO_WORKER_RAIL_QUEUES): must be rail=activities per second", bad)
	}
	require.Empty(t, Default().Worker.RailRates(), "off by default")
}
