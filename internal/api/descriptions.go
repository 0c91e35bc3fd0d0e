package api

// descriptions holds each operation's description in /openapi.json, by
// "METHOD path": what it does, whether it is safe to retry, and the errors
// a client should expect besides the usual ones (401, 403, 422). They live
// in one table, apart from the route table, so that the route rows stay
// one line each; a test fails when a route has none.
var descriptions = map[string]string{
	"GET /v1/workspace":         "Returns the settings of the API key's workspace: its name, the default region used to read national phone numbers, its SMS settings and its brand (sender name, default language, accent colour, privacy URL, footer, public URL, text overrides, logo). Read-only.",
	"GET /v1/texts":             "Lists every text the public pages, the confirmation mail and texts show: its key, the {placeholders} consentd fills in it, its shipped wording in each shipped language and this workspace's overrides. An operator reads it to know what PATCH /v1/workspace texts may override. Read-only.",
	"PUT /v1/workspace/logo":    "Stores the body, a PNG, JPEG, GIF or WebP image of the declared Content-Type, as the workspace's logo, replacing any before; the answer's logo.url is where consentd serves it without a key. 413 over 256 KiB; 415 for another type (SVG is refused: it can carry script) or bytes that are not a whole image of the declared type; 422 over 2048x2048 pixels; each naming the body. Logged as workspace.changed. Idempotent.",
	"DELETE /v1/workspace/logo": "Removes the workspace's logo; its URL answers 404 from then on. Logged as workspace.changed. Idempotent.",
	"PATCH /v1/workspace":       "Changes the workspace's settings and brand; fields left out keep their values, an empty string clears one, texts replaces every override. Each value is checked before anything is stored (422 naming the field): default_language a shipped language, accent_color #rrggbb with a contrast of at least 4.5:1 with white, privacy_url and public_url absolute http or https URLs, texts by the keys and placeholders of GET /v1/texts. Idempotent. 409 when another workspace has the name.",

	"GET /v1/purposes":         "Lists the workspace's purposes, ordered by id, with their channels and double opt-in settings. Read-only.",
	"POST /v1/purposes":        "Creates a purpose, the reason consents are asked for (commercial, transactional or tracking), with the channels it is offered on. Not idempotent: 409 conflict when the id is taken by a purpose or a topic.",
	"GET /v1/purposes/{id}":    "Returns one purpose. 404 when the workspace has no such purpose.",
	"PATCH /v1/purposes/{id}":  "Changes a purpose with an RFC 7396 JSON merge patch: members left out keep their values, null removes one. The id cannot change. Idempotent. The change is logged.",
	"DELETE /v1/purposes/{id}": "Deletes a purpose. Its consent records and log entries stay. 409 conflict while topics belong to it; 404 when it does not exist (so a repeated delete answers 404).",

	"GET /v1/topics":         "Lists the workspace's topics, the finer subjects under a purpose (a weekly digest under a newsletter). Read-only.",
	"POST /v1/topics":        "Creates a topic under a purpose. Not idempotent: 409 conflict when the id is taken by a topic or a purpose; 422 unknown_purpose.",
	"GET /v1/topics/{id}":    "Returns one topic. 404 when the workspace has no such topic.",
	"PATCH /v1/topics/{id}":  "Changes a topic with an RFC 7396 JSON merge patch: members left out keep their values, null removes one. The id and purpose cannot change. Idempotent.",
	"DELETE /v1/topics/{id}": "Deletes a topic; its consent records and log entries stay. 404 when it does not exist.",

	"GET /v1/channel-types": "Lists the channel types the catalog derives (each purpose or topic on each of its channels), the last part of a consent id, with their external ids for CRM sync. Read-only.",

	"POST /v1/consents":        "Records one consent: opted_in, opted_out or pending for a contact point on a purpose (or topic) and channel. An idempotent upsert ordered by captured_at: a write older than the stored one is logged but does not apply, and the same write again changes nothing. Answers 201 when it created the consent, 200 otherwise; outcome says created, updated, unchanged or stale.",
	"POST /v1/consents:batch":  "Records up to 10,000 consents in one transaction, each with the rules of POST /v1/consents. Good items are written and bad ones answered with their own problem in results, so the answer is 200 even when some items fail. 413 too_large over 10,000 items or 32 MiB.",
	"GET /v1/consents":         "Lists consents, filtered by contact point, party, purpose, channel or status, paged with page_token. Read-only.",
	"POST /v1/consents:search": "Lists consents like GET /v1/consents, with the filters in a JSON body (for long lists of contact points, which should not be in URLs and logs). Read-only.",
	"GET /v1/consents/{id}":    "Returns one consent by its id (contact point # channel type). With as_of, the write in effect at that time by captured_at; with known_at, only what had been recorded by then. proved_by names the log entry it comes from. 404 not_found, or not_in_effect for a time before its first write.",

	"GET /v1/consents/{id}/history": "Lists every log entry of one consent, oldest first, including writes that did not apply. Read-only.",
	"GET /v1/consents/{id}/receipt": "Returns the consent's latest log entry with its Merkle inclusion proof and a signed checkpoint, as JSON or, with Accept: text/x.tlog-proof, as C2SP tlog-proof text that offline tools verify. Read-only. 410 leaf_erased when that entry was erased with its address.",

	"POST /v1/decisions":       "Answers whether a message on a purpose (and topic) may be sent to a contact point on a channel now, with the reason (opted_in, opted_out, suppressed, no_consent, transactional, ...) and the log size it was decided at. Safe: it reads only. Unknown addresses are answered, never an error.",
	"POST /v1/decisions:batch": "Answers many decisions. As JSON, one purpose and channel for a list of contact points; as NDJSON (Content-Type: application/x-ndjson), one request per line, streamed: answers come back as NDJSON lines in order while the body is still being sent. A line that cannot be decided is answered with its own problem. Safe: it reads only.",

	"PUT /v1/parties/{id}":          "Creates or replaces a party, a person known by several contact points, so that decisions and opt-outs can reach all of them. Idempotent: the same body again changes nothing.",
	"GET /v1/parties/{id}":          "Returns a party and its contact points. 404 when it does not exist.",
	"GET /v1/parties/{id}/consents": "Lists the consents of every contact point of a party. Read-only. 404 when the party does not exist.",

	"GET /v1/suppressions":         "Lists the workspace's suppressions: contact points that no commercial message may reach (bounces, complaints, SMS STOP, erased addresses), whatever their consents say. Read-only.",
	"POST /v1/suppressions":        "Suppresses a contact point, with a reason. A reason erased also erases the address from the log.",
	"DELETE /v1/suppressions/{id}": "Lifts a suppression; decisions follow the consents again. The change is logged. 404 when there is no such suppression.",

	"GET /v1/keys":         "Lists the workspace's API keys with their roles and names; secrets are never shown. Read-only.",
	"POST /v1/keys":        "Creates an API key with a role (admin, write, check, read or agent). The secret is in this answer only; store it. Not idempotent: each call makes a new key.",
	"DELETE /v1/keys/{id}": "Deletes an API key; requests with it fail with 401 at once on this server, within seconds on others. 404 when there is no such key.",

	"GET /v1/log":                    "Pages through the workspace's append-only consent log, after a sequence number. Each entry carries its leaf and evidence, for verification. Read-only.",
	"GET /v1/log/verify":             "Recomputes the log's Merkle tree, checks every stored checkpoint's signature and root, and replays the log to compare it with the stored consents and suppressions. Read-only; slow on a large log.",
	"POST /v1/log/checkpoints":       "Signs a checkpoint of the log's current size and root now (the server also signs them periodically). Safe to repeat: a checkpoint of an unchanged log is the same size.",
	"GET /v1/log/checkpoints/latest": "Returns the newest signed checkpoint with the public key to verify it. Read-only.",
	"GET /v1/log/checkpoints":        "Lists stored signed checkpoints with tree sizes between from and to, by size. Read-only. 422 for a bad range or limit.",
	"GET /v1/log/proof":              "Returns an RFC 6962 consistency proof between two tree sizes, with the checkpoints stored at them, so that an auditor can check that the log only grew. 422 beyond_log when new is larger than the log.",

	"POST /v1/links":      "Makes a signed unsubscribe or preference-center link for a contact point, with the List-Unsubscribe and List-Unsubscribe-Post headers for the mail. Makes nothing durable but the contact point's stored form; safe to repeat. 500 when the server has no link keys.",
	"POST /v1/links:send": "Mails the e-mail address a signed link to its preference page, valid 30 days, through a durable link_mail job (the double opt-in mail's path and retries); answers 202 with the job id. Not idempotent: each call mails once more. 409 conflict when the address is erased or suppressed on e-mail; 422 for no or a bad address; 500 when the server has no link keys.",

	"POST /v1/inbound/sms":              "Takes an SMS reply from a provider's webhook. An opt-out keyword (STOP, STOPALL, QUIT, END, REVOKE, OPT OUT, CANCEL, UNSUBSCRIBE, alone, in any case and punctuation) suppresses the number for SMS and opts its SMS consents out; other text is kept for review. Idempotent by the provider's message id: a repeat answers the stored result with duplicate set.",
	"GET /v1/inbound/sms":               "Lists stored SMS replies, by default those waiting for review; paged. Read-only.",
	"POST /v1/inbound/sms/{id}:resolve": "Marks an SMS reply as reviewed; action opt_out opts the number out as a keyword does. The body may be left out. 409 conflict when the reply is not waiting for review.",
	"POST /v1/parties/{id}:opt-out-all": "An agent's opt-out: sets opted_out on every channel type of every contact point of the party, whatever the state was. Idempotent: a second call changes nothing. The body may be left out.",

	"POST /v1/requests":            "Files a data-subject request (access, withdraw, erase) for a contact point under a regulation; a background worker carries it out and the due date follows the regulation. Not idempotent: each call files a request.",
	"GET /v1/requests":             "Lists data-subject requests, optionally by state; paged. Read-only.",
	"GET /v1/requests/{id}":        "Returns a data-subject request: its state, due date, result and errors. Read-only.",
	"GET /v1/requests/{id}/report": "Returns the report of a completed access request: the consents, suppressions, parties and log entries held on its subject, as they are now. 409 conflict while the request is not completed.",

	"PUT /v1/records/{type}/{id}": "Takes a CRM record (any JSON fields) created or updated in another system, and enqueues a job for each rule on its type whose condition it meets; the jobs write consents. Idempotent: an unchanged record runs no rule.",
	"GET /v1/rules":               "Lists the workspace's automation rules. Read-only.",
	"GET /v1/rules/{id}":          "Returns one rule. 404 when it does not exist.",
	"PUT /v1/rules/{id}":          "Creates or replaces a rule: on which records it runs, its CEL condition, and the consents it writes. Expressions are type-checked when stored; 422 invalid_rule names the field and the position. Idempotent.",
	"DELETE /v1/rules/{id}":       "Deletes a rule; its queued jobs fail when they run. 404 when it does not exist.",
	"GET /v1/jobs":                "Lists automation jobs, by default the failed ones; paged. Read-only.",
	"GET /v1/jobs/{id}":           "Returns a job: its state, attempts, last error and input (cleared once it succeeded). Read-only.",
	"POST /v1/jobs/{id}:retry":    "Queues a failed job again with its attempts reset. 409 conflict when the job is not failed, so a repeated retry is refused.",

	"GET /v1/webhooks":                 "Lists the workspace's webhooks with their positions in the log and retry state; secrets are never shown. Read-only.",
	"POST /v1/webhooks":                "Creates a webhook: from now on it receives the logged events it subscribes to as CloudEvents JSON, signed per Standard Webhooks. A secret generated when none is given is in this answer only. 409 conflict when the id is taken; 422 webhook_target_not_allowed for a private address.",
	"GET /v1/webhooks/{id}":            "Returns one webhook with its position and retry state. 404 when it does not exist.",
	"PATCH /v1/webhooks/{id}":          "Changes a webhook's URL, events, secret, origin or disabled flag; fields left out keep their values. disabled: false re-enables it and it resumes where it stopped. Idempotent.",
	"DELETE /v1/webhooks/{id}":         "Deletes a webhook and its delivery log. 404 when it does not exist.",
	"GET /v1/webhooks/{id}/deliveries": "Lists a webhook's delivery attempts, newest first, with status and error; the newest 1000 are kept. Read-only.",

	"POST /v1/imports":             "Starts a bulk import of the CSV body in one of the formats (native, listmonk, mailchimp, ...), run in the background; answers 202 with the import to poll. Idempotent: the same file, format and options again answer the existing import with 200 and write nothing. 413 over the size limit, 415 for a body that is not CSV.",
	"GET /v1/imports":              "Lists the workspace's imports, newest first, each with its state, progress and counts; paged. Read-only.",
	"GET /v1/imports/{id}":         "Returns an import: its state, progress and counts of written and rejected rows. Read-only.",
	"GET /v1/imports/{id}/rejects": "Returns the rejected rows of an import as CSV (line, code, reason), with formula cells neutralized. Read-only.",
	"GET /v1/feeds":                "Lists the workspace's provider feeds with their public URLs and soft-bounce policies; secrets and password hashes are never shown. Read-only.",
	"POST /v1/feeds":               "Creates a provider feed (sendgrid, postmark, mailgun, ses, rfc822, twilio or vonage): the provider posts its bounces, complaints and unsubscribes, or (twilio, vonage) its inbound SMS replies, to the answer's url, authenticated its own way (SendGrid's ECDSA signature, Postmark's and rfc822's HTTP Basic credentials, Mailgun's HMAC signing key, Amazon SNS's RSA signature with the certificate from its regional host, for the topics in settings.topic_arns, Twilio's X-Twilio-Signature with the Auth Token, Vonage's signed webhooks with the signature secret), and each event becomes a suppression or an opt-out, once per provider event id; an SMS reply is handled as POST /v1/inbound/sms handles it, once per message id. A Postmark or rfc822 password generated when none is given is in this answer only. Not idempotent: 409 conflict when the id is taken; 422 for a bad key or setting.",
	"GET /v1/feeds/{id}":           "Returns one provider feed with its public URL. 404 when it does not exist.",
	"DELETE /v1/feeds/{id}":        "Deletes a provider feed: its URL answers 404 from then on, and the provider event ids it kept are deleted; the suppressions and opt-outs it wrote stay. 404 when it does not exist.",
	"GET /v1/consents:export":      "Streams every consent of the workspace in the native import format, as CSV or NDJSON: now, or each consent in effect at a time (as_of, known_at). An export that fails midway breaks the transfer rather than ending early. Read-only.",

	"GET /v1/reports/decisions": "Counts the decisions this workspace was answered (POST /v1/decisions and each line of POST /v1/decisions:batch) per UTC day, week (from Monday) or month, optionally split by purpose, channel or reason: allowed, blocked, and blocked by reason in percent of the bucket's decisions. " +
		"Only aggregates are kept, never contact points. The server counts in memory and stores the counts every few seconds, so the last seconds' decisions may be missing. from..to are UTC days, both included, at most 1827 days (five years) apart; default the last 30 days. JSON, or CSV with Accept: text/csv. Read-only. 422 naming the parameter for a bad date, span, interval or group_by.",
	"GET /v1/reports/consents": "Counts the workspace's consents by the UTC day, week (from Monday) or month their write in effect was captured (captured_at, not the day it was recorded: an import of old history lands in the days it was captured), optionally split by purpose, channel, source type or jurisdiction: opted in, opted out and pending. " +
		"Each consent counts once, with its current status, in the bucket of its captured_at. from..to are UTC days, both included, at most 1827 days (five years) apart; default the last 30 days. JSON, or CSV with Accept: text/csv. Read-only. 422 naming the parameter for a bad date, span, interval or group_by.",
}

