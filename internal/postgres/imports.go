package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/consentd/consentd"
	"github.com/jackc/pgx/v5"
)

// This file stores bulk imports (docs/architecture.md (imports and exports)): the import jobs,
// their batches (consent writes, rejects and progress in one transaction)
// and rejects, and the export of a workspace's consents.

const importCols = `id, format, purpose, channel, topic, sha256, size, name, mapping, state, rows, created, changed, unchanged, superseded,
	skipped, rejected, skip_reasons, committed, created_at, started_at, finished_at, error`

func scanImport(row pgx.Row) (*consentd.Import, error) {
	im := &consentd.Import{}
	var state, reasons string
	var created int64
	var started, finished *int64
	err := row.Scan(&im.ID, &im.Format, &im.Purpose, &im.Channel, &im.Topic, &im.SHA256, &im.Size, &im.Name, &im.Mapping, &state,
		&im.Rows, &im.Created, &im.Changed, &im.Unchanged, &im.Superseded, &im.Skipped, &im.Rejected, &reasons, &im.Committed,
		&created, &started, &finished, &im.Error)
	if err != nil {
		return nil, err
	}
	im.State, im.CreatedAt = consentd.ImportState(state), fromNanos(created)
	if started != nil {
		t := fromNanos(*started)
		im.StartedAt = &t
	}
	if finished != nil {
		t := fromNanos(*finished)
		im.FinishedAt = &t
	}
	if err := json.Unmarshal([]byte(reasons), &im.SkipReasons); err != nil {
		return nil, fmt.Errorf("import skip reasons: %w", err)
	}
	if len(im.SkipReasons) == 0 {
		im.SkipReasons = nil
	}
	return im, nil
}

// specKey is what identifies an import within a workspace.
func specKey(s consentd.ImportSpec) string {
	return strings.Join([]string{s.Format, s.Purpose, s.Channel, s.Topic, s.SHA256, s.Mapping}, "\x1f")
}

// CreateImport returns the import of spec in the workspace: the existing
// one (created false) when the same format, options and file were imported
// before, otherwise a new queued one.
func (db *DB) CreateImport(ctx context.Context, wsID string, spec consentd.ImportSpec) (*consentd.Import, bool, error) {
	if spec.Format == "" || len(spec.SHA256) != 64 {
		return nil, false, consentd.Errorf(consentd.EINVALID, "an import needs a format and the file's SHA-256")
	}
	now := db.Now().UTC()
	id := "imp_" + randomID(12)
	tag, err := db.pool.Exec(ctx, `INSERT INTO imports (workspace_id, id, spec_key, format, purpose, channel, topic, sha256, size, name, mapping, state, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'queued', $12) ON CONFLICT (workspace_id, spec_key) DO NOTHING`,
		wsID, id, specKey(spec), spec.Format, spec.Purpose, spec.Channel, spec.Topic, spec.SHA256, spec.Size, spec.Name, spec.Mapping, nanos(now))
	if err != nil {
		return nil, false, dbError(err)
	}
	im, err := scanImport(db.pool.QueryRow(ctx, `SELECT `+importCols+` FROM imports WHERE workspace_id = $1 AND spec_key = $2`, wsID, specKey(spec)))
	if err != nil {
		return nil, false, dbError(err)
	}
	return im, tag.RowsAffected() == 1, nil
}

// Import returns one import; ENOTFOUND when the workspace has none by id.
func (db *DB) Import(ctx context.Context, wsID, id string) (*consentd.Import, error) {
	im, err := scanImport(db.pool.QueryRow(ctx, `SELECT `+importCols+` FROM imports WHERE workspace_id = $1 AND id = $2`, wsID, id))
	if err != nil {
		return nil, notFound(err, "import")
	}
	return im, nil
}

