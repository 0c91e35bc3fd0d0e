package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/consentd/consentd"
)

// This file holds one method per operation of the API, in the order of the
// server's route table. operations.go lists them by method and path.

// ---- workspace ----

// GetWorkspace returns the key's workspace settings.
func (c *Client) GetWorkspace(ctx context.Context) (*consentd.Workspace, error) {
	var out consentd.Workspace
	_, err := c.do(ctx, "GET", "/v1/workspace", nil, nil, &out)
	return ret(&out, err)
}

// UpdateWorkspace changes the workspace's settings (admin).
func (c *Client) UpdateWorkspace(ctx context.Context, u consentd.WorkspaceUpdate) (*consentd.Workspace, error) {
	var out consentd.Workspace
	_, err := c.do(ctx, "PATCH", "/v1/workspace", nil, u, &out)
	return ret(&out, err)
}

// Texts lists every text of the public pages, mails and texts: its key,
// placeholders, shipped wording per language and the workspace's
// overrides (GET /v1/texts).
func (c *Client) Texts(ctx context.Context) (*TextList, error) {
	var out TextList
	_, err := c.do(ctx, "GET", "/v1/texts", nil, nil, &out)
	return ret(&out, err)
}

// SetLogo uploads the workspace's logo (admin): data is a PNG, JPEG, GIF
// or WebP image of contentType ("image/png"), at most 256 KiB and
// 2048x2048 pixels. The answer's Logo.URL is where consentd serves it.
func (c *Client) SetLogo(ctx context.Context, contentType string, data []byte) (*consentd.Workspace, error) {
	r := &request{method: "PUT", path: "/v1/workspace/logo", body: bytes.NewReader(data), ctype: contentType, accept: "application/json", size: int64(len(data))}
	var out consentd.Workspace
	_, err := c.call(ctx, r, &out)
	return ret(&out, err)
}

// DeleteLogo removes the workspace's logo (admin).
func (c *Client) DeleteLogo(ctx context.Context) (*consentd.Workspace, error) {
	var out consentd.Workspace
	_, err := c.do(ctx, "DELETE", "/v1/workspace/logo", nil, nil, &out)
	return ret(&out, err)
}

// GetLogo fetches a workspace's logo at its Logo.URL (a path on the
// server, "/brand/..."; public: the key is not needed). It returns the
// image and its media type; 404 when the logo was replaced or removed.
func (c *Client) GetLogo(ctx context.Context, path string) ([]byte, string, error) {
	resp, err := c.send(ctx, &request{method: "GET", path: path, accept: "image/*"})
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, consentd.MaxLogoBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: reading the logo: %w", path, err)
	}
	return data, resp.Header.Get("Content-Type"), nil
}

// TextList is GET /v1/texts's answer.
type TextList struct {
	Languages []string `json:"languages"` // the shipped languages, English first
	Texts     []Text   `json:"texts"`
}

// Text is one text of the public pages, mails and texts.
type Text struct {
	Key          string            `json:"key"`
	Placeholders []string          `json:"placeholders,omitempty"` // the {names} an override may use
	Shipped      map[string]string `json:"shipped"`                // language → shipped text
	Overrides    map[string]string `json:"overrides,omitempty"`    // language → the workspace's override
}

// ---- catalog ----

// ListPurposes returns every purpose, by id.
func (c *Client) ListPurposes(ctx context.Context) ([]*consentd.Purpose, error) {
	var out struct {
		Purposes []*consentd.Purpose `json:"purposes"`
	}
	_, err := c.do(ctx, "GET", "/v1/purposes", nil, nil, &out)
	return out.Purposes, err
}

// CreatePurpose creates a purpose (admin); 409 conflict when the id exists.
func (c *Client) CreatePurpose(ctx context.Context, in PurposeInput) (*consentd.Purpose, error) {
	var out consentd.Purpose
	_, err := c.do(ctx, "POST", "/v1/purposes", nil, in, &out)
	return ret(&out, err)
}

// GetPurpose returns one purpose.
func (c *Client) GetPurpose(ctx context.Context, id string) (*consentd.Purpose, error) {
	var out consentd.Purpose
	_, err := c.do(ctx, "GET", "/v1/purposes/"+esc(id), nil, nil, &out)
	return ret(&out, err)
}

// UpdatePurpose changes a purpose with an RFC 7396 JSON merge patch (admin):
// patch is a map[string]any, a json.RawMessage or a struct whose JSON
// holds only the members to change; a null member removes it.
func (c *Client) UpdatePurpose(ctx context.Context, id string, patch any) (*consentd.Purpose, error) {
	var out consentd.Purpose
	_, err := c.do(ctx, "PATCH", "/v1/purposes/"+esc(id), nil, patch, &out)
	return ret(&out, err)
}

