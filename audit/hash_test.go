package audit

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
)

// TestHashCoversEveryField changes each field of an entry in turn, found
// by reflection so that a field added to apoyo.AuditEntry later and not
// hashed fails here, and requires the hash to change.
func TestHashCoversEveryField(t *testing.T) {
	t.Parallel()
	base := apoyo.AuditEntry{
		Seq: 7, At: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC), ActorID: "u1", ActorName: "n", Role: "r",
		Secretariat: "SIBISO", Via: "token", TokenID: "t", Action: "a", Targets: []string{"x", "y"}, Purpose: "p",
		Outcome: "ok", ErrorCode: "e", ErrorReason: "r", RequestID: "q", Detail: map[string]string{"k": "v"},
	}
	prev := bytes.Repeat([]byte{1}, 32)
	want := entryHash(prev, &base)
	require.Equal(t, want, entryHash(prev, &base), "deterministic")
	require.NotEqual(t, want, entryHash(make([]byte, 32), &base), "prev hash is covered")

	// The encoding is what every stored entry's hash was computed with:
	// this vector fixes it (computed when the log was written).
	require.Equal(t, fixedVector, hex.EncodeToString(want), "the entry encoding changed: stored chains would stop verifying")

	typ := reflect.TypeOf(base)
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if f.Name == "PrevHash" || f.Name == "Hash" {
			continue
		}
		e := base
		e.Targets = append([]string(nil), base.Targets...)
		e.Detail = map[string]string{"k": "v"}
		v := reflect.ValueOf(&e).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.String:
			v.SetString(v.String() + "!")
		case reflect.Int64:
			v.SetInt(v.Int() + 1)
		case reflect.Slice: // []string; order matters
			v.Set(reflect.ValueOf([]string{"y", "x"}))
		case reflect.Map: // map[string]string
			v.Set(reflect.ValueOf(map[string]string{"k": "w"}))
		case reflect.Struct: // time.Time
			v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Microsecond)))
		default:
			t.Fatalf("field %s of kind %s: teach this test to change it", f.Name, f.Type.Kind())
		}
		require.NotEqual(t, want, entryHash(prev, &e), "field %s is not covered by the hash", f.Name)
	}

	// Length prefixes: moving text between neighbouring fields, or
	// between targets, changes the hash.
	a, b := base, base
	a.ActorID, a.ActorName = "ab", "c"
	b.ActorID, b.ActorName = "a", "bc"
	require.NotEqual(t, entryHash(prev, &a), entryHash(prev, &b))
	a.Targets, b.Targets = []string{"ab", "c"}, []string{"a", "bc"}
	require.NotEqual(t, entryHash(prev, &a), entryHash(prev, &b))
	a, b = base, base
	a.Detail, b.Detail = map[string]string{"ab": "c"}, map[string]string{"a": "bc"}
	require.NotEqual(t, entryHash(prev, &a), entryHash(prev, &b))
}

// fixedVector is entryHash of TestHashCoversEveryField's base entry.
const fixedVector = "856c985798761d322f78f115e4663fbba8948b5d3d41cd484b1720d0a9bfe39b"
