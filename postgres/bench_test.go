package postgres_test

import (
	"log/slog"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/pgtest"
	"github.com/bulkid/bulkid/postgres"
	"github.com/bulkid/bulkid/storetest"
)

func benchStore(b *testing.B) bulkid.Store {
	db, err := postgres.Open(b.Context(), postgres.Config{URL: pgtest.URL(b), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func BenchmarkCreateJob(b *testing.B)   { storetest.BenchmarkCreateJob(b, benchStore) }
func BenchmarkApplyBatch(b *testing.B)  { storetest.BenchmarkApplyBatch(b, benchStore) }
func BenchmarkListJobs(b *testing.B)    { storetest.BenchmarkListJobs(b, benchStore) }
func BenchmarkTrack(b *testing.B)       { storetest.BenchmarkTrack(b, benchStore) }
func BenchmarkDeleteUsers(b *testing.B) { storetest.BenchmarkDeleteUsers(b, benchStore) }