// Imports returns a page of the workspace's imports, newest first, and
// the token of the next page ("" after the last).
func (db *DB) Imports(ctx context.Context, wsID string, f consentd.ImportFilter) ([]*consentd.Import, string, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q, args := `SELECT `+importCols+` FROM imports WHERE workspace_id = $1`, []any{wsID}
	if f.PageToken != "" {
		at, id, err := parsePageToken(f.PageToken)
		if err != nil {
			return nil, "", err
		}
		q += ` AND (created_at, id) < ($2, $3)`
		args = append(args, at, id)
	}
	args = append(args, f.Limit+1)
	rows, err := db.pool.Query(ctx, q+` ORDER BY created_at DESC, id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, "", dbError(err)
	}
	defer rows.Close()
	out := []*consentd.Import{}
	for rows.Next() {
		im, err := scanImport(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, im)
	}
	if err := rows.Err(); err != nil {
		return nil, "", dbError(err)
	}
	var next string
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = pageToken(nanos(last.CreatedAt), last.ID)
	}
	return out, next, nil
}

// UnfinishedImports returns the imports of every workspace that are queued
// or running, oldest first.
func (db *DB) UnfinishedImports(ctx context.Context) ([]consentd.ImportRef, error) {
	rows, err := db.pool.Query(ctx, `SELECT workspace_id, id FROM imports WHERE state IN ('queued', 'running') ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []consentd.ImportRef
	for rows.Next() {
		var r consentd.ImportRef
		if err := rows.Scan(&r.WorkspaceID, &r.ID); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// StartImport marks a queued import running (its state while the file is
// read and sorted, before the first batch); ENOTFOUND when the workspace
// has no such import. A finished import stays as it is.
func (db *DB) StartImport(ctx context.Context, wsID, id string) error {
	var state string
	err := db.pool.QueryRow(ctx, `UPDATE imports SET state = CASE WHEN state IN ('queued', 'running') THEN 'running' ELSE state END,
		started_at = CASE WHEN state IN ('queued', 'running') THEN COALESCE(started_at, $1) ELSE started_at END
		WHERE workspace_id = $2 AND id = $3 RETURNING state`, nanos(db.Now().UTC()), wsID, id).Scan(&state)
	if err != nil {
		return notFound(err, "import")
	}
	return nil
}

// FinishImport sets an import's final state (succeeded or failed) and
// error message, or queues it again (state queued).
func (db *DB) FinishImport(ctx context.Context, wsID, id string, state consentd.ImportState, msg string) error {
	var finished *int64
	if state != consentd.ImportQueued {
		n := nanos(db.Now().UTC())
		finished = &n
	}
	tag, err := db.pool.Exec(ctx, `UPDATE imports SET state = $1, error = $2, finished_at = $3 WHERE workspace_id = $4 AND id = $5`,
		string(state), msg, finished, wsID, id)
	if err != nil {
		return dbError(err)
	}
	if tag.RowsAffected() == 0 {
		return consentd.Errorf(consentd.ENOTFOUND, "import not found")
	}
	return nil
}

// ImportBatch writes one batch of an import in one transaction: the
// consent writes (lines[i] is the line of writes[i]) through the write path
// of WriteConsents (stored state read in one round trip; outcomes, log
// entries and hashes computed as there), except a write to an erased
// contact point, which is skipped (reason "erased") and stores nothing; the
// rejects of the reader and those of the writes the write path refuses;
// and the import's counts and committed records. A crash leaves the import
// at a batch boundary. The rows a batch appends or creates go in with COPY
// in the same transaction (see streamLog, copyRows and logState.flush).
func (db *DB) ImportBatch(ctx context.Context, wsID, importID string, writes []consentd.ConsentWrite, lines []int64,
	rejects []consentd.ImportReject, progress consentd.ImportProgress, actor string) ([]consentd.WriteResult, error) {
	if len(lines) != len(writes) {
		return nil, fmt.Errorf("import batch: %d writes, %d lines", len(writes), len(lines))
	}
	results := make([]consentd.WriteResult, len(writes))
	err := db.writeLog(ctx, wsID, len(writes), func(tx *Tx) error {
		for i := range results {
			results[i] = consentd.WriteResult{}
		}
		c, err := db.loadWS(tx.ctx, tx, wsID)
		if err != nil {
			return err
		}
		im, err := scanImport(tx.QueryRow(tx.ctx, `SELECT `+importCols+` FROM imports WHERE workspace_id = $1 AND id = $2 FOR UPDATE`, wsID, importID))
		if err != nil {
			return notFound(err, "import")
		}
		if im.State == consentd.ImportSucceeded || progress.Committed <= im.Committed {
			return consentd.Errorf(consentd.ECONFLICT, "this batch of the import is committed already (another runner?)")
		}
		prep := prepareWrites(c, writes, tx.now)
		skipped, err := tx.writeBulk(c, writes, prep, actor, true, results)
		if err != nil {
			return err
		}
		rejects := append([]consentd.ImportReject(nil), rejects...)
		counts, reasons := progress.Counts, map[string]int64{}
		for k, v := range im.SkipReasons {
			reasons[k] = v
		}
		for k, v := range progress.SkipReasons {
			reasons[k] += v
		}
		for i := range writes {
			switch {
			case skipped[i]:
				counts.Skipped++
				reasons[consentd.SkipErased]++
			case prep[i].err != nil:
				rejects = append(rejects, consentd.ImportReject{Line: lines[i], Code: consentd.ErrorCode(prep[i].err), Reason: consentd.ErrorMessage(prep[i].err)})
			default:
				countOutcome(&counts, results[i].Outcome)
			}
		}
		counts.Rejected = int64(len(rejects))
		rc := db.copyBuf()
		for _, r := range rejects {
			rc.row(6)
			rc.text(wsID)
			rc.text(importID)
			rc.int8(r.Line)
			rc.text(r.Code)
			rc.text(r.Reason)
			if r.Raw != nil {
				rc.text(mustJSON(r.Raw))
			} else {
				rc.text("")
			}
		}
		if err := tx.copyFrom("import_rejects", "workspace_id, import_id, line, code, reason, raw", rc); err != nil {
			return err
		}
		tx.queue(`UPDATE imports SET state = 'running', started_at = COALESCE(started_at, $1), rows = rows + $2, created = created + $3,
			changed = changed + $4, unchanged = unchanged + $5, superseded = superseded + $6, skipped = skipped + $7, rejected = rejected + $8,
			skip_reasons = $9, committed = $10 WHERE workspace_id = $11 AND id = $12`,
			nanos(tx.now), counts.Rows, counts.Created, counts.Changed, counts.Unchanged, counts.Superseded, counts.Skipped, counts.Rejected,
			mustJSON(reasons), progress.Committed, wsID, importID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// countOutcome counts one write's outcome.
func countOutcome(c *consentd.ImportCounts, o consentd.Outcome) {
	switch o {
	case consentd.Created:
		c.Created++
	case consentd.Changed:
		c.Changed++
	case consentd.Unchanged:
		c.Unchanged++
	case consentd.Superseded:
		c.Superseded++
	}
}

// ImportRejects calls fn with each rejected row of an import in line
// order; ENOTFOUND when the workspace has no such import.
func (db *DB) ImportRejects(ctx context.Context, wsID, id string, fn func(*consentd.ImportReject) error) error {
	if _, err := db.Import(ctx, wsID, id); err != nil {
		return err
	}
	rows, err := db.pool.Query(ctx, `SELECT line, code, reason, raw FROM import_rejects WHERE workspace_id = $1 AND import_id = $2 ORDER BY line, ctid`, wsID, id)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r := &consentd.ImportReject{}
		var raw string
		if err := rows.Scan(&r.Line, &r.Code, &r.Reason, &raw); err != nil {
			return err
		}
		if raw != "" {
			if err := json.Unmarshal([]byte(raw), &r.Raw); err != nil {
				return err
			}
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ExportConsents calls fn with each consent of the workspace in key order
// as it is now or, with at non-zero, each consent in effect at at, in
// subject order (exportAt). A consent whose contact point was erased has
// no plaintext and is left out.
func (db *DB) ExportConsents(ctx context.Context, wsID string, at consentd.Times, fn func(*consentd.Consent) error) error {
	c, err := db.cachedWS(ctx, wsID)
	if err != nil {
		return err
	}
	if !at.IsZero() {
		return db.exportAt(ctx, c, at, fn)
	}
	rows, err := db.pool.Query(ctx, `SELECT `+consentCols+`, p.value FROM consents c
		JOIN contact_points p ON p.workspace_id = c.workspace_id AND p.hash = c.cp_hash
		WHERE c.workspace_id = $1 ORDER BY c.cp_hash, c.channel_type`, wsID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var cp string
		con, err := scanConsent(rows, &cp)
		if err != nil {
			return err
		}
		con.ContactPoint, con.ID = cp, consentd.ConsentID(cp, con.ChannelType)
		if err := fn(con); err != nil {
			return err
		}
	}
	return rows.Err()
}

// writeBulk writes the prepared writes of one request in tx, in order,
// with the rows it appends or creates copied in (COPY): the path of import
// batches and of big API batches. With skipErased, a write to an erased
// contact point is skipped (its result's error says so, and skipped[i] is
// set), as an import does. The stored state is read with one index probe
// per contact point, under the workspace's log lock, which every writer of
// consents and contact points holds (see copyRows). A refused write gets
// its error in results[i]; an error returned is internal.
func (tx *Tx) writeBulk(c *wsCache, writes []consentd.ConsentWrite, prep []prepared, actor string, skipErased bool,
	results []consentd.WriteResult) (skipped []bool, err error) {
	wsID := c.ws.ID
	// Erased contact points: skipped, as if not in the batch. Those
	// stored already are not copied again (see copyRows). Both are
	// read with the stored consents, in one round trip.
	var hashes [][]byte
	seen := make(map[[32]byte]bool, len(prep))
	for i := range prep {
		if prep[i].err == nil && !seen[prep[i].hash] {
			seen[prep[i].hash] = true
			hashes = append(hashes, prep[i].hash[:])
		}
	}
	erased, known := map[[32]byte]bool{}, map[[32]byte]bool{}
	if len(hashes) > 0 {
		readHashes := func(set map[[32]byte]bool) func(pgx.Rows) error {
			return func(rows pgx.Rows) error {
				for rows.Next() {
					var h []byte
					if err := rows.Scan(&h); err != nil {
						return err
					}
					set[[32]byte(h)] = true
				}
				return rows.Err()
			}
		}
		if skipErased {
			tx.queue(`SELECT DISTINCT cp_hash FROM suppressions WHERE workspace_id = $1 AND reason = 'erased' AND cp_hash = ANY($2::bytea[])`, wsID, hashes).
				Query(readHashes(erased))
		}
		// An index probe per contact point (see consentRows).
		tx.queue(`SELECT p.hash FROM unnest($2::bytea[]) AS k(h)
			CROSS JOIN LATERAL (SELECT p.hash FROM contact_points p WHERE p.workspace_id = $1 AND p.hash = k.h LIMIT 1) p`, wsID, hashes).
			Query(readHashes(known))
	}
	stored, err := tx.consentRows(wsID, prep)
	if err != nil {
		return nil, err
	}
	skipped = make([]bool, len(prep))
	for i := range prep {
		if prep[i].err == nil && erased[prep[i].hash] {
			skipped[i] = true
			prep[i].err = consentd.Errorf(consentd.ECONFLICT, "skipped: the contact point was erased")
		}
	}
	n := len(writes)
	cw := &consentWriter{tx: tx, c: c, actor: actor, state: stored, cps: make(map[[32]byte]bool, n), links: map[partyLink]bool{},
		upserts: make(map[consentKey]int, n), known: known}
	// The log's entries are copied as they are appended.
	tx.logs[wsID].bulk = true
	tx.logs[wsID].grow(n)
	stream, err := tx.streamLog(wsID)
	if err != nil {
		return nil, err
	}
	for i := range writes {
		if prep[i].err != nil {
			results[i].Err = prep[i].err
			continue
		}
		if results[i], err = cw.write(&writes[i], &prep[i]); err == nil {
			err = stream.write()
		}
		if err != nil {
			return nil, stream.close(err)
		}
	}
	if err := stream.close(nil); err != nil {
		return nil, err
	}
	return skipped, cw.copyRows()
}
