package doi

import (
	"context"
	"fmt"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/signedlink"
)

// WriteStore is what Write needs of a backend.
type WriteStore interface {
	Catalog(ctx context.Context, wsID string) (*consentd.Catalog, error)
	Consent(ctx context.Context, wsID, id string, asOf time.Time) (*consentd.Consent, error)
	WriteConsents(ctx context.Context, wsID string, writes []consentd.ConsentWrite, actor string) ([]consentd.WriteResult, error)
	CreateConfirmations(ctx context.Context, wsID string, in []consentd.ConfirmationInput) ([]*consentd.Confirmation, error)
}

// Write is the one write path of people's opt-ins, for the API
// (POST /v1/consents, batches, rules) and the preference center alike: an
// opt-in that needs double opt-in (consentd.DoubleOptInRequired) is
// stored as pending, the writes are written in one transaction, and a
// confirmation is recorded for each held write that left its consent
// pending; recording it queues its mail. writes may be changed in place
// (held opt-ins become pending). It returns the store's results and, by
// index, the confirmation of each write (nil: none).
func Write(ctx context.Context, db WriteStore, wsID string, writes []consentd.ConsentWrite, actor string) ([]consentd.WriteResult, []*consentd.Confirmation, error) {
	held, err := hold(ctx, db, wsID, writes)
	if err != nil {
		return nil, nil, fmt.Errorf("double opt-in: %w", err)
	}
	res, err := db.WriteConsents(ctx, wsID, writes, actor)
	if err != nil {
		return nil, nil, err
	}
	confs, err := issue(ctx, db, wsID, writes, held, res)
	if err != nil {
		return nil, nil, fmt.Errorf("double opt-in: record confirmations: %w", err)
	}
	return res, confs, nil
}

// hold turns each write that needs double opt-in into a pending one, in
// place, and reports which (nil: none). An opt-in to a consent that is
// opted_in already is not held: it grants nothing new, and holding it
// would let anyone who knows an address demote a confirmed subscription to
// pending.
func hold(ctx context.Context, db WriteStore, wsID string, writes []consentd.ConsentWrite) ([]bool, error) {
	cat, err := db.Catalog(ctx, wsID)
	if err != nil {
		return nil, err
	}
	var held []bool
	for i := range writes {
		w := &writes[i]
		if !consentd.DoubleOptInRequired(cat, w) || optedIn(ctx, db, wsID, cat, w) {
			continue
		}
		if held == nil {
			held = make([]bool, len(writes))
		}
		w.Status = consentd.Pending
		held[i] = true
	}
	return held, nil
}

// optedIn reports whether the consent w writes is stored as opted_in.
func optedIn(ctx context.Context, db WriteStore, wsID string, cat *consentd.Catalog, w *consentd.ConsentWrite) bool {
	var ct consentd.ChannelType
	var err error
	if w.ChannelType != "" {
		ct, err = cat.ResolveID(w.ChannelType)
	} else {
		ct, err = cat.Resolve(w.Purpose, w.Topic, w.Channel)
	}
	if err != nil {
		return false
	}
	c, err := db.Consent(ctx, wsID, consentd.ConsentID(w.ContactPoint, ct.ID), time.Time{})
	return err == nil && c.Status == consentd.OptedIn
}

// issue records a confirmation for each held write that left its consent
// pending (a superseded one did not), after the writes committed. It is
// idempotent: a retried request finds its consents unchanged and gets the
// same confirmations, so a failure here, after the commit, is mended by a
// retry.
func issue(ctx context.Context, db WriteStore, wsID string, writes []consentd.ConsentWrite, held []bool, res []consentd.WriteResult) ([]*consentd.Confirmation, error) {
	out := make([]*consentd.Confirmation, len(res))
	var in []consentd.ConfirmationInput
	var at []int
	for i, r := range res {
		if held == nil || !held[i] || r.Err != nil || r.Consent == nil || r.Consent.Status != consentd.Pending ||
			!r.Applied && r.Outcome != consentd.Unchanged {
			continue
		}
		in = append(in, consentd.ConfirmationInput{ContactPoint: r.Consent.ContactPoint, ChannelType: r.Consent.ChannelType,
			ConsentVersion: r.Consent.Version, Proof: writes[i].Proof, Nonce: signedlink.NewNonce()})
		at = append(at, i)
	}
	if len(in) == 0 {
		return out, nil
	}
	confs, err := db.CreateConfirmations(ctx, wsID, in)
	if err != nil {
		return nil, err
	}
	for j, f := range confs {
		out[at[j]] = f
	}
	return out, nil
}
