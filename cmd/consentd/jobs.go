package main

import "context"

func (m *Main) jobsList(ctx context.Context, args []string) error {
	return usageError{"jobs list: not built yet"}
}
func (m *Main) jobsRetry(ctx context.Context, args []string) error {
	return usageError{"jobs retry: not built yet"}
}

// startAutomation starts the automation job runner (issue 5).
func (m *Main) startAutomation(r *running) error { return nil }
