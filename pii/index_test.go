package pii_test

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/pii"
	"github.com/stretchr/testify/require"
)

func mustIndexer(t *testing.T, seed byte) *pii.Indexer {
	t.Helper()
	ix, err := pii.ParseIndexer(testKey(seed), nil)
	require.NoError(t, err)
	return ix
}

func TestIndexDeterministic(t *testing.T) {
	t.Parallel()
	ix := mustIndexer(t, 9)
	a := ix.Index(pii.DomainCURP, fakeCURP)
	require.Len(t, a, 32)
	require.Equal(t, a, ix.Index(pii.DomainCURP, fakeCURP))
	require.Equal(t, a, mustIndexer(t, 9).Index(pii.DomainCURP, fakeCURP), "same key, same index")
	require.NotEqual(t, a, mustIndexer(t, 10).Index(pii.DomainCURP, fakeCURP), "other key, other index")
	require.NotEqual(t, a, ix.Index(pii.DomainCURP, "GOXX800101HDFRRN08"))
	require.Nil(t, ix.Index(pii.DomainPhone, ""), "empty values have no index")
	require.NotContains(t, string(a), fakeCURP)
}

func TestIndexDomainSeparation(t *testing.T) {
	t.Parallel()
	ix := mustIndexer(t, 9)
	const v = "5512345678"
	seen := map[string]string{}
	for _, d := range []string{pii.DomainCURP, pii.DomainDoc, pii.DomainCLABE, pii.DomainPhone} {
		idx := string(ix.Index(d, v))
		require.NotContains(t, seen, idx, "domains %s and %s collide", d, seen[idx])
		seen[idx] = d
	}
	// The domain is length-prefixed, so moving characters between domain and
	// value does not collide.
	require.NotEqual(t, ix.Index("ab", "c"), ix.Index("a", "bc"))
	require.Panics(t, func() { ix.Index("", v) })
}

func TestParseIndexerErrors(t *testing.T) {
	t.Parallel()
	_, err := pii.ParseIndexer("%%%", nil)
	require.ErrorIs(t, err, pii.ErrKeyEncoding)
	var e *apoyo.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "pii.index_key", e.Field)
	require.Equal(t, apoyo.EINVALID, e.Code)

	_, err = pii.ParseIndexer(base64.StdEncoding.EncodeToString([]byte("short")), nil)
	require.ErrorIs(t, err, pii.ErrKeyLength)
	require.ErrorAs(t, err, &e)
	require.Equal(t, "pii.index_key", e.Field)

	kr := mustKeyring(t, "k1:"+testKey(1)+",k2:"+testKey(2), "k2")
	_, err = pii.ParseIndexer(testKey(1), kr)
	require.ErrorIs(t, err, pii.ErrIndexKeyReused)
	ix, err := pii.ParseIndexer(testKey(3), kr)
	require.NoError(t, err)
	require.NotContains(t, ix.String(), testKey(3))
}

func TestNormaliseID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"goxx800101hdfrrn09":        "GOXX800101HDFRRN09",
		" goxx-800101.hdf rrn09 ":   "GOXX800101HDFRRN09",
		"G0XX\t800101\u00a0HDF":     "G0XX800101HDF", // tab, no-break space
		"AB\u2013123\u200b4":        "AB1234",        // en dash, zero-width space
		"012 180 0012 3456 7891":    "012180001234567891",
		"peña-ñuñez":                "PEÑAÑUÑEZ",
		"":                          "",
		"+52 (55) 1234-5678":        "+52(55)12345678",
		"a.b.c":                     "ABC",
		"already NORMAL":            "ALREADYNORMAL",
		"\u00adsoft\u00adhyphen":    "SOFTHYPHEN",
		"x\r\ny":                    "XY",
		"\ufeffBOM":                 "BOM",
		"mixed–—dashes":             "MIXEDDASHES",
		"ÑANDÚ":                     "ÑANDÚ",
		"123":                       "123",
		"passport no. g12345678 mx": "PASSPORTNOG12345678MX",
	} {
		require.Equal(t, want, pii.NormaliseID(in), "%q", in)
	}
	ix := mustIndexer(t, 9)
	require.True(t, bytes.Equal(
		ix.Index(pii.DomainCURP, pii.NormaliseID("goxx-800101-hdfrrn09")),
		ix.Index(pii.DomainCURP, pii.NormaliseID("GOXX800101HDFRRN09"))))
}
