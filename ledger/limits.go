package ledger

// Limits on the text a caller hands the ledger, in characters (Unicode code
// points). They are the one place these limits are written down; the
// account and fund code patterns in accounts.go and the migration's CHECK
// constraints agree with them.
//
// Beyond length, every text field must be valid UTF-8 without control
// characters (C0, DEL, C1; tabs and newlines included). Text that breaks a
// rule is refused with ErrInvalidText naming the field, before anything
// reaches PostgreSQL: text columns refuse NUL and invalid UTF-8 (which, sent
// in a batch, would fail every other request in it), and jsonb would store
// invalid UTF-8 differently from what was hashed, breaking the chain.
const (
	MaxIdempotencyKeyLen = 200
	MaxDescriptionLen    = 500
	MaxMetadataKeys      = 32
	MaxMetadataKeyLen    = 64
	MaxMetadataValueLen  = 256
	MaxAccountCodeLen    = 200
	MaxFundCodeLen       = 64
	// MaxNameLen bounds account and fund names (a programme name of up to
	// 200 characters plus a suffix such as ": available budget").
	MaxNameLen = 300
)
