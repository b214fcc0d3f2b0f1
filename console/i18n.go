package console

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // Mexico City's zone, whatever the host has installed

	"github.com/shopspring/decimal"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// Lang is a language the console speaks.
type Lang string

const (
	// LangSpanish (es-MX) is the default: staff work in Spanish.
	LangSpanish Lang = "es"
	LangEnglish Lang = "en"
)

var (
	tagSpanish = language.MustParse("es-MX")
	tagEnglish = language.MustParse("en-US")
	// cityTime is the zone every date and time is shown in.
	cityTime, _ = time.LoadLocation("America/Mexico_City")
)

// theCatalog is the one message catalogue, built from messages.
var theCatalog = func() *catalog.Builder {
	b := catalog.NewBuilder(catalog.Fallback(tagSpanish))
	for _, m := range messages {
		_ = b.SetString(tagSpanish, m.key, m.es)
		_ = b.SetString(tagEnglish, m.key, m.en)
	}
	return b
}()

// Locale formats text, numbers, money and dates for one language.
// Templates call its methods: {{.L.T "queue.title"}}, {{.L.Money x}}.
type Locale struct {
	Lang    Lang
	printer *message.Printer
}

// NewLocale returns the locale of lang (Spanish for anything unknown).
func NewLocale(lang Lang) *Locale {
	tag := tagSpanish
	if lang == LangEnglish {
		tag = tagEnglish
	} else {
		lang = LangSpanish
	}
	return &Locale{Lang: lang, printer: message.NewPrinter(tag, message.Catalog(theCatalog))}
}

// T translates a message key, formatting args into it.
func (l *Locale) T(key string, args ...any) string {
	return l.printer.Sprintf(key, args...)
}

// Tk translates "prefix.value" (a step, a status, a task kind), falling
// back to the value itself for one the catalogue does not know.
func (l *Locale) Tk(prefix string, value any) string {
	v := fmt.Sprint(value)
	if v == "" {
		return ""
	}
	key := prefix + "." + v
	if _, ok := messageKeys[key]; !ok {
		return v
	}
	return l.printer.Sprintf(key)
}

// Num formats an integer with the language's digit grouping (16,800).
func (l *Locale) Num(n any) string { return l.printer.Sprintf("%d", n) }

// Money formats an amount of pesos exactly, from its decimal: "$5,600.00".
// Amounts are never turned into floats, not even to be shown.
func (l *Locale) Money(d decimal.Decimal) string {
	s := d.StringFixed(2)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := "$" + b.String() + "." + frac
	if neg {
		out = "-" + out
	}
	return out
}

// MoneyText formats an amount given as decimal text ("5600.00", as
// reconciliation findings carry it); text that is no amount shows as it is.
func (l *Locale) MoneyText(s string) string {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return s
	}
	return l.Money(d)
}

// Date formats a day: "2 dic 2026" / "Dec 2, 2026".
func (l *Locale) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(cityTime)
	if l.Lang == LangEnglish {
		return t.Format("Jan 2, 2006")
	}
	return fmt.Sprintf("%d %s %d", t.Day(), monthsES[t.Month()-1], t.Year())
}

// DateTime formats an instant in Mexico City's time: "2 dic 2026, 06:52".
func (l *Locale) DateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return l.Date(t) + ", " + t.In(cityTime).Format("15:04")
}

// Age says how long ago t was, in days, or hours under a day: "3 d",
// "5 h". The queue shows it beside the date, so the oldest work stands out.
func (l *Locale) Age(t time.Time) string {
	d := time.Since(t)
	switch {
	case d >= 48*time.Hour:
		return l.printer.Sprintf("age.days", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return l.printer.Sprintf("age.hours", int(d/time.Hour))
	}
	return l.printer.Sprintf("age.now")
}

var monthsES = [12]string{"ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"}
