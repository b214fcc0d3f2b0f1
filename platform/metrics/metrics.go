// Package metrics is apoyo's Prometheus endpoint: the Go runtime's and the
// process's metrics, every call to the bank (count by operation, rail and
// outcome; latency), the ledger writer's batches (size, commit time,
// failures), and, read from the PostgreSQL projection when
// scraped, the cases per step and the payment orders per rail and state.
// Labels are categories only, never an id or a person's data.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/payment"
)

// Metrics holds one process's registry.
type Metrics struct {
	registry     *prometheus.Registry
	bankRequests *prometheus.CounterVec
	bankSeconds  *prometheus.HistogramVec
	ledgerSize   prometheus.Histogram
	ledgerTime   prometheus.Histogram
	ledgerErrors prometheus.Counter
}

// New registers apoyo's metrics; with a pool, the projection's counts are
// read at each scrape (two GROUP BYs, bounded by ScrapeTimeout).
func New(pool *pgxpool.Pool) *Metrics {
	m := &Metrics{registry: prometheus.NewRegistry(),
		bankRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "apoyo_bank_requests_total",
			Help: "Calls to the bank (the payment provider) by operation, rail and outcome (ok, or the error's reason)."},
			[]string{"op", "rail", "outcome"}),
		bankSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "apoyo_bank_request_seconds",
			Help: "Latency of calls to the bank.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"op"}),
	}
	m.ledgerSize = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "apoyo_ledger_batch_size",
		Help: "Transactions per database transaction of the ledger's writer.", Buckets: prometheus.ExponentialBuckets(1, 2, 10)})
	m.ledgerTime = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "apoyo_ledger_batch_seconds",
		Help: "Time to commit a ledger batch, retries included.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	m.ledgerErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "apoyo_ledger_batch_errors_total",
		Help: "Ledger batches that could not be committed."})
	m.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.bankRequests, m.bankSeconds, m.ledgerSize, m.ledgerTime, m.ledgerErrors)
	if pool != nil {
		m.registry.MustRegister(projection{pool: pool})
	}
	return m
}

// Handler serves the registry in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// LedgerBatch records one batch of the ledger's writer (a
// ledger.BatchObserver).
func (m *Metrics) LedgerBatch(size int, took time.Duration, err error) {
	m.ledgerSize.Observe(float64(size))
	m.ledgerTime.Observe(took.Seconds())
	if err != nil {
		m.ledgerErrors.Inc()
	}
}

// Bank wraps a payment provider so that every call is counted and timed.
func (m *Metrics) Bank(p payment.Provider) payment.Provider { return bank{next: p, m: m} }

type bank struct {
	next payment.Provider
	m    *Metrics
}

func (b bank) observe(op string, rail apoyo.Rail, start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		if outcome = apoyo.ErrorReasonOf(err); outcome == "" {
			outcome = "error"
		}
	}
	b.m.bankRequests.WithLabelValues(op, string(rail), outcome).Inc()
	b.m.bankSeconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (b bank) Submit(ctx context.Context, o payment.Order) (payment.Status, error) {
	start := time.Now()
	st, err := b.next.Submit(ctx, o)
	b.observe("submit", o.Rail, start, err)
	return st, err
}

func (b bank) Status(ctx context.Context, orderID string) (payment.Status, error) {
	start := time.Now()
	st, err := b.next.Status(ctx, orderID)
	b.observe("status", st.Rail, start, err)
	return st, err
}

// ScrapeTimeout bounds the projection's queries at each scrape.
const ScrapeTimeout = 5 * time.Second

var (
	casesDesc = prometheus.NewDesc("apoyo_cases", "Cases per step and status, from the PostgreSQL projection.",
		[]string{"step", "status"}, nil)
	paymentsDesc = prometheus.NewDesc("apoyo_payments", "Payment orders per rail and state, from apoyo's records.",
		[]string{"rail", "state"}, nil)
	scrapeErrorDesc = prometheus.NewDesc("apoyo_projection_scrape_error", "1 when the projection could not be read at this scrape.", nil, nil)
)

// projection reads the counts when scraped: a gauge kept in memory would
// be one process's view, and a worker restarts.
type projection struct{ pool *pgxpool.Pool }

func (p projection) Describe(ch chan<- *prometheus.Desc) {
	ch <- casesDesc
	ch <- paymentsDesc
	ch <- scrapeErrorDesc
}

func (p projection) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), ScrapeTimeout)
	defer cancel()
	err := errors.Join(
		p.counts(ctx, ch, casesDesc, "SELECT step, status, count(*) FROM cases GROUP BY step, status"),
		p.counts(ctx, ch, paymentsDesc, "SELECT rail, state, count(*) FROM payments GROUP BY rail, state"))
	failed := 0.0
	if err != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, failed)
}

func (p projection) counts(ctx context.Context, ch chan<- prometheus.Metric, d *prometheus.Desc, sql string) error {
	rows, err := p.pool.Query(ctx, sql)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a, b string
		var n int64
		if err := rows.Scan(&a, &b, &n); err != nil {
			return err
		}
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(n), a, b)
	}
	return rows.Err()
}
