package worker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
	"github.com/bulkid/bulkid/sqlite"
	"github.com/bulkid/bulkid/worker"
)

// BenchmarkJob10k runs a job of 10,000 companies end to end on SQLite:
// validation, processing in unthrottled batches and the refresh.
func BenchmarkJob10k(b *testing.B) {
	recs := make([]bulkid.RawRecord, 10000)
	for i := range recs {
		recs[i] = bulkid.RawRecord{Seq: i, Pos: i, Raw: fmt.Appendf(nil, `{"company_id":"c%d","metadata":{"i":%d,"name":"company number %d","plan":"pro","active":true}}`, i, i, i)}
	}
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "bulkid.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool, err := worker.New(worker.Config{Store: st, Workers: 1, PollInterval: time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	go pool.Run(ctx)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		app, err := st.CreateApp(context.Background(), fmt.Sprintf("a%d", i), bulkid.HashAPIKey(fmt.Sprintf("k%d", i)))
		if err != nil {
			b.Fatal(err)
		}
		job := &bulkid.Job{ID: fmt.Sprintf("job-%d", i), AppID: app.ID, Type: bulkid.JobCompanies, Source: bulkid.SourceJSON}
		if err := st.CreateJob(context.Background(), job, recordpack.FromRecords(recs)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		pool.Notify()
		for {
			j, err := st.Job(context.Background(), app.ID, job.ID)
			if err != nil {
				b.Fatal(err)
			}
			if j.Status.Final() {
				if j.Status != bulkid.StatusCompleted || j.CompletedRows != len(recs) {
					b.Fatalf("job %s %d", j.Status, j.CompletedRows)
				}
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}
