package main

import (
	"context"
	"flag"
	"log/slog"
	"path/filepath"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/sqlite"
)

// storeFlags are the flags that choose and locate the store.
type storeFlags struct {
	dataDir string
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dataDir, "data-dir", "./data", "directory of the embedded SQLite database")
}

// open opens the store the flags name.
func (f *storeFlags) open(ctx context.Context, log *slog.Logger) (bulkid.Store, error) {
	return sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(f.dataDir, "bulkid.db"), Logger: log})
}
