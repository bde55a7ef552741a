package bulkid_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
)

// benchCompany is company i's record as bulkid bench sends it
// (internal/bench/data.go): 14 metadata keys of mixed types in the order
// a client writes them, not sorted; version 2 changes seven values and
// sets or clears churned_at.
func benchCompany(i, version int) []byte {
	plans := []string{"free", "starter", "growth", "pro", "enterprise"}
	plan, seats, mrr, health := plans[i%5], 1+i%5000, float64(i%5_000_000)/100, float64(i%1000)/1000
	churned := `null`
	if i%5 == 0 {
		churned = `"2023-04-17"`
	}
	lastSeen := fmt.Sprintf("2025-%02d-%02dT%02d:%02d:%02d.%03dZ", 1+i%12, 1+i%28, i%24, i%60, (i*7)%60, i%1000)
	if version == 2 {
		plan, seats, mrr, health = plans[(i+1)%5], seats+1+i%50, mrr+float64(1+i%100_000)/100, float64((i*13)%1000)/1000
		lastSeen = fmt.Sprintf("2026-%02d-%02dT%02d:%02d:%02d.%03dZ", 1+i%12, 1+i%28, i%24, i%60, (i*7)%60, i%1000)
		if churned == `null` {
			churned = `"2026-02-11"`
		} else {
			churned = `null`
		}
	}
	md := fmt.Sprintf(`{"name":"Acme Robotics %05d Inc.","website":"https://www.acme-robotics-%05d.example.com","plan":%q,"industry":"Financial Services","country":"United Kingdom","seats":%d,"mrr":%.2f,"arr":%d,"health_score":%.3f,"is_paying":%v,"on_trial":%v,"churned_at":%s,"created_at":"2017-06-03","last_seen_at":%q}`,
		i, i, plan, seats, mrr, int(mrr*12), health, plan != "free", i%8 == 0, churned, lastSeen)
	return fmt.Appendf(nil, `{"company_id":"bench-%05d","metadata":%s}`, i, md)
}

// benchRecords validates n of benchCompany's records of version.
func benchRecords(b *testing.B, n, version int) []bulkid.Record {
	recs := make([]bulkid.Record, n)
	for i := range recs {
		raw := benchCompany(i, version)
		r, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, raw)
		if rerr != nil {
			b.Fatal(rerr.Message)
		}
		r.Seq, r.Pos, r.Raw = i, i, raw
		recs[i] = r
	}
	return recs
}

// BenchmarkValidateBench validates 1,000 of the bench's 14-key company
// records, as the worker's validation step does.
func BenchmarkValidateBench(b *testing.B) {
	raws := make([][]byte, 1000)
	for i := range raws {
		raws[i] = benchCompany(i, 1)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, raw := range raws {
			if _, rerr := bulkid.ValidateRecordOpts(bulkid.JobCompanies, raw, bulkid.ValidateOptions{}); rerr != nil {
				b.Fatal(rerr.Message)
			}
		}
	}
}

// BenchmarkApplyBench merges 1,000 of the bench's records into no stored
// profiles (new), and version 2 into the version 1 profiles as each store
// writes them back (merge: SQLite's compact JSON; merge-pg: PostgreSQL's
// jsonb text, with spaces), and version 1 again into them (unchanged).
func BenchmarkApplyBench(b *testing.B) {
	v1, v2 := benchRecords(b, 1000, 1), benchRecords(b, 1000, 2)
	compact, spaced := map[string]bulkid.StoredProfile{}, map[string]bulkid.StoredProfile{}
	for _, r := range v1 {
		compact[r.ID] = bulkid.StoredProfile{Metadata: r.Metadata}
		spaced[r.ID] = bulkid.StoredProfile{Metadata: []byte(strings.ReplaceAll(strings.ReplaceAll(string(r.Metadata), `,"`, `, "`), `":`, `": `))}
	}
	for _, tc := range []struct {
		name   string
		recs   []bulkid.Record
		stored map[string]bulkid.StoredProfile
	}{{"new", v1, nil}, {"merge", v2, compact}, {"merge-pg", v2, spaced}, {"unchanged", v1, compact}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bulkid.ApplyRecords(tc.recs, nil, tc.stored, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
