package apoyo

import "time"

// A roster import's options and report: the report is what the CLI and
// the API return, row by row, field by field, with masked hints only.

// ImportOptions tune a roster import.
type ImportOptions struct {
	// DryRun validates every row and checks duplicates and shared CLABEs
	// against the database, but stores nothing.
	DryRun bool
	// Now is the clock birth dates are judged against; nil means time.Now.
	Now func() time.Time
	// BatchSize is the number of rows inserted per database transaction;
	// default 500.
	BatchSize int
	// ImportedBy is the user id of whoever imports the roster: separation
	// of duties keeps them from approving the cases of the people they
	// enrolled. The application layer sets it from the acting identity.
	ImportedBy string
}

// ImportReport is the outcome of an import. Its JSON is what the CLI and API
// return; it holds no personal data, only masked hints.
type ImportReport struct {
	// Accepted rows were enrolled (or would be, in a dry run).
	Accepted int `json:"accepted"`
	// Rejected rows had at least one error.
	Rejected int `json:"rejected"`
	// Duplicates are rows whose CURP or document is already enrolled in the
	// programme, by an earlier import or an earlier row of this file. They
	// are not errors: re-importing a file is safe.
	Duplicates int `json:"duplicates"`
	// Flagged counts rows of this file flagged for review (accepted all the
	// same), e.g. for sharing a CLABE.
	Flagged int              `json:"flagged"`
	Errors  []ImportRowError `json:"errors"`
	Flags   []ImportRowFlag  `json:"flags"`
	// Transcoded names the encoding the file was converted from to UTF-8
	// ("windows-1252", a spreadsheet saved as plain CSV), empty for UTF-8.
	Transcoded string `json:"transcoded,omitempty"`

	// ImportID names the import in the imports table (empty in a dry
	// run).
	ImportID string `json:"import_id,omitempty"`
}

// ImportRowError is one problem with one row of the file: row as numbered in the
// file (header = 1), the column ("" for the whole row), a masked hint of
// the value and a plain-language message.
type ImportRowError struct {
	Row       int    `json:"row"`
	Field     string `json:"field"`
	ValueHint string `json:"value_hint"`
	Message   string `json:"message"`
}

// ImportRowFlag marks an accepted row that a person should review.
type ImportRowFlag struct {
	Row     int    `json:"row"`
	Field   string `json:"field"`
	Message string `json:"message"`
}
