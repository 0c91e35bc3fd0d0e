package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/consentd/consentd"
)

// This file stores bulk imports (docs/architecture.md (imports and exports)): the import jobs,
// their batches (consent writes, rejects and progress in one transaction)
// and rejects, and the export of a workspace's consents.

const importCols = `id, format, purpose, channel, topic, sha256, size, name, mapping, state, rows, created, changed, unchanged, superseded,
	skipped, rejected, skip_reasons, committed, created_at, started_at, finished_at, error`

func scanImport(row interface{ Scan(...any) error }) (*consentd.Import, error) {
	im := &consentd.Import{}
	var state, reasons string
	var created int64
	var started, finished sql.NullInt64
	err := row.Scan(&im.ID, &im.Format, &im.Purpose, &im.Channel, &im.Topic, &im.SHA256, &im.Size, &im.Name, &im.Mapping, &state,
		&im.Rows, &im.Created, &im.Changed, &im.Unchanged, &im.Superseded, &im.Skipped, &im.Rejected, &reasons, &im.Committed,
		&created, &started, &finished, &im.Error)
	if err != nil {
		return nil, err
	}
	im.State, im.CreatedAt = consentd.ImportState(state), fromNanos(created)
	if started.Valid {
		t := fromNanos(started.Int64)
		im.StartedAt = &t
	}
	if finished.Valid {
		t := fromNanos(finished.Int64)
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
	var im *consentd.Import
	created := false
	err := db.write(ctx, func(tx *Tx) error {
		var err error
		im, err = scanImport(tx.QueryRowContext(tx.ctx, `SELECT `+importCols+` FROM imports WHERE workspace_id = ? AND spec_key = ?`, wsID, specKey(spec)))
		if err == nil || !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		im = &consentd.Import{ID: "imp_" + randomID(12), State: consentd.ImportQueued, ImportSpec: spec, CreatedAt: tx.now}
		created = true
		_, err = tx.ExecContext(tx.ctx, `INSERT INTO imports (workspace_id, id, spec_key, format, purpose, channel, topic, sha256, size, name, mapping, state, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, wsID, im.ID, specKey(spec), spec.Format, spec.Purpose, spec.Channel, spec.Topic,
			spec.SHA256, spec.Size, spec.Name, spec.Mapping, string(im.State), nanos(tx.now))
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return im, created, nil
}

// Import returns one import; ENOTFOUND when the workspace has none by id.
func (db *DB) Import(ctx context.Context, wsID, id string) (*consentd.Import, error) {
	im, err := scanImport(db.r.QueryRowContext(ctx, `SELECT `+importCols+` FROM imports WHERE workspace_id = ? AND id = ?`, wsID, id))
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
	q, args := `SELECT `+importCols+` FROM imports WHERE workspace_id = ?`, []any{wsID}
	if f.PageToken != "" {
		at, id, err := parsePageToken(f.PageToken)
		if err != nil {
			return nil, "", err
		}
		q += ` AND (created_at, id) < (?, ?)`
		args = append(args, at, id)
	}
	rows, err := db.r.QueryContext(ctx, q+` ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, f.Limit+1)...)
	if err != nil {
		return nil, "", err
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
		return nil, "", err
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
	rows, err := db.r.QueryContext(ctx, `SELECT workspace_id, id FROM imports WHERE state IN ('queued', 'running') ORDER BY created_at, id`)
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
	return db.write(ctx, func(tx *Tx) error {
		var state string
		if err := tx.QueryRowContext(tx.ctx, `SELECT state FROM imports WHERE workspace_id = ? AND id = ?`, wsID, id).Scan(&state); err != nil {
			return notFound(err, "import")
		}
		_, err := tx.ExecContext(tx.ctx, `UPDATE imports SET state = 'running', started_at = COALESCE(started_at, ?)
			WHERE workspace_id = ? AND id = ? AND state IN ('queued', 'running')`, nanos(tx.now), wsID, id)
		return err
	})
}

// FinishImport sets an import's final state (succeeded or failed) and
// error message, or queues it again (state queued).
func (db *DB) FinishImport(ctx context.Context, wsID, id string, state consentd.ImportState, msg string) error {
	return db.write(ctx, func(tx *Tx) error {
		var finished any = nanos(tx.now)
		if state == consentd.ImportQueued {
			finished = nil
		}
		res, err := tx.ExecContext(tx.ctx, `UPDATE imports SET state = ?, error = ?, finished_at = ? WHERE workspace_id = ? AND id = ?`,
			string(state), msg, finished, wsID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return consentd.Errorf(consentd.ENOTFOUND, "import not found")
		}
		return nil
	})
}

// ImportBatch writes one batch of an import in one transaction: the
// consent writes (lines[i] is the line of writes[i]) through the write path
// of WriteConsents, except a write to an erased contact point, which is
// skipped (reason "erased") and stores nothing; the rejects of the reader
// and those of the writes the write path refuses; and the import's counts
// and committed records. A crash leaves the import at a batch boundary.
func (db *DB) ImportBatch(ctx context.Context, wsID, importID string, writes []consentd.ConsentWrite, lines []int64,
	rejects []consentd.ImportReject, progress consentd.ImportProgress, actor string) ([]consentd.WriteResult, error) {
	if len(lines) != len(writes) {
		return nil, fmt.Errorf("import batch: %d writes, %d lines", len(writes), len(lines))
	}
	results := make([]consentd.WriteResult, len(writes))
	err := db.writeAlone(ctx, func(tx *Tx) error {
		c, err := db.loadWS(tx.ctx, tx, wsID)
		if err != nil {
			return err
		}
		im, err := scanImport(tx.QueryRowContext(tx.ctx, `SELECT `+importCols+` FROM imports WHERE workspace_id = ? AND id = ?`, wsID, importID))
		if err != nil {
			return notFound(err, "import")
		}
		if im.State == consentd.ImportSucceeded || progress.Committed <= im.Committed {
			return consentd.Errorf(consentd.ECONFLICT, "this batch of the import is committed already (another runner?)")
		}
		rejects := append([]consentd.ImportReject(nil), rejects...)
		counts, reasons := progress.Counts, map[string]int64{}
		for k, v := range im.SkipReasons {
			reasons[k] = v
		}
		for k, v := range progress.SkipReasons {
			reasons[k] += v
		}
		// An import skips the addresses erased since its file was made,
		// so that no import resurrects them.
		skipErased := func(preps []preparedWrite) error {
			var hashes [][32]byte
			for i := range preps {
				if preps[i].err == nil {
					hashes = append(hashes, preps[i].hash)
				}
			}
			erased, err := tx.erasedAmong(wsID, hashes)
			if err != nil {
				return err
			}
			for i := range preps {
				if preps[i].err == nil && erased[preps[i].hash] {
					preps[i].err = errSkippedErased
				}
			}
			return nil
		}
		res, err := tx.writeConsents(c, writes, actor, skipErased)
		if err != nil {
			return err
		}
		copy(results, res)
		for i := range results {
			switch err := results[i].Err; {
			case err == errSkippedErased:
				counts.Skipped++
				reasons[consentd.SkipErased]++
			case err != nil:
				rejects = append(rejects, consentd.ImportReject{Line: lines[i], Code: consentd.ErrorCode(err), Reason: consentd.ErrorMessage(err)})
			default:
				countOutcome(&counts, results[i].Outcome)
			}
		}
		counts.Rejected = int64(len(rejects))
		for _, r := range rejects {
			raw := ""
			if r.Raw != nil {
				raw = mustJSON(r.Raw)
			}
			if _, err := tx.ExecContext(tx.ctx, `INSERT INTO import_rejects (workspace_id, import_id, line, code, reason, raw) VALUES (?, ?, ?, ?, ?, ?)`,
				wsID, importID, r.Line, r.Code, r.Reason, raw); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(tx.ctx, `UPDATE imports SET state = 'running', started_at = COALESCE(started_at, ?), rows = rows + ?, created = created + ?,
			changed = changed + ?, unchanged = unchanged + ?, superseded = superseded + ?, skipped = skipped + ?, rejected = rejected + ?,
			skip_reasons = ?, committed = ? WHERE workspace_id = ? AND id = ?`,
			nanos(tx.now), counts.Rows, counts.Created, counts.Changed, counts.Unchanged, counts.Superseded, counts.Skipped, counts.Rejected,
			mustJSON(reasons), progress.Committed, wsID, importID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// errSkippedErased is the result of an import's write to an erased address.
var errSkippedErased = consentd.Errorf(consentd.ECONFLICT, "skipped: the contact point was erased")

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

// erasedAmong returns which of the contact point hashes carry an erased
// suppression, asking for up to 500 at a time.
func (tx *Tx) erasedAmong(wsID string, hashes [][32]byte) (map[[32]byte]bool, error) {
	out := map[[32]byte]bool{}
	for len(hashes) > 0 {
		chunk := hashes[:min(len(hashes), 500)]
		hashes = hashes[len(chunk):]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, wsID)
		for i := range chunk {
			args = append(args, chunk[i][:])
		}
		// Not prepared (tx.Tx): the last chunk's length varies.
		rows, err := tx.Tx.QueryContext(tx.ctx, `SELECT cp_hash FROM suppressions WHERE workspace_id = ? AND reason = 'erased' AND cp_hash IN (?`+
			strings.Repeat(`, ?`, len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var h []byte
			if err := rows.Scan(&h); err != nil {
				rows.Close()
				return nil, err
			}
			out[[32]byte(h)] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ImportRejects calls fn with each rejected row of an import in line
// order; ENOTFOUND when the workspace has no such import.
func (db *DB) ImportRejects(ctx context.Context, wsID, id string, fn func(*consentd.ImportReject) error) error {
	if _, err := db.Import(ctx, wsID, id); err != nil {
		return err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT line, code, reason, raw FROM import_rejects WHERE workspace_id = ? AND import_id = ? ORDER BY line, rowid`, wsID, id)
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
	c, err := db.loadWS(ctx, db.r, wsID)
	if err != nil {
		return err
	}
	if !at.IsZero() {
		return db.exportAt(ctx, c, at, fn)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+consentCols+`, p.value FROM consents c
		JOIN contact_points p ON p.workspace_id = c.workspace_id AND p.hash = c.cp_hash
		WHERE c.workspace_id = ? ORDER BY c.cp_hash, c.channel_type`, wsID)
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
