package enrolment_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/stretchr/testify/require"
)

// BenchmarkImport measures the import alone (the CSV is generated once,
// before the clock starts) into a fresh programme per iteration:
//
//	go test ./enrolment/ -run '^$' -bench Import -benchmem
func BenchmarkImport(b *testing.B) {
	const rows = 5000
	src, counts := generated(rows, 42)
	data, err := io.ReadAll(src)
	require.NoError(b, err)
	valid, _, _ := counts()
	e := setup(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		prog := e.newProgram(b, fmt.Sprintf("bench %d", i))
		b.StartTimer()
		start := time.Now()
		rep, err := e.store.Import(ctx, prog, bytes.NewReader(data), apoyo.ImportOptions{Now: clock})
		elapsed += time.Since(start)
		require.NoError(b, err)
		require.Equal(b, valid, rep.Accepted)
	}
	b.ReportMetric(float64(rows*b.N)/elapsed.Seconds(), "rows/s")
}
