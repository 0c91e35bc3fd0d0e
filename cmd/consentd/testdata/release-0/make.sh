#!/usr/bin/env bash
# make.sh writes the release-0 fixtures: a SQLite data folder and a
# PostgreSQL dump written by consentd as of commit 8402b1d, the last release
# that stored the log as JSON leaves with one row per tree hash
# (log_hashes). upgrade_test.go opens them with the current code, which
# moves the tree into tiles, and checks that nothing the old release signed
# or answered changed.
#
# Usage, from anywhere in the repository:
#
#   cmd/consentd/testdata/release-0/make.sh [POSTGRES_ADMIN_URL]
#
# It builds the old release from git (git archive 8402b1d), then for each
# backend starts `consentd serve` on 127.0.0.1 with a fresh data folder,
# writes the same story through the HTTP API, stops the server with SIGINT
# (a clean shutdown: the SQLite WAL is checkpointed into consentd.db) and
# keeps what it left, consentd.db gzipped. PostgreSQL (default
# postgres://postgres@127.0.0.1:5432/postgres) gets a scratch database that
# is dumped with pg_dump --no-owner --no-privileges (plain SQL with COPY
# blocks, gzipped: dump.sql.gz) and dropped. Needs go,
# git, curl, jq, psql and pg_dump. Every key in the fixtures is a throwaway
# made for them.
#
# The story, in each backend's workspace "default" (626 entries, so
# the tree has two full tiles and a partial one):
#   - purposes newsletter (email non-restrictive, sms) and alerts
#     (transactional), topic weekly;
#   - three consents:batch of the same 150 addresses a day apart (created,
#     then some changed and some unchanged), a few with proof;
#   - an import (POST /v1/imports, native CSV) of 152 rows, 2 of them rejected;
#   - single writes with proof {ip, user_agent}, a party, a superseded
#     write, a hard_bounce and a do_not_contact suppression, a purpose
#     change;
#   - checkpoint 1, ten more writes, the receipt of jane's newsletter
#     consent, checkpoint 2, and the decisions of decisions-request.ndjson.
# Workspace "other" gets a purpose, five consents and a checkpoint: a log
# without a full tile.
set -euo pipefail

