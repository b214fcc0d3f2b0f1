package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/ledger"
)

// TestInvalidTextIsRefusedBeforeTheDatabase sends every text field of a
// transaction with invalid UTF-8, NUL, other control characters and
// over-long values: each is EINVALID ledger.invalid_text naming the field,
// the message never carries the raw bytes, and nothing is stored.
func TestInvalidTextIsRefusedBeforeTheDatabase(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "1000")
	base := func() ledger.TransactionRequest {
		r := ledger.Transfer("pay:c1:b1", "benefits", "budget", "city", d("10"), "benefit")
		r.Metadata = map[string]string{"cycle": "c1"}
		return r
	}
	long := func(n int) string { return strings.Repeat("é", n) } // 2 bytes a character
	cases := []struct {
		name   string
		change func(r *ledger.TransactionRequest)
		field  string
	}{
		{"key invalid utf-8", func(r *ledger.TransactionRequest) { r.IdempotencyKey = "pay:\xff:b1" }, "idempotency_key"},
		{"key NUL", func(r *ledger.TransactionRequest) { r.IdempotencyKey = "pay:\x00:b1" }, "idempotency_key"},
		{"key newline", func(r *ledger.TransactionRequest) { r.IdempotencyKey = "pay:c1\n:b1" }, "idempotency_key"},
		{"key too long", func(r *ledger.TransactionRequest) { r.IdempotencyKey = long(ledger.MaxIdempotencyKeyLen + 1) }, "idempotency_key"},
		{"description invalid utf-8", func(r *ledger.TransactionRequest) { r.Description = "pago \xc3\x28" }, "description"},
		{"description NUL", func(r *ledger.TransactionRequest) { r.Description = "pago\x00" }, "description"},
		{"description bell", func(r *ledger.TransactionRequest) { r.Description = "pago\a" }, "description"},
		{"description C1 control", func(r *ledger.TransactionRequest) { r.Description = "pago\u0085" }, "description"},
		{"description DEL", func(r *ledger.TransactionRequest) { r.Description = "pago\x7f" }, "description"},
		{"description too long", func(r *ledger.TransactionRequest) { r.Description = long(ledger.MaxDescriptionLen + 1) }, "description"},
		{"metadata value invalid utf-8", func(r *ledger.TransactionRequest) { r.Metadata["cycle"] = "c\xe2\x82" }, `metadata["cycle"]`},
		{"metadata value NUL", func(r *ledger.TransactionRequest) { r.Metadata["cycle"] = "c1\x00" }, `metadata["cycle"]`},
		{"metadata value tab", func(r *ledger.TransactionRequest) { r.Metadata["cycle"] = "c\t1" }, `metadata["cycle"]`},
		{"metadata value too long", func(r *ledger.TransactionRequest) { r.Metadata["cycle"] = long(ledger.MaxMetadataValueLen + 1) }, `metadata["cycle"]`},
		{"metadata key invalid utf-8", func(r *ledger.TransactionRequest) { r.Metadata["cy\xffcle"] = "c1" }, "metadata"},
		{"metadata key NUL", func(r *ledger.TransactionRequest) { r.Metadata["cy\x00cle"] = "c1" }, "metadata"},
		{"metadata key empty", func(r *ledger.TransactionRequest) { r.Metadata[""] = "c1" }, "metadata"},
		{"metadata key too long", func(r *ledger.TransactionRequest) { r.Metadata[long(ledger.MaxMetadataKeyLen+1)] = "c1" }, "metadata"},
		{"metadata too many keys", func(r *ledger.TransactionRequest) {
			for i := 0; i <= ledger.MaxMetadataKeys; i++ {
				r.Metadata[strings.Repeat("k", i+1)] = "v"
			}
		}, "metadata"},
		{"account invalid utf-8", func(r *ledger.TransactionRequest) { r.Postings[0].Account = "bene\xfffits" }, "postings[1].account"},
		{"account NUL", func(r *ledger.TransactionRequest) { r.Postings[1].Account = "budget\x00" }, "postings[2].account"},
		{"account too long", func(r *ledger.TransactionRequest) { r.Postings[0].Account = long(ledger.MaxAccountCodeLen + 1) }, "postings[1].account"},
		{"fund invalid utf-8", func(r *ledger.TransactionRequest) { r.Postings[0].Fund = "ci\xfety" }, "postings[1].fund"},
		{"fund control", func(r *ledger.TransactionRequest) { r.Postings[1].Fund = "city\r" }, "postings[2].fund"},
		{"fund too long", func(r *ledger.TransactionRequest) { r.Postings[0].Fund = long(ledger.MaxFundCodeLen + 1) }, "postings[1].fund"},
	}
	for _, c := range cases {
		r := base()
		c.change(&r)
		_, err := f.l.Post(ctx, r)
		require.Error(t, err, c.name)
		require.ErrorIs(t, err, ledger.ErrInvalidText, "%s: got %v", c.name, err)
		require.Equal(t, apoyo.EINVALID, apoyo.ErrorCodeOf(err), c.name)
		var ae *apoyo.Error
		require.True(t, errors.As(err, &ae), c.name)
		require.Equal(t, c.field, ae.Field, c.name)
		require.True(t, utf8.ValidString(err.Error()), "%s: the message echoes invalid bytes: %q", c.name, err.Error())
		require.NotContains(t, err.Error(), "\x00", c.name)
	}
	rep := requireVerified(t, f.l)
	require.Equal(t, int64(1), rep.Transactions, "only the deposit is stored")

	// Account and fund definitions follow the same rules.
	_, err := f.l.CreateAccount(ctx, ledger.AccountSpec{Code: "x", Name: "name\x00", Type: apoyo.Expense, Currency: "MXN"})
	require.ErrorIs(t, err, ledger.ErrInvalidText)
	_, err = f.l.CreateAccount(ctx, ledger.AccountSpec{Code: "y", Type: apoyo.Expense, Currency: "MXN", Metadata: map[string]string{"k": "\xff"}})
	require.ErrorIs(t, err, ledger.ErrInvalidText)
	require.ErrorIs(t, f.l.CreateFund(ctx, ledger.Fund{Code: "z", Name: "Fondo\x07"}), ledger.ErrInvalidText)
}

