package report

import (
	"encoding/json"
	"fmt"

	"github.com/shopspring/decimal"
)

// Count is one published count. When Suppressed, Value is zero and Label
// says what may be said of it: "<K" when it is below the threshold (zero
// included), "x" when it is a larger cell hidden so that a small one
// cannot be worked out by subtraction. The true value of a hidden cell
// never leaves this package.
//
// JSON: {"value": 12} or {"value": null, "suppressed": true, "label": "<5"}.
type Count struct {
	Value      int64
	Suppressed bool
	Label      string
}

// String is the count as a table or CSV shows it.
func (c Count) String() string {
	if c.Suppressed {
		return c.Label
	}
	return fmt.Sprint(c.Value)
}

type cellJSON struct {
	Value      json.RawMessage `json:"value"`
	Suppressed bool            `json:"suppressed,omitempty"`
	Label      string          `json:"label,omitempty"`
}

var jsonNull = json.RawMessage("null")

// MarshalJSON implements json.Marshaler.
func (c Count) MarshalJSON() ([]byte, error) {
	if c.Suppressed {
		return json.Marshal(cellJSON{Value: jsonNull, Suppressed: true, Label: c.Label})
	}
	return json.Marshal(cellJSON{Value: json.RawMessage(fmt.Sprint(c.Value))})
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *Count) UnmarshalJSON(b []byte) error {
	var j cellJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*c = Count{Suppressed: j.Suppressed, Label: j.Label}
	if j.Suppressed || len(j.Value) == 0 || string(j.Value) == "null" {
		return nil
	}
	return json.Unmarshal(j.Value, &c.Value)
}

// Amount is one published sum of money, hidden with the count it goes
// with (a category's amount paid is its people paid times the benefit, so
// it would give the count away). JSON as Count, the value a decimal string
// as decimal.Decimal writes it ("11200", "5600.5").
type Amount struct {
	Value      decimal.Decimal
	Suppressed bool
	Label      string
}

// String is the amount as a table or CSV shows it (two decimals).
func (a Amount) String() string {
	if a.Suppressed {
		return a.Label
	}
	return a.Value.StringFixed(2)
}

// MarshalJSON implements json.Marshaler.
func (a Amount) MarshalJSON() ([]byte, error) {
	if a.Suppressed {
		return json.Marshal(cellJSON{Value: jsonNull, Suppressed: true, Label: a.Label})
	}
	v, err := json.Marshal(a.Value)
	if err != nil {
		return nil, err
	}
	return json.Marshal(cellJSON{Value: v})
}

// UnmarshalJSON implements json.Unmarshaler.
func (a *Amount) UnmarshalJSON(b []byte) error {
	var j cellJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*a = Amount{Suppressed: j.Suppressed, Label: j.Label}
	if j.Suppressed || len(j.Value) == 0 || string(j.Value) == "null" {
		return nil
	}
	return json.Unmarshal(j.Value, &a.Value)
}
