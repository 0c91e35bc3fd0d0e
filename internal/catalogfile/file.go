// Package catalogfile is configuration as code (docs/architecture.md (automation)): the
// catalog file that `consentd apply -f catalog.yaml` reads and `consentd
// export-catalog` writes, with the workspace's brand, and purposes, topics,
// rules, webhooks and provider feeds by id,
// and the plan that turns a file into creates and updates.
package catalogfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/consentd/consentd"
	"go.yaml.in/yaml/v3"
)

// File is a catalog file. Its YAML keys are the API's JSON names.
type File struct {
	Workspace *Workspace       `json:"workspace,omitempty"`
	Purposes  []*Purpose       `json:"purposes,omitempty"`
	Topics    []*Topic         `json:"topics,omitempty"`
	Rules     []*consentd.Rule `json:"rules,omitempty"`
	Webhooks  []*Webhook       `json:"webhooks,omitempty"`
	Feeds     []*Feed          `json:"feeds,omitempty"`
}

// Purpose is the writable part of a consentd.Purpose.
type Purpose struct {
	ID           string                             `json:"id"`
	Name         string                             `json:"name"`
	Description  string                             `json:"description,omitempty"`
	Names        map[string]string                  `json:"names,omitempty"`
	Descriptions map[string]string                  `json:"descriptions,omitempty"`
	Type         consentd.PurposeType               `json:"type"`
	Channels     map[string]consentd.ChannelSetting `json:"channels"`
	DoubleOptIn  consentd.DoubleOptIn               `json:"double_opt_in,omitempty"`
	SaleOrShare  bool                               `json:"sale_or_share,omitempty"`
	ExternalIDs  map[string]string                  `json:"external_ids,omitempty"`
}

// Topic is the writable part of a consentd.Topic.
type Topic struct {
	ID                 string            `json:"id"`
	Purpose            string            `json:"purpose"`
	Name               string            `json:"name"`
	Description        string            `json:"description,omitempty"`
	Names              map[string]string `json:"names,omitempty"`
	Descriptions       map[string]string `json:"descriptions,omitempty"`
	ExternalIDs        map[string]string `json:"external_ids,omitempty"`
	ChannelExternalIDs map[string]string `json:"channel_external_ids,omitempty"`
}

// Workspace is the workspace's brand as the file has it (consentd.Brand).
// A field the file leaves out is left as it is; an empty string clears
// it. The logo is an image file: logo_file, a path relative to the
// catalog file, uploaded when its SHA-256 differs from the workspace's
// logo; logo_sha256 is that hash, written by export-catalog (and checked
// against logo_file when both are given). A file with logo_sha256 alone
// leaves the logo as it is.
type Workspace struct {
	SenderName      *string                       `json:"sender_name,omitempty"`
	DefaultLanguage *string                       `json:"default_language,omitempty"`
	AccentColor     *string                       `json:"accent_color,omitempty"`
	PrivacyURL      *string                       `json:"privacy_url,omitempty"`
	Footer          *string                       `json:"footer,omitempty"`
	PublicURL       *string                       `json:"public_url,omitempty"`
	Texts           *map[string]map[string]string `json:"texts,omitempty"`
	LogoFile        string                        `json:"logo_file,omitempty"`
	LogoSHA256      string                        `json:"logo_sha256,omitempty"`
}

// workspaceOf is the brand of ws as a file has it: the fields that are set.
func workspaceOf(ws *consentd.Workspace) *Workspace {
	set := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	w := &Workspace{SenderName: set(ws.SenderName), DefaultLanguage: set(ws.DefaultLanguage), AccentColor: set(ws.AccentColor),
		PrivacyURL: set(ws.PrivacyURL), Footer: set(ws.Footer), PublicURL: set(ws.PublicURL)}
	if len(ws.Texts) > 0 {
		t := make(map[string]map[string]string, len(ws.Texts))
		for lang, m := range ws.Texts {
			t[lang] = cloneMap(m)
		}
		w.Texts = &t
	}
	if ws.Logo != nil {
		w.LogoSHA256 = ws.Logo.SHA256
	}
	if *w == (Workspace{}) {
		return nil
	}
	return w
}

// Webhook is a webhook as the file has it: never its secret, only the
// environment variable that holds it.
type Webhook struct {
	ID        string   `json:"id"`
	URL       string   `json:"url"`
	Events    []string `json:"events,omitempty"`
	SecretEnv string   `json:"secret_env,omitempty"`
	Origin    string   `json:"origin,omitempty"`
}

// Feed is a provider feed as the file has it: never its secret (a
// Postmark password, a Mailgun signing key, a Twilio Auth Token, a Vonage
// signature secret), only the environment
// variable that holds it.
type Feed struct {
	ID         string                     `json:"id"`
	Name       string                     `json:"name,omitempty"`
	Provider   consentd.FeedProvider      `json:"provider"`
	PublicKey  string                     `json:"public_key,omitempty"`
	Username   string                     `json:"username,omitempty"`
	SecretEnv  string                     `json:"secret_env,omitempty"`
	Settings   map[string]string          `json:"settings,omitempty"`
	SoftBounce *consentd.SoftBouncePolicy `json:"soft_bounce,omitempty"`
}

