// The README's "A walk through with curl", written against the types that
// openapi-typescript generates from the document consentd serves at
// /openapi.json (schema.d.ts, made by .ci/typescript-types). It is
// type-checked with tsc --strict: every request body and query is an object
// literal of the documented type, and every answer is read as the
// documented type of its status and media type, so a change of the document
// that breaks a client written this way (a renamed or removed property, a
// new required one, a changed enum, a status or media type gone) fails the
// check. .ci/typescript-types then runs walk() against the server whose
// document it was; the Go walk-through in internal/contracttest/oapicodegen
// checks the same steps more closely with a generated client.

import type { paths } from "./schema";

// The bodies of the application/json requests and answers of the steps.
type PurposeInput = paths["/v1/purposes"]["post"]["requestBody"]["content"]["application/json"];
type PurposeCreated = paths["/v1/purposes"]["post"]["responses"][201]["content"]["application/json"];
type ConsentWrite = paths["/v1/consents"]["post"]["requestBody"]["content"]["application/json"];
// Recording a consent answers 201 when it creates the consent and 200 when
// it updates it or changes nothing; this is the answer of whichever of the
// two the document lists.
type ConsentResponses = paths["/v1/consents"]["post"]["responses"];
type ConsentWritten = ConsentResponses[Extract<keyof ConsentResponses, 200 | 201>]["content"]["application/json"];
type DecisionInput = paths["/v1/decisions"]["post"]["requestBody"]["content"]["application/json"];
type DecisionAnswer = paths["/v1/decisions"]["post"]["responses"][200]["content"]["application/json"];
type ConsentQuery = NonNullable<paths["/v1/consents/{id}"]["get"]["parameters"]["query"]>;
type ConsentPath = paths["/v1/consents/{id}"]["get"]["parameters"]["path"];
type ConsentAsOf = paths["/v1/consents/{id}"]["get"]["responses"][200]["content"]["application/json"];
type NotInEffect = paths["/v1/consents/{id}"]["get"]["responses"][404]["content"]["application/problem+json"];
type ReceiptJSON = paths["/v1/consents/{id}/receipt"]["get"]["responses"][200]["content"]["application/json"];
type ReceiptText = paths["/v1/consents/{id}/receipt"]["get"]["responses"][200]["content"]["text/x.tlog-proof"];
type CheckpointsQuery = NonNullable<paths["/v1/log/checkpoints"]["get"]["parameters"]["query"]>;
type CheckpointList = paths["/v1/log/checkpoints"]["get"]["responses"][200]["content"]["application/json"];
type ProofQuery = paths["/v1/log/proof"]["get"]["parameters"]["query"];
type ConsistencyProof = paths["/v1/log/proof"]["get"]["responses"][200]["content"]["application/json"];
type VerifyReport = paths["/v1/log/verify"]["get"]["responses"][200]["content"]["application/json"];
type LinkInput = paths["/v1/links"]["post"]["requestBody"]["content"]["application/json"];
type LinkAnswer = paths["/v1/links"]["post"]["responses"][200]["content"]["application/json"];
// Batch decisions as NDJSON: the schemas are those of one line.
type BatchQuery = NonNullable<paths["/v1/decisions:batch"]["post"]["parameters"]["query"]>;
type BatchLine = paths["/v1/decisions:batch"]["post"]["requestBody"]["content"]["application/x-ndjson"];
type BatchAnswerLine = paths["/v1/decisions:batch"]["post"]["responses"][200]["content"]["application/x-ndjson"];
// Moving consent out and in: the export as CSV, posted back as an import.
type ExportQuery = NonNullable<paths["/v1/consents:export"]["get"]["parameters"]["query"]>;
type ExportCSV = paths["/v1/consents:export"]["get"]["responses"][200]["content"]["text/csv"];
type ImportQuery = paths["/v1/imports"]["post"]["parameters"]["query"];
type ImportCSV = paths["/v1/imports"]["post"]["requestBody"]["content"]["text/csv"];
type ImportAccepted = paths["/v1/imports"]["post"]["responses"][202]["content"]["application/json"];
type ImportPath = paths["/v1/imports/{id}"]["get"]["parameters"]["path"];
type ImportProgress = paths["/v1/imports/{id}"]["get"]["responses"][200]["content"]["application/json"];
type ImportRejects = paths["/v1/imports/{id}/rejects"]["get"]["responses"][200]["content"]["text/csv"];

// The README's requests, as typed literals.

// A purpose: commercial, offered on email (non-restrictive) and SMS (no
// enforcement given: commercial non-email channels are restrictive).
export const purpose: PurposeInput = {
  id: "newsletter",
  name: "Newsletter",
  type: "commercial",
  channels: { email: { enforcement: "non_restrictive" }, sms: {} },
};

// A consent with an address that is not normalized.
export const consent: ConsentWrite = {
  contact_point: "Jane@Example.com ",
  channel: "email",
  purpose: "newsletter",
  status: "opted_out",
  captured_at: "2026-11-01T10:00:00Z",
  source: { type: "form", name: "signup-page" },
};

export const decision: DecisionInput = { contact_point: "jane@example.com", channel: "email", purpose: "newsletter" };

export const consentID: ConsentPath = { id: "jane@example.com#newsletter:email" };
export const inEffect: ConsentQuery = { as_of: "2026-11-01T12:00:00Z" };
export const beforeCapture: ConsentQuery = { as_of: "2026-10-01T00:00:00Z" };

export const checkpointsFrom1: CheckpointsQuery = { from: 1 };
export const proof1to2: ProofQuery = { old: 1, new: 2 };

export const unsubscribeLink: LinkInput = {
  kind: "unsubscribe",
  contact_point: "jane@example.com",
  channel_type: "newsletter:email",
};

export const batchQuery: BatchQuery = { purpose: "newsletter", channel: "email", only: "allowed" };
// The README's lines name only the address: purpose and channel come from
// the query. The document gives a line the schema of a single decision,
// whose purpose and channel are required, so the lines are typed as a part
// of it.
export const batchLines: Pick<BatchLine, "contact_point">[] = [
  { contact_point: "jane@example.com" },
  { contact_point: "bob@example.com" },
];

export const exportCSV: ExportQuery = { format: "csv" };
export const importNative: ImportQuery = { format: "native" };

// The README's answers (its "# ->" lines), completed where it elides, as
// typed literals: a property the document drops or renames, or a required
// one it adds, fails the check.

export const purposeCreated: PurposeCreated = {
  id: "newsletter",
  name: "Newsletter",
  type: "commercial",
  channels: { email: { enforcement: "non_restrictive" }, sms: { enforcement: "restrictive" } },
  double_opt_in: "never",
  created_at: "2026-11-01T09:00:00Z",
  updated_at: "2026-11-01T09:00:00Z",
};

export const consentCreated: ConsentWritten = {
  id: "jane@example.com#newsletter:email",
  contact_point: "jane@example.com",
  channel_type: "newsletter:email",
  purpose: "newsletter",
  channel: "email",
  status: "opted_out",
  captured_at: "2026-11-01T10:00:00Z",
  recorded_at: "2026-11-01T10:00:01Z",
  version: 1,
  source: { type: "form", name: "signup-page" },
  seq: 2,
  applied: true,
  outcome: "created",
};

export const decided: DecisionAnswer = {
  allowed: false,
  reason: "opted_out",
  enforcement: "non_restrictive",
  status: "opted_out",
  contact_point: "jane@example.com",
  consent_id: "jane@example.com#newsletter:email",
  seq: 2,
};

export const asOf: ConsentAsOf = {
  id: "jane@example.com#newsletter:email",
  contact_point: "jane@example.com",
  channel_type: "newsletter:email",
  purpose: "newsletter",
  channel: "email",
  status: "opted_out",
  captured_at: "2026-11-01T10:00:00Z",
  recorded_at: "2026-11-01T10:00:01Z",
  version: 1,
  source: { type: "form", name: "signup-page" },
  seq: 2,
  proved_by: { seq: 2, type: "consent.changed", at: "2026-11-01T10:00:01Z" },
};

export const notInEffect: NotInEffect = {
  type: "urn:consentd:problem:not_in_effect",
  title: "Not Found",
  status: 404,
  detail: "no write of this consent captured at or before 2026-10-01T00:00:00Z is in the log",
  code: "not_in_effect",
};

export const linkAnswer: LinkAnswer = {
  url: "http://127.0.0.1:8080/u/<token>",
  token: "<token>",
  list_unsubscribe: "<http://127.0.0.1:8080/u/<token>>",
  list_unsubscribe_post: "List-Unsubscribe=One-Click",
  channel_type: "newsletter:email",
};

export const importQueued: ImportAccepted = {
  id: "imp_example",
  state: "queued",
  format: "native",
  sha256: "<hex>",
  size: 312,
  rows: 0,
  created: 0,
  changed: 0,
  unchanged: 0,
  superseded: 0,
  skipped: 0,
  rejected: 0,
  committed: 0,
  created_at: "2026-11-02T10:00:00Z",
};

export const batchAnswer: BatchAnswerLine[] = [
  {
    allowed: true,
    reason: "not_opted_out",
    enforcement: "non_restrictive",
    contact_point: "bob@example.com",
    consent_id: "bob@example.com#newsletter:email",
    seq: 2,
  },
];

