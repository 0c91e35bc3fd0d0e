package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// catalogFile is the docs/architecture.md (automation) example, with the webhook on
// loopback (allowed by --webhook-allow-private) because these machines
// resolve no public names.
const catalogFile = `purposes:
  - id: newsletter
    name: Newsletter
    type: commercial
    channels: {email: {enforcement: non_restrictive}}
    double_opt_in: [DE]
topics:
  - {id: weekly, purpose: newsletter, name: Weekly digest}
rules:
  - id: contact-email-consent
    on: {record: contact, change: [created, updated]}
    when: 'record.LeadSource != "Marketing Cloud Form"'
    delay: 1m
    contact_point: record.Email
    party: record.contactid
    jurisdiction: record.Country
    consents:
      - channel_type: newsletter:email
        status: '!record.donotemail && !record.donotbulkemail ? "opted_in" : "opted_out"'
    source: {type: automation, name: contact-email-consent}
webhooks:
  - id: crm-sync
    url: http://127.0.0.1:9/hooks/consent
    events: [consent.changed]
    secret_env: CRM_WEBHOOK_SECRET
    origin: crm
`

const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// runCLI runs one consentd command in this process with the given
// environment.
func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: ledgerTestEnv(env)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = m.Run(ctx, args)
	return code, out.String(), errb.String()
}

func logSize(t *testing.T, base string) int {
	t.Helper()
	var page struct {
		Entries []struct {
			Seq int64 `json:"seq"`
		} `json:"entries"`
	}
	if st, raw := apiCall(t, base, "GET", "/v1/log?after=0&limit=1000", nil, &page); st != 200 {
		t.Fatalf("GET /v1/log = %d %s", st, raw)
	}
	return len(page.Entries)
}

