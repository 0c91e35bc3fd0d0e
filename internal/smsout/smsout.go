// Package smsout sends SMS through a provider.
package smsout

import "context"

// Message is one SMS to send.
type Message struct{ To, From, Body string }

// Outcome is what a provider did with a message.
type Outcome int

// Outcomes of a send.
const (
	Sent Outcome = iota
	OptedOut
	Retry
	Failed
)

// Result is the outcome of a send, with the provider's message id and
// error code when it gave them.
type Result struct {
	Outcome    Outcome
	ProviderID string
	Code       string
	Err        error
}

// Sender sends SMS.
type Sender interface {
	Send(ctx context.Context, m Message) Result
}
