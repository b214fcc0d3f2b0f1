// Package config defines apoyo's configuration: one struct whose every field
// is documented with its default, loaded through viper from a YAML file,
// APOYO_* environment variables and command-line flags (flags win over the
// environment, which wins over the file, which wins over the defaults), and
// validated up front so a wrong value stops the program with a message that
// names the key and what is allowed.
package config

import "time"

// Config is the whole of apoyo's configuration. The mapstructure tag is the
// key in YAML (nested with dots: database.url) and, upper-cased with dots as
// underscores, the environment variable (APOYO_DATABASE_URL).
type Config struct {
	// DataDir holds everything the embedded local stack keeps between runs:
	// the PostgreSQL cluster, the Temporal SQLite file, generated keys and
	// the stack's address file. Default ".apoyo".
	DataDir string `mapstructure:"data_dir" validate:"required"`

	Database DatabaseConfig `mapstructure:"database"`
	Temporal TemporalConfig `mapstructure:"temporal"`
	Dev      DevConfig      `mapstructure:"dev"`
	Ledger   LedgerConfig   `mapstructure:"ledger"`
	Payments PaymentsConfig `mapstructure:"payments"`
	Worker   WorkerConfig   `mapstructure:"worker"`
	PII      PIIConfig      `mapstructure:"pii"`
	Log      LogConfig      `mapstructure:"log"`
	Auth     AuthConfig     `mapstructure:"auth"`
	API      APIConfig      `mapstructure:"api"`
}

// AuthConfig says who the command line acts as and how the API knows who
// is calling.
type AuthConfig struct {
	// Token is the API token the command line acts with (also read from
	// APOYO_TOKEN). Every action is attributed to its user. Default "".
	Token string `mapstructure:"token" secret:"true"`
	// TokenTTL is how long a new API token stays valid, at most 8784h
	// (366 days). Default 2160h (90 days).
	TokenTTL time.Duration `mapstructure:"token_ttl" validate:"min=60000000000,max=31622400000000000"`
	// OIDCIssuer is the URL of an OpenID Connect issuer (a Keycloak realm:
	// https://keycloak.example/realms/cdmx) whose signed tokens the API
	// accepts besides apoyo's own. Empty turns OIDC off. Default "".
	OIDCIssuer string `mapstructure:"oidc_issuer" validate:"omitempty,url"`
	// OIDCAudience is the audience (client id) the issuer's tokens must be
	// for. Required with OIDCIssuer. Default "apoyo".
	OIDCAudience string `mapstructure:"oidc_audience"`
	// OIDCRoleClaim is the dotted path of the claim holding the user's
	// roles; exactly one must be an apoyo role. Default
	// "realm_access.roles" (Keycloak's realm roles).
	OIDCRoleClaim string `mapstructure:"oidc_role_claim"`
	// OIDCSecretariatClaim is the dotted path of an approver's
	// secretariat claim. Default "secretariat".
	OIDCSecretariatClaim string `mapstructure:"oidc_secretariat_claim"`
	// OIDCNameClaim is the claim shown as the user's name. Default
	// "preferred_username".
	OIDCNameClaim string `mapstructure:"oidc_name_claim"`
	// OIDCConsoleRedirect is the console's sign-in callback as registered
	// with the issuer (https://<console>/login/oidc/callback). With
	// OIDCIssuer set, it turns on the console's "sign in with the
	// institutional account" (the client id is OIDCAudience). Default "".
	OIDCConsoleRedirect string `mapstructure:"oidc_console_redirect" validate:"omitempty,url"`
	// OIDCClientSecret is the console client's secret ("" for a public
	// client; PKCE protects the exchange either way). Default "".
	OIDCClientSecret string `mapstructure:"oidc_client_secret" secret:"true"`
}

// APIConfig shapes the HTTP API and the web console, served together
// (`apoyo serve`, also run by `apoyo dev`).
type APIConfig struct {
	// Address is where the API listens. Default "127.0.0.1:8080".
	Address string `mapstructure:"address" validate:"required,hostname_port"`
	// MaxBody caps a JSON request body, in bytes. Default 1048576 (1 MiB).
	MaxBody int64 `mapstructure:"max_body" validate:"min=1024,max=1073741824"`
	// MaxUpload caps an uploaded roster or bank statement, in bytes.
	// Default 67108864 (64 MiB).
	MaxUpload int64 `mapstructure:"max_upload" validate:"min=1024,max=17179869184"`
	// SecureCookies marks the console's session cookie Secure: set it
	// whenever the console is reached over https (behind a TLS proxy).
	// Default false (plain http on localhost).
	SecureCookies bool `mapstructure:"secure_cookies"`
}

