package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/httpapi"
)

// identifyStore keeps the records real-time identify applies, and finds
// no company or user.
type identifyStore struct {
	bulkid.Store
	companies, users []bulkid.Record
	lookups          []string
}

func (*identifyStore) AppByKeyHash(context.Context, []byte) (*bulkid.App, error) {
	return &bulkid.App{ID: 1, Name: "a"}, nil
}

func (s *identifyStore) Identify(_ context.Context, _ int64, companies, users []bulkid.Record) error {
	s.companies, s.users = companies, users
	return nil
}

func (s *identifyStore) Company(_ context.Context, _ int64, id string) (*bulkid.Company, error) {
	s.lookups = append(s.lookups, id)
	return nil, bulkid.Errorf(bulkid.ENOTFOUND, "no company")
}

func (s *identifyStore) User(_ context.Context, _ int64, id string) (*bulkid.User, error) {
	s.lookups = append(s.lookups, id)
	return nil, bulkid.Errorf(bulkid.ENOTFOUND, "no user")
}

// identify posts body to path and returns the status and the error's
// details (the record error code of a 400 invalid_record).
func identify(t *testing.T, h http.Handler, path, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Authorization", "Token k")
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out struct {
		Errors []struct {
			ErrorCode string `json:"error_code"`
			Details   string `json:"details"`
			Message   string `json:"message"`
		} `json:"errors"`
	}
	raw, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusAccepted {
		if err := json.Unmarshal(raw, &out); err != nil || len(out.Errors) != 1 || out.Errors[0].Message == "" {
			t.Fatalf("POST %s %q answered %d %q, not in the error shape", path, body, rec.Code, raw)
		}
		if rec.Code == http.StatusBadRequest && out.Errors[0].ErrorCode == bulkid.EINVALIDRECORD {
			return rec.Code, out.Errors[0].Details
		}
		return rec.Code, out.Errors[0].ErrorCode
	}
	return rec.Code, ""
}

// flatten is the rule of the real-time endpoints, and of a bulk job sent
// with ?nested=flatten.
var flatten = bulkid.ValidateOptions{Nested: bulkid.NestedFlatten}

