// Package pii protects the personal data of beneficiaries: names, CURP,
// document numbers, phone numbers, e-mail addresses, CLABE accounts and card
// numbers. Many beneficiaries are migrants who fear their data reaching
// immigration enforcement, so a database dump, a backup or a log file must
// not be enough to learn who they are.
//
// It holds four tools, each for one way data can leak:
//
//   - [Keyring] encrypts values at rest (AES-256-GCM) before they are written
//     to PostgreSQL, with named keys so keys can be rotated without a flag day.
//   - [Indexer] computes blind indexes (keyed HMAC-SHA256) so a column can be
//     searched for equality ("is this CURP already registered?") without
//     storing the value in clear or decrypting every row.
//   - [Mask] turns a value into a hint fit for reports and logs.
//   - [Redacted] is a string type that prints as "[redacted]" through fmt,
//     log/slog and encoding/json, for values that might be logged by mistake.
//
// The package does no I/O and keeps no global state: keys come from
// configuration and are passed in by the caller.
package pii
