package natspub

import "github.com/prometheus/client_golang/prometheus"

// publishedTotal counts events JetStream acknowledged.
var publishedTotal = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "consentd_nats_published_total",
	Help: "Events published to NATS JetStream and acknowledged.",
})

// Collectors are the publisher's metrics, for the server's registry.
func Collectors() []prometheus.Collector { return []prometheus.Collector{publishedTotal} }