// DeletePurpose deletes a purpose that has no topics (admin).
func (c *Client) DeletePurpose(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", "/v1/purposes/"+esc(id), nil, nil, nil)
	return err
}

// ListTopics returns every topic, by id.
func (c *Client) ListTopics(ctx context.Context) ([]*consentd.Topic, error) {
	var out struct {
		Topics []*consentd.Topic `json:"topics"`
	}
	_, err := c.do(ctx, "GET", "/v1/topics", nil, nil, &out)
	return out.Topics, err
}

// CreateTopic creates a topic (admin); 409 conflict when the id exists.
func (c *Client) CreateTopic(ctx context.Context, in TopicInput) (*consentd.Topic, error) {
	var out consentd.Topic
	_, err := c.do(ctx, "POST", "/v1/topics", nil, in, &out)
	return ret(&out, err)
}

// GetTopic returns one topic.
func (c *Client) GetTopic(ctx context.Context, id string) (*consentd.Topic, error) {
	var out consentd.Topic
	_, err := c.do(ctx, "GET", "/v1/topics/"+esc(id), nil, nil, &out)
	return ret(&out, err)
}

// UpdateTopic changes a topic with a JSON merge patch (admin), as
// UpdatePurpose does.
func (c *Client) UpdateTopic(ctx context.Context, id string, patch any) (*consentd.Topic, error) {
	var out consentd.Topic
	_, err := c.do(ctx, "PATCH", "/v1/topics/"+esc(id), nil, patch, &out)
	return ret(&out, err)
}

// DeleteTopic deletes a topic (admin).
func (c *Client) DeleteTopic(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", "/v1/topics/"+esc(id), nil, nil, nil)
	return err
}

// ListChannelTypes returns the channel types the catalog derives, with
// their external ids.
func (c *Client) ListChannelTypes(ctx context.Context) ([]consentd.ChannelType, error) {
	var out struct {
		ChannelTypes []consentd.ChannelType `json:"channel_types"`
	}
	_, err := c.do(ctx, "GET", "/v1/channel-types", nil, nil, &out)
	return out.ChannelTypes, err
}

// ---- consents ----

// WriteConsent records one consent: an upsert ordered by captured_at.
// Repeating it is safe (the second answers outcome "unchanged").
func (c *Client) WriteConsent(ctx context.Context, w consentd.ConsentWrite) (*WriteAnswer, error) {
	var out WriteAnswer
	_, err := c.do(ctx, "POST", "/v1/consents", nil, w, &out)
	return ret(&out, err)
}

// WriteConsents records up to 10,000 consents in one transaction. The
// answer holds one item per write, in order: a write the server refused
// has Error set and the others are stored. The error is for the batch as a
// whole (malformed, too large, ...).
func (c *Client) WriteConsents(ctx context.Context, ws []consentd.ConsentWrite) ([]WriteItem, error) {
	in := struct {
		Consents []consentd.ConsentWrite `json:"consents"`
	}{ws}
	if in.Consents == nil {
		in.Consents = []consentd.ConsentWrite{}
	}
	var out struct {
		Results []WriteItem `json:"results"`
	}
	_, err := c.do(ctx, "POST", "/v1/consents:batch", nil, in, &out)
	return out.Results, err
}

// ListConsents returns one page of the consents f selects (GET
// /v1/consents); f.PageToken is the previous page's NextPageToken. See
// AllConsents for every page.
func (c *Client) ListConsents(ctx context.Context, f consentd.ConsentFilter) (*ConsentPage, error) {
	q := url.Values{}
	set(q, "contact_point", f.ContactPoint)
	set(q, "party_id", f.PartyID)
	set(q, "purpose", f.Purpose)
	set(q, "channel", f.Channel)
	set(q, "status", string(f.Status))
	set(q, "page_token", f.PageToken)
	setInt(q, "limit", int64(f.Limit))
	var out ConsentPage
	_, err := c.do(ctx, "GET", "/v1/consents", q, nil, &out)
	return ret(&out, err)
}

// AllConsents yields every consent f selects, reading page after page
// from f.PageToken on; iteration stops at the first error, which it
// yields.
func (c *Client) AllConsents(ctx context.Context, f consentd.ConsentFilter) iter.Seq2[*consentd.Consent, error] {
	return pages(f.PageToken, func(token string) ([]*consentd.Consent, string, error) {
		f.PageToken = token
		p, err := c.ListConsents(ctx, f)
		if err != nil {
			return nil, "", err
		}
		return p.Consents, p.NextPageToken, nil
	})
}

