// Package beneficiary holds the beneficiary record as imported from a
// programme roster: its domain enums (population group, sex, identity
// document, payment method, needs), its validation rules (one
// *validator.Validate with the programme's custom tags and cross-field
// rules), and a streaming reader for the roster CSV that reports every
// problem of every row with its row number and column.
//
// Errors about a row's content are returned as FieldError values, which
// carry a masked hint of the offending value instead of the value itself:
// roster files hold CURPs, phone numbers and bank accounts of people who
// fear their data reaching immigration enforcement, and error lists end up
// in logs, e-mails and screenshots.
package beneficiary
