package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Company is a company record to identify.
type Company struct {
	CompanyID string         `json:"company_id"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

// User is a user record to identify; CompanyID associates it.
type User struct {
	UserID    string         `json:"user_id"`
	CompanyID string         `json:"company_id,omitempty"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

// Job is a background job as the API shows it.
//
// StartTime is nil while the job is queued, whatever the server sent:
// bulkid sends the job's submitted_at as start_time until a worker starts
// it, because the published schema has no null there, and tells by status
// that it has not started. Filename is nil when the job has no file name
// (the server sends "" or null). FileSize is the body's byte count (the
// file part's for an upload); nil only from a server that sends null.
type Job struct {
	JobID         string        `json:"job_id"`
	Type          string        `json:"type"`
	Status        string        `json:"status"`
	SubmittedAt   *time.Time    `json:"submitted_at"`
	StartTime     *time.Time    `json:"start_time"`
	EndTime       *time.Time    `json:"end_time"`
	ElapsedTime   int64         `json:"elapsed_time"` // ms
	Filename      *string       `json:"filename"`
	FileSize      *int64        `json:"file_size"`
	TotalRows     int           `json:"total_rows"`
	CompletedRows int           `json:"completed_rows"`
	FailedRows    int           `json:"failed_rows"`
	Links         string        `json:"links"`
	Errors        []RecordError `json:"errors"`
	// bulkid extensions; absent from the hosted service.
	CreatedRows             int        `json:"created_rows"`   // records that created a profile
	UpdatedRows             int        `json:"updated_rows"`   // records that changed a stored value
	UnchangedRows           int        `json:"unchanged_rows"` // records that changed nothing
	EstimatedCompletionTime *time.Time `json:"estimated_completion_time"`
	ErrorsURL               string     `json:"errors_url"`
	FailureReason           *string    `json:"failure_reason"`
	// Replayed is true when the server answered a request with an
	// Idempotency-Key it had accepted before (Idempotent-Replayed: true):
	// this is that request's job, as it is now, and nothing new was queued.
	Replayed bool `json:"-"`
	// NestedMetadata is the job's rule for metadata values that are
	// objects or arrays: "refuse" or "flatten" (Client.Nested).
	NestedMetadata string `json:"nested_metadata"`
	// CancelRequested says the job's cancel was accepted (Client.CancelJob):
	// it ends canceled at its next batch boundary.
	CancelRequested bool `json:"cancel_requested"`
}

// UnmarshalJSON reads a job and is lenient with its times: the hosted
// service does not document their format, so a time that is not RFC 3339
// (or one of a few common forms) is left nil instead of failing the call.
// A queued job's StartTime is nil, and an empty Filename is nil (see Job).
func (j *Job) UnmarshalJSON(b []byte) error {
	type plain Job
	var aux struct {
		*plain
		SubmittedAt             json.RawMessage `json:"submitted_at"`
		StartTime               json.RawMessage `json:"start_time"`
		EndTime                 json.RawMessage `json:"end_time"`
		EstimatedCompletionTime json.RawMessage `json:"estimated_completion_time"`
	}
	aux.plain = (*plain)(j)
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	j.SubmittedAt = parseTime(aux.SubmittedAt)
	j.StartTime = parseTime(aux.StartTime)
	if j.Status == "queued" {
		j.StartTime = nil // not started: what start_time holds is when it was submitted
	}
	if j.Filename != nil && *j.Filename == "" {
		j.Filename = nil
	}
	j.EndTime = parseTime(aux.EndTime)
	j.EstimatedCompletionTime = parseTime(aux.EstimatedCompletionTime)
	return nil
}

// parseTime reads a JSON time: a string in RFC 3339 or a similar layout, or
// a number of Unix seconds (or milliseconds, if too large for seconds).
func parseTime(raw json.RawMessage) *time.Time {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
			if t, err := time.Parse(layout, s); err == nil {
				return &t
			}
		}
		return nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&n) == nil {
		if f, err := n.Float64(); err == nil && f > 0 {
			var t time.Time
			if f >= 1e11 { // milliseconds: 1e11 s is the year 5138
				t = time.UnixMilli(int64(f)).UTC()
			} else {
				t = time.Unix(int64(f), 0).UTC()
			}
			return &t
		}
	}
	return nil
}

