package client

// operations maps each operation of the API, "METHOD /path" as the server's
// route table and /openapi.json name it, to the Client methods that call
// it. A test checks it against the server's route table: a route without
// a method here, or a method named here that does not exist, fails it.
var operations = map[string][]string{
	"GET /v1/workspace":         {"GetWorkspace"},
	"PATCH /v1/workspace":       {"UpdateWorkspace"},
	"GET /v1/texts":             {"Texts"},
	"PUT /v1/workspace/logo":    {"SetLogo"},
	"DELETE /v1/workspace/logo": {"DeleteLogo"},
	// Public, no key: the logo at its Logo.URL.
	"GET /brand/{workspace_id}/logo/{sha256}": {"GetLogo"},

	"GET /v1/purposes":         {"ListPurposes"},
	"POST /v1/purposes":        {"CreatePurpose"},
	"GET /v1/purposes/{id}":    {"GetPurpose"},
	"PATCH /v1/purposes/{id}":  {"UpdatePurpose"},
	"DELETE /v1/purposes/{id}": {"DeletePurpose"},
	"GET /v1/topics":           {"ListTopics"},
	"POST /v1/topics":          {"CreateTopic"},
	"GET /v1/topics/{id}":      {"GetTopic"},
	"PATCH /v1/topics/{id}":    {"UpdateTopic"},
	"DELETE /v1/topics/{id}":   {"DeleteTopic"},
	"GET /v1/channel-types":    {"ListChannelTypes"},

	"POST /v1/consents":                 {"WriteConsent"},
	"POST /v1/consents:batch":           {"WriteConsents"},
	"GET /v1/consents":                  {"ListConsents", "AllConsents"},
	"POST /v1/consents:search":          {"SearchConsents"},
	"GET /v1/consents/{id}":             {"GetConsent"},
	"GET /v1/consents/{id}/history":     {"ConsentHistory"},
	"GET /v1/consents/{id}/receipt":     {"GetReceipt", "GetReceiptTLogProof"},
	"GET /v1/consents:export":           {"ExportConsents", "ExportRecords"},
	"POST /v1/decisions":                {"Decide"},
	"POST /v1/decisions:batch":          {"DecideBatch", "DecideStream", "DecideNDJSON"},
	"PUT /v1/parties/{id}":              {"PutParty"},
	"GET /v1/parties/{id}":              {"GetParty"},
	"GET /v1/parties/{id}/consents":     {"PartyConsents"},
	"POST /v1/parties/{id}:opt-out-all": {"OptOutAll"},

	"GET /v1/reports/decisions": {"DecisionReport"},
	"GET /v1/reports/consents":  {"ConsentReport"},

	"GET /v1/suppressions":         {"ListSuppressions"},
	"POST /v1/suppressions":        {"CreateSuppression"},
	"DELETE /v1/suppressions/{id}": {"DeleteSuppression"},
	"GET /v1/keys":                 {"ListKeys"},
	"POST /v1/keys":                {"CreateKey"},
	"DELETE /v1/keys/{id}":         {"DeleteKey"},

	"GET /v1/log":                    {"GetLog", "AllLog"},
	"GET /v1/log/verify":             {"VerifyLog"},
	"POST /v1/log/checkpoints":       {"CreateCheckpoint"},
	"GET /v1/log/checkpoints/latest": {"LatestCheckpoint"},
	"GET /v1/log/checkpoints":        {"ListCheckpoints", "AllCheckpoints"},
	"GET /v1/log/proof":              {"ConsistencyProof"},

	"POST /v1/links":      {"CreateLink"},
	"POST /v1/links:send": {"SendPreferenceLink"},

	"POST /v1/inbound/sms":              {"ReceiveSMS"},
	"GET /v1/inbound/sms":               {"ListInboundSMS", "AllInboundSMS"},
	"POST /v1/inbound/sms/{id}:resolve": {"ResolveInboundSMS"},
	"POST /v1/requests":                 {"CreateRequest"},
	"GET /v1/requests":                  {"ListRequests", "AllRequests"},
	"GET /v1/requests/{id}":             {"GetRequest"},
	"GET /v1/requests/{id}/report":      {"GetAccessReport"},

	"PUT /v1/records/{type}/{id}": {"PutRecord"},
	"GET /v1/rules":               {"ListRules"},
	"GET /v1/rules/{id}":          {"GetRule"},
	"PUT /v1/rules/{id}":          {"PutRule"},
	"DELETE /v1/rules/{id}":       {"DeleteRule"},
	"GET /v1/jobs":                {"ListJobs", "AllJobs"},
	"GET /v1/jobs/{id}":           {"GetJob"},
	"POST /v1/jobs/{id}:retry":    {"RetryJob"},

	"GET /v1/webhooks":                 {"ListWebhooks"},
	"POST /v1/webhooks":                {"CreateWebhook"},
	"GET /v1/webhooks/{id}":            {"GetWebhook"},
	"PATCH /v1/webhooks/{id}":          {"UpdateWebhook"},
	"DELETE /v1/webhooks/{id}":         {"DeleteWebhook"},
	"GET /v1/webhooks/{id}/deliveries": {"ListWebhookDeliveries", "AllWebhookDeliveries"},
	"GET /v1/feeds":                    {"ListFeeds"},
	"POST /v1/feeds":                   {"CreateFeed"},
	"GET /v1/feeds/{id}":               {"GetFeed"},
	"DELETE /v1/feeds/{id}":            {"DeleteFeed"},

	"POST /v1/imports":             {"CreateImport", "WaitImport"},
	"GET /v1/imports":              {"ListImports", "AllImports"},
	"GET /v1/imports/{id}":         {"GetImport"},
	"GET /v1/imports/{id}/rejects": {"ImportRejects"},
}
