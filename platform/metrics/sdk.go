package metrics

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// sdkLabels are the tags of the Temporal SDK's metrics that apoyo keeps, one
// fixed set for every SDK metric (Prometheus wants one label set per name;
// a tag a metric does not carry is empty). They name queues, types and
// operations: never an id.
var sdkLabels = []string{"namespace", "task_queue", "workflow_type", "activity_type", "operation", "poller_type", "worker_type", "status_code"}

// TemporalHandler is the Temporal SDK's metrics (its workers' polls, task
// latencies, slots, request failures…) in this registry, under their own
// names (temporal_…): pass it as client.Options.MetricsHandler.
func (m *Metrics) TemporalHandler() client.MetricsHandler {
	return sdkHandler{vecs: &sdkVecs{reg: m.registry, byName: map[string]prometheus.Collector{}}, tags: map[string]string{},
		labels: labelsOf(nil)}
}

// sdkVecs holds one vector per SDK metric name, made on first use (the SDK
// asks for a metric by name at each use).
type sdkVecs struct {
	reg    *prometheus.Registry
	mu     sync.Mutex
	byName map[string]prometheus.Collector
}

// vec returns the vector of a name, made by mk the first time.
func vec[V prometheus.Collector](v *sdkVecs, name string, mk func() V) V {
	v.mu.Lock()
	defer v.mu.Unlock()
	if c, ok := v.byName[name].(V); ok {
		return c
	}
	c := register(v.reg, mk())
	v.byName[name] = c
	return c
}

// sdkHandler carries the SDK's tags and, made once, the labels they give.
type sdkHandler struct {
	vecs   *sdkVecs
	tags   map[string]string
	labels prometheus.Labels
}

func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return sdkHandler{vecs: h.vecs, tags: merged, labels: labelsOf(merged)}
}

// labelsOf keeps the tags apoyo keeps (sdkLabels), empty when absent.
func labelsOf(tags map[string]string) prometheus.Labels {
	l := make(prometheus.Labels, len(sdkLabels))
	for _, k := range sdkLabels {
		l[k] = tags[k]
	}
	return l
}

// promNames spells the SDK's names as Prometheus spells names.
var promNames = strings.NewReplacer(".", "_", "-", "_")

// register registers c, or returns the collector already registered
// under its name (two handlers, or two connections, on one registry).
func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

func (h sdkHandler) Counter(name string) client.MetricsCounter {
	c := vec(h.vecs, name, func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: promNames.Replace(name), Help: "Temporal SDK: " + name}, sdkLabels)
	}).With(h.labels)
	return counterFunc(func(d int64) { c.Add(float64(d)) })
}

func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	return gaugeFunc(vec(h.vecs, name, func() *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: promNames.Replace(name), Help: "Temporal SDK: " + name}, sdkLabels)
	}).With(h.labels).Set)
}

func (h sdkHandler) Timer(name string) client.MetricsTimer {
	o := vec(h.vecs, name, func() *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: promNames.Replace(name) + "_seconds", Help: "Temporal SDK: " + name,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, sdkLabels)
	}).With(h.labels)
	return timerFunc(func(d time.Duration) { o.Observe(d.Seconds()) })
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
