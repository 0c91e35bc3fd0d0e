package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd/internal/ledger"
)

// getText GETs path with the admin key and an Accept header and returns
// the status, the Content-Type and the body.
func getText(t *testing.T, base, path, accept string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ledgerTestAdminKey)
	req.Header.Set("Accept", accept)
	res, err := ledgerTestClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header.Get("Content-Type"), b
}

type listedCheckpoint struct {
	Size      int64  `json:"size"`
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"`
	Problem   string `json:"problem"`
}

func listCheckpoints(t *testing.T, base string) []listedCheckpoint {
	t.Helper()
	var page struct {
		Checkpoints []listedCheckpoint `json:"checkpoints"`
	}
	if st, raw := apiCall(t, base, "GET", "/v1/log/checkpoints", nil, &page); st != 200 {
		t.Fatalf("GET /v1/log/checkpoints = %d %s", st, raw)
	}
	return page.Checkpoints
}

// keys rotate-log: the new key signs from the next start on; checkpoints
// and receipts of the old key still verify, offline and over HTTP.
func TestRotateLogKey(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := runCLI(t, nil, "keys", "rotate-log", "--data", dir); code != 2 || !strings.Contains(errOut, "no checkpoint key") {
		t.Errorf("keys rotate-log without a key = %d %q %q; want 2, no checkpoint key", code, out, errOut)
	}

	srv := startInProcessServer(t, dir)
	if st, raw := apiCall(t, srv.base, "POST", "/v1/purposes", newsletterPurpose, nil); st != 201 {
		t.Fatalf("POST /v1/purposes = %d %s", st, raw)
	}
	t0 := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	write := func(srv *inProcessServer, i int) {
		t.Helper()
		if st, raw := apiCall(t, srv.base, "POST", "/v1/consents", consentWriteBody(tamperContactPoint(i), "opted_in", t0.Add(time.Duration(i)*time.Minute)), nil); st != 201 {
			t.Fatalf("POST /v1/consents #%d = %d %s", i, st, raw)
		}
	}
	for i := 1; i <= 4; i++ {
		write(srv, i)
	}
	var oldCP struct {
		KeyID     string `json:"key_id"`
		PublicKey string `json:"public_key"`
	}
	if st, raw := apiCall(t, srv.base, "POST", "/v1/log/checkpoints", nil, &oldCP); st != 201 {
		t.Fatalf("POST /v1/log/checkpoints = %d %s", st, raw)
	}
	_, oldReceipt := apiCall(t, srv.base, "GET", consentPath(tamperContactPoint(2))+"/receipt", nil, nil)
	_, _, oldText := getText(t, srv.base, consentPath(tamperContactPoint(2))+"/receipt", "text/x.tlog-proof")
	if code := srv.stop(); code != 0 {
		t.Fatalf("serve = %d; stderr:\n%s", code, srv.stderr)
	}
	oldKey, err := ledger.LoadOrCreateKey(filepath.Join(dir, "checkpoint.key"), "")
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI(t, nil, "keys", "rotate-log", "--data", dir)
	if code != 0 || !strings.Contains(out, "1 older keys still verify") {
		t.Fatalf("keys rotate-log = %d %q %q", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	newPub := lines[len(lines)-1]
	ring, err := ledger.LoadOrCreateKey(filepath.Join(dir, "checkpoint.key"), "consentd")
	if err != nil || ring.PublicKey() != newPub || !slices.Equal(ring.KeyIDs()[:1], oldKey.KeyIDs()) || len(ring.KeyIDs()) != 2 {
		t.Fatalf("key ring after rotation: %v, %v; want the old key and %s", ring, err, newPub)
	}

	srv = startInProcessServer(t, dir)
	for i := 5; i <= 7; i++ {
		write(srv, i)
	}
	var newCP struct {
		KeyID     string `json:"key_id"`
		PublicKey string `json:"public_key"`
		Size      int64  `json:"size"`
	}
	if st, raw := apiCall(t, srv.base, "POST", "/v1/log/checkpoints", nil, &newCP); st != 201 {
		t.Fatalf("POST /v1/log/checkpoints = %d %s", st, raw)
	}
	if newCP.KeyID == oldCP.KeyID || newCP.PublicKey == oldCP.PublicKey || newCP.PublicKey != ring.PublicKeyFor(strings.SplitN(newCP.KeyID, "+", 2)[0]) {
		t.Errorf("checkpoint after rotation signed by %s (%s); before by %s; want the new key", newCP.KeyID, newCP.PublicKey, oldCP.KeyID)
	}
	// The list names each checkpoint's own signer.
	cps := listCheckpoints(t, srv.base)
	if len(cps) != 2 || cps[0].KeyID != oldCP.KeyID || cps[1].KeyID != newCP.KeyID || cps[0].Problem != "" || cps[1].Problem != "" {
		t.Errorf("GET /v1/log/checkpoints = %+v; want the old key's, then the new key's", cps)
	}
	var rep ledger.Report
	if st, raw := apiCall(t, srv.base, "GET", "/v1/log/verify", nil, &rep); st != 200 || !rep.OK || !slices.Equal(rep.KeyIDs, []string{oldCP.KeyID, newCP.KeyID}) {
		t.Errorf("GET /v1/log/verify = %d %s; want ok with both keys", st, raw)
	}
	if code := srv.stop(); code != 0 {
		t.Fatalf("serve = %d; stderr:\n%s", code, srv.stderr)
	}

	code, out, errOut = runLogVerify(t, "--data", dir)
	if code != 0 || !strings.Contains(out, "ok, ") || !strings.Contains(out, "keys "+oldCP.KeyID+", "+newCP.KeyID) {
		t.Errorf("log verify after rotation = %d %q %q; want ok naming both keys", code, out, errOut)
	}
	code, out, _ = runLogVerify(t, "--data", dir, "--json")
	var jrep ledger.Report
	if err := json.Unmarshal([]byte(out), &jrep); code != 0 || err != nil || len(jrep.KeyIDs) != 2 {
		t.Errorf("log verify --json = %d %s (%v); want key_ids with both keys", code, out, err)
	}

	// Receipts made before the rotation.
	jsonFile := filepath.Join(t.TempDir(), "r.json")
	textFile := filepath.Join(t.TempDir(), "r.tlog-proof")
	os.WriteFile(jsonFile, oldReceipt, 0o600)
	os.WriteFile(textFile, oldText, 0o600)
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"JSON, the data folder's ring", []string{"--data", dir, jsonFile}, 0},
		{"text, the data folder's ring", []string{"--data", dir, textFile}, 0},
		{"text, the old key pinned", []string{"--public-key", oldKey.PublicKey(), textFile}, 0},
		{"text, the old key under the log's name", []string{"--public-key", oldCP.PublicKey, textFile}, 0},
		{"text, the new key only", []string{"--public-key", newPub, textFile}, 1},
		{"JSON, the new key only", []string{"--public-key", newPub, jsonFile}, 1},
		{"text, both keys", []string{"--public-key", newPub, "--public-key", oldKey.PublicKey(), textFile}, 0},
		{"text, both keys in one flag", []string{"--public-key", newPub + " " + oldKey.PublicKey(), textFile}, 0},
	} {
		code, out, errOut := runCLI(t, nil, append([]string{"receipt", "verify"}, tc.args...)...)
		if code != tc.code {
			t.Errorf("receipt verify, %s = %d %q %q; want %d", tc.name, code, out, errOut, tc.code)
		}
	}
}

