package automation

import "github.com/prometheus/client_golang/prometheus"

// jobsTotal counts job runs by outcome: succeeded, retry (failed, to be
// run again) and failed (out of attempts, or unrunnable). A rising
// failed count is what an operator alerts on.
var jobsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "consentd_jobs_total",
	Help: "Automation job runs by outcome: succeeded, retry, failed.",
}, []string{"outcome"})

// Collectors are the runner's metrics, for the server's registry.
func Collectors() []prometheus.Collector { return []prometheus.Collector{jobsTotal} }
