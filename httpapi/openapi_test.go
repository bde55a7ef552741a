package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/bulkid/bulkid/httpapi"
	"github.com/bulkid/bulkid/internal/wiretest"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// TestOpenAPIGenerated: the embedded openapi.json is openapi.yaml as
// gen_openapi.go converts it, byte for byte, so an edit of the YAML
// without go generate (or of the JSON by hand) fails here.
func TestOpenAPIGenerated(t *testing.T) {
	src, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, want) {
		t.Fatal("httpapi/openapi.json is not httpapi/openapi.yaml converted: run go generate ./httpapi")
	}
	if !bytes.Equal(httpapi.OpenAPIJSON(), file) {
		t.Fatal("the embedded document is not httpapi/openapi.json")
	}
}

// TestOpenAPIServed: GET /openapi.json, without a key, serves the
// document of httpapi/openapi.yaml as JSON, and it is a valid OpenAPI 3.1
// document.
func TestOpenAPIServed(t *testing.T) {
	s := startServer(t, "")
	r := s.Do("GET", "/openapi.json", "", "", nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json = %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	if !bytes.Equal(r.Body, httpapi.OpenAPIJSON()) {
		t.Fatal("GET /openapi.json is not the embedded document")
	}
	var served, kept any
	r.JSON(t, &served)
	src, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(src, &kept); err != nil {
		t.Fatal(err)
	}
	// JSON numbers and YAML integers compare as JSON.
	b, _ := json.Marshal(kept)
	json.Unmarshal(b, &kept)
	if !reflect.DeepEqual(served, kept) {
		t.Fatal("GET /openapi.json is not httpapi/openapi.yaml")
	}
	doc, err := wiretest.LoadOpenAPI(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	// And by the OpenAPI Initiative's own schema of 3.1 documents.
	oas := compileYAMLSchema(t, "testdata/openapi-3.1-schema.yaml")
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	if err := oas.Validate(v); err != nil {
		t.Fatalf("the document fails the OpenAPI 3.1 schema: %#v", err)
	}
	if err := oas.Validate(map[string]any{"openapi": "3.1.0", "info": map[string]any{"title": "t"}, "paths": map[string]any{}}); err == nil {
		t.Fatal("the OpenAPI 3.1 schema takes an info without a version")
	}
	// A key is not needed, and a wrong method is a 405 like any path's.
	if r := s.Do("POST", "/openapi.json", "", "", nil); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("POST /openapi.json = %d, want 405", r.Status)
	}
}

// compileYAMLSchema compiles the JSON Schema in the YAML file path.
func compileYAMLSchema(t *testing.T, path string) *jsonschema.Schema {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var y any
	if err := yaml.Unmarshal(src, &y); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(y)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("mem:///oas.json", v); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("mem:///oas.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// TestOpenAPIInvalidDocument: the check of the document refuses one that
// is not valid 3.1, so TestOpenAPIServed proves something.
func TestOpenAPIInvalidDocument(t *testing.T) {
	for name, doc := range map[string]string{
		"3.0":          `{"openapi":"3.0.3","info":{"title":"t","version":"1"},"paths":{}}`,
		"no info":      `{"openapi":"3.1.0","paths":{}}`,
		"bad response": `{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{"/x":{"get":{"responses":{"200":{"content":{}}}}}}}`,
		"dangling ref": `{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{"/x":{"get":{"responses":{"200":{"$ref":"#/components/responses/Nope"}}}}}}`,
	} {
		if _, err := wiretest.LoadOpenAPI([]byte(doc)); err == nil {
			t.Errorf("%s: a document that is not valid OpenAPI 3.1 was taken", name)
		}
	}
}

// TestOpenAPIEveryRoute: every route of routes.go is an operation of the
// document, and every operation of the document marks its extensions:
// each path that is not Userpilot's has x-bulkid-extension.
func TestOpenAPIEveryRoute(t *testing.T) {
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := wiretest.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	patterns := regexp.MustCompile(`mux\.Handle(?:Func)?\("([A-Z]+) ([^"]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(patterns) < 15 {
		t.Fatalf("found %d routes in routes.go; has its form changed?", len(patterns))
	}
	for _, m := range patterns {
		method, path := m[1], m[2]
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("routes.go has %s %s, which the OpenAPI document does not", method, path)
		}
	}
	userpilot := map[string]bool{
		"POST /v1/companies/bulk_identify": true, "POST /v1/users/bulk_identify": true, "POST /v1/imports": true,
		"POST /v1/companies/identify": true, "POST /v1/identify": true, "POST /v1/track": true,
		"DELETE /v1/users": true, "DELETE /v1/companies": true,
		"GET /v1/background_jobs": true, "GET /v1/background_jobs/{job_id}": true,
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ext := op.Extensions["x-bulkid-extension"] == true
			if want := !userpilot[method+" "+path]; ext != want {
				t.Errorf("%s %s: x-bulkid-extension = %v, want %v", method, path, ext, want)
			}
		}
	}
}

// TestOpenAPICheckCatchesDrift: the check every wire test's answers go
// through fails an answer the document does not describe.
func TestOpenAPICheckCatchesDrift(t *testing.T) {
	s := startServer(t, "")
	j := wiretest.Accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(2, "c")))
	good := s.Get("/v1/background_jobs/" + j.JobID)
	url := s.URL + "/v1/background_jobs/" + j.JobID
	if err := wiretest.CheckResponse("GET", url, good); err != nil {
		t.Fatalf("a good answer fails: %v", err)
	}
	var m map[string]any
	good.JSON(t, &m)
	withBody := func(change func(map[string]any)) wiretest.Response {
		c := map[string]any{}
		for k, v := range m {
			c[k] = v
		}
		change(c)
		b, _ := json.Marshal(c)
		return wiretest.Response{Status: good.Status, Header: good.Header, Body: b}
	}
	for name, r := range map[string]wiretest.Response{
		"undocumented member": withBody(func(c map[string]any) { c["surprise"] = 1 }),
		"missing member":      withBody(func(c map[string]any) { delete(c, "failed_rows") }),
		"null start_time":     withBody(func(c map[string]any) { c["start_time"] = nil }),
		"unknown status":      withBody(func(c map[string]any) { c["status"] = "paused" }),
		"bad date-time":       withBody(func(c map[string]any) { c["submitted_at"] = "yesterday" }),
		"undocumented status": {Status: http.StatusTeapot, Header: good.Header, Body: good.Body},
		"no x-request-id":     {Status: good.Status, Header: http.Header{"Content-Type": {"application/json"}}, Body: good.Body},
		"other content type":  {Status: good.Status, Header: http.Header{"Content-Type": {"text/plain"}, "X-Request-Id": {"a"}}, Body: good.Body},
	} {
		if err := wiretest.CheckResponse("GET", url, r); err == nil {
			t.Errorf("%s: the check took it", name)
		}
	}
	// A path no route has may only be a routing error.
	nf := s.Get("/v1/nope")
	if err := wiretest.CheckResponse("GET", s.URL+"/v1/nope", nf); err != nil {
		t.Errorf("404 of an unknown path: %v", err)
	}
	if err := wiretest.CheckResponse("GET", s.URL+"/v1/nope", good); err == nil {
		t.Error("a 200 to a path of no operation was taken")
	}
	// Each error status has its codes.
	wrongCode := nf
	wrongCode.Body = bytes.Replace(nf.Body, []byte(`"not_found"`), []byte(`"unauthorized"`), 1)
	if err := wiretest.CheckResponse("GET", s.URL+"/v1/nope", wrongCode); err == nil {
		t.Errorf("a 404 with error_code unauthorized was taken: %s", wrongCode.Body)
	}
	// The job's errors do not carry the record; the errors stream's do.
	withRecord := withBody(func(c map[string]any) {
		c["errors"] = []any{map[string]any{"index": 0, "error_code": "not_an_object", "message": "m", "record": 5}}
	})
	if err := wiretest.CheckResponse("GET", url, withRecord); err == nil {
		t.Error("a job whose errors carry the record was taken")
	}
	// A header of the wrong form.
	rl := s.PostJSON("/v1/track", map[string]any{"user_id": "u", "event_name": "e"})
	h := rl.Header.Clone()
	h.Set("X-RateLimit-Remaining", "many")
	if err := wiretest.CheckResponse("POST", s.URL+"/v1/track", wiretest.Response{Status: rl.Status, Header: h, Body: rl.Body}); err == nil {
		t.Error("X-RateLimit-Remaining: many was taken")
	}
	// Each line of the errors stream is checked.
	s.WaitJob(j.JobID)
	bad := wiretest.Accepted(t, s.PostJSON("/v1/companies/bulk_identify?nested=refuse", map[string]any{"companies": []any{5, map[string]any{"company_id": "ok"}}}))
	s.WaitJob(bad.JobID)
	errURL := s.URL + "/v1/background_jobs/" + bad.JobID + "/errors"
	stream := s.Get("/v1/background_jobs/" + bad.JobID + "/errors")
	if err := wiretest.CheckResponse("GET", errURL, stream); err != nil || len(stream.Body) == 0 {
		t.Fatalf("errors stream %q: %v", stream.Body, err)
	}
	stream.Body = append(stream.Body, []byte("{\"index\":3}\n")...)
	if err := wiretest.CheckResponse("GET", errURL, stream); err == nil {
		t.Error("a line without error_code was taken")
	}
}
