package bulkid

import (
	"errors"
	"fmt"
)

// Error codes. They are stable: clients switch on them, so a code is never
// renamed, only added. httpapi maps each to an HTTP status in one table.
const (
	ECONFLICT        = "job_in_progress"                 // the app already has an unfinished job
	EINTERNAL        = "internal_error"                  // a bug or a store failure; details are logged, not sent
	EINVALID         = "invalid_request"                 // a parameter or header is wrong
	EINVALIDJSON     = "invalid_json"                    // the body is not well-formed JSON
	EMISSINGRECORDS  = "missing_records"                 // no companies/users array in a JSON body
	EMISSINGFILE     = "missing_file"                    // a multipart body without a file part
	EEMPTY           = "empty_payload"                   // the body holds no record at all
	ENOTFOUND        = "not_found"                       // no such object for this app
	ETOOMANY         = "too_many_records"                // more than MaxRecords records
	ETOOLARGE        = "payload_too_large"               // more than MaxBytes bytes
	EUNAUTHORIZED    = "unauthorized"                    // missing, malformed or unknown API key
	EUNSUPPORTED     = "unsupported_media_type"          // a Content-Type the endpoint does not take
	EUNAVAILABLE     = "service_unavailable"             // the store cannot be reached
	EFULL            = "insufficient_storage"            // the disk of the store or of the upload spool is full
	ELEASELOST       = "lease_lost"                      // internal: another worker owns the job now
	EMETHOD          = "method_not_allowed"              // the path exists, the method does not
	EINVALIDRECORD   = "invalid_record"                  // the one record of a real-time identify is invalid
	EURITOOLONG      = "uri_too_long"                    // the request's URL is longer than the server takes
	EHEADERSTOOLARGE = "request_header_fields_too_large" // the request line and headers are over the server's limit
	ENOTIMPLEMENTED  = "not_implemented"                 // a Transfer-Encoding the server does not decode
	EHTTPVERSION     = "http_version_not_supported"      // a request in an HTTP version the server does not speak
	ETIMEOUT         = "request_timeout"                 // an upload arrived slower than the server's minimum rate
	ETOOMANYFAILED   = "too_many_requests"               // the client's address failed authentication too often
	ERATELIMITED     = "rate_limited"                    // the app sent more real-time requests than its rate allows
	EJOBFINISHED     = "job_finished"                    // the job is completed or failed, too late to cancel
	ECANCELED        = "job_canceled"                    // internal: a client canceled the job; the worker stops it
	EKEYREUSED       = "idempotency_key_reused"          // an Idempotency-Key already accepted with another request
	EKEYINUSE        = "idempotency_key_in_use"          // an Idempotency-Key whose first request is still being received
	EMISDIRECTED     = "misdirected_region"              // the API key is of an app of another region
)

// Error is the error type of the domain: a machine-readable code, a message a
// person can act on, and optional details.
type Error struct {
	Code    string
	Message string
	Details string
	// Job names the unfinished job behind an ECONFLICT, so a client knows
	// what it waits for.
	Job *Job
}

func (e *Error) Error() string {
	if e.Details != "" {
		return fmt.Sprintf("bulkid: %s: %s (%s)", e.Code, e.Message, e.Details)
	}
	return fmt.Sprintf("bulkid: %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err if it is or wraps an *Error, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the message of err if it is an *Error, and a generic
// message otherwise so that internal details never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred."
}

// ConflictError is the ECONFLICT of a submission while active, the app's
// unfinished job, runs; it names the job.
func ConflictError(active *Job) error {
	return &Error{
		Code:    ECONFLICT,
		Message: "Another bulk job of this app is in progress; submit again when it has finished.",
		Details: "job " + active.ID + " is " + string(active.Status),
		Job:     active,
	}
}

// NameTakenError is the ECONFLICT of creating an app with a name another
// app has: names are unique, so that an app is chosen by name without a
// guess.
func NameTakenError(name string) error {
	return &Error{
		Code:    ECONFLICT,
		Message: fmt.Sprintf("An app named %q already exists; app names are unique, so choose another.", name),
	}
}

// FinishedError is the EJOBFINISHED of canceling job, which is completed
// or failed: too late to cancel, its rows are all applied or it stopped.
func FinishedError(job *Job) error {
	return &Error{
		Code:    EJOBFINISHED,
		Message: fmt.Sprintf("The job is %s; only a job that has not finished can be canceled.", job.Status),
		Details: "job " + job.ID + " is " + string(job.Status),
		Job:     job,
	}
}
