package app

import (
	"context"
	"errors"

	"go.temporal.io/api/serviceerror"

	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

// Cases kept without a workflow (see workflows.TellApproved): a case that
// screening sent straight to approval waits for its signed lists in
// PostgreSQL. The application starts it when its lists make the quorum
// (approved, in its input), and before anything else that needs its
// workflow (a per-case vote, a cancel); a read of its state answers from
// what was kept.

// keptUnstarted returns a case's kept start when its workflow has not been
// started; ok is false otherwise.
func (s *Service) keptUnstarted(ctx context.Context, caseID string) (k cases.CaseStart, in workflows.BeneficiaryInput, ok bool, err error) {
	kept, err := s.CaseStore.KeptStarts(ctx, []string{caseID})
	if err != nil {
		return k, in, false, err
	}
	k, ok = kept[caseID]
	if !ok || !k.Started.IsZero() {
		return k, in, false, nil
	}
	in, err = workflows.KeptInput(k.CaseID, k.Input)
	return k, in, err == nil, err
}

// startKept starts a kept case's workflow (not approved: it waits at
// approval as it did in PostgreSQL) when it has none; started is false
// when it was not kept, or was started already.
func (s *Service) startKept(ctx context.Context, caseID string) (started bool, err error) {
	k, in, ok, err := s.keptUnstarted(ctx, caseID)
	if err != nil || !ok {
		return false, err
	}
	if _, err := workflows.StartCase3(ctx, s.Temporal, k.TaskQueue, in); err != nil {
		return false, mapTemporal(caseID, err)
	}
	return true, s.CaseStore.MarkStarted(ctx, []string{caseID})
}

// isNotFound reports whether Temporal says the workflow is not there.
func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
