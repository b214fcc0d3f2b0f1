package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apoyo-cdmx/apoyo/config"
	"github.com/apoyo-cdmx/apoyo/pii"
)

// Keys is the local stack's generated key material, kept in
// DataDir/keys.json (mode 0600). Production configures pii.* instead.
type Keys struct {
	Keys      string `json:"keys"`
	ActiveKey string `json:"active_key"`
	IndexKey  string `json:"index_key"`
}

// EnsureKeys returns the data directory's keys, generating them on first use.
func EnsureKeys(dataDir string) (Keys, error) {
	path := filepath.Join(dataDir, "keys.json")
	var k Keys
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &k); err != nil {
			return k, fmt.Errorf("devstack: %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	k = Keys{Keys: "dev1:" + pii.GenerateKey(), ActiveKey: "dev1", IndexKey: pii.GenerateKey()}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return k, err
	}
	b, _ = json.MarshalIndent(k, "", "  ")
	// O_EXCL: two processes starting at once agree on one set of keys.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return EnsureKeys(dataDir)
	}
	if err != nil {
		return k, err
	}
	defer f.Close()
	_, err = f.Write(b)
	return k, err
}

// Keyring builds the keyring and blind indexer from the configuration, or
// from the data directory's generated keys when pii.keys is empty.
func Keyring(cfg config.Config) (*pii.Keyring, *pii.Indexer, error) {
	spec, active, index := cfg.PII.Keys, cfg.PII.ActiveKey, cfg.PII.IndexKey
	if spec == "" {
		k, err := EnsureKeys(cfg.DataDir)
		if err != nil {
			return nil, nil, err
		}
		spec, active, index = k.Keys, k.ActiveKey, k.IndexKey
	}
	kr, err := pii.ParseKeyring(spec, active)
	if err != nil {
		return nil, nil, err
	}
	if index == "" {
		return nil, nil, fmt.Errorf("pii.index_key (APOYO_PII_INDEX_KEY) is required when pii.keys is set")
	}
	ix, err := pii.ParseIndexer(index, kr)
	if err != nil {
		return nil, nil, err
	}
	return kr, ix, nil
}