// A record gets the same verdict in real time as in a bulk job (with
// ?nested=flatten, the real-time endpoints' rule): the
// real-time handlers must not decode and re-encode what validation judges.
// encoding/json reads an unpaired surrogate escape or a byte that is not
// UTF-8 in a key as U+FFFD, so the company object's keys came through
// changed (issue 10).
func TestIdentifySameVerdictAsBulk(t *testing.T) {
	t.Parallel()
	st := &identifyStore{}
	h := httpapi.NewServer(httpapi.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	for _, tc := range []struct {
		body    string // a /v1/identify body
		company string // the company record bulk would take for it, or ""
		user    string // the user record bulk would take for it
	}{
		{`{"user_id":"\ud800"}`, "", `{"user_id":"\ud800"}`},
		{`{"user_id":"u","company_id":"\udc00"}`, "", `{"user_id":"u","company_id":"\udc00"}`},
		{`{"user_id":"u","metadata":{"\ud800":1}}`, "", `{"user_id":"u","metadata":{"\ud800":1}}`},
		{"{\"user_id\":\"u\",\"metadata\":{\"\xff\":1,\"v\":\"\xfe\"}}", "", "{\"user_id\":\"u\",\"metadata\":{\"\xff\":1,\"v\":\"\xfe\"}}"},
		{`{"user_id":"u","metadata":{"k":"a\u0000"}}`, "", `{"user_id":"u","metadata":{"k":"a\u0000"}}`},
		{`{"user_id":"u","metadata":{"\ud83d\ude00":"\ud83d\ude00"}}`, "", `{"user_id":"u","metadata":{"😀":"😀"}}`},
		{`{"user_id":"u","company":{"id":"\ud800"}}`, `{"company_id":"\ud800"}`, ""},
		{`{"user_id":"u","company":{"id":"c","\ud800":1}}`, `{"company_id":"c","metadata":{"\ud800":1}}`, ""},
		{`{"user_id":"u","company":{"id":"c","\ud800":1,"\udbff":2}}`, `{"company_id":"c","metadata":{"\ud800":1,"\udbff":2}}`, ""},
		{"{\"user_id\":\"u\",\"company\":{\"id\":\"c\",\"\xff\":1}}", "{\"company_id\":\"c\",\"metadata\":{\"\xff\":1}}", ""},
		{"{\"user_id\":\"u\",\"company\":{\"id\":\"c\",\"k\":\"\xff\"}}", "{\"company_id\":\"c\",\"metadata\":{\"k\":\"\xff\"}}", ""},
		{`{"user_id":"u","company":{"id":"c","k\u0000":1}}`, `{"company_id":"c","metadata":{"k\u0000":1}}`, ""},
		{`{"user_id":"u","company":{"id":"c","k":"\ud800\u0041"}}`, `{"company_id":"c","metadata":{"k":"\ud800\u0041"}}`, ""},
		{`{"user_id":"u","company":{"id":"c","\ud83d\ude00":"\ud83d\ude00","n":1.50,"k":1,"k":2}}`,
			`{"company_id":"c","metadata":{"\ud83d\ude00":"\ud83d\ude00","n":1.50,"k":1,"k":2}}`, `{"user_id":"u","company_id":"c"}`},
		{`{"user_id":"u","company":{"company_id":7,"plan":"pro"}}`, `{"company_id":7,"metadata":{"plan":"pro"}}`, `{"user_id":"u","company_id":7}`},
		{`{"user_id":"u","company_id":"x","company":{"id":"c"}}`, `{"company_id":"c","metadata":{}}`, `{"user_id":"u","company_id":"c"}`},
		{`{"user_id":"u","company":null}`, "", `{"user_id":"u"}`},
		// Nested metadata is flattened, as a job with ?nested=flatten does.
		{`{"user_id":"u","metadata":{"a":{"b":[1, 2]}}}`, "", `{"user_id":"u","metadata":{"a":{"b":[1,2]}}}`},
		{`{"user_id":"u","company":{"id":"c","address":{"city":"Paris"}}}`, `{"company_id":"c","metadata":{"address":{"city":"Paris"}}}`, `{"user_id":"u","company_id":"c"}`},
		{`{"user_id":"u","company":{"id":"c","address":{"\ud800":1}}}`, `{"company_id":"c","metadata":{"address":{"\ud800":1}}}`, ""},
	} {
		st.companies, st.users = nil, nil
		status, code := identify(t, h, "/v1/identify", tc.body)
		var want []bulkid.Record
		wantCode := ""
		for _, raw := range []string{tc.company, tc.user} {
			if raw == "" {
				continue
			}
			rec, rerr := bulkid.ValidateRecordOpts(map[bool]bulkid.JobType{true: bulkid.JobCompanies, false: bulkid.JobUsers}[raw == tc.company], []byte(raw), flatten)
			if rerr != nil {
				wantCode = rerr.Code
				break
			}
			want = append(want, rec)
		}
		if wantCode != "" {
			if status != http.StatusBadRequest || code != wantCode {
				t.Errorf("POST /v1/identify %q = %d %s, want 400 invalid_record %s as bulk gives", tc.body, status, code, wantCode)
			}
			continue
		}
		got := append(append([]bulkid.Record(nil), st.companies...), st.users...)
		if status != http.StatusAccepted || !reflect.DeepEqual(got, want) {
			t.Errorf("POST /v1/identify %q = %d %s applying %+v, want 202 applying %+v", tc.body, status, code, got, want)
		}
	}
	// The company endpoint takes the record as a bulk job would.
	for _, body := range []string{
		`{"company_id":"\ud800"}`, `{"company_id":"\\ud800"}`, `{"company_id":"c","metadata":{"\udfff":"x"}}`,
		"{\"company_id\":\"c\",\"metadata\":{\"\xff\":1}}", `{"company_id":"a\u0000"}`, `{"company_id":"c","metadata":{"\u0000":1}}`,
		`{"company_id":"\ud83d\ude00","metadata":{"a":"\ud83d\ude00"}}`,
		`{"company_id":"c","metadata":{"a":{"\udfff":"x"},"b":["\udfff"]}}`, `{"company_id":"c","metadata":{"a":{"b":"\u0000"}}}`,
	} {
		st.companies = nil
		status, code := identify(t, h, "/v1/companies/identify", body)
		rec, rerr := bulkid.ValidateRecordOpts(bulkid.JobCompanies, []byte(body), flatten)
		switch {
		case rerr != nil && (status != http.StatusBadRequest || code != rerr.Code):
			t.Errorf("POST /v1/companies/identify %q = %d %s, want 400 invalid_record %s", body, status, code, rerr.Code)
		case rerr == nil && (status != http.StatusAccepted || len(st.companies) != 1 || !reflect.DeepEqual(st.companies[0], rec)):
			t.Errorf("POST /v1/companies/identify %q = %d %s applying %+v, want 202 applying %+v", body, status, code, st.companies, rec)
		}
	}
}

// An id no record can have (not UTF-8, or holding U+0000) is not found, as
// any unknown id, and no store is asked: PostgreSQL refuses such text, and
// GET /v1/companies/%00 answered 500 there (issue 10). A cursor of such
// text is a bad request.
func TestUnstorableIDsAreNotFound(t *testing.T) {
	t.Parallel()
	st := &identifyStore{}
	h := httpapi.NewServer(httpapi.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	get := func(path string) (int, string) {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Token k")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out struct {
			Errors []struct {
				ErrorCode string `json:"error_code"`
				Message   string `json:"message"`
			} `json:"errors"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Errors) != 1 || out.Errors[0].Message == "" {
			t.Fatalf("GET %s = %d %q, not in the error shape", path, rec.Code, rec.Body)
		}
		return rec.Code, out.Errors[0].ErrorCode
	}
	for _, path := range []string{
		"/v1/companies/%00", "/v1/companies/a%00b", "/v1/companies/%FF", "/v1/companies/%ED%A0%80",
		"/v1/users/%00", "/v1/users/x%C3",
		"/v1/background_jobs/%00", "/v1/background_jobs/%FF/errors",
	} {
		if status, code := get(path); status != http.StatusNotFound || code != bulkid.ENOTFOUND {
			t.Errorf("GET %s = %d %s, want 404 not_found", path, status, code)
		}
	}
	if len(st.lookups) != 0 {
		t.Errorf("the store was asked for %q", st.lookups)
	}
	for _, path := range []string{"/v1/companies?cursor=%00", "/v1/companies?all=true&cursor=%FF", "/v1/background_jobs?cursor=a%00"} {
		if status, code := get(path); status != http.StatusBadRequest || code != bulkid.EINVALID {
			t.Errorf("GET %s = %d %s, want 400 invalid_request", path, status, code)
		}
	}
	// Ids that are text are looked up.
	if status, _ := get("/v1/companies/%C3%A9"); status != http.StatusNotFound || len(st.lookups) != 1 || st.lookups[0] != "é" {
		t.Errorf("GET /v1/companies/é = %d, lookups %q; want the store asked for é", status, st.lookups)
	}
}
