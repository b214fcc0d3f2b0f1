// Package worker connects to Temporal with apoyo's encrypting data
// converter and runs the worker that executes apoyo's workflows and
// activities. Every client apoyo makes goes through Dial, so no payload
// ever leaves the process unencrypted.
package worker

import (
	"crypto/tls"
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
// keys), over plain gRPC (the embedded server, a local cluster).
func Dial(address, namespace string, kr *pii.Keyring, logger *slog.Logger) (client.Client, error) {
	return DialWith(Connection{Address: address, Namespace: namespace}, kr, logger)
}

// Connection says where a Temporal cluster or a Temporal Cloud namespace
// is and how to prove who is calling.
type Connection struct {
	// Address is the frontend's host:port (Temporal Cloud:
	// <namespace>.<account>.tmprl.cloud:7233).
	Address   string
	Namespace string
	// TLS, when set, is the connection's TLS: the roots to trust, and for
	// mTLS the client certificate.
	TLS *tls.Config
	// APIKey authenticates with a Temporal Cloud API key; it needs TLS
	// (the system's roots when TLS is nil).
	APIKey string
	// Metrics, when set, receives the SDK's own metrics (worker polls,
	// task latencies, slots, failed requests).
	Metrics client.MetricsHandler
}

// DialWith connects like Dial to the cluster or Cloud namespace c names.
func DialWith(c Connection, kr *pii.Keyring, logger *slog.Logger) (client.Client, error) {
	return client.Dial(ClientOptions(c, kr, logger))
}

// ClientOptions are the options of a client of c: apoyo's encrypting
// converters, TLS and credentials.
func ClientOptions(c Connection, kr *pii.Keyring, logger *slog.Logger) client.Options {
	dc := temporalcodec.NewDataConverter(kr)
	opts := client.Options{
		HostPort:         c.Address,
		Namespace:        c.Namespace,
		DataConverter:    dc,
		FailureConverter: temporalcodec.NewFailureConverter(dc),
		MetricsHandler:   c.Metrics,
	}
	if c.TLS != nil {
		opts.ConnectionOptions.TLS = c.TLS
	}
	if c.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(c.APIKey)
		if opts.ConnectionOptions.TLS == nil {
			opts.ConnectionOptions.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	if logger != nil {
		opts.Logger = log.NewStructuredLogger(logger)
	}
	return opts
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

// NewPayments returns a worker of one rail's payment queue: SendPayment
// only, at most rate activities a second on the whole queue (the server
// enforces it across workers; 0 = no limit), so that one provider's limits
// and slowness stay on its own queue.
func NewPayments(c client.Client, acts *activities.Activities, queue string, rate float64, maxConcurrent int) worker.Worker {
	w := worker.New(c, queue, worker.Options{TaskQueueActivitiesPerSecond: rate, MaxConcurrentActivityExecutionSize: maxConcurrent,
		DisableWorkflowWorker: true})
	w.RegisterActivityWithOptions(acts.SendPayment, activity.RegisterOptions{Name: workflows.ActivitySendPayment})
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
	// The third shape: cases started a page at a time, waiting by signal.
	r.RegisterWorkflowWithOptions(workflows.BeneficiaryCase3, workflow.RegisterOptions{Name: workflows.Case3WorkflowName})
	r.RegisterWorkflowWithOptions(workflows.PaymentCycle3, workflow.RegisterOptions{Name: workflows.Cycle3WorkflowName})
	r.RegisterActivityWithOptions(acts.SendPayment, activity.RegisterOptions{Name: workflows.ActivitySendPayment})
	r.RegisterActivityWithOptions(acts.StartCasePage, activity.RegisterOptions{Name: workflows.ActivityStartCasePage})
	r.RegisterActivityWithOptions(acts.SweepCycle, activity.RegisterOptions{Name: workflows.ActivitySweepCycle})
	r.RegisterWorkflowWithOptions(workflows.CycleSweeper, workflow.RegisterOptions{Name: workflows.CycleSweeperWorkflowName})
}