// The walk itself, as a client would write it with fetch: each answer is
// read as its documented type and checked as the README says.
export async function walk(base: string, key: string): Promise<void> {
  const auth = { Authorization: `Bearer ${key}` };
  async function call<T>(method: string, path: string, body?: unknown, accept = "application/json"): Promise<[number, T]> {
    const res = await fetch(base + path, {
      method,
      headers: { ...auth, Accept: accept, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return [res.status, (accept === "application/json" ? JSON.parse(text) : text) as T];
  }
  function expect(ok: boolean, what: string, got: unknown): void {
    if (!ok) throw new Error(`${what}: ${JSON.stringify(got)}`);
  }
  const qs = (q: Record<string, string | number | undefined>): string =>
    "?" +
    Object.entries(q)
      .filter((e): e is [string, string | number] => e[1] !== undefined)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join("&");
  const consentPath = "/v1/consents/" + encodeURIComponent(consentID.id);

  const [ps, p] = await call<PurposeCreated>("POST", "/v1/purposes", purpose);
  expect(ps === 201 && p.channels["sms"]?.enforcement === "restrictive", "purpose", p);

  const [cs, c] = await call<ConsentWritten>("POST", "/v1/consents", consent);
  expect(cs === 201 && c.id === consentID.id && c.applied && c.outcome === "created", "consent", c);

  const [ds, d] = await call<DecisionAnswer>("POST", "/v1/decisions", decision);
  expect(ds === 200 && !d.allowed && d.reason === "opted_out", "decision", d);

  const [as, a] = await call<ConsentAsOf>("GET", consentPath + qs(inEffect));
  expect(as === 200 && a.status === "opted_out" && a.proved_by?.type === "consent.changed", "as_of", a);
  const [ns, n] = await call<NotInEffect>("GET", consentPath + qs(beforeCapture));
  expect(ns === 404 && n.code === "not_in_effect", "as_of before the capture", n);

  const [rs, r] = await call<ReceiptJSON>("GET", consentPath + "/receipt");
  expect(rs === 200 && r.seq === 2 && r.proof.length > 0, "receipt", r);
  const [ts, t] = await call<ReceiptText>("GET", consentPath + "/receipt", undefined, "text/x.tlog-proof");
  expect(ts === 200 && t.startsWith("c2sp.org/tlog-proof@v1\n"), "tlog-proof receipt", t);

  const [ls, l] = await call<CheckpointList>("GET", "/v1/log/checkpoints" + qs(checkpointsFrom1));
  expect(ls === 200 && l.checkpoints.some((cp) => cp.size === 2), "checkpoints", l);
  const [xs, x] = await call<ConsistencyProof>("GET", "/v1/log/proof" + qs(proof1to2));
  expect(xs === 200 && x.new_checkpoint?.size === 2, "consistency proof", x);
  const [vs, v] = await call<VerifyReport>("GET", "/v1/log/verify");
  expect(vs === 200 && v.ok && v.state?.differences === 0, "log verify", v);

  const [ks, k] = await call<LinkAnswer>("POST", "/v1/links", unsubscribeLink);
  expect(ks === 200 && k.list_unsubscribe === `<${k.url}>`, "link", k);

  const res = await fetch(base + "/v1/decisions:batch" + qs(batchQuery), {
    method: "POST",
    headers: { ...auth, "Content-Type": "application/x-ndjson" },
    body: batchLines.map((line) => JSON.stringify(line) + "\n").join(""),
  });
  const answers = (await res.text())
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as BatchAnswerLine);
  expect(res.status === 200 && answers.length === 1 && answers[0]?.contact_point === "bob@example.com", "batch", answers);

  const [es, csv] = await call<ExportCSV>("GET", "/v1/consents:export" + qs(exportCSV), undefined, "text/csv");
  expect(es === 200 && csv.startsWith("contact_point,channel,purpose,"), "export", csv);
  const body: ImportCSV = csv + "Bob@Example.com,email,newsletter,,opted_in,2026-11-02T10:00:00Z,import,crm,,,,\n";
  const posted = await fetch(base + "/v1/imports" + qs(importNative), {
    method: "POST",
    headers: { ...auth, "Content-Type": "text/csv" },
    body,
  });
  const queued = (await posted.json()) as ImportAccepted;
  expect(posted.status === 202 && queued.state === "queued", "import", queued);
  const importID: ImportPath = { id: queued.id };
  let progress: ImportProgress;
  do {
    await new Promise((resolve) => setTimeout(resolve, 50));
    [, progress] = await call<ImportProgress>("GET", "/v1/imports/" + encodeURIComponent(importID.id));
  } while (progress.state === "queued" || progress.state === "running");
  expect(progress.state === "succeeded" && progress.created === 1 && progress.unchanged === 1, "import done", progress);
  const [js, rejects] = await call<ImportRejects>("GET", `/v1/imports/${encodeURIComponent(importID.id)}/rejects`, undefined, "text/csv");
  expect(js === 200 && rejects === "line,code,reason\n", "import rejects", rejects);
}