// DatabaseConfig says where the PostgreSQL database is.
type DatabaseConfig struct {
	// URL is a PostgreSQL connection string (postgres://user:pass@host/db).
	// Empty means: use the local stack that `apoyo dev` runs in DataDir, or
	// start a private cluster there. Default "".
	URL string `mapstructure:"url" secret:"true" validate:"omitempty,postgres_url"`
	// MaxConns caps the connection pool of one apoyo process. Default 16.
	MaxConns int32 `mapstructure:"max_conns" validate:"min=2,max=1000"`
}

// TemporalConfig says where the Temporal frontend is and which namespace
// and task queue apoyo uses.
type TemporalConfig struct {
	// Address is the Temporal frontend host:port. Empty means the local
	// stack's (`apoyo dev`). Default "".
	Address string `mapstructure:"address" validate:"omitempty,hostname_port"`
	// Namespace apoyo's workflows run in. Default "apoyo".
	Namespace string `mapstructure:"namespace" validate:"required,max=200"`
	// TaskQueue the worker polls. Default "apoyo".
	TaskQueue string `mapstructure:"task_queue" validate:"required,max=200"`
	// TLS turns on TLS to the frontend, checked against the system's
	// roots (or TLSCA). Temporal Cloud needs it; TLSCert, TLSCA and
	// APIKey turn it on too. Default false.
	TLS bool `mapstructure:"tls"`
	// TLSCert and TLSKey are the client certificate and key files (PEM)
	// of mTLS, as Temporal Cloud namespaces with certificates ask. Both or
	// neither. Default "".
	TLSCert string `mapstructure:"tls_cert" validate:"required_with=TLSKey,omitempty,file"`
	TLSKey  string `mapstructure:"tls_key" validate:"required_with=TLSCert,omitempty,file"`
	// TLSCA is a PEM file of the CAs the frontend's certificate must chain
	// to (a self-hosted cluster's private CA); "" uses the system's
	// roots. Default "".
	TLSCA string `mapstructure:"tls_ca" validate:"omitempty,file"`
	// TLSServerName overrides the name checked in the frontend's
	// certificate (default: the address's host). Default "".
	TLSServerName string `mapstructure:"tls_server_name" validate:"omitempty,hostname"`
	// APIKey authenticates to Temporal Cloud with an API key instead of
	// (or besides) a client certificate; it turns TLS on. Default "".
	APIKey string `mapstructure:"api_key" secret:"true"`
}

// DevConfig shapes the embedded local stack run by `apoyo dev` and the demo.
type DevConfig struct {
	// TemporalPort is the frontend gRPC port of the embedded Temporal
	// server. Default 7233.
	TemporalPort int `mapstructure:"temporal_port" validate:"min=1,max=65535"`
	// UIPort is the port of the embedded Temporal Web UI; 0 disables it.
	// Default 8233.
	UIPort int `mapstructure:"ui_port" validate:"min=0,max=65535"`
	// PostgresPort is the port of the private PostgreSQL cluster; 0 picks a
	// free port on first start and keeps it. Default 0.
	PostgresPort int `mapstructure:"postgres_port" validate:"min=0,max=65535"`
	// BankPort is the port of the sandbox bank (SPEI, cash pickup, card);
	// 0 picks a free port on first start and keeps it. Default 0.
	BankPort int `mapstructure:"bank_port" validate:"min=0,max=65535"`
	// PostgresBinDir is where initdb and pg_ctl are; empty searches PATH and
	// /usr/lib/postgresql/*/bin. Default "".
	PostgresBinDir string `mapstructure:"postgres_bin_dir"`
}

// LedgerConfig tunes the ledger's batching writer.
type LedgerConfig struct {
	// BatchSize is the most transfers the writer commits in one database
	// transaction. Bigger batches amortise the hot budget row's lock and the
	// commit; smaller ones cut latency. Default 512.
	BatchSize int `mapstructure:"batch_size" validate:"min=1,max=10000"`
	// Writers is the number of batching writers per process. They serialise
	// on the journal's hash chain, so more than one only overlaps network
	// round trips. Default 1.
	Writers int `mapstructure:"writers" validate:"min=1,max=16"`
}

