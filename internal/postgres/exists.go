package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// HasSchema reports whether the database at url holds consentd's tables,
// without creating any: offline commands check it before Open, which
// would migrate an empty database into a new, empty consentd store.
func HasSchema(ctx context.Context, url string) (bool, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return false, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(context.Background())
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('workspaces') IS NOT NULL`).Scan(&ok); err != nil {
		return false, fmt.Errorf("postgres: %w", err)
	}
	return ok, nil
}
