// Package ledger is the tamper-evident part of consentd: the RFC 6962 Merkle
// tree over each workspace's consent log, the Ed25519-signed checkpoints that
// commit to it, inclusion-proof receipts, and a streaming verifier for a whole
// log.
//
// Entries are the leaves of the tree. Sequence numbers are 1-based: the entry
// with seq N is tree index N-1, and once it is appended the tree has size N.
// Hashing and proofs are golang.org/x/mod/sumdb/tlog; checkpoints are C2SP
// checkpoints (https://c2sp.org/tlog-checkpoint) inside signed notes
// (https://c2sp.org/signed-note) made with golang.org/x/mod/sumdb/note.
//
// Checkpoints are signed by a key ring (Signer): the newest key signs, under
// the checkpoint's origin as its note key name, and every key of the ring
// verifies (Ring), so that keys rotate without invalidating what older keys
// signed. Receipts are JSON or C2SP tlog-proof text
// (https://c2sp.org/tlog-proof); consistency proofs connect any two tree
// sizes.
//
// The package is pure logic. It never touches the database: the storage layer
// keeps the entries, the tlog stored hashes and the signed checkpoint texts,
// and hands them to this package through tlog.HashReader, Entry and strings.
// The only I/O is LoadOrCreateKey and RotateKey, which read and write the
// key ring file, and Mirror's checkpoint files.
package ledger