// Done reports whether the job has reached a final status: completed,
// failed, or canceled (a bulkid extension).
func (j *Job) Done() bool {
	return j.Status == "completed" || j.Status == "failed" || j.Status == "canceled"
}

// RecordError is one record a job could not apply. Index is set for JSON
// bodies (0-based), Line for uploaded files (1-based).
type RecordError struct {
	Index     *int            `json:"index,omitempty"`
	Line      *int            `json:"line,omitempty"`
	CompanyID string          `json:"company_id,omitempty"`
	UserID    string          `json:"user_id,omitempty"`
	ErrorCode string          `json:"error_code"`
	Message   string          `json:"message"`
	Record    json.RawMessage `json:"record,omitempty"`
	Raw       *string         `json:"raw,omitempty"`
	// RawBase64 is the record as sent, byte for byte, when it is not valid
	// UTF-8 (a bulkid extension); Raw then shows it with U+FFFD.
	RawBase64 string `json:"raw_base64,omitempty"`
}

// Sent returns the record as it was sent, when the errors stream carries
// it: the exact bytes of RawBase64 when set (a record that is not UTF-8),
// else Record, else Raw. It returns nil when the line holds none (the job
// object's errors).
func (e *RecordError) Sent() []byte {
	switch {
	case e.RawBase64 != "":
		if b, err := base64.StdEncoding.DecodeString(e.RawBase64); err == nil {
			return b
		}
	case e.Record != nil:
		return e.Record
	}
	if e.Raw != nil {
		return []byte(*e.Raw)
	}
	return nil
}

