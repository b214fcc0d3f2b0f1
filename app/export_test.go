package app

import (
	"context"

	"github.com/apoyo-cdmx/apoyo"
)

// CompleteApprovals is completeApprovals, for tests.
func (s *Service) CompleteApprovals(ctx context.Context, cycleID string, ids []string, voted map[string][]apoyo.Secretariat) (told, handed int, failed []string, err error) {
	return s.completeApprovals(ctx, cycleID, ids, voted)
}
