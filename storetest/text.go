package storetest

import (
	"testing"

	"github.com/bulkid/bulkid"
)

// testValidatedText: whatever ValidateRecord accepts, the store holds and
// gives back as it was, and whatever record errors it makes, the store
// keeps: validation decides what every store can hold (issue 10). Before,
// PostgreSQL's text refused U+0000 in an accepted id and a message cut
// inside a UTF-8 character, and failed the whole job.
func testValidatedText(t *testing.T, e *env) {
	app := e.createApp("a")
	raws := []string{
		`{"company_id":"\u0001\u001f\u007f","metadata":{"\u0001":"\u001f"}}`,
		`{"company_id":"\ud83d\ude00","metadata":{"\ud83d\ude00":"\ud83d\ude00"}}`,
		`{"company_id":"\\ud800","metadata":{"k":"\\udc00"}}`,
		`{"company_id":"\ufffd\u2028\u2029é","metadata":{"\u2028":"\ufffd"}}`,
		// Each of these fails alone.
		`{"company_id":"a\u0000"}`,
		`{"company_id":"c","metadata":{"k\u0000":1}}`,
		`{"company_id":"c","metadata":{"k":"\u0000"}}`,
		`{"company_id":"\ud800"}`,
		`{"company_id":"c","metadata":{"\udc00":1}}`,
		"{\"company_id\":\"\xff\"}",
		`{"company_id":{"k":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa😀"}}`,
		"{\"company_id\":[\"\xc3\"]}",
		"{\xff",
	}
	job := e.submit(app, bulkid.JobCompanies, raws...)
	l := e.claim("w1", job)
	var valid []bulkid.Record
	var errs []bulkid.RecordError
	for i, raw := range raws {
		rec, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(raw))
		if rerr != nil {
			rerr.Seq, rerr.Pos = i, i+1
			if rerr.Raw == nil {
				rerr.Raw = []byte(raw)
			}
			errs = append(errs, *rerr)
			continue
		}
		valid = append(valid, rec)
	}
	if len(valid) != 4 || len(errs) != len(raws)-4 {
		t.Fatalf("validation passed %d records and failed %d; want 4 and %d", len(valid), len(errs), len(raws)-4)
	}
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, errs))
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, valid, 0, len(raws)))
	got, err := e.s.JobErrors(e.ctx, app.ID, job.ID, 0, 100)
	e.must("JobErrors", err)
	wantErrors(t, "JobErrors", got, errs)
	for _, rec := range valid {
		c := e.company(app, rec.ID)
		wantMetadata(t, "company "+rec.ID, c.Metadata, string(rec.Metadata))
	}
}
