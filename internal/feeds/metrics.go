package feeds

import "github.com/prometheus/client_golang/prometheus"

var (
	// outcomes counts provider events by what became of them: applied
	// (stored and acted on), duplicate (seen before) or ignored (a kind
	// or an event that changes nothing).
	outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "consentd_feed_events_total",
		Help: "Provider feed events by provider and outcome: applied, duplicate or ignored.",
	}, []string{"provider", "outcome"})
	// refused counts requests not processed, by reason.
	refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "consentd_feed_requests_refused_total",
		Help: "Provider feed requests refused, by provider and reason (unauthenticated, stale, replay, malformed, unknown_feed, too_large, store...).",
	}, []string{"provider", "reason"})
	// unmatched counts events whose message reference or address could
	// not be used: they act without the reference, or not at all.
	unmatched = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "consentd_feed_events_unmatched_total",
		Help: "Provider feed events whose reference, address or SMS message was not usable, by provider and reason (address_mismatch, bad_reference, unsubscribe_without_reference, no_recipient, bad_address, bad_message...).",
	}, []string{"provider", "reason"})
)

// Collectors are the feeds' metrics, for the server's registry.
func Collectors() []prometheus.Collector { return []prometheus.Collector{outcomes, refused, unmatched} }
