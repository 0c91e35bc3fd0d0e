#!/usr/bin/env bash
# The whole test suite: `go test ./...`, preceded by one line that says
# whether the PostgreSQL tests run or are skipped (go test hides the skip
# messages of passing packages). PostgreSQL: CONSENTD_TEST_POSTGRES, default
# postgres://postgres@127.0.0.1:5432/test. Extra arguments go to go test.
set -euo pipefail
cd "$(dirname "$0")"
echo "PostgreSQL: $(go test -count=1 -run '^TestPostgresReachable$' -v ./internal/postgres 2>&1 |
  grep -E -o 'PostgreSQL (is not reachable|reachable|is required).*' | head -1 || echo 'could not check')"
# The integration packages (cmd/consentd, internal/api) start servers,
# build the static binary and run browsers: on a busy two-core machine
# they take longer than go test's default 10 minutes per package.
go test -count=1 -timeout 25m "$@" ./...
# In CI, also fuzz contact point normalization for a short while: the seed
# corpus (testdata/fuzz/FuzzNormalize) ran above as a test; this looks for
# new inputs that break its properties (strictness, idempotence in every
# region).
if [ "${CI:-}" = true ]; then
  go test -count=1 -run '^$' -fuzz '^FuzzNormalize$' -fuzztime 10s -parallel 1 .
fi
