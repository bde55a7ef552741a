package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
)

// wantCode checks that err, the result of what, has the code want ("" for
// no error).
func wantCode(t *testing.T, what string, err error, want string) {
	t.Helper()
	if got := bulkid.ErrorCode(err); got != want {
		t.Errorf("%s: error code %q (err %v), want %q", what, got, err, want)
	}
}

// wantConflict checks that err is an ECONFLICT naming the job activeID.
func wantConflict(t *testing.T, what string, err error, activeID string) {
	t.Helper()
	if got := bulkid.ErrorCode(err); got != bulkid.ECONFLICT {
		t.Errorf("%s: error code %q (err %v), want %q", what, got, err, bulkid.ECONFLICT)
		return
	}
	var be *bulkid.Error
	if !errors.As(err, &be) || be.Job == nil {
		t.Errorf("%s: Error.Job is nil, want job %s", what, activeID)
		return
	}
	if be.Job.ID != activeID {
		t.Errorf("%s: Error.Job.ID = %s, want %s", what, be.Job.ID, activeID)
	}
}

// jobView is the comparable part of a Job, times in UTC.
type jobView struct {
	ID                                   string
	AppID                                int64
	Type                                 bulkid.JobType
	Status                               bulkid.JobStatus
	Source                               bulkid.Source
	Filename                             string
	FileSize                             int64
	SubmittedAt, StartTime, EndTime      string
	TotalRows, CompletedRows, FailedRows int
	Cursor                               int
	Error                                string
	Rows                                 bulkid.RowCounts
	Nested                               bulkid.NestedRule
	CancelRequested                      bool
}

func viewJob(j *bulkid.Job) jobView {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	return jobView{
		ID: j.ID, AppID: j.AppID, Type: j.Type, Status: j.Status, Source: j.Source,
		Filename: j.Filename, FileSize: j.FileSize,
		SubmittedAt: ts(j.SubmittedAt), StartTime: ts(j.StartTime), EndTime: ts(j.EndTime),
		TotalRows: j.TotalRows, CompletedRows: j.CompletedRows, FailedRows: j.FailedRows,
		Cursor: j.Cursor, Error: j.Error, Rows: j.Rows, Nested: j.Nested, CancelRequested: j.CancelRequested,
	}
}

// wantJob compares every field of a job but its Errors.
func wantJob(t *testing.T, what string, got, want *bulkid.Job) {
	t.Helper()
	if g, w := viewJob(got), viewJob(want); g != w {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

// jobIDs returns the IDs of jobs.
func jobIDs(jobs []*bulkid.Job) []string {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

func companyIDs(cs []*bulkid.Company) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

// decodeObject decodes a JSON object keeping numbers as written.
func decodeObject(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("null is not an object")
	}
	if d.More() {
		return nil, errors.New("data after the object")
	}
	return m, nil
}

// wantMetadata checks that got is the JSON object want, numbers compared
// digit for digit and key order ignored.
func wantMetadata(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	w, err := decodeObject([]byte(want))
	if err != nil {
		panic(fmt.Sprintf("storetest: bad want %s: %v", want, err))
	}
	g, err := decodeObject(got)
	if err != nil {
		t.Errorf("%s metadata = %s, not a JSON object (%v); want %s", what, got, err, want)
		return
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s metadata = %s, want %s", what, got, want)
	}
}

// wantSameNumbers checks that got holds the keys of want, each a number of
// exactly the same value, whatever its notation.
func wantSameNumbers(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	w, err := decodeObject([]byte(want))
	if err != nil {
		panic(fmt.Sprintf("storetest: bad want %s: %v", want, err))
	}
	g, err := decodeObject(got)
	if err != nil || len(g) != len(w) {
		t.Errorf("%s metadata = %s, want %s", what, got, want)
		return
	}
	for k, wv := range w {
		gn, ok := g[k].(json.Number)
		gr, ok1 := new(big.Rat).SetString(string(gn))
		wr, ok2 := new(big.Rat).SetString(string(wv.(json.Number)))
		if !ok || !ok1 || !ok2 || gr.Cmp(wr) != 0 {
			t.Errorf("%s metadata %q = %v, want the number %v exactly", what, k, g[k], wv)
		}
	}
}

// wantCount checks a company's user count and visibility.
func wantCount(t *testing.T, c *bulkid.Company, users int, visible bool) {
	t.Helper()
	if c.UserCount != users || c.Visible != visible {
		t.Errorf("company %q: UserCount %d, Visible %v; want %d, %v", c.ID, c.UserCount, c.Visible, users, visible)
	}
}

func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// rawView shows input records as comparable strings.
func rawView(recs []bulkid.RawRecord) []string {
	v := make([]string, len(recs))
	for i, r := range recs {
		v[i] = fmt.Sprintf("{Seq:%d Pos:%d Raw:%q}", r.Seq, r.Pos, r.Raw)
	}
	return v
}

// errorView is a RecordError as one comparable string.
func errorView(e bulkid.RecordError) string {
	return fmt.Sprintf("{Seq:%d Pos:%d ID:%q Code:%q Message:%q Raw:%q}", e.Seq, e.Pos, e.ID, e.Code, e.Message, e.Raw)
}

func wantErrors(t *testing.T, what string, got, want []bulkid.RecordError) {
	t.Helper()
	g, w := make([]string, len(got)), make([]string, len(want))
	for i := range got {
		g[i] = errorView(got[i])
	}
	for i := range want {
		w[i] = errorView(want[i])
	}
	if !slices.Equal(g, w) {
		t.Errorf("%s: got %d errors, want %d\n got %v\nwant %v", what, len(g), len(w), g, w)
	}
}

// pages lists every item through list, limit at a time, each page starting
// after the key of the previous page's last item, until a page is empty.
func pages[T any](t *testing.T, what string, limit int, list func(bulkid.Page) ([]T, error), key func(T) string) []T {
	t.Helper()
	var all []T
	p := bulkid.Page{Limit: limit}
	for range 100 {
		page, err := list(p)
		if err != nil {
			t.Fatalf("%s after %q: %v", what, p.After, err)
		}
		if len(page) > limit {
			t.Fatalf("%s after %q: got %d items, want at most Limit %d", what, p.After, len(page), limit)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		p.After = key(page[len(page)-1])
	}
	t.Fatalf("%s: more than 100 pages of %d", what, limit)
	return nil
}
