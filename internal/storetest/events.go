package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// testEvents covers what webhooks and the log's consumers need of a store:
// webhooks by id (create, create-or-replace, read, delete), their
// positions and retry state, delivery rows (numbered, paged, pruned),
// named cursors, the plaintext of a contact point by hash, and workspace
// isolation of all of it.
func testEvents(t *testing.T, s Store) {
	e := newEnv(t, s, "alpha")
	other := newEnv(t, s, "beta")
	ctx := e.ctx
	e.mustWrite(cw("jane@example.com", "newsletter", "opted_in", e.t0))
	end := e.logSize()

	t.Run("CreateReadReplace", func(t *testing.T) {
		w := &consentd.Webhook{ID: "crm", URL: "https://crm.example.com/hook", Events: []string{consentd.LogConsentChanged}, Secret: testSecret, Origin: "crm", SecretEnv: "CRM_SECRET"}
		if err := s.PutWebhook(ctx, e.ws, w, true); err != nil {
			t.Fatalf("PutWebhook(create) = %v", err)
		}
		if w.Position != end || w.CreatedAt.IsZero() || w.Disabled || w.Secret != testSecret {
			t.Errorf("PutWebhook(create) set %+v; want position %d (the log's end), created_at, enabled, secret kept", w, end)
		}
		if err := s.PutWebhook(ctx, e.ws, &consentd.Webhook{ID: "crm", URL: "https://x.example.com/", Secret: testSecret}, true); consentd.ErrorCode(err) != consentd.ECONFLICT {
			t.Errorf("PutWebhook(create, existing id) = %v; want %s", err, consentd.ECONFLICT)
		}
		if err := s.PutWebhook(ctx, "ws_nosuchthing", &consentd.Webhook{ID: "x", URL: "https://x.example.com/", Secret: testSecret}, true); consentd.ErrorCode(err) != consentd.ENOTFOUND {
			t.Errorf("PutWebhook(unknown workspace) = %v; want %s", err, consentd.ENOTFOUND)
		}
		got, err := s.Webhook(ctx, e.ws, "crm")
		if err != nil || got.URL != w.URL || !slices.Equal(got.Events, w.Events) || got.Secret != testSecret || got.Origin != "crm" || got.SecretEnv != "CRM_SECRET" ||
			got.Position != end || got.WorkspaceID != e.ws {
			t.Fatalf("Webhook(crm) = %+v, %v; want what was put", got, err)
		}
		// Another workspace sees none of it, and may use the same id.
		if _, err := s.Webhook(ctx, other.ws, "crm"); consentd.ErrorCode(err) != consentd.ENOTFOUND {
			t.Errorf("Webhook(crm) in beta = %v; want %s", err, consentd.ENOTFOUND)
		}
		if whs, err := s.Webhooks(ctx, other.ws); err != nil || len(whs) != 0 {
			t.Errorf("Webhooks(beta) = %v, %v; want none", whs, err)
		}
		if err := s.PutWebhook(ctx, other.ws, &consentd.Webhook{ID: "crm", URL: "https://beta.example.com/", Secret: testSecret}, true); err != nil {
			t.Errorf("PutWebhook(beta, crm) = %v", err)
		}

		// Create-or-replace (apply): keeps the position and creation time.
		e.mustWrite(cw("bob@example.com", "newsletter", "opted_in", e.t0))
		rep := &consentd.Webhook{ID: "crm", URL: "https://crm2.example.com/hook", Secret: testSecret}
		if err := s.PutWebhook(ctx, e.ws, rep, false); err != nil {
			t.Fatalf("PutWebhook(replace) = %v", err)
		}
		got, _ = s.Webhook(ctx, e.ws, "crm")
		if got.URL != rep.URL || len(got.Events) != 0 || got.Origin != "" || got.Position != end || !got.CreatedAt.Equal(w.CreatedAt) {
			t.Errorf("after replace: %+v; want the new url, no events filter, position %d kept, created_at kept", got, end)
		}
		// Create-or-replace of a new id creates it at the log's end.
		nw := &consentd.Webhook{ID: "new", URL: "https://n.example.com/", Secret: testSecret}
		if err := s.PutWebhook(ctx, e.ws, nw, false); err != nil || nw.Position != e.logSize() {
			t.Errorf("PutWebhook(replace, new id) = %v, position %d; want %d", err, nw.Position, e.logSize())
		}
		whs, err := s.Webhooks(ctx, e.ws)
		if err != nil || len(whs) != 2 || whs[0].ID != "crm" || whs[1].ID != "new" {
			t.Errorf("Webhooks(alpha) = %v, %v; want crm, new", whs, err)
		}
		if err := s.DeleteWebhook(ctx, e.ws, "new"); err != nil {
			t.Errorf("DeleteWebhook(new) = %v", err)
		}
		if err := s.DeleteWebhook(ctx, e.ws, "new"); consentd.ErrorCode(err) != consentd.ENOTFOUND {
			t.Errorf("DeleteWebhook(new) again = %v; want %s", err, consentd.ENOTFOUND)
		}
	})

	t.Run("AttemptsAndDeliveries", func(t *testing.T) {
		w, err := s.Webhook(ctx, e.ws, "crm")
		if err != nil {
			t.Fatal(err)
		}
		pos := w.Position
		at := time.Now().UTC().Truncate(time.Millisecond)
		fail := func(n int) consentd.WebhookAttempt {
			return consentd.WebhookAttempt{State: consentd.WebhookState{Position: pos, Failures: n, NextAttemptAt: at.Add(time.Minute)},
				Deliveries: []*consentd.WebhookDelivery{{EventID: consentd.EventID(e.ws, pos+1), Seq: pos + 1, Type: consentd.LogConsentChanged, Attempt: n,
					StatusCode: 503, DurationMS: 3, At: at, NextAttemptAt: at.Add(time.Minute)}}}
		}
		for n := 1; n <= 3; n++ {
			if err := s.RecordWebhookAttempt(ctx, e.ws, "crm", pos, fail(n), 2); err != nil {
				t.Fatalf("RecordWebhookAttempt(failure %d) = %v", n, err)
			}
		}
		w, _ = s.Webhook(ctx, e.ws, "crm")
		if w.Failures != 3 || !w.NextAttemptAt.Equal(at.Add(time.Minute)) || w.Position != pos {
			t.Errorf("after 3 failures: %+v; want failures 3, next attempt, position kept", w.WebhookState)
		}
		// Only the newest 2 rows are kept, newest first, paged.
		ds, next, err := s.WebhookDeliveries(ctx, e.ws, "crm", consentd.DeliveryFilter{Limit: 1})
		if err != nil || len(ds) != 1 || ds[0].N != 3 || ds[0].Attempt != 3 || ds[0].StatusCode != 503 || !ds[0].At.Equal(at) || next == "" {
			t.Fatalf("WebhookDeliveries(limit 1) = %+v, %q, %v; want attempt 3 and a next page", ds, next, err)
		}
		ds, next, err = s.WebhookDeliveries(ctx, e.ws, "crm", consentd.DeliveryFilter{Limit: 1, PageToken: next})
		if err != nil || len(ds) != 1 || ds[0].N != 2 || next != "" {
			t.Errorf("WebhookDeliveries(page 2) = %+v, %q, %v; want row 2", ds, next, err)
		}
		if ds, _, _ := s.WebhookDeliveries(ctx, e.ws, "crm", consentd.DeliveryFilter{}); len(ds) != 2 {
			t.Errorf("WebhookDeliveries = %d rows; want 2 (keep 2)", len(ds))
		}
		if _, _, err := s.WebhookDeliveries(ctx, e.ws, "crm", consentd.DeliveryFilter{PageToken: "x"}); consentd.ErrorCode(err) != consentd.EINVALID {
			t.Errorf("WebhookDeliveries(bad token) = %v; want %s", err, consentd.EINVALID)
		}
		if _, _, err := s.WebhookDeliveries(ctx, other.ws, "nope", consentd.DeliveryFilter{}); consentd.ErrorCode(err) != consentd.ENOTFOUND {
			t.Errorf("WebhookDeliveries(unknown) = %v; want %s", err, consentd.ENOTFOUND)
		}
		if ds, _, _ := s.WebhookDeliveries(ctx, other.ws, "crm", consentd.DeliveryFilter{}); len(ds) != 0 {
			t.Errorf("beta's crm has %d deliveries; want none (isolation)", len(ds))
		}
		// A stale position changes nothing.
		if err := s.RecordWebhookAttempt(ctx, e.ws, "crm", pos-1, fail(9), 2); consentd.ErrorCode(err) != consentd.ECONFLICT {
			t.Errorf("RecordWebhookAttempt(stale position) = %v; want %s", err, consentd.ECONFLICT)
		}
		// Success advances and clears the failures; several deliveries
		// are recorded at once, in order.
		okAt := func(seq int64, attempt int) *consentd.WebhookDelivery {
			return &consentd.WebhookDelivery{EventID: consentd.EventID(e.ws, seq), Seq: seq, Type: consentd.LogConsentChanged, Attempt: attempt, StatusCode: 204, At: at}
		}
		ok := consentd.WebhookAttempt{State: consentd.WebhookState{Position: pos + 1}, Deliveries: []*consentd.WebhookDelivery{okAt(pos, 4), okAt(pos+1, 1)}}
		if err := s.RecordWebhookAttempt(ctx, e.ws, "crm", pos, ok, 10); err != nil {
			t.Fatalf("RecordWebhookAttempt(success) = %v", err)
		}
		w, _ = s.Webhook(ctx, e.ws, "crm")
		if w.Position != pos+1 || w.Failures != 0 || !w.NextAttemptAt.IsZero() {
			t.Errorf("after success: %+v; want position %d, no failures", w.WebhookState, pos+1)
		}
		if ds, _, _ := s.WebhookDeliveries(ctx, e.ws, "crm", consentd.DeliveryFilter{}); len(ds) != 4 || ds[0].N != 5 || ds[0].Seq != pos+1 || ds[1].Seq != pos || ds[1].Attempt != 4 {
			t.Errorf("after recording 2 deliveries at once: %d rows, newest %+v; want 4 rows, the last two in order", len(ds), ds[0])
		}
		// Disabling keeps the position; the webhook leaves the active list;
		// further attempts are refused; re-enabling clears the failures.
		dis := fail(1)
		dis.State.Position = pos + 1
		dis.Disable = "the endpoint answered 410 Gone"
		if err := s.RecordWebhookAttempt(ctx, e.ws, "crm", pos+1, dis, 2); err != nil {
			t.Fatalf("RecordWebhookAttempt(disable) = %v", err)
		}
		w, _ = s.Webhook(ctx, e.ws, "crm")
		if !w.Disabled || w.DisabledReason != dis.Disable || w.Position != pos+1 {
			t.Errorf("after disable: %+v; want disabled with the reason, position kept", w)
		}
		act, err := s.ActiveWebhooks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range act {
			names = append(names, a.WorkspaceID+"/"+a.ID)
		}
		if slices.Contains(names, e.ws+"/crm") || !slices.Contains(names, other.ws+"/crm") {
			t.Errorf("ActiveWebhooks = %v; want beta's crm and not alpha's disabled one", names)
		}
		if err := s.RecordWebhookAttempt(ctx, e.ws, "crm", pos+1, ok, 2); consentd.ErrorCode(err) != consentd.ECONFLICT {
			t.Errorf("RecordWebhookAttempt(disabled) = %v; want %s", err, consentd.ECONFLICT)
		}
		w.Disabled, w.DisabledReason = false, ""
		if err := s.PutWebhook(ctx, e.ws, w, false); err != nil {
			t.Fatal(err)
		}
		w, _ = s.Webhook(ctx, e.ws, "crm")
		if w.Disabled || w.Failures != 0 || !w.NextAttemptAt.IsZero() || w.Position != pos+1 {
			t.Errorf("after re-enable: %+v; want enabled, no failures, position %d", w, pos+1)
		}
		if err := s.RecordWebhookAttempt(ctx, e.ws, "gone", 0, ok, 2); consentd.ErrorCode(err) != consentd.ENOTFOUND {
			t.Errorf("RecordWebhookAttempt(unknown) = %v; want %s", err, consentd.ENOTFOUND)
		}
	})

	t.Run("Cursors", func(t *testing.T) {
		if n, err := s.EventCursor(ctx, e.ws, "nats"); err != nil || n != 0 {
			t.Errorf("EventCursor(new) = %d, %v; want 0", n, err)
		}
		for _, c := range []struct {
			set, want int64
		}{{5, 5}, {7, 7}, {6, 7}} {
			if err := s.SetEventCursor(ctx, e.ws, "nats", c.set); err != nil {
				t.Fatal(err)
			}
			if n, err := s.EventCursor(ctx, e.ws, "nats"); err != nil || n != c.want {
				t.Errorf("EventCursor after setting %d = %d, %v; want %d (never back)", c.set, n, err, c.want)
			}
		}
		if n, _ := s.EventCursor(ctx, other.ws, "nats"); n != 0 {
			t.Errorf("EventCursor(beta) = %d; want 0 (isolation)", n)
		}
		if err := s.SetEventCursor(ctx, "ws_nosuchthing", "nats", 1); consentd.ErrorCode(err) != consentd.ENOTFOUND {
			t.Errorf("SetEventCursor(unknown workspace) = %v; want %s", err, consentd.ENOTFOUND)
		}
	})

	t.Run("ContactPointByHash", func(t *testing.T) {
		secret, err := s.WorkspaceSecret(ctx, e.ws)
		if err != nil {
			t.Fatal(err)
		}
		h := consentd.ContactPointHash(secret, consentd.KindEmail, "jane@example.com")
		if k, v, err := s.ContactPointByHash(ctx, e.ws, h); err != nil || k != consentd.KindEmail || v != "jane@example.com" {
			t.Errorf("ContactPointByHash(jane) = %q, %q, %v", k, v, err)
		}
		for _, c := range []struct {
			ws   string
			hash [32]byte
		}{{other.ws, h}, {e.ws, [32]byte{1}}} {
			if _, _, err := s.ContactPointByHash(ctx, c.ws, c.hash); consentd.ErrorCode(err) != consentd.ENOTFOUND {
				t.Errorf("ContactPointByHash(%s, %x) = %v; want %s", c.ws, c.hash[:2], err, consentd.ENOTFOUND)
			}
		}
	})
}
