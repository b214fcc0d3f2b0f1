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
	return sdkHandler{vecs: &sdkVecs{reg: m.registry, counters: map[string]*prometheus.CounterVec{},
		gauges: map[string]*prometheus.GaugeVec{}, timers: map[string]*prometheus.HistogramVec{}}, tags: map[string]string{}}
}

// sdkVecs holds one vector per SDK metric name, made on first use.
type sdkVecs struct {
	reg      *prometheus.Registry
	mu       sync.Mutex
	counters map[string]*prometheus.CounterVec
	gauges   map[string]*prometheus.GaugeVec
	timers   map[string]*prometheus.HistogramVec
}

type sdkHandler struct {
	vecs *sdkVecs
	tags map[string]string
}

func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return sdkHandler{vecs: h.vecs, tags: merged}
}

func (h sdkHandler) labels() prometheus.Labels {
	l := make(prometheus.Labels, len(sdkLabels))
	for _, k := range sdkLabels {
		l[k] = h.tags[k]
	}
	return l
}

// promName is the SDK's name as Prometheus spells names.
func promName(name string) string { return strings.NewReplacer(".", "_", "-", "_").Replace(name) }

// register registers c, or returns the collector already registered
// under its name.
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
	v := h.vecs
	v.mu.Lock()
	c, ok := v.counters[name]
	if !ok {
		c = register(v.reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: promName(name), Help: "Temporal SDK: " + name}, sdkLabels))
		v.counters[name] = c
	}
	v.mu.Unlock()
	counter := c.With(h.labels())
	return counterFunc(func(d int64) { counter.Add(float64(d)) })
}

func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	v := h.vecs
	v.mu.Lock()
	g, ok := v.gauges[name]
	if !ok {
		g = register(v.reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: promName(name), Help: "Temporal SDK: " + name}, sdkLabels))
		v.gauges[name] = g
	}
	v.mu.Unlock()
	gauge := g.With(h.labels())
	return gaugeFunc(gauge.Set)
}

func (h sdkHandler) Timer(name string) client.MetricsTimer {
	v := h.vecs
	v.mu.Lock()
	t, ok := v.timers[name]
	if !ok {
		t = register(v.reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: promName(name) + "_seconds", Help: "Temporal SDK: " + name,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, sdkLabels))
		v.timers[name] = t
	}
	v.mu.Unlock()
	obs := t.With(h.labels())
	return timerFunc(func(d time.Duration) { obs.Observe(d.Seconds()) })
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
