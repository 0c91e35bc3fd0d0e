// Package consentd is the vocabulary of the consent ledger: workspaces,
// purposes, topics, channels, contact points, parties, suppressions, consents,
// log entries and the decision rules. It is plain Go with no I/O, usable from
// every layer and every test without a database.
//
// The storage backends live in internal/sqlite (and later internal/postgres),
// the HTTP API in internal/api, the Merkle log in internal/ledger, and only
// cmd/consentd knows them all. docs/decisions.md is the contract this package follows.
package consentd
