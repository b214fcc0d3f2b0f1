package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/pgtest"
	"github.com/apoyo-cdmx/apoyo/internal/testfactory"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/platform/metrics"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// flakyBank submits, then is unavailable.
type flakyBank struct{}

func (flakyBank) Submit(_ context.Context, o payment.Order) (payment.Status, error) {
	return payment.Status{OrderID: o.ID, Rail: o.Rail, State: apoyo.PaymentPending}, nil
}

func (flakyBank) Status(context.Context, string) (payment.Status, error) {
	return payment.Status{}, payment.ErrUnavailable
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	b, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(b)
}

// TestMetrics: every bank call is counted by operation, rail and outcome
// and timed; the projection's cases per step and status and payment
// orders per rail and state are read at the scrape, from PostgreSQL.
func TestMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := testfactory.New(t, pgtest.New(t))
	prog := w.Program(t, nil)
	ben := w.Beneficiary(t, prog.ID, nil)
	cyc := w.Cycle(t, prog.ID, nil)
	require.NoError(t, w.Cases.Save(ctx, apoyo.Case{ProgramID: prog.ID, CycleID: cyc.ID, BeneficiaryID: ben, Step: apoyo.StepPayment,
		Status: apoyo.CaseRunning, Version: 1}))
	require.NoError(t, w.Cases.RecordPayment(ctx, apoyo.Payment{OrderID: "pay_1", CaseID: apoyo.CaseID(cyc.ID, ben), ProgramID: prog.ID,
		CycleID: cyc.ID, BeneficiaryID: ben, Attempt: 1, Rail: apoyo.RailSPEI, Amount: decimal.RequireFromString("5600"), Fund: "city",
		TrackingKey: "APOYO1", State: apoyo.PaymentPending}))

	m := metrics.New(w.Pool)
	bank := m.Bank(flakyBank{})
	_, err := bank.Submit(ctx, payment.Order{ID: "pay_1", Rail: apoyo.RailSPEI})
	require.NoError(t, err)
	_, err = bank.Status(ctx, "pay_1")
	require.ErrorIs(t, err, payment.ErrUnavailable)

	w.Ledger.Observe(m.LedgerBatch)
	_ = w.Program(t, nil) // opening a programme's accounts posts its budget through the writer

	out := scrape(t, m)
	require.Contains(t, out, `apoyo_bank_requests_total{op="submit",outcome="ok",rail="spei"} 1`)
	require.Contains(t, out, `apoyo_bank_requests_total{op="status",outcome="payment.provider_unavailable",rail=""} 1`)
	require.Contains(t, out, `apoyo_bank_request_seconds_count{op="submit"} 1`)
	require.Contains(t, out, `apoyo_cases{status="running",step="payment"} 1`)
	require.Contains(t, out, `apoyo_payments{rail="spei",state="pending"} 1`)
	require.Contains(t, out, "apoyo_projection_scrape_error 0")
	require.Regexp(t, `apoyo_ledger_batch_size_count [1-9]`, out)
	require.Contains(t, out, "apoyo_ledger_batch_errors_total 0")
	require.Contains(t, out, "go_goroutines")
	require.NotContains(t, out, ben, "no ids in the metrics")
}

// The Temporal SDK's metrics land in the same registry under their own
// names, with the tags apoyo keeps as labels (others dropped), and a
// metric asked for twice (two handlers, or two connections) is one series.
func TestTemporalSDKMetrics(t *testing.T) {
	t.Parallel()
	m := metrics.New(nil)
	h := m.TemporalHandler().WithTags(map[string]string{"namespace": "apoyo", "task_queue": "apoyo"})
	h.WithTags(map[string]string{"workflow_type": "BeneficiaryCase3", "run_id": "dropped"}).Counter("temporal_workflow_completed").Inc(2)
	m.TemporalHandler().WithTags(map[string]string{"namespace": "apoyo", "task_queue": "apoyo", "workflow_type": "BeneficiaryCase3"}).
		Counter("temporal_workflow_completed").Inc(1)
	h.Gauge("temporal_worker_task_slots_available").Update(7)
	h.Timer("temporal_activity_execution_latency").Record(1500 * time.Millisecond)
	out := scrape(t, m)
	require.Contains(t, out, `temporal_workflow_completed{activity_type="",namespace="apoyo",operation="",poller_type="",status_code="",task_queue="apoyo",worker_type="",workflow_type="BeneficiaryCase3"} 3`)
	require.Contains(t, out, `temporal_worker_task_slots_available{activity_type="",namespace="apoyo"`)
	require.Contains(t, out, `temporal_activity_execution_latency_seconds_count{`)
	require.NotContains(t, out, "dropped", "a tag outside the kept set (an id) never becomes a label")
}
