package dashboard

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordjson"
)

// view is what the layout renders around a page's Data.
type view struct {
	Title   string
	Nav     string // the section of the navigation the page is in
	App     *bulkid.App
	CSRF    string
	Refresh bool // a running job is shown: reload every few seconds without script
	Now     time.Time
	Data    any
}

type errorPage struct {
	Status  int
	Message string
}

// Page sizes of the listings.
const (
	jobsPage      = 25
	errorsPage    = 50
	companiesPage = 50
	usersPage     = 50
)

// param is a query parameter, "" unless it is text that an id could be:
// valid UTF-8 without NUL (PostgreSQL refuses other text in a query).
func param(r *http.Request, name string) (string, bool) {
	v := r.URL.Query().Get(name)
	return v, bulkid.Storable(v)
}

func (h *handler) view(s *session, title, nav string, data any) *view {
	return &view{Title: title, Nav: nav, App: s.app, CSRF: s.csrf, Data: data}
}

type overviewPage struct {
	Totals    totals
	Active    *jobRow
	Jobs      []jobRow
	Events    []bulkid.EventTotal
	HasEvents bool
}

type jobRow struct {
	Job *bulkid.Job
	P   progress
}

func (h *handler) rows(jobs []*bulkid.Job) []jobRow {
	out := make([]jobRow, len(jobs))
	for i, j := range jobs {
		out[i] = jobRow{Job: j, P: h.progress(j)}
	}
	return out
}

func (h *handler) handleOverview(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, id := r.Context(), s.app.ID
	var d overviewPage
	jobs, err := h.store.JobSummaries(ctx, id, bulkid.Page{Limit: 5})
	if err != nil {
		h.storeError(w, r, s, err, "")
		return
	}
	d.Jobs = h.rows(jobs)
	lastFinal := ""
	for _, j := range jobs {
		if j.Status.Final() {
			lastFinal = j.ID
			break
		}
	}
	if d.Totals, err = h.totals(ctx, id, lastFinal); err != nil {
		h.storeError(w, r, s, err, "")
		return
	}
	active, err := h.store.ActiveJob(ctx, id)
	if err != nil && bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
		h.storeError(w, r, s, err, "")
		return
	}
	if active != nil {
		d.Active = &jobRow{Job: active, P: h.progress(active)}
	}
	if h.events != nil {
		d.HasEvents = true
		if d.Events, err = h.events.EventTotals(ctx, id); err != nil {
			h.storeError(w, r, s, err, "")
			return
		}
	}
	v := h.view(s, "Overview", "overview", d)
	v.Refresh = active != nil
	h.render(w, r, http.StatusOK, "overview.html", v)
}

type jobsPageData struct {
	Jobs  []jobRow
	Next  string // the after= of the next page
	First bool
}

func (h *handler) handleJobs(w http.ResponseWriter, r *http.Request, s *session) {
	after, ok := param(r, "after")
	if !ok {
		h.renderError(w, r, s, http.StatusBadRequest, "The page cursor is not a job's id.")
		return
	}
	jobs, err := h.store.JobSummaries(r.Context(), s.app.ID, bulkid.Page{Limit: jobsPage + 1, After: after})
	if err != nil {
		h.storeError(w, r, s, err, "")
		return
	}
	d := jobsPageData{First: after == ""}
	if len(jobs) > jobsPage {
		jobs = jobs[:jobsPage]
		d.Next = jobs[jobsPage-1].ID
	}
	d.Jobs = h.rows(jobs)
	v := h.view(s, "Jobs", "jobs", d)
	for _, j := range jobs {
		v.Refresh = v.Refresh || !j.Status.Final()
	}
	h.render(w, r, http.StatusOK, "jobs.html", v)
}

type jobPage struct {
	Job      *bulkid.Job
	P        progress
	Codes    []bulkid.CodeCount
	Code     string
	Errors   []bulkid.RecordError
	From     int
	NextFrom int // 0: no next page
	// Links of the page: the downloads, and the first and next pages of
	// failed records, each with the reason filter.
	NDJSON, CSV, FirstHref, NextHref template.URL
}

// job reads the job ?id= names, answering the page of a missing one.
func (h *handler) job(w http.ResponseWriter, r *http.Request, s *session) *bulkid.Job {
	id, ok := param(r, "id")
	var j *bulkid.Job
	var err error = bulkid.Errorf(bulkid.ENOTFOUND, "no such job")
	if ok && id != "" {
		j, err = h.store.JobSummary(r.Context(), s.app.ID, id)
	}
	if err != nil {
		h.storeError(w, r, s, err, "No job with the id "+strconv.Quote(id)+" exists in this app.")
		return nil
	}
	return j
}

