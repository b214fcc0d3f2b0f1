package app_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/app"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

// earlyCase stands in for Temporal where only a case's answers to votes
// matter: it refuses the first votes as early by one task (as a case does
// while its screening result is on its way), or for good, then accepts.
type earlyCase struct {
	client.Client
	mu      sync.Mutex
	refuse  int
	reason  string
	updates int
}

type doneUpdate struct {
	client.WorkflowUpdateHandle
	st apoyo.CaseState
}

func (d doneUpdate) Get(_ context.Context, v any) error {
	*(v.(*apoyo.CaseState)) = d.st
	return nil
}

func (e *earlyCase) UpdateWorkflow(_ context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.updates++
	if e.refuse > 0 {
		e.refuse--
		return nil, temporal.NewNonRetryableApplicationError("case is at step identity, not yet awaiting approval", e.reason, nil, string(apoyo.ECONFLICT))
	}
	return doneUpdate{st: apoyo.CaseState{CaseID: o.WorkflowID, Step: apoyo.StepApproval, Status: apoyo.CaseWaiting}}, nil
}

// DescribeWorkflowExecution: the cycle has no workflow here (the earlier
// shape's votes, one update each).
func (e *earlyCase) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	return nil, serviceerror.NewNotFound("no cycle workflow")
}

// A vote refused by a case catching up with its projection is sent again
// a moment later and lands; a vote refused for good is refused at once,
// naming why. (Every update goes through the same path.)
func TestVoteEarlyByOneTaskIsSentAgain(t *testing.T) {
	t.Parallel()
	core, _, cyc := newControlService(t)
	tc := &earlyCase{refuse: 2, reason: workflows.ReasonCatchingUp}
	core.Temporal = tc
	who := apoyo.Identity{UserID: "usr_s", Name: "s", Role: apoyo.RoleApprover, Secretariat: apoyo.SIBISO, Via: "token"}
	caseID := apoyo.CaseID(cyc.ID, "ben_aaaaaaaaaaaaaaaa")
	st, err := core.Vote(context.Background(), who, caseID, apoyo.VoteRequest{Approve: true})
	require.NoError(t, err)
	require.Equal(t, apoyo.StepApproval, st.Step)
	require.Equal(t, 3, tc.updates)

	final := &earlyCase{refuse: 1, reason: "case.not_awaiting_approval"}
	core.Temporal = final
	_, err = core.Vote(context.Background(), who, caseID, apoyo.VoteRequest{Approve: true})
	require.ErrorIs(t, err, app.ErrUpdateRejected)
	require.ErrorIs(t, err, &apoyo.Error{Reason: "case.not_awaiting_approval"}, "the case's own reason is kept")
	require.Equal(t, 1, final.updates, "a final refusal is not sent again")
}