// A checkpoint signed with the real key over a root the log never had is
// named as the first bad checkpoint pair, and no entry is blamed.
func TestLogVerifyNamesForkedCheckpoint(t *testing.T) {
	f := newTamperFixture(t)
	for _, tc := range []struct {
		name     string
		size     int64
		json     bool
		want     []string
		notWant  string
		wantPair []int64
	}{
		{
			name:    "between two good checkpoints",
			size:    15,
			want:    []string{"BROKEN, first bad checkpoint pair 10 and 15", "the checkpoint signed at size 15 does not match the log, but the later one at size 20 does"},
			notWant: "first bad entry",
		},
		{
			name:     "reported as JSON",
			size:     15,
			json:     true,
			want:     []string{`"ok":false`, `"bad_pair":[10,15]`},
			notWant:  `"first_bad"`,
			wantPair: []int64{10, 15},
		},
		{
			name:    "before the first checkpoint",
			size:    5,
			want:    []string{"BROKEN, first bad checkpoint pair 5 and 10", "the checkpoint signed at size 5 does not match the log"},
			notWant: "first bad entry",
		},
		{
			// The newest one replaced: the copy mirrored in the data folder
			// still has the real root.
			name:    "the newest one replaced",
			size:    tamperEntries,
			want:    []string{"BROKEN", "checkpoints with different roots were signed at size 31"},
			notWant: "first bad entry",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := f.copy(t)
			key, err := ledger.LoadOrCreateKey(filepath.Join(dir, "checkpoint.key"), "")
			if err != nil {
				t.Fatal(err)
			}
			td := openTamperDB(t, dir)
			root := ledger.LeafHash([]byte("a root the log never had"))
			signed, err := key.Sign(ledger.Checkpoint{Origin: ledger.Origin(td.wsID), Size: tc.size, Root: root})
			if err != nil {
				t.Fatal(err)
			}
			if tc.size == tamperEntries {
				td.exec(`DELETE FROM checkpoints WHERE workspace_id = ? AND size = ?`, tc.size)
			}
			td.exec(`INSERT INTO checkpoints (workspace_id, size, signed, created_at) VALUES (?, ?, ?, 0)`, tc.size, signed)
			td.close()

			args := []string{"--data", dir}
			if tc.json {
				args = append(args, "--json")
			}
			code, stdout, stderr := runLogVerify(t, args...)
			if code != 1 {
				t.Fatalf("log verify = %d, %q (stderr %q); want 1", code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("log verify = %q; want it to contain %q", stdout, w)
				}
			}
			if tc.notWant != "" && strings.Contains(stdout, tc.notWant) {
				t.Errorf("log verify = %q; want no %q", stdout, tc.notWant)
			}
			if tc.wantPair != nil {
				var rep ledger.Report
				if err := json.Unmarshal([]byte(stdout), &rep); err != nil || !slices.Equal(rep.BadPair, tc.wantPair) || rep.FirstBad != 0 {
					t.Errorf("log verify --json = %s (%v); want bad_pair %v and no first_bad", stdout, err, tc.wantPair)
				}
			}
		})
	}
}

