package worker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/bulkid/bulkid"
)

// PruneStore is the part of a bulkid.Store the pruner uses.
type PruneStore interface {
	bulkid.RetentionStore
}

var _ PruneStore = bulkid.Store(nil)

// PruneConfig configures a Pruner. Zero durations keep what they name.
type PruneConfig struct {
	Store PruneStore
	// JobRetention is how long a finished job (completed, failed or
	// canceled) is kept after its end, with its input and record errors;
	// 0 keeps every job. Profiles are never pruned.
	JobRetention time.Duration
	// EventRetention is how long an event is kept after it was received;
	// 0 keeps every event.
	EventRetention time.Duration
	// Interval is the time between rounds (default 1h); the first round
	// runs at start.
	Interval time.Duration
	// Batch is the most rows one transaction removes (default 1000), so
	// that no round holds a lock for long.
	Batch int
	// Pause is the wait between two transactions of a round (default
	// 10ms), which leaves the store's writers room on SQLite's one write
	// connection.
	Pause  time.Duration
	Logger *slog.Logger
}

// Pruner removes finished jobs and events past their retention, in rounds,
// each a sequence of bounded transactions. Any number of processes may run
// one on a shared store: the stores' pruning skips rows another holds.
type Pruner struct{ cfg PruneConfig }

// NewPruner returns a Pruner; call Run to start it.
func NewPruner(cfg PruneConfig) (*Pruner, error) {
	if cfg.Store == nil {
		return nil, errors.New("worker: PruneConfig.Store is required")
	}
	if cfg.JobRetention < 0 || cfg.EventRetention < 0 {
		return nil, errors.New("worker: --job-retention and --event-retention must be 0 (keep) or more")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Hour
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 1000
	}
	if cfg.Pause <= 0 {
		cfg.Pause = 10 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Pruner{cfg: cfg}, nil
}

// Run prunes a round now and then every Interval until ctx is done. It
// returns at once if nothing is to be pruned (both retentions 0).
func (p *Pruner) Run(ctx context.Context) {
	if p.cfg.JobRetention == 0 && p.cfg.EventRetention == 0 {
		return
	}
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	for {
		p.Round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Round prunes jobs, then events, until none past its retention is left
// or ctx is done. A store error ends the round (logged); the next round
// tries again.
func (p *Pruner) Round(ctx context.Context) {
	if p.cfg.JobRetention > 0 {
		p.prune(ctx, "jobs", func() (int, error) {
			return p.cfg.Store.PruneJobs(ctx, p.cfg.JobRetention, p.cfg.Batch)
		})
	}
	if p.cfg.EventRetention > 0 {
		p.prune(ctx, "events", func() (int, error) {
			return p.cfg.Store.PruneEvents(ctx, p.cfg.EventRetention, p.cfg.Batch)
		})
	}
}

func (p *Pruner) prune(ctx context.Context, what string, step func() (int, error)) {
	total := 0
	for ctx.Err() == nil {
		n, err := step()
		if err != nil {
			if ctx.Err() == nil {
				p.cfg.Logger.Warn("prune: the store failed; trying again next round", "what", what, "err", err)
			}
			break
		}
		total += n
		if n < p.cfg.Batch {
			break
		}
		t := time.NewTimer(p.cfg.Pause)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	if total > 0 {
		p.cfg.Logger.Info("pruned", "what", what, "rows", total)
	}
}
