package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/consentd/consentd/internal/api"
)

// openAPI prints the API document that a server serves at /openapi.json,
// without a database or a running server: the document depends only on
// the route table. CI lints it (.ci/run).
func (m *Main) openAPI(args []string) error {
	fs := flag.NewFlagSet("openapi", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	out := fs.String("o", "", "write to this file instead of standard output")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"usage: consentd openapi [-o FILE]"}
	}
	doc, err := api.New(nil, nil, slog.New(slog.DiscardHandler)).Document()
	if err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	if *out == "" {
		_, err = m.Stdout.Write(doc)
		return err
	}
	if err := os.WriteFile(*out, doc, 0o644); err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	return nil
}
