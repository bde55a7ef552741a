package ingest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/ingest"
)

// payload is a body of n companies with 14 metadata keys of mixed types,
// about 380 bytes each, like the benchmark's.
func payload(n int) []byte {
	recs := make([]map[string]any, n)
	for i := range recs {
		recs[i] = map[string]any{"company_id": fmt.Sprintf("co-%06d", i), "metadata": map[string]any{
			"name": fmt.Sprintf("Company %d", i), "plan": "enterprise", "seats": i % 5000, "arr": float64(i) * 10.25,
			"is_trial": i%3 == 0, "region": "eu-west", "renewal": "2026-03-31T00:00:00Z", "nps": i%200 - 100,
			"industry": "Software & Services", "owner": "someone@example.com", "health": 0.87, "churn_risk": nil,
			"employees": i * 7, "website": fmt.Sprintf("https://c%d.example.com/about", i),
		}}
	}
	b, _ := json.Marshal(map[string]any{"companies": recs})
	return b
}

func BenchmarkReadJSON(b *testing.B) {
	body := payload(bulkid.MaxRecords)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ingest.ReadJSON(bytes.NewReader(body), "companies", ingest.DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadNDJSON(b *testing.B) {
	var nd bytes.Buffer
	body := payload(bulkid.MaxRecords)
	var doc struct{ Companies []json.RawMessage }
	json.Unmarshal(body, &doc)
	for _, r := range doc.Companies {
		nd.Write(r)
		nd.WriteByte('\n')
	}
	b.SetBytes(int64(nd.Len()))
	for b.Loop() {
		if _, err := ingest.ReadNDJSON(bytes.NewReader(nd.Bytes()), ingest.DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateRecords(b *testing.B) {
	recs, err := ingest.ReadJSON(bytes.NewReader(payload(bulkid.MaxRecords)), "companies", ingest.DefaultLimits)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		for _, r := range recs {
			if _, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, r.Raw); rerr != nil {
				b.Fatal(rerr)
			}
		}
	}
}
