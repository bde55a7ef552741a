package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
	"github.com/google/uuid"
)

// NewBenchStore opens an empty store for a benchmark.
type NewBenchStore func(b *testing.B) bulkid.Store

// benchRecords returns n raw company records with 14 metadata keys of
// mixed types; version changes the values, for the merge path.
func benchRecords(n, version int) []bulkid.RawRecord {
	recs := make([]bulkid.RawRecord, n)
	for i := range recs {
		recs[i] = bulkid.RawRecord{Seq: i, Pos: i, Raw: fmt.Appendf(nil,
			`{"company_id":"co-%06d","metadata":{"name":"Company %d","plan":"enterprise","seats":%d,"arr":%d.25,"is_trial":%v,"region":"eu-west","renewal":"2026-03-31T00:00:00Z","nps":%d,"industry":"Software","owner":"someone@example.com","health":0.87,"churn_risk":null,"employees":%d,"website":"https://c%d.example.com/v%d"}}`,
			i, i, i%5000+version, i*10, i%3 == 0, i%200-100, i*7+version, i, version)}
	}
	return recs
}

// BenchmarkCreateJob measures accepting a 10,000-record job: the job and
// its input committed.
func BenchmarkCreateJob(b *testing.B, newStore NewBenchStore) {
	s := newStore(b)
	app, err := s.CreateApp(b.Context(), "bench", []byte("bench-key"))
	if err != nil {
		b.Fatal(err)
	}
	recs := benchRecords(bulkid.MaxRecords, 0)
	for b.Loop() {
		job := &bulkid.Job{ID: uuid.NewString(), AppID: app.ID, Type: bulkid.JobCompanies, Source: bulkid.SourceJSON}
		if err := s.CreateJob(b.Context(), job, recordpack.FromRecords(recs)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		l := bulkid.Lease{JobID: job.ID, Owner: "bench", TTL: time.Hour}
		if _, _, err := s.ClaimJob(b.Context(), "bench", time.Hour); err != nil {
			b.Fatal(err)
		}
		if err := s.FinishJob(b.Context(), l, bulkid.StatusCompleted, ""); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkApplyBatch measures applying 10,000 companies in batches of
// 1,000: new (every row creates its company), merge (every row changes
// its stored company) and same (every row sends its company again as
// stored, as a re-sync of a source that did not change does).
func BenchmarkApplyBatch(b *testing.B, newStore NewBenchStore) {
	for _, name := range []string{"new", "merge", "same"} {
		b.Run(name, func(b *testing.B) {
			s := newStore(b)
			app, err := s.CreateApp(b.Context(), "bench", []byte("bench-key"))
			if err != nil {
				b.Fatal(err)
			}
			version := 0
			// job stores a job of version's records and applies it, timing
			// only the batches.
			job := func(version int) {
				raws := benchRecords(bulkid.MaxRecords, version)
				recs := make([]bulkid.Record, len(raws))
				for i, r := range raws {
					rec, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, r.Raw)
					if rerr != nil {
						b.Fatal(rerr)
					}
					recs[i] = rec
				}
				job := &bulkid.Job{ID: uuid.NewString(), AppID: app.ID, Type: bulkid.JobCompanies, Source: bulkid.SourceJSON}
				if err := s.CreateJob(b.Context(), job, recordpack.FromRecords(raws)); err != nil {
					b.Fatal(err)
				}
				if _, _, err := s.ClaimJob(b.Context(), "bench", time.Hour); err != nil {
					b.Fatal(err)
				}
				l := bulkid.Lease{JobID: job.ID, Owner: "bench", TTL: time.Hour}
				b.StartTimer()
				for from := 0; from < len(recs); from += 1000 {
					if err := s.ApplyBatch(b.Context(), l, bulkid.JobCompanies, recs[from:from+1000], from, from+1000); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if err := s.FinishJob(b.Context(), l, bulkid.StatusCompleted, ""); err != nil {
					b.Fatal(err)
				}
			}
			if name == "same" {
				b.StopTimer()
				job(1) // stored once, untimed
				b.StartTimer()
			}
			for b.Loop() {
				b.StopTimer()
				switch name {
				case "new": // a fresh app each time, so every row is new
					app, err = s.CreateApp(b.Context(), fmt.Sprintf("bench-%d", version), fmt.Appendf(nil, "key-%d", version))
					if err != nil {
						b.Fatal(err)
					}
					version++
				case "merge":
					version++
				case "same":
					version = 1
				}
				job(version)
				b.StartTimer()
			}
			b.ReportMetric(float64(bulkid.MaxRecords)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkTrack measures storing one event (POST /v1/track's store
// call): its user created on the first event of each of 1,000 users, the
// event and its name's total, in one committed transaction; one caller
// at a time (serial) and GOMAXPROCS callers (parallel).
func BenchmarkTrack(b *testing.B, newStore NewBenchStore) {
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			s := newStore(b)
			app, err := s.CreateApp(b.Context(), "bench", []byte("bench-key"))
			if err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			track := func() {
				i := n.Add(1)
				ev := &bulkid.Event{UserID: fmt.Sprintf("user-%04d", i%1000), Name: fmt.Sprintf("event %d", i%10),
					Metadata:   fmt.Appendf(nil, `{"path":"/page/%d","plan":"pro","seats":%d,"trial":false,"ref":null}`, i%50, i%7),
					ReceivedAt: time.Now()}
				if err := s.Track(b.Context(), app.ID, ev); err != nil {
					b.Error(err)
				}
			}
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						track()
					}
				})
			} else {
				for b.Loop() {
					track()
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkDeleteUsers measures deleting 10,000 users of 100 companies in
// one call (the most a request names), taken off their companies' counts.
func BenchmarkDeleteUsers(b *testing.B, newStore NewBenchStore) {
	s := newStore(b)
	app, err := s.CreateApp(b.Context(), "bench", []byte("bench-key"))
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, bulkid.MaxRecords)
	recs := make([]bulkid.Record, len(ids))
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%06d", i)
		rec, rerr := bulkid.ValidateRecord(bulkid.JobUsers, fmt.Appendf(nil,
			`{"user_id":%q,"company_id":"co-%03d","metadata":{"email":"u%d@example.com","plan":"pro","seats":%d}}`, ids[i], i%100, i, i))
		if rerr != nil {
			b.Fatal(rerr)
		}
		recs[i] = rec
	}
	for b.Loop() {
		b.StopTimer()
		for from := 0; from < len(recs); from += 1000 {
			if err := s.Identify(b.Context(), app.ID, nil, recs[from:from+1000]); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		n, err := s.DeleteUsers(b.Context(), app.ID, ids)
		if err != nil || n != len(ids) {
			b.Fatalf("DeleteUsers = %d, %v; want %d", n, err, len(ids))
		}
	}
}
