package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
)

// jobRecords validates raws as the worker does and places each in the
// input as rawRecords numbers them: Seq i, Pos (line) i+1, Raw as sent.
func (e *env) jobRecords(typ bulkid.JobType, raws ...string) []bulkid.Record {
	e.t.Helper()
	recs := e.records(typ, raws...)
	for i := range recs {
		recs[i].Seq, recs[i].Pos, recs[i].Raw = i, i+1, []byte(raws[i])
	}
	return recs
}

// manyKeys is a metadata object of n keys named prefix0… prefix(n-1),
// each holding value.
func manyKeys(prefix string, n int, value string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%s%d":%s`, prefix, i, value)
	}
	b.WriteByte('}')
	return b.String()
}

// keyCount is how many keys the metadata md holds.
func keyCount(t *testing.T, md []byte) int {
	t.Helper()
	m, err := decodeObject(md)
	if err != nil {
		t.Fatalf("metadata %.80s…: %v", md, err)
	}
	return len(m)
}

// compactSize is the size of md written as compact JSON, as the bound
// counts it.
func compactSize(t *testing.T, md []byte) int {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, md); err != nil {
		t.Fatalf("metadata %.80s…: %v", md, err)
	}
	return b.Len()
}

// testProfileBounds: a record that would take its profile over
// MaxProfileKeys or MaxProfileBytes is not applied and fails alone, with
// its position and the record as sent, counted as failed once, in the
// batch's transaction; the other records, of the same profile too, apply
// in order, and a null that removes keys lets a later record fit.
func testProfileBounds(t *testing.T, e *env) {
	app := e.createApp("a")
	kb := `"` + strings.Repeat("x", 1000) + `"` // the repro: 1,000 keys of 1 KB a record
	half := strings.Repeat("y", 600_000)
	rest := strings.Repeat("z", bulkid.MaxProfileBytes-15-600_000) // {"a":"…","b":"…"} is then exactly the bound
	raws := []string{
		/* 0 */ fmt.Sprintf(`{"company_id":"big","metadata":%s}`, manyKeys("r0_", 1000, kb)), // about 1 MB: fits
		/* 1 */ `{"company_id":"small","metadata":{"plan":"free"}}`,
		/* 2 */ fmt.Sprintf(`{"company_id":"big","metadata":%s}`, manyKeys("r2_", 1000, kb)), // over the bytes
		/* 3 */ fmt.Sprintf(`{"company_id":"big","metadata":%s}`, manyKeys("r3_", 1000, kb)), // over the bytes
		/* 4 */ `{"company_id":"big","metadata":{"r0_0":"replaced","extra":1}}`, // smaller: fits
		/* 5 */ `{"metadata":{"no":"id"}}`, // invalid: counted by validation
		// Keys: 1,000 and 1,000 more make the bound exactly; one more is over.
		/* 6 */ fmt.Sprintf(`{"company_id":"keys","metadata":%s}`, manyKeys("a", 1000, "1")),
		/* 7 */ fmt.Sprintf(`{"company_id":"keys","metadata":%s}`, manyKeys("b", 1000, "1")),
		/* 8 */ `{"company_id":"keys","metadata":{"one_more":1}}`,
		/* 9 */ `{"company_id":"keys","metadata":{"a0":2,"b999":"changed"}}`, // no new key: fits
		/* 10 */ fmt.Sprintf(`{"company_id":"keys","metadata":%s}`, manyKeys("a", 10, "null")), // removes 10
		/* 11 */ fmt.Sprintf(`{"company_id":"keys","metadata":%s}`, manyKeys("c", 10, "1")), // now fits
		/* 12 */ fmt.Sprintf(`{"company_id":"keys","metadata":%s}`, manyKeys("d", 11, "1")), // 2,011: over
		// Bytes with few keys: exactly the bound fits, 7 bytes more do not.
		/* 13 */ fmt.Sprintf(`{"company_id":"bytes","metadata":{"a":%q}}`, half),
		/* 14 */ fmt.Sprintf(`{"company_id":"bytes","metadata":{"b":%q}}`, rest),
		/* 15 */ `{"company_id":"bytes","metadata":{"c":""}}`,
		/* 16 */ fmt.Sprintf(`{"company_id":"bytes","metadata":{"b":%q}}`, strings.Repeat("w", len(rest))), // same size: fits
		/* 17 */ `{"company_id":"bytes","metadata":{"a":null}}`,
		/* 18 */ `{"company_id":"bytes","metadata":{"c":""}}`, // fits now
		// A new profile whose only record is refused is not created: a
		// record within 1 MiB whose metadata, escapes written out (\b as
		// \u0008), is 3 MB.
		/* 19 */ fmt.Sprintf(`{"company_id":"never","metadata":%s}`, manyKeys("k", 1000, `"`+strings.Repeat(`\b`, 500)+`"`)),
	}
	var recs []bulkid.Record // the valid ones, placed in the input
	for i, raw := range raws {
		if i != 5 {
			r := e.records(bulkid.JobCompanies, raw)[0]
			r.Seq, r.Pos, r.Raw = i, i+1, []byte(raw)
			recs = append(recs, r)
		}
	}
	job := e.submit(app, bulkid.JobCompanies, raws...)
	l := e.claim("w1", job)
	invalid := bulkid.RecordError{Seq: 5, Pos: 6, Code: bulkid.RMissingID, Message: "company_id is required", Raw: []byte(raws[5])}
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, []bulkid.RecordError{invalid}))
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs, 0, len(raws)))

	refused := []int{2, 3, 8, 12, 15, 19}
	check := func(what string) {
		t.Helper()
		got := e.job(app, job.ID)
		if want := len(recs) - len(refused); got.CompletedRows != want || got.FailedRows != 1+len(refused) || got.Cursor != len(raws) {
			t.Errorf("%s: CompletedRows %d, FailedRows %d, Cursor %d; want %d, %d, %d",
				what, got.CompletedRows, got.FailedRows, got.Cursor, want, 1+len(refused), len(raws))
		}
		errs, err := e.s.JobErrors(e.ctx, app.ID, job.ID, 0, 100)
		e.must("JobErrors", err)
		var gotSeqs, wantSeqs []string
		for _, x := range errs {
			gotSeqs = append(gotSeqs, fmt.Sprintf("%d@%d:%s:%s", x.Seq, x.Pos, x.ID, x.Code))
		}
		for _, i := range []int{2, 3, 5, 8, 12, 15, 19} {
			code, id := bulkid.RProfileTooLarge, ""
			if i == 5 {
				code = bulkid.RMissingID
			} else {
				id = recs[i-min(i/6, 1)].ID
			}
			wantSeqs = append(wantSeqs, fmt.Sprintf("%d@%d:%s:%s", i, i+1, id, code))
		}
		if strings.Join(gotSeqs, " ") != strings.Join(wantSeqs, " ") {
			t.Errorf("%s: record errors\n got %v\nwant %v", what, gotSeqs, wantSeqs)
		}
		for _, x := range errs {
			if string(x.Raw) != raws[x.Seq] {
				t.Errorf("%s: record error %d: Raw is not the record as sent (%.60s…)", what, x.Seq, x.Raw)
			}
			if x.Code == bulkid.RProfileTooLarge && !strings.Contains(x.Message, "at most") {
				t.Errorf("%s: record error %d: message %q does not give the bound", what, x.Seq, x.Message)
			}
		}
	}
	check("after the batch")
	if errs, _ := e.s.JobErrors(e.ctx, app.ID, job.ID, 0, 100); len(errs) > 3 {
		for _, want := range []string{"2001", fmt.Sprint(bulkid.MaxProfileKeys)} {
			if !strings.Contains(errs[3].Message, want) {
				t.Errorf("record error of seq 8: message %q does not say %s", errs[3].Message, want)
			}
		}
	}

	// The batch again, as a worker that lost its lease or crashed before
	// the commit was seen would send it: refused, nothing counted twice.
	wantCode(t, "ApplyBatch again", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs, 0, len(raws)), bulkid.ELEASELOST)
	check("after the batch was sent again")

	big := e.company(app, "big").Metadata
	if n := keyCount(t, big); n != 1001 {
		t.Errorf("big holds %d keys, want the 1,000 of its first record and extra", n)
	}
	if size := compactSize(t, big); size > bulkid.MaxProfileBytes {
		t.Errorf("big is %d bytes, over the bound %d", size, bulkid.MaxProfileBytes)
	}
	m, _ := decodeObject(big)
	if m["r0_0"] != "replaced" || m["r2_0"] != nil || m["r3_0"] != nil {
		t.Errorf("big: r0_0 = %v, r2_0 = %v, r3_0 = %v; want replaced and the refused records' keys absent", m["r0_0"], m["r2_0"], m["r3_0"])
	}
	wantMetadata(t, "small, in the same batch", e.company(app, "small").Metadata, `{"plan":"free"}`)

	keys := e.company(app, "keys").Metadata
	if n := keyCount(t, keys); n != bulkid.MaxProfileKeys {
		t.Errorf("keys holds %d keys, want %d", n, bulkid.MaxProfileKeys)
	}
	m, _ = decodeObject(keys)
	if m["one_more"] != nil || m["d0"] != nil || m["c9"] == nil || m["a0"] != nil || m["b999"] != "changed" {
		t.Errorf("keys: one_more %v, d0 %v, c9 %v, a0 %v, b999 %v; want absent, absent, 1, removed, changed",
			m["one_more"], m["d0"], m["c9"], m["a0"], m["b999"])
	}
	bytesMD := e.company(app, "bytes").Metadata
	m, _ = decodeObject(bytesMD)
	if m["a"] != nil || m["b"] != strings.Repeat("w", len(rest)) || m["c"] != "" {
		t.Errorf("bytes: keys %d, a present %v, c %q; want b replaced, a removed, c added after", len(m), m["a"] != nil, m["c"])
	}
	_, err := e.s.Company(e.ctx, app.ID, "never")
	wantCode(t, "Company whose only record was refused", err, bulkid.ENOTFOUND)

	// Real-time identify of a record over the bound: invalid_record with
	// the reason, and nothing of the call is written.
	e.must("FinishJob", e.s.FinishJob(e.ctx, l, bulkid.StatusCompleted, ""))
	over := e.records(bulkid.JobCompanies, `{"company_id":"keys","metadata":{"over":1}}`)
	err = e.s.Identify(e.ctx, app.ID, over, nil)
	wantCode(t, "Identify over the key bound", err, bulkid.EINVALIDRECORD)
	var be *bulkid.Error
	if errors.As(err, &be) && (be.Details != bulkid.RProfileTooLarge || !strings.Contains(be.Message, "at most")) {
		t.Errorf("Identify over the bound: details %q, message %q; want %s and the bound", be.Details, be.Message, bulkid.RProfileTooLarge)
	}
	user := e.records(bulkid.JobUsers, `{"user_id":"u1","company_id":"keys","metadata":{"a":1}}`)
	err = e.s.Identify(e.ctx, app.ID, over, user)
	wantCode(t, "Identify of a user with a company over the bound", err, bulkid.EINVALIDRECORD)
	_, err = e.s.User(e.ctx, app.ID, "u1")
	wantCode(t, "User of a refused Identify", err, bulkid.ENOTFOUND)
	if n := keyCount(t, e.company(app, "keys").Metadata); n != bulkid.MaxProfileKeys {
		t.Errorf("keys after refused Identify calls holds %d keys, want %d", n, bulkid.MaxProfileKeys)
	}
}

