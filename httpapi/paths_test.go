package httpapi_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
)

// noRedirect checks that r is answered by a route, in JSON: no redirect,
// no HTML.
func noRedirect(t *testing.T, what string, r response) {
	t.Helper()
	if r.Status >= 300 && r.Status < 400 || r.Header.Get("Location") != "" && r.Status != http.StatusAccepted {
		t.Errorf("%s: %d, Location %q: redirected", what, r.Status, r.Header.Get("Location"))
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/x-ndjson") {
		t.Errorf("%s: Content-Type %q, want JSON", what, ct)
	}
}

// TestPathsWithEmptySegments: an API path with a trailing slash or a
// doubled slash anywhere (Segment joins its base URL and the path as
// strings: "//v1/identify") is answered by the route it means, for every
// route and method, with the body intact and ids taken as sent; never
// redirected, never HTML.
func TestPathsWithEmptySegments(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	post := func(path, contentType, body string) response {
		t.Helper()
		r := rawRequest(t, s.URL, "POST", path, s.Key, contentType, body)
		noRedirect(t, "POST "+path, r)
		return r
	}
	get := func(path string) response {
		t.Helper()
		r := rawRequest(t, s.URL, "GET", path, s.Key, "", "")
		noRedirect(t, "GET "+path, r)
		if r.Status != http.StatusOK {
			t.Errorf("GET %s: %d %s, want 200", path, r.Status, r.Body)
		}
		return r
	}

	// Real-time identify: each shape stores its own user or company.
	for i, p := range []string{"/v1/identify/", "//v1/identify", "/v1//identify", "//v1//identify//"} {
		id := "u" + string(rune('0'+i))
		if r := post(p, "application/json", `{"user_id":"`+id+`","metadata":{"shape":"`+p+`"},"company":{"id":"c`+id+`"}}`); r.Status != http.StatusAccepted {
			t.Errorf("POST %s: %d %s, want 202", p, r.Status, r.Body)
			continue
		}
		if u := getJSON(t, s, "/v1/users/"+id); u["metadata"].(map[string]any)["shape"] != p || u["company_id"] != "c"+id {
			t.Errorf("POST %s stored %v, want the body as sent", p, u)
		}
	}
	for _, id := range []string{"/", "..", "."} { // ids of the escaped path, through trailing slashes
		if r := post("/v1/companies/identify/", "application/json", `{"company_id":"`+id+`","metadata":{"id":"`+id+`"}}`); r.Status != http.StatusAccepted {
			t.Fatalf("POST /v1/companies/identify/ %q: %d %s", id, r.Status, r.Body)
		}
	}
	for path, id := range map[string]string{"/v1/companies/%2F/": "/", "/v1/companies/../": "..", "/v1//companies//%2E%2E": "..", "/v1/companies/./": "."} {
		var c map[string]any
		get(path).JSON(t, &c)
		if c["company_id"] != id {
			t.Errorf("GET %s = %v, want the company %q", path, c, id)
		}
	}

	// Bulk: a JSON body and a multipart upload, through unclean paths.
	j := accepted(t, post("//v1/companies/bulk_identify/", "application/json", `{"companies":[{"company_id":"bulk1"},{"company_id":"bulk2"}]}`))
	if done := s.WaitJob(j.JobID); done.Status != "completed" || done.CompletedRows != 2 {
		t.Errorf("the JSON job: %+v", done)
	}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("file", "users.ndjson")
	fw.Write([]byte(`{"user_id":"bu1","company_id":"bulk1"}` + "\n" + `{"user_id":"bu2","company_id":"bulk1"}` + "\n"))
	mw.Close()
	up := accepted(t, post("/v1//users/bulk_identify", mw.FormDataContentType(), mp.String()))
	if done := s.WaitJob(up.JobID); done.Status != "completed" || done.CompletedRows != 2 || done.Filename == nil || *done.Filename != "users.ndjson" {
		t.Errorf("the upload: %+v", done)
	}
	if c := getJSON(t, s, "/v1/companies/bulk1"); c["user_count"] != float64(2) {
		t.Errorf("bulk1 after the upload: %v, want 2 users", c)
	}

	// Reads, each shape of each route.
	for _, p := range []string{"/v1/background_jobs/" + j.JobID + "/", "//v1/background_jobs/" + j.JobID, "/v1/background_jobs//" + j.JobID + "//"} {
		var got job
		get(p).JSON(t, &got)
		if got.JobID != j.JobID {
			t.Errorf("GET %s = job %q, want %q", p, got.JobID, j.JobID)
		}
	}
	if r := get("/v1/background_jobs/" + j.JobID + "/errors/"); r.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Errorf("GET errors/: Content-Type %q", r.Header.Get("Content-Type"))
	}
	r := get("/v1/background_jobs/?limit=1")
	var jobs []job
	r.JSON(t, &jobs)
	if len(jobs) != 1 || !strings.HasPrefix(r.Header.Get("Link"), "</v1/background_jobs?") {
		t.Errorf("GET /v1/background_jobs/?limit=1: %d jobs, Link %q; want 1 and a link to the clean path", len(jobs), r.Header.Get("Link"))
	}
	var all []map[string]any
	get("//v1/companies/?all=true").JSON(t, &all) // the query is kept
	if len(all) < 5 {
		t.Errorf("GET //v1/companies/?all=true: %d companies, want all of them", len(all))
	}
	var u map[string]any
	get("/v1/users/u0/").JSON(t, &u)
	if u["user_id"] != "u0" {
		t.Errorf("GET /v1/users/u0/ = %v", u)
	}
	var v map[string]any
	get("//v1/validate/").JSON(t, &v)
	if v["valid"] != true {
		t.Errorf("GET //v1/validate/ = %v", v)
	}
	if r := rawRequest(t, s.URL, "HEAD", "/v1/validate/", s.Key, "", ""); r.Status != http.StatusOK {
		t.Errorf("HEAD /v1/validate/: %d", r.Status)
	}

	// Without a key, an unclean path is 401 like a clean one.
	expectError(t, rawRequest(t, s.URL, "POST", "//v1/identify", "", "application/json", `{"user_id":"nokey"}`), 401, bulkid.EUNAUTHORIZED)
	// With a key, "." and ".." segments are still 404 in the error shape,
	// naming the clean path, and a wrong method 405.
	for _, p := range []string{"/v1/./identify/", "//v1/../v1/identify", "/v1/companies/a/../b/", "/v1//./companies"} {
		r := rawRequest(t, s.URL, "POST", p, s.Key, "application/json", `{"user_id":"dot"}`)
		noRedirect(t, "POST "+p, r)
		if e := expectError(t, r, 404, bulkid.ENOTFOUND); !strings.Contains(e.Errors[0].Message, "did you mean") {
			t.Errorf("POST %s: %q, want it to name the clean path", p, e.Errors[0].Message)
		}
	}
	if r := rawRequest(t, s.URL, "GET", "/v1/users/dot", s.Key, "", ""); r.Status != http.StatusNotFound {
		t.Errorf("a refused path stored its body: GET /v1/users/dot = %d", r.Status)
	}
	r = rawRequest(t, s.URL, "GET", "//v1/identify/", s.Key, "", "")
	expectError(t, r, 405, bulkid.EMETHOD)
	if r.Header.Get("Allow") != "POST" {
		t.Errorf("GET //v1/identify/: Allow %q, want POST", r.Header.Get("Allow"))
	}
	// A wrong method on an id route names the id as sent, not the
	// placeholder the mux routed.
	e := expectError(t, rawRequest(t, s.URL, "POST", "/v1/background_jobs/./errors/", s.Key, "application/json", "{}"), 405, bulkid.EMETHOD)
	if !strings.Contains(e.Errors[0].Message, "/v1/background_jobs/./errors") {
		t.Errorf("POST /v1/background_jobs/./errors/: %q, want the path named as sent", e.Errors[0].Message)
	}
	// Outside /v1 paths are left as they are: a doubled slash there is a
	// 404 in the error shape, not a redirect.
	for _, p := range []string{"//healthz", "/healthz/"} {
		r := rawRequest(t, s.URL, "GET", p, "", "", "")
		noRedirect(t, "GET "+p, r)
		expectError(t, r, 404, bulkid.ENOTFOUND)
	}
	var nf map[string]any
	if err := json.Unmarshal(rawRequest(t, s.URL, "GET", "/v1/nothing/", s.Key, "", "").Body, &nf); err != nil {
		t.Errorf("GET /v1/nothing/: %v", err)
	}
}
