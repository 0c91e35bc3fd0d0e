package feeds

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/signedlink"
)

// Store is what the feed endpoint needs of a storage backend
// (internal/sqlite, internal/postgres; their feeds.go).
type Store interface {
	// Feed returns one feed with its stored secret; ENOTFOUND.
	Feed(ctx context.Context, wsID, id string) (*consentd.Feed, error)
	// WorkspaceSecret returns the key of the workspace's contact point
	// hashes; ENOTFOUND.
	WorkspaceSecret(ctx context.Context, id string) ([]byte, error)
	// Workspace returns the workspace's settings (its default region reads
	// national phone numbers); ENOTFOUND.
	Workspace(ctx context.Context, id string) (*consentd.Workspace, error)
	// ApplyFeedEvents applies a batch in one transaction, each event once
	// per feed; ECONFLICT when its replay key was seen.
	ApplyFeedEvents(ctx context.Context, wsID string, in consentd.FeedApply, actor string) (*consentd.FeedOutcome, error)
	// InboundSMS handles an SMS reply as POST /v1/inbound/sms does: in one
	// transaction, once per provider and message id.
	InboundSMS(ctx context.Context, wsID string, in consentd.InboundSMS, actor string) (*consentd.InboundResult, error)
}

// MaxBody bounds a provider's request: SendGrid posts batches of events
// (up to about a thousand of ~1 KiB each at most; usually far fewer).
const MaxBody = 1 << 20

// Handler serves POST /feeds/{workspace}/{provider}/{feed}. Set its
// exported fields, if at all, before serving.
type Handler struct {
	DB    Store
	Links *signedlink.Keyring // verifies message references; nil: references are ignored
	Log   *slog.Logger
	Now   func() time.Time
	// PublicURL is the server's public URL (scheme, host, optional path
	// prefix), from which Request.URL is made; "" takes the request's
	// Host over http.
	PublicURL string
}

// NewHandler returns the feed endpoint.
func NewHandler(db Store, links *signedlink.Keyring, log *slog.Logger) *Handler {
	return &Handler{DB: db, Links: links, Log: log, Now: time.Now}
}

// Pattern is the route of the endpoint, for a ServeMux.
const Pattern = "POST /feeds/{workspace}/{provider}/{feed}"

// Mount registers the endpoint on mux.
func (h *Handler) Mount(mux *http.ServeMux) { mux.Handle(Pattern, h) }

// answer is the body of every answer: what was done, or why not.
type answer struct {
	Status string `json:"status"`
	*consentd.FeedOutcome
	Ignored int `json:"ignored,omitempty"`
}

