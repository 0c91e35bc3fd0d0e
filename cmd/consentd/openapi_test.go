package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/consentd/consentd/internal/api"
)

// TestOpenAPICommand: `consentd openapi` prints the document a server
// serves at /openapi.json, byte for byte, to standard output or a file.
func TestOpenAPICommand(t *testing.T) {
	want, err := api.New(nil, nil, slog.New(slog.DiscardHandler)).Document()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, nil, "openapi")
	if code != exitOK || out != string(want) {
		t.Errorf("consentd openapi = %d, %d bytes (stderr %q); want the served document, %d bytes", code, len(out), errOut, len(want))
	}
	file := filepath.Join(t.TempDir(), "openapi.json")
	if code, _, errOut := runCLI(t, nil, "openapi", "-o", file); code != exitOK {
		t.Fatalf("consentd openapi -o = %d: %s", code, errOut)
	}
	if b, err := os.ReadFile(file); err != nil || !bytes.Equal(b, want) {
		t.Errorf("consentd openapi -o wrote %d bytes, %v; want the served document", len(b), err)
	}
	if code, _, _ := runCLI(t, nil, "openapi", "extra"); code != exitUsage {
		t.Errorf("consentd openapi extra = %d; want %d", code, exitUsage)
	}
}
