package api

import (
	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/ledger"
	"github.com/consentd/consentd/internal/openapi"
)

// receiptOp documents the receipt's second form: C2SP tlog-proof text.
func receiptOp(o openapi.Operation) openapi.Operation {
	o.ResponseTypes = []string{tlogProofType}
	o.Errors = append(o.Errors, 410) // leaf_erased
	return o
}

// routes is the route table: the mux and /openapi.json are built from it.
func (s *Server) routes() []route {
	id := []openapi.Param{{Name: "id", In: "path", Description: "the resource id, URL-escaped"}}
	consentID := []openapi.Param{{Name: "id", In: "path", Description: "<contact point>#<channel type id>, URL-escaped (jane%40example.com%23newsletter%3Aemail)"}}
	listQuery := []openapi.Param{
		{Name: "contact_point"}, {Name: "party_id"}, {Name: "purpose"}, {Name: "channel"},
		{Name: "status", Enum: []string{"opted_in", "opted_out", "pending"}}, {Name: "page_token"}, limitParam,
	}
	op := func(method, path, summary, tag string) openapi.Operation {
		return openapi.Operation{Method: method, Path: path, Summary: summary, Tags: []string{tag}}
	}
	with := func(o openapi.Operation, req, resp any, status int, q []openapi.Param) openapi.Operation {
		o.Request, o.Response, o.Status, o.Query = req, resp, status, q
		return o
	}
	// POST /v1/consents answers 201 when it created the consent, 200 when
	// the consent existed (whether or not the write applied).
	created := func(o openapi.Operation) openapi.Operation { o.OtherStatuses = []int{200}; return o }
	// PATCH of catalog entries takes an RFC 7396 merge patch.
	patch := func(o openapi.Operation) openapi.Operation { o.MergePatch = true; return o }
	rs := []route{
		{with(op("GET", "/v1/workspace", "This workspace's settings", "workspace"), nil, consentd.Workspace{}, 0, nil), readers, s.getWorkspace},
		{with(op("PATCH", "/v1/workspace", "Change this workspace's settings", "workspace"), consentd.WorkspaceUpdate{}, consentd.Workspace{}, 0, nil), admins, s.patchWorkspace},

		{with(op("GET", "/v1/purposes", "List purposes", "catalog"), nil, purposeList{}, 0, nil), readers, s.listPurposes},
		{with(op("POST", "/v1/purposes", "Create a purpose", "catalog"), purposeInput{}, consentd.Purpose{}, 201, nil), admins, s.createPurpose},
		{with(op("GET", "/v1/purposes/{id}", "Get a purpose", "catalog"), nil, consentd.Purpose{}, 0, id), readers, s.getPurpose},
		{patch(with(op("PATCH", "/v1/purposes/{id}", "Change a purpose (JSON merge patch)", "catalog"), purposeInput{}, consentd.Purpose{}, 0, id)), admins, s.patchPurpose},
		{with(op("DELETE", "/v1/purposes/{id}", "Delete a purpose without topics", "catalog"), nil, nil, 204, id), admins, s.deletePurpose},

		{with(op("GET", "/v1/topics", "List topics", "catalog"), nil, topicList{}, 0, nil), readers, s.listTopics},
		{with(op("POST", "/v1/topics", "Create a topic", "catalog"), topicInput{}, consentd.Topic{}, 201, nil), admins, s.createTopic},
		{with(op("GET", "/v1/topics/{id}", "Get a topic", "catalog"), nil, consentd.Topic{}, 0, id), readers, s.getTopic},
		{patch(with(op("PATCH", "/v1/topics/{id}", "Change a topic (JSON merge patch)", "catalog"), topicInput{}, consentd.Topic{}, 0, id)), admins, s.patchTopic},
		{with(op("DELETE", "/v1/topics/{id}", "Delete a topic", "catalog"), nil, nil, 204, id), admins, s.deleteTopic},
		{with(op("GET", "/v1/channel-types", "Derived channel types with external ids", "catalog"), nil, channelTypeList{}, 0, nil), readers, s.listChannelTypes},

		{created(with(op("POST", "/v1/consents", "Record one consent (idempotent upsert ordered by captured_at)", "consents"), consentd.ConsentWrite{}, writeAnswer{}, 201, nil)), writers, s.postConsent},
		{with(op("POST", "/v1/consents:batch", "Record up to 10,000 consents (a body of at most 8 MiB, read item by item) in one transaction", "consents"), batchWrite{}, batchWriteAnswer{}, 0, nil), writers, s.postConsentBatch},
		{with(op("GET", "/v1/consents", "List consents", "consents"), nil, consentList{}, 0, listQuery), readers, s.listConsents},
		{with(op("POST", "/v1/consents:search", "List consents with the filters in the body", "consents"), consentSearch{}, consentList{}, 0, nil), readers, s.searchConsents},
		{with(op("GET", "/v1/consents/{id}", "Get one consent: now, or the one in effect at a time (as_of: by captured_at; known_at: as recorded by then), with proved_by naming its log entry", "consents"), nil, consentd.Consent{}, 0, append(consentID, timesQuery()...)), readers, s.getConsent},
		{with(op("GET", "/v1/consents/{id}/history", "A consent's log entries", "consents"), nil, logPage{}, 0, consentID), readers, s.consentHistory},
		{receiptOp(with(op("GET", "/v1/consents/{id}/receipt", "The consent's latest log entry with its inclusion proof and a signed checkpoint: JSON, or C2SP tlog-proof text with Accept: text/x.tlog-proof", "consents"), nil, ledger.Receipt{}, 0, consentID)), readers, s.consentReceipt},

		{decisionOp(op("POST", "/v1/decisions", "May I send this message to this address now?", "decisions")), everyone, s.postDecision},
		{batchDecisionOp(op("POST", "/v1/decisions:batch", "Many decisions: JSON, or NDJSON streamed both ways", "decisions")), everyone, s.postDecisionBatch},

		{with(op("PUT", "/v1/parties/{id}", "Create or replace a party", "parties"), partyInput{}, consentd.Party{}, 0, id), writers, s.putParty},
		{with(op("GET", "/v1/parties/{id}", "Get a party", "parties"), nil, consentd.Party{}, 0, id), readers, s.getParty},
		{with(op("GET", "/v1/parties/{id}/consents", "Every consent of a party's contact points", "parties"), nil, consentList{}, 0, id), readers, s.partyConsents},

		{with(op("GET", "/v1/suppressions", "List suppressions", "suppressions"), nil, suppressionList{}, 0, nil), readers, s.listSuppressions},
		{with(op("POST", "/v1/suppressions", "Suppress a contact point", "suppressions"), consentd.SuppressionInput{}, consentd.Suppression{}, 201, nil), agents, s.postSuppression},
		{with(op("DELETE", "/v1/suppressions/{id}", "Lift a suppression", "suppressions"), nil, nil, 204, id), admins, s.deleteSuppression},

		{with(op("GET", "/v1/keys", "List this workspace's API keys", "keys"), nil, keyList{}, 0, nil), admins, s.listKeys},
		{with(op("POST", "/v1/keys", "Create an API key; the secret is shown once", "keys"), keyInput{}, keyAnswer{}, 201, nil), admins, s.createKey},
		{with(op("DELETE", "/v1/keys/{id}", "Delete an API key", "keys"), nil, nil, 204, id), admins, s.deleteKey},

		{with(op("GET", "/v1/log", "Consent log entries", "log"), nil, logPage{}, 0, []openapi.Param{{Name: "after", Type: "integer"}, limitParam}), readers, s.getLog},
		{with(op("GET", "/v1/log/verify", "Recompute the log's tree, check every checkpoint, and compare the log's replay with the stored consents and suppressions", "log"), nil, ledger.Report{}, 0, nil), readers, s.verifyLog},
		{with(op("POST", "/v1/log/checkpoints", "Sign a checkpoint now", "log"), nil, checkpointAnswer{}, 201, nil), writers, s.postCheckpoint},
		{with(op("GET", "/v1/log/checkpoints/latest", "The newest signed checkpoint with its public key", "log"), nil, checkpointAnswer{}, 0, nil), readers, s.latestCheckpoint},
		{with(op("GET", "/v1/log/checkpoints", "Stored signed checkpoints with sizes from..to, by size", "log"), nil, checkpointList{}, 0, []openapi.Param{
			{Name: "from", Type: "integer", Description: "smallest tree size (default 0)"},
			{Name: "to", Type: "integer", Description: "largest tree size (default: no limit)"},
			limitParam,
		}), readers, s.listCheckpoints},
		{with(op("GET", "/v1/log/proof", "An RFC 6962 consistency proof between two tree sizes, with the checkpoints stored at them", "log"), nil, consistencyAnswer{}, 0, []openapi.Param{
			{Name: "old", Type: "integer", Required: true, Description: "the smaller tree size, at least 1"},
			{Name: "new", Type: "integer", Required: true, Description: "the larger tree size, at most the log's size"},
		}), readers, s.logProof},
	}
	rs = append(rs, s.linkRoutes()...)       // links.go: signed links
	rs = append(rs, s.linkSendRoutes()...)   // linkmail.go: mailed preference links
	rs = append(rs, s.inboundRoutes()...)    // inbound.go: SMS replies, agent opt-out, data-subject requests
	rs = append(rs, s.automationRoutes()...) // automation.go: records, rules, jobs
	rs = append(rs, s.eventRoutes()...)      // events.go: webhooks and their deliveries
	rs = append(rs, s.brandRoutes()...)      // brand.go: texts and logo
	rs = append(rs, s.importRoutes()...)     // imports.go: bulk imports and export
	rs = append(rs, s.feedRoutes()...)       // feeds.go: provider feeds
	rs = append(rs, s.reportRoutes()...)     // reports.go: decision and consent reports
	return rs
}
