package main

import "context"

func (m *Main) importFile(ctx context.Context, args []string) error {
	return usageError{"import: not built yet"}
}
func (m *Main) export(ctx context.Context, args []string) error {
	return usageError{"export: not built yet"}
}

// startImports starts the runner of imports posted to the API (issue 6).
func (m *Main) startImports(r *running) error { return nil }
