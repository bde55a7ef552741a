package bulkid_test

import (
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
