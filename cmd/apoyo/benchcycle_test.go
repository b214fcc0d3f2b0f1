package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// --cpu-profile writes one profile per phase and size, and stopping twice
// (at the cycle's close, then after the run) is safe; no prefix writes
// nothing.
func TestStartCPUProfile(t *testing.T) {
	t.Parallel()
	stop, err := startCPUProfile("", "bare", 10)
	require.NoError(t, err)
	stop()

	prefix := filepath.Join(t.TempDir(), "run")
	stop, err = startCPUProfile(prefix, "cycle", 10)
	require.NoError(t, err)
	for i := 0; i < 1_000_000; i++ { // something to sample
		_ = filepath.Base(prefix)
	}
	stop()
	stop()
	fi, err := os.Stat(prefix + "-cycle-10.pprof")
	require.NoError(t, err)
	require.Positive(t, fi.Size())
	files, err := filepath.Glob(prefix + "*")
	require.NoError(t, err)
	require.Len(t, files, 1)
}