// SearchConsents is ListConsents with the filter in the body (POST
// /v1/consents:search): for filters too long or too personal for a URL.
func (c *Client) SearchConsents(ctx context.Context, f consentd.ConsentFilter) (*ConsentPage, error) {
	var out ConsentPage
	_, err := c.do(ctx, "POST", "/v1/consents:search", nil, f, &out)
	return ret(&out, err)
}

// GetConsent returns a consent by id ("<contact point>#<channel type id>"):
// now, or with at.AsOf and at.KnownAt the one in effect at a time (404
// not_in_effect when none was).
func (c *Client) GetConsent(ctx context.Context, id string, at consentd.Times) (*consentd.Consent, error) {
	q := url.Values{}
	setTime(q, "as_of", at.AsOf)
	setTime(q, "known_at", at.KnownAt)
	var out consentd.Consent
	_, err := c.do(ctx, "GET", "/v1/consents/"+esc(id), q, nil, &out)
	return ret(&out, err)
}

// ConsentHistory returns a consent's log entries, oldest first.
func (c *Client) ConsentHistory(ctx context.Context, id string) ([]consentd.LogRecord, error) {
	var out LogPage
	_, err := c.do(ctx, "GET", "/v1/consents/"+esc(id)+"/history", nil, nil, &out)
	return out.Entries, err
}

// GetReceipt returns the consent's latest log entry with its inclusion
// proof and a signed checkpoint.
func (c *Client) GetReceipt(ctx context.Context, id string) (*Receipt, error) {
	var out Receipt
	_, err := c.do(ctx, "GET", "/v1/consents/"+esc(id)+"/receipt", nil, nil, &out)
	return ret(&out, err)
}

// GetReceiptTLogProof returns the same receipt as C2SP tlog-proof text
// (Accept: text/x.tlog-proof).
func (c *Client) GetReceiptTLogProof(ctx context.Context, id string) ([]byte, error) {
	r := &request{method: "GET", path: "/v1/consents/" + esc(id) + "/receipt", accept: "text/x.tlog-proof"}
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, wrap(r, "reading the answer", err)
	}
	return b, nil
}

// ---- decisions ----

// Decide answers whether a message of a purpose (and topic) may go to a
// contact point on a channel now.
func (c *Client) Decide(ctx context.Context, req consentd.DecisionRequest) (*consentd.DecisionResult, error) {
	var out consentd.DecisionResult
	_, err := c.do(ctx, "POST", "/v1/decisions", nil, req, &out)
	return ret(&out, err)
}

// DecideBatch decides many contact points for one purpose, topic and
// channel in one JSON request (at most 100,000; DecideStream has no
// bound). The items are in the order of b.ContactPoints; with OnlyAllowed
// only the allowed ones are answered.
func (c *Client) DecideBatch(ctx context.Context, b DecisionBatch) ([]DecisionItem, error) {
	q := url.Values{}
	if b.OnlyAllowed {
		q.Set("only", "allowed")
	}
	if b.ContactPoints == nil {
		b.ContactPoints = []string{}
	}
	var out struct {
		Results []DecisionItem `json:"results"`
	}
	_, err := c.do(ctx, "POST", "/v1/decisions:batch", q, b, &out)
	return out.Results, err
}

// ---- parties ----

// PartyInput is the writable part of a party (PUT /v1/parties/{id}).
type PartyInput struct {
	ContactPoints []consentd.PartyContactPoint `json:"contact_points"`
	ExternalIDs   map[string]string            `json:"external_ids,omitempty"`
	// Language is the person's language, a BCP 47 tag ("de", "pt-BR").
	Language string `json:"language,omitempty"`
}

// PutParty creates or replaces a party.
func (c *Client) PutParty(ctx context.Context, id string, in PartyInput) (*consentd.Party, error) {
	if in.ContactPoints == nil {
		in.ContactPoints = []consentd.PartyContactPoint{}
	}
	var out consentd.Party
	_, err := c.do(ctx, "PUT", "/v1/parties/"+esc(id), nil, in, &out)
	return ret(&out, err)
}

// GetParty returns a party.
func (c *Client) GetParty(ctx context.Context, id string) (*consentd.Party, error) {
	var out consentd.Party
	_, err := c.do(ctx, "GET", "/v1/parties/"+esc(id), nil, nil, &out)
	return ret(&out, err)
}

