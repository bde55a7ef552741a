package httpapi_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// wantMetadata checks a profile's stored metadata, each value as its JSON
// text.
func wantMetadata(t *testing.T, s *server, path string, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for k, v := range s.target(t).MetadataOf(path) {
		got[k] = string(v)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GET %s metadata = %v\nwant %v", path, got, want)
	}
}

// TestIdentifyNestedMetadata: the real-time endpoints take nested metadata
// as Segment and RudderStack send it, flattened as docs/API.md says, and
// string values (the Singer target's) as the strings sent.
func TestIdentifyNestedMetadata(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	post := func(path, body string) {
		t.Helper()
		if r := s.Do("POST", path, s.Key, "application/json", strings.NewReader(body)); r.Status != 202 {
			t.Fatalf("POST %s %s = %d %s, want 202", path, body, r.Status, r.Body)
		}
	}
	// Segment identify: traits with its address and company objects, and
	// arrays, as metadata.
	post("/v1/identify", `{"user_id":"seg-1","metadata":{"name":"Peter Gibbons","email":"peter@example.com",`+
		`"address":{"street":"6th St","city":"San Francisco","state":"CA","postal_code":"94103","country":"USA"},`+
		`"company":{"name":"Initech","id":"c-42","industry":"Technology","employee_count":123,"plan":"enterprise"},`+
		`"roles":["admin","billing"],"devices":[{"type":"ios"}],"nickname":null}}`)
	wantMetadata(t, s, "/v1/users/seg-1", map[string]string{
		"name": `"Peter Gibbons"`, "email": `"peter@example.com"`,
		"address.street": `"6th St"`, "address.city": `"San Francisco"`, "address.state": `"CA"`, "address.postal_code": `"94103"`, "address.country": `"USA"`,
		"company.name": `"Initech"`, "company.id": `"c-42"`, "company.industry": `"Technology"`, "company.employee_count": `123`, "company.plan": `"enterprise"`,
		"roles": `"[\"admin\",\"billing\"]"`, "devices": `"[{\"type\":\"ios\"}]"`,
	})
	// Segment group: traits of the company.
	post("/v1/companies/identify", `{"company_id":"c-42","metadata":{"name":"Initech","address":{"city":"Austin","geo":{"lat":30.27}},"tags":[]}}`)
	wantMetadata(t, s, "/v1/companies/c-42", map[string]string{
		"name": `"Initech"`, "address.city": `"Austin"`, "address.geo.lat": `30.27`, "tags": `"[]"`,
	})
	// RudderStack identify: the company object, whose members are the
	// company's metadata and may nest, copied into metadata as well.
	post("/v1/identify", `{"user_id":"rs-1","company":{"id":"acme","name":"Acme","address":{"city":"Paris"},"plans":["pro"]},`+
		`"metadata":{"name":"Alex","email":"alex@example.com","company":{"id":"acme","name":"Acme"}}}`)
	wantMetadata(t, s, "/v1/users/rs-1", map[string]string{
		"name": `"Alex"`, "email": `"alex@example.com"`, "company.id": `"acme"`, "company.name": `"Acme"`,
	})
	wantMetadata(t, s, "/v1/companies/acme", map[string]string{
		"name": `"Acme"`, "address.city": `"Paris"`, "plans": `"[\"pro\"]"`,
	})
	if u := getJSON(t, s, "/v1/users/rs-1"); u["company_id"] != "acme" {
		t.Errorf("rs-1 company_id = %v, want acme", u["company_id"])
	}
	// A null inside removes the dotted key, as a null anywhere does.
	post("/v1/companies/identify", `{"company_id":"c-42","metadata":{"address":{"geo":{"lat":null}}}}`)
	wantMetadata(t, s, "/v1/companies/c-42", map[string]string{"name": `"Initech"`, "address.city": `"Austin"`, "tags": `"[]"`})
	// The Singer target: every value a string, stored as sent.
	post("/v1/identify", `{"user_id":"singer-1","metadata":{"active":"True","churned":"None","tags":"['a', 'b']","seats":"12","when":"2026-11-01 10:00:00"}}`)
	wantMetadata(t, s, "/v1/users/singer-1", map[string]string{
		"active": `"True"`, "churned": `"None"`, "tags": `"['a', 'b']"`, "seats": `"12"`, "when": `"2026-11-01 10:00:00"`,
	})
	// The bounds hold for what flattening makes.
	distinct := `{"company_id":"w","metadata":{"o":{` + keys(1001) + `}}}`
	r := s.Do("POST", "/v1/companies/identify", s.Key, "application/json", strings.NewReader(distinct))
	if e := expectError(t, r, 400, "invalid_record").Errors[0]; e.Details != "invalid_metadata" || !strings.Contains(e.Message, "flattens to more than 1000 keys") {
		t.Errorf("1001 flattened keys: %+v, want invalid_metadata naming the bound", e)
	}
}

