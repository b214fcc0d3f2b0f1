// Package program holds a programme's definition (benefit, funds and their
// budgets, eligibility, approval, identity and referral rules), the Spec it
// is built from (flags or a YAML file), and the Store that records it in
// PostgreSQL and opens its accounts in the ledger.
//
// # Chart of accounts
//
// Every later part of apoyo reads a programme's money through these ledger
// accounts, so their names are fixed here and nowhere else. For programme P
// (its id, e.g. "prg_7x2k...") and cycle C:
//
//	prg:<P>:funding                  equity   credited when a fund's budget is deposited
//	prg:<P>:available                asset    budget not yet committed to any cycle (never < 0)
//	prg:<P>:cyc:<C>:committed        asset    set aside for the cycle's approved cases (never < 0)
//	prg:<P>:cyc:<C>:in_transit       asset    sent to the payment rail, not yet settled (never < 0)
//	prg:<P>:cyc:<C>:paid             expense  settled with the beneficiary
//	prg:<P>:cyc:<C>:returned         asset    came back from the rail (a SPEI return, an expired
//	                                          cash order), awaiting a new attempt or release (never < 0)
//
// Money moves available → committed → in_transit → paid, with
// in_transit → returned → in_transit (retry) or → available (release).
// "Never < 0" is the ledger's MinBalance 0: the database itself refuses to
// commit more than the budget or pay more than was committed.
//
// Every posting names a ledger fund, LedgerFund(P, F) = "<P>.<F>", where F
// is the programme's fund code ("city", "gcf", "un"): each programme's funds
// are separate ledger funds, so a peso of one programme's Global Cities Fund
// grant can never pay another programme's beneficiary, and every balance can
// be read per funder. The budget deposit of fund F is the transaction with
// idempotency key "deposit:<P>:<F>" (Dr available, Cr funding).
package program
