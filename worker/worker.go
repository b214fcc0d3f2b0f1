// Package worker connects to Temporal with apoyo's encrypting data
// converter and runs the worker that executes apoyo's workflows and
// activities. Every client apoyo makes goes through Dial, so no payload
// ever leaves the process unencrypted.
package worker

import (
	"log/slog"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/apoyo-cdmx/apoyo/activities"
	"github.com/apoyo-cdmx/apoyo/pii"
	"github.com/apoyo-cdmx/apoyo/platform/temporalcodec"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

// Dial connects a Temporal client whose payloads and failure messages are
// encrypted with the keyring's active key (and decrypted with any of its
// keys).
func Dial(address, namespace string, kr *pii.Keyring, logger *slog.Logger) (client.Client, error) {
	dc := temporalcodec.NewDataConverter(kr)
	opts := client.Options{
		HostPort:         address,
		Namespace:        namespace,
		DataConverter:    dc,
		FailureConverter: temporalcodec.NewFailureConverter(dc),
	}
	if logger != nil {
		opts.Logger = log.NewStructuredLogger(logger)
	}
	return client.Dial(opts)
}

// Options shape the worker.
type Options struct {
	// TaskQueue to poll.
	TaskQueue string
	// MaxConcurrentActivities bounds activities in flight (0 = SDK default).
	MaxConcurrentActivities int
}

// New returns a worker with every apoyo workflow and activity registered,
// not yet started.
func New(c client.Client, acts *activities.Activities, o Options) worker.Worker {
	w := worker.New(c, o.TaskQueue, worker.Options{MaxConcurrentActivityExecutionSize: o.MaxConcurrentActivities})
	Register(w, acts)
	return w
}

// Register adds apoyo's workflows and activities to a registry (a worker,
// or a test environment).
func Register(r worker.Registry, acts *activities.Activities) {
	r.RegisterWorkflowWithOptions(workflows.BeneficiaryCase, workflow.RegisterOptions{Name: workflows.BeneficiaryWorkflowName})
	r.RegisterActivityWithOptions(acts.Screen, activity.RegisterOptions{Name: workflows.ActivityScreen})
	r.RegisterActivityWithOptions(acts.Disburse, activity.RegisterOptions{Name: workflows.ActivityDisburse})
	r.RegisterActivityWithOptions(acts.Record, activity.RegisterOptions{Name: workflows.ActivityRecord})
	r.RegisterActivityWithOptions(acts.Release, activity.RegisterOptions{Name: workflows.ActivityRelease})
	r.RegisterWorkflowWithOptions(workflows.PaymentCycle, workflow.RegisterOptions{Name: workflows.CycleWorkflowName})
	r.RegisterActivityWithOptions(acts.RosterPage, activity.RegisterOptions{Name: workflows.ActivityRosterPage})
	r.RegisterActivityWithOptions(acts.CancelCases, activity.RegisterOptions{Name: workflows.ActivityCancelCases})
	r.RegisterActivityWithOptions(acts.CloseCycle, activity.RegisterOptions{Name: workflows.ActivityCloseCycle})
}