// PartyConsents returns every consent of the party's contact points.
func (c *Client) PartyConsents(ctx context.Context, id string) ([]*consentd.Consent, error) {
	var out ConsentPage
	_, err := c.do(ctx, "GET", "/v1/parties/"+esc(id)+"/consents", nil, nil, &out)
	return out.Consents, err
}

// OptOutAll is an agent's opt-out of a party: opted_out on every channel
// type of every contact point of the party, now. reason ("" for none) is
// recorded on each consent.
func (c *Client) OptOutAll(ctx context.Context, partyID, reason string) (*OptOutAllAnswer, error) {
	var in any
	if reason != "" {
		in = struct {
			Reason string `json:"reason"`
		}{reason}
	}
	var out OptOutAllAnswer
	_, err := c.do(ctx, "POST", "/v1/parties/"+esc(partyID)+":opt-out-all", nil, in, &out)
	return ret(&out, err)
}

// ---- suppressions ----

// ListSuppressions returns the workspace's suppressions.
func (c *Client) ListSuppressions(ctx context.Context) ([]*consentd.Suppression, error) {
	var out struct {
		Suppressions []*consentd.Suppression `json:"suppressions"`
	}
	_, err := c.do(ctx, "GET", "/v1/suppressions", nil, nil, &out)
	return out.Suppressions, err
}

// CreateSuppression suppresses a contact point.
func (c *Client) CreateSuppression(ctx context.Context, in consentd.SuppressionInput) (*consentd.Suppression, error) {
	var out consentd.Suppression
	_, err := c.do(ctx, "POST", "/v1/suppressions", nil, in, &out)
	return ret(&out, err)
}

// DeleteSuppression lifts a suppression (admin).
func (c *Client) DeleteSuppression(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", "/v1/suppressions/"+esc(id), nil, nil, nil)
	return err
}

// ---- keys ----

// ListKeys returns the workspace's API keys, without secrets (admin).
func (c *Client) ListKeys(ctx context.Context) ([]*consentd.APIKey, error) {
	var out struct {
		Keys []*consentd.APIKey `json:"keys"`
	}
	_, err := c.do(ctx, "GET", "/v1/keys", nil, nil, &out)
	return out.Keys, err
}

// CreateKey creates an API key (admin); the answer's Key is the secret,
// shown this once.
func (c *Client) CreateKey(ctx context.Context, role consentd.Role, name string) (*KeyAnswer, error) {
	in := struct {
		Role consentd.Role `json:"role"`
		Name string        `json:"name,omitempty"`
	}{role, name}
	var out KeyAnswer
	_, err := c.do(ctx, "POST", "/v1/keys", nil, in, &out)
	return ret(&out, err)
}

// DeleteKey deletes an API key (admin).
func (c *Client) DeleteKey(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", "/v1/keys/"+esc(id), nil, nil, nil)
	return err
}

// ---- log ----

// GetLog returns up to limit log entries after the sequence number after
// (limit 0: the server's default, 100). The page's Next is the after of
// the next page, 0 when this page was not full. See AllLog.
func (c *Client) GetLog(ctx context.Context, after int64, limit int) (*LogPage, error) {
	q := url.Values{}
	setInt(q, "after", after)
	setInt(q, "limit", int64(limit))
	var out LogPage
	_, err := c.do(ctx, "GET", "/v1/log", q, nil, &out)
	return ret(&out, err)
}

// AllLog yields every log entry after the sequence number after.
func (c *Client) AllLog(ctx context.Context, after int64) iter.Seq2[consentd.LogRecord, error] {
	return pages(strconv.FormatInt(after, 10), func(token string) ([]consentd.LogRecord, string, error) {
		n, _ := strconv.ParseInt(token, 10, 64)
		p, err := c.GetLog(ctx, n, 0)
		if err != nil {
			return nil, "", err
		}
		return p.Entries, intToken(p.Next), nil
	})
}

// VerifyLog has the server recompute the log's tree, check every
// checkpoint, and compare the log's replay with the stored state.
func (c *Client) VerifyLog(ctx context.Context) (*VerifyReport, error) {
	var out VerifyReport
	_, err := c.do(ctx, "GET", "/v1/log/verify", nil, nil, &out)
	return ret(&out, err)
}

// CreateCheckpoint has the server sign a checkpoint of the log now.
func (c *Client) CreateCheckpoint(ctx context.Context) (*Checkpoint, error) {
	var out Checkpoint
	_, err := c.do(ctx, "POST", "/v1/log/checkpoints", nil, nil, &out)
	return ret(&out, err)
}

