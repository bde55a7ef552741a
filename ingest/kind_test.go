package ingest_test

import (
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/ingest"
)

func TestRecordKind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw  string
		kind bulkid.JobType
	}{
		{`{"user_id":"u1"}`, bulkid.JobUsers},
		{`{"company_id":"c1","user_id":null}`, bulkid.JobUsers}, // a user, of a company
		{`{"company_id":"c1","metadata":{"user_id":"x"}}`, bulkid.JobCompanies},
		{`{"user\u005fid":1}`, bulkid.JobUsers},
		{`{"User_ID":"u1"}`, ""},
		{`{"users":[{"user_id":"u1"}]}`, ""},
		{`{"user_id":}`, ""},
		{`["user_id"]`, ""},
		{`{}`, ""},
		{string(bulkid.OversizedRecord([]byte(`{"user_id":"u1"}`), 2<<20)), ""},
	} {
		kind, ok := ingest.RecordKind([]byte(tc.raw))
		if kind != tc.kind || ok != (tc.kind != "") {
			t.Errorf("RecordKind(%q) = %q, %v; want %q", tc.raw, kind, ok, tc.kind)
		}
	}
}

// The first record tells the kind of the whole file; the others are
// passed on as they are, even those of the other kind, to fail alone.
func TestScanNDJSONKind(t *testing.T) {
	t.Parallel()
	var recs []string
	kind, n, err := ingest.ScanNDJSONKind(strings.NewReader("\n{\"company_id\":\"c1\"}\n{\"user_id\":\"u\"}\n{oops}\n"), ingest.DefaultLimits, func(pos int, raw []byte) error {
		recs = append(recs, string(raw))
		return nil
	})
	if err != nil || kind != bulkid.JobCompanies || n != 3 || len(recs) != 3 {
		t.Fatalf("kind %q, %d records %q, err %v; want 3 companies", kind, n, recs, err)
	}
	_, _, err = ingest.ScanNDJSONKind(strings.NewReader("\n\n{\"id\":\"u\"}\n"), ingest.DefaultLimits, func(int, []byte) error { return nil })
	wantCode(t, err, bulkid.EINVALID)
	if !strings.Contains(err.Error(), "(line 3)") || !strings.Contains(err.Error(), "user_id") {
		t.Errorf("error %v does not name line 3 and the members expected", err)
	}
	_, _, err = ingest.ScanNDJSONKind(strings.NewReader("\n \n"), ingest.DefaultLimits, func(int, []byte) error { return nil })
	wantCode(t, err, bulkid.EEMPTY)
}
