package feeds

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/consentd/consentd"
)

// ses is Amazon SES's bounce and complaint notifications (or its event
// publishing to an SNS destination) delivered by an Amazon SNS HTTPS
// subscription. SNS posts one JSON message per request, its kind in Type:
//
//   - SubscriptionConfirmation: the subscription must be confirmed by a GET
//     on its SubscribeURL (Handshake does, for an allowed topic);
//   - Notification: the SES event is the JSON string in Message;
//   - UnsubscribeConfirmation: logged and ignored.
//
// Every message is signed with RSA (SignatureVersion 1: SHA1withRSA, 2:
// SHA256withRSA) over a canonical string of its fields, with the key of
// the certificate at SigningCertURL. That URL must be https on the SNS
// host of the topic's region, and the certificate must chain to the trust
// store: the fetch over HTTPS from that host is what says the key is
// Amazon's. The feed's settings.topic_arns lists the topics it accepts;
// a message from another topic is refused before anything is fetched.
type ses struct{}

func init() { register(ses{}) }

func (ses) Name() consentd.FeedProvider { return consentd.ProviderSES }

// TakesSettings: a ses feed needs topic_arns.
func (ses) TakesSettings() {}

// SNSTopicsSetting is the feed setting that lists the accepted topics.
const SNSTopicsSetting = "topic_arns"

// snsMaxAge is how old an SNS message's Timestamp may be. SNS retries a
// failed delivery for a while, so this is wider than MaxSkew; a replay
// within it acts once (event ids are kept far longer).
const snsMaxAge = time.Hour

