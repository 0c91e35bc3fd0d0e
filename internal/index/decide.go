package index

import (
	"context"

	"github.com/consentd/consentd"
)

// Decide answers one decision from memory, with the same rules, errors and
// answers as the stores' Decide. The answer's Seq is the log position the
// workspace's state is at: never older than the last write this process
// acknowledged.
func (x *Index) Decide(ctx context.Context, wsID string, req *consentd.DecisionRequest) (*consentd.DecisionResult, error) {
	w, err := x.workspace(ctx, wsID)
	if err != nil {
		return nil, err
	}
	res := &consentd.DecisionResult{}
	if err := w.decide(req, res); err != nil {
		return nil, err
	}
	return res, nil
}

// decide fills res; it allocates only the result's strings.
func (w *workspace) decide(req *consentd.DecisionRequest, res *consentd.DecisionResult) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.catalog == nil {
		return consentd.Errorf(consentd.EINTERNAL, "workspace index not loaded")
	}
	p := w.catalog.Purposes[req.Purpose]
	if p == nil {
		return consentd.FieldErrorf(consentd.EUNKNOWNPURPOSE, "purpose", "no purpose with this id")
	}
	in := consentd.DecisionInput{Purpose: p, Channel: req.Channel}
	subscription := p.ID
	if req.Topic != "" {
		if in.Topic = w.catalog.Topics[req.Topic]; in.Topic == nil || in.Topic.Purpose != p.ID {
			return consentd.FieldErrorf(consentd.EUNKNOWNTOPIC, "topic", "no topic with this id under the purpose")
		}
		subscription = in.Topic.ID
	}
	if req.Channel == "" || !consentd.ValidID(req.Channel) {
		return consentd.FieldErrorf(consentd.EINVALID, "channel", "channel is required")
	}
	kind := consentd.KindOf(req.Channel)
	cp, err := consentd.Normalize(kind, req.ContactPoint, w.region)
	if err != nil {
		return err
	}
	h := w.hash(kind, cp)
	purposeCT := consentd.ChannelTypeID(p.ID, req.Channel)
	in.PurposeState = w.lookup(h, purposeCT)
	topicCT := purposeCT
	if in.Topic != nil {
		topicCT = consentd.ChannelTypeID(subscription, req.Channel)
		in.TopicState = w.lookup(h, topicCT)
	}
	if list := w.sups[h]; len(list) > 0 {
		in.Suppressions = make([]consentd.Suppression, len(list))
		for i, s := range list {
			in.Suppressions[i] = consentd.Suppression{Channel: s.channel, Reason: s.reason}
		}
	}
	res.Decision = consentd.Decide(&in)
	res.ContactPoint, res.ConsentID, res.Seq = cp, consentd.ConsentID(cp, topicCT), w.seq
	return nil
}

// lookup returns the stored status of a consent, "" when there is none.
// w.mu is held.
func (w *workspace) lookup(h hashKey, channelType string) consentd.Status {
	ct, ok := w.cts[channelType]
	if !ok {
		return ""
	}
	return w.consents[consentKey{h, ct}].Status()
}

// hash is consentd.ContactPointHash, cut to the index key, with a pooled
// keyed HMAC.
func (w *workspace) hash(kind consentd.ContactPointKind, cp string) hashKey {
	hs := w.hashers.Get().(*hasher)
	hs.mac.Reset()
	hs.mac.Write([]byte(kind))
	hs.mac.Write([]byte{':'})
	hs.mac.Write([]byte(cp))
	sum := hs.mac.Sum(hs.buf[:0])
	var k hashKey
	copy(k[:], sum)
	w.hashers.Put(hs)
	return k
}

// Lookup returns the stored status of one consent of a loaded workspace,
// "" when there is none (or the workspace is not loaded). It does not
// allocate.
func (x *Index) Lookup(wsID string, hash [32]byte, channelType string) consentd.Status {
	w := x.get(wsID)
	if w == nil {
		return ""
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.lookup(key(hash[:]), channelType)
}
