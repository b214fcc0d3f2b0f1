package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHealthcheck: 0 for a 200, non-zero for anything else or no answer.
func TestHealthcheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer sick.Close()
	code, out, _ := run(context.Background(), t, "healthcheck", ok.URL)
	require.Equal(t, 0, code, out)
	code, _, errOut := run(context.Background(), t, "healthcheck", sick.URL)
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "503")
	sick.Close()
	code, _, _ = run(context.Background(), t, "healthcheck", sick.URL)
	require.NotEqual(t, 0, code)
}
