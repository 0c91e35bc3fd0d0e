package client

import (
	"context"
	"net/url"

	"github.com/consentd/consentd"
)

// ReportOptions select a report: the UTC days From..To (YYYY-MM-DD, both
// included; empty: the last 30 days), the Interval of its buckets (day,
// week or month) and what to split each bucket by (GroupBy).
type ReportOptions struct {
	From, To, Interval, GroupBy string
}

func (o ReportOptions) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"from": o.From, "to": o.To, "interval": o.Interval, "group_by": o.GroupBy} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// DecisionReport is GET /v1/reports/decisions: decisions counted per
// bucket, allowed and blocked, with the blocked ones by reason.
type DecisionReport struct {
	From     string           `json:"from"`
	To       string           `json:"to"`
	Interval string           `json:"interval"`
	GroupBy  string           `json:"group_by,omitempty"`
	Buckets  []DecisionBucket `json:"buckets"`
}

// DecisionBucket is one bucket (and group) of a DecisionReport.
type DecisionBucket struct {
	Start      string          `json:"start"`
	Group      string          `json:"group,omitempty"`
	Allowed    int64           `json:"allowed"`
	Blocked    int64           `json:"blocked"`
	BlockedPct float64         `json:"blocked_pct"`
	ByReason   []ReasonPercent `json:"blocked_by_reason"`
}

// ReasonPercent is the blocked decisions of one reason in a bucket.
type ReasonPercent struct {
	Reason  consentd.Reason `json:"reason"`
	Count   int64           `json:"count"`
	Percent float64         `json:"percent"`
}

// ConsentReport is GET /v1/reports/consents: consents counted per bucket
// of their captured_at, by status.
type ConsentReport struct {
	From     string          `json:"from"`
	To       string          `json:"to"`
	Interval string          `json:"interval"`
	GroupBy  string          `json:"group_by,omitempty"`
	Buckets  []ConsentBucket `json:"buckets"`
}

// ConsentBucket is one bucket (and group) of a ConsentReport.
type ConsentBucket struct {
	Start    string `json:"start"`
	Group    string `json:"group,omitempty"`
	OptedIn  int64  `json:"opted_in"`
	OptedOut int64  `json:"opted_out"`
	Pending  int64  `json:"pending"`
}

// DecisionReport reads the decision report (group_by purpose, channel or
// reason).
func (c *Client) DecisionReport(ctx context.Context, o ReportOptions) (*DecisionReport, error) {
	var out DecisionReport
	_, err := c.do(ctx, "GET", "/v1/reports/decisions", o.query(), nil, &out)
	return ret(&out, err)
}

// ConsentReport reads the consent report (group_by purpose, topic,
// channel, source or jurisdiction; topic groups a purpose's own consents
// under "").
func (c *Client) ConsentReport(ctx context.Context, o ReportOptions) (*ConsentReport, error) {
	var out ConsentReport
	_, err := c.do(ctx, "GET", "/v1/reports/consents", o.query(), nil, &out)
	return ret(&out, err)
}
