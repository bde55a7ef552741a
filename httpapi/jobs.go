package httpapi

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulkid/bulkid"
)

// Page sizes of the listings.
const (
	defaultPageSize = 50
	maxPageSize     = 100
)

func jobLink(id string) string { return "/v1/background_jobs/" + url.PathEscape(id) }

// jobTypes are the wire names of job types.
var jobTypes = map[bulkid.JobType]string{
	bulkid.JobCompanies: "bulk_identify_companies",
	bulkid.JobUsers:     "bulk_identify_users",
}

// jobJSON is the job object on the wire.
type jobJSON struct {
	JobID         string            `json:"job_id"`
	Type          string            `json:"type"`
	Status        bulkid.JobStatus  `json:"status"`
	SubmittedAt   string            `json:"submitted_at"`
	StartTime     *string           `json:"start_time"`
	EndTime       *string           `json:"end_time"`
	ElapsedTime   int64             `json:"elapsed_time"`
	Filename      *string           `json:"filename"`
	FileSize      *int64            `json:"file_size"`
	TotalRows     int               `json:"total_rows"`
	CompletedRows int               `json:"completed_rows"`
	FailedRows    int               `json:"failed_rows"`
	Links         string            `json:"links"`
	Errors        []recordErrorJSON `json:"errors"`
	// Extensions of this server.
	EstimatedCompletionTime *string `json:"estimated_completion_time"`
	ErrorsURL               string  `json:"errors_url"`
	FailureReason           *string `json:"failure_reason"`
}

// recordErrorJSON is one failed record: in the job object without the
// record, on the errors endpoint with it.
type recordErrorJSON struct {
	Index     *int            `json:"index,omitempty"` // JSON bodies: 0-based array index
	Line      *int            `json:"line,omitempty"`  // NDJSON files: 1-based line
	CompanyID string          `json:"company_id,omitempty"`
	UserID    string          `json:"user_id,omitempty"`
	ErrorCode string          `json:"error_code"`
	Message   string          `json:"message"`
	Record    json.RawMessage `json:"record,omitempty"` // the record as sent, when it is JSON
	Raw       *string         `json:"raw,omitempty"`    // the line as sent, when it is not
	// RawBase64 is the record as sent, byte for byte, when it is not valid
	// UTF-8; Raw then shows it with U+FFFD for the bytes that are not.
	RawBase64 string `json:"raw_base64,omitempty"`
}

func timeString(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := timeString(t)
	return &s
}

func (s *server) jobJSON(j *bulkid.Job) jobJSON {
	now := s.now()
	out := jobJSON{
		JobID:         j.ID,
		Type:          jobTypes[j.Type],
		Status:        j.Status,
		SubmittedAt:   timeString(j.SubmittedAt),
		StartTime:     optTime(j.StartTime),
		EndTime:       optTime(j.EndTime),
		ElapsedTime:   j.Elapsed(now).Milliseconds(),
		TotalRows:     j.TotalRows,
		CompletedRows: j.CompletedRows,
		FailedRows:    j.FailedRows,
		Links:         jobLink(j.ID),
		ErrorsURL:     jobLink(j.ID) + "/errors",
		Errors:        make([]recordErrorJSON, 0, len(j.Errors)),
	}
	if j.Source == bulkid.SourceNDJSON || j.Source == bulkid.SourceCSV {
		out.FileSize = &j.FileSize
		if j.Filename != "" {
			out.Filename = &j.Filename
		}
	}
	for _, e := range j.Errors {
		out.Errors = append(out.Errors, recordError(j, e, false))
	}
	if j.Error != "" {
		out.FailureReason = &j.Error
	}
	if !j.Status.Final() {
		if d, ok := j.Remaining(s.rpm, now); ok {
			out.EstimatedCompletionTime = optTime(now.Add(d))
		}
	}
	return out
}

