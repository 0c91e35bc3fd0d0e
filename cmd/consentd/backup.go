package main

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// A backup is one gzip-compressed tar file, mode 0600 (it holds the keys):
//
//	checkpoints/<workspace id>.checkpoint   the checkpoint mirror (see below; not with --keys-only)
//	consentd.db                             a consistent snapshot of the SQLite database
//	checkpoint.key                          the checkpoint key ring
//	link-keys.json                          the signed-link keyring
//	imports/<import id>.csv                 spool files of unfinished imports
//	backup.json                             the manifest: what is in the archive, with hashes
//
// The mail outbox (DATA/outbox) is not in it: it is mail already handed
// over, for an operator to pick up, not state the server reads back.
const (
	backupFormat   = "consentd-backup/1"
	backupManifest = "backup.json"
	backupDB       = "consentd.db"
	backupLogKey   = "checkpoint.key"
	backupLinkKeys = "link-keys.json"
)

// backupManifestFile is backup.json, the last entry of the archive.
type backupManifestFile struct {
	Format    string       `json:"format"`
	CreatedAt time.Time    `json:"created_at"`
	Database  string       `json:"database"` // "sqlite", or "not included" (PostgreSQL, --keys-only)
	Files     []backupFile `json:"files"`
}

type backupFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// backupWriter writes the archive's entries and remembers their hashes for
// the manifest.
type backupWriter struct {
	tw    *tar.Writer
	files []backupFile
}

// add copies r (size bytes) into the archive as name.
func (b *backupWriter) add(name string, size int64, modTime time.Time, r io.Reader) error {
	hdr := &tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: modTime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := b.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(b.tw, h), io.LimitReader(r, size))
	if err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("archive %s: read %d bytes, want %d (the file changed while it was copied)", name, n, size)
	}
	b.files = append(b.files, backupFile{Name: name, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
	return nil
}

// addBytes adds a file read whole beforehand.
func (b *backupWriter) addBytes(name string, data []byte, modTime time.Time) error {
	return b.add(name, int64(len(data)), modTime, bytes.NewReader(data))
}

// addFile adds the file at p as name. A file that vanished is skipped when
// optional is set (a spool file removed because its import finished).
func (b *backupWriter) addFile(name, p string, optional bool) error {
	f, err := os.Open(p)
	if optional && errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return b.add(name, st.Size(), st.ModTime(), f)
}

func (m *Main) backup(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("backup", flag.ContinueOnError)
	var c config
	m.flags(fl, &c, false)
	out := fl.String("o", "", "the archive to write (gzip-compressed tar, mode 0600: it holds the keys); replaced atomically when it exists")
	keysOnly := fl.Bool("keys-only", false, "back up the key files only, not the database (required with PostgreSQL, which pg_dump backs up)")
	if err := parse(fl, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"backup: -o FILE is required"}
	}
	if fl.NArg() > 0 {
		return usageError{fmt.Sprintf("backup: unexpected argument %q", fl.Arg(0))}
	}
	if c.postgres() && !*keysOnly {
		return usageError{"backup: the database is PostgreSQL: back it up with pg_dump or your provider's backups, and run " +
			"'consentd backup --keys-only -o FILE' for what pg_dump does not hold: the checkpoint key ring and the link keys"}
	}
	// Fail before the expensive snapshot when the key ring is missing: a
	// restored log cannot be verified without it.
	if _, err := os.Stat(c.logKeyPath()); err != nil {
		return usageError{fmt.Sprintf("backup: checkpoint key ring: %v", err)}
	}
	dbPath := c.sqlitePath()
	if !*keysOnly {
		if _, err := os.Stat(dbPath); err != nil {
			return usageError{fmt.Sprintf("backup: database: %v", err)}
		}
	}

	dir := filepath.Dir(*out)
	tmp, err := os.CreateTemp(dir, ".consentd-backup-*.tmp") // mode 0600
	if err != nil {
		return usageError{fmt.Sprintf("backup: %v", err)}
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing
	man, err := writeBackup(ctx, &c, tmp, dbPath, *keysOnly)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	syncDir(dir)
	var size int64
	for _, f := range man.Files {
		size += f.Size
	}
	fmt.Fprintf(m.Stdout, "backup %s: %d files, %d bytes before compression, database: %s\n", *out, len(man.Files), size, man.Database)
	if c.postgres() {
		fmt.Fprintln(m.Stdout, "the PostgreSQL database is not in it: back it up with pg_dump or your provider's backups")
	}
	return nil
}

// writeBackup writes the archive into f. The order matters:
//
//  1. the checkpoint mirror files, read before the snapshot: the mirror is
//     written after the database commits the same checkpoint, so each file
//     read then names a log size the snapshot holds. A file read after the
//     snapshot could name a larger size, and verification would take the
//     restored log for a cut one.
//  2. the database snapshot (VACUUM INTO: one read transaction, so one
//     consistent state while the server keeps writing).
//  3. the key files, read after the snapshot: the rings only grow, so they
//     hold every key that signed a checkpoint in the snapshot.
//  4. the spool files of imports, after the snapshot: an import row is
//     created before its spool file is moved into place, so every import
//     the snapshot knows and that still needs its file has it by then.
func writeBackup(ctx context.Context, c *config, f *os.File, dbPath string, keysOnly bool) (*backupManifestFile, error) {
	zw := gzip.NewWriter(f)
	b := &backupWriter{tw: tar.NewWriter(zw)}
	man := &backupManifestFile{Format: backupFormat, CreatedAt: time.Now().UTC(), Database: "sqlite"}
	if keysOnly {
		man.Database = "not included"
	}

	cpDir := filepath.Join(c.Data, "checkpoints")
	type mirrored struct {
		name string
		data []byte
		mod  time.Time
	}
	var mirror []mirrored
	var entries []os.DirEntry
	var err error
	// Without the database (PostgreSQL, backed up by pg_dump at another
	// moment) the mirror could name a checkpoint newer than the dump, and
	// the restored log would look cut: a restored server writes a new
	// mirror at its first checkpoint instead.
	if !keysOnly {
		entries, err = os.ReadDir(cpDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("backup: checkpoint mirror: %w", err)
		}
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".checkpoint") {
			continue // temporary files of a write in progress
		}
		data, err := os.ReadFile(filepath.Join(cpDir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("backup: checkpoint mirror: %w", err)
		}
		info, _ := e.Info()
		mod := time.Now()
		if info != nil {
			mod = info.ModTime()
		}
		mirror = append(mirror, mirrored{"checkpoints/" + e.Name(), data, mod})
	}

	if !keysOnly {
		snap, err := snapshotSQLite(ctx, dbPath, filepath.Dir(f.Name()))
		if err != nil {
			return nil, err
		}
		defer os.Remove(snap)
		if err := b.addFile(backupDB, snap, false); err != nil {
			return nil, err
		}
		os.Remove(snap)
	}
	for _, mf := range mirror {
		if err := b.addBytes(mf.name, mf.data, mf.mod); err != nil {
			return nil, err
		}
	}
	if err := b.addFile(backupLogKey, c.logKeyPath(), false); err != nil {
		return nil, err
	}
	linkKeys := cmp.Or(c.LinkKeys, filepath.Join(c.Data, "link-keys.json"))
	if err := b.addFile(backupLinkKeys, linkKeys, true); err != nil {
		return nil, err
	}

	if !keysOnly {
		spool := filepath.Join(c.Data, "imports")
		entries, err := os.ReadDir(spool)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("backup: import spool: %w", err)
		}
		for _, e := range entries {
			// <id>.csv only: upload-*.tmp are bodies still arriving, and
			// the sort's run files are rebuilt when an import resumes.
			if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".csv") {
				continue
			}
			if err := b.addFile("imports/"+e.Name(), filepath.Join(spool, e.Name()), true); err != nil {
				return nil, err
			}
		}
	}

	man.Files = b.files
	js, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("backup: manifest: %w", err)
	}
	if err := b.addBytes(backupManifest, append(js, '\n'), man.CreatedAt); err != nil {
		return nil, err
	}
	if err := errors.Join(b.tw.Close(), zw.Close()); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return man, nil
}

