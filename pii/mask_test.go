package pii_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"unicode/utf8"

	"github.com/apoyo-cdmx/apoyo/pii"
	"github.com/stretchr/testify/require"
)

func TestMask(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		fakeCURP:     "GO••••••••••••••09",
		"ÑUÑEZ PEÑA": "ÑU••••••ÑA",
		"1234567":    "12•••67",
		"123456":     "•••",
		"Ñ":          "•••",
		"":           "",
	} {
		got := pii.Mask(in)
		require.Equal(t, want, got, "%q", in)
		require.True(t, utf8.ValidString(got))
		if in != "" {
			require.NotEqual(t, in, got)
		}
	}
	require.Equal(t, utf8.RuneCountInString(fakeCURP), utf8.RuneCountInString(pii.Mask(fakeCURP)))
}

type applicant struct {
	ID   int
	Name pii.Redacted
	CURP pii.Redacted `json:"curp"`
}

func TestRedactedFmt(t *testing.T) {
	t.Parallel()
	r := pii.Redacted(fakeCURP)
	require.Equal(t, fakeCURP, r.Reveal())
	a := applicant{ID: 1, Name: "Ñandú Muñoz", CURP: r}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%10s"} {
		for _, arg := range []any{r, a, &a, []pii.Redacted{r}, map[string]pii.Redacted{"k": r}} {
			out := fmt.Sprintf(verb, arg)
			require.NotContains(t, out, "GOXX", "verb %s on %T: %s", verb, arg, out)
			require.NotContains(t, out, "Muñoz", "verb %s on %T: %s", verb, arg, out)
			require.NotContains(t, out, fmt.Sprintf("%x", fakeCURP), "verb %s on %T", verb, arg)
		}
	}
	require.Equal(t, "[redacted]", fmt.Sprintf("%v", r))
	require.Equal(t, "[redacted]", fmt.Sprintf("%#v", r))
	require.Equal(t, "{ID:1 Name:[redacted] CURP:[redacted]}", fmt.Sprintf("%+v", a))
	require.Equal(t, "[redacted]", fmt.Sprint(r))
}

func TestRedactedJSON(t *testing.T) {
	t.Parallel()
	a := applicant{ID: 1, Name: "Ñandú Muñoz", CURP: fakeCURP}
	out, err := json.Marshal([]any{a, &a, pii.Redacted(fakeCURP)})
	require.NoError(t, err)
	require.JSONEq(t, `[{"ID":1,"Name":"[redacted]","curp":"[redacted]"},
		{"ID":1,"Name":"[redacted]","curp":"[redacted]"}, "[redacted]"]`, string(out))
}

func TestRedactedSlog(t *testing.T) {
	t.Parallel()
	r := pii.Redacted(fakeCURP)
	a := applicant{ID: 1, Name: "Ñandú Muñoz", CURP: r}

	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("registered", "curp", r, slog.Any("applicant", a), slog.Group("g", "name", a.Name))
	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
	require.Equal(t, "[redacted]", rec["curp"])
	require.Equal(t, map[string]any{"ID": float64(1), "Name": "[redacted]", "curp": "[redacted]"}, rec["applicant"])
	require.Equal(t, map[string]any{"name": "[redacted]"}, rec["g"])
	require.NotContains(t, buf.String(), "GOXX")
	require.NotContains(t, buf.String(), "Mu")

	buf.Reset()
	slog.New(slog.NewTextHandler(&buf, nil)).Info("registered", "curp", r, "applicant", a)
	require.Contains(t, buf.String(), "curp=[redacted]")
	require.NotContains(t, buf.String(), "GOXX")
	require.NotContains(t, buf.String(), "Mu")
}