func recordError(j *bulkid.Job, e bulkid.RecordError, withRecord bool) recordErrorJSON {
	out := recordErrorJSON{ErrorCode: e.Code, Message: e.Message}
	pos := e.Pos
	if j.Source == bulkid.SourceJSON {
		out.Index = &pos
	} else {
		out.Line = &pos
	}
	if j.Type == bulkid.JobUsers {
		out.UserID = e.ID
	} else {
		out.CompanyID = e.ID
	}
	if withRecord {
		switch {
		case !utf8.Valid(e.Raw):
			// JSON text is UTF-8: the exact bytes go in base64.
			raw := strings.ToValidUTF8(string(e.Raw), "\uFFFD")
			out.Raw, out.RawBase64 = &raw, base64.StdEncoding.EncodeToString(e.Raw)
		case json.Valid(e.Raw):
			out.Record = e.Raw
		default:
			raw := string(e.Raw)
			out.Raw = &raw
		}
	}
	return out
}

func (s *server) handleGetJob(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	job, err := storableID(pathValue(r, "job_id"), func(id string) (*bulkid.Job, error) {
		return s.store.Job(r.Context(), app.ID, id)
	})
	if err != nil {
		s.writeError(w, r, notFound(err, "job", pathValue(r, "job_id")))
		return
	}
	writeJSON(w, http.StatusOK, s.jobJSON(job))
}

func (s *server) handleListJobs(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	page, err := pageOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	jobs, err := s.store.ListJobs(r.Context(), app.ID, page)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]jobJSON, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, s.jobJSON(j))
	}
	if len(jobs) == page.Limit {
		setNextLink(w, r, page.Limit, jobs[len(jobs)-1].ID)
	}
	writeJSON(w, http.StatusOK, out)
}

// handleJobErrors streams every failed record of a job as NDJSON.
func (s *server) handleJobErrors(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	job, err := storableID(pathValue(r, "job_id"), func(id string) (*bulkid.Job, error) {
		return s.store.Job(r.Context(), app.ID, id)
	})
	if err != nil {
		s.writeError(w, r, notFound(err, "job", pathValue(r, "job_id")))
		return
	}
	const chunk = 1000
	errs, err := s.store.JobErrors(r.Context(), app.ID, job.ID, 0, chunk)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for len(errs) > 0 {
		for _, e := range errs {
			if err := enc.Encode(recordError(job, e, true)); err != nil {
				return // the client went away
			}
		}
		if len(errs) < chunk {
			break
		}
		if errs, err = s.store.JobErrors(r.Context(), app.ID, job.ID, errs[len(errs)-1].Seq+1, chunk); err != nil {
			// Headers are sent; cut the stream short so the client sees a
			// truncated body rather than a complete-looking one.
			s.log.Error("stream job errors", "request_id", requestID(r), "err", err)
			panic(http.ErrAbortHandler)
		}
	}
	bw.Flush()
}

// pageOf reads ?limit= (clamped to maxPageSize) and ?cursor=.
func pageOf(r *http.Request) (bulkid.Page, error) {
	p := bulkid.Page{Limit: defaultPageSize, After: r.URL.Query().Get("cursor")}
	if !bulkid.Storable(p.After) {
		// No id holds such text, and PostgreSQL would refuse the query.
		return p, bulkid.Errorf(bulkid.EINVALID, "cursor must be valid UTF-8 without U+0000, as every id is: pass the id the last page ended with.")
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if errors.Is(err, strconv.ErrRange) && v[0] != '-' {
			n, err = maxPageSize, nil // a large value is lowered, however large
		}
		if err != nil || n < 1 {
			return p, bulkid.Errorf(bulkid.EINVALID, "limit must be a positive integer (at most %d are returned).", maxPageSize)
		}
		p.Limit = min(n, maxPageSize)
	}
	return p, nil
}

// setNextLink points to the next page in an RFC 8288 Link header.
func setNextLink(w http.ResponseWriter, r *http.Request, limit int, cursor string) {
	q := r.URL.Query()
	q.Set("limit", strconv.Itoa(limit))
	q.Set("cursor", cursor)
	w.Header().Set("Link", "<"+r.URL.Path+"?"+q.Encode()+`>; rel="next"`)
}
