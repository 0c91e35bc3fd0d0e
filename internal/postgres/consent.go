package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/consentd/consentd"
	"github.com/jackc/pgx/v5"
)

// WriteConsents upserts consents in one transaction, in order, each with its
// log entry (docs/decisions.md). A refused write gets its error in its
// result and changes nothing; the others go on. When WriteConsents returns
// without error every accepted write is durable.
//
// The writes are validated against the cached catalog, then, in the
// transaction of a group commit (see writeLog), with the workspace's log
// locked and its head read, the stored consents of every key are read in
// one round trip; the outcomes, log entries and Merkle hashes are computed
// in Go, and every row goes out in a second round trip, one statement per
// table however many writes there are (the log's with COMMIT). When the
// catalog changed since it was cached, the writes are validated again
// under the lock.
func (db *DB) WriteConsents(ctx context.Context, wsID string, writes []consentd.ConsentWrite, actor string) ([]consentd.WriteResult, error) {
	c, err := db.cachedWS(ctx, wsID)
	if err != nil {
		return nil, err
	}
	results := make([]consentd.WriteResult, len(writes))
	if len(writes) > bulkWrites {
		err = db.writeLog(ctx, wsID, len(writes), func(tx *Tx) error {
			for i := range results {
				results[i] = consentd.WriteResult{}
			}
			l, err := tx.log(wsID) // the lock, and the catalog version under it
			if err != nil {
				return err
			}
			if l.version != c.version {
				if c, err = db.loadWS(tx.ctx, tx, wsID); err != nil {
					return err
				}
				fresh := c
				tx.after = append(tx.after, func() { db.remember(fresh) })
			}
			_, err = tx.writeBulk(c, writes, prepareWrites(c, writes, tx.now), actor, false, results)
			return err
		})
		if err != nil {
			return nil, err
		}
		return results, nil
	}
	err = db.writeLog(ctx, wsID, len(writes), func(tx *Tx) error {
		prep := prepareWrites(c, writes, tx.now)
		stored, err := tx.consentRows(wsID, prep)
		if err != nil {
			return err
		}
		if tx.logs[wsID].version != c.version {
			if c, err = db.loadWS(tx.ctx, tx, wsID); err != nil {
				return err
			}
			// What it read under the lock is committed with tx, and worth
			// caching then (a later change in tx drops it again).
			fresh := c
			tx.after = append(tx.after, func() { db.remember(fresh) })
			prep = prepareWrites(c, writes, tx.now)
			if stored, err = tx.consentRows(wsID, prep); err != nil {
				return err
			}
		}
		cw := &consentWriter{tx: tx, c: c, actor: actor, state: stored, cps: map[[32]byte]bool{}, links: map[partyLink]bool{}, upserts: map[consentKey]int{}}
		for i := range writes {
			if prep[i].err != nil {
				results[i].Err = prep[i].err
				continue
			}
			if results[i], err = cw.write(&writes[i], &prep[i]); err != nil {
				return err
			}
		}
		cw.queue()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// bulkWrites is the most writes of a WriteConsents that are inserted from
// arrays; more are copied in (writeBulk), like an import batch.
const bulkWrites = 500

// prepared is a write validated against the catalog, or its error.
type prepared struct {
	ct   consentd.ChannelType
	cp   string
	kind consentd.ContactPointKind
	hash [32]byte
	err  error
}

func prepareWrites(c *wsCache, writes []consentd.ConsentWrite, now time.Time) []prepared {
	out := make([]prepared, len(writes))
	for i := range writes {
		p := &out[i]
		if p.ct, p.cp, p.err = consentd.PrepareWrite(c.catalog, c.ws.DefaultRegion, &writes[i], now); p.err == nil {
			p.kind = consentd.KindOf(p.ct.Channel)
			p.hash = consentd.ContactPointHash(c.secret, p.kind, p.cp)
		}
	}
	return out
}

type consentKey struct {
	hash [32]byte
	ct   string
}

// consentRows reads the stored consents of the prepared writes' keys, with
// what tx has queued. Under the log lock, they are the latest committed
// ones, as the earlier requests of tx changed them.
func (tx *Tx) consentRows(wsID string, prep []prepared) (map[consentKey]*consentd.Consent, error) {
	stored := map[consentKey]*consentd.Consent{}
	var hashes [][]byte
	keys := make(map[consentKey]bool, len(prep))
	cps := make(map[[32]byte]bool, len(prep))
	for i := range prep {
		if prep[i].err != nil {
			continue
		}
		keys[consentKey{prep[i].hash, prep[i].ct.ID}] = true
		if !cps[prep[i].hash] {
			cps[prep[i].hash] = true
			hashes = append(hashes, prep[i].hash[:])
		}
	}
	if len(hashes) > 0 {
		// Every consent of the contact points (an index range each), of
		// which those of the keys written are kept. The lateral subquery
		// (OFFSET 0 keeps it one) makes it an index probe per contact
		// point, whatever the statistics say: as a plain join it was
		// planned, for a batch of an import, as a hash join over every
		// consent of the workspace. One contact point, the common case,
		// has a query of its own: it plans better.
		query, args := `SELECT `+consentCols+`, c.cp_hash FROM unnest($2::bytea[]) AS k(h)
			CROSS JOIN LATERAL (SELECT * FROM consents c WHERE c.workspace_id = $1 AND c.cp_hash = k.h OFFSET 0) c`, []any{wsID, hashes}
		if len(hashes) == 1 {
			query, args = `SELECT `+consentCols+`, c.cp_hash FROM consents c WHERE c.workspace_id = $1 AND c.cp_hash = $2`, []any{wsID, hashes[0]}
		}
		tx.queue(query, args...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var k consentKey
				var h []byte
				con, err := scanConsent(rows, &h)
				if err != nil {
					return err
				}
				copy(k.hash[:], h)
				if k.ct = con.ChannelType; keys[k] {
					stored[k] = con
				}
			}
			return rows.Err()
		})
	}
	return stored, tx.send()
}

type partyLink struct {
	party string
	hash  [32]byte
}

// consentWriter applies one transaction's writes in order to the stored
// state, logs each, and collects the rows to upsert.
type consentWriter struct {
	tx    *Tx
	c     *wsCache
	actor string
	state map[consentKey]*consentd.Consent // stored, then as written so far

	cps      map[[32]byte]bool
	cpHash   [][]byte
	cpKind   []string
	cpValue  []string
	parties  []string
	links    map[partyLink]bool
	lnParty  []string
	lnHash   [][]byte
	lnKind   []string
	upserts  map[consentKey]int // key -> index in final
	final    []*consentd.Consent
	finalKey []consentKey
	finalNew []bool // final[i] has no stored row

	// known, when set, lists the contact points stored, read under the
	// log lock (see copyRows).
	known map[[32]byte]bool
}

func (w *consentWriter) write(cw *consentd.ConsentWrite, p *prepared) (consentd.WriteResult, error) {
	ct, cp, tx := p.ct, p.cp, w.tx
	k := consentKey{p.hash, ct.ID}
	var cur *consentd.Consent
	if s := w.state[k]; s != nil {
		c := *s
		c.ContactPoint, c.ID = cp, consentd.ConsentID(cp, ct.ID)
		cur = &c
	}
	res, entry, next := consentd.PlanWrite(tx.now, cw, ct, cp, p.hash, cur, w.actor)
	if next == nil {
		if entry == nil {
			return res, nil
		}
		if _, err := tx.appendLog(w.c.ws.ID, entry); err != nil {
			return consentd.WriteResult{}, err
		}
		return res, nil
	}
	var err error
	if next.Seq, err = tx.appendLog(w.c.ws.ID, entry); err != nil {
		return consentd.WriteResult{}, err
	}
	if !w.cps[p.hash] {
		w.cps[p.hash] = true
		if !w.known[p.hash] {
			w.cpHash, w.cpKind, w.cpValue = append(w.cpHash, p.hash[:]), append(w.cpKind, string(p.kind)), append(w.cpValue, cp)
		}
	}
	if l := (partyLink{next.PartyID, p.hash}); next.PartyID != "" && !w.links[l] {
		w.links[l] = true
		w.parties = append(w.parties, next.PartyID)
		w.lnParty, w.lnHash, w.lnKind = append(w.lnParty, next.PartyID), append(w.lnHash, p.hash[:]), append(w.lnKind, string(p.kind))
	}
	if i, ok := w.upserts[k]; ok {
		w.final[i] = next
	} else {
		w.upserts[k] = len(w.final)
		w.final, w.finalKey, w.finalNew = append(w.final, next), append(w.finalKey, k), append(w.finalNew, cur == nil)
	}
	w.state[k] = next
	return res, nil
}

// queue queues one statement per table for the rows the writes changed.
func (w *consentWriter) queue() {
	tx, wsID := w.tx, w.c.ws.ID
	if len(w.cpHash) > 0 {
		tx.queue(`INSERT INTO contact_points (workspace_id, hash, kind, value)
			SELECT $1::text, * FROM unnest($2::bytea[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING`, wsID, w.cpHash, w.cpKind, w.cpValue)
	}
	if len(w.lnParty) > 0 {
		tx.queue(`INSERT INTO parties (workspace_id, id, created_at, updated_at)
			SELECT DISTINCT $1::text, id, $3::bigint, $3::bigint FROM unnest($2::text[]) AS id ON CONFLICT DO NOTHING`, wsID, w.parties, nanos(tx.now))
		tx.queue(`INSERT INTO party_contact_points (workspace_id, party_id, hash, kind)
			SELECT $1::text, * FROM unnest($2::text[], $3::bytea[], $4::text[]) ON CONFLICT DO NOTHING`, wsID, w.lnParty, w.lnHash, w.lnKind)
	}
	w.upsert(nil)
}

// upsert queues the upsert of the final rows at the indexes given, or of
// all when indexes is nil.
func (w *consentWriter) upsert(indexes []int) {
	tx, wsID := w.tx, w.c.ws.ID
	n := len(indexes)
	if indexes == nil {
		n = len(w.final)
	}
	if n == 0 {
		return
	}
	var (
		hash                                                                  = make([][]byte, n)
		ct, purpose, topic, channel, status, source, reason, party, jur, orig = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		captured, recorded, version, seq                                      = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		proof                                                                 = make([]*string, n)
	)
	for i := range n {
		j := i
		if indexes != nil {
			j = indexes[i]
		}
		c := w.final[j]
		hash[i] = w.finalKey[j].hash[:]
		ct[i], purpose[i], topic[i], channel[i], status[i] = c.ChannelType, c.Purpose, c.Topic, c.Channel, string(c.Status)
		captured[i], recorded[i], version[i], seq[i] = nanos(c.CapturedAt), nanos(c.RecordedAt), c.Version, c.Seq
		source[i], reason[i], party[i], jur[i], orig[i] = mustJSON(c.Source), c.Reason, c.PartyID, c.Jurisdiction, c.Origin
		if c.Proof != nil {
			s := mustJSON(c.Proof)
			proof[i] = &s
		}
	}
	tx.queue(`INSERT INTO consents (workspace_id, cp_hash, channel_type, purpose_id, topic_id, channel, status,
			captured_at, recorded_at, version, source, reason, party_id, jurisdiction, proof, origin, seq)
		SELECT $1::text, * FROM unnest($2::bytea[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::bigint[])
		ON CONFLICT (workspace_id, cp_hash, channel_type) DO UPDATE SET purpose_id = excluded.purpose_id, topic_id = excluded.topic_id,
			channel = excluded.channel, status = excluded.status, captured_at = excluded.captured_at, recorded_at = excluded.recorded_at,
			version = excluded.version, source = excluded.source, reason = excluded.reason, party_id = excluded.party_id,
			jurisdiction = excluded.jurisdiction, proof = excluded.proof, origin = excluded.origin, seq = excluded.seq`,
		wsID, hash, ct, purpose, topic, channel, status, captured, recorded, version, source, reason, party, jur, proof, orig, seq)
}

// copyRows writes the rows the writes changed as bulk imports do: the
// contact points not known (w.known) and the consents that had no stored
// row are copied, as nothing else can insert them while tx holds the
// workspace's log lock (every writer of consents and contact points takes
// it, and both were read under it); the consents that had one are upserted
// from arrays, and party links inserted as queue does.
func (w *consentWriter) copyRows() error {
	tx, wsID := w.tx, w.c.ws.ID
	if len(w.lnParty) > 0 {
		tx.queue(`INSERT INTO parties (workspace_id, id, created_at, updated_at)
			SELECT DISTINCT $1::text, id, $3::bigint, $3::bigint FROM unnest($2::text[]) AS id ON CONFLICT DO NOTHING`, wsID, w.parties, nanos(tx.now))
		tx.queue(`INSERT INTO party_contact_points (workspace_id, party_id, hash, kind)
			SELECT $1::text, * FROM unnest($2::text[], $3::bytea[], $4::text[]) ON CONFLICT DO NOTHING`, wsID, w.lnParty, w.lnHash, w.lnKind)
	}
	var stored []int
	for i, isNew := range w.finalNew {
		if !isNew {
			stored = append(stored, i)
		}
	}
	if len(stored) > 0 {
		w.upsert(stored)
	}
	c := tx.db.copyBuf()
	for i := range w.cpHash {
		c.row(4)
		c.text(wsID)
		c.bytea(w.cpHash[i])
		c.text(w.cpKind[i])
		c.text(w.cpValue[i])
	}
	if err := tx.copyFrom("contact_points", "workspace_id, hash, kind, value", c); err != nil {
		return err
	}
	c = tx.db.copyBuf()
	for i, isNew := range w.finalNew {
		if !isNew {
			continue
		}
		k, con := w.finalKey[i], w.final[i]
		c.row(17)
		c.text(wsID)
		c.bytea(k.hash[:])
		c.text(con.ChannelType)
		c.text(con.Purpose)
		c.text(con.Topic)
		c.text(con.Channel)
		c.text(string(con.Status))
		c.int8(nanos(con.CapturedAt))
		c.int8(nanos(con.RecordedAt))
		c.int8(con.Version)
		c.text(mustJSON(con.Source))
		c.text(con.Reason)
		c.text(con.PartyID)
		c.text(con.Jurisdiction)
		if con.Proof != nil {
			c.text(mustJSON(con.Proof))
		} else {
			c.null()
		}
		c.text(con.Origin)
		c.int8(con.Seq)
	}
	return tx.copyFrom("consents", `workspace_id, cp_hash, channel_type, purpose_id, topic_id, channel, status,
		captured_at, recorded_at, version, source, reason, party_id, jurisdiction, proof, origin, seq`, c)
}

const consentCols = `c.channel_type, c.purpose_id, c.topic_id, c.channel, c.status, c.captured_at, c.recorded_at, c.version,
	c.source, c.reason, c.party_id, c.jurisdiction, c.proof, c.origin, c.seq`

func scanConsent(row pgx.Row, extra ...any) (*consentd.Consent, error) {
	c := &consentd.Consent{}
	var status, source string
	var captured, recorded int64
	var proof *string
	dest := append([]any{&c.ChannelType, &c.Purpose, &c.Topic, &c.Channel, &status, &captured, &recorded, &c.Version,
		&source, &c.Reason, &c.PartyID, &c.Jurisdiction, &proof, &c.Origin, &c.Seq}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	c.Status, c.CapturedAt, c.RecordedAt = consentd.Status(status), fromNanos(captured), fromNanos(recorded)
	if err := json.Unmarshal([]byte(source), &c.Source); err != nil {
		return nil, fmt.Errorf("consent source: %w", err)
	}
	if proof != nil {
		c.Proof = &consentd.Proof{}
		if err := json.Unmarshal([]byte(*proof), c.Proof); err != nil {
			return nil, fmt.Errorf("consent proof: %w", err)
		}
	}
	return c, nil
}

// resolveConsentID turns a public consent id into the workspace, hash,
// normalized contact point and channel type.
func (db *DB) resolveConsentID(ctx context.Context, wsID, id string) (*wsCache, [32]byte, string, consentd.ChannelType, error) {
	c, err := db.currentWS(ctx, wsID)
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
	row := db.pool.QueryRow(ctx, `SELECT `+consentCols+` FROM consents c WHERE c.workspace_id = $1 AND c.cp_hash = $2 AND c.channel_type = $3`, c.ws.ID, hash[:], ct.ID)
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
	c, err := db.currentWS(ctx, wsID)
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
		WHERE c.workspace_id = $1`
	args := []any{wsID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.ContactPoint != "" {
		hashes := consentd.CandidateHashes(c.secret, c.ws.DefaultRegion, f.ContactPoint)
		if len(hashes) == 0 {
			return nil, "", consentd.FieldErrorf(consentd.EINVALIDCONTACTPOINT, "contact_point", "the contact point cannot be normalized as an email, phone or custom address")
		}
		q += ` AND c.cp_hash = ANY(` + arg(hashes) + `::bytea[])`
	}
	for _, kv := range []struct{ col, v string }{{"c.party_id", f.PartyID}, {"c.purpose_id", f.Purpose}, {"c.channel", f.Channel}, {"c.status", string(f.Status)}} {
		if kv.v != "" {
			q += ` AND ` + kv.col + ` = ` + arg(kv.v)
		}
	}
	if f.PageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.PageToken)
		if err != nil || len(b) < 33 {
			return nil, "", consentd.FieldErrorf(consentd.EINVALID, "page_token", "page_token is not one this server gave")
		}
		q += ` AND (c.cp_hash, c.channel_type) > (` + arg(b[:32]) + `::bytea, ` + arg(string(b[32:])) + `::text)`
	}
	q += ` ORDER BY c.cp_hash, c.channel_type LIMIT ` + arg(f.Limit+1)
	rows, err := db.pool.Query(ctx, q, args...)
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
