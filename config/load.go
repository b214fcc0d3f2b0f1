package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/go-playground/validator/v10"
	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/apoyo-cdmx/apoyo"
)

// DefaultFile is read when --config is not given and the file exists.
const DefaultFile = "apoyo.yaml"

// EnvPrefix prefixes every environment variable apoyo reads.
const EnvPrefix = "APOYO"

// Load builds the effective configuration. file is the --config value ("" =
// DefaultFile if present); flags are bound by their names, which must equal
// config keys (e.g. a flag "database.url" or one registered with FlagKeys).
func Load(file string, flags *pflag.FlagSet, flagKeys map[string]string) (Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()

	// Defaults are registered key by key so that AutomaticEnv sees every
	// key when unmarshalling, even ones absent from the file.
	for key, val := range flatten(Default()) {
		v.SetDefault(key, val)
	}

	if file == "" {
		if _, err := os.Stat(DefaultFile); err == nil {
			file = DefaultFile
		}
	}
	if file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, apoyo.Errorf(apoyo.EINVALID, "config.file", "reading config file %s: %v", file, err)
		}
		if err := checkUnknownKeys(v); err != nil {
			return Config{}, err
		}
	}

	if flags != nil {
		for flagName, key := range flagKeys {
			if f := flags.Lookup(flagName); f != nil {
				if err := v.BindPFlag(key, f); err != nil {
					return Config{}, err
				}
			}
		}
	}

	var cfg Config
	if err := v.Unmarshal(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
	)), func(dc *mapstructure.DecoderConfig) { dc.ErrorUnused = false }); err != nil {
		return Config{}, apoyo.Errorf(apoyo.EINVALID, "config.decode", "%v", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// checkUnknownKeys refuses keys in the file that no field reads: a typo
// would otherwise be silently ignored.
func checkUnknownKeys(v *viper.Viper) error {
	known := flatten(Default())
	var unknown []string
	for _, k := range v.AllKeys() {
		if _, ok := known[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return apoyo.Errorf(apoyo.EINVALID, "config.unknown_key", "unknown configuration key(s) in file: %s", strings.Join(unknown, ", "))
	}
	return nil
}

var validate = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		return strings.Split(f.Tag.Get("mapstructure"), ",")[0]
	})
	_ = v.RegisterValidation("postgres_url", func(fl validator.FieldLevel) bool {
		u, err := url.Parse(fl.Field().String())
		return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql")
	})
	_ = v.RegisterValidation("rail_queues", func(fl validator.FieldLevel) bool {
		_, ok := parseRailQueues(fl.Field().String())
		return ok
	})
	return v
}()

// Validate checks every field and returns an *apoyo.Error naming the first
// offending key and what it allows.
func (c Config) Validate() error {
	err := validate.Struct(c)
	if err == nil {
		return c.PII.validate()
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return err
	}
	msgs := make([]string, 0, len(verrs))
	first := ""
	for _, fe := range verrs {
		// Namespace is "Config.database.url": drop the struct name.
		key := fe.Namespace()
		if i := strings.IndexByte(key, '.'); i >= 0 {
			key = key[i+1:]
		}
		if first == "" {
			first = key
		}
		msgs = append(msgs, fmt.Sprintf("%s (env %s): %s", key, EnvName(key), allowed(fe)))
	}
	e := apoyo.Errorf(apoyo.EINVALID, "config.invalid", "invalid configuration: %s", strings.Join(msgs, "; "))
	e.Field = first
	return e
}

// EnvName is the environment variable that sets key.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func allowed(fe validator.FieldError) string {
	got := fmt.Sprintf("%v", fe.Value())
	if isSecretKey(fe.Namespace()) {
		got = "(hidden)"
	}
	switch fe.Tag() {
	case "required":
		return "is required"
	case "oneof":
		return fmt.Sprintf("must be one of [%s], got %q", fe.Param(), got)
	case "min":
		return fmt.Sprintf("must be at least %s, got %s", fe.Param(), got)
	case "max":
		return fmt.Sprintf("must be at most %s, got %s", fe.Param(), got)
	case "hostname_port":
		return fmt.Sprintf("must be host:port, got %q", got)
	case "postgres_url":
		return "must be a postgres:// or postgresql:// URL"
	case "rail_queues":
		return fmt.Sprintf("must be rail=activities per second, comma-separated (spei=200,cash_pickup=20,card=50), got %q", got)
	case "hostname_port|eq=off":
		return fmt.Sprintf("must be host:port or off, got %q", got)
	}
	return fmt.Sprintf("fails %s %s, got %q", fe.Tag(), fe.Param(), got)
}

func isSecretKey(namespace string) bool {
	for _, k := range SecretKeys() {
		if strings.HasSuffix(namespace, k) {
			return true
		}
	}
	return false
}

// SecretKeys lists the keys whose values are masked when shown.
func SecretKeys() []string {
	var keys []string
	walk(Config{}, func(key string, f reflect.StructField, _ any) {
		if f.Tag.Get("secret") == "true" {
			keys = append(keys, key)
		}
	})
	return keys
}

// Keys lists every configuration key in declaration order.
func Keys() []string {
	var keys []string
	walk(Config{}, func(key string, _ reflect.StructField, _ any) { keys = append(keys, key) })
	return keys
}