func (h *handler) handleJob(w http.ResponseWriter, r *http.Request, s *session) {
	j := h.job(w, r, s)
	if j == nil {
		return
	}
	d := jobPage{Job: j, P: h.progress(j)}
	var ok bool
	if d.Code, ok = param(r, "code"); !ok {
		h.renderError(w, r, s, http.StatusBadRequest, "There is no such reason.")
		return
	}
	if f, err := strconv.Atoi(r.URL.Query().Get("from")); err == nil && f > 0 {
		d.From = f
	}
	if j.FailedRows > 0 {
		var err error
		if d.Codes, err = h.store.JobErrorCodes(r.Context(), s.app.ID, j.ID); err != nil {
			h.storeError(w, r, s, err, "")
			return
		}
		if d.Code != "" {
			d.Errors, err = h.store.JobErrorsByCode(r.Context(), s.app.ID, j.ID, d.Code, d.From, errorsPage+1)
		} else {
			d.Errors, err = h.store.JobErrors(r.Context(), s.app.ID, j.ID, d.From, errorsPage+1)
		}
		if err != nil {
			h.storeError(w, r, s, err, "")
			return
		}
		if len(d.Errors) > errorsPage {
			d.Errors = d.Errors[:errorsPage]
			d.NextFrom = d.Errors[errorsPage-1].Seq + 1
		}
	}
	q := url.Values{"id": {j.ID}}
	if d.Code != "" {
		q.Set("code", d.Code)
	}
	d.NDJSON = template.URL("/ui/job/errors.ndjson?" + q.Encode())
	d.CSV = template.URL("/ui/job/errors.csv?" + q.Encode())
	d.FirstHref = template.URL("/ui/job?" + q.Encode())
	if d.NextFrom > 0 {
		q.Set("from", strconv.Itoa(d.NextFrom))
		d.NextHref = template.URL("/ui/job?" + q.Encode())
	}
	v := h.view(s, "Job "+shorten(j.ID, 8), "jobs", d)
	v.Refresh = !j.Status.Final()
	h.render(w, r, http.StatusOK, "job.html", v)
}

// handleCancelJob is the job page's Cancel button: a form with the job's
// id and the CSRF token. It cancels the job (a running one at its next
// batch boundary) and shows the job page again.
func (h *handler) handleCancelJob(w http.ResponseWriter, r *http.Request, s *session) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || !h.checkCSRF(r) {
		h.renderError(w, r, s, http.StatusForbidden, "The cancel form had expired; reload the job's page and cancel again.")
		return
	}
	id := r.PostFormValue("id")
	if !bulkid.Storable(id) {
		h.renderError(w, r, s, http.StatusNotFound, "There is no such job.")
		return
	}
	_, err := h.store.CancelJob(r.Context(), s.app.ID, id)
	switch bulkid.ErrorCode(err) {
	case "":
	case bulkid.EJOBFINISHED:
		h.renderError(w, r, s, http.StatusConflict, "The job has already finished, so there is nothing to cancel.")
		return
	default:
		h.storeError(w, r, s, err, "There is no such job.")
		return
	}
	http.Redirect(w, r, "/ui/job?"+url.Values{"id": {id}}.Encode(), http.StatusSeeOther)
}

