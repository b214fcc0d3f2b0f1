// Package searchattr names the custom Temporal search attributes apoyo's
// workflows set, and their types. Values are opaque ids and states only:
// never a name, CURP, account or any other personal data, because search
// attributes are stored and indexed in plain text by the server.
package searchattr

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Keys, typed for UpsertTypedSearchAttributes.
var (
	// Program is the opaque programme id.
	Program = temporal.NewSearchAttributeKeyKeyword("ApoyoProgram")
	// Cycle is the opaque payment cycle id.
	Cycle = temporal.NewSearchAttributeKeyKeyword("ApoyoCycle")
	// Step is the case's current step (identity, eligibility, approval, payment, referrals, done).
	Step = temporal.NewSearchAttributeKeyKeyword("ApoyoStep")
	// WaitingOn lists who the case waits for (STYFE, SIBISO, SEDESA, caseworker).
	WaitingOn = temporal.NewSearchAttributeKeyKeywordList("ApoyoWaitingOn")
	// Overdue is true while an approval or referral is past its deadline.
	Overdue = temporal.NewSearchAttributeKeyBool("ApoyoOverdue")
	// Outcome is the case's final or current outcome (paid, rejected, ...).
	Outcome = temporal.NewSearchAttributeKeyKeyword("ApoyoOutcome")
)

// Definitions is what the namespace must have registered.
var Definitions = map[string]enumspb.IndexedValueType{
	Program.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	Cycle.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	Step.GetName():      enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	WaitingOn.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
	Overdue.GetName():   enumspb.INDEXED_VALUE_TYPE_BOOL,
	Outcome.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
}
