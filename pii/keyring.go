package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/apoyo-cdmx/apoyo"
)

// KeySize is the length in bytes of every key, encryption or index: 256 bits.
const KeySize = 32

// fieldKeys is the configuration key the encryption keyring is read from;
// errors about it carry it as their Field so an operator knows what to fix.
const fieldKeys = "pii.keys"

// Errors returned by this package. Compare with errors.Is; each occurrence
// carries its specifics in the message. No error ever contains key material
// or plaintext: only key ids, which are not secret.
var (
	// ErrKeySpec: the keyring specification is not "id:base64key,...".
	ErrKeySpec = &apoyo.Error{Code: apoyo.EINVALID, Reason: "pii.key_spec", Field: fieldKeys}
	// ErrKeyID: a key id is empty, too long or uses characters outside
	// [A-Za-z0-9._-].
	ErrKeyID = &apoyo.Error{Code: apoyo.EINVALID, Reason: "pii.key_id", Field: fieldKeys}
	// ErrKeyEncoding: a key is not valid standard base64.
	ErrKeyEncoding = &apoyo.Error{Code: apoyo.EINVALID, Reason: "pii.key_encoding", Field: fieldKeys}
	// ErrKeyLength: a key does not decode to exactly KeySize bytes.
	ErrKeyLength = &apoyo.Error{Code: apoyo.EINVALID, Reason: "pii.key_length", Field: fieldKeys}
	// ErrDuplicateKey: two keys share an id.
	ErrDuplicateKey = &apoyo.Error{Code: apoyo.EINVALID, Reason: "pii.duplicate_key", Field: fieldKeys}
	// ErrActiveKey: the active key id is empty or names no key in the ring.
	ErrActiveKey = &apoyo.Error{Code: apoyo.EINVALID, Reason: "pii.active_key", Field: fieldKeys}

	// ErrUnknownKey: a ciphertext was sealed under a key the keyring does not
	// hold, typically because an old key was dropped from configuration
	// before every row was rewrapped. Internal, not invalid: the data is
	// fine, the deployment is not.
	ErrUnknownKey = &apoyo.Error{Code: apoyo.EINTERNAL, Reason: "pii.unknown_key"}
	// ErrDecrypt: a ciphertext failed authentication: it was altered, or it
	// is being opened with a different AAD than it was sealed with (moved to
	// another row or column).
	ErrDecrypt = &apoyo.Error{Code: apoyo.EINTERNAL, Reason: "pii.decrypt"}
	// ErrMalformed: the bytes are not a sealed value of a known format.
	ErrMalformed = &apoyo.Error{Code: apoyo.EINTERNAL, Reason: "pii.malformed"}
)

// Sealed format, version 1. All values produced by Seal look like this
// (offsets in bytes, n = length of the key id):
//
//	0        version, 0x01
//	1        n, 1..64
//	2        key id, n ASCII bytes from [A-Za-z0-9._-]
//	2+n      nonce, 12 random bytes
//	14+n     AES-256-GCM ciphertext, as long as the plaintext
//	end-16   GCM tag, 16 bytes
//
// The format is self-describing so that a value can be opened after the
// active key has changed (the key id says which key to use) and so that a
// later format can be introduced without guessing (the version byte). The
// header (version, n, key id) is authenticated together with the caller's
// AAD, so it cannot be edited without Open failing.
const (
	formatV1    byte = 1
	maxKeyIDLen      = 64
	nonceSize        = 12
	tagSize          = 16
)

// Keyring holds the named AES-256 keys used to encrypt personal data at
// rest. One key is active: Seal always uses it. The others are kept so that
// values sealed before a rotation can still be opened, and rewrapped.
//
// Rotation: add a new key to the configuration, make it active and deploy;
// run a job that calls Rewrap on every stored value (KeyIDOf tells which
// still need it); only then remove the old key. With random 96-bit nonces a
// key should seal fewer than 2^32 values; rotating yearly keeps far below.
//
// A Keyring is immutable and safe for concurrent use. It never prints its
// keys: String, GoString and LogValue show only the key ids.
type Keyring struct {
	active string
	ids    []string // sorted, for printing
	keys   map[string][]byte
	aeads  map[string]cipher.AEAD
}

