package drover

import (
	"errors"
	"fmt"
)

// Error codes. internal/httpapi maps each to one HTTP status in a single table.
const (
	ECONFLICT      = "conflict"      // stale attempt, state that forbids the call (409)
	EINTERNAL      = "internal"      // a bug or an unexpected failure (500)
	EINVALID       = "invalid"       // well-formed but invalid input (422)
	EMALFORMED     = "malformed"     // cannot be parsed (400)
	ENOTFOUND      = "not_found"     // no such job, worker, attempt or bundle (404)
	EMETHOD        = "method"        // the route exists, not with this method (405)
	EUNAUTHORIZED  = "unauthorized"  // missing or wrong token (401)
	EFORBIDDEN     = "forbidden"     // a worker speaking for another (403)
	ETOOLARGE      = "too_large"     // body over its limit (413)
	EUNSCHEDULABLE = "unschedulable" // no registered worker could ever hold the job (422)
	EUNAVAILABLE   = "unavailable"   // shutting down, try again (503)
)

// Error is a domain error: a code a program can branch on and a message a
// person can act on. Messages say what to change.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field names the job spec's field at fault, such as "resources.cpu",
	// when there is one. A form can then show the message next to it.
	Field string `json:"field,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an EINVALID *Error about one input field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Message: fmt.Sprintf(format, args...), Field: field}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain.
// An internal error gets a generic text. Its details are logged, not shown.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code string) bool { return err != nil && ErrorCode(err) == code }