// testUserProfileBounds: users have the same bound, and a refused user
// record changes neither the user nor its company.
func testUserProfileBounds(t *testing.T, e *env) {
	app := e.createApp("a")
	raws := []string{
		fmt.Sprintf(`{"user_id":"u1","company_id":"home","metadata":%s}`, manyKeys("a", 1000, "1")),
		fmt.Sprintf(`{"user_id":"u1","metadata":%s}`, manyKeys("b", 1000, "1")),
		`{"user_id":"u1","company_id":"away","metadata":{"more":1}}`, // refused: stays at home, away not created
		`{"user_id":"u2","company_id":"home"}`,
		`{"user_id":"u1","company_id":"elsewhere","metadata":{"a0":null}}`, // fits: moves
	}
	job := e.submit(app, bulkid.JobUsers, raws...)
	l := e.startJob("w1", job)
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobUsers, e.jobRecords(bulkid.JobUsers, raws...), 0, len(raws)))
	e.must("CompleteJob", e.s.CompleteJob(e.ctx, l, app.ID, bulkid.StatusCompleted))
	got := e.job(app, job.ID)
	if got.CompletedRows != 4 || got.FailedRows != 1 {
		t.Errorf("job: CompletedRows %d, FailedRows %d; want 4, 1", got.CompletedRows, got.FailedRows)
	}
	errs, err := e.s.JobErrors(e.ctx, app.ID, job.ID, 0, 10)
	e.must("JobErrors", err)
	if len(errs) != 1 || errs[0].Seq != 2 || errs[0].Pos != 3 || errs[0].ID != "u1" || errs[0].Code != bulkid.RProfileTooLarge || string(errs[0].Raw) != raws[2] {
		t.Errorf("record errors = %+v, want the third record, profile_too_large", errs)
	}
	u1 := e.user(app, "u1")
	if u1.CompanyID != "elsewhere" || keyCount(t, u1.Metadata) != 1999 {
		t.Errorf("u1: company %q, %d keys; want elsewhere, 1999", u1.CompanyID, keyCount(t, u1.Metadata))
	}
	_, err = e.s.Company(e.ctx, app.ID, "away")
	wantCode(t, "Company named only by a refused record", err, bulkid.ENOTFOUND)
	wantCount(t, e.company(app, "home"), 1, true)
	wantCount(t, e.company(app, "elsewhere"), 1, true)
}