// walk calls fn for every leaf setting of c with its key ("database.url"),
// its struct field (for tags) and its value.
func walk(c Config, fn func(key string, f reflect.StructField, value any)) {
	var rec func(v reflect.Value, prefix string)
	rec = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			key := strings.Split(f.Tag.Get("mapstructure"), ",")[0]
			if prefix != "" {
				key = prefix + "." + key
			}
			if f.Type.Kind() == reflect.Struct {
				rec(v.Field(i), key)
				continue
			}
			fn(key, f, v.Field(i).Interface())
		}
	}
	rec(reflect.ValueOf(c), "")
}

// flatten maps every key to its value in c.
func flatten(c Config) map[string]any {
	out := map[string]any{}
	walk(c, func(key string, _ reflect.StructField, value any) { out[key] = value })
	return out
}

// Masked returns the configuration as key → value with secrets masked, for
// `apoyo config show`.
func (c Config) Masked() map[string]any {
	out := flatten(c)
	for _, k := range SecretKeys() {
		if s, ok := out[k].(string); ok && s != "" {
			out[k] = maskSecret(k, s)
		}
	}
	return out
}

// maskSecret masks the value of a secret key. A URL keeps its scheme,
// user, host and path, so `config show` still says where apoyo connects,
// with its password (in the user part or in a query parameter such as
// password= or sslpassword=) replaced by xxxxx. A value that is not such a
// URL (a keyword/value connection string, a URL that does not parse) is
// masked whole: it cannot be told where the secret is in it.
func maskSecret(key, s string) string {
	const whole = "********"
	if !strings.HasSuffix(key, "url") {
		return whole
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return whole
	}
	if q := u.Query(); len(q) > 0 {
		masked := false
		for k := range q {
			if l := strings.ToLower(k); strings.Contains(l, "password") || strings.Contains(l, "secret") || strings.Contains(l, "token") || l == "sslkey" {
				q[k] = []string{"xxxxx"}
				masked = true
			}
		}
		if masked {
			u.RawQuery = q.Encode()
		}
	}
	if u.Fragment != "" {
		return whole
	}
	return u.Redacted()
}

// ErrKeySetting: a key setting is malformed. Its messages say which entry
// and what is wrong, never any of the text: a key given in the wrong
// place (id and key swapped, the key without its id) would otherwise be
// printed in full.
var ErrKeySetting = &apoyo.Error{Code: apoyo.EINVALID, Reason: "config.key_setting", Message: "a key setting is malformed"}

// keySize is the length of every key: AES-256 and the HMAC of the blind
// indexes (pii.KeySize; config does not import pii).
const keySize = 32

// validate checks the shape of the key settings up front, so that a
// malformed one stops the program here, with a message that names the
// setting and never holds key material.
func (p PIIConfig) validate() error {
	bad := func(key, format string, args ...any) error {
		e := ErrKeySetting.With("invalid configuration: %s (env %s): %s; generate a key with `openssl rand -base64 32`",
			key, EnvName(key), fmt.Sprintf(format, args...))
		e.Field = key
		return e
	}
	ids := map[string]bool{}
	n := 0
	for entry := range strings.SplitSeq(p.Keys, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		n++
		id, b64, ok := strings.Cut(entry, ":")
		id = strings.TrimSpace(id)
		if !ok {
			return bad("pii.keys", "entry %d is not id:base64key", n)
		}
		if !validKeyID(id) {
			return bad("pii.keys", "entry %d: the key id before ':' must be 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-' (are id and key swapped?)", n)
		}
		if ids[id] {
			return bad("pii.keys", "entry %d repeats the id of an earlier entry", n)
		}
		ids[id] = true
		if msg := keyProblem(strings.TrimSpace(b64)); msg != "" {
			return bad("pii.keys", "the key of entry %d %s", n, msg)
		}
	}
	if p.ActiveKey != "" && n > 0 && !ids[p.ActiveKey] {
		return bad("pii.active_key", "it is not the id of any entry of pii.keys")
	}
	if p.IndexKey != "" {
		if msg := keyProblem(strings.TrimSpace(p.IndexKey)); msg != "" {
			return bad("pii.index_key", "the key %s", msg)
		}
	}
	return nil
}

// keyProblem says what is wrong with a base64 key, or "".
func keyProblem(b64 string) string {
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "is not valid standard base64"
	}
	if len(key) != keySize {
		return fmt.Sprintf("is %d bytes long; it must be %d", len(key), keySize)
	}
	return ""
}

func validKeyID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// parseRailQueues parses "rail=rate,…"; ok is false when a part is not a
// known rail with a rate of zero or more (the parts that are stay).
func parseRailQueues(s string) (rates map[string]float64, ok bool) {
	rates, ok = map[string]float64{}, true
	if strings.TrimSpace(s) == "" {
		return rates, true
	}
	for _, part := range strings.Split(s, ",") {
		rail, rate, found := strings.Cut(strings.TrimSpace(part), "=")
		rail = strings.TrimSpace(rail)
		v, err := strconv.ParseFloat(strings.TrimSpace(rate), 64)
		if !found || !apoyo.Rail(rail).Valid() || err != nil || v < 0 {
			ok = false
			continue
		}
		rates[rail] = v
	}
	return rates, ok
}
