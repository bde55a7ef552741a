package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/bulkid/bulkid"
)

// statusOf maps each error code to its HTTP status: the one table of it.
var statusOf = map[string]int{
	bulkid.ECONFLICT:        http.StatusConflict,
	bulkid.EINTERNAL:        http.StatusInternalServerError,
	bulkid.EINVALID:         http.StatusBadRequest,
	bulkid.EINVALIDJSON:     http.StatusBadRequest,
	bulkid.EMISSINGRECORDS:  http.StatusBadRequest,
	bulkid.EMISSINGFILE:     http.StatusBadRequest,
	bulkid.EEMPTY:           http.StatusBadRequest,
	bulkid.ENOTFOUND:        http.StatusNotFound,
	bulkid.ETOOMANY:         http.StatusRequestEntityTooLarge,
	bulkid.ETOOLARGE:        http.StatusRequestEntityTooLarge,
	bulkid.EUNAUTHORIZED:    http.StatusUnauthorized,
	bulkid.EUNSUPPORTED:     http.StatusUnsupportedMediaType,
	bulkid.EUNAVAILABLE:     http.StatusServiceUnavailable,
	bulkid.EFULL:            http.StatusInsufficientStorage,
	bulkid.EMETHOD:          http.StatusMethodNotAllowed,
	bulkid.EINVALIDRECORD:   http.StatusBadRequest,
	bulkid.EURITOOLONG:      http.StatusRequestURITooLong,
	bulkid.EHEADERSTOOLARGE: http.StatusRequestHeaderFieldsTooLarge,
	bulkid.ENOTIMPLEMENTED:  http.StatusNotImplemented,
	bulkid.EHTTPVERSION:     http.StatusHTTPVersionNotSupported,
	bulkid.ETIMEOUT:         http.StatusRequestTimeout,
	bulkid.ETOOMANYFAILED:   http.StatusTooManyRequests,
	bulkid.ERATELIMITED:     http.StatusTooManyRequests,
	bulkid.EJOBFINISHED:     http.StatusConflict,
	bulkid.EKEYREUSED:       http.StatusUnprocessableEntity,
	bulkid.EKEYINUSE:        http.StatusConflict,
	bulkid.EMISDIRECTED:     http.StatusMisdirectedRequest,
}

// unavailableRetryAfter is the Retry-After, in seconds, of a 503: long
// enough for a store to restart, short enough not to keep a client waiting.
const unavailableRetryAfter = "5"

// errorJSON is one element of the documented error body
// {"errors": [{"error", "error_code", "message", "details"}]}.
type errorJSON struct {
	Error     string `json:"error"`
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
	Details   string `json:"details"`
	// For job_in_progress: the unfinished job and where to poll it.
	JobID     string `json:"job_id,omitempty"`
	JobStatus string `json:"job_status,omitempty"`
	Links     string `json:"links,omitempty"`
}

// logAttrs is the attributes of a log line about r: its request_id, the
// job_id of its path if any, then attrs.
func logAttrs(r *http.Request, attrs ...any) []any {
	out := append(make([]any, 0, 4+len(attrs)), "request_id", requestID(r))
	if id := pathValue(r, "job_id"); id != "" {
		out = append(out, "job_id", id)
	}
	return append(out, attrs...)
}

// writeError renders err in the documented shape. Internal errors are
// logged with the request id and answered without their details.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	gone := clientGone(r, err)
	if gone {
		// Not a failure of the server: answer, in case the client still
		// reads, that the request was cut off, and log no error.
		s.log.Debug("client went away", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path)
		err = &bulkid.Error{Code: bulkid.EUNAVAILABLE, Message: "The request was cut off because its connection closed; send it again."}
	}
	code := bulkid.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	e := errorJSON{Error: http.StatusText(status), ErrorCode: code, Message: bulkid.ErrorMessage(err)}
	var be *bulkid.Error
	if errors.As(err, &be) && status < 500 {
		e.Details = be.Details
		if be.Job != nil {
			e.JobID, e.JobStatus, e.Links = be.Job.ID, string(be.Job.Status), jobLink(be.Job.ID)
		}
	}
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		// The store is away (restarting, busy): tell clients when to try
		// again, as for a 409.
		w.Header().Set("Retry-After", unavailableRetryAfter)
	}
	if status >= 500 && !gone {
		s.log.Error("request failed", logAttrs(r, "method", r.Method, "path", r.URL.Path, "err", err)...)
		if status == http.StatusInternalServerError {
			e.ErrorCode = bulkid.EINTERNAL
		}
	}
	writeJSON(w, status, struct {
		Errors []errorJSON `json:"errors"`
	}{[]errorJSON{e}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		slog.Debug("write response", "err", err)
	}
}

// ErrorResponse renders err as the status and body writeError would
// answer, for answers written outside a handler (cmd/bulkid rewrites
// net/http's plain-text refusals of requests it cannot parse with it).
func ErrorResponse(err error) (status int, body []byte) {
	code := bulkid.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status, code = http.StatusInternalServerError, bulkid.EINTERNAL
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(struct {
		Errors []errorJSON `json:"errors"`
	}{[]errorJSON{{Error: http.StatusText(status), ErrorCode: code, Message: bulkid.ErrorMessage(err)}}})
	return status, b.Bytes()
}
