package bench

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// BareWorkflowName is the baseline: a workflow with as many activities as
// a case's happy path runs (screen, disburse), each doing nothing.
const BareWorkflowName = "BenchBareCase"

// BaselineTaskQueue keeps the baseline apart from apoyo's own work.
const BaselineTaskQueue = "apoyo-bench-baseline"

// BareActivities is how many activities the baseline runs.
const BareActivities = 2

// BareCase runs BareActivities no-op activities in sequence.
func BareCase(ctx workflow.Context, id string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	for i := 0; i < BareActivities; i++ {
		if err := workflow.ExecuteActivity(ctx, "BenchNoop", id).Get(ctx, nil); err != nil {
			return "", err
		}
	}
	return id, nil
}

// Noop is the baseline's activity.
func Noop(context.Context, string) error { return nil }

// RegisterBaseline adds the baseline workflow and activity to a worker.
func RegisterBaseline(r worker.Registry) {
	r.RegisterWorkflowWithOptions(BareCase, workflow.RegisterOptions{Name: BareWorkflowName})
	r.RegisterActivityWithOptions(Noop, activity.RegisterOptions{Name: "BenchNoop"})
}
