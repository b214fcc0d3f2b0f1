package payment_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/payment"
)

func validSPEI() payment.Order {
	id := "pay_c1_b42_1"
	return payment.Order{
		ID:             id,
		IdempotencyKey: id,
		Rail:           apoyo.RailSPEI,
		Amount:         decimal.RequireFromString("5600.00"),
		Currency:       payment.CurrencyMXN,
		Concept:        "Apoyo CDMX ciclo 1",
		TrackingKey:    payment.NewTrackingKey(id),
		Reference:      payment.NewReference(id),
		Beneficiary:    payment.Instrument{CLABE: "002180700000000019"},
	}
}

func TestValidateOrder(t *testing.T) {
	t.Parallel()
	require.NoError(t, payment.ValidateOrder(validSPEI()))

	cash := validSPEI()
	cash.Rail, cash.Beneficiary, cash.TrackingKey, cash.Reference = apoyo.RailCashPickup, payment.Instrument{}, "", ""
	require.NoError(t, payment.ValidateOrder(cash))

	card := validSPEI()
	card.Rail, card.Beneficiary = apoyo.RailCard, payment.Instrument{CardNumber: "4111111111111111"}
	require.NoError(t, payment.ValidateOrder(card))

	cases := map[string]struct {
		mut   func(*payment.Order)
		field string
	}{
		"no id":            {func(o *payment.Order) { o.ID = "" }, "id"},
		"slash in id":      {func(o *payment.Order) { o.ID = "a/b" }, "id"},
		"no key":           {func(o *payment.Order) { o.IdempotencyKey = "" }, "idempotency_key"},
		"rail":             {func(o *payment.Order) { o.Rail = "cheque" }, "rail"},
		"zero amount":      {func(o *payment.Order) { o.Amount = decimal.Zero }, "amount"},
		"negative amount":  {func(o *payment.Order) { o.Amount = decimal.RequireFromString("-1") }, "amount"},
		"three decimals":   {func(o *payment.Order) { o.Amount = decimal.RequireFromString("5600.001") }, "amount"},
		"currency":         {func(o *payment.Order) { o.Currency = "USD" }, "currency"},
		"long concept":     {func(o *payment.Order) { o.Concept = strings.Repeat("x", 40) }, "concept"},
		"accent":           {func(o *payment.Order) { o.Concept = "Apoyo económico" }, "concept"},
		"no tracking key":  {func(o *payment.Order) { o.TrackingKey = "" }, "tracking_key"},
		"long tracking":    {func(o *payment.Order) { o.TrackingKey = strings.Repeat("A", 31) }, "tracking_key"},
		"tracking symbols": {func(o *payment.Order) { o.TrackingKey = "APOYO-1" }, "tracking_key"},
		"reference":        {func(o *payment.Order) { o.Reference = "12345678" }, "reference"},
		"reference alpha":  {func(o *payment.Order) { o.Reference = "12a" }, "reference"},
		"short clabe":      {func(o *payment.Order) { o.Beneficiary.CLABE = "00218070000000001" }, "instrument.clabe"},
		"alpha clabe":      {func(o *payment.Order) { o.Beneficiary.CLABE = "00218070000000001X" }, "instrument.clabe"},
		"short card": {func(o *payment.Order) {
			o.Rail, o.Beneficiary = apoyo.RailCard, payment.Instrument{CardNumber: "411111111111"}
		}, "instrument.card_number"},
	}
	for name, c := range cases {
		o := validSPEI()
		c.mut(&o)
		err := payment.ValidateOrder(o)
		require.Error(t, err, name)
		require.ErrorIs(t, err, payment.ErrInvalidOrder, name)
		require.Equal(t, apoyo.EINVALID, apoyo.ErrorCodeOf(err), name)
		var ae *apoyo.Error
		require.True(t, errors.As(err, &ae))
		require.Equal(t, c.field, ae.Field, name)
	}

	exactly39 := validSPEI()
	exactly39.Concept = strings.Repeat("x", 39)
	require.NoError(t, payment.ValidateOrder(exactly39))
}

