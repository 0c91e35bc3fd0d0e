package webhook

import "github.com/prometheus/client_golang/prometheus"

// attemptsTotal counts delivery attempts by result: delivered (2xx) or
// failed (anything else, including no answer).
var attemptsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "consentd_webhook_attempts_total",
	Help: "Webhook delivery attempts by result: delivered (2xx) or failed.",
}, []string{"result"})

// Collectors are the deliverer's metrics, for the server's registry.
func Collectors() []prometheus.Collector { return []prometheus.Collector{attemptsTotal} }