var (
	// snsTopicARN is an SNS topic ARN: partition, region, account, name.
	snsTopicARN = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov):sns:([a-z0-9-]+):[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)
	// snsHost is the host of SNS's endpoint in a region.
	snsHost = regexp.MustCompile(`^sns\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)
)

func (ses) Configure(f *consentd.Feed) (string, error) {
	if f.PublicKey != "" || f.Username != "" || f.Secret != "" || f.SecretEnv != "" {
		return "", consentd.FieldErrorf(consentd.EINVALID, "secret", "a ses feed takes settings.topic_arns only: SNS signs its messages")
	}
	for k := range f.Settings {
		if k != SNSTopicsSetting {
			return "", consentd.FieldErrorf(consentd.EINVALID, "settings", "a ses feed takes the setting topic_arns only")
		}
	}
	topics := snsTopics(f)
	if len(topics) == 0 {
		return "", consentd.FieldErrorf(consentd.EINVALID, "settings", "settings.topic_arns is required: the SNS topic ARNs this feed accepts")
	}
	for _, t := range topics {
		if !snsTopicARN.MatchString(t) {
			return "", consentd.FieldErrorf(consentd.EINVALID, "settings", "settings.topic_arns: %q is not an SNS topic ARN", t)
		}
	}
	f.StoredSecret = ""
	return "", nil
}

// snsTopics returns the feed's accepted topic ARNs.
func snsTopics(f *consentd.Feed) []string {
	return strings.FieldsFunc(f.Settings[SNSTopicsSetting], func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' })
}

// snsMessage is an SNS HTTP(S) delivery. Subject is a pointer: it is part
// of the signed string only when the message has one.
type snsMessage struct {
	Type             string  `json:"Type"`
	MessageID        string  `json:"MessageId"`
	Token            string  `json:"Token"`
	TopicARN         string  `json:"TopicArn"`
	Subject          *string `json:"Subject"`
	Message          string  `json:"Message"`
	Timestamp        string  `json:"Timestamp"`
	SignatureVersion string  `json:"SignatureVersion"`
	Signature        string  `json:"Signature"`
	SigningCertURL   string  `json:"SigningCertURL"`
	SubscribeURL     string  `json:"SubscribeURL"`
}

// SNS message types.
const (
	snsNotification = "Notification"
	snsSubscribe    = "SubscriptionConfirmation"
	snsUnsubscribe  = "UnsubscribeConfirmation"
)

// stringToSign is the canonical string SNS signs: each field's name and
// value on lines of their own, in SNS's documented order.
func (m *snsMessage) stringToSign() string {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	add("Message", m.Message)
	add("MessageId", m.MessageID)
	if m.Type == snsNotification {
		if m.Subject != nil {
			add("Subject", *m.Subject)
		}
	} else {
		add("SubscribeURL", m.SubscribeURL)
	}
	add("Timestamp", m.Timestamp)
	if m.Type != snsNotification {
		add("Token", m.Token)
	}
	add("TopicArn", m.TopicARN)
	add("Type", m.Type)
	return b.String()
}

// parseSNS reads an SNS message and checks what needs no network: its
// shape, its topic against the feed's, and its certificate URL.
func parseSNS(f *consentd.Feed, r *Request) (*snsMessage, *url.URL, error) {
	var m snsMessage
	if err := json.Unmarshal(r.Body, &m); err != nil {
		return nil, nil, fmt.Errorf("%w: not an SNS message", ErrMalformed)
	}
	switch m.Type {
	case snsNotification, snsSubscribe, snsUnsubscribe:
	default:
		return nil, nil, fmt.Errorf("%w: SNS message of unknown Type", ErrMalformed)
	}
	if h := r.Header.Get("x-amz-sns-message-type"); h != "" && h != m.Type {
		return nil, nil, fmt.Errorf("%w: the message type header and body differ", ErrMalformed)
	}
	if m.MessageID == "" || m.Timestamp == "" || m.TopicARN == "" {
		return nil, nil, fmt.Errorf("%w: SNS message without MessageId, Timestamp or TopicArn", ErrMalformed)
	}
	arn := snsTopicARN.FindStringSubmatch(m.TopicARN)
	allowed := false
	for _, t := range snsTopics(f) {
		allowed = allowed || t == m.TopicARN
	}
	if arn == nil || !allowed {
		return nil, nil, fmt.Errorf("%w: topic not accepted by the feed", ErrUnauthenticated)
	}
	cert, err := snsURL(m.SigningCertURL, arn[1], arn[2])
	if err != nil || !strings.HasSuffix(cert.Path, ".pem") {
		return nil, nil, fmt.Errorf("%w: signing certificate URL not on the topic region's SNS host", ErrUnauthenticated)
	}
	return &m, cert, nil
}

// snsURL parses a URL that must be https on SNS's host for the region
// (of the partition): a certificate or subscription URL.
func snsURL(s, partition, region string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	host := snsHost.FindStringSubmatch(u.Host) // no port, no user
	if u.Scheme != "https" || u.User != nil || host == nil || host[1] != region || (host[2] == ".cn") != (partition == "aws-cn") {
		return nil, errors.New("not an SNS URL of the region")
	}
	return u, nil
}

func (ses) Verify(f *consentd.Feed, r *Request) (string, error) {
	m, certURL, err := parseSNS(f, r)
	if err != nil {
		return "", err
	}
	var hash crypto.Hash
	var digest []byte
	switch m.SignatureVersion {
	case "1":
		h := sha1.Sum([]byte(m.stringToSign()))
		hash, digest = crypto.SHA1, h[:]
	case "2":
		h := sha256.Sum256([]byte(m.stringToSign()))
		hash, digest = crypto.SHA256, h[:]
	default:
		return "", fmt.Errorf("%w: unknown SNS SignatureVersion", ErrUnauthenticated)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(sig) == 0 {
		return "", fmt.Errorf("%w: no signature", ErrUnauthenticated)
	}
	cert, err := snsCerts.get(certURL.String(), r.Now)
	if err != nil {
		return "", err
	}
	key, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return "", fmt.Errorf("%w: the signing certificate has no RSA key", ErrUnauthenticated)
	}
	if err := rsa.VerifyPKCS1v15(key, hash, digest, sig); err != nil {
		return "", fmt.Errorf("%w: bad signature", ErrUnauthenticated)
	}
	at, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil || r.Now.Sub(at) > snsMaxAge || at.Sub(r.Now) > MaxSkew {
		return "", ErrStale
	}
	return "", nil
}

// Handshake answers what is not a notification: it confirms a
// subscription to an allowed topic with a GET on its SubscribeURL (which
// must be https on the topic region's SNS host), and logs and ignores an
// unsubscribe confirmation. Verify has checked the message.
func (ses) Handshake(f *consentd.Feed, r *Request, w http.ResponseWriter) (bool, error) {
	m, _, err := parseSNS(f, r)
	if err != nil {
		return false, err
	}
	opts := snsCerts.options()
	switch m.Type {
	case snsNotification:
		return false, nil
	case snsUnsubscribe:
		// The topic ARN names no person; the feed goes on existing.
		opts.Log.Info("feed: SNS unsubscribe confirmation ignored", "provider", consentd.ProviderSES, "feed", f.ID, "topic", m.TopicARN)
		outcomes.WithLabelValues(string(consentd.ProviderSES), "ignored").Inc()
		writeJSON(w, http.StatusOK, answer{Status: "ignored"})
		return true, nil
	}
	arn := snsTopicARN.FindStringSubmatch(m.TopicARN)
	u, err := snsURL(m.SubscribeURL, arn[1], arn[2])
	if err != nil || u.Query().Get("Action") != "ConfirmSubscription" {
		return false, fmt.Errorf("%w: SubscribeURL not an SNS confirmation URL of the topic's region", ErrUnauthenticated)
	}
	resp, err := opts.Client.Get(u.String())
	if err != nil {
		// The URL carries the subscription's token: the error says the
		// host only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return false, fmt.Errorf("confirm the SNS subscription at %s: %w", u.Host, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("confirm the SNS subscription at %s: %s", u.Host, resp.Status)
	}
	opts.Log.Info("feed: SNS subscription confirmed", "provider", consentd.ProviderSES, "feed", f.ID, "topic", m.TopicARN)
	writeJSON(w, http.StatusOK, answer{Status: "subscribed"})
	return true, nil
}

// sesEvent is the part of an SES notification (notificationType) or
// published event (eventType) the ledger reads.
type sesEvent struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Bounce           *struct {
		BounceType        string         `json:"bounceType"`
		BounceSubType     string         `json:"bounceSubType"`
		BouncedRecipients []sesRecipient `json:"bouncedRecipients"`
		Timestamp         string         `json:"timestamp"`
	} `json:"bounce"`
	Complaint *struct {
		ComplainedRecipients  []sesRecipient `json:"complainedRecipients"`
		ComplaintFeedbackType string         `json:"complaintFeedbackType"`
		Timestamp             string         `json:"timestamp"`
	} `json:"complaint"`
	Mail struct {
		HeadersTruncated bool `json:"headersTruncated"`
		Headers          []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
	} `json:"mail"`
}

type sesRecipient struct {
	EmailAddress string `json:"emailAddress"`
}

func (ses) Parse(body []byte) ([]Event, error) {
	var m snsMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: not an SNS message", ErrMalformed)
	}
	if m.Type != snsNotification {
		return nil, nil
	}
	var s sesEvent
	if err := json.Unmarshal([]byte(m.Message), &s); err != nil {
		return nil, fmt.Errorf("%w: the SNS Message is not an SES event", ErrMalformed)
	}
	typ := s.NotificationType
	if typ == "" {
		typ = s.EventType
	}
	if typ == "" {
		return nil, fmt.Errorf("%w: the SNS Message is not an SES event", ErrMalformed)
	}
	ref := sesRef(&s)
	var (
		kind  consentd.FeedEventKind
		rcpts []sesRecipient
		at    string
	)
	switch {
	case typ == "Bounce" && s.Bounce != nil:
		typ += "/" + s.Bounce.BounceType
		rcpts, at = s.Bounce.BouncedRecipients, s.Bounce.Timestamp
		switch s.Bounce.BounceType {
		case "Permanent":
			kind = consentd.FeedHardBounce
		case "Transient", "Undetermined":
			kind = consentd.FeedSoftBounce
		default:
			kind = consentd.FeedIgnored
		}
	case typ == "Complaint" && s.Complaint != nil:
		rcpts, at = s.Complaint.ComplainedRecipients, s.Complaint.Timestamp
		// A recipient's "not spam" report is the opposite of a complaint.
		kind = consentd.FeedComplaint
		if s.Complaint.ComplaintFeedbackType == "not-spam" {
			kind = consentd.FeedIgnored
		}
	default:
		// Delivery, Send, Reject, Open, Click, DeliveryDelay...
		return []Event{{Kind: consentd.FeedIgnored, ID: "sns:" + m.MessageID, Type: typ}}, nil
	}
	var when time.Time
	if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
		when = t.UTC()
	}
	// One event per recipient, its id the SNS message id and the
	// recipient's place in it: SNS's retries of a message act once.
	out := make([]Event, 0, len(rcpts))
	for i, r := range rcpts {
		out = append(out, Event{Kind: kind, ID: fmt.Sprintf("sns:%s/%d", m.MessageID, i), Recipient: r.EmailAddress, At: when, Ref: ref, Type: typ})
	}
	return out, nil
}

// sesRef returns an SES event's message reference: the X-Consentd-Ref
// header, else the token of the List-Unsubscribe link, among the original
// headers. SES includes those in published events, and in notifications
// when the identity's notifications include original headers; a list SES
// truncated (headersTruncated) may lack them. A message tag cannot carry
// the reference: SES refuses tag values with dots or longer than 256
// characters, and a token has dots and can be longer.
func sesRef(s *sesEvent) string {
	h := make(map[string]string, 2)
	for _, kv := range s.Mail.Headers {
		k := http.CanonicalHeaderKey(kv.Name)
		if _, ok := h[k]; !ok {
			h[k] = kv.Value
		}
	}
	return headerRef(h[RefHeader], h["List-Unsubscribe"])
}

// SNSOptions are how the ses adapter reaches Amazon SNS.
type SNSOptions struct {
	// Client fetches signing certificates and confirms subscriptions; it
	// never follows redirects (the URL's host is what was checked). nil: a
	// client with a 10 second timeout.
	Client *http.Client
	// Roots is the trust store signing certificates must chain to. nil:
	// the system's roots.
	Roots *x509.CertPool
	// Log receives subscription confirmations. nil: slog.Default().
	Log *slog.Logger
}

// SetSNSOptions sets the ses adapter's options and empties its cache of
// certificates. Call it before serving.
func SetSNSOptions(o SNSOptions) { snsCerts.set(o) }

// snsCertCache holds the options and the verified certificates by URL.
type snsCertCache struct {
	mu    sync.Mutex
	opts  SNSOptions
	certs map[string]*x509.Certificate
}

var snsCerts = func() *snsCertCache { c := &snsCertCache{}; c.set(SNSOptions{}); return c }()

func (c *snsCertCache) set(o SNSOptions) {
	client := &http.Client{Timeout: 10 * time.Second}
	if o.Client != nil {
		copied := *o.Client
		client = &copied
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	o.Client = client
	if o.Log == nil {
		o.Log = slog.Default()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opts, c.certs = o, map[string]*x509.Certificate{}
}

func (c *snsCertCache) options() SNSOptions {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opts
}

// snsCacheSize bounds the cache: SNS has one certificate per region at a
// time, and changes it rarely.
const snsCacheSize = 64

// get returns the certificate at u, fetched once, that chains to the
// trust store and is valid at now.
func (c *snsCertCache) get(u string, now time.Time) (*x509.Certificate, error) {
	c.mu.Lock()
	cert, opts := c.certs[u], c.opts
	c.mu.Unlock()
	if cert != nil && !now.Before(cert.NotBefore) && !now.After(cert.NotAfter) {
		return cert, nil
	}
	cert, err := fetchSNSCert(opts, u, now)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.certs) >= snsCacheSize {
		clear(c.certs)
	}
	c.certs[u] = cert
	c.mu.Unlock()
	return cert, nil
}

// fetchSNSCert fetches a PEM certificate (and any intermediates after it)
// and verifies its chain. A certificate that cannot be fetched is an
// error the handler answers with 503, so that SNS retries; one that does
// not verify is unauthenticated.
func fetchSNSCert(o SNSOptions, u string, now time.Time) (*x509.Certificate, error) {
	resp, err := o.Client.Get(u)
	if err != nil {
		return nil, fmt.Errorf("fetch the SNS signing certificate: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		// SNS's host has no such certificate: whoever named it is not SNS.
		return nil, fmt.Errorf("%w: no SNS signing certificate at %s (%s)", ErrUnauthenticated, u, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("fetch the SNS signing certificate %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("fetch the SNS signing certificate %s: %w", u, err)
	}
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: the SNS signing certificate: %v", ErrUnauthenticated, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no certificate at the SNS signing certificate URL", ErrUnauthenticated)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: o.Roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("%w: the SNS signing certificate does not chain to the trust store: %v", ErrUnauthenticated, err)
	}
	return certs[0], nil
}