// tagDocs describes the tags that group the operations.
var tagDocs = map[string]string{
	"workspace":    "The settings of the API key's workspace.",
	"catalog":      "Purposes, topics and the channel types derived from them: what consents are asked for.",
	"consents":     "Recording consents, reading them (now or at a time), their history, receipts and export.",
	"decisions":    "Send-time decisions: may this message go to this address now?",
	"parties":      "People known by several contact points, and opting them out of everything.",
	"suppressions": "Contact points no commercial message may reach, whatever their consents say.",
	"keys":         "API keys and their roles.",
	"log":          "The append-only, verifiable consent log: entries, checkpoints and proofs.",
	"links":        "Signed unsubscribe and preference-center links.",
	"inbound":      "SMS replies from providers: opt-out keywords and replies to review.",
	"requests":     "Data-subject requests (access, withdraw, erase) carried out in the background.",
	"automation":   "CRM records, the rules that turn them into consents, and their jobs.",
	"webhooks":     "Webhooks that receive logged events, and their deliveries.",
	"imports":      "Bulk imports of consents from CSV files, and their rejected rows.",
	"feeds":        "Provider feeds: where SendGrid, Postmark, Mailgun, Amazon SES (through SNS) and mail systems posting raw ARF and DSN reports report bounces, complaints and unsubscribes, and Twilio and Vonage post inbound SMS replies.",
	"reports":      "Counts for an operator console: decisions answered, and consents by the day they were captured.",
	"problems":     "The documentation of each error code, which a problem's type points to.",
}
