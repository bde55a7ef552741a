package sqlite

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
)

// TestIdempotencyKeysPruned: each key stored deletes at most
// pruneKeysBatch expired keys, of any app, and never one that has not
// expired (the conformance suite cannot see the rows that are gone).
func TestIdempotencyKeysPruned(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	db, err := Open(t.Context(), Config{Path: filepath.Join(t.TempDir(), "db"), Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	old, err := db.CreateApp(ctx, "old", []byte("k1"))
	if err != nil {
		t.Fatal(err)
	}
	const expired = 2*pruneKeysBatch + 50
	// Keys expired a second to expired seconds ago, and one a second short of expiring.
	if _, err := db.write.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO idempotency_keys (app_id, key, fingerprint, job_id, created_at)
		SELECT ?, 'old-' || i, x'00', 'j', ? - i * 1000 FROM n`, expired, old.ID, ms(now.Add(-bulkid.IdempotencyKeyTTL))); err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.ExecContext(ctx, `INSERT INTO idempotency_keys (app_id, key, fingerprint, job_id, created_at) VALUES (?, 'young', x'00', 'j', ?)`,
		old.ID, ms(now.Add(-bulkid.IdempotencyKeyTTL+time.Second))); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var n int
		if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM idempotency_keys`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	want := expired + 1
	for i := range 3 {
		app, err := db.CreateApp(ctx, string(rune('a'+i)), []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		job := &bulkid.Job{ID: string(rune('a' + i)), AppID: app.ID, Type: bulkid.JobUsers, Source: bulkid.SourceNDJSON}
		in := recordpack.FromRecords([]bulkid.RawRecord{{Seq: 0, Pos: 1, Raw: []byte(`{"user_id":"u"}`)}})
		if _, err := db.CreateJobWithKey(ctx, job, in, bulkid.IdempotencyKey{Key: "k", Fingerprint: []byte("f")}); err != nil {
			t.Fatal(err)
		}
		want += 1 - min(pruneKeysBatch, max(0, expired-i*pruneKeysBatch))
		if got := count(); got != want {
			t.Fatalf("after key %d: %d keys stored, want %d", i+1, got, want)
		}
	}
	if _, err := db.IdempotencyKey(ctx, old.ID, "young"); err != nil {
		t.Errorf("the key that has not expired: %v", err)
	}
}