// LatestCheckpoint returns the newest signed checkpoint with its public
// key.
func (c *Client) LatestCheckpoint(ctx context.Context) (*Checkpoint, error) {
	var out Checkpoint
	_, err := c.do(ctx, "GET", "/v1/log/checkpoints/latest", nil, nil, &out)
	return ret(&out, err)
}

// ListCheckpoints returns one page of stored checkpoints by tree size; the
// page's Next is the From of the next page (0: the last page).
func (c *Client) ListCheckpoints(ctx context.Context, q CheckpointQuery) (*CheckpointPage, error) {
	v := url.Values{}
	setInt(v, "from", q.From)
	setInt(v, "to", q.To)
	setInt(v, "limit", int64(q.Limit))
	var out CheckpointPage
	_, err := c.do(ctx, "GET", "/v1/log/checkpoints", v, nil, &out)
	return ret(&out, err)
}

// AllCheckpoints yields every stored checkpoint q selects, page after
// page.
func (c *Client) AllCheckpoints(ctx context.Context, q CheckpointQuery) iter.Seq2[StoredCheckpoint, error] {
	return pages(strconv.FormatInt(q.From, 10), func(token string) ([]StoredCheckpoint, string, error) {
		q.From, _ = strconv.ParseInt(token, 10, 64)
		p, err := c.ListCheckpoints(ctx, q)
		if err != nil {
			return nil, "", err
		}
		return p.Checkpoints, intToken(p.Next), nil
	})
}

// ConsistencyProof returns an RFC 6962 consistency proof between the tree
// sizes old and new, with the checkpoints stored at them.
func (c *Client) ConsistencyProof(ctx context.Context, old, new int64) (*ConsistencyProof, error) {
	q := url.Values{"old": {strconv.FormatInt(old, 10)}, "new": {strconv.FormatInt(new, 10)}}
	var out ConsistencyProof
	_, err := c.do(ctx, "GET", "/v1/log/proof", q, nil, &out)
	return ret(&out, err)
}

// ---- links ----

// CreateLink makes a signed unsubscribe or preference link and its
// List-Unsubscribe headers.
func (c *Client) CreateLink(ctx context.Context, in LinkInput) (*Link, error) {
	var out Link
	_, err := c.do(ctx, "POST", "/v1/links", nil, in, &out)
	return ret(&out, err)
}

// SendPreferenceLink has the server mail the e-mail address a signed link
// to its preference page (valid 30 days), through a durable link_mail
// job; it returns the job's id.
func (c *Client) SendPreferenceLink(ctx context.Context, contactPoint string) (string, error) {
	var out struct {
		JobID string `json:"job_id"`
	}
	_, err := c.do(ctx, "POST", "/v1/links:send", nil, map[string]string{"contact_point": contactPoint}, &out)
	return out.JobID, err
}

// ---- inbound SMS, data-subject requests ----

// ReceiveSMS hands the server an SMS reply from a provider's webhook: an
// opt-out keyword opts the number out of SMS; other text is kept for
// review. A reply with a message id seen before is answered Duplicate.
func (c *Client) ReceiveSMS(ctx context.Context, in consentd.InboundSMS) (*consentd.InboundResult, error) {
	var out consentd.InboundResult
	_, err := c.do(ctx, "POST", "/v1/inbound/sms", nil, in, &out)
	return ret(&out, err)
}

// ListInboundSMS returns one page of stored SMS replies; q.State is review
// (the default), resolved, opted_out or all.
func (c *Client) ListInboundSMS(ctx context.Context, q PageQuery) (*InboundPage, error) {
	var out InboundPage
	_, err := c.do(ctx, "GET", "/v1/inbound/sms", q.values(), nil, &out)
	return ret(&out, err)
}

// AllInboundSMS yields every stored SMS reply q selects, page after page.
func (c *Client) AllInboundSMS(ctx context.Context, q PageQuery) iter.Seq2[*consentd.InboundMessage, error] {
	return pages(q.PageToken, func(token string) ([]*consentd.InboundMessage, string, error) {
		q.PageToken = token
		p, err := c.ListInboundSMS(ctx, q)
		if err != nil {
			return nil, "", err
		}
		return p.Messages, p.NextPageToken, nil
	})
}

// ResolveInboundSMS marks an SMS reply reviewed; action opt_out opts the
// number out as a keyword does.
func (c *Client) ResolveInboundSMS(ctx context.Context, id string, in consentd.InboundResolution) (*consentd.InboundResult, error) {
	var out consentd.InboundResult
	_, err := c.do(ctx, "POST", "/v1/inbound/sms/"+esc(id)+":resolve", nil, in, &out)
	return ret(&out, err)
}

