package catalogfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/consentd/consentd"
)

// Store is what applying and exporting a catalog file need of a backend.
type Store interface {
	Workspace(ctx context.Context, id string) (*consentd.Workspace, error)
	UpdateWorkspace(ctx context.Context, id string, u consentd.WorkspaceUpdate, actor string) (*consentd.Workspace, error)
	SetLogo(ctx context.Context, wsID, contentType string, data []byte, actor string) (*consentd.Workspace, error)
	Catalog(ctx context.Context, wsID string) (*consentd.Catalog, error)
	PutPurpose(ctx context.Context, wsID string, p *consentd.Purpose, create bool, actor string) error
	PutTopic(ctx context.Context, wsID string, t *consentd.Topic, create bool, actor string) error
	Rules(ctx context.Context, wsID string) ([]*consentd.Rule, error)
	PutRule(ctx context.Context, wsID string, r *consentd.Rule, actor string) error
	Webhooks(ctx context.Context, wsID string) ([]*consentd.Webhook, error)
	PutWebhook(ctx context.Context, wsID string, w *consentd.Webhook, create bool) error
	Feeds(ctx context.Context, wsID string) ([]*consentd.Feed, error)
	PutFeed(ctx context.Context, wsID string, f *consentd.Feed, create bool) error
}

// Options are what a plan needs besides the store.
type Options struct {
	// Getenv reads a webhook's secret_env.
	Getenv func(string) string
	// CheckRule type-checks a rule's expressions and returns it with its
	// defaults filled in, as the store keeps it (internal/rules).
	CheckRule func(*consentd.Rule) (*consentd.Rule, error)
	// CheckWebhook checks a webhook's target (internal/events).
	CheckWebhook func(*consentd.Webhook) error
	// ConfigureFeed checks a provider feed and sets its stored secret
	// (internal/feeds.Configure); it returns a generated secret, which a
	// file cannot show, so a plan refuses a feed that needs one.
	ConfigureFeed func(*consentd.Feed) (string, error)
	// ReadFile reads a file the catalog file names (the workspace's
	// logo_file), relative to the catalog file.
	ReadFile func(name string) ([]byte, error)
}

// Op is what a change does.
type Op string

// Ops.
const (
	Create Op = "create"
	Update Op = "update"
)

// Change is one create or update of the plan.
type Change struct {
	Kind string   `json:"kind"` // workspace, purpose, topic, rule, webhook, feed
	ID   string   `json:"id"`
	Op   Op       `json:"op"`
	Diff []string `json:"diff,omitempty"` // for updates: "field: old -> new"

	apply func(ctx context.Context, st Store, wsID, actor string) error
}

// Plan is what applying a file would change, in the order it would change
// it (purposes before the topics, rules and webhooks that name them).
type Plan struct {
	Changes   []*Change `json:"changes"`
	Unchanged int       `json:"unchanged"`
}

// Print writes the plan for people: one line per change, a diff line per
// changed field.
func (p *Plan) Print(w io.Writer) {
	for _, c := range p.Changes {
		sign := "+"
		if c.Op == Update {
			sign = "~"
		}
		fmt.Fprintf(w, "%s %s %s\n", sign, c.Kind, c.ID)
		for _, d := range c.Diff {
			fmt.Fprintf(w, "    %s\n", d)
		}
	}
	creates, updates := 0, 0
	for _, c := range p.Changes {
		if c.Op == Create {
			creates++
		} else {
			updates++
		}
	}
	fmt.Fprintf(w, "Plan: %d to create, %d to update, %d unchanged.\n", creates, updates, p.Unchanged)
}

