package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/bulkid/bulkid"
)

func runApps(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("apps: say create NAME or list")
	}
	var sf storeFlags
	switch args[0] {
	case "create":
		fs := newFlagSet("bulkid apps create NAME [flags]", "bulkid apps create acme --data-dir ./data", stderr)
		sf.register(fs)
		pos, err := parse(fs, args[1:], getenv)
		if err != nil {
			return err
		}
		if len(pos) != 1 || pos[0] == "" {
			fs.Usage()
			return fmt.Errorf("apps create: give exactly one NAME")
		}
		store, err := sf.open(ctx, quietLogger(stderr))
		if err != nil {
			return err
		}
		defer store.Close()
		key := bulkid.NewAPIKey()
		app, err := store.CreateApp(ctx, pos[0], bulkid.HashAPIKey(key))
		if err != nil {
			return err
		}
		// The key is the last word: scripts take it with awk '{print $NF}'.
		fmt.Fprintf(stdout, "Created app %q (id %d). Its API key, shown only now: %s\n", app.Name, app.ID, key)
		return nil
	case "list":
		fs := newFlagSet("bulkid apps list [flags]", "bulkid apps list --data-dir ./data", stderr)
		sf.register(fs)
		if _, err := parse(fs, args[1:], getenv); err != nil {
			return err
		}
		store, err := sf.open(ctx, quietLogger(stderr))
		if err != nil {
			return err
		}
		defer store.Close()
		apps, err := store.ListApps(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCREATED")
		for _, a := range apps {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", a.ID, a.Name, a.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	default:
		return fmt.Errorf("apps: unknown subcommand %q (create, list)", args[0])
	}
}

func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
