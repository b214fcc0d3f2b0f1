// Package enrolment keeps a programme's beneficiaries, with their personal
// data encrypted at rest, and imports them from roster CSV files.
//
// A beneficiary row (table beneficiaries) keeps in clear only what
// eligibility rules and disaggregated reports need: birth date, sex,
// nationality, population group, alcaldía, household size, document type,
// payment method, needs, consent. Names, CURP, document number, phone,
// e-mail, CLABE and card number are sealed with pii.Keyring under the AAD
// "beneficiary:<id>:<column>", so a ciphertext copied to another row or
// column does not open; they are found by equality through blind indexes
// (pii.Indexer) on the CURP, the document and the CLABE. Many beneficiaries
// fear their data reaching immigration enforcement: a dump of the database,
// a backup or a log must not say who they are.
//
// Reading a beneficiary therefore comes in two strengths: Profile (no
// personal data, for eligibility, cycles and reports) and Get (decrypted,
// only for the activities that need the person: identity checks and
// payments).
//
// Import streams a roster of any length: rows are read, validated, sealed
// and inserted in batches, never all held at once. The unique blind
// indexes, not the importer's memory, decide who is already enrolled, so
// re-importing a file, or importing it twice at the same time, never
// enrols anyone twice.
package enrolment
