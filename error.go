package consentd

import (
	"errors"
	"fmt"
)

// Error codes. They are the stable `code` of the API's problem documents and
// part of the public contract: clients switch on them, never on messages.
const (
	ECONFLICT             = "conflict"
	EINTERNAL             = "internal"
	EINVALID              = "invalid"               // a field failed validation; Fields says which
	EMALFORMED            = "malformed_request"     // the body is not valid JSON or the wrong shape
	ENOTFOUND             = "not_found"             // the resource does not exist in this workspace
	ENOTINEFFECT          = "not_in_effect"         // a consent with log entries, none of them in effect at the time asked (as_of, known_at)
	EUNAUTHORIZED         = "unauthorized"          // no or unknown API key
	EFORBIDDEN            = "forbidden"             // the key's role may not do this
	ETOOLARGE             = "too_large"             // body or batch over the limit
	EINVALIDCONTACTPOINT  = "invalid_contact_point" // an address that cannot be normalized
	EUNKNOWNPURPOSE       = "unknown_purpose"
	EUNKNOWNTOPIC         = "unknown_topic"
	EUNKNOWNCHANNELTYPE   = "unknown_channel_type"
	ECHANNELNOTOFFERED    = "channel_not_offered"
	EINVALIDSTATUS        = "invalid_status"
	EINVALIDTIME          = "invalid_time"
	EFUTURECAPTUREDAT     = "future_captured_at"
	EUNSUPPORTEDMEDIATYPE = "unsupported_media_type"
	EINVALIDRULE          = "invalid_rule"               // a rule that does not compile; Fields names the field, the message the position
	EWEBHOOKTARGET        = "webhook_target_not_allowed" // a webhook URL on a loopback, private or link-local address
	EBEYONDLOG            = "beyond_log"                 // a tree size larger than the log (yet)
	ELEAFERASED           = "leaf_erased"                // an old (JSON) log leaf whose bytes were erased with its address: only its hash is left
	ERATELIMITED          = "rate_limited"               // too many requests from this key or address; Retry-After says when to try again
	EMETHODNOTALLOWED     = "method_not_allowed"         // a known path asked with a method it does not take; the Allow header lists those it does
)

// FieldError names one offending input field.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error is the one error type of consentd with a stable code. Storage,
// validation and domain functions return it; the API translates the code to
// an HTTP status in one place.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("consentd error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an *Error with code and one FieldError for field.
func FieldErrorf(code, field, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Code: code, Message: msg, Fields: []FieldError{{Field: field, Code: code, Message: msg}}}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic message that reveals nothing of an internal error.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
