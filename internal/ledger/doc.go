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
// The package is pure logic. It never touches the database: the storage layer
// keeps the entries, the tlog stored hashes and the signed checkpoint texts,
// and hands them to this package through tlog.HashReader, Entry and strings.
// The only I/O is LoadOrCreateKey, which reads or creates the signing key file.
package ledger
