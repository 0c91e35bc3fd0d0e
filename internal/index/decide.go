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
	res := &consentd.DecisionResult{}
	subscription, err := x.DecideParts(ctx, wsID, req, res)
	if err != nil {
		return nil, err
	}
	res.ConsentID = res.ContactPoint + "#" + subscription + ":" + req.Channel
	return res, nil
}

// DecideParts is Decide into res without building the answer's consent
// id, whose string costs an allocation and a copy (at 10M consents some
// 200 ns of a decision's 800): res.ConsentID is left empty, and the id is res.ContactPoint, "#" and
// consentd.ChannelTypeID(subscription, req.Channel). POST /v1/decisions
// writes the id from these parts. It does not allocate for a contact
// point that is already normalized.
func (x *Index) DecideParts(ctx context.Context, wsID string, req *consentd.DecisionRequest, res *consentd.DecisionResult) (subscription string, err error) {
	w, err := x.workspace(ctx, wsID)
	if err != nil {
		return "", err
	}
	return w.decide(req, res)
}

// decide is DecideParts once the workspace is found. The consents' slots
// are looked up in two steps: the memory reads are started as soon as the
// contact point's hash is known, and the suppressions are looked up while
// they are on their way (at 10M consents each is a miss of every CPU
// cache, the biggest single cost of a decision).
func (w *workspace) decide(req *consentd.DecisionRequest, res *consentd.DecisionResult) (string, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.catalog == nil {
		return "", consentd.Errorf(consentd.EINTERNAL, "workspace index not loaded")
	}
	p := w.catalog.Purposes[req.Purpose]
	if p == nil {
		return "", consentd.FieldErrorf(consentd.EUNKNOWNPURPOSE, "purpose", "no purpose with this id")
	}
	in := consentd.DecisionInput{Purpose: p, Channel: req.Channel}
	subscription := p.ID
	if req.Topic != "" {
		if in.Topic = w.catalog.Topics[req.Topic]; in.Topic == nil || in.Topic.Purpose != p.ID {
			return "", consentd.FieldErrorf(consentd.EUNKNOWNTOPIC, "topic", "no topic with this id under the purpose")
		}
		subscription = in.Topic.ID
	}
	if req.Channel == "" || !consentd.ValidID(req.Channel) {
		return "", consentd.FieldErrorf(consentd.EINVALID, "channel", "channel is required")
	}
	kind := consentd.KindOf(req.Channel)
	cp, err := consentd.NormalizeStored(kind, req.ContactPoint, w.region)
	if err != nil {
		return "", err
	}
	// The channel types' interned ids ("purpose:channel", built on the
	// stack: ids are at most 64 bytes); ok false: no consent has that
	// channel type.
	var buf [2*64 + 1]byte
	pct, pok := w.cts[string(channelType(buf[:0], p.ID, req.Channel))] // no allocation: the map reads the bytes in place
	var tct uint32
	tok := false
	if in.Topic != nil {
		tct, tok = w.cts[string(channelType(buf[:0], subscription, req.Channel))]
	}
	h := w.hash(kind, cp)
	var pp, tp probe
	if pok {
		pp = w.consents.start(h, pct)
	}
	if tok {
		tp = w.consents.start(h, tct)
	}
	in.Suppressions = w.suppressions(h)
	if pok {
		in.PurposeState = w.consents.finish(pp).Status()
	}
	if tok {
		in.TopicState = w.consents.finish(tp).Status()
	}
	*res = consentd.DecisionResult{Decision: consentd.Decide(&in), ContactPoint: cp, Seq: w.seq}
	return subscription, nil
}

// channelType appends consentd.ChannelTypeID(subscription, channel) to b.
func channelType(b []byte, subscription, channel string) []byte {
	b = append(b, subscription...)
	b = append(b, ':')
	return append(b, channel...)
}

// suppressions returns the suppressions of a contact point hash, nil (no
// allocation) when there are none. w.mu is held.
func (w *workspace) suppressions(h hashKey) []consentd.Suppression {
	if len(w.sups) == 0 {
		return nil
	}
	list := w.sups[h]
	if len(list) == 0 {
		return nil
	}
	out := make([]consentd.Suppression, len(list))
	for i, s := range list {
		out[i] = consentd.Suppression{Channel: s.channel, Reason: s.reason}
	}
	return out
}

// lookup returns the stored status of a consent, "" when there is none.
// w.mu is held.
func (w *workspace) lookup(h hashKey, channelType string) consentd.Status {
	ct, ok := w.cts[channelType]
	if !ok {
		return ""
	}
	return w.consents.get(h, ct).Status()
}

