// Package smsout sends texts through an SMS provider: a built-in Twilio
// Messages adapter and a generic HTTP sender configured by a file. A Send
// never returns a Go error alone: it answers what the provider's answer
// means (Outcome), so that the caller knows whether to record an opt-out,
// try again later or give up.
package smsout

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Message is one text to send.
type Message struct {
	To   string // E.164
	From string // sender id or number; empty: the sender's default
	Body string
}

// Outcome is what a provider's answer means.
type Outcome int

const (
	Sent     Outcome = iota // accepted by the provider
	OptedOut                // the provider refuses: the number opted out (Twilio 21610): record sms_stop
	Retry                   // try again later (network error, 429, 5xx, codes configured as retryable)
	Failed                  // permanent failure (bad number, bad credentials): do not retry
)

// String names the outcome: sent, opted_out, retry or failed.
func (o Outcome) String() string {
	switch o {
	case Sent:
		return "sent"
	case OptedOut:
		return "opted_out"
	case Retry:
		return "retry"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Result is the answer to one Send.
type Result struct {
	Outcome    Outcome
	ProviderID string // the provider's message id, when sent
	Code       string // the provider's error code, if any
	Err        error  // what went wrong, for Retry and Failed
}

// Sender sends texts.
type Sender interface {
	Send(ctx context.Context, m Message) Result
}

// DefaultTimeout bounds one request to a provider when the sender is given
// no client of its own.
const DefaultTimeout = 30 * time.Second

// maxResponse bounds how much of a provider's answer is read: an answer to
// one message is small.
const maxResponse = 64 << 10

func defaultClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: DefaultTimeout}
}

// retryStatus reports whether an HTTP status means "try again later": too
// many requests, or a server error.
func retryStatus(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// failure is a Result for an outcome other than Sent.
func failure(o Outcome, code string, format string, args ...any) Result {
	return Result{Outcome: o, Code: code, Err: fmt.Errorf(format, args...)}
}