// MakePlan compares f with what the workspace holds. Everything in the file
// is validated first, so that a bad file changes nothing. Objects the
// workspace holds that the file does not name are left alone.
func MakePlan(ctx context.Context, st Store, wsID string, f *File, o Options) (*Plan, error) {
	cat, err := st.Catalog(ctx, wsID)
	if err != nil {
		return nil, err
	}
	rules, err := st.Rules(ctx, wsID)
	if err != nil {
		return nil, err
	}
	hooks, err := st.Webhooks(ctx, wsID)
	if err != nil {
		return nil, err
	}
	plan := &Plan{}
	add := func(kind, id string, cur, want any, apply func(ctx context.Context, st Store, wsID, actor string) error, isNew bool) {
		if isNew {
			plan.Changes = append(plan.Changes, &Change{Kind: kind, ID: id, Op: Create, apply: apply})
			return
		}
		if d := diff(cur, want); len(d) > 0 {
			plan.Changes = append(plan.Changes, &Change{Kind: kind, ID: id, Op: Update, Diff: d, apply: apply})
			return
		}
		plan.Unchanged++
	}

	if f.Workspace != nil {
		if err := planWorkspace(ctx, st, wsID, f.Workspace, o, plan); err != nil {
			return nil, err
		}
	}
	inFile := map[string]bool{}
	for _, fp := range f.Purposes {
		p := fp.purpose()
		p.Normalize()
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("purpose %s: %s", fp.ID, message(err))
		}
		inFile[p.ID] = true
		old := cat.Purposes[p.ID]
		var cur *Purpose
		if old != nil {
			cur = purposeOf(old)
		}
		create := old == nil
		add("purpose", p.ID, cur, purposeOf(p), func(ctx context.Context, st Store, wsID, actor string) error {
			return st.PutPurpose(ctx, wsID, p, create, actor)
		}, create)
	}
	for _, ft := range f.Topics {
		t := ft.topic()
		if t.Purpose == "" || (!inFile[t.Purpose] && cat.Purposes[t.Purpose] == nil) {
			return nil, fmt.Errorf("topic %s: purpose %q is neither in the file nor in the workspace", t.ID, t.Purpose)
		}
		if t.Name == "" {
			return nil, fmt.Errorf("topic %s: name is required", t.ID)
		}
		old := cat.Topics[t.ID]
		var cur *Topic
		if old != nil {
			cur = topicOf(old)
		}
		create := old == nil
		add("topic", t.ID, cur, topicOf(t), func(ctx context.Context, st Store, wsID, actor string) error {
			return st.PutTopic(ctx, wsID, t, create, actor)
		}, create)
	}
	byRule := map[string]*consentd.Rule{}
	for _, r := range rules {
		byRule[r.ID] = r
	}
	for _, r := range f.Rules {
		if o.CheckRule != nil {
			checked, err := o.CheckRule(r)
			if err != nil {
				return nil, fmt.Errorf("rule %s: %s", r.ID, message(err))
			}
			r = checked
		}
		old := byRule[r.ID]
		add("rule", r.ID, old, r, func(ctx context.Context, st Store, wsID, actor string) error {
			return st.PutRule(ctx, wsID, r, actor)
		}, old == nil)
	}
	byHook := map[string]*consentd.Webhook{}
	for _, w := range hooks {
		byHook[w.ID] = w
	}
	for _, fw := range f.Webhooks {
		w := &consentd.Webhook{ID: fw.ID, URL: fw.URL, Events: fw.Events, SecretEnv: fw.SecretEnv, Origin: fw.Origin}
		old := byHook[w.ID]
		if fw.SecretEnv != "" {
			if o.Getenv != nil {
				w.Secret = o.Getenv(fw.SecretEnv)
			}
			if w.Secret == "" && old == nil {
				return nil, fmt.Errorf("webhook %s: the environment variable %s named by secret_env is not set", w.ID, fw.SecretEnv)
			}
		}
		if o.CheckWebhook != nil {
			if err := o.CheckWebhook(w); err != nil {
				return nil, fmt.Errorf("webhook %s: %s", w.ID, message(err))
			}
		}
		var cur *Webhook
		secretChanged := false
		if old != nil {
			cur = webhookOf(old)
			secretChanged = w.Secret != "" && w.Secret != old.Secret
			if w.Secret == "" {
				w.Secret = old.Secret // no secret in the environment: keep the stored one
			}
			// A webhook disabled by failed deliveries stays disabled:
			// re-enabling it is the API's (PATCH), not the file's.
			w.Disabled, w.DisabledReason = old.Disabled, old.DisabledReason
		}
		want := webhookOf(w)
		create := old == nil
		apply := func(ctx context.Context, st Store, wsID, actor string) error {
			return st.PutWebhook(ctx, wsID, w, create)
		}
		if secretChanged {
			plan.Changes = append(plan.Changes, &Change{Kind: "webhook", ID: w.ID, Op: Update, Diff: append(diff(cur, want), "secret: (changed)"), apply: apply})
			continue
		}
		add("webhook", w.ID, cur, want, apply, create)
	}
	if len(f.Feeds) > 0 {
		if err := planFeeds(ctx, st, wsID, f.Feeds, o, plan, add); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

// planFeeds adds the creates and updates of provider feeds to plan. A
// feed's secret comes from the environment variable secret_env names; a
// feed that has one stored keeps it when the variable is not set.
func planFeeds(ctx context.Context, st Store, wsID string, feeds []*Feed, o Options, plan *Plan,
	add func(kind, id string, cur, want any, apply func(ctx context.Context, st Store, wsID, actor string) error, isNew bool)) error {
	stored, err := st.Feeds(ctx, wsID)
	if err != nil {
		return err
	}
	byID := map[string]*consentd.Feed{}
	for _, fd := range stored {
		byID[fd.ID] = fd
	}
	for _, ff := range feeds {
		fd := &consentd.Feed{ID: ff.ID, Name: ff.Name, Provider: ff.Provider, PublicKey: ff.PublicKey, Username: ff.Username, SecretEnv: ff.SecretEnv,
			Settings: cloneMap(ff.Settings)}
		if ff.SoftBounce != nil {
			fd.SoftBounce = *ff.SoftBounce
		}
		old := byID[fd.ID]
		if ff.SecretEnv != "" && o.Getenv != nil {
			fd.Secret = o.Getenv(ff.SecretEnv)
		}
		if ff.SecretEnv != "" && fd.Secret == "" && old == nil {
			return fmt.Errorf("feed %s: the environment variable %s named by secret_env is not set", fd.ID, ff.SecretEnv)
		}
		if old != nil && fd.Secret == "" && old.Provider == fd.Provider {
			fd.StoredSecret = old.StoredSecret // no secret in the environment: keep the stored one
		}
		if o.ConfigureFeed != nil {
			shown, err := o.ConfigureFeed(fd)
			if err != nil {
				return fmt.Errorf("feed %s: %s", fd.ID, message(err))
			}
			if shown != "" {
				return fmt.Errorf("feed %s: a %s feed needs secret_env: the environment variable that holds its secret", fd.ID, fd.Provider)
			}
		}
		var cur *Feed
		if old != nil {
			cur = feedOf(old)
		}
		want := feedOf(fd)
		create := old == nil
		apply := func(ctx context.Context, st Store, wsID, actor string) error {
			return st.PutFeed(ctx, wsID, fd, create)
		}
		if old != nil && fd.StoredSecret != old.StoredSecret {
			plan.Changes = append(plan.Changes, &Change{Kind: "feed", ID: fd.ID, Op: Update, Diff: append(diff(cur, want), "secret: (changed)"), apply: apply})
			continue
		}
		add("feed", fd.ID, cur, want, apply, create)
	}
	return nil
}

// Apply carries out the plan's changes in order. It stops at the first
// error; what was applied before it stays (each change is one logged
// transaction), and applying the file again finishes the job.
func Apply(ctx context.Context, st Store, wsID string, p *Plan, actor string) error {
	for _, c := range p.Changes {
		if err := c.apply(ctx, st, wsID, actor); err != nil {
			return fmt.Errorf("%s %s %s: %s", c.Op, c.Kind, c.ID, message(err))
		}
	}
	return nil
}

// Export reads the workspace's brand, catalog, rules, webhooks and feeds
// back into a file. The logo is named by its logo_sha256 only: the caller
// writes the image where it wants and sets logo_file.
func Export(ctx context.Context, st Store, wsID string) (*File, error) {
	cat, err := st.Catalog(ctx, wsID)
	if err != nil {
		return nil, err
	}
	ws, err := st.Workspace(ctx, wsID)
	if err != nil {
		return nil, err
	}
	f := &File{Workspace: workspaceOf(ws)}
	for _, p := range cat.Purposes {
		f.Purposes = append(f.Purposes, purposeOf(p))
	}
	for _, t := range cat.Topics {
		f.Topics = append(f.Topics, topicOf(t))
	}
	if f.Rules, err = st.Rules(ctx, wsID); err != nil {
		return nil, err
	}
	hooks, err := st.Webhooks(ctx, wsID)
	if err != nil {
		return nil, err
	}
	for _, w := range hooks {
		f.Webhooks = append(f.Webhooks, webhookOf(w))
	}
	feeds, err := st.Feeds(ctx, wsID)
	if err != nil {
		return nil, err
	}
	for _, fd := range feeds {
		f.Feeds = append(f.Feeds, feedOf(fd))
	}
	return f, nil
}

// diff lists the top-level JSON fields that differ between cur and want,
// as "field: old -> new".
func diff(cur, want any) []string {
	a, b := fields(cur), fields(want)
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		if !reflect.DeepEqual(a[k], b[k]) {
			out = append(out, fmt.Sprintf("%s: %s -> %s", k, show(a[k]), show(b[k])))
		}
	}
	sort.Strings(out)
	return out
}

func fields(v any) map[string]any {
	m := map[string]any{}
	if v == nil || reflect.ValueOf(v).IsNil() {
		return m
	}
	b, _ := json.Marshal(v)
	json.Unmarshal(b, &m)
	return m
}

func show(v any) string {
	if v == nil {
		return "(none)"
	}
	b, _ := json.Marshal(v)
	return strings.TrimSpace(string(b))
}

// message is an error as a person reads it: a consentd error's message
// with the field it names, or the error's text.
func message(err error) string {
	var e *consentd.Error
	if errors.As(err, &e) {
		if len(e.Fields) > 0 && !strings.Contains(e.Message, e.Fields[0].Field) {
			return e.Fields[0].Field + ": " + e.Message
		}
		return e.Message
	}
	return err.Error()
}