release=8402b1d
admin_key=cdk_release0_fixture_admin_key_0000
here=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel)
pg_admin=${1:-postgres://postgres@127.0.0.1:5432/postgres}
pg_name=consentd_release0_fixture_$$

work=$(mktemp -d)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
	psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_name WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "building consentd $release"
mkdir "$work/src"
git -C "$repo" archive "$release" | tar -x -C "$work/src"
(cd "$work/src" && go build -o "$work/consentd" ./cmd/consentd)
old="$work/consentd"

base=
# api METHOD PATH [BODY [KEY]]: one API call; fails on an error status.
api() {
	local key=${4:-$admin_key}
	curl -sS --fail-with-body -X "$1" "$base$2" -H "Authorization: Bearer $key" \
		-H 'Content-Type: application/json' ${3:+--data-binary "$3"}
}

# start DATA [FLAGS...]: serve DATA on a free loopback port; sets base.
start() {
	local data=$1
	shift
	CONSENTD_ADMIN_KEY=$admin_key "$old" serve --data "$data" --addr 127.0.0.1:0 \
		--checkpoint-interval 0 "$@" 2>"$work/serve.log" &
	server_pid=$!
	for _ in $(seq 100); do
		base=$(grep -o 'addr=http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d= -f2 || true)
		[ -n "$base" ] && return
		sleep 0.1
	done
	cat "$work/serve.log" >&2
	exit 1
}

stop() {
	kill -INT "$server_pid"
	wait "$server_pid"
	server_pid=
}

# story DATA OUT [FLAGS...]: write the story through a server on DATA and
# keep the answers the tests compare with in OUT.
story() {
	local data=$1 out=$2
	shift 2
	start "$data" "$@"
	api POST /v1/purposes '{"id":"newsletter","name":"Newsletter","type":"commercial",
		"channels":{"email":{"enforcement":"non_restrictive"},"sms":{}}}' >/dev/null
	api POST /v1/purposes '{"id":"alerts","name":"Alerts","type":"transactional","channels":{"email":{}}}' >/dev/null
	api POST /v1/topics '{"id":"weekly","purpose":"newsletter","name":"Weekly digest"}' >/dev/null

	# Three batches of writes to the same 150 addresses, a day apart: the
	# first creates them (every tenth with proof), the next two change some
	# and leave the others unchanged, so that leaves carry before and after
	# states.
	for k in 0 1 2; do
		jq -n --argjson k "$k" '{consents: [range(150) as $i | {
			contact_point: "user-\($i | tostring | ("00" + .)[-3:])@example.com",
			channel: "email", purpose: "newsletter",
			status: (if $i % ([3, 2, 5][$k]) == 0 then "opted_out" else "opted_in" end),
			captured_at: ("2025-01-01T00:00:00Z" | fromdateiso8601 + 86400 * $k + 60 * $i | todateiso8601),
			source: {type: "form", name: "signup-page"}}
			+ (if $i % 10 == $k then {proof: {ip: "198.51.100.\($i)", user_agent: "Mozilla/5.0 (fixture \($k)/\($i))"}} else {} end)]}' >"$work/batch.json"
		api POST /v1/consents:batch @"$work/batch.json" >/dev/null
	done

	# An import of 150 native rows (75 addresses, the purpose and its topic)
	# and two bad rows.
	{
		echo contact_point,channel,purpose,topic,status,captured_at,source_type,source_name,source_details,party_id,jurisdiction,reason
		for i in $(seq 0 74); do
			status=opted_in
			[ $((i % 4)) -eq 0 ] && status=opted_out
			printf 'Import-%03d@Example.org,email,newsletter,,%s,2025-02-01T%02d:%02d:00Z,import,crm-export,,,,\n' "$i" "$status" $((i / 60)) $((i % 60))
			printf 'Import-%03d@Example.org,email,newsletter,weekly,opted_in,2025-02-01T%02d:%02d:30Z,import,crm-export,,,,\n' "$i" $((i / 60)) $((i % 60))
		done
		echo 'not-an-address,email,newsletter,,opted_in,2025-02-01T10:00:00Z,import,crm-export,,,,'
		echo 'import-x@example.org,email,nosuchpurpose,,opted_in,2025-02-01T10:00:00Z,import,crm-export,,,,'
	} >"$work/import.csv"
	id=$(curl -sS --fail-with-body "$base/v1/imports?format=native" -H "Authorization: Bearer $admin_key" \
		-H 'Content-Type: text/csv' --data-binary @"$work/import.csv" | jq -r .id)
	for _ in $(seq 300); do
		state=$(api GET "/v1/imports/$id" | jq -r .state)
		[ "$state" = succeeded ] && break
		[ "$state" = failed ] && { echo "import failed" >&2; exit 1; }
		sleep 0.1
	done
	[ "$state" = succeeded ] || { echo "import did not succeed: $state" >&2; exit 1; }

	# Single writes with proof, a party, a superseded write.
	api PUT /v1/parties/p-jane '{"contact_points":[{"kind":"email","value":"jane@example.com"},{"kind":"phone","value":"+4915112345678"}],
		"external_ids":{"crm":"C-1001"}}' >/dev/null
	api POST /v1/consents '{"contact_point":"Jane@Example.com ","channel":"email","purpose":"newsletter","status":"opted_in",
		"captured_at":"2025-03-01T10:00:00Z","source":{"type":"form","name":"fair-2025","details":{"booth":"12"}},
		"reason":"signed up at the fair","party_id":"p-jane","jurisdiction":"DE",
		"proof":{"ip":"203.0.113.7","user_agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0","form_version":"v3"}}' >/dev/null
	api POST /v1/consents '{"contact_point":"jane@example.com","channel":"email","purpose":"newsletter","status":"opted_out",
		"captured_at":"2025-02-01T10:00:00Z","source":{"type":"import","name":"old-crm"},"proof":{"ip":"203.0.113.8","user_agent":"curl/8.0"}}' >/dev/null
	api POST /v1/consents '{"contact_point":"+4915112345678","channel":"sms","purpose":"newsletter","status":"opted_in",
		"captured_at":"2025-03-01T10:05:00Z","source":{"type":"form","name":"fair-2025"},"party_id":"p-jane",
		"proof":{"ip":"203.0.113.7","user_agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}}' >/dev/null
	api POST /v1/consents '{"contact_point":"bob@example.com","channel":"email","purpose":"newsletter","status":"opted_out",
		"captured_at":"2025-03-02T09:00:00Z","source":{"type":"unsubscribe_link","name":"footer"},
		"proof":{"ip":"192.0.2.44","user_agent":"Thunderbird/115"}}' >/dev/null
	api POST /v1/suppressions '{"contact_point":"bounce@example.com","channel":"email","reason":"hard_bounce","note":"550 no such user"}' >/dev/null
	api POST /v1/suppressions '{"contact_point":"user-001@example.com","reason":"do_not_contact","note":"asked by phone"}' >/dev/null
	api PATCH /v1/purposes/newsletter '{"name":"The Newsletter"}' >/dev/null
	api POST /v1/log/checkpoints >"$out/checkpoint-1.json"

	for i in $(seq 0 9); do
		api POST /v1/consents "{\"contact_point\":\"late-$i@example.net\",\"channel\":\"email\",\"purpose\":\"newsletter\",
			\"status\":\"opted_in\",\"captured_at\":\"2025-04-01T00:0$i:00Z\",\"source\":{\"type\":\"api\"}}" >/dev/null
	done
	api GET "/v1/consents/jane%40example.com%23newsletter%3Aemail/receipt" | jq . >"$out/receipt.json"
	api POST /v1/log/checkpoints >"$out/checkpoint-2.json"

	# Workspace "other": five entries and a checkpoint, no full tile.
	other_key=$(CONSENTD_ADMIN_KEY=$admin_key "$old" workspace create other --data "$data" "$@" | tail -1)
	api POST /v1/purposes '{"id":"news","name":"News","type":"commercial","channels":{"email":{"enforcement":"restrictive"}}}' "$other_key" >/dev/null
	for i in 1 2 3 4; do
		api POST /v1/consents "{\"contact_point\":\"other-$i@example.com\",\"channel\":\"email\",\"purpose\":\"news\",
			\"status\":\"opted_in\",\"captured_at\":\"2025-05-01T00:00:0${i}Z\",\"source\":{\"type\":\"api\"},
			\"proof\":{\"ip\":\"192.0.2.$i\"}}" "$other_key" >/dev/null
	done
	api POST /v1/log/checkpoints '' "$other_key" >"$out/other-checkpoint.json"
	jq -n --arg key "$other_key" '{workspace: "other", admin_key: $key}' >"$out/other.json"

	curl -sS --fail-with-body "$base/v1/decisions:batch" -H "Authorization: Bearer $admin_key" \
		-H 'Content-Type: application/x-ndjson' --data-binary @"$here/decisions-request.ndjson" >"$out/decisions.ndjson"
	stop
	rm -rf "$data/outbox"
	rmdir "$data/imports" 2>/dev/null || true
}

