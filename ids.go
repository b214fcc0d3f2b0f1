package apoyo

import (
	"crypto/rand"
	"encoding/base32"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns prefix and 16 lowercase base32 characters (80 random
// bits): the form of every id apoyo makes (prg_, ben_, imp_, cyc_, usr_,
// tok_). Ids are random, not sequential, so they say nothing about when or
// in which order anything happened; they are lowercase because some are
// part of ledger fund codes, and never contain ':', which sealed values'
// AADs use.
func NewID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return prefix + idEncoding.EncodeToString(b[:])
}