// CreateRequest files a data-subject request, which the server carries
// out in the background.
func (c *Client) CreateRequest(ctx context.Context, in consentd.RequestInput) (*consentd.Request, error) {
	var out consentd.Request
	_, err := c.do(ctx, "POST", "/v1/requests", nil, in, &out)
	return ret(&out, err)
}

// ListRequests returns one page of data-subject requests; q.State is
// pending, completed, failed or "" for all.
func (c *Client) ListRequests(ctx context.Context, q PageQuery) (*RequestPage, error) {
	var out RequestPage
	_, err := c.do(ctx, "GET", "/v1/requests", q.values(), nil, &out)
	return ret(&out, err)
}

// AllRequests yields every data-subject request q selects, page after
// page.
func (c *Client) AllRequests(ctx context.Context, q PageQuery) iter.Seq2[*consentd.Request, error] {
	return pages(q.PageToken, func(token string) ([]*consentd.Request, string, error) {
		q.PageToken = token
		p, err := c.ListRequests(ctx, q)
		if err != nil {
			return nil, "", err
		}
		return p.Requests, p.NextPageToken, nil
	})
}

// GetRequest returns a data-subject request: its state, due date, result
// and errors.
func (c *Client) GetRequest(ctx context.Context, id string) (*consentd.Request, error) {
	var out consentd.Request
	_, err := c.do(ctx, "GET", "/v1/requests/"+esc(id), nil, nil, &out)
	return ret(&out, err)
}

// GetAccessReport returns the report of a completed access request (409
// conflict while it is pending).
func (c *Client) GetAccessReport(ctx context.Context, id string) (*consentd.AccessReport, error) {
	var out consentd.AccessReport
	_, err := c.do(ctx, "GET", "/v1/requests/"+esc(id)+"/report", nil, nil, &out)
	return ret(&out, err)
}

// ---- records, rules, jobs ----

// PutRecord hands the server a CRM record (rec.Type, rec.ID, rec.Fields,
// and rec.Origin, the system it comes from): each rule on its type and
// change enqueues a job; an unchanged record runs none.
func (c *Client) PutRecord(ctx context.Context, rec consentd.Record) (*RecordAnswer, error) {
	q := url.Values{}
	set(q, "origin", rec.Origin)
	fields := rec.Fields
	if fields == nil {
		fields = map[string]any{}
	}
	var out RecordAnswer
	_, err := c.do(ctx, "PUT", "/v1/records/"+esc(rec.Type)+"/"+esc(rec.ID), q, fields, &out)
	return ret(&out, err)
}

// ListRules returns every rule.
func (c *Client) ListRules(ctx context.Context) ([]*consentd.Rule, error) {
	var out struct {
		Rules []*consentd.Rule `json:"rules"`
	}
	_, err := c.do(ctx, "GET", "/v1/rules", nil, nil, &out)
	return out.Rules, err
}

// GetRule returns a rule.
func (c *Client) GetRule(ctx context.Context, id string) (*consentd.Rule, error) {
	var out consentd.Rule
	_, err := c.do(ctx, "GET", "/v1/rules/"+esc(id), nil, nil, &out)
	return ret(&out, err)
}

// PutRule creates or replaces the rule r.ID (admin); its CEL expressions
// are type-checked (invalid_rule names the field).
func (c *Client) PutRule(ctx context.Context, r consentd.Rule) (*consentd.Rule, error) {
	var out consentd.Rule
	_, err := c.do(ctx, "PUT", "/v1/rules/"+esc(r.ID), nil, r, &out)
	return ret(&out, err)
}

// DeleteRule deletes a rule (admin).
func (c *Client) DeleteRule(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", "/v1/rules/"+esc(id), nil, nil, nil)
	return err
}

// ListJobs returns one page of jobs; q.State is queued, running,
// succeeded, failed (the default) or all.
func (c *Client) ListJobs(ctx context.Context, q PageQuery) (*JobPage, error) {
	var out JobPage
	_, err := c.do(ctx, "GET", "/v1/jobs", q.values(), nil, &out)
	return ret(&out, err)
}

// AllJobs yields every job q selects, page after page.
func (c *Client) AllJobs(ctx context.Context, q PageQuery) iter.Seq2[*consentd.Job, error] {
	return pages(q.PageToken, func(token string) ([]*consentd.Job, string, error) {
		q.PageToken = token
		p, err := c.ListJobs(ctx, q)
		if err != nil {
			return nil, "", err
		}
		return p.Jobs, p.NextPageToken, nil
	})
}