func TestApplyAndExportCatalog(t *testing.T) {
	dir := t.TempDir()
	srv := startInProcessServer(t, dir)
	file := filepath.Join(dir, "catalog.yaml")
	if err := os.WriteFile(file, []byte(catalogFile), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CRM_WEBHOOK_SECRET": testWebhookSecret}
	apply := func(extra ...string) (int, string, string) {
		return runCLI(t, env, append([]string{"apply", "--data", dir, "--webhook-allow-private"}, extra...)...)
	}
	before := logSize(t, srv.base)

	// --dry-run prints the plan and changes nothing.
	code, out, errOut := apply("-f", file, "--dry-run")
	if code != 0 {
		t.Fatalf("apply --dry-run = %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"+ purpose newsletter", "+ topic weekly", "+ rule contact-email-consent", "+ webhook crm-sync", "Plan: 4 to create, 0 to update, 0 unchanged."} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if st, _ := apiCall(t, srv.base, "GET", "/v1/purposes/newsletter", nil, nil); st != 404 {
		t.Errorf("after --dry-run GET /v1/purposes/newsletter = %d, want 404", st)
	}
	if n := logSize(t, srv.base); n != before {
		t.Errorf("--dry-run appended %d log entries", n-before)
	}

	// Apply: everything exists, with the rule's defaults and the secret
	// from the environment (never shown).
	if code, out, errOut = apply("-f", file); code != 0 || !strings.Contains(out, "Applied") {
		t.Fatalf("apply = %d\n%s%s", code, out, errOut)
	}
	var rule struct {
		On struct {
			Record string `json:"record"`
		} `json:"on"`
		Delay string `json:"delay"`
	}
	if st, raw := apiCall(t, srv.base, "GET", "/v1/rules/contact-email-consent", nil, &rule); st != 200 || rule.On.Record != "contact" || rule.Delay != "1m" {
		t.Errorf("GET rule = %d %s", st, raw)
	}
	var hook map[string]any
	if st, raw := apiCall(t, srv.base, "GET", "/v1/webhooks/crm-sync", nil, &hook); st != 200 || hook["origin"] != "crm" || hook["secret"] != nil {
		t.Errorf("GET webhook = %d %s", st, raw)
	}
	// The server caches the catalog: it sees another process's change
	// within its follower's poll (1 s); the deadline only bounds a broken
	// test.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var topic map[string]any
		st, raw := apiCall(t, srv.base, "GET", "/v1/topics/weekly", nil, &topic)
		if st == 200 && topic["purpose"] == "newsletter" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET topic = %d %s", st, raw)
		}
	}
	applied := logSize(t, srv.base)
	if applied <= before {
		t.Errorf("apply logged nothing (%d entries before, %d after)", before, applied)
	}

	// The same file again changes nothing, not even the log.
	if code, out, errOut = apply("-f", file); code != 0 || !strings.Contains(out, "Plan: 0 to create, 0 to update, 4 unchanged.") {
		t.Errorf("second apply = %d\n%s%s", code, out, errOut)
	}
	if n := logSize(t, srv.base); n != applied {
		t.Errorf("second apply appended %d log entries", n-applied)
	}

	// A change shows as a diff of the changed field only.
	changed := strings.Replace(catalogFile, "name: Newsletter", "name: News", 1)
	if err := os.WriteFile(file, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = apply("-f", file, "--dry-run")
	if code != 0 || !strings.Contains(out, "~ purpose newsletter\n    name: \"Newsletter\" -> \"News\"\n") || !strings.Contains(out, "1 to update, 3 unchanged") {
		t.Errorf("dry run of a rename = %d\n%s", code, out)
	}

	// export-catalog writes the file back; applied to another workspace it
	// gives the same export.
	code, exported, errOut := runCLI(t, env, "export-catalog", "--data", dir)
	if code != 0 {
		t.Fatalf("export-catalog = %d %s", code, errOut)
	}
	for _, want := range []string{"id: contact-email-consent", "secret_env: CRM_WEBHOOK_SECRET", "double_opt_in:\n      - DE", "status: '!record.donotemail"} {
		if !strings.Contains(exported, want) {
			t.Errorf("export lacks %q:\n%s", want, exported)
		}
	}
	if strings.Contains(exported, "whsec_") {
		t.Errorf("export carries the webhook secret:\n%s", exported)
	}
	if code, out, errOut = runCLI(t, nil, "workspace", "create", "staging", "--data", dir); code != 0 {
		t.Fatalf("workspace create = %d %s%s", code, out, errOut)
	}
	exportFile := filepath.Join(dir, "exported.yaml")
	if err := os.WriteFile(exportFile, []byte(exported), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut = apply("-f", exportFile, "--workspace", "staging"); code != 0 {
		t.Fatalf("apply export to staging = %d\n%s%s", code, out, errOut)
	}
	code, again, _ := runCLI(t, env, "export-catalog", "--data", dir, "--workspace", "staging")
	if code != 0 || again != exported {
		t.Errorf("export of staging differs from the file applied to it:\n%s\n---\n%s", again, exported)
	}
}

func TestApplyRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	srv := startInProcessServer(t, dir)
	before := logSize(t, srv.base)
	for _, tc := range []struct {
		name, file string
		env        map[string]string
		code       int
		want       string
	}{
		{"unknown key", "purposes:\n  - {id: a, name: A, type: commercial, channels: {email: {}}, colour: red}\n", nil, exitUsage, `unknown field "colour"`},
		{"rule that does not compile", strings.Replace(catalogFile, `record.LeadSource != "Marketing Cloud Form"`, `record.LeadSource !=`, 1),
			map[string]string{"CRM_WEBHOOK_SECRET": testWebhookSecret}, exitFailed, "when"},
		{"secret not in the environment", catalogFile, nil, exitFailed, "CRM_WEBHOOK_SECRET"},
		{"bad secret", catalogFile, map[string]string{"CRM_WEBHOOK_SECRET": "hunter2"}, exitFailed, "whsec_"},
		{"topic of an unknown purpose", "topics:\n  - {id: t, purpose: nope, name: T}\n", nil, exitFailed, `purpose "nope"`},
		{"invalid purpose", "purposes:\n  - {id: a, name: A, type: commercial, channels: {sms: {enforcement: non_restrictive}}}\n", nil, exitFailed, "restrictive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "catalog.yaml")
			if err := os.WriteFile(file, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runCLI(t, tc.env, "apply", "-f", file, "--data", dir, "--webhook-allow-private")
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("apply = %d, stderr %q (stdout %q); want %d and %q", code, errOut, out, tc.code, tc.want)
			}
			if n := logSize(t, srv.base); n != before {
				t.Errorf("a refused file appended %d log entries", n-before)
			}
		})
	}
	if code, _, errOut := runCLI(t, nil, "apply", "--data", dir); code != exitUsage || !strings.Contains(errOut, "usage") {
		t.Errorf("apply without -f = %d %q", code, errOut)
	}
}