// snapshotSQLite copies the database at dbPath into a new file in dir with
// VACUUM INTO, SQLite's online copy: it reads in one transaction, so the
// copy is the state of one moment, every write committed before it
// included, while a running server goes on writing (WAL mode lets the
// writer proceed beside the reader). It returns the copy's path.
func snapshotSQLite(ctx context.Context, dbPath, dir string) (string, error) {
	// VACUUM INTO wants a missing or empty file: an empty one made here
	// has mode 0600 from the start.
	tmp, err := os.CreateTemp(dir, ".consentd-snapshot-*.db")
	if err != nil {
		return "", fmt.Errorf("backup: snapshot: %w", err)
	}
	tmp.Close()
	// mode=rw: never create a database where none is.
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=rw&_pragma=busy_timeout(10000)")
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("backup: open %s: %w", dbPath, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", tmp.Name()); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("backup: snapshot of %s: %w", dbPath, err)
	}
	return tmp.Name(), nil
}

// syncDir makes a rename in dir durable; errors are ignored (not every
// file system can sync a folder).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func (m *Main) restore(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("restore", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	in := fl.String("i", "", "the archive 'consentd backup' wrote")
	data := fl.String("data", "", "the new data folder: missing or empty")
	database := fl.String("database", "", "for an archive without the database (PostgreSQL): the database restored with pg_restore, to verify the log against the restored keys")
	if err := parse(fl, args); err != nil {
		return err
	}
	switch {
	case *in == "":
		return usageError{"restore: -i FILE is required"}
	case *data == "":
		return usageError{"restore: --data DIR is required (a missing or empty folder)"}
	case fl.NArg() > 0:
		return usageError{fmt.Sprintf("restore: unexpected argument %q", fl.Arg(0))}
	}
	f, err := os.Open(*in)
	if err != nil {
		return usageError{fmt.Sprintf("restore: %v", err)}
	}
	defer f.Close()
	if err := emptyTarget(*data); err != nil {
		return usageError{fmt.Sprintf("restore: %v", err)}
	}
	man, err := unpackBackup(f, *data)
	if err != nil {
		clearFolder(*data) // leave no half restore behind
		fmt.Fprintf(m.Stderr, "consentd: restore: %v\n", err)
		return exitError{exitFailed}
	}
	fmt.Fprintf(m.Stdout, "restored %d files of the backup of %s into %s\n", len(man.Files), man.CreatedAt.Format(time.RFC3339), *data)

	// Verify with the restored files only: the caller's CONSENTD_*
	// variables could name another key ring or database.
	v := *m
	v.Getenv = func(string) string { return "" }
	verify := []string{"--data", *data}
	switch {
	case man.Database == "sqlite" && *database != "":
		return usageError{"restore: the archive holds the SQLite database; it goes to DATA/consentd.db, so --database is not used"}
	case man.Database == "sqlite":
	case *database != "":
		verify = append(verify, "--database", *database)
	default:
		fmt.Fprintf(m.Stdout, "the archive holds no database: restore it with pg_restore (or your provider's tools), then run 'consentd log verify --data %s --database URL'\n", *data)
		return nil
	}
	if err := v.logVerify(ctx, verify); err != nil {
		var ex exitError
		if errors.As(err, &ex) && ex.code == exitFailed {
			fmt.Fprintf(m.Stderr, "consentd: restore: the files are in %s, but the restored log does not verify\n", *data)
		}
		return err
	}
	return nil
}