// eachError calls fn with each of the job's record errors (of code, if
// not ""), in order, reading them a chunk at a time.
func (h *handler) eachError(r *http.Request, s *session, j *bulkid.Job, code string, fn func(bulkid.RecordError) error) error {
	const chunk = 1000
	from := 0
	for {
		var errs []bulkid.RecordError
		var err error
		if code != "" {
			errs, err = h.store.JobErrorsByCode(r.Context(), s.app.ID, j.ID, code, from, chunk)
		} else {
			errs, err = h.store.JobErrors(r.Context(), s.app.ID, j.ID, from, chunk)
		}
		if err != nil {
			return err
		}
		for _, e := range errs {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(errs) < chunk {
			return nil
		}
		from = errs[len(errs)-1].Seq + 1
	}
}

// errClientGone stops a download whose client went away.
var errClientGone = errors.New("client gone")

// download streams the job's failed records (of ?code=, if given) as a
// file: begin writes what comes first and returns the writer of each
// record and the finish. A store failure midway cuts the stream off, so a
// client sees a truncated body, not a complete-looking one.
func (h *handler) download(w http.ResponseWriter, r *http.Request, s *session, ext, contentType string,
	begin func(j *bulkid.Job, bw *bufio.Writer) (each func(bulkid.RecordError) error, finish func() error)) {
	j := h.job(w, r, s)
	if j == nil {
		return
	}
	code, ok := param(r, "code")
	if !ok {
		h.renderError(w, r, s, http.StatusBadRequest, "There is no such reason.")
		return
	}
	name := "job-" + j.ID + "-errors"
	if code != "" {
		name += "-" + code
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+safeFilename(name)+`.`+ext+`"`)
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	each, finish := begin(j, bw)
	err := h.eachError(r, s, j, code, func(e bulkid.RecordError) error {
		if err := each(e); err != nil {
			return errClientGone
		}
		return nil
	})
	if err == nil && finish() != nil {
		err = errClientGone
	}
	if err != nil && !errors.Is(err, errClientGone) {
		h.log.Error("dashboard: stream job errors", "job_id", j.ID, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// safeFilename keeps the letters, digits, '-' and '_' of a download's name.
func safeFilename(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// handleErrorsNDJSON downloads a job's failed records as the API's errors
// stream (GET /v1/background_jobs/{id}/errors) writes them.
func (h *handler) handleErrorsNDJSON(w http.ResponseWriter, r *http.Request, s *session) {
	h.download(w, r, s, "ndjson", "application/x-ndjson", func(j *bulkid.Job, bw *bufio.Writer) (func(bulkid.RecordError) error, func() error) {
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		return func(e bulkid.RecordError) error { return enc.Encode(recordjson.Of(j, e, true)) }, bw.Flush
	})
}

// csvCell guards a cell a spreadsheet would read as a formula (it begins
// with =, +, -, @, a tab or a carriage return) with a leading apostrophe,
// as OWASP advises; the NDJSON download keeps every value exactly.
func csvCell(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}

// handleErrorsCSV streams the failed records as CSV: the position (line
// or index, as the job's source numbers them), the id, the error code,
// the message and the record as sent, as UTF-8 text.
func (h *handler) handleErrorsCSV(w http.ResponseWriter, r *http.Request, s *session) {
	h.download(w, r, s, "csv", "text/csv; charset=utf-8", func(j *bulkid.Job, bw *bufio.Writer) (func(bulkid.RecordError) error, func() error) {
		cw := csv.NewWriter(bw)
		posName := "line"
		if j.Source == bulkid.SourceJSON {
			posName = "index"
		}
		cw.Write([]string{posName, j.Type.IDField(), "error_code", "message", "record"})
		each := func(e bulkid.RecordError) error {
			return cw.Write([]string{strconv.Itoa(e.Pos), csvCell(e.ID), e.Code, csvCell(e.Message), csvCell(recordText(e.Raw))})
		}
		finish := func() error {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
			return bw.Flush()
		}
		return each, finish
	})
}

// maxHiddenCount bounds the count of hidden companies on the companies
// page, which then reads "1000 or more": a count reads an index entry a
// company, and a million companies imported before their users would
// take half a second to count on every page. On PostgreSQL without
// autovacuum (no visibility map, so every entry is checked in the table
// too) 10,000 entries took 190-330 ms a page at a million companies; the
// overview has the exact totals, kept (totals.go).
const maxHiddenCount = 1000

type companiesPageData struct {
	Hidden    bool
	Prefix    string
	Property  string
	Value     string
	Sort      string
	Companies []*bulkid.Company
	HiddenN   int64
	HiddenMax bool         // HiddenN is the bound: there may be more
	Next      template.URL // the next page, "" if none
	Scanned   int
	Filtered  bool
}

func (h *handler) handleCompanies(w http.ResponseWriter, r *http.Request, s *session) {
	q := bulkid.CompanyQuery{Limit: companiesPage, Hidden: r.URL.Query().Get("hidden") == "1"}
	var ok [4]bool
	q.IDPrefix, ok[0] = param(r, "q")
	q.Property, ok[1] = param(r, "prop")
	q.Value, ok[2] = param(r, "value")
	q.After, ok[3] = param(r, "after")
	if ok != [4]bool{true, true, true, true} {
		h.renderError(w, r, s, http.StatusBadRequest, "The search holds text no id or property could: it must be UTF-8 without NUL.")
		return
	}
	q.Sort = bulkid.SortByID
	if r.URL.Query().Get("sort") == "updated" {
		q.Sort = bulkid.SortByUpdated
	}
	if q.Property == "" {
		q.Value = ""
	}
	page, err := h.store.SearchCompanies(r.Context(), s.app.ID, q)
	if err != nil {
		h.storeError(w, r, s, err, "")
		return
	}
	hidden, err := h.store.CountCompanies(r.Context(), s.app.ID, false, maxHiddenCount)
	if err != nil {
		h.storeError(w, r, s, err, "")
		return
	}
	d := companiesPageData{Hidden: q.Hidden, Prefix: q.IDPrefix, Property: q.Property, Value: q.Value, Sort: string(q.Sort),
		Companies: page.Companies, HiddenN: hidden, HiddenMax: hidden == maxHiddenCount, Scanned: page.Scanned, Filtered: q.Property != "" || q.Sort == bulkid.SortByUpdated && q.IDPrefix != ""}
	if page.Next != "" {
		next := url.Values{"after": {page.Next}}
		for k, v := range map[string]string{"q": q.IDPrefix, "prop": q.Property, "value": q.Value} {
			if v != "" {
				next.Set(k, v)
			}
		}
		if q.Sort == bulkid.SortByUpdated {
			next.Set("sort", "updated")
		}
		if q.Hidden {
			next.Set("hidden", "1")
		}
		d.Next = template.URL("/ui/companies?" + next.Encode())
	}
	title := "Companies"
	if q.Hidden {
		title = "Hidden companies"
	}
	h.render(w, r, http.StatusOK, "companies.html", h.view(s, title, "companies", d))
}

type companyPage struct {
	Company   *bulkid.Company
	Props     []prop
	Users     []*bulkid.User
	NextUsers template.URL
}

func (h *handler) handleCompany(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := param(r, "id")
	after, ok2 := param(r, "users_after")
	var c *bulkid.Company
	var err error = bulkid.Errorf(bulkid.ENOTFOUND, "no such company")
	if ok && ok2 && id != "" {
		c, err = h.store.Company(r.Context(), s.app.ID, id)
	}
	if err != nil {
		h.storeError(w, r, s, err, "No company with the id "+strconv.Quote(id)+" exists in this app.")
		return
	}
	users, err := h.store.CompanyUsers(r.Context(), s.app.ID, c.ID, bulkid.Page{Limit: usersPage + 1, After: after})
	if err != nil {
		h.storeError(w, r, s, err, "")
		return
	}
	d := companyPage{Company: c, Props: props(c.Metadata), Users: users}
	if len(users) > usersPage {
		d.Users = users[:usersPage]
		d.NextUsers = template.URL("/ui/company?" + url.Values{"id": {c.ID}, "users_after": {users[usersPage-1].ID}}.Encode())
	}
	h.render(w, r, http.StatusOK, "company.html", h.view(s, "Company "+shorten(c.ID, 40), "companies", d))
}

type usersPageData struct {
	Prefix string
	Users  []*bulkid.User
	Next   template.URL
}

func (h *handler) handleUsers(w http.ResponseWriter, r *http.Request, s *session) {
	prefix, ok := param(r, "q")
	after, ok2 := param(r, "after")
	if !ok || !ok2 {
		h.renderError(w, r, s, http.StatusBadRequest, "The search holds text no id could: it must be UTF-8 without NUL.")
		return
	}
	users, err := h.store.SearchUsers(r.Context(), s.app.ID, prefix, bulkid.Page{Limit: usersPage + 1, After: after})
	if err != nil {
		h.storeError(w, r, s, err, "")
		return
	}
	d := usersPageData{Prefix: prefix, Users: users}
	if len(users) > usersPage {
		d.Users = users[:usersPage]
		next := url.Values{"after": {users[usersPage-1].ID}}
		if prefix != "" {
			next.Set("q", prefix)
		}
		d.Next = template.URL("/ui/users?" + next.Encode())
	}
	h.render(w, r, http.StatusOK, "users.html", h.view(s, "Users", "users", d))
}

type userPage struct {
	User      *bulkid.User
	Props     []prop
	Events    []*bulkid.Event
	HasEvents bool
}

func (h *handler) handleUser(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := param(r, "id")
	var u *bulkid.User
	var err error = bulkid.Errorf(bulkid.ENOTFOUND, "no such user")
	if ok && id != "" {
		u, err = h.store.User(r.Context(), s.app.ID, id)
	}
	if err != nil {
		h.storeError(w, r, s, err, "No user with the id "+strconv.Quote(id)+" exists in this app.")
		return
	}
	d := userPage{User: u, Props: props(u.Metadata)}
	if h.events != nil {
		d.HasEvents = true
		if d.Events, err = h.events.UserEvents(r.Context(), s.app.ID, u.ID, "", bulkid.Page{Limit: 20}); err != nil {
			h.storeError(w, r, s, err, "")
			return
		}
	}
	h.render(w, r, http.StatusOK, "user.html", h.view(s, "User "+shorten(u.ID, 40), "users", d))
}

// liveJob is a job's progress as the live endpoint sends it to the
// page's script.
type liveJob struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Final     bool   `json:"final"`
	Total     int    `json:"total"`
	Completed int    `json:"completed"`
	Failed    int    `json:"failed"`
	OKWidth   int    `json:"ok_width"`
	FailWidth int    `json:"fail_width"`
	Percent   string `json:"percent"`
	Rate      string `json:"rate"`
	Duration  string `json:"duration"`
	ETA       string `json:"eta"`
	Summary   string `json:"summary"`
	Counts    []struct {
		Label string `json:"label"`
		N     int    `json:"n"`
	} `json:"counts"`
}

// maxLiveJobs is how many jobs one poll asks about: a page of jobs.
const maxLiveJobs = jobsPage

// handleLive answers the pages' polls: GET /ui/live?job=ID&job=ID…
// gives each job's progress (a job not of the app is left out) and the
// app's running job, so a page can tell a new job has started.
func (h *handler) handleLive(w http.ResponseWriter, r *http.Request, s *session) {
	ids := r.URL.Query()["job"]
	if len(ids) > maxLiveJobs {
		ids = ids[:maxLiveJobs]
	}
	out := struct {
		Jobs   []liveJob `json:"jobs"`
		Active string    `json:"active"`
	}{Jobs: []liveJob{}}
	for _, id := range ids {
		if !bulkid.Storable(id) {
			continue
		}
		j, err := h.store.JobSummary(r.Context(), s.app.ID, id)
		if bulkid.ErrorCode(err) == bulkid.ENOTFOUND {
			continue
		} else if err != nil {
			writeErrorJSON(w, err)
			return
		}
		p := h.progress(j)
		lj := liveJob{ID: j.ID, Status: p.Status, Final: p.Final, Total: p.Total, Completed: p.Completed, Failed: p.Failed,
			OKWidth: p.OKWidth, FailWidth: p.FailWidth, Percent: p.Percent, Rate: p.Rate, Duration: p.Duration, ETA: p.ETA, Summary: p.Summary}
		for _, c := range p.Counts {
			lj.Counts = append(lj.Counts, struct {
				Label string `json:"label"`
				N     int    `json:"n"`
			}{c.Label, c.N})
		}
		out.Jobs = append(out.Jobs, lj)
	}
	active, err := h.store.ActiveJob(r.Context(), s.app.ID)
	if err == nil {
		out.Active = active.ID
	} else if bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
		writeErrorJSON(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// writeErrorJSON answers the live endpoint's failures in the API's error
// shape {"errors":[{"error","error_code","message","details"}]}; a store
// failure's internals are not shown.
func writeErrorJSON(w http.ResponseWriter, err error) {
	code, msg := bulkid.ErrorCode(err), bulkid.ErrorMessage(err)
	status := map[string]int{bulkid.EUNAUTHORIZED: http.StatusUnauthorized, bulkid.EUNAVAILABLE: http.StatusServiceUnavailable}[code]
	switch status {
	case 0:
		status, code, msg = http.StatusInternalServerError, bulkid.EINTERNAL, "The store failed to answer."
	case http.StatusServiceUnavailable:
		msg = "The store cannot be reached; try again shortly."
	}
	type errorJSON struct {
		Error     string `json:"error"`
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
		Details   string `json:"details"`
	}
	writeJSON(w, status, struct {
		Errors []errorJSON `json:"errors"`
	}{[]errorJSON{{Error: http.StatusText(status), ErrorCode: code, Message: msg}}})
}
