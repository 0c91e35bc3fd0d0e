package smsout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// TwilioBaseURL is Twilio's API.
const TwilioBaseURL = "https://api.twilio.com"

// Twilio error codes with a meaning of their own.
const (
	TwilioOptedOut      = "21610" // the recipient replied STOP to this sender
	TwilioInvalidNumber = "21211" // the To number is not a valid phone number
	TwilioTooManyReqs   = "20429" // too many requests
)

// Twilio sends texts through Twilio's Messages API.
type Twilio struct {
	AccountSID string
	AuthToken  string // secret: never put in an error or a log
	// BaseURL is Twilio's API, without a trailing slash; empty means
	// TwilioBaseURL. Tests point it at a server on 127.0.0.1.
	BaseURL string
	// From is the default sender: a phone number, an alphanumeric sender
	// id, or a Messaging Service SID (MG…), which is sent as
	// MessagingServiceSid.
	From string
	// RetryCodes are Twilio error codes to try again later, on top of
	// HTTP 429 and 5xx; nil means 20429.
	RetryCodes []string
	// Client makes the requests; nil means a client with DefaultTimeout.
	Client *http.Client
}

// twilioAnswer is what Twilio answers: a message resource, or an error.
type twilioAnswer struct {
	SID  string      `json:"sid"`
	Code json.Number `json:"code"`
}

// Send posts m to {BaseURL}/2010-04-01/Accounts/{AccountSID}/Messages.json
// with Basic auth. Twilio's error 21610 is OptedOut; HTTP 429, 5xx, a
// network error and RetryCodes are Retry; anything else that is not a 2xx
// (21211 invalid number, 20003 bad credentials) is Failed. The errors name
// the HTTP status and Twilio's code, never the token, the number or the
// text (Twilio's error messages may quote the number).
func (t *Twilio) Send(ctx context.Context, m Message) Result {
	from := orDefault(m.From, t.From)
	form := url.Values{"To": {m.To}, "Body": {m.Body}}
	switch {
	case from == "":
		return failure(Failed, "", "twilio: no sender: set a From number or a Messaging Service SID")
	case strings.HasPrefix(from, "MG") && len(from) == 34:
		form.Set("MessagingServiceSid", from)
	default:
		form.Set("From", from)
	}
	base := strings.TrimRight(orDefault(t.BaseURL, TwilioBaseURL), "/")
	u := base + "/2010-04-01/Accounts/" + url.PathEscape(t.AccountSID) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return failure(Failed, "", "twilio: bad base URL: %v", redact(err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(t.AccountSID, t.AuthToken)
	resp, err := defaultClient(t.Client).Do(req)
	if err != nil {
		return failure(Retry, "", "twilio: %v", redact(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return failure(Retry, "", "twilio: reading the answer (HTTP %d): %v", resp.StatusCode, err)
	}
	var a twilioAnswer
	_ = json.Unmarshal(body, &a) // an answer that is not JSON has no code: the status decides
	code := a.Code.String()
	retry := t.RetryCodes
	if retry == nil {
		retry = []string{TwilioTooManyReqs}
	}
	switch {
	case code == TwilioOptedOut:
		return failure(OptedOut, code, "twilio: the recipient opted out of this sender (code %s)", code)
	case retryStatus(resp.StatusCode) || code != "" && slices.Contains(retry, code):
		return failure(Retry, code, "twilio: HTTP %d%s: try again later", resp.StatusCode, codeSuffix(code))
	case resp.StatusCode/100 == 2:
		if a.SID == "" {
			return failure(Failed, "", "twilio: HTTP %d without a message sid", resp.StatusCode)
		}
		return Result{Outcome: Sent, ProviderID: a.SID}
	}
	return failure(Failed, code, "twilio: HTTP %d%s", resp.StatusCode, codeSuffix(code))
}

func codeSuffix(code string) string {
	if code == "" {
		return ""
	}
	return " (code " + code + ")"
}

// orDefault returns a, or b when a is empty.
func orDefault(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// redact returns err without the URL a *url.Error quotes: the URL names
// the account, and a generic sender's URL may carry a key in its query.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}