// emptyTarget makes dir, or accepts it when it exists and is empty.
func emptyTarget(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		return nil
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("%s is not empty: restore into a new folder", dir)
	}
	return nil
}

// clearFolder removes what a failed restore wrote into dir, which was empty.
func clearFolder(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// backupName reports whether name is an entry a backup writes: the archive
// is read from a file someone handed over, so nothing else is written (no
// paths outside the folder, no links).
func backupName(name string) bool {
	switch name {
	case backupDB, backupLogKey, backupLinkKeys, backupManifest:
		return true
	}
	dir, base := path.Split(name)
	if base == "" || strings.HasPrefix(base, ".") || path.Clean(name) != name {
		return false
	}
	return (dir == "checkpoints/" && strings.HasSuffix(base, ".checkpoint")) ||
		(dir == "imports/" && strings.HasSuffix(base, ".csv"))
}

// unpackBackup writes the archive's files into dir (mode 0600, folders
// 0700) and checks them against the manifest.
func unpackBackup(r io.Reader, dir string) (*backupManifestFile, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("not a consentd backup (gzip): %w", err)
	}
	tr := tar.NewReader(zr)
	got := map[string]backupFile{}
	var man *backupManifestFile
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the archive: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg || !backupName(hdr.Name) {
			return nil, fmt.Errorf("not a consentd backup: unexpected entry %q", hdr.Name)
		}
		if _, dup := got[hdr.Name]; dup {
			return nil, fmt.Errorf("not a consentd backup: %q twice", hdr.Name)
		}
		if hdr.Name == backupManifest {
			man = &backupManifestFile{}
			if err := json.NewDecoder(io.LimitReader(tr, 16<<20)).Decode(man); err != nil {
				return nil, fmt.Errorf("manifest: %w", err)
			}
			got[hdr.Name] = backupFile{}
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
		out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(out, h), tr)
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", hdr.Name, err)
		}
		got[hdr.Name] = backupFile{Name: hdr.Name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	}
	if man == nil {
		return nil, errors.New("not a consentd backup: no backup.json (the archive is cut short?)")
	}
	if man.Format != backupFormat {
		return nil, fmt.Errorf("backup format %q; this release reads %q", man.Format, backupFormat)
	}
	for _, want := range man.Files {
		if g, ok := got[want.Name]; !ok || g != want {
			return nil, fmt.Errorf("%s does not match the manifest (size %d, sha256 %s): the archive is damaged", want.Name, want.Size, want.SHA256)
		}
	}
	if len(got) != len(man.Files)+1 {
		return nil, errors.New("the archive holds files the manifest does not list")
	}
	if man.Database == "sqlite" && !slices.ContainsFunc(man.Files, func(f backupFile) bool { return f.Name == backupDB }) {
		return nil, errors.New("the manifest names a SQLite database but the archive has none")
	}
	for _, d := range []string{dir, filepath.Join(dir, "checkpoints"), filepath.Join(dir, "imports")} {
		syncDir(d)
	}
	return man, nil
}
