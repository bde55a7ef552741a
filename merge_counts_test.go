package bulkid_test

import (
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
)

// TestApplyRecordsRowCounts: each applied record is counted once, as
// created, updated or unchanged, against the profile the records before it
// left; values stored in another layout (PostgreSQL's jsonb) that equal
// what is sent are no change.
func TestApplyRecordsRowCounts(t *testing.T) {
	t.Parallel()
	stored := map[string]bulkid.StoredProfile{
		"pg":    {Metadata: []byte(`{"n": 1000, "big": 12345678901234567890123, "s": "a\bb", "f": 1.50}`)},
		"plain": {Metadata: []byte(`{"n":1,"s":"x"}`)},
	}
	for _, tc := range []struct {
		name string
		recs []string
		want bulkid.RowCounts
	}{
		{"new profile", []string{`{"company_id":"new"}`}, bulkid.RowCounts{Created: 1}},
		{"new then same then change", []string{`{"company_id":"new","metadata":{"a":1}}`, `{"company_id":"new","metadata":{"a":1}}`, `{"company_id":"new","metadata":{"a":2}}`}, bulkid.RowCounts{Created: 1, Updated: 1, Unchanged: 1}},
		{"no metadata", []string{`{"company_id":"plain"}`}, bulkid.RowCounts{Unchanged: 1}},
		{"same values", []string{`{"company_id":"plain","metadata":{"n":1,"s":"x"}}`}, bulkid.RowCounts{Unchanged: 1}},
		{"remove absent key", []string{`{"company_id":"plain","metadata":{"gone":null}}`}, bulkid.RowCounts{Unchanged: 1}},
		{"remove key", []string{`{"company_id":"plain","metadata":{"n":null}}`}, bulkid.RowCounts{Updated: 1}},
		{"add key", []string{`{"company_id":"plain","metadata":{"m":1}}`}, bulkid.RowCounts{Updated: 1}},
		{"new value", []string{`{"company_id":"plain","metadata":{"n":2}}`}, bulkid.RowCounts{Updated: 1}},
		{"type change", []string{`{"company_id":"plain","metadata":{"n":"1"}}`}, bulkid.RowCounts{Updated: 1}},
		{"jsonb layout, same values", []string{`{"company_id":"pg","metadata":{"n":1E3,"big":12345678901234567890123,"s":"a\u0008b","f":1.5}}`}, bulkid.RowCounts{Unchanged: 1}},
		{"digits beyond float64", []string{`{"company_id":"pg","metadata":{"big":12345678901234567890124}}`}, bulkid.RowCounts{Updated: 1}},
		{"minus zero", []string{`{"company_id":"plain","metadata":{"z":0}}`, `{"company_id":"plain","metadata":{"z":-0}}`}, bulkid.RowCounts{Updated: 1, Unchanged: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var recs []bulkid.Record
			for _, r := range tc.recs {
				recs = append(recs, rec(t, bulkid.JobCompanies, r))
			}
			res, err := bulkid.ApplyRecords(recs, nil, stored, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.CompanyRows != tc.want {
				t.Errorf("CompanyRows = %+v, want %+v", res.CompanyRows, tc.want)
			}
		})
	}
}

// TestApplyRecordsUserRowCounts: a user record that changes only the
// user's company is an update; a rejected record is not counted.
func TestApplyRecordsUserRowCounts(t *testing.T) {
	t.Parallel()
	stored := map[string]bulkid.StoredProfile{"u": {Metadata: []byte(`{"a":1}`), CompanyID: "c1"}}
	recs := []bulkid.Record{
		rec(t, bulkid.JobUsers, `{"user_id":"u","company_id":"c1","metadata":{"a":1}}`),
		rec(t, bulkid.JobUsers, `{"user_id":"u","company_id":"c2"}`),
		rec(t, bulkid.JobUsers, `{"user_id":"v"}`),
	}
	// Two halves of 600 KB: the second would take w over 1 MiB and fails alone.
	for _, k := range []string{"k1", "k2"} {
		big := `{"user_id":"w","metadata":{"` + k + `":"` + strings.Repeat("x", 600<<10) + `"}}`
		recs = append(recs, rec(t, bulkid.JobUsers, big))
	}
	res, err := bulkid.ApplyRecords(nil, recs, nil, stored)
	if err != nil {
		t.Fatal(err)
	}
	if want := (bulkid.RowCounts{Created: 2, Updated: 1, Unchanged: 1}); res.UserRows != want || len(res.Rejected) != 1 {
		t.Errorf("UserRows = %+v (rejected %d), want %+v and 1 rejected", res.UserRows, len(res.Rejected), want)
	}
	if res.CompanyRows != (bulkid.RowCounts{}) {
		t.Errorf("CompanyRows = %+v for a users batch, want none", res.CompanyRows)
	}
}