// ParseKeyring builds a Keyring from its configuration form: spec is
// "id1:base64key1,id2:base64key2" (standard base64 of KeySize bytes, spaces
// around entries ignored) and active is the id of the key new values are
// sealed under. Errors are EINVALID with Field "pii.keys"; they name the
// offending key id but never echo key material.
func ParseKeyring(spec, active string) (*Keyring, error) {
	keys := map[string][]byte{}
	for entry := range strings.SplitSeq(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue // tolerate a trailing comma
		}
		id, b64, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, ErrKeySpec.With("entry %d is not id:base64key", len(keys)+1)
		}
		id = strings.TrimSpace(id)
		if err := checkKeyID(id); err != nil {
			return nil, err
		}
		if _, dup := keys[id]; dup {
			return nil, ErrDuplicateKey.With("key id %q appears more than once", id)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil {
			// The base64 error holds only an offset, never the input.
			return nil, ErrKeyEncoding.With("key %q is not valid base64", id).Wrap(err)
		}
		keys[id] = key
	}
	return NewKeyring(keys, active)
}

// NewKeyring builds a Keyring from raw keys, each exactly KeySize bytes. It
// copies the keys, so the caller may clear its own copies.
func NewKeyring(keys map[string][]byte, active string) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, ErrKeySpec.With("no keys configured")
	}
	kr := &Keyring{
		active: active,
		keys:   make(map[string][]byte, len(keys)),
		aeads:  make(map[string]cipher.AEAD, len(keys)),
	}
	for id, key := range keys {
		if err := checkKeyID(id); err != nil {
			return nil, err
		}
		if len(key) != KeySize {
			return nil, ErrKeyLength.With("key %q is %d bytes, want %d (AES-256)", id, len(key), KeySize)
		}
		aead, err := newAEAD(key)
		if err != nil {
			return nil, err
		}
		kr.keys[id] = slices.Clone(key)
		kr.aeads[id] = aead
		kr.ids = append(kr.ids, id)
	}
	slices.Sort(kr.ids)
	if active == "" {
		return nil, ErrActiveKey.With("no active key id configured")
	}
	if _, ok := kr.keys[active]; !ok {
		return nil, ErrActiveKey.With("active key %q is not among the configured keys %v", active, kr.ids)
	}
	return kr, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, apoyo.Errorf(apoyo.EINTERNAL, "pii.cipher", "creating AES cipher: %v", err)
	}
	// NewGCMWithRandomNonce draws a fresh 96-bit nonce from crypto/rand on
	// every Seal and prepends it to the ciphertext, so nonce handling cannot
	// be got wrong here.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, apoyo.Errorf(apoyo.EINTERNAL, "pii.cipher", "creating GCM: %v", err)
	}
	return aead, nil
}

// checkKeyID keeps ids short and plain: they are written in clear into every
// ciphertext and into Temporal payload metadata, and parsed from config.
func checkKeyID(id string) error {
	if id == "" || len(id) > maxKeyIDLen {
		return ErrKeyID.With("key id %q must be 1 to %d characters", id, maxKeyIDLen)
	}
	for _, r := range id {
		if !validKeyIDRune(r) {
			return ErrKeyID.With("key id %q may only use A-Z, a-z, 0-9, '.', '_' and '-'", id)
		}
	}
	return nil
}

func validKeyIDRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '.' || r == '_' || r == '-'
}

// GenerateKey returns a new random key in the form ParseKeyring expects
// (standard base64 of KeySize bytes), for `apoyo dev` to create keys on
// first run and for operators to create production keys.
func GenerateKey() string {
	b := make([]byte, KeySize)
	// crypto/rand.Read never returns an error: it crashes the program if
	// the operating system cannot supply randomness.
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// ActiveKeyID returns the id of the key Seal uses.
func (k *Keyring) ActiveKeyID() string { return k.active }

// KeyIDs returns the ids of all keys in the ring, sorted.
func (k *Keyring) KeyIDs() []string { return slices.Clone(k.ids) }

// HasKey reports whether the ring holds a key with the given id.
func (k *Keyring) HasKey(id string) bool {
	_, ok := k.keys[id]
	return ok
}

// usesKey reports whether key is one of the ring's keys; the Indexer uses it
// to refuse an index key copied from the encryption keys.
func (k *Keyring) usesKey(key []byte) bool {
	for _, own := range k.keys {
		if string(own) == string(key) {
			return true
		}
	}
	return false
}

// Seal encrypts plaintext under the active key and returns it in the sealed
// format described above (version, key id, nonce, ciphertext and tag).
//
// aad (additional authenticated data) is not stored but must be given again,
// byte for byte, to Open. Callers pass where the value lives, see AAD, e.g.
// "beneficiary:<id>:curp": then a ciphertext copied into another row or
// column (say, to make someone else's record show this person's CURP) fails
// to open instead of being silently accepted.
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	return k.sealWith(k.active, plaintext, aad), nil
}

