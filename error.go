package apoyo

import (
	"context"
	"errors"
	"fmt"
)

// ErrorCode classifies an error by what the caller can do about it. Codes are
// mapped in exactly one place per adapter: to HTTP statuses by the API and to
// retryable/non-retryable Temporal errors by the activities.
type ErrorCode string

const (
	// EINVALID: the request itself is wrong; retrying it cannot succeed.
	EINVALID ErrorCode = "invalid"
	// ENOTFOUND: a referenced thing does not exist.
	ENOTFOUND ErrorCode = "not_found"
	// ECONFLICT: the request clashes with the current state (a key reused with
	// other content, a second vote, a second reversal, a budget exhausted).
	ECONFLICT ErrorCode = "conflict"
	// EUNAUTHENTICATED: no credentials, or credentials that prove nothing.
	EUNAUTHENTICATED ErrorCode = "unauthenticated"
	// EFORBIDDEN: the identity may not do this.
	EFORBIDDEN ErrorCode = "forbidden"
	// EUNAVAILABLE: a dependency is temporarily unreachable; retry later.
	EUNAVAILABLE ErrorCode = "unavailable"
	// EINTERNAL: a bug or an unexpected failure.
	EINTERNAL ErrorCode = "internal"
)

// Error is apoyo's one error type. Reason is a stable, machine-readable name
// for the precise failure ("ledger.unbalanced"), so callers and tests can
// tell failures of the same code apart with errors.Is against a sentinel.
type Error struct {
	Code    ErrorCode
	Reason  string
	Message string
	// Row and Field locate bad input (a CSV row as numbered in the file,
	// header = 1; a field or configuration key). Zero values mean "not
	// applicable".
	Row   int
	Field string
	// Err is the underlying cause, if any.
	Err error
}

// Errorf returns an *Error with the given code, reason and message.
func Errorf(code ErrorCode, reason, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Error implements the error interface.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	loc := ""
	if e.Row > 0 {
		loc = fmt.Sprintf("row %d: ", e.Row)
	}
	if e.Field != "" {
		loc += e.Field + ": "
	}
	return loc + msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches another *Error by Reason when the target has one, otherwise by
// Code. It lets sentinels like ledger.ErrUnbalanced match errors that carry
// extra detail in their message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t.Reason != "" {
		return e.Reason == t.Reason
	}
	return e.Code == t.Code
}

// With returns a copy of e with a new message, keeping code and reason, so a
// sentinel can be returned with the specifics of one occurrence.
func (e *Error) With(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

// At returns a copy of e located at a row and field of some input.
func (e *Error) At(row int, field string) *Error {
	c := *e
	c.Row, c.Field = row, field
	return &c
}

// Wrap returns a copy of e carrying cause.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

// ErrorCodeOf returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCodeOf(err error) ErrorCode {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorReasonOf returns the reason of the first *Error in err's chain, or "".
func ErrorReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// Retryable reports whether an operation that failed with err may succeed if
// tried again unchanged. Only unavailable and internal errors are retryable:
// invalid input, missing things and conflicts stay so.
func Retryable(err error) bool {
	switch ErrorCodeOf(err) {
	case EINVALID, ENOTFOUND, ECONFLICT, EUNAUTHENTICATED, EFORBIDDEN:
		return false
	}
	return true
}

// StoreError makes a database error an EUNAVAILABLE error with reason,
// saying what was being done, with the driver's error as its cause (and
// in its message, for the operator's command line; the HTTP API shows no
// cause's text). An *Error or a cancelled context passes through
// unchanged. Every store maps its database errors with it.
func StoreError(reason, what string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return Errorf(EUNAVAILABLE, reason, "%s: %v", what, err).Wrap(err)
}
