package canonhash_test

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo/internal/canonhash"
)

// The encoding is what every stored journal and audit hash was computed
// with: this vector fixes it (it was computed with the ledger's hasher
// before both chains shared this package).
func TestEncodingIsFixed(t *testing.T) {
	h := canonhash.New("apoyo.ledger.chain.v1")
	h.Str("abc")
	h.Int(-42)
	h.Map(map[string]string{"z": "1", "a": "2", "program": "prg_x"})
	require.Equal(t, "e7d492d67bf540a426c3aa26b7f92463b46083e92fcc07401c73b69f30114401", hex.EncodeToString(h.Sum()))
}

// Fields are length-prefixed: moving a byte between fields changes the hash.
func TestNoTwoSequencesCollide(t *testing.T) {
	a, b := canonhash.New("v"), canonhash.New("v")
	a.Str("ab")
	a.Str("c")
	b.Str("a")
	b.Str("bc")
	require.NotEqual(t, a.Sum(), b.Sum())
}
