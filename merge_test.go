package bulkid_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/bulkid/bulkid"
)

func TestMergePatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ a, b, want string }{
		{`{"a":1,"b":"x"}`, `{"b":null,"c":true}`, `{"a":1,"b":null,"c":true}`},
		{`{"a":1}`, `{"a":2}`, `{"a":2}`},
		{`{"k":"<\"q\">\n"}`, `{"z":12345678901234567890.50}`, `{"k":"<\"q\">\n","z":12345678901234567890.50}`},
		{`{}`, `{"a":null}`, `{"a":null}`},
	} {
		if got := string(bulkid.MergePatches([]byte(tc.a), []byte(tc.b))); got != tc.want {
			t.Errorf("MergePatches(%s, %s) = %s, want %s", tc.a, tc.b, got, tc.want)
		}
	}
	if got := bulkid.MergePatches(nil, []byte(`{"a":1}`)); string(got) != `{"a":1}` {
		t.Errorf("MergePatches(nil, b) = %s", got)
	}
	if got := bulkid.MergePatches([]byte(`{"a":1}`), nil); string(got) != `{"a":1}` {
		t.Errorf("MergePatches(a, nil) = %s", got)
	}
}

func BenchmarkMergePatches(b *testing.B) {
	x := []byte(`{"arr":1234.5,"churn_risk":null,"employees":7,"health":0.87,"industry":"Software","is_trial":true,"name":"Company 1","nps":-3,"owner":"someone@example.com","plan":"enterprise","region":"eu-west","renewal":"2026-03-31T00:00:00Z","seats":40,"website":"https://c1.example.com"}`)
	y := []byte(`{"arr":99,"plan":"growth","seats":null,"tags_count":3}`)
	for b.Loop() {
		bulkid.MergePatches(x, y)
	}
}

func TestFoldByID(t *testing.T) {
	t.Parallel()
	recs := []bulkid.Record{
		{ID: "a", Metadata: []byte(`{"x":1,"y":2}`)},
		{ID: "b"},
		{ID: "a", Metadata: []byte(`{"y":null}`)},
		{ID: "a", Metadata: []byte(`{"x":3}`)},
	}
	got := bulkid.FoldByID(recs)
	if len(got) != 2 || got[0].ID != "a" || string(got[0].Metadata) != `{"x":3,"y":null}` || got[1].ID != "b" || got[1].Metadata != nil {
		t.Errorf("FoldByID = %+v", got)
	}
}

func TestApplyPatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ target, patch, want string }{
		{`{}`, `{}`, `{}`},
		{`{}`, `{"a":1,"b":null}`, `{"a":1}`},
		{`{"a":1,"b":"x","c":true}`, `{"b":null,"d":"new","a":2}`, `{"a":2,"c":true,"d":"new"}`},
		{`{"k":"a\"b\\c","n":12345678901234567890.50}`, `{"z":"é"}`, `{"k":"a\"b\\c","n":12345678901234567890.50,"z":"é"}`},
		{`{"a":1}`, `{"a":null}`, `{}`},
		{`[1,2]`, `{"a":1}`, `{"a":1}`},                       // a target that is not an object is replaced
		{"{ \"a\" : 1 ,\"b\":2}", `{"b":3}`, `{"a":1,"b":3}`}, // not canonical: parsed
	} {
		got, err := bulkid.ApplyPatch([]byte(tc.target), []byte(tc.patch))
		if err != nil || string(got) != tc.want {
			t.Errorf("ApplyPatch(%s, %s) = %s, %v; want %s", tc.target, tc.patch, got, err, tc.want)
		}
		parsed, err := bulkid.ApplyParsed([]byte(tc.target), []byte(tc.patch))
		if err != nil || string(parsed) != tc.want {
			t.Errorf("applyParsed(%s, %s) = %s, %v; want %s", tc.target, tc.patch, parsed, err, tc.want)
		}
	}
	if _, err := bulkid.ApplyPatch([]byte(`{}`), []byte(`[1]`)); err == nil {
		t.Errorf("a patch that is not an object was applied")
	}
}

// FuzzApplyPatch: on the metadata of any two valid records, the fast path
// of ApplyPatch agrees with parsing both objects, and the result is what
// encoding/json makes of RFC 7396.
func FuzzApplyPatch(f *testing.F) {
	f.Add(`{"company_id":"c","metadata":{"a":1,"b":"x\"y"}}`, `{"company_id":"c","metadata":{"b":null,"c":true}}`)
	f.Add(`{"company_id":"c","metadata":{"é":"\u0001","n":1e5}}`, `{"company_id":"c","metadata":{"é":2,"n":null,"m":""}}`)
	f.Fuzz(func(t *testing.T, a, b string) {
		ra, ea := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(a))
		rb, eb := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(b))
		if ea != nil || eb != nil || rb.Metadata == nil {
			return
		}
		target, err := bulkid.ApplyPatch([]byte("{}"), ra.Metadata)
		if ra.Metadata == nil {
			target, err = []byte("{}"), nil
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := bulkid.ApplyPatch(target, rb.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := bulkid.ApplyParsed(target, rb.Metadata)
		if err != nil || string(parsed) != string(got) {
			t.Fatalf("ApplyPatch(%s, %s) = %s, parsed %s (%v)", target, rb.Metadata, got, parsed, err)
		}
		var tm, pm, gm map[string]any
		if json.Unmarshal(target, &tm) != nil || json.Unmarshal(rb.Metadata, &pm) != nil || json.Unmarshal(got, &gm) != nil {
			t.Fatalf("not JSON: %s %s %s", target, rb.Metadata, got)
		}
		for k, v := range pm {
			if v == nil {
				delete(tm, k)
			} else {
				tm[k] = v
			}
		}
		if !reflect.DeepEqual(tm, gm) {
			t.Fatalf("ApplyPatch(%s, %s) = %s, want %v", target, rb.Metadata, got, tm)
		}
	})
}

// BenchmarkFoldByIDOneID: 200 records of 1,000 new keys each for one id,
// folded into one patch in time linear in the keys.
func BenchmarkFoldByIDOneID(b *testing.B) {
	recs := make([]bulkid.Record, 200)
	for r := range recs {
		md := []byte{'{'}
		for i := range 1000 {
			if i > 0 {
				md = append(md, ',')
			}
			md = fmt.Appendf(md, `"k%03d_%04d":%d`, r, i, i)
		}
		recs[r] = bulkid.Record{ID: "same", Metadata: append(md, '}')}
	}
	for b.Loop() {
		if got := bulkid.FoldByID(recs); len(got) != 1 {
			b.Fatal(len(got))
		}
	}
}