// CompanyProfile is a stored company (a bulkid extension).
type CompanyProfile struct {
	CompanyID string          `json:"company_id"`
	Metadata  json.RawMessage `json:"metadata"`
	UserCount int             `json:"user_count"`
	Visible   bool            `json:"visible"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// UserProfile is a stored user (a bulkid extension).
type UserProfile struct {
	UserID    string          `json:"user_id"`
	CompanyID *string         `json:"company_id"`
	Metadata  json.RawMessage `json:"metadata"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Kind names the two record types.
type Kind string

const (
	Companies Kind = "companies"
	Users     Kind = "users"
)

func (k Kind) bulkPath() string { return "/v1/" + string(k) + "/bulk_identify" }

// bulkPath is the path of a bulk request of kind k, with ?nested= when
// c.Nested is set.
func (c *Client) bulkPath(k Kind) string {
	if c.Nested == "" {
		return k.bulkPath()
	}
	return k.bulkPath() + "?" + url.Values{"nested": {c.Nested}}.Encode()
}

// CallOption sets something of one call of the bulk and import methods.
type CallOption func(*request)

// WithIdempotencyKey sends key (1 to 255 printable ASCII characters, such
// as a UUID) as the call's Idempotency-Key, on every attempt: a server
// that accepted a request with it before (from this app, within 24 hours)
// answers that request's job, with Job.Replayed set, instead of making
// another, so a retry after a lost answer never makes a job twice. The
// same key with another body is refused (422 idempotency_key_reused).
// The hosted service is not known to honour it.
func WithIdempotencyKey(key string) CallOption {
	return func(r *request) { r.idempotencyKey = key }
}

// BulkIdentifyCompanies submits companies as a JSON body (at most 10,000).
func (c *Client) BulkIdentifyCompanies(ctx context.Context, companies []Company, opts ...CallOption) (*Job, error) {
	return bulk(ctx, c, Companies, companies, opts)
}

// BulkIdentifyUsers submits users as a JSON body (at most 10,000).
func (c *Client) BulkIdentifyUsers(ctx context.Context, users []User, opts ...CallOption) (*Job, error) {
	return bulk(ctx, c, Users, users, opts)
}

// BulkIdentifyRaw submits records, each already one JSON object, as a JSON
// body of kind k.
func (c *Client) BulkIdentifyRaw(ctx context.Context, k Kind, records []json.RawMessage, opts ...CallOption) (*Job, error) {
	return bulk(ctx, c, k, records, opts)
}

// bulk posts records as the JSON body {k: records}. A nil slice is sent
// as [], which the server refuses as empty, rather than as null.
func bulk[T any](ctx context.Context, c *Client, k Kind, records []T, opts []CallOption) (*Job, error) {
	if records == nil {
		records = []T{}
	}
	b, err := json.Marshal(map[string]any{string(k): records})
	if err != nil {
		return nil, err
	}
	return c.submit(ctx, request{method: http.MethodPost, path: c.bulkPath(k), contentType: "application/json",
		body: func() (io.Reader, error) { return bytes.NewReader(b), nil }}, opts)
}

// submit sends req, a request that makes a job, with opts, and reads the job.
func (c *Client) submit(ctx context.Context, req request, opts []CallOption) (*Job, error) {
	for _, o := range opts {
		o(&req)
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var job Job
	if err := json.NewDecoder(resp.Body).Decode(&job); err != nil {
		path, _, _ := strings.Cut(req.path, "?")
		return nil, fmt.Errorf("client: decode %s: %w", path, err)
	}
	job.Replayed = resp.Header.Get("Idempotent-Replayed") == "true"
	return &job, nil
}

// Upload submits an NDJSON file of kind k as the multipart field "file"
// (at most 50 MB and 10,000 lines).
func (c *Client) Upload(ctx context.Context, k Kind, filename string, ndjson []byte, opts ...CallOption) (*Job, error) {
	body, n, ct, err := multipartBody(filename, ndjson)
	if err != nil {
		return nil, err
	}
	return c.submit(ctx, request{method: http.MethodPost, path: c.bulkPath(k), contentType: ct, body: body, length: n}, opts)
}

// Import submits a CSV or NDJSON file of users or companies to
// POST /v1/imports as the multipart field "file"; the server tells the
// format by filename's extension or the content, and the kind by its
// user_id or company_id column (or first record). It answers 200 with
// the job, queued.
func (c *Client) Import(ctx context.Context, filename string, content []byte, opts ...CallOption) (*Job, error) {
	body, n, ct, err := multipartBody(filename, content)
	if err != nil {
		return nil, err
	}
	path := "/v1/imports"
	if c.Nested != "" {
		path += "?" + url.Values{"nested": {c.Nested}}.Encode()
	}
	return c.submit(ctx, request{method: http.MethodPost, path: path, contentType: ct, body: body, length: n}, opts)
}

// Job returns one job.
func (c *Client) Job(ctx context.Context, jobID string) (*Job, error) {
	var job Job
	if _, err := c.getJSON(ctx, "/v1/background_jobs/"+url.PathEscape(jobID), &job); err != nil {
		return nil, err
	}
	return &job, nil
}

// CancelJob cancels a job (POST /v1/background_jobs/{job_id}/cancel, a
// bulkid extension) and returns it as the server answered: a queued job
// is canceled at once, a running one has CancelRequested set and ends
// canceled at its next batch boundary (WaitJob follows it there), keeping
// the rows it applied. Canceling a canceled job again succeeds. A
// completed or failed job is an *Error with StatusCode 409 and Code
// "job_finished"; an unknown one 404.
func (c *Client) CancelJob(ctx context.Context, jobID string) (*Job, error) {
	path := "/v1/background_jobs/" + url.PathEscape(jobID) + "/cancel"
	resp, err := c.do(ctx, request{method: http.MethodPost, path: path})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var job Job
	if err := json.NewDecoder(resp.Body).Decode(&job); err != nil {
		return nil, fmt.Errorf("client: decode %s: %w", path, err)
	}
	return &job, nil
}

// ListOptions selects a page of a listing. Cursor is the Next of the
// previous page.
type ListOptions struct {
	Limit  int
	Cursor string
}

func (o ListOptions) query(extra url.Values) string {
	q := url.Values{}
	for k, v := range extra {
		q[k] = v
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// nextCursor reads the cursor of the next page from a Link header
// (RFC 8288: `<target>; rel="next"`, rel quoted or not, perhaps among other
// relation types).
func nextCursor(h http.Header) string {
	for _, link := range h.Values("Link") {
		for _, part := range strings.Split(link, ",") {
			params := strings.Split(part, ";")
			next := false
			for _, p := range params[1:] {
				name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(value), `"`)) {
					next = next || strings.EqualFold(rel, "next")
				}
			}
			if !next {
				continue
			}
			target := strings.TrimSpace(params[0])
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			if u, err := url.Parse(target[1 : len(target)-1]); err == nil {
				return u.Query().Get("cursor")
			}
		}
	}
	return ""
}

// ListJobs returns a page of jobs, newest first, and the cursor of the next
// page ("" on the last).
func (c *Client) ListJobs(ctx context.Context, o ListOptions) ([]Job, string, error) {
	var jobs []Job
	h, err := c.getJSON(ctx, "/v1/background_jobs"+o.query(nil), &jobs)
	if err != nil {
		return nil, "", err
	}
	return jobs, nextCursor(h), nil
}

// JobErrors calls fn with every failed record of a job, in input order
// (a bulkid extension).
func (c *Client) JobErrors(ctx context.Context, jobID string, fn func(RecordError) error) error {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/background_jobs/" + url.PathEscape(jobID) + "/errors",
		accept: "application/x-ndjson"})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 64<<20)
	for sc.Scan() {
		var e RecordError
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("client: decode job error: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return sc.Err()
}

// WaitJob polls a job until it is final, at first often and then every
// interval (longer when the server's X-RateLimit-Remaining says the
// app's job reads are spent, until its X-RateLimit-Reset), calling
// progress (if not nil) with each poll, and returns the final job.
func (c *Client) WaitJob(ctx context.Context, jobID string, interval time.Duration, progress func(*Job)) (*Job, error) {
	if interval <= 0 {
		interval = time.Second
	}
	// Start fast, for short jobs, and slow down to interval.
	wait := min(interval, 50*time.Millisecond)
	for {
		var job Job
		h, err := c.getJSON(ctx, "/v1/background_jobs/"+url.PathEscape(jobID), &job)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(&job)
		}
		if job.Done() {
			return &job, nil
		}
		pause := wait
		if h.Get("X-RateLimit-Remaining") == "0" {
			// The app's job reads are spent: the next poll would get a 429.
			pause = max(pause, rateLimitReset(h.Get("X-RateLimit-Reset")))
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, interval)
	}
}

