package worker_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/sqlite"
	"github.com/bulkid/bulkid/worker"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestPrunerRound: a round removes every finished job past the job
// retention (in transactions of Batch rows), keeps newer jobs, profiles
// and, with no event retention, events; with one, old events go too.
func TestPrunerRound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "bulkid.db"), Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	app, err := st.CreateApp(ctx, "a", bulkid.HashAPIKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := worker.Config{Store: st, PollInterval: 10 * time.Millisecond}
	var old []string
	for i := range 5 {
		j := runUntil(t, cfg, st, app, submit(t, st, app, 3).ID, jobTimeout)
		if j.Status != bulkid.StatusCompleted {
			t.Fatalf("job %d: %s", i, j.Status)
		}
		old = append(old, j.ID)
	}
	if err := st.Track(ctx, app.ID, &bulkid.Event{UserID: "u1", Name: "old", ReceivedAt: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(20 * 24 * time.Hour)
	recent := runUntil(t, cfg, st, app, submit(t, st, app, 1).ID, jobTimeout)
	clock.Advance(15 * 24 * time.Hour) // the old jobs ended 35 days ago, the recent one 15

	var logs syncLog
	p, err := worker.NewPruner(worker.PruneConfig{Store: st, JobRetention: 30 * 24 * time.Hour, Batch: 2, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	p.Round(ctx)
	for _, id := range old {
		if _, err := st.Job(ctx, app.ID, id); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
			t.Errorf("old job %s after the round: %v, want it pruned", id, err)
		}
	}
	if _, err := st.Job(ctx, app.ID, recent.ID); err != nil {
		t.Errorf("recent job after the round: %v", err)
	}
	if _, err := st.Company(ctx, app.ID, "c0"); err != nil {
		t.Errorf("company c0 after the round: %v; profiles are never pruned", err)
	}
	if totals, err := st.EventTotals(ctx, app.ID); err != nil || len(totals) != 1 {
		t.Errorf("event totals with no event retention: %v, %v; want the event kept", totals, err)
	}
	if got := logs.String(); !strings.Contains(got, "msg=pruned what=jobs rows=5") {
		t.Errorf("log of the round: %q, want the 5 jobs pruned", got)
	}

	p, err = worker.NewPruner(worker.PruneConfig{Store: st, EventRetention: 24 * time.Hour, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	p.Round(ctx)
	if totals, err := st.EventTotals(ctx, app.ID); err != nil || len(totals) != 0 {
		t.Errorf("event totals after an event round: %v, %v; want none", totals, err)
	}
	if _, err := st.Job(ctx, app.ID, recent.ID); err != nil {
		t.Errorf("recent job after an event round with no job retention: %v", err)
	}
	if _, err := worker.NewPruner(worker.PruneConfig{Store: st, JobRetention: -time.Hour}); err == nil {
		t.Error("NewPruner with a negative retention: no error")
	}
}

// syncLog is a log that tests read while the code under test writes it.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *syncLog) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }
