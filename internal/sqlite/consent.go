package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/consentd/consentd"
)

// WriteConsents upserts consents in one transaction, in order, each with its
// log entry (docs/decisions.md). A refused write gets its error in its
// result and changes nothing; the others go on. When WriteConsents returns
// without error every accepted write is durable.
func (db *DB) WriteConsents(ctx context.Context, wsID string, writes []consentd.ConsentWrite, actor string) ([]consentd.WriteResult, error) {
	var results []consentd.WriteResult
	write := db.write
	if len(writes) > aloneWrites {
		// A big batch runs in a transaction of its own: in a group, its
		// savepoint's statement journal would copy every page it changes.
		write = db.writeAlone
	}
	err := write(ctx, func(tx *Tx) error {
		c, err := db.loadWS(tx.ctx, tx, wsID)
		if err != nil {
			return err
		}
		results, err = tx.writeConsents(c, writes, actor, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// aloneWrites is the most writes of a WriteConsents that share a group
// commit with other requests.
const aloneWrites = 100

// writeConsent writes one consent in tx; a refused write is its error.
func (tx *Tx) writeConsent(c *wsCache, w *consentd.ConsentWrite, actor string) (consentd.WriteResult, error) {
	res, err := tx.writeConsents(c, []consentd.ConsentWrite{*w}, actor, nil)
	if err != nil {
		return consentd.WriteResult{}, err
	}
	return res[0], res[0].Err
}

// preparedWrite is a write after PrepareWrite: its channel type, its
// normalized contact point and the kind and hash of it, or why it was
// refused.
type preparedWrite struct {
	ct   consentd.ChannelType
	cp   string
	kind consentd.ContactPointKind
	hash [32]byte
	err  error
}

// writeConsents writes consents in tx, in order, through one consent
// batch: the stored states of all their contact points read at once, the
// rows stored with multi-row statements. API writes, single writes of the
// pages, feeds and requests, and import batches all take this path. A
// write refused by validation, or by skip (when given: an import skips
// erased addresses), gets its error in its result; an error returned is
// internal and the caller's transaction must roll back.
func (tx *Tx) writeConsents(c *wsCache, writes []consentd.ConsentWrite, actor string, skip func(preps []preparedWrite) error) ([]consentd.WriteResult, error) {
	results := make([]consentd.WriteResult, len(writes))
	preps := make([]preparedWrite, len(writes))
	hashes := make([][32]byte, 0, len(writes))
	for i := range writes {
		p := &preps[i]
		if p.ct, p.cp, p.err = consentd.PrepareWrite(c.catalog, c.ws.DefaultRegion, &writes[i], tx.now); p.err == nil {
			p.kind = consentd.KindOf(p.ct.Channel)
			p.hash = consentd.ContactPointHash(c.secret, p.kind, p.cp)
			hashes = append(hashes, p.hash)
		}
	}
	if skip != nil {
		if err := skip(preps); err != nil {
			return nil, err
		}
	}
	b := tx.newConsentBatch(c, actor)
	if err := b.load(hashes); err != nil {
		return nil, err
	}
	for i := range writes {
		p := &preps[i]
		if p.err != nil {
			results[i].Err = p.err
			continue
		}
		res, err := b.write(&writes[i], p.ct, p.cp, p.kind, p.hash)
		if err != nil {
			return nil, err // the log or a party link failed: internal
		}
		results[i] = res
	}
	if err := b.flush(); err != nil {
		return nil, err
	}
	return results, nil
}

// The columns of a stored consent, one row of placeholders for them, and
// its arguments.
const (
	consentInsertCols = `workspace_id, cp_hash, channel_type, purpose_id, topic_id, channel, status,
		captured_at, recorded_at, version, source, reason, party_id, jurisdiction, proof, origin, seq`
	consentInsertRow = `?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?`
	consentUpsert    = ` ON CONFLICT (workspace_id, cp_hash, channel_type) DO UPDATE SET purpose_id = excluded.purpose_id,
		topic_id = excluded.topic_id, channel = excluded.channel, status = excluded.status, captured_at = excluded.captured_at,
		recorded_at = excluded.recorded_at, version = excluded.version, source = excluded.source, reason = excluded.reason,
		party_id = excluded.party_id, jurisdiction = excluded.jurisdiction, proof = excluded.proof, origin = excluded.origin, seq = excluded.seq`
)

func consentArgs(wsID string, hash [32]byte, next *consentd.Consent) []any {
	var proof any
	if next.Proof != nil {
		proof = mustJSON(next.Proof)
	}
	return []any{wsID, hash[:], next.ChannelType, next.Purpose, next.Topic, next.Channel, string(next.Status), nanos(next.CapturedAt), nanos(next.RecordedAt),
		next.Version, mustJSON(next.Source), next.Reason, next.PartyID, next.Jurisdiction, proof, next.Origin, next.Seq}
}

func (tx *Tx) putContactPoint(wsID string, hash []byte, kind consentd.ContactPointKind, value string) error {
	_, err := tx.ExecContext(tx.ctx, `INSERT INTO contact_points (workspace_id, hash, kind, value) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, wsID, hash, string(kind), value)
	return err
}

func (tx *Tx) linkParty(wsID, partyID string, hash []byte, kind consentd.ContactPointKind) error {
	if _, err := tx.ExecContext(tx.ctx, `INSERT INTO parties (workspace_id, id, created_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		wsID, partyID, nanos(tx.now), nanos(tx.now)); err != nil {
		return err
	}
	_, err := tx.ExecContext(tx.ctx, `INSERT INTO party_contact_points (workspace_id, party_id, hash, kind) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, wsID, partyID, hash, string(kind))
	return err
}

const consentCols = `c.channel_type, c.purpose_id, c.topic_id, c.channel, c.status, c.captured_at, c.recorded_at, c.version,
	c.source, c.reason, c.party_id, c.jurisdiction, c.proof, c.origin, c.seq`

func scanConsent(row interface{ Scan(...any) error }, extra ...any) (*consentd.Consent, error) {
	c := &consentd.Consent{}
	var status, source string
	var captured, recorded int64
	var proof sql.NullString
	dest := append([]any{&c.ChannelType, &c.Purpose, &c.Topic, &c.Channel, &status, &captured, &recorded, &c.Version,
		&source, &c.Reason, &c.PartyID, &c.Jurisdiction, &proof, &c.Origin, &c.Seq}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	c.Status, c.CapturedAt, c.RecordedAt = consentd.Status(status), fromNanos(captured), fromNanos(recorded)
	if err := json.Unmarshal([]byte(source), &c.Source); err != nil {
		return nil, fmt.Errorf("consent source: %w", err)
	}
	if proof.Valid {
		c.Proof = &consentd.Proof{}
		if err := json.Unmarshal([]byte(proof.String), c.Proof); err != nil {
			return nil, fmt.Errorf("consent proof: %w", err)
		}
	}
	return c, nil
}

// consentRow loads the stored consent or nil; ContactPoint and ID are left
// for the caller, who knows the plaintext.
func (tx *Tx) consentRow(wsID string, hash []byte, ct string) (*consentd.Consent, error) {
	row := tx.QueryRowContext(tx.ctx, `SELECT `+consentCols+` FROM consents c WHERE c.workspace_id = ? AND c.cp_hash = ? AND c.channel_type = ?`, wsID, hash, ct)
	c, err := scanConsent(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return c, err
}

// resolveConsentID turns a public consent id into the workspace, hash,
// normalized contact point and channel type.
func (db *DB) resolveConsentID(ctx context.Context, wsID, id string) (*wsCache, [32]byte, string, consentd.ChannelType, error) {
	c, err := db.loadWS(ctx, db.r, wsID)
	if err != nil {
		return nil, [32]byte{}, "", consentd.ChannelType{}, err
	}
	hash, cp, ct, err := consentd.ResolveConsentID(c.catalog, c.ws.DefaultRegion, c.secret, id)
	return c, hash, cp, ct, err
}

// Consent returns one consent by its public id, now, or with asOf non-zero
// the one in effect then by captured_at (ConsentAt). It returns ENOTFOUND
// when there is no record, ENOTINEFFECT when none was in effect at asOf,
// EINVALID or EUNKNOWNCHANNELTYPE for a bad id.
func (db *DB) Consent(ctx context.Context, wsID, id string, asOf time.Time) (*consentd.Consent, error) {
	c, hash, cp, ct, err := db.resolveConsentID(ctx, wsID, id)
	if err != nil {
		return nil, err
	}
	if !asOf.IsZero() {
		return db.consentAt(ctx, c.ws.ID, hash, cp, ct, consentd.Times{AsOf: asOf})
	}
	row := db.r.QueryRowContext(ctx, `SELECT `+consentCols+` FROM consents c WHERE c.workspace_id = ? AND c.cp_hash = ? AND c.channel_type = ?`, c.ws.ID, hash[:], ct.ID)
	con, err := scanConsent(row)
	if err != nil {
		return nil, notFound(err, "consent")
	}
	con.ContactPoint, con.ID = cp, consentd.ConsentID(cp, ct.ID)
	return con, nil
}

// ConsentHistory returns the log entries of one consent, oldest first.
func (db *DB) ConsentHistory(ctx context.Context, wsID, id string) ([]consentd.LogRecord, error) {
	_, hash, _, ct, err := db.resolveConsentID(ctx, wsID, id)
	if err != nil {
		return nil, err
	}
	return db.SubjectLog(ctx, wsID, consentd.HashedConsentID(hash, ct.ID))
}

// ListConsents returns one page of consents matching f, in key order, and
// the token of the next page ("" at the end). It returns EINVALID for a bad
// filter or page token.
func (db *DB) ListConsents(ctx context.Context, wsID string, f consentd.ConsentFilter) ([]*consentd.Consent, string, error) {
	c, err := db.loadWS(ctx, db.r, wsID)
	if err != nil {
		return nil, "", err
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	if f.Status != "" && !f.Status.Valid() {
		return nil, "", consentd.FieldErrorf(consentd.EINVALIDSTATUS, "status", "status must be opted_in, opted_out or pending")
	}
	q := `SELECT ` + consentCols + `, c.cp_hash, COALESCE(p.value, '') FROM consents c
		LEFT JOIN contact_points p ON p.workspace_id = c.workspace_id AND p.hash = c.cp_hash
		WHERE c.workspace_id = ?`
	args := []any{wsID}
	if f.ContactPoint != "" {
		hashes := consentd.CandidateHashes(c.secret, c.ws.DefaultRegion, f.ContactPoint)
		if len(hashes) == 0 {
			return nil, "", consentd.FieldErrorf(consentd.EINVALIDCONTACTPOINT, "contact_point", "the contact point cannot be normalized as an email, phone or custom address")
		}
		q += ` AND c.cp_hash IN (?` + strings.Repeat(`, ?`, len(hashes)-1) + `)`
		for _, h := range hashes {
			args = append(args, h)
		}
	}
	for _, kv := range []struct{ col, v string }{{"c.party_id", f.PartyID}, {"c.purpose_id", f.Purpose}, {"c.channel", f.Channel}, {"c.status", string(f.Status)}} {
		if kv.v != "" {
			q += ` AND ` + kv.col + ` = ?`
			args = append(args, kv.v)
		}
	}
	if f.PageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.PageToken)
		if err != nil || len(b) < 33 {
			return nil, "", consentd.FieldErrorf(consentd.EINVALID, "page_token", "page_token is not one this server gave")
		}
		q += ` AND (c.cp_hash, c.channel_type) > (?, ?)`
		args = append(args, b[:32], string(b[32:]))
	}
	q += ` ORDER BY c.cp_hash, c.channel_type LIMIT ?`
	args = append(args, f.Limit+1)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	out := []*consentd.Consent{}
	var next string
	var prevHash []byte
	for rows.Next() {
		var hash []byte
		var cp string
		con, err := scanConsent(rows, &hash, &cp)
		if err != nil {
			return nil, "", err
		}
		if len(out) == f.Limit {
			last := out[len(out)-1]
			next = base64.RawURLEncoding.EncodeToString(append(prevHash, last.ChannelType...))
			break
		}
		con.ContactPoint, con.ID = cp, consentd.ConsentID(cp, con.ChannelType)
		out = append(out, con)
		prevHash = hash
	}
	return out, next, rows.Err()
}

// consentBatch is the write path of writeConsents, set-based: load reads
// the stored consents of the batch's contact points in a few queries,
// write decides each write in order against the stored state as the
// earlier writes of the batch left it, and flush stores the log entries,
// contact points and consents with multi-row INSERTs.
type consentBatch struct {
	tx       *Tx
	c        *wsCache
	actor    string
	log      *logBatch
	state    map[string]*batchConsent // hash + channel type -> stored consent (nil: none)
	cpArgs   []any                    // contact_points rows to insert
	consents []*batchConsent          // consents to upsert, each once
}

// batchConsent is a consent as the batch leaves it.
type batchConsent struct {
	hash    [32]byte
	c       *consentd.Consent
	written bool // c was written by the batch (not read from the database)
	queued  bool // c is in consents
}

func (tx *Tx) newConsentBatch(c *wsCache, actor string) *consentBatch {
	return &consentBatch{tx: tx, c: c, actor: actor, log: tx.newLogBatch(c.ws.ID), state: map[string]*batchConsent{}}
}

func batchKey(hash [32]byte, ct string) string { return string(hash[:]) + "\x00" + ct }

// load reads the stored consents of the contact points, up to 500 at a
// time.
func (b *consentBatch) load(hashes [][32]byte) error {
	seen := make(map[[32]byte]bool, len(hashes))
	uniq := make([]any, 0, len(hashes))
	for _, h := range hashes {
		if !seen[h] {
			seen[h] = true
			uniq = append(uniq, h[:])
		}
	}
	for len(uniq) > 0 {
		chunk := uniq[:min(len(uniq), 500)]
		uniq = uniq[len(chunk):]
		args := append([]any{b.c.ws.ID}, chunk...)
		// Prepared once per length (up to 500 statements): a single
		// write's one-address query runs all day.
		rows, err := b.tx.QueryContext(b.tx.ctx, `SELECT `+consentCols+`, c.cp_hash FROM consents c WHERE c.workspace_id = ? AND c.cp_hash IN (?`+
			strings.Repeat(`, ?`, len(chunk)-1)+`)`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var h []byte
			con, err := scanConsent(rows, &h)
			if err != nil {
				rows.Close()
				return err
			}
			hash := [32]byte(h)
			b.state[batchKey(hash, con.ChannelType)] = &batchConsent{hash: hash, c: con}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// write decides one write with PlanWrite against the batch's state and
// queues what it stores.
func (b *consentBatch) write(w *consentd.ConsentWrite, ct consentd.ChannelType, cp string, kind consentd.ContactPointKind, hash [32]byte) (consentd.WriteResult, error) {
	key := batchKey(hash, ct.ID)
	st := b.state[key]
	var cur *consentd.Consent
	if st != nil {
		if st.written {
			cur = storedCopy(st.c)
		} else {
			// Read from the database: only this write sees it, as
			// consentRow's result.
			cur, st.c = st.c, nil
		}
	}
	res, entry, next := consentd.PlanWrite(b.tx.now, w, ct, cp, hash, cur, b.actor)
	if st != nil && st.c == nil {
		// The stored consent, as the database still has it, for the
		// next write of the same consent in the batch.
		st.c, st.written = storedCopy(cur), true
	}
	var err error
	if next == nil {
		if entry != nil {
			_, err = b.log.append(entry)
		}
		return res, err
	}
	if next.Seq, err = b.log.append(entry); err != nil {
		return consentd.WriteResult{}, err
	}
	b.cpArgs = append(b.cpArgs, b.c.ws.ID, hash[:], string(kind), cp)
	if next.PartyID != "" {
		if err := b.tx.linkParty(b.c.ws.ID, next.PartyID, hash[:], kind); err != nil {
			return consentd.WriteResult{}, err
		}
	}
	if st == nil {
		st = &batchConsent{hash: hash}
		b.state[key] = st
	}
	st.c, st.written = next, true
	if !st.queued {
		st.queued = true
		b.consents = append(b.consents, st)
	}
	return res, nil
}

// storedCopy is c as it reads back from the database: what consentRow
// returns after c was stored (JSON columns and times round-tripped,
// ContactPoint and ID empty).
func storedCopy(c *consentd.Consent) *consentd.Consent {
	out := *c
	out.ContactPoint, out.ID = "", ""
	out.CapturedAt, out.RecordedAt = fromNanos(nanos(c.CapturedAt)), fromNanos(nanos(c.RecordedAt))
	out.Source = consentd.Source{}
	if err := json.Unmarshal([]byte(mustJSON(c.Source)), &out.Source); err != nil {
		panic(err) // it was just marshaled
	}
	if c.Proof != nil {
		out.Proof = &consentd.Proof{}
		if err := json.Unmarshal([]byte(mustJSON(c.Proof)), out.Proof); err != nil {
			panic(err)
		}
	}
	return &out
}

// flush stores what the batch's writes changed.
func (b *consentBatch) flush() error {
	if err := b.log.flush(); err != nil {
		return err
	}
	// Contact points and consents in key order (see sortRows).
	cps := sortRows(b.cpArgs, 4, func(x, y []any) int { return bytes.Compare(x[1].([]byte), y[1].([]byte)) })
	if err := b.tx.insertRows(`INSERT INTO contact_points (workspace_id, hash, kind, value) VALUES `, `(?, ?, ?, ?)`, ` ON CONFLICT DO NOTHING`, 4,
		cps); err != nil {
		return fmt.Errorf("contact points: %w", err)
	}
	slices.SortFunc(b.consents, func(x, y *batchConsent) int {
		if c := bytes.Compare(x.hash[:], y.hash[:]); c != 0 {
			return c
		}
		return strings.Compare(x.c.ChannelType, y.c.ChannelType)
	})
	args := make([]any, 0, len(b.consents)*17)
	for _, st := range b.consents {
		args = append(args, consentArgs(b.c.ws.ID, st.hash, st.c)...)
		st.queued = false
	}
	// An upsert, not INSERT OR REPLACE: the consent_counts triggers see a
	// replaced row as the update it is (migration 0013).
	if err := b.tx.insertRows(`INSERT INTO consents (`+consentInsertCols+`) VALUES `, `(`+consentInsertRow+`)`, consentUpsert, 17, args); err != nil {
		return fmt.Errorf("upsert consent: %w", err)
	}
	b.cpArgs, b.consents = b.cpArgs[:0], b.consents[:0]
	return nil
}