// keys returns n distinct members "k0":0,... of a JSON object.
func keys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k`)
		b.WriteString(strings.Repeat("i", i/100))
		b.WriteByte(byte('0' + i/10%10))
		b.WriteByte(byte('0' + i%10))
		b.WriteString(`":0`)
	}
	return b.String()
}

// TestBulkNested: the bulk endpoints refuse nested metadata per record by
// default, and flatten it with ?nested=flatten, whatever the body (JSON,
// NDJSON, multipart); the job object says which.
func TestBulkNested(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	nested := `{"company_id":"n1","metadata":{"address":{"city":"Paris"},"tags":["a", "b"]}}`
	flat := `{"company_id":"f1","metadata":{"plan":"pro"}}`
	jsonBody := `{"companies":[` + nested + `,` + flat + `]}`
	wantFlat := map[string]string{"address.city": `"Paris"`, "tags": `"[\"a\",\"b\"]"`}

	// The default refuses the nested record alone.
	j := accepted(t, s.Do("POST", "/v1/companies/bulk_identify", s.Key, "application/json", strings.NewReader(jsonBody)))
	if j.NestedMetadata != "refuse" {
		t.Errorf("202 job nested_metadata = %q, want refuse", j.NestedMetadata)
	}
	j = s.WaitJob(j.JobID)
	if j.CompletedRows != 1 || j.FailedRows != 1 || len(j.Errors) != 1 || j.Errors[0].ErrorCode != "nested_metadata" || j.Errors[0].CompanyID != "n1" {
		t.Errorf("default job: %d/%d, errors %+v; want n1 failed alone with nested_metadata", j.CompletedRows, j.FailedRows, j.Errors)
	}
	if r := s.Get("/v1/companies/n1"); r.Status != 404 {
		t.Errorf("GET n1 after the refused record = %d, want 404", r.Status)
	}
	explicit := accepted(t, s.Do("POST", "/v1/companies/bulk_identify?nested=refuse", s.Key, "application/json", strings.NewReader(jsonBody)))
	if j := s.WaitJob(explicit.JobID); j.NestedMetadata != "refuse" || j.FailedRows != 1 {
		t.Errorf("?nested=refuse job: %q, %d failed; want refuse, 1", j.NestedMetadata, j.FailedRows)
	}

	// ?nested=flatten, each body kind in turn.
	for i, send := range []func(path string) response{
		func(path string) response {
			return s.Do("POST", path, s.Key, "application/json", strings.NewReader(jsonBody))
		},
		func(path string) response {
			return s.Do("POST", path, s.Key, "application/x-ndjson", strings.NewReader(nested+"\n"+flat+"\n"))
		},
		func(path string) response { return s.Upload(path, "companies.ndjson", []byte(nested+"\n"+flat+"\n")) },
	} {
		j := accepted(t, send("/v1/companies/bulk_identify?nested=flatten"))
		if j.NestedMetadata != "flatten" {
			t.Errorf("body %d: 202 job nested_metadata = %q, want flatten", i, j.NestedMetadata)
		}
		j = s.WaitJob(j.JobID)
		if j.NestedMetadata != "flatten" || j.CompletedRows != 2 || j.FailedRows != 0 {
			t.Errorf("body %d: flatten job %q %d/%d, want flatten 2/0", i, j.NestedMetadata, j.CompletedRows, j.FailedRows)
		}
		wantMetadata(t, s, "/v1/companies/n1", wantFlat)
		if listed := listJobs(t, s, "?limit=1"); len(listed) != 1 || listed[0].NestedMetadata != "flatten" {
			t.Errorf("body %d: listed job = %+v, want nested_metadata flatten", i, listed)
		}
	}

	// Users, with a company_id, the same way.
	body, _ := json.Marshal(map[string]any{"users": []any{map[string]any{"user_id": "u1", "company_id": "f1",
		"metadata": map[string]any{"company": map[string]any{"id": "f1", "name": "F"}}}}})
	j = s.WaitJob(accepted(t, s.Do("POST", "/v1/users/bulk_identify?nested=flatten", s.Key, "application/json", strings.NewReader(string(body)))).JobID)
	if j.CompletedRows != 1 {
		t.Errorf("users flatten job: %d completed, errors %+v", j.CompletedRows, j.Errors)
	}
	wantMetadata(t, s, "/v1/users/u1", map[string]string{"company.id": `"f1"`, "company.name": `"F"`})

	// Any other value is a bad request, before the body is read.
	for _, q := range []string{"nested=json", "nested=", "nested=Flatten", "nested=flatten&nested=refuse"} {
		for _, path := range []string{"/v1/companies/bulk_identify?", "/v1/users/bulk_identify?"} {
			r := s.Do("POST", path+q, s.Key, "application/json", strings.NewReader(`{"companies":[{"company_id":"x"}],"users":[{"user_id":"x"}]}`))
			if e := expectError(t, r, 400, "invalid_request").Errors[0]; !strings.Contains(e.Message, "nested") {
				t.Errorf("POST %s%s: message %q does not name nested", path, q, e.Message)
			}
		}
	}
}