// GetJob returns a job.
func (c *Client) GetJob(ctx context.Context, id string) (*consentd.Job, error) {
	var out consentd.Job
	_, err := c.do(ctx, "GET", "/v1/jobs/"+esc(id), nil, nil, &out)
	return ret(&out, err)
}

// RetryJob queues a failed job again, its attempts reset (409 conflict for
// a job that did not fail).
func (c *Client) RetryJob(ctx context.Context, id string) (*consentd.Job, error) {
	var out consentd.Job
	_, err := c.do(ctx, "POST", "/v1/jobs/"+esc(id)+":retry", nil, nil, &out)
	return ret(&out, err)
}

// ---- provider feeds ----

// ListFeeds returns the workspace's provider feeds (secrets are never
// shown).
func (c *Client) ListFeeds(ctx context.Context) ([]*consentd.Feed, error) {
	var out struct {
		Feeds []*consentd.Feed `json:"feeds"`
	}
	_, err := c.do(ctx, "GET", "/v1/feeds", nil, nil, &out)
	return out.Feeds, err
}

// CreateFeed creates a provider feed (admin); its URL is where the
// provider posts. A Postmark password generated by the server is in this
// answer only (Secret).
func (c *Client) CreateFeed(ctx context.Context, f FeedInput) (*consentd.Feed, error) {
	var out consentd.Feed
	_, err := c.do(ctx, "POST", "/v1/feeds", nil, f, &out)
	return ret(&out, err)
}

// GetFeed returns a provider feed.
func (c *Client) GetFeed(ctx context.Context, id string) (*consentd.Feed, error) {
	var out consentd.Feed
	_, err := c.do(ctx, "GET", "/v1/feeds/"+esc(id), nil, nil, &out)
	return ret(&out, err)
}

// DeleteFeed deletes a provider feed (admin).
func (c *Client) DeleteFeed(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", "/v1/feeds/"+esc(id), nil, nil, nil)
	return err
}

// ---- webhooks ----

// ListWebhooks returns the workspace's webhooks (secrets are never shown).
func (c *Client) ListWebhooks(ctx context.Context) ([]*consentd.Webhook, error) {
	var out struct {
		Webhooks []*consentd.Webhook `json:"webhooks"`
	}
	_, err := c.do(ctx, "GET", "/v1/webhooks", nil, nil, &out)
	return out.Webhooks, err
}

// CreateWebhook creates a webhook (admin); when w.Secret is empty the
// server generates one and shows it in this answer only.
func (c *Client) CreateWebhook(ctx context.Context, w WebhookInput) (*consentd.Webhook, error) {
	var out consentd.Webhook
	_, err := c.do(ctx, "POST", "/v1/webhooks", nil, w, &out)
	return ret(&out, err)
}

// GetWebhook returns a webhook with its position and retry state.
func (c *Client) GetWebhook(ctx context.Context, id string) (*consentd.Webhook, error) {
	var out consentd.Webhook
	_, err := c.do(ctx, "GET", "/v1/webhooks/"+esc(id), nil, nil, &out)
	return ret(&out, err)
}

// UpdateWebhook changes a webhook (admin): nil fields of u are kept;
// Disabled false re-enables it where it stopped.
func (c *Client) UpdateWebhook(ctx context.Context, id string, u consentd.WebhookUpdate) (*consentd.Webhook, error) {
	var out consentd.Webhook
	_, err := c.do(ctx, "PATCH", "/v1/webhooks/"+esc(id), nil, u, &out)
	return ret(&out, err)
}

// DeleteWebhook deletes a webhook and its delivery log (admin).
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", "/v1/webhooks/"+esc(id), nil, nil, nil)
	return err
}

// ListWebhookDeliveries returns one page of a webhook's delivery attempts,
// newest first (q.State is not used).
func (c *Client) ListWebhookDeliveries(ctx context.Context, id string, q PageQuery) (*DeliveryPage, error) {
	q.State = ""
	var out DeliveryPage
	_, err := c.do(ctx, "GET", "/v1/webhooks/"+esc(id)+"/deliveries", q.values(), nil, &out)
	return ret(&out, err)
}

// AllWebhookDeliveries yields every kept delivery attempt of a webhook,
// newest first, page after page.
func (c *Client) AllWebhookDeliveries(ctx context.Context, id string, q PageQuery) iter.Seq2[*consentd.WebhookDelivery, error] {
	return pages(q.PageToken, func(token string) ([]*consentd.WebhookDelivery, string, error) {
		q.PageToken = token
		p, err := c.ListWebhookDeliveries(ctx, id, q)
		if err != nil {
			return nil, "", err
		}
		return p.Deliveries, p.NextPageToken, nil
	})
}

