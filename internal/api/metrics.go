package api

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/consentd/consentd"

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

// served are the collectors registered in metricsRegistry, kept so that
// Describe can list every metric /metrics may serve; state is the one
// SetStateCollector registered last.
var served = struct {
	sync.Mutex
	cs    []prometheus.Collector
	state prometheus.Collector
}{cs: []prometheus.Collector{decisionSeconds, requestSeconds, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}}

var metricsRegistry = func() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(served.cs...)
	return r
}()

// RegisterCollectors adds other packages' metrics (jobs, webhooks, NATS)
// to /metrics; one already registered is kept.
func RegisterCollectors(cs ...prometheus.Collector) {
	served.Lock()
	defer served.Unlock()
	for _, c := range cs {
		if err := metricsRegistry.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				panic(err) // a metric definition error: a bug
			}
			continue
		}
		served.cs = append(served.cs, c)
	}
}

// Describe sends the descriptor of every metric /metrics serves, those
// with no series yet (a vector before its first observation) included:
// what a dashboard or an alert may name.
func Describe(ch chan<- *prometheus.Desc) {
	served.Lock()
	cs := slices.Clone(served.cs)
	if served.state != nil {
		cs = append(cs, served.state)
	}
	served.Unlock()
	for _, c := range cs {
		c.Describe(ch)
	}
}

// SetStateCollector registers c, the gauges of one store's state
// (internal/statemetrics), in place of the one registered before: the
// registry is the process's, and a process that opens a store again (or a
// test that starts servers one after another) must not keep reading the
// store it closed.
func SetStateCollector(c prometheus.Collector) {
	served.Lock()
	defer served.Unlock()
	if served.state != nil {
		metricsRegistry.Unregister(served.state)
	}
	served.state = nil
	if c != nil {
		if err := metricsRegistry.Register(c); err != nil {
			panic(err) // a metric definition error, or a name taken twice: a bug
		}
		served.state = c
	}
}

// serveMetrics serves the registry. With s.MetricsToken set, it answers
// 401 to a request without Authorization: Bearer <that token>, compared in
// constant time; the token is read per request, so it may be set after
// New.
func (s *Server) serveMetrics() http.Handler {
	h := promhttp.HandlerFor(metricsRegistry, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if want := s.MetricsToken; want != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
				s.writeError(w, r, consentd.Errorf(consentd.EUNAUTHORIZED, "/metrics needs Authorization: Bearer <the metrics token>"))
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// observeDecision records one in-process decision's latency.
func observeDecision(start time.Time, allowed bool) {
	decisionObservers[b2i(allowed)].Observe(time.Since(start).Seconds())
}

// decisionObservers are decisionSeconds' two series (allowed "false",
// "true"), looked up once rather than by label on every decision.
var decisionObservers = [2]prometheus.Observer{
	decisionSeconds.WithLabelValues(strconv.FormatBool(false)),
	decisionSeconds.WithLabelValues(strconv.FormatBool(true)),
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
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
		requestObserver(route, sw.status).Observe(time.Since(start).Seconds())
	})
}

// requestObservers caches requestSeconds' observer per route and status
// (routeStatus -> prometheus.Observer): a lookup here is cheaper than the
// vector's hashing of the label values on every request. Both keys come
// from bounded sets: the route table's patterns and the statuses answered.
var requestObservers sync.Map

type routeStatus struct {
	route  string
	status int
}

func requestObserver(route string, status int) prometheus.Observer {
	k := routeStatus{route, status}
	if o, ok := requestObservers.Load(k); ok {
		return o.(prometheus.Observer)
	}
	o := requestSeconds.WithLabelValues(route, strconv.Itoa(status))
	requestObservers.Store(k, o)
	return o
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
