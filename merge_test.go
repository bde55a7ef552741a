package bulkid_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
)

func rec(t *testing.T, typ bulkid.JobType, raw string) bulkid.Record {
	t.Helper()
	r, rerr := bulkid.ValidateRecord(typ, []byte(raw))
	if rerr != nil {
		t.Fatalf("ValidateRecord(%s): %s", raw, rerr.Message)
	}
	r.Raw = []byte(raw)
	return r
}

// TestApplyRecordsMerge: records merge in order as ApplyPatch does, keys
// in the stored order with new ones after, from stored metadata in any
// layout (PostgreSQL's has spaces), and the bound is counted on the
// compact JSON written.
func TestApplyRecordsMerge(t *testing.T) {
	t.Parallel()
	stored := map[string]bulkid.StoredProfile{
		"a": {Metadata: []byte(`{"x": 1, "y": "two", "k\u0001": true}`)},
		"b": {Metadata: []byte(`{"x":1,"y":"two"}`)},
	}
	recs := []bulkid.Record{
		rec(t, bulkid.JobCompanies, `{"company_id":"a","metadata":{"y":null,"z":3}}`),
		rec(t, bulkid.JobCompanies, `{"company_id":"b","metadata":{"x":null}}`),
		rec(t, bulkid.JobCompanies, `{"company_id":"a","metadata":{"y":"back","k\u0001":false}}`),
		rec(t, bulkid.JobCompanies, `{"company_id":"c"}`),
	}
	res, err := bulkid.ApplyRecords(recs, nil, stored, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": `{"x":1,"k\u0001":false,"z":3,"y":"back"}`, "b": `{"y":"two"}`, "c": `{}`}
	if len(res.Companies) != 3 || len(res.Rejected) != 0 {
		t.Fatalf("ApplyRecords = %+v", res)
	}
	for _, w := range res.Companies {
		if string(w.Metadata) != want[w.ID] || w.Create != (w.ID == "c") || !w.Updated {
			t.Errorf("company %s: %s (create %v), want %s", w.ID, w.Metadata, w.Create, want[w.ID])
		}
		target := []byte("{}")
		if s, ok := stored[w.ID]; ok {
			var c bytes.Buffer
			json.Compact(&c, s.Metadata)
			target = c.Bytes()
		}
		for _, r := range recs {
			if r.ID == w.ID && r.Metadata != nil {
				target, _ = bulkid.ApplyPatch(target, r.Metadata)
			}
		}
		if string(target) != string(w.Metadata) {
			t.Errorf("company %s: %s, but ApplyPatch in order gives %s", w.ID, w.Metadata, target)
		}
	}
}

// TestApplyRecordsBound: the bound is checked per record on the size the
// written JSON has, exactly at the limit, for keys and bytes apart.
func TestApplyRecordsBound(t *testing.T) {
	t.Parallel()
	keys := func(prefix string, n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `,"%s%d":0`, prefix, i)
		}
		return "{" + b.String()[1:] + "}"
	}
	pad := strings.Repeat("p", bulkid.MaxProfileBytes-len(`{"v":""}`))
	recs := []bulkid.Record{
		rec(t, bulkid.JobCompanies, `{"company_id":"k","metadata":`+keys("a", 1000)+`}`),
		rec(t, bulkid.JobCompanies, `{"company_id":"k","metadata":`+keys("b", 1000)+`}`),
		rec(t, bulkid.JobCompanies, `{"company_id":"k","metadata":{"c":0}}`), // 2,001 keys
		rec(t, bulkid.JobCompanies, `{"company_id":"k","metadata":{"a1":null,"c":0}}`),
	}
	res, err := bulkid.ApplyRecords(recs, nil, map[string]bulkid.StoredProfile{
		"s": {Metadata: fmt.Appendf(nil, `{"v":%q}`, pad[:len(pad)-1])},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejected) != 1 || res.Rejected[0].Seq != 0 || !res.RejectedCompany[2] || res.Rejected[0].Code != bulkid.RProfileTooLarge {
		t.Errorf("Rejected = %+v, want the third record", res.Rejected)
	}
	// Bytes: "s" holds one byte less than the bound.
	for _, tc := range []struct {
		patch string
		ok    bool
	}{{`{"v":"` + pad + `"}`, true}, {`{"w":1}`, false}, {`{"v":"` + pad + `p"}`, false}, {`{"v":null,"w":1}`, true}} {
		r := bulkid.Record{ID: "s", Metadata: json.RawMessage(tc.patch)}
		res, err := bulkid.ApplyRecords([]bulkid.Record{r}, nil, map[string]bulkid.StoredProfile{
			"s": {Metadata: fmt.Appendf(nil, `{"v":%q}`, pad[:len(pad)-1])},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ok := len(res.Rejected) == 0; ok != tc.ok {
			t.Errorf("patch of %d bytes into a profile one byte under the bound: applied %v, want %v", len(tc.patch), ok, tc.ok)
		}
		if tc.ok && len(res.Companies[0].Metadata) > bulkid.MaxProfileBytes {
			t.Errorf("written %d bytes, over the bound", len(res.Companies[0].Metadata))
		}
	}
}

// BenchmarkApplyRecords merges 1,000 records of 14 keys, as a batch of
// the stores' BenchmarkApplyBatch, into stored profiles in PostgreSQL's
// layout (spaces) and into none.
func BenchmarkApplyRecords(b *testing.B) {
	recs := make([]bulkid.Record, 1000)
	stored := map[string]bulkid.StoredProfile{}
	for i := range recs {
		md := fmt.Sprintf(`{"name":"Company %d","plan":"enterprise","seats":%d,"arr":%d.25,"is_trial":%v,"region":"eu-west","renewal":"2026-03-31T00:00:00Z","nps":%d,"industry":"Software","owner":"someone@example.com","health":0.87,"churn_risk":null,"employees":%d,"website":"https://c%d.example.com/v1"}`,
			i, i%5000, i*10, i%3 == 0, i%200-100, i*7, i)
		r, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, fmt.Appendf(nil, `{"company_id":"co-%06d","metadata":%s}`, i, md))
		if rerr != nil {
			b.Fatal(rerr.Message)
		}
		recs[i] = r
		stored[r.ID] = bulkid.StoredProfile{Metadata: []byte(strings.ReplaceAll(strings.ReplaceAll(md, `,"`, `, "`), `":`, `": `))}
	}
	for _, tc := range []struct {
		name   string
		stored map[string]bulkid.StoredProfile
	}{{"new", nil}, {"merge", stored}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bulkid.ApplyRecords(recs, nil, tc.stored, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
