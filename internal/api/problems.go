package api

import (
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/openapi"
)

// problemPath is where the page of an error code is served; a problem's
// `type` is this path with the code, a URI reference that a client resolves
// against the URL it asked (RFC 9457 section 3.1.1), so it works behind any
// host name or proxy prefix-free mount.
const problemPath = "/problems/"

// problemTypeOf is the `type` of a problem with the given code.
func problemTypeOf(code string) string { return problemPath + code }

// problemDoc documents one error code: what it means, when it happens and
// what a client should do about it.
type problemDoc struct {
	Code, Title, Means, When, Do string
}

// problemDocs is the documentation of every error code the API sends. A
// test checks that each code of the root package's error.go is here.
var problemDocs = []problemDoc{
	{consentd.EMALFORMED, "Malformed request",
		"The body could not be read as the JSON (or CSV, NDJSON) the operation takes: it is not valid JSON, holds more than one value, has a field the operation does not know, or a field of the wrong type.",
		"Bodies are decoded strictly: unknown fields are refused rather than ignored, so that a misspelled field never silently loses data. An empty body where one is required is malformed too.",
		"Fix the request; the detail says what is wrong and, where it can, `fields` names the field. Retrying the same request gives the same answer."},
	{consentd.EUNAUTHORIZED, "No valid API key",
		"The request carried no API key, or one this server does not know (deleted, or from another server).",
		"Every /v1 operation but the signed-link pages needs `Authorization: Bearer <key>`. A key deleted through this server stops working at once; one deleted through another server within about ten seconds.",
		"Send a valid key. Ask an admin of the workspace to create one (POST /v1/keys) if yours was deleted."},
	{consentd.EFORBIDDEN, "The key's role may not do this",
		"The API key is valid, but its role is not among those the operation admits (listed in the document as x-roles).",
		"Roles are admin, write, check, read and agent; a check key may only ask for decisions, a read key may not write, only admin keys change the catalog, keys and webhooks.",
		"Use a key of a role the operation admits; the detail lists them. Do not retry with the same key."},
	{consentd.ENOTFOUND, "Not found",
		"The resource does not exist in the API key's workspace, or the route does not exist.",
		"Ids are scoped to a workspace: another workspace's resource is not found, never forbidden, so that ids do not leak across workspaces. A deleted resource is not found.",
		"Check the id (URL-escaped: a consent id holds # and @) and the workspace of the key."},
	{consentd.ENOTINEFFECT, "No consent in effect at that time",
		"The consent has log entries, but none of them was in effect at the time asked (as_of), or none had been recorded by known_at.",
		"Answered by the time-travel reads (as_of, known_at) for a time before the first write of the consent.",
		"Ask for a later time, or read the consent's history (GET /v1/consents/{id}/history)."},
	{consentd.ECONFLICT, "Conflict with the current state",
		"The request contradicts the resource's current state: a purpose that still has topics cannot be deleted, an id is already taken, an access report is asked of a request that is not completed.",
		"The state may change: the conflict names what stands in the way.",
		"Change the state first (delete the topics, wait for the request to complete), or use another id; then retry."},
	{consentd.ELEAFERASED, "Log leaf erased",
		"The log entry's bytes were erased with its address (a right-to-erasure request); only its hash is left, so the entry can be proved in the log but not shown.",
		"Answered for log entries of an erased address; the tree and every proof still verify.",
		"Nothing to fix: the data is gone on purpose. Proofs of the entry's hash remain available."},
	{consentd.ETOOLARGE, "Too large",
		"The body, or the number of items in a batch, is over the operation's limit.",
		"A JSON body is limited to 1 MiB, a batch body to 32 MiB and 10,000 items; an import to the server's --import-max-bytes.",
		"Split the request into smaller ones and send them one after the other."},
	{consentd.EUNSUPPORTEDMEDIATYPE, "Unsupported media type",
		"The body's Content-Type is not one the operation reads.",
		"An import takes text/csv; decisions:batch takes application/json or application/x-ndjson.",
		"Send the body with a media type the operation lists in /openapi.json."},
	{consentd.EINTERNAL, "Internal error",
		"The server failed in a way that is not the request's fault; the cause is logged on the server, never sent.",
		"A database that is down or full, a bug. Writes are transactions: a failed write changed nothing.",
		"Retry later with backoff; writes are idempotent (a consent write, a party PUT), so a retry is safe. If it persists, report it with the time of the request."},
	{consentd.EINVALID, "Invalid field",
		"A field is well-formed JSON but its value is not allowed: missing, empty, too long, out of range, or inconsistent with another field.",
		"Validation happens before anything is written: an invalid request changes nothing.",
		"Fix the fields listed in `fields` (each with its own code and message) and retry."},
	{consentd.EINVALIDCONTACTPOINT, "Invalid contact point",
		"The contact point cannot be normalized: not an e-mail address, not a phone number in E.164 form (or national form with the workspace's default region), or not of the kind the channel needs.",
		"Contact points are normalized before they are stored or hashed, so that one address has one consent.",
		"Send a valid address for the channel: an e-mail address for email, a phone number for sms."},
	{consentd.EUNKNOWNPURPOSE, "Unknown purpose",
		"The purpose named is not in the workspace's catalog.",
		"Consents, decisions and imports name a purpose by its id (POST /v1/purposes creates one).",
		"Create the purpose first, or fix the id."},
	{consentd.EUNKNOWNTOPIC, "Unknown topic",
		"The topic named is not in the workspace's catalog, or not a topic of the purpose named.",
		"Topics belong to one purpose.",
		"Create the topic under the purpose, or fix the topic or purpose id."},
	{consentd.EUNKNOWNCHANNELTYPE, "Unknown channel type",
		"The channel type (purpose, topic and channel) named is not derived from the catalog.",
		"A consent id ends with a channel type id; GET /v1/channel-types lists them.",
		"Use a channel type the catalog derives."},
	{consentd.ECHANNELNOTOFFERED, "Channel not offered",
		"The purpose does not offer the channel asked: it has no such channel in its settings, or the channel is disabled for consents.",
		"A purpose's channels list which of email, sms and the others it can be consented on.",
		"Add the channel to the purpose (PATCH /v1/purposes/{id}), or use one it offers."},
	{consentd.EINVALIDSTATUS, "Invalid status",
		"The consent status is not one of opted_in, opted_out and pending, or is not allowed here.",
		"A write sets a status; pending is for double opt-in.",
		"Send one of the allowed statuses."},
	{consentd.EINVALIDTIME, "Invalid time",
		"A time is not an RFC 3339 time such as 2026-03-14T12:00:00Z.",
		"Times in bodies (captured_at) and in query parameters (as_of, known_at) must carry a time zone.",
		"Send the time in RFC 3339 form; `fields` names the field."},
	{consentd.EFUTURECAPTUREDAT, "captured_at in the future",
		"The consent's captured_at is later than the server's clock allows.",
		"Consents are ordered by when they were captured; a future time would let a write win over every later one. A little clock skew is allowed.",
		"Send the time the consent was actually captured; check the client's clock."},
	{consentd.EINVALIDRULE, "Invalid rule",
		"An automation rule's CEL expression does not compile or type-check.",
		"Rules are checked when they are stored, never when they run.",
		"Fix the expression: `fields` names the field and the message the position of the error."},
	{consentd.EWEBHOOKTARGET, "Webhook target not allowed",
		"The webhook URL is on a loopback, private or link-local address (also IPv6 forms that carry such an IPv4 address), which the server refuses so that webhooks cannot reach its own network.",
		"Checked when the webhook is created or changed, and again when events are delivered.",
		"Use a public address, or start the server with --webhook-allow-private where private targets are intended."},
	{consentd.EBEYONDLOG, "Beyond the log",
		"A tree size is larger than the log is (yet).",
		"Consistency proofs and checkpoints are asked by tree size.",
		"Ask for a size at most the latest checkpoint's (GET /v1/log/checkpoints/latest)."},
	{consentd.ERATELIMITED, "Rate limited",
		"Too many requests came from this API key or this client address in a short time.",
		"Each key and each client address has a request rate with a burst; check keys (decisions) are exempt by default. The Retry-After header says how many seconds to wait.",
		"Wait for Retry-After seconds, then retry; spread requests out, or batch them (consents:batch, decisions:batch)."},
	{consentd.EMETHODNOTALLOWED, "Method not allowed",
		"The path exists, but not with this method; the Allow header lists the methods it has.",
		"Answered for any method a route does not define.",
		"Use one of the methods in Allow."},
}

