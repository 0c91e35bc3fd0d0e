package index

import "github.com/prometheus/client_golang/prometheus"

// mappedBytesGauge reads MappedBytes when /metrics is scraped: the
// memory the process's decision indexes hold outside the Go heap, which
// the go_memstats series do not count.
var mappedBytesGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
	Name: "consentd_index_mapped_bytes",
	Help: "Bytes of the decision index's consent tables mapped outside the Go heap (the go_memstats series do not count them).",
}, func() float64 { return float64(MappedBytes()) })

// Collectors returns the index's metrics, for /metrics.
func Collectors() []prometheus.Collector { return []prometheus.Collector{mappedBytesGauge} }
