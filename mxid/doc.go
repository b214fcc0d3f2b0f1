// Package mxid holds the rules for Mexican identifiers that a roster carries:
// the CURP (population registry key), the CLABE (18-digit interbank account
// number used by SPEI) and the names of Mexico City's 16 alcaldías.
//
// Everything here is a pure function of its arguments: no I/O, no clock, no
// global state beyond constant tables. Errors are *apoyo.Error with code
// EINVALID and a stable Reason per failure ("curp.check_digit",
// "clabe.length", ...), so callers can tell failures apart with errors.Is
// against the exported sentinels. Messages never repeat the identifier
// itself: these values are personal data and error messages end up in logs
// and reports.
//
// The generators (GenerateCURP, GenerateCLABE, ...) make synthetic but
// structurally valid identifiers for tests, demos and the sandbox bank; they
// are not meant to resemble any real person's data.
package mxid