// hash is consentd.ContactPointHash, cut to the index key, with a pooled
// keyed HMAC.
func (w *workspace) hash(kind consentd.ContactPointKind, cp string) hashKey {
	hs := w.hashers.Get().(*hasher)
	k := hs.sum(kind, cp)
	w.hashers.Put(hs)
	return k
}

// sum is consentd.ContactPointHash cut to the index key: the HMAC's inner
// and outer key states are computed once (crypto/hmac keeps them), and it
// is fed one buffer, without allocating.
func (hs *hasher) sum(kind consentd.ContactPointKind, cp string) hashKey {
	msg := append(hs.msg[:0], kind...)
	msg = append(msg, ':')
	msg = append(msg, cp...)
	hs.msg = msg
	hs.mac.Reset()
	hs.mac.Write(msg)
	var k hashKey
	copy(k[:], hs.mac.Sum(hs.buf[:0]))
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

// Lookup returns the stored status of the prepared purpose's consent on
// the prepared channel for a contact point hash, "" when there is none: the
// index lookup alone, as a stream does it (the workspace and the channel
// type resolved once). It does not allocate.
func (p *Prepared) Lookup(hash [32]byte) consentd.Status {
	w := p.w
	w.mu.RLock()
	defer w.mu.RUnlock()
	if len(w.cts) != p.nCts {
		p.internIDs()
	}
	if !p.purposeOK {
		return ""
	}
	return w.consents.get(key(hash[:]), p.purposeID).Status()
}

// Prepared decides many contact points for one purpose, optional topic and
// channel (a batch or a stream): what does not depend on the contact point
// is resolved once, and again only when the catalog changes.
type Prepared struct {
	w                  *workspace
	purpose, topic, ch string

	cat        *consentd.Catalog // the catalog the fields below were resolved in
	in         consentd.DecisionInput
	kind       consentd.ContactPointKind
	purposeCT  string
	topicCT    string
	consentSep string // "#" + topicCT, to build consent ids

	// The interned ids of purposeCT and topicCT (ok false: no consent has
	// that channel type yet), as of a channel type count of nCts: channel
	// types are only ever added, so they are looked up again when it grows.
	purposeID, topicID uint32
	purposeOK, topicOK bool
	nCts               int
}

// Prepare returns a Prepared decider. It returns the errors Decide returns
// for the purpose, topic and channel.
func (x *Index) Prepare(ctx context.Context, wsID, purpose, topic, channel string) (*Prepared, error) {
	w, err := x.workspace(ctx, wsID)
	if err != nil {
		return nil, err
	}
	p := &Prepared{w: w, purpose: purpose, topic: topic, ch: channel}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if err := p.resolve(); err != nil {
		return nil, err
	}
	return p, nil
}

// resolve looks up the purpose, topic and channel types. w.mu is held.
func (p *Prepared) resolve() error {
	w := p.w
	if w.catalog == nil {
		return consentd.Errorf(consentd.EINTERNAL, "workspace index not loaded")
	}
	p.cat = w.catalog
	pur := w.catalog.Purposes[p.purpose]
	if pur == nil {
		return consentd.FieldErrorf(consentd.EUNKNOWNPURPOSE, "purpose", "no purpose with this id")
	}
	p.in = consentd.DecisionInput{Purpose: pur, Channel: p.ch}
	sub := pur.ID
	if p.topic != "" {
		if p.in.Topic = w.catalog.Topics[p.topic]; p.in.Topic == nil || p.in.Topic.Purpose != pur.ID {
			return consentd.FieldErrorf(consentd.EUNKNOWNTOPIC, "topic", "no topic with this id under the purpose")
		}
		sub = p.in.Topic.ID
	}
	if p.ch == "" || !consentd.ValidID(p.ch) {
		return consentd.FieldErrorf(consentd.EINVALID, "channel", "channel is required")
	}
	p.kind = consentd.KindOf(p.ch)
	p.purposeCT = consentd.ChannelTypeID(pur.ID, p.ch)
	p.topicCT = consentd.ChannelTypeID(sub, p.ch)
	p.consentSep = "#" + p.topicCT
	p.internIDs()
	return nil
}

// internIDs looks up the interned ids of the channel types. w.mu is held.
func (p *Prepared) internIDs() {
	p.purposeID, p.purposeOK = p.w.cts[p.purposeCT]
	p.topicID, p.topicOK = p.w.cts[p.topicCT]
	p.nCts = len(p.w.cts)
}

// Decide decides one contact point into res. Errors are per contact point
// (EINVALIDCONTACTPOINT), or the catalog's when it changed under the
// stream. A Prepared is for one goroutine at a time.
func (p *Prepared) Decide(contactPoint string, res *consentd.DecisionResult) error {
	cp, d, seq, err := p.decide(contactPoint)
	if err != nil {
		return err
	}
	res.Decision = d
	res.ContactPoint, res.ConsentID, res.Seq = cp, cp+p.consentSep, seq
	return nil
}

// DecideNoID is Decide without building the consent id, which costs an
// allocation per call: res.ConsentID is left empty, and the id is
// res.ContactPoint followed by the suffix returned (a "#" and the
// purpose's and channel's key). The NDJSON stream writes the two parts.
func (p *Prepared) DecideNoID(contactPoint string, res *consentd.DecisionResult) (idSuffix string, err error) {
	cp, d, seq, err := p.decide(contactPoint)
	if err != nil {
		return "", err
	}
	res.Decision = d
	res.ContactPoint, res.ConsentID, res.Seq = cp, "", seq
	return p.consentSep, nil
}

// Decision is Decide without the answer's contact point, consent id and
// seq, for callers that need only the decision (consentd filter): it does
// not allocate for a contact point that is already normalized.
func (p *Prepared) Decision(contactPoint string) (consentd.Decision, error) {
	_, d, _, err := p.decide(contactPoint)
	return d, err
}

// decide is Decide: the normalized contact point, the decision and the log
// position it reflects.
func (p *Prepared) decide(contactPoint string) (string, consentd.Decision, int64, error) {
	w := p.w
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.catalog != p.cat {
		if err := p.resolve(); err != nil {
			return "", consentd.Decision{}, 0, err
		}
	}
	if len(w.cts) != p.nCts {
		p.internIDs()
	}
	cp, err := consentd.NormalizeStored(p.kind, contactPoint, w.region)
	if err != nil {
		return "", consentd.Decision{}, 0, err
	}
	h := w.hash(p.kind, cp)
	in := p.in
	if p.purposeOK {
		in.PurposeState = w.consents.get(h, p.purposeID).Status()
	}
	if in.Topic != nil && p.topicOK {
		in.TopicState = w.consents.get(h, p.topicID).Status()
	}
	in.Suppressions = w.suppressions(h)
	return cp, consentd.Decide(&in), w.seq, nil
}

// decisionsGroup is how many contact points Decisions hashes before it
// looks them up.
const decisionsGroup = 32

// Decisions decides many contact points at once (a batch, or a stream's
// next lines): ds[i] and errs[i] are what Decision(cps[i]) returns. It
// takes the workspace's lock once and looks the consents up a group at a
// time, so that one lookup's cache miss overlaps the next's rather than
// following it. The lock is held throughout: pass some hundreds at a time.
func (p *Prepared) Decisions(cps []string, ds []consentd.Decision, errs []error) {
	w := p.w
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.catalog != p.cat {
		if err := p.resolve(); err != nil {
			for i := range cps {
				ds[i], errs[i] = consentd.Decision{}, err
			}
			return
		}
	}
	if len(w.cts) != p.nCts {
		p.internIDs()
	}
	hs := w.hashers.Get().(*hasher)
	defer w.hashers.Put(hs)
	var keys [decisionsGroup]hashKey
	var states [decisionsGroup][2]status
	for start := 0; start < len(cps); start += decisionsGroup {
		n := min(decisionsGroup, len(cps)-start)
		for i := range n {
			cp, err := consentd.NormalizeStored(p.kind, cps[start+i], w.region)
			errs[start+i] = err
			if err == nil {
				keys[i] = hs.sum(p.kind, cp)
			}
		}
		for i := range n {
			states[i] = [2]status{}
			if errs[start+i] != nil {
				continue
			}
			if p.purposeOK {
				states[i][0] = w.consents.get(keys[i], p.purposeID)
			}
			if p.in.Topic != nil && p.topicOK {
				states[i][1] = w.consents.get(keys[i], p.topicID)
			}
		}
		for i := range n {
			if errs[start+i] != nil {
				ds[start+i] = consentd.Decision{}
				continue
			}
			in := p.in
			in.PurposeState = states[i][0].Status()
			if in.Topic != nil {
				in.TopicState = states[i][1].Status()
			}
			in.Suppressions = w.suppressions(keys[i])
			ds[start+i] = consentd.Decide(&in)
		}
	}
}