// TestInvalidTextDoesNotFailItsBatch: one request that PostgreSQL would
// refuse must not take the requests batched with it down.
func TestInvalidTextDoesNotFailItsBatch(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "1000")
	bad := ledger.Transfer("pay:c1:b2", "benefits", "budget", "city", d("10"), "pago\x00")
	res := f.l.PostBatch(ctx, []ledger.TransactionRequest{
		ledger.Transfer("pay:c1:b1", "benefits", "budget", "city", d("10"), ""),
		bad,
		ledger.Transfer("pay:c1:b3", "benefits", "budget", "city", d("10"), ""),
	})
	require.NoError(t, res[0].Err)
	require.ErrorIs(t, res[1].Err, ledger.ErrInvalidText)
	require.NoError(t, res[2].Err)
	requireVerified(t, f.l)
}

// TestUnicodeMetadataRoundTrips posts text that jsonb re-encodes (keys it
// reorders by length, escapes json.Marshal writes, decomposed accents,
// astral characters, line separators) and checks the ledger hashed what it
// stored: verify is clean, the stored transaction reads back exactly, and
// the same request replays.
func TestUnicodeMetadataRoundTrips(t *testing.T) {
	t.Parallel()
	f := setup(t, ledger.Options{})
	ctx := context.Background()
	f.fund(t, "city", "1000")
	meta := map[string]string{
		"z":           "Cuauhtémoc",
		"aa":          "Cuauhte\u0301moc", // decomposed: kept as sent, not normalised
		"ñandú":       "<script>&amp;</script>",
		"b":           "line\u2028separator\u2029paragraph",
		"emoji":       "🇲🇽 👩🏽‍⚕️",
		"quote":       `"quoted" \back\slash /slash`,
		"zero-width":  "a\u200bb\ufeffc",
		"empty-value": "",
		"kreyòl":      "Mèsi anpil",
		"中文":          "墨西哥城",
	}
	r := ledger.Transfer("pay:c1:b1", "benefits", "budget", "city", d("10"), "Apoyo «Ingreso Inclusivo» — Álvaro Obregón")
	r.Metadata = meta
	tx, err := f.l.Post(ctx, r)
	require.NoError(t, err)
	requireVerified(t, f.l)

	stored, err := f.l.TransactionByKey(ctx, r.IdempotencyKey)
	require.NoError(t, err)
	require.Equal(t, meta, stored.Metadata)
	require.Equal(t, r.Description, stored.Description)
	require.Equal(t, tx.Hash, stored.Hash)

	again, err := f.l.Post(ctx, r)
	require.NoError(t, err)
	require.True(t, again.Replayed)
	require.Equal(t, tx.ID, again.ID)
	require.Equal(t, meta, again.Metadata)
}
