package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/bulkid/bulkid"
)

func runApps(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("apps: say create NAME, list, rotate-key APP or revoke-key APP")
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
		if !bulkid.Storable(pos[0]) {
			// PostgreSQL's text refuses it; SQLite would keep it. Neither does.
			return fmt.Errorf("apps create: the NAME %q is not valid UTF-8; name the app in UTF-8 text", pos[0])
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
	case "rotate-key", "revoke-key":
		rotate := args[0] == "rotate-key"
		example := "bulkid apps rotate-key acme --data-dir ./data"
		if !rotate {
			example = "bulkid apps revoke-key 2 --data-dir ./data"
		}
		fs := newFlagSet("bulkid apps "+args[0]+" APP [flags]   (APP: the app's id or name)", example, stderr)
		sf.register(fs)
		pos, err := parse(fs, args[1:], getenv)
		if err != nil {
			return err
		}
		if len(pos) != 1 || pos[0] == "" {
			fs.Usage()
			return fmt.Errorf("apps %s: give exactly one APP, by id or name", args[0])
		}
		store, err := sf.open(ctx, quietLogger(stderr))
		if err != nil {
			return err
		}
		defer store.Close()
		app, err := findApp(ctx, store, pos[0])
		if err != nil {
			return err
		}
		// Revoking is replacing the key with one nobody is ever shown.
		key := bulkid.NewAPIKey()
		if err := store.SetAppKey(ctx, app.ID, bulkid.HashAPIKey(key)); err != nil {
			return err
		}
		if !rotate {
			fmt.Fprintf(stdout, "Revoked the API key of app %q (id %d); it no longer works. Run apps rotate-key to give the app a new one.\n", app.Name, app.ID)
			return nil
		}
		fmt.Fprintf(stdout, "Rotated the API key of app %q (id %d); the old key no longer works. The new key, shown only now: %s\n", app.Name, app.ID, key)
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

// findApp finds an app by id, or by name when one app has it.
func findApp(ctx context.Context, store bulkid.Store, ref string) (*bulkid.App, error) {
	apps, err := store.ListApps(ctx)
	if err != nil {
		return nil, err
	}
	var byName []*bulkid.App
	for _, a := range apps {
		if strconv.FormatInt(a.ID, 10) == ref {
			return a, nil
		}
		if a.Name == ref {
			byName = append(byName, a)
		}
	}
	switch len(byName) {
	case 0:
		return nil, fmt.Errorf("no app has the id or name %q (see bulkid apps list)", ref)
	case 1:
		return byName[0], nil
	default:
		return nil, fmt.Errorf("%d apps are named %q; give the id instead (see bulkid apps list)", len(byName), ref)
	}
}
