package migrations

// Files are the embedded migrations, for tests that step through them.
var Files = files
