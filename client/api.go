package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
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
	EstimatedCompletionTime *time.Time `json:"estimated_completion_time"`
	FailureReason           *string    `json:"failure_reason"`
}

// Done reports whether the job has reached a final status.
func (j *Job) Done() bool { return j.Status == "completed" || j.Status == "failed" }

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

// BulkIdentifyCompanies submits companies as a JSON body (at most 10,000).
func (c *Client) BulkIdentifyCompanies(ctx context.Context, companies []Company) (*Job, error) {
	var job Job
	err := c.postJSON(ctx, Companies.bulkPath(), map[string]any{"companies": companies}, &job)
	return &job, err
}

// BulkIdentifyUsers submits users as a JSON body (at most 10,000).
func (c *Client) BulkIdentifyUsers(ctx context.Context, users []User) (*Job, error) {
	var job Job
	err := c.postJSON(ctx, Users.bulkPath(), map[string]any{"users": users}, &job)
	return &job, err
}

// BulkIdentifyRaw submits records, each already one JSON object, as a JSON
// body of kind k.
func (c *Client) BulkIdentifyRaw(ctx context.Context, k Kind, records []json.RawMessage) (*Job, error) {
	var job Job
	err := c.postJSON(ctx, k.bulkPath(), map[string]any{string(k): records}, &job)
	return &job, err
}

// Upload submits an NDJSON file of kind k as the multipart field "file"
// (at most 50 MB and 10,000 lines).
func (c *Client) Upload(ctx context.Context, k Kind, filename string, ndjson []byte) (*Job, error) {
	body, ct, err := multipartBody(filename, ndjson)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, path: k.bulkPath(), contentType: ct, body: body})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var job Job
	return &job, json.NewDecoder(resp.Body).Decode(&job)
}

// Job returns one job.
func (c *Client) Job(ctx context.Context, jobID string) (*Job, error) {
	var job Job
	_, err := c.getJSON(ctx, "/v1/background_jobs/"+url.PathEscape(jobID), &job)
	return &job, err
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

// nextCursor reads the cursor of the next page from a Link header.
func nextCursor(h http.Header) string {
	for _, link := range h.Values("Link") {
		for _, part := range strings.Split(link, ",") {
			if !strings.Contains(part, `rel="next"`) {
				continue
			}
			target := strings.Trim(strings.TrimSpace(strings.Split(part, ";")[0]), "<>")
			if u, err := url.Parse(target); err == nil {
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

// WaitJob polls a job every interval until it is final, calling progress
// (if not nil) with each poll, and returns the final job.
func (c *Client) WaitJob(ctx context.Context, jobID string, interval time.Duration, progress func(*Job)) (*Job, error) {
	if interval <= 0 {
		interval = time.Second
	}
	for {
		job, err := c.Job(ctx, jobID)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(job)
		}
		if job.Done() {
			return job, nil
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// IdentifyCompany applies one company at once, without a job.
func (c *Client) IdentifyCompany(ctx context.Context, company Company) error {
	return c.postJSON(ctx, "/v1/companies/identify", company, nil)
}

// IdentifyUser applies one user at once, without a job; company, if not
// nil, is associated (its metadata becomes the company's properties).
func (c *Client) IdentifyUser(ctx context.Context, user User, company *Company) error {
	body := map[string]any{"user_id": user.UserID, "metadata": user.Metadata}
	if company != nil {
		props := map[string]any{"id": company.CompanyID}
		for k, v := range company.Metadata {
			props[k] = v
		}
		body["company"] = props
	}
	return c.postJSON(ctx, "/v1/identify", body, nil)
}

// Company returns a stored company (a bulkid extension).
func (c *Client) Company(ctx context.Context, companyID string) (*CompanyProfile, error) {
	var p CompanyProfile
	_, err := c.getJSON(ctx, "/v1/companies/"+url.PathEscape(companyID), &p)
	return &p, err
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
	_, err := c.getJSON(ctx, "/v1/users/"+url.PathEscape(userID), &p)
	return &p, err
}
