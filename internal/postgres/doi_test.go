package postgres_test

import (
	"testing"

	"github.com/consentd/consentd/internal/doi"
	"github.com/consentd/consentd/internal/doi/doitest"
	"github.com/consentd/consentd/internal/postgres"
)

var _ doi.Store = (*postgres.DB)(nil)

// TestDoubleOptInStore runs the double opt-in store suite on a new database
// per subtest.
func TestDoubleOptInStore(t *testing.T) {
	freshDB(t) // skip or fail at once when there is no server
	doitest.Run(t, func(t *testing.T) doitest.Store { return open(t, freshDB(t)) })
}
