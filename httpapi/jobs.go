package httpapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordjson"
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
	JobID         string             `json:"job_id"`
	Type          string             `json:"type"`
	Status        bulkid.JobStatus   `json:"status"`
	SubmittedAt   string             `json:"submitted_at"`
	StartTime     string             `json:"start_time"` // submitted_at until a worker starts the job
	EndTime       *string            `json:"end_time"`
	ElapsedTime   int64              `json:"elapsed_time"`
	Filename      string             `json:"filename"`  // "" when there is no file
	FileSize      int64              `json:"file_size"` // bytes of the body, or of the file part
	TotalRows     int                `json:"total_rows"`
	CompletedRows int                `json:"completed_rows"`
	FailedRows    int                `json:"failed_rows"`
	Links         string             `json:"links"`
	Errors        []recordjson.Error `json:"errors"`
	// Extensions of this server.
	CreatedRows             int     `json:"created_rows"`
	UpdatedRows             int     `json:"updated_rows"`
	UnchangedRows           int     `json:"unchanged_rows"`
	EstimatedCompletionTime *string `json:"estimated_completion_time"`
	ErrorsURL               string  `json:"errors_url"`
	FailureReason           *string `json:"failure_reason"`
	NestedMetadata          string  `json:"nested_metadata"`  // the job's ?nested=: refuse or flatten
	CancelRequested         bool    `json:"cancel_requested"` // POST .../cancel was accepted
}

func timeString(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := timeString(t)
	return &s
}

// jobJSON is j as the wire shows it. The published OpenAPI schema types
// start_time, filename and file_size without nullable, so a strict client
// fails on a null there: a job not yet started shows its submitted_at as
// start_time (status says it has not started, and elapsed_time is 0), a
// job without a file the filename "", and file_size is the byte count of
// the body (of the file part for a multipart upload), JSON bodies too.
func (s *server) jobJSON(j *bulkid.Job) jobJSON {
	now := s.now()
	start := j.StartTime
	if start.IsZero() {
		start = j.SubmittedAt
	}
	out := jobJSON{
		JobID:         j.ID,
		Type:          jobTypes[j.Type],
		Status:        j.Status,
		SubmittedAt:   timeString(j.SubmittedAt),
		StartTime:     timeString(start),
		EndTime:       optTime(j.EndTime),
		ElapsedTime:   j.Elapsed(now).Milliseconds(),
		Filename:      j.Filename,
		FileSize:      j.FileSize,
		TotalRows:     j.TotalRows,
		CompletedRows: j.CompletedRows,
		FailedRows:    j.FailedRows,
		CreatedRows:   j.Rows.Created,
		UpdatedRows:   j.Rows.Updated,
		UnchangedRows: j.Rows.Unchanged,
		Links:         jobLink(j.ID),
		ErrorsURL:     jobLink(j.ID) + "/errors",
		Errors:        make([]recordjson.Error, 0, len(j.Errors)),

		NestedMetadata:  j.Nested.String(),
		CancelRequested: j.CancelRequested,
	}
	for _, e := range j.Errors {
		out.Errors = append(out.Errors, recordjson.Of(j, e, false))
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

// handleCancelJob cancels a job: a queued one at once, a running one at
// its next batch boundary (its status moves to canceled then). 202 with
// the job as GET shows it; 409 job_finished for a completed or failed job.
func (s *server) handleCancelJob(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	job, err := storableID(pathValue(r, "job_id"), func(id string) (*bulkid.Job, error) {
		return s.store.CancelJob(r.Context(), app.ID, id)
	})
	if err != nil {
		s.writeError(w, r, notFound(err, "job", pathValue(r, "job_id")))
		return
	}
	writeJSON(w, http.StatusAccepted, s.jobJSON(job))
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
			if err := enc.Encode(recordjson.Of(job, e, true)); err != nil {
				return // the client went away
			}
		}
		if len(errs) < chunk {
			break
		}
		if errs, err = s.store.JobErrors(r.Context(), app.ID, job.ID, errs[len(errs)-1].Seq+1, chunk); err != nil {
			// Headers are sent; cut the stream short so the client sees a
			// truncated body rather than a complete-looking one.
			s.log.Error("stream job errors", logAttrs(r, "err", err)...)
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