# decisions-request.ndjson: the decisions recorded and compared.
cat >"$here/decisions-request.ndjson" <<'EOF'
{"contact_point":"jane@example.com","channel":"email","purpose":"newsletter"}
{"contact_point":"+4915112345678","channel":"sms","purpose":"newsletter"}
{"contact_point":"bob@example.com","channel":"email","purpose":"newsletter"}
{"contact_point":"user-000@example.com","channel":"email","purpose":"newsletter"}
{"contact_point":"user-001@example.com","channel":"email","purpose":"newsletter"}
{"contact_point":"user-002@example.com","channel":"email","purpose":"newsletter"}
{"contact_point":"bounce@example.com","channel":"email","purpose":"newsletter"}
{"contact_point":"import-004@example.org","channel":"email","purpose":"newsletter","topic":"weekly"}
{"contact_point":"import-005@example.org","channel":"email","purpose":"newsletter","topic":"weekly"}
{"contact_point":"late-9@example.net","channel":"email","purpose":"newsletter"}
{"contact_point":"+4915199999999","channel":"sms","purpose":"newsletter"}
{"contact_point":"nobody@example.com","channel":"email","purpose":"alerts"}
EOF

echo "writing the SQLite fixture"
rm -rf "$here/sqlite"
mkdir -p "$here/sqlite"
story "$here/sqlite/data" "$here/sqlite"

echo "writing the PostgreSQL fixture"
rm -rf "$here/postgres"
mkdir -p "$here/postgres"
psql -q "$pg_admin" -c "CREATE DATABASE $pg_name" >/dev/null
pg_url=$(echo "$pg_admin" | sed -E "s#/[^/?]*(\?|$)#/$pg_name\1#")
story "$here/postgres/data" "$here/postgres" --database "$pg_url"
pg_dump --no-owner --no-privileges "$pg_url" | gzip -9n >"$here/postgres/dump.sql.gz"

# The old log takes about 1.3 KB per entry; compressed, each fixture stays
# well under 1 MB (the hashes and ids in it are random).
gzip -9n "$here/sqlite/data/consentd.db"
ls -l "$here"/sqlite/data/consentd.db.gz "$here"/postgres/dump.sql.gz