// Validate checks the client's key with GET /v1/validate, as Segment's
// destination does, and returns the name of the key's app. A key that is
// not valid is an *Error with StatusCode 401. The hosted service is not
// known to send a body; its app is then "".
func (c *Client) Validate(ctx context.Context) (app string, err error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/validate"})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		App string `json:"app"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body) // any 2xx is a valid key
	return body.App, nil
}

// IdentifyCompany applies one company at once, without a job.
func (c *Client) IdentifyCompany(ctx context.Context, company Company) error {
	return c.postJSON(ctx, "/v1/companies/identify", company, nil)
}

// IdentifyUser applies one user at once, without a job. user.CompanyID, if
// set, associates the user with that company; company, if not nil, is
// associated instead and its metadata becomes the company's properties
// (the keys "id" and "company_id" cannot be among them: they name the
// company on the wire).
func (c *Client) IdentifyUser(ctx context.Context, user User, company *Company) error {
	body := map[string]any{"user_id": user.UserID}
	if user.Metadata != nil {
		body["metadata"] = user.Metadata
	}
	if user.CompanyID != "" {
		body["company_id"] = user.CompanyID
	}
	if company != nil {
		props := make(map[string]any, len(company.Metadata)+1)
		for k, v := range company.Metadata {
			props[k] = v
		}
		delete(props, "company_id")
		props["id"] = company.CompanyID
		body["company"] = props
	}
	return c.postJSON(ctx, "/v1/identify", body, nil)
}

// Company returns a stored company (a bulkid extension).
func (c *Client) Company(ctx context.Context, companyID string) (*CompanyProfile, error) {
	var p CompanyProfile
	if _, err := c.getJSON(ctx, "/v1/companies/"+url.PathEscape(companyID), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ListCompanies returns a page of companies by id: those the dashboard
// shows, or all with all=true (a bulkid extension).
func (c *Client) ListCompanies(ctx context.Context, o ListOptions, all bool) ([]CompanyProfile, string, error) {
	var extra url.Values
	if all {
		extra = url.Values{"all": {"true"}}
	}
	var cs []CompanyProfile
	h, err := c.getJSON(ctx, "/v1/companies"+o.query(extra), &cs)
	if err != nil {
		return nil, "", err
	}
	return cs, nextCursor(h), nil
}

// User returns a stored user (a bulkid extension).
func (c *Client) User(ctx context.Context, userID string) (*UserProfile, error) {
	var p UserProfile
	if _, err := c.getJSON(ctx, "/v1/users/"+url.PathEscape(userID), &p); err != nil {
		return nil, err
	}
	return &p, nil
}