func (k *Keyring) sealWith(id string, plaintext, aad []byte) []byte {
	aead := k.aeads[id]
	out := make([]byte, 0, 2+len(id)+nonceSize+len(plaintext)+tagSize)
	out = append(out, formatV1, byte(len(id)))
	out = append(out, id...)
	return aead.Seal(out, nil, plaintext, additionalData(out, aad))
}

// additionalData is what GCM authenticates besides the ciphertext: the
// header, then the caller's AAD. The header is self-delimiting (its length
// is in its second byte), so the concatenation is unambiguous.
func additionalData(header, aad []byte) []byte {
	ad := make([]byte, 0, len(header)+len(aad))
	return append(append(ad, header...), aad...)
}

// Open decrypts a value made by Seal, using the key named in its header and
// the same aad it was sealed with. It fails with ErrUnknownKey when the ring
// lacks that key, ErrDecrypt when authentication fails (tampered bytes or a
// different aad) and ErrMalformed when the bytes are not a sealed value.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	id, hdrLen, err := parseHeader(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return nil, ErrUnknownKey.With("value sealed under key %q, which is not in the keyring %v", id, k.ids)
	}
	pt, err := aead.Open(nil, nil, sealed[hdrLen:], additionalData(sealed[:hdrLen], aad))
	if err != nil {
		return nil, ErrDecrypt.With("value sealed under key %q failed authentication: altered, or opened with another AAD than it was sealed with", id)
	}
	return pt, nil
}

// parseHeader checks the version and key id of a sealed value and returns
// the id and the header's length.
func parseHeader(sealed []byte) (id string, hdrLen int, err error) {
	if len(sealed) < 2 {
		return "", 0, ErrMalformed.With("sealed value is %d bytes, too short for a header", len(sealed))
	}
	if sealed[0] != formatV1 {
		return "", 0, ErrMalformed.With("unknown sealed format version %d", sealed[0])
	}
	n := int(sealed[1])
	hdrLen = 2 + n
	if n == 0 || n > maxKeyIDLen || len(sealed) < hdrLen+nonceSize+tagSize {
		return "", 0, ErrMalformed.With("sealed value is truncated or has a bad key id length")
	}
	for _, c := range sealed[2:hdrLen] {
		if !validKeyIDRune(rune(c)) {
			return "", 0, ErrMalformed.With("sealed value has an invalid key id")
		}
	}
	return string(sealed[2:hdrLen]), hdrLen, nil
}

// KeyIDOf returns the id of the key a sealed value was sealed under, without
// decrypting it. A rotation job uses it to find values still needing Rewrap.
func KeyIDOf(sealed []byte) (string, error) {
	id, _, err := parseHeader(sealed)
	return id, err
}

// SealString is Seal for string values and AADs.
func (k *Keyring) SealString(plaintext, aad string) ([]byte, error) {
	return k.Seal([]byte(plaintext), []byte(aad))
}

// OpenString is Open for string values and AADs.
func (k *Keyring) OpenString(sealed []byte, aad string) (string, error) {
	pt, err := k.Open(sealed, []byte(aad))
	if err != nil {
		return "", err
	}
	return string(pt), nil
}

// Rewrap re-encrypts a sealed value under the active key, for key rotation.
// If the value is already under the active key it is returned unchanged,
// without being decrypted, so a rotation job can be re-run cheaply.
// aad must be the one the value was sealed with; it is kept.
func (k *Keyring) Rewrap(sealed, aad []byte) ([]byte, error) {
	id, _, err := parseHeader(sealed)
	if err != nil {
		return nil, err
	}
	if id == k.active {
		return sealed, nil
	}
	pt, err := k.Open(sealed, aad)
	if err != nil {
		return nil, err
	}
	defer clear(pt) // best effort: don't leave the plaintext lying in memory
	return k.Seal(pt, aad)
}

// AAD returns the conventional additional authenticated data for a value
// stored in column of the row identified by rowID in table, e.g.
// AAD("beneficiary", id, "curp") = "beneficiary:<id>:curp". Use it so every
// caller binds ciphertexts the same way; ids must not contain ':'.
func AAD(table, rowID, column string) string {
	return table + ":" + rowID + ":" + column
}

// String describes the keyring without its keys.
func (k *Keyring) String() string {
	return fmt.Sprintf("pii.Keyring{active: %s, keys: %v}", k.active, k.ids)
}

// GoString keeps %#v from dumping the keys.
func (k *Keyring) GoString() string { return k.String() }

// LogValue keeps log/slog from dumping the keys.
func (k *Keyring) LogValue() slog.Value { return slog.StringValue(k.String()) }
