package main

import (
	"context"
	"fmt"
	"io"

	"github.com/bulkid/bulkid/internal/cliflag"
)

// runMigrate brings the store's schema up to date, as serve does at start,
// for deployments that migrate as a step of their own.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cliflag.NewFlagSet("bulkid migrate [flags]", "bulkid migrate --database-url postgres://bulkid@db:5432/bulkid", stderr)
	var sf storeFlags
	sf.register(fs)
	pos, err := cliflag.Parse(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("migrate: unexpected argument %q", pos[0])
	}
	store, err := sf.open(ctx, quietLogger(stderr))
	if err != nil {
		return err
	}
	defer store.Close()
	version, err := store.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "The %s schema is at version %d.\n", sf.name(), version.Applied)
	return nil
}
