package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/postgres"
	"github.com/bulkid/bulkid/sqlite"
)

// storeFlags are the flags that choose and locate the store.
type storeFlags struct {
	dataDir     string
	databaseURL string
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dataDir, "data-dir", "./data", "directory of the embedded SQLite database (when no --database-url is given)")
	fs.StringVar(&f.databaseURL, "database-url", "", "a postgres:// URL: use PostgreSQL instead of the embedded SQLite store")
}

// open opens the store the flags name, applying its migrations.
func (f *storeFlags) open(ctx context.Context, log *slog.Logger) (bulkid.Store, error) {
	if f.databaseURL == "" {
		db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(f.dataDir, "bulkid.db"), Logger: log})
		if err != nil {
			if free, ok := diskFree(f.dataDir); ok && free < 1<<20 {
				// SQLite reports a full disk at open as an I/O error (it
				// cannot grow its shared-memory file): name the cause.
				err = fmt.Errorf("%w: the disk holding --data-dir %s is full (%d bytes free)", err, f.dataDir, free)
			}
			return nil, err
		}
		return db, nil
	}
	if !strings.HasPrefix(f.databaseURL, "postgres://") && !strings.HasPrefix(f.databaseURL, "postgresql://") {
		return nil, fmt.Errorf("--database-url must be a postgres:// or postgresql:// URL")
	}
	return postgres.Open(ctx, postgres.Config{URL: f.databaseURL, Logger: log})
}

// name says which store the flags choose, for logs.
func (f *storeFlags) name() string {
	if f.databaseURL != "" {
		return "postgres"
	}
	return "sqlite:" + filepath.Join(f.dataDir, "bulkid.db")
}
