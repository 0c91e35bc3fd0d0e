package main

import "context"

func (m *Main) apply(ctx context.Context, args []string) error {
	return usageError{"apply: not built yet"}
}
func (m *Main) exportCatalog(ctx context.Context, args []string) error {
	return usageError{"export-catalog: not built yet"}
}
