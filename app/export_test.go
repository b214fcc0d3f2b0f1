package app

import (
	"context"
	"testing"

	"github.com/apoyo-cdmx/apoyo"
)

// CompleteApprovals is completeApprovals, for tests.
func (s *Service) CompleteApprovals(ctx context.Context, cycleID string, ids []string, voted map[string][]apoyo.Secretariat) (int, []string, error) {
	return s.completeApprovals(ctx, cycleID, ids, voted)
}

// SetTellChunk sets tellChunk until the test ends; the test must not be
// parallel.
func SetTellChunk(t *testing.T, n int) {
	old := tellChunk
	tellChunk = n
	t.Cleanup(func() { tellChunk = old })
}
