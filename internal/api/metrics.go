package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the only package-level state (STYLE.md). Labels never carry
// personal data: routes are patterns, not paths.
var (
	decisionSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "consentd_decision_duration_seconds",
		Help:    "Time to answer one decision in process (normalize, hash, look up, rules), by outcome.",
		Buckets: []float64{250e-9, 500e-9, 1e-6, 2e-6, 5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 1e-3, 5e-3},
	}, []string{"allowed"})
	requestSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "consentd_http_request_duration_seconds",
		Help:    "HTTP request latency by route pattern and status.",
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
	}, []string{"route", "status"})
)

var metricsRegistry = func() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(decisionSeconds, requestSeconds, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}()

// RegisterCollectors adds other packages' metrics (jobs, webhooks, NATS)
// to /metrics; one already registered is kept.
func RegisterCollectors(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := metricsRegistry.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				panic(err) // a metric definition error: a bug
			}
		}
	}
}

func serveMetrics() http.Handler {
	return promhttp.HandlerFor(metricsRegistry, promhttp.HandlerOpts{})
}

// observeDecision records one in-process decision's latency.
func observeDecision(start time.Time, allowed bool) {
	decisionSeconds.WithLabelValues(strconv.FormatBool(allowed)).Observe(time.Since(start).Seconds())
}

// Instrument wraps h to record request latency by route pattern and status.
func Instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusRecorder{ResponseWriter: w, status: 200}
		h.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		requestSeconds.WithLabelValues(route, strconv.Itoa(sw.status)).Observe(time.Since(start).Seconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