// ServeHTTP authenticates, parses and applies one provider request. It
// answers 2xx once the events are stored (replays and ignored kinds too),
// 401 or 403 for bad authentication, 400 for a malformed body, 404 for a
// feed that does not exist (in this workspace, for this provider), and
// 503 only when the events could not be stored, so that the provider
// retries.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	wsID, provider, feedID := r.PathValue("workspace"), consentd.FeedProvider(r.PathValue("provider")), r.PathValue("feed")
	p, ok := providers[provider]
	if !ok {
		// The metrics' label is a known provider's name, never the path's
		// text: their series stay few whatever is posted.
		h.refuse(w, "unknown", "unknown_provider", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.refuse(w, provider, "too_large", http.StatusRequestEntityTooLarge)
			return
		}
		h.refuse(w, provider, "read", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	f, err := h.DB.Feed(ctx, wsID, feedID)
	if consentd.ErrorCode(err) == consentd.ENOTFOUND || (err == nil && f.Provider != provider) {
		h.refuse(w, provider, "unknown_feed", http.StatusNotFound)
		return
	} else if err != nil {
		h.fail(w, provider, "read feed", err)
		return
	}
	now := h.Now().UTC()
	req := &Request{URL: h.requestURL(r), Header: r.Header, Body: body, Now: now}
	replay, err := p.Verify(f, req)
	if err != nil {
		h.refuseErr(w, provider, err)
		return
	}
	if hs, ok := p.(Handshaker); ok {
		handled, err := hs.Handshake(f, req, w)
		if err != nil {
			h.refuseErr(w, provider, err)
			return
		}
		if handled {
			return
		}
	}
	events, err := p.Parse(body)
	if err != nil {
		h.refuseErr(w, provider, err)
		return
	}
	secret, err := h.DB.WorkspaceSecret(ctx, wsID)
	if err != nil {
		h.fail(w, provider, "read workspace", err)
		return
	}
	ws, err := h.DB.Workspace(ctx, wsID)
	if err != nil {
		h.fail(w, provider, "read workspace", err)
		return
	}
	for i := range events {
		if e := &events[i]; e.Recipient == "" && e.Kind != consentd.FeedIgnored && e.Kind != "" {
			if err := h.recipientOf(ctx, wsID, provider, e, now); err != nil {
				h.fail(w, provider, "read contact point", err)
				return
			}
		}
	}
	in := consentd.FeedApply{FeedID: f.ID, SoftBounce: f.SoftBounce.Effective(), ReplayKey: replay}
	ignored := 0
	var texts []Event
	for i := range events {
		if events[i].Kind == consentd.FeedSMSInbound {
			texts = append(texts, events[i])
			continue
		}
		a, ok := h.act(ws, f, secret, &events[i], now)
		if !ok {
			ignored++
			continue
		}
		in.Acts = append(in.Acts, a)
	}
	out := &consentd.FeedOutcome{}
	if len(in.Acts) > 0 || replay != "" {
		out, err = h.DB.ApplyFeedEvents(ctx, wsID, in, "feed:"+f.ID)
		if consentd.ErrorCode(err) == consentd.ECONFLICT {
			h.refuse(w, provider, "replay", http.StatusForbidden)
			return
		} else if err != nil {
			h.fail(w, provider, "apply events", err)
			return
		}
	}
	results := make([]*consentd.InboundResult, len(texts))
	for i := range texts {
		res, err := h.inbound(ctx, wsID, f, &texts[i], now)
		if err != nil {
			h.fail(w, provider, "inbound sms", err)
			return
		}
		results[i] = res
		switch {
		case res == nil:
			ignored++
		case res.Duplicate:
			out.Events++
			out.Duplicates++
		default:
			out.Events++
			out.Consents += len(res.Consents)
		}
	}
	outcomes.WithLabelValues(string(provider), "applied").Add(float64(out.Events - out.Duplicates))
	outcomes.WithLabelValues(string(provider), "duplicate").Add(float64(out.Duplicates))
	outcomes.WithLabelValues(string(provider), "ignored").Add(float64(ignored))
	if rp, ok := p.(Responder); ok {
		rp.Respond(w, texts, results)
		return
	}
	writeJSON(w, http.StatusOK, answer{Status: "ok", FeedOutcome: out, Ignored: ignored})
}

// inbound hands an SMS reply to the store's inbound SMS path, as POST
// /v1/inbound/sms does, with the feed's provider and actor feed:<id>: the
// keyword rules, the review queue, once per provider message id. It
// returns nil, and no error, for a reply the store refuses as input (a
// sender that is no phone number, a text that is not UTF-8): the provider
// would only send it again.
func (h *Handler) inbound(ctx context.Context, wsID string, f *consentd.Feed, e *Event, now time.Time) (*consentd.InboundResult, error) {
	if e.SMS == nil {
		unmatched.WithLabelValues(string(f.Provider), "bad_message").Inc()
		return nil, nil
	}
	in := *e.SMS
	in.Provider, in.MessageID = string(f.Provider), cleanID(e.ID)
	in.ReceivedAt = e.At
	if in.ReceivedAt.IsZero() || in.ReceivedAt.After(now) || in.ReceivedAt.Year() < 1970 {
		in.ReceivedAt = now
	}
	res, err := h.DB.InboundSMS(ctx, wsID, in, "feed:"+f.ID)
	switch consentd.ErrorCode(err) {
	case "":
		return res, nil
	case consentd.EINVALIDCONTACTPOINT:
		unmatched.WithLabelValues(string(f.Provider), "bad_address").Inc()
		return nil, nil
	case consentd.EINVALID, consentd.EINVALIDTIME, consentd.EFUTURECAPTUREDAT:
		unmatched.WithLabelValues(string(f.Provider), "bad_message").Inc()
		return nil, nil
	}
	return nil, fmt.Errorf("inbound sms: %w", err)
}

// requestURL is the URL the provider posted to, as it was given it.
func (h *Handler) requestURL(r *http.Request) string {
	base := strings.TrimRight(h.PublicURL, "/")
	if base == "" {
		base = "http://" + r.Host
	}
	return base + r.URL.RequestURI()
}

// act prepares what an event does; false for an event that does nothing
// (an ignored kind, an address that is not one, an unsubscribe without a
// reference), which is not stored.
func (h *Handler) act(ws *consentd.Workspace, f *consentd.Feed, secret []byte, e *Event, now time.Time) (consentd.FeedAct, bool) {
	if e.Kind == consentd.FeedIgnored || e.Kind == "" {
		return consentd.FeedAct{}, false
	}
	provider := string(f.Provider)
	channel := e.Channel
	if channel == "" {
		channel = consentd.ChannelEmail
	}
	kind := consentd.KindOf(channel)
	cp, err := consentd.NormalizeStored(kind, e.Recipient, ws.DefaultRegion)
	if err != nil {
		unmatched.WithLabelValues(provider, "bad_address").Inc()
		return consentd.FeedAct{}, false
	}
	at := e.At
	if at.IsZero() || at.After(now) || at.Year() < 1970 {
		at = now
	}
	id, typ := cleanID(e.ID), cleanType(e.Type)
	a := consentd.FeedAct{EventID: id, Kind: e.Kind, OccurredAt: at, ContactPoint: cp, Hash: consentd.ContactPointHash(secret, kind, cp)}
	note := fmt.Sprintf("%s %s, event %s, feed %s", provider, typ, id, f.ID)
	sup := func(r consentd.SuppressionReason) consentd.SuppressionInput {
		return consentd.SuppressionInput{ContactPoint: cp, Kind: kind, Channel: channel, Reason: r, Note: note, OnlyIfNone: true}
	}
	ct := h.reference(ws.ID, provider, e.Ref, a.Hash, kind, at)
	details, _ := json.Marshal(map[string]string{"feed_id": f.ID, "event_id": id, "event": typ})
	optOut := func() {
		if ct == "" {
			return
		}
		a.Writes = []consentd.ConsentWrite{{ContactPoint: cp, ChannelType: ct, Status: consentd.OptedOut, CapturedAt: at,
			Source: consentd.Source{Type: consentd.SourceProviderFeed, Name: provider, Details: details}, OnlyOnChange: true}}
	}
	switch e.Kind {
	case consentd.FeedHardBounce:
		a.Suppressions = []consentd.SuppressionInput{sup(consentd.SuppressHardBounce)}
	case consentd.FeedSoftBounce:
		s := sup(consentd.SuppressHardBounce)
		s.Note = fmt.Sprintf("%s soft bounces, the last event %s, feed %s", provider, id, f.ID)
		a.Escalate = &s
	case consentd.FeedComplaint:
		a.Suppressions = []consentd.SuppressionInput{sup(consentd.SuppressComplaint)}
		optOut()
	case consentd.FeedUnsubscribe, consentd.FeedGroupUnsubscribe:
		if ct == "" {
			unmatched.WithLabelValues(provider, "unsubscribe_without_reference").Inc()
			return consentd.FeedAct{}, false
		}
		optOut()
	default:
		return consentd.FeedAct{}, false
	}
	return a, true
}

// reference returns the channel type of a message reference, when it is
// a valid link token of this workspace for this very address (its hash),
// else "" (counted by why, never logged with the token or the address).
func (h *Handler) reference(wsID, provider, ref string, hash [32]byte, kind consentd.ContactPointKind, at time.Time) string {
	if ref == "" {
		return ""
	}
	if h.Links == nil {
		unmatched.WithLabelValues(provider, "links_not_configured").Inc()
		return ""
	}
	c, err := h.Links.Verify(ref, at)
	switch {
	case err != nil:
		unmatched.WithLabelValues(provider, "bad_reference").Inc()
		return ""
	case c.Kind != signedlink.Unsubscribe || c.Workspace != wsID || c.ChannelType == "" || (c.CPKind != "" && c.CPKind != string(kind)):
		unmatched.WithLabelValues(provider, "foreign_reference").Inc()
		return ""
	case c.Hash != base64.RawURLEncoding.EncodeToString(hash[:]):
		unmatched.WithLabelValues(provider, "address_mismatch").Inc()
		return ""
	}
	return c.ChannelType
}

// contactPoints is implemented by a store that returns the contact point
// behind a hash (internal/sqlite, internal/postgres: their links.go).
type contactPoints interface {
	LinkedContactPoints(ctx context.Context, wsID string, hash [32]byte) ([]consentd.PartyContactPoint, []*consentd.Suppression, error)
}

// recipientOf sets the recipient of an event the provider reported
// without one (a redacted complaint) to the contact point its message
// reference names: the reference must be a valid unsubscribe token of this
// workspace, and the store must still have the address (an erased one has
// no plaintext). Otherwise the event is made ignored and counted by why.
// It returns an error only when the store could not be read.
func (h *Handler) recipientOf(ctx context.Context, wsID string, provider consentd.FeedProvider, e *Event, now time.Time) error {
	skip := func(reason string) error {
		unmatched.WithLabelValues(string(provider), reason).Inc()
		e.Kind = consentd.FeedIgnored
		return nil
	}
	db, ok := h.DB.(contactPoints)
	switch {
	case e.Ref == "":
		return skip("no_recipient")
	case h.Links == nil:
		return skip("links_not_configured")
	case !ok:
		return skip("no_recipient")
	}
	at := e.At
	if at.IsZero() || at.After(now) {
		at = now
	}
	c, err := h.Links.Verify(e.Ref, at)
	if err != nil {
		return skip("bad_reference")
	}
	hash, err := base64.RawURLEncoding.DecodeString(c.Hash)
	if c.Kind != signedlink.Unsubscribe || c.Workspace != wsID || c.ChannelType == "" || err != nil || len(hash) != 32 {
		return skip("foreign_reference")
	}
	cps, _, err := db.LinkedContactPoints(ctx, wsID, [32]byte(hash))
	if consentd.ErrorCode(err) == consentd.ENOTFOUND || (err == nil && len(cps) == 0) {
		return skip("unknown_contact_point")
	} else if err != nil {
		return fmt.Errorf("contact point of a reference: %w", err)
	}
	if c.CPKind != "" && string(cps[0].Kind) != c.CPKind {
		return skip("foreign_reference")
	}
	e.Recipient = cps[0].Value
	return nil
}

// cleanID returns a provider's event id as stored and logged: as it is
// when it is 1 to 200 printable ASCII characters, else a hash of it, so
// that what goes into the log is bounded, storable text.
func cleanID(id string) string {
	ok := id != "" && len(id) <= 200
	for i := 0; ok && i < len(id); i++ {
		ok = id[i] > ' ' && id[i] < 0x7f
	}
	if ok {
		return id
	}
	s := sha256.Sum256([]byte(id))
	return "sha256:" + base64.RawURLEncoding.EncodeToString(s[:])
}

// cleanType returns a provider's event type for notes and provenance:
// letters, digits and _ / . - only, at most 64 of them.
func cleanType(t string) string {
	b := make([]byte, 0, min(len(t), 64))
	for i := 0; i < len(t) && len(b) < 64; i++ {
		c := t[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '/' || c == '.' || c == '-' {
			b = append(b, c)
		}
	}
	return string(b)
}

// refuseErr answers an adapter's error by its kind.
func (h *Handler) refuseErr(w http.ResponseWriter, provider consentd.FeedProvider, err error) {
	switch {
	case errors.Is(err, ErrUnauthenticated):
		h.refuse(w, provider, "unauthenticated", http.StatusUnauthorized)
	case errors.Is(err, ErrStale):
		h.refuse(w, provider, "stale", http.StatusForbidden)
	case errors.Is(err, ErrMalformed):
		h.refuse(w, provider, "malformed", http.StatusBadRequest)
	default:
		h.fail(w, provider, "adapter", err)
	}
}

// refuse answers a request that is not processed, and counts it.
func (h *Handler) refuse(w http.ResponseWriter, provider consentd.FeedProvider, reason string, status int) {
	refused.WithLabelValues(string(provider), reason).Inc()
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="consentd feed"`)
	}
	writeJSON(w, status, answer{Status: reason})
}

// fail answers 503 for what could not be stored: the provider retries.
func (h *Handler) fail(w http.ResponseWriter, provider consentd.FeedProvider, what string, err error) {
	refused.WithLabelValues(string(provider), "store").Inc()
	h.Log.Error("feed: "+what, "provider", provider, "err", err)
	w.Header().Set("Retry-After", "60")
	writeJSON(w, http.StatusServiceUnavailable, answer{Status: "unavailable"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