// PaymentsConfig says where the payment provider is.
type PaymentsConfig struct {
	// BankURL is the base URL of the bank's payment API (SPEI, cash pickup,
	// card). Empty means the local stack's sandbox bank. Default "".
	// It is shown masked: a URL may carry credentials.
	BankURL string `mapstructure:"bank_url" secret:"true" validate:"omitempty,url"`
	// PollInterval is how often a payment's status is asked while waiting
	// for the bank's final answer. Default 500ms.
	PollInterval time.Duration `mapstructure:"poll_interval" validate:"min=10000000"`
	// CallbackAddress is where the worker listens for the bank's
	// callbacks (POST /bank/callbacks), as host:port, or "off". Default
	// "": a loopback port of its own, which a bank on the same host (the
	// sandbox) reaches.
	CallbackAddress string `mapstructure:"callback_address" validate:"omitempty,hostname_port|eq=off"`
	// CallbackURL is the address the bank is told to post to, for a bank
	// that reaches the worker by another name (a load balancer in front
	// of the workers). Default "": the listener's own address. Without
	// callbacks the cycle's sweep asks the bank, later but to the same end.
	CallbackURL string `mapstructure:"callback_url" validate:"omitempty,url"`
}

// WorkerConfig shapes the Temporal worker.
type WorkerConfig struct {
	// MaxConcurrentActivities bounds activities in flight per worker.
	// Default 200.
	MaxConcurrentActivities int `mapstructure:"max_concurrent_activities" validate:"min=1,max=100000"`
	// MetricsAddress, when set, is where `apoyo worker` serves its
	// Prometheus metrics (/metrics). `apoyo serve` and `apoyo dev` serve
	// theirs at api.address. Default "" (off).
	MetricsAddress string `mapstructure:"metrics_address" validate:"omitempty,hostname_port"`
	// RailQueues gives each payment rail its own task queue for the
	// payment activity, rate-limited server-side to the provider's
	// published limit, so that a slow or throttled provider cannot take
	// the slots of another: "spei=200,cash_pickup=20,card=50" (activities
	// per second; 0 = no limit). A rail not named stays on
	// temporal.task_queue. Default "" (one queue for everything).
	RailQueues string `mapstructure:"rail_queues" validate:"omitempty,rail_queues"`
}

// RailQueueOf is the task queue of a rail's payment activity, on
// taskQueue.
func RailQueueOf(taskQueue, rail string) string { return taskQueue + "-pay-" + rail }

// RailRates is RailQueues parsed: rail → activities per second (0: no
// limit). Validate refuses a value it cannot parse whole.
func (w WorkerConfig) RailRates() map[string]float64 {
	out, _ := parseRailQueues(w.RailQueues)
	return out
}

// PIIConfig holds the keys that protect personal data.
type PIIConfig struct {
	// Keys are the AES-256 keys as "id:base64,id2:base64"; the active one
	// encrypts, all decrypt (rotation). Empty means the local stack's
	// generated keys in DataDir. Default "".
	Keys string `mapstructure:"keys" secret:"true"`
	// ActiveKey is the id of the key that encrypts new data. Default "".
	ActiveKey string `mapstructure:"active_key"`
	// IndexKey is the base64 HMAC key of the blind indexes used for
	// de-duplication. Default "" (the local stack's).
	IndexKey string `mapstructure:"index_key" secret:"true"`
}

// LogConfig shapes apoyo's own logs (never containing personal data).
type LogConfig struct {
	// Level is one of debug, info, warn, error. Default "info".
	Level string `mapstructure:"level" validate:"oneof=debug info warn error"`
	// Format is text or json. Default "text".
	Format string `mapstructure:"format" validate:"oneof=text json"`
}

// Default returns the configuration with every default filled in. It is the
// one place defaults live.
func Default() Config {
	return Config{
		DataDir: ".apoyo",
		Database: DatabaseConfig{
			MaxConns: 16,
		},
		Temporal: TemporalConfig{
			Namespace: "apoyo",
			TaskQueue: "apoyo",
		},
		Dev: DevConfig{
			TemporalPort: 7233,
			UIPort:       8233,
		},
		Ledger: LedgerConfig{
			BatchSize: 512,
			Writers:   1,
		},
		Payments: PaymentsConfig{
			PollInterval: 500 * time.Millisecond,
		},
		Worker: WorkerConfig{
			MaxConcurrentActivities: 200,
		},
		Log: LogConfig{
			Level:  "info",
			Format: "text",
		},
		Auth: AuthConfig{
			TokenTTL:             90 * 24 * time.Hour,
			OIDCAudience:         "apoyo",
			OIDCRoleClaim:        "realm_access.roles",
			OIDCSecretariatClaim: "secretariat",
			OIDCNameClaim:        "preferred_username",
		},
		API: APIConfig{
			Address:   "127.0.0.1:8080",
			MaxBody:   1 << 20,
			MaxUpload: 64 << 20,
		},
	}
}
