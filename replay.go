package consentd

import (
	"context"
	"encoding/json"
	"time"
)

// This file is what a backend hands the replay of a workspace's log that
// `consentd log verify` compares with the stored consents and suppressions
// (internal/ledger's VerifyState): ordered pages of log entries and of
// stored rows, read in one snapshot.

// ConsentKey is the key of a stored consent in a workspace.
type ConsentKey struct {
	Hash        [32]byte // the contact point hash
	ChannelType string
}

// Subject returns the consent's log subject (HashedConsentID).
func (k ConsentKey) Subject() string { return HashedConsentID(k.Hash, k.ChannelType) }

// StoredConsent is what the replay compares of a stored consent: the
// fields that decisions and as-of reads depend on.
type StoredConsent struct {
	ConsentKey
	Status     Status
	CapturedAt time.Time
	Version    int64
	Seq        int64
}

// StoredSuppression is what the replay compares of a stored suppression:
// the fields that decisions are warmed from, and its seq.
type StoredSuppression struct {
	Hash    [32]byte
	ID      string
	Kind    ContactPointKind
	Channel string
	Reason  SuppressionReason
	Seq     int64
}

// SubjectEntry is a log entry as the replay reads it: its subject, its
// seq, and its view (EntryView's JSON).
type SubjectEntry struct {
	Subject string
	Seq     int64
	View    json.RawMessage
}

// StateReader reads one snapshot of a workspace, in bounded pages, for the
// replay: so that neither side of the comparison is ever held whole.
type StateReader interface {
	// SubjectEntries returns up to limit log entries of the consent and
	// suppression types that come after the entry (subject, seq), ordered
	// by subject, then seq; ("", 0) starts at the first.
	SubjectEntries(ctx context.Context, subject string, seq int64, limit int) ([]SubjectEntry, error)
	// Consents returns the stored consents with these keys, in any order;
	// a key without a row is left out.
	Consents(ctx context.Context, keys []ConsentKey) ([]StoredConsent, error)
	// Suppressions returns the stored suppressions of these contact point
	// hashes, in any order.
	Suppressions(ctx context.Context, hashes [][32]byte) ([]StoredSuppression, error)
	// ConsentsAfter returns up to limit stored consents with a key after
	// after (from the first when nil), in key order (hash bytes, then channel type).
	ConsentsAfter(ctx context.Context, after *ConsentKey, limit int) ([]StoredConsent, error)
	// SuppressionsAfter returns up to limit stored suppressions with an
	// id after id, in id order.
	SuppressionsAfter(ctx context.Context, id string, limit int) ([]StoredSuppression, error)
	// Logged returns those of subjects that have log entries of the
	// consent or suppression types, in any order.
	Logged(ctx context.Context, subjects []string) ([]string, error)
}
