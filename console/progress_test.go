package console

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
)

// The progress says when its figures were read, in the city's time, not
// when the page was drawn: a large cycle's status is kept for a while.
func TestProgressSaysWhenItsFiguresWereRead(t *testing.T) {
	t.Parallel()
	read := time.Date(2026, 12, 8, 18, 0, 5, 0, time.UTC)
	p := progressOf(NewLocale(LangSpanish), apoyo.CycleStatusView{AsOf: read})
	require.Equal(t, "12:00:05", p.At, "18:00:05 UTC is noon in Mexico City")
}