func feedOf(f *consentd.Feed) *Feed {
	out := &Feed{ID: f.ID, Name: f.Name, Provider: f.Provider, PublicKey: f.PublicKey, Username: f.Username, SecretEnv: f.SecretEnv,
		Settings: cloneMap(f.Settings)}
	if f.SoftBounce != (consentd.SoftBouncePolicy{}) {
		sb := f.SoftBounce
		out.SoftBounce = &sb
	}
	return out
}

func (p *Purpose) purpose() *consentd.Purpose {
	return &consentd.Purpose{ID: p.ID, Name: p.Name, Description: p.Description, Names: cloneMap(p.Names), Descriptions: cloneMap(p.Descriptions),
		Type: p.Type, Channels: cloneMap(p.Channels), DoubleOptIn: p.DoubleOptIn, SaleOrShare: p.SaleOrShare, ExternalIDs: p.ExternalIDs}
}

func purposeOf(p *consentd.Purpose) *Purpose {
	return &Purpose{ID: p.ID, Name: p.Name, Description: p.Description, Names: cloneMap(p.Names), Descriptions: cloneMap(p.Descriptions),
		Type: p.Type, Channels: cloneMap(p.Channels), DoubleOptIn: p.DoubleOptIn, SaleOrShare: p.SaleOrShare, ExternalIDs: p.ExternalIDs}
}

func (t *Topic) topic() *consentd.Topic {
	return &consentd.Topic{ID: t.ID, Purpose: t.Purpose, Name: t.Name, Description: t.Description, Names: cloneMap(t.Names), Descriptions: cloneMap(t.Descriptions),
		ExternalIDs: t.ExternalIDs, ChannelExternalIDs: t.ChannelExternalIDs}
}

func topicOf(t *consentd.Topic) *Topic {
	return &Topic{ID: t.ID, Purpose: t.Purpose, Name: t.Name, Description: t.Description, Names: cloneMap(t.Names), Descriptions: cloneMap(t.Descriptions),
		ExternalIDs: t.ExternalIDs, ChannelExternalIDs: t.ChannelExternalIDs}
}

func webhookOf(w *consentd.Webhook) *Webhook {
	return &Webhook{ID: w.ID, URL: w.URL, Events: w.Events, SecretEnv: w.SecretEnv, Origin: w.Origin}
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Parse reads a catalog file, YAML or JSON. Unknown keys are refused, so
// that a misspelt field is not silently ignored; ids must be unique per
// kind.
func Parse(data []byte) (*File, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("catalog file: %w", err)
	}
	if doc == nil {
		return &File{}, nil
	}
	j, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("catalog file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("catalog file: %s", consentd.JSONErrorMessage(err, "the file"))
	}
	if err := f.checkIDs(); err != nil {
		return nil, err
	}
	return &f, nil
}

func (f *File) checkIDs() error {
	seen := map[string]string{}
	check := func(kind, id string) error {
		if id == "" {
			return fmt.Errorf("catalog file: a %s without an id", kind)
		}
		key := kind
		if kind == "purpose" || kind == "topic" {
			key = "purpose or topic" // one namespace
		}
		if prev, ok := seen[key+"\x00"+id]; ok {
			return fmt.Errorf("catalog file: %s %q is defined twice (also as a %s)", kind, id, prev)
		}
		seen[key+"\x00"+id] = kind
		return nil
	}
	for _, p := range f.Purposes {
		if err := check("purpose", p.ID); err != nil {
			return err
		}
	}
	for _, t := range f.Topics {
		if err := check("topic", t.ID); err != nil {
			return err
		}
	}
	for _, r := range f.Rules {
		if err := check("rule", r.ID); err != nil {
			return err
		}
	}
	for _, w := range f.Webhooks {
		if err := check("webhook", w.ID); err != nil {
			return err
		}
	}
	for _, fd := range f.Feeds {
		if err := check("feed", fd.ID); err != nil {
			return err
		}
	}
	return nil
}

// Marshal writes f as YAML, keys in the order of the types' fields, lists
// sorted by id.
func Marshal(f *File) ([]byte, error) {
	g := File{Workspace: f.Workspace, Purposes: slices.Clone(f.Purposes), Topics: slices.Clone(f.Topics), Rules: slices.Clone(f.Rules), Webhooks: slices.Clone(f.Webhooks),
		Feeds: slices.Clone(f.Feeds)}
	sortByID(g.Purposes, func(p *Purpose) string { return p.ID })
	sortByID(g.Topics, func(t *Topic) string { return t.ID })
	sortByID(g.Rules, func(r *consentd.Rule) string { return r.ID })
	sortByID(g.Webhooks, func(w *Webhook) string { return w.ID })
	sortByID(g.Feeds, func(f *Feed) string { return f.ID })
	j, err := json.Marshal(&g)
	if err != nil {
		return nil, err
	}
	// JSON is YAML: decoding it into a node keeps the key order.
	var node yaml.Node
	if err := yaml.Unmarshal(j, &node); err != nil {
		return nil, err
	}
	blockStyle(&node)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&node); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// blockStyle undoes the flow style that decoding JSON gives every node.
func blockStyle(n *yaml.Node) {
	n.Style &^= yaml.FlowStyle
	if n.Kind == yaml.ScalarNode && n.Style&yaml.DoubleQuotedStyle != 0 {
		n.Style &^= yaml.DoubleQuotedStyle // quoted again by the encoder where needed
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

func sortByID[T any](s []T, id func(T) string) {
	sort.Slice(s, func(i, j int) bool { return id(s[i]) < id(s[j]) })
}
