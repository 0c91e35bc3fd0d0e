package consentd

import "time"

// Verification is the newest verification of a workspace's log, as a
// backend keeps it: when it ran, what ran it ("server" for GET
// /v1/log/verify and the console, "cli" for `consentd log verify`),
// whether the log verified, and the whole report as JSON (internal/ledger
// Report; the backends store it as it is).
type Verification struct {
	At     time.Time
	By     string
	OK     bool
	Report []byte
}