// problemOps documents the problem pages in /openapi.json.
func problemOps() openapi.Operation {
	return openapi.Operation{Method: "GET", Path: problemPath + "{code}", OperationID: "getProblem", Tags: []string{"problems"},
		Summary:       "The documentation of an error code",
		Description:   "The page a problem's `type` points to: what the error code means, when it happens and what to do about it. Public (no API key), and safe to cache.",
		ResponseTypes: []string{"text/html; charset=utf-8"},
		Query:         []openapi.Param{{Name: "code", In: "path", Description: "an error code, the `code` of a problem", Enum: problemCodes()}},
		Errors:        []int{404}}
}

func problemCodes() []string {
	codes := make([]string, len(problemDocs))
	for i, d := range problemDocs {
		codes[i] = d.Code
	}
	slices.Sort(codes)
	return codes
}

var problemPage = template.Must(template.New("problem").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Code}}: {{.Title}}</title></head>
<body>
<h1><code>{{.Code}}</code>: {{.Title}}</h1>
<p>HTTP status {{.Status}}.</p>
<h2>What it means</h2>
<p>{{.Means}}</p>
<h2>When it happens</h2>
<p>{{.When}}</p>
<h2>What to do</h2>
<p>{{.Do}}</p>
</body></html>
`))

// serveProblem serves the page of one error code; unknown codes are a
// not_found problem.
func (s *Server) serveProblem(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	i := slices.IndexFunc(problemDocs, func(d problemDoc) bool { return d.Code == code })
	if i < 0 {
		s.writeError(w, r, consentd.Errorf(consentd.ENOTFOUND, "no error code %q", code))
		return
	}
	d := problemDocs[i]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	var b strings.Builder
	if err := problemPage.Execute(&b, struct {
		problemDoc
		Status int
	}{d, statusOf(d.Code)}); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Write([]byte(b.String()))
}