func TestTrackingKeyAndReference(t *testing.T) {
	t.Parallel()
	k := payment.NewTrackingKey("pay_c1_b42_1")
	require.Len(t, k, 30)
	require.Regexp(t, regexp.MustCompile(`^APOYO[A-Z2-7]{25}$`), k)
	require.Equal(t, k, payment.NewTrackingKey("pay_c1_b42_1"))
	require.NotEqual(t, k, payment.NewTrackingKey("pay_c1_b42_2"))

	r := payment.NewReference("pay_c1_b42_1")
	require.Regexp(t, regexp.MustCompile(`^[0-9]{7}$`), r)
	require.Equal(t, r, payment.NewReference("pay_c1_b42_1"))
}

func TestReturnCauseText(t *testing.T) {
	t.Parallel()
	for _, c := range []int{1, 2, 3, 5, 6, 13, 14, 15, 16, 17, 18, 19, 20, 21, 30} {
		require.NotEqual(t, "unknown return cause", payment.ReturnCauseText(c), c)
	}
	require.Equal(t, "account does not exist", payment.ReturnCauseText(payment.CauseAccountNotFound))
	require.Equal(t, "unknown return cause", payment.ReturnCauseText(4))
	require.Equal(t, "unknown return cause", payment.ReturnCauseText(0))
}

func TestOrderJSON(t *testing.T) {
	t.Parallel()
	o := validSPEI()
	o.Amount = decimal.RequireFromString("5600")
	b, err := json.Marshal(o)
	require.NoError(t, err)
	require.Contains(t, string(b), `"amount":"5600.00"`)
	require.Contains(t, string(b), `"instrument":{"clabe":"002180700000000019"}`)

	var back payment.Order
	require.NoError(t, json.Unmarshal(b, &back))
	require.True(t, back.SameAs(o))

	back.CallbackURL = "http://x"
	require.True(t, back.SameAs(o), "callback url is not part of the payment")
	back.Amount = decimal.RequireFromString("5600.01")
	require.False(t, back.SameAs(o))
}

func TestFinal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		rail  apoyo.Rail
		state apoyo.PaymentState
		final bool
	}{
		{apoyo.RailSPEI, apoyo.PaymentPending, false},
		{apoyo.RailSPEI, apoyo.PaymentSettled, true},
		{apoyo.RailSPEI, apoyo.PaymentReturned, true},
		{apoyo.RailSPEI, apoyo.PaymentCancelled, true},
		{apoyo.RailCard, apoyo.PaymentSettled, true},
		{apoyo.RailCard, apoyo.PaymentRejected, true},
		{apoyo.RailCashPickup, apoyo.PaymentSettled, false},
		{apoyo.RailCashPickup, apoyo.PaymentCollected, true},
		{apoyo.RailCashPickup, apoyo.PaymentExpired, true},
	}
	for _, c := range cases {
		require.Equal(t, c.final, payment.Status{Rail: c.rail, State: c.state}.Final(), "%s %s", c.rail, c.state)
	}
}

func TestStatementRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 10, 16, 0, 0, 0, time.UTC)
	lines := []payment.StatementLine{
		{OperationDate: "2025-03-10", TrackingKey: "APOYOA", OrderID: "p1", Amount: decimal.RequireFromString("5600"),
			State: payment.SPEISettled, CreatedAt: at, SettledAt: at},
		{OperationDate: "2025-03-10", TrackingKey: "APOYOB", OrderID: "p2", Amount: decimal.RequireFromString("5600"),
			State: payment.SPEIReturned, ReturnCause: 1, CreatedAt: at, ReturnedAt: at},
		{OperationDate: "2025-03-10", TrackingKey: "APOYOB", OrderID: "p2", Amount: decimal.RequireFromString("5600"),
			State: payment.SPEIReturned, ReturnTrackingKey: "DEV1", ReturnCause: 1, CreatedAt: at, ReturnedAt: at},
	}
	var buf bytes.Buffer
	require.NoError(t, payment.WriteStatement(&buf, lines))
	require.True(t, strings.HasPrefix(buf.String(), strings.Join(payment.StatementHeader, ",")+"\n"))
	got, err := payment.ParseStatement(&buf)
	require.NoError(t, err)
	require.Len(t, got, 3)
	require.True(t, got[0].Amount.Equal(lines[0].Amount))
	require.True(t, got[2].IsReturn())
	require.True(t, got[1].SettledAt.IsZero())
	require.True(t, payment.StatementNetOutflow(got).Equal(decimal.RequireFromString("5600")))

	_, err = payment.ParseStatement(strings.NewReader("a,b\n"))
	require.ErrorIs(t, err, payment.ErrBadStatement)
}

// TestSameAsEveryField changes each field of an order in turn, the
// instrument's fields one by one included: every change but CallbackURL
// makes another payment, so a resubmission with it must be an idempotency
// conflict, never a replay. The fields are found by reflection, so a field
// added to Order or Instrument later is covered without anyone remembering.
func TestSameAsEveryField(t *testing.T) {
	t.Parallel()
	orders := map[string]payment.Order{"spei": validSPEI()}
	card := validSPEI()
	card.Rail, card.Beneficiary = apoyo.RailCard, payment.Instrument{CardNumber: "4111111111111111", HolderName: "A"}
	orders["card"] = card

	changed := func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			v.SetString(v.String() + "1")
		default:
			if d, ok := v.Interface().(decimal.Decimal); ok {
				v.Set(reflect.ValueOf(d.Add(decimal.RequireFromString("0.01"))))
				return
			}
			t.Fatalf("no way to change a field of kind %s: extend the test", v.Kind())
		}
	}
	for name, o := range orders {
		ot := reflect.TypeOf(o)
		for i := 0; i < ot.NumField(); i++ {
			f := ot.Field(i)
			if f.Type == reflect.TypeOf(payment.Instrument{}) {
				for j := 0; j < f.Type.NumField(); j++ {
					p := o
					changed(reflect.ValueOf(&p).Elem().Field(i).Field(j))
					require.False(t, p.SameAs(o), "%s: instrument.%s changed, still the same order", name, f.Type.Field(j).Name)
					require.False(t, o.SameAs(p), "%s: instrument.%s changed, still the same order", name, f.Type.Field(j).Name)
				}
				continue
			}
			p := o
			changed(reflect.ValueOf(&p).Elem().Field(i))
			if f.Name == "CallbackURL" {
				require.True(t, p.SameAs(o), "callback url is delivery metadata")
				continue
			}
			require.False(t, p.SameAs(o), "%s: %s changed, still the same order", name, f.Name)
		}
	}

	// The cases that matter most, spelled out: another CLABE, another card,
	// an instrument of the other rail added, a CLABE cleared.
	o := validSPEI()
	for what, p := range map[string]payment.Instrument{
		"other clabe":        {CLABE: "002180700000000027"},
		"card added":         {CLABE: o.Beneficiary.CLABE, CardNumber: "4111111111111111"},
		"clabe cleared":      {},
		"holder name added":  {CLABE: o.Beneficiary.CLABE, HolderName: "X"},
		"clabe with a space": {CLABE: " " + o.Beneficiary.CLABE},
	} {
		q := o
		q.Beneficiary = p
		require.False(t, q.SameAs(o), what)
	}
	c := card
	c.Beneficiary.CardNumber = "5555555555554444"
	require.False(t, c.SameAs(card), "other card")
	same := o
	same.Amount = decimal.RequireFromString("5600")
	require.True(t, same.SameAs(o), "amounts compare by value")
}
