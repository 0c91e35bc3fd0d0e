package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/importer"
	"github.com/consentd/consentd/internal/sqlite"
)

// TestExportServer runs export --server against serve on loopback: the
// same native file as the offline export, as of a time, to -o FILE, and
// the problem of a wrong key.
func TestExportServer(t *testing.T) {
	srvDir := importData(t)
	file := nativeFile(t, 10)
	var key string
	{
		db, err := sqlite.Open(filepath.Join(srvDir, "consentd.db"))
		if err != nil {
			t.Fatal(err)
		}
		ws, _ := db.WorkspaceByName(t.Context(), "imp")
		_, key, err = db.CreateKey(t.Context(), ws.ID, consentd.RoleWrite, "exporter", "")
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	ready := make(chan string, 1)
	srv := &Main{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Ready: func(addr string) { ready <- addr }, Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() { done <- srv.Run(ctx, []string{"serve", "--data", srvDir, "--addr", "127.0.0.1:0"}) }()
	defer func() { cancel(); <-done }()
	addr := <-ready
	if !strings.HasPrefix(addr, "http") {
		addr = "http://" + addr
	}
	run := func(args ...string) (string, string, int) {
		var stdout, stderr bytes.Buffer
		m := &Main{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
		code := m.Run(t.Context(), args)
		return stdout.String(), stderr.String(), code
	}
	if out, errOut, code := run("import", "--server", addr, "--key", key, "--format", "native", file); code != 0 {
		t.Fatalf("import --server = %d\n%s%s", code, out, errOut)
	}

	exported := filepath.Join(t.TempDir(), "export.csv")
	if _, errOut, code := run("export", "--server", addr, "--key", key, "-o", exported); code != 0 {
		t.Fatalf("export --server = %d %s", code, errOut)
	}
	b, _ := os.ReadFile(exported)
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 6 || lines[0] != strings.Join(importer.NativeColumns, ",") {
		t.Errorf("export --server = %q; want the header and 5 consents", b)
	}
	out, errOut, code := run("export", "--server", addr, "--key", key, "--format", "ndjson", "--as-of", "2022-05-01T00:30:00Z")
	if n := strings.Count(out, "\n"); code != 0 || n != 4 {
		t.Errorf("export --server --as-of = %d %q %s; want 4 consents", code, out, errOut)
	}
	if _, errOut, code := run("export", "--server", addr, "--key", key, "--format", "xml"); code != 2 {
		t.Errorf("export --server --format xml = %d %s; want 2", code, errOut)
	}
	missing := filepath.Join(t.TempDir(), "none.csv")
	if _, errOut, code := run("export", "--server", addr, "--key", "wrong", "-o", missing); code == 0 || !strings.Contains(errOut, "unauthorized") {
		t.Errorf("export --server with a wrong key = %d %s; want the problem", code, errOut)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a failed export left %s: %v", missing, err)
	}
}
