package postgres

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// This file writes rows with COPY in PostgreSQL's binary format, which the
// bulk paths (import batches, see ImportBatch) use for the rows they append:
// the log's entries and hashes, import rejects, and the consents and contact
// points that a batch creates. The server inserts COPY rows in bulk (about
// twice the rate of INSERT ... SELECT FROM unnest here), and the rows are
// encoded by hand into one reused buffer, without pgx's per-value encoding.

// copyBuf is the data of one COPY ... FROM STDIN (FORMAT binary): the
// header, then rows of fields, then the trailer (see rows). Only the field
// types the tables use are written: text, bytea, bigint and NULL.
type copyBuf struct {
	b    []byte
	rows int
}

// copyHeader is the binary format's signature, flags and header extension
// length.
const copyHeader = "PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

// copyBuf returns an empty COPY buffer from the DB's pool (DB.copyBufs), so
// that a long import reuses a few megabytes rather than allocating them per
// batch; copyFrom puts it back.
func (db *DB) copyBuf() *copyBuf {
	c, _ := db.copyBufs.Get().(*copyBuf)
	if c == nil {
		c = &copyBuf{}
	}
	c.b, c.rows = append(c.b[:0], copyHeader...), 0
	return c
}

// row starts a row of n fields.
func (c *copyBuf) row(n int) {
	c.b = binary.BigEndian.AppendUint16(c.b, uint16(n))
	c.rows++
}

func (c *copyBuf) text(s string) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	c.b = append(c.b, s...)
}

func (c *copyBuf) bytea(p []byte) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(p)))
	c.b = append(c.b, p...)
}

func (c *copyBuf) int8(v int64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(v))
}

func (c *copyBuf) null() {
	c.b = binary.BigEndian.AppendUint32(c.b, 0xffffffff)
}

// copyFrom sends what is queued, then copies c's rows into table (the
// columns as cols lists them: a constant, as COPY takes no parameters) and
// releases c. It is a round trip of its own.
func (tx *Tx) copyFrom(table, cols string, c *copyBuf) error {
	defer func() {
		if cap(c.b) <= 64<<20 { // a buffer grown past 64 MiB is dropped
			tx.db.copyBufs.Put(c)
		}
	}()
	if c.rows == 0 {
		return nil
	}
	if err := tx.send(); err != nil {
		return err
	}
	c.b = binary.BigEndian.AppendUint16(c.b, 0xffff) // trailer: -1
	tx.trips++
	tag, err := tx.conn.Conn().PgConn().CopyFrom(tx.ctx, bytes.NewReader(c.b), `COPY `+table+` (`+cols+`) FROM STDIN (FORMAT binary)`)
	if err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	if tag.RowsAffected() != int64(c.rows) {
		return fmt.Errorf("copy into %s: %d rows of %d", table, tag.RowsAffected(), c.rows)
	}
	return nil
}