// receipt verify reads the C2SP tlog-proof text as served, and says BROKEN
// (exit 1) for every kind of tampering with it.
func TestReceiptVerifyTLogProof(t *testing.T) {
	dir := t.TempDir()
	srv := startInProcessServer(t, dir)
	if st, raw := apiCall(t, srv.base, "POST", "/v1/purposes", newsletterPurpose, nil); st != 201 {
		t.Fatalf("POST /v1/purposes = %d %s", st, raw)
	}
	t0 := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	for i := 1; i <= 6; i++ {
		body := consentWriteBody(tamperContactPoint(i), "opted_in", t0.Add(time.Duration(i)*time.Minute))
		body["reason"] = "ticked the box" // evidence the leaf commits to
		if st, raw := apiCall(t, srv.base, "POST", "/v1/consents", body, nil); st != 201 {
			t.Fatalf("POST /v1/consents #%d = %d %s", i, st, raw)
		}
	}
	st, ct, text := getText(t, srv.base, consentPath(tamperContactPoint(3))+"/receipt", "text/x.tlog-proof")
	if st != 200 || ct != "text/x.tlog-proof" || !bytes.HasPrefix(text, []byte("c2sp.org/tlog-proof@v1\nextra ")) {
		t.Fatalf("GET receipt as tlog-proof = %d %s %q", st, ct, text)
	}
	_, jsonReceipt := apiCall(t, srv.base, "GET", consentPath(tamperContactPoint(3))+"/receipt", nil, nil)
	var latest struct {
		PublicKey string `json:"public_key"`
	}
	apiCall(t, srv.base, "GET", "/v1/log/checkpoints/latest", nil, &latest)
	if code := srv.stop(); code != 0 {
		t.Fatalf("serve = %d; stderr:\n%s", code, srv.stderr)
	}

	lines := strings.Split(string(text), "\n")
	if !strings.HasPrefix(lines[2], "index ") || len(lines) < 8 {
		t.Fatalf("tlog-proof lines %q", lines)
	}
	edit := func(i int, f func(string) string) string {
		ls := slices.Clone(lines)
		ls[i] = f(ls[i])
		return strings.Join(ls, "\n")
	}
	leaf, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[1], "extra "))
	otherHash := ledger.LeafHash([]byte("other")).String()
	blank := slices.Index(lines, "")
	withEvidence := func() string {
		var rc map[string]any
		json.Unmarshal(jsonReceipt, &rc)
		rc["evidence"], rc["opening"] = base64.StdEncoding.EncodeToString([]byte(`{"source":"x"}`)), base64.StdEncoding.EncodeToString(make([]byte, 32))
		b, _ := json.Marshal(rc)
		return string(b)
	}
	otherKey, err := ledger.LoadOrCreateKey(filepath.Join(t.TempDir(), "other.key"), "consentd")
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, receipt string
		args          []string
		code          int
		want          string // substring of stdout, or of stderr when code is 2
	}{
		{"as served, the data folder's ring", string(text), []string{"--data", dir}, 0, "receipt ok: entry 4 is in the log consentd/"},
		{"as served, from stdin", "-", []string{"--data", dir}, 0, "(tlog-proof)"},
		{"as served, the pinned key", string(text), []string{"--public-key", latest.PublicKey}, 0, "receipt ok: entry 4"},
		{"as served, no key at all", string(text), []string{"--data", filepath.Join(t.TempDir(), "none")}, 2, "--public-key"},
		{"another key", string(text), []string{"--public-key", otherKey.PublicKey()}, 1, "receipt BROKEN: checkpoint is not signed by the expected key"},
		{"a bad key", string(text), []string{"--public-key", "nope"}, 2, "--public-key"},
		{"extra changed", edit(1, func(string) string {
			bad := bytes.Clone(leaf)
			bad[len(bad)/2] ^= 1
			return "extra " + base64.StdEncoding.EncodeToString(bad)
		}), []string{"--data", dir}, 1, "receipt BROKEN: entry 4 is not proven"},
		{"index changed", edit(2, func(string) string { return "index 4" }), []string{"--data", dir}, 1, "receipt BROKEN: entry 5 is not proven"},
		{"index not canonical", edit(2, func(string) string { return "index 03" }), []string{"--data", dir}, 1, "receipt BROKEN: malformed tlog-proof: bad index line"},
		{"proof hash changed", edit(3, func(string) string { return otherHash }), []string{"--data", dir}, 1, "receipt BROKEN: entry 4 is not proven"},
		{"proof hash dropped", strings.Join(slices.Delete(slices.Clone(lines), 3, 4), "\n"), []string{"--data", dir}, 1, "receipt BROKEN"},
		{"checkpoint root changed", edit(blank+3, func(string) string { return otherHash }), []string{"--data", dir}, 1, "receipt BROKEN: checkpoint"},
		{"checkpoint signature changed", edit(blank+5, func(s string) string { return s[:len(s)-4] + "AAA=" }), []string{"--data", dir}, 1, "receipt BROKEN: checkpoint"},
		{"no extra line", strings.Join(slices.Delete(slices.Clone(lines), 1, 2), "\n"), []string{"--data", dir}, 1, "receipt BROKEN: malformed tlog-proof: no extra line"},
		{"JSON as served", string(jsonReceipt), []string{"--data", dir}, 0, "(JSON; its evidence matches the leaf)"},
		{"JSON with evidence the leaf does not commit to", withEvidence(), []string{"--data", dir}, 1, "receipt BROKEN: the evidence of entry 4"},
		{"neither JSON nor a tlog-proof", "c2sp.org/tlog-proof@v2\n", []string{"--data", dir}, 2, "not valid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"receipt", "verify"}, tc.args...)
			stdin := ""
			if tc.receipt == "-" {
				stdin = string(text)
			} else {
				p := filepath.Join(t.TempDir(), "receipt")
				if err := os.WriteFile(p, []byte(tc.receipt), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, p)
			}
			var out, errb bytes.Buffer
			m := &Main{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: ledgerTestEnv(nil)}
			code := m.Run(t.Context(), args)
			got := out.String()
			if tc.code == 2 {
				got = errb.String()
			}
			if code != tc.code || !strings.Contains(got, tc.want) {
				t.Errorf("receipt verify = %d, stdout %q, stderr %q; want %d and %q", code, out.String(), errb.String(), tc.code, tc.want)
			}
		})
	}
}