// ---- imports ----

// CreateImport posts a CSV file for a bulk import, which the server runs
// in the background; poll GetImport for its progress. size is the body's
// length (0: unknown, sent chunked). created is false when the workspace
// imported the same file with the same options before: the answer is that
// import, and nothing is written again.
func (c *Client) CreateImport(ctx context.Context, opts ImportOptions, body io.Reader, size int64) (im *consentd.Import, created bool, err error) {
	q := url.Values{}
	set(q, "format", opts.Format)
	set(q, "purpose", opts.Purpose)
	set(q, "channel", opts.Channel)
	set(q, "topic", opts.Topic)
	set(q, "name", opts.Name)
	r := &request{method: "POST", path: "/v1/imports", query: q, body: body, ctype: "text/csv", accept: "application/json", size: size}
	var out consentd.Import
	status, err := c.call(ctx, r, &out)
	if err != nil {
		return nil, false, err
	}
	return &out, status == http.StatusAccepted, nil
}

// ListImports returns a page of the workspace's imports, newest first
// (q.State is not used).
func (c *Client) ListImports(ctx context.Context, q PageQuery) (*ImportPage, error) {
	var out ImportPage
	q.State = ""
	_, err := c.do(ctx, "GET", "/v1/imports", q.values(), nil, &out)
	return ret(&out, err)
}

// AllImports yields every import of the workspace, newest first, page
// after page.
func (c *Client) AllImports(ctx context.Context, q PageQuery) iter.Seq2[*consentd.Import, error] {
	return pages(q.PageToken, func(token string) ([]*consentd.Import, string, error) {
		q.PageToken = token
		p, err := c.ListImports(ctx, q)
		if err != nil {
			return nil, "", err
		}
		return p.Imports, p.NextPageToken, nil
	})
}

// GetImport returns an import: its state, progress and counts.
func (c *Client) GetImport(ctx context.Context, id string) (*consentd.Import, error) {
	var out consentd.Import
	_, err := c.do(ctx, "GET", "/v1/imports/"+esc(id), nil, nil, &out)
	return ret(&out, err)
}

// WaitImport polls an import every interval (0: a second) until it
// succeeded or failed, calling progress (when not nil) with each state
// read, and returns the last.
func (c *Client) WaitImport(ctx context.Context, id string, interval time.Duration, progress func(*consentd.Import)) (*consentd.Import, error) {
	if interval <= 0 {
		interval = time.Second
	}
	for {
		im, err := c.GetImport(ctx, id)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(im)
		}
		if im.State != consentd.ImportQueued && im.State != consentd.ImportRunning {
			return im, nil
		}
		select {
		case <-ctx.Done():
			return im, ctx.Err()
		case <-time.After(interval):
		}
	}
}

// ImportRejects returns the rejected rows of an import as CSV (line, code,
// reason), streamed; the caller closes it.
func (c *Client) ImportRejects(ctx context.Context, id string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, &request{method: "GET", path: "/v1/imports/" + esc(id) + "/rejects", accept: "text/csv"})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ---- helpers ----

// ret returns v, or nil with a non-nil err.
func ret[T any](v *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

func set(q url.Values, name, v string) {
	if v != "" {
		q.Set(name, v)
	}
}

func setInt(q url.Values, name string, v int64) {
	if v != 0 {
		q.Set(name, strconv.FormatInt(v, 10))
	}
}

func setTime(q url.Values, name string, t time.Time) {
	if !t.IsZero() {
		q.Set(name, t.Format(time.RFC3339Nano))
	}
}

func (q PageQuery) values() url.Values {
	v := url.Values{}
	set(v, "state", q.State)
	set(v, "page_token", q.PageToken)
	setInt(v, "limit", int64(q.Limit))
	return v
}

// intToken is a numeric page position as a token: "" for 0, the last page.
func intToken(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// pages yields the items of page after page: fetch returns a page's items
// and the next page's token ("" after the last page).
func pages[T any](first string, fetch func(token string) ([]T, string, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		token := first
		for {
			items, next, err := fetch(token)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if next == "" || next == token {
				return
			}
			token = next
		}
	}
}

// wrap wraps err with the request it happened in.
func wrap(r *request, what string, err error) error {
	return &opError{method: r.method, path: r.path, what: what, err: err}
}

type opError struct {
	method, path, what string
	err                error
}

func (e *opError) Error() string {
	return e.method + " " + e.path + ": " + e.what + ": " + e.err.Error()
}
func (e *opError) Unwrap() error { return e.err }
