package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/cliflag"
)

func runApps(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("apps: say create NAME, list, rotate-key NAME|--id ID or revoke-key NAME|--id ID")
	}
	var sf storeFlags
	switch args[0] {
	case "create":
		fs := cliflag.NewFlagSet("bulkid apps create NAME [flags]", "bulkid apps create acme --data-dir ./data", stderr)
		sf.register(fs)
		region := fs.String("region", "", "the region of the app, whose key names it: the store's region (which a store without one takes), as serve --region (default: the store's region, or none)")
		pos, err := cliflag.Parse(fs, args[1:], getenv)
		if err != nil {
			return err
		}
		if len(pos) != 1 || pos[0] == "" {
			fs.Usage()
			return fmt.Errorf("apps create: give exactly one NAME")
		}
		if err := checkAppName(pos[0]); err != nil {
			return fmt.Errorf("apps create: %w", err)
		}
		store, err := sf.open(ctx, quietLogger(stderr))
		if err != nil {
			return err
		}
		defer store.Close()
		if *region, err = storeRegion(ctx, store, *region); err != nil {
			return fmt.Errorf("apps create: %w", err)
		}
		key := bulkid.NewRegionAPIKey(*region)
		app, err := store.CreateApp(ctx, pos[0], bulkid.HashAPIKey(key))
		if bulkid.ErrorCode(err) == bulkid.ECONFLICT {
			return fmt.Errorf("apps create: %s", bulkid.ErrorMessage(err))
		} else if err != nil {
			return err
		}
		// The key is the last word: scripts take it with awk '{print $NF}'.
		if *region != "" {
			fmt.Fprintf(stdout, "Created app %q (id %d) in region %s. Its API key, shown only now: %s\n", app.Name, app.ID, *region, key)
		} else {
			fmt.Fprintf(stdout, "Created app %q (id %d). Its API key, shown only now: %s\n", app.Name, app.ID, key)
		}
		return nil
	case "rotate-key", "revoke-key":
		rotate := args[0] == "rotate-key"
		example := "bulkid apps rotate-key acme --data-dir ./data"
		if !rotate {
			example = "bulkid apps revoke-key --id 2 --data-dir ./data"
		}
		fs := cliflag.NewFlagSet("bulkid apps "+args[0]+" NAME | --id ID [flags]", example, stderr)
		sf.register(fs)
		id := fs.Int64("id", 0, "choose the app by its id (see bulkid apps list) instead of by NAME; only from the command line, never from BULKID_ID")
		pos, err := cliflag.Parse(fs, args[1:], func(k string) string {
			if k == "BULKID_ID" {
				return "" // choosing whose key to replace is never left to the environment
			}
			return getenv(k)
		})
		if err != nil {
			return err
		}
		if len(pos) > 1 || len(pos) == 1 && pos[0] == "" || len(pos) == 1 && *id != 0 || len(pos) == 0 && *id <= 0 {
			fs.Usage()
			return fmt.Errorf("apps %s: give the app's NAME or --id ID, one of them", args[0])
		}
		store, err := sf.open(ctx, quietLogger(stderr))
		if err != nil {
			return err
		}
		defer store.Close()
		ref := ""
		if len(pos) == 1 {
			ref = pos[0]
		}
		app, err := findApp(ctx, store, ref, *id)
		if err != nil {
			return fmt.Errorf("apps %s: %w", args[0], err)
		}
		// Revoking is replacing the key with one nobody is ever shown. A
		// new key names the store's region, as apps create's do.
		region, err := store.Region(ctx)
		if err != nil {
			return err
		}
		key := bulkid.NewRegionAPIKey(region)
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
		fs := cliflag.NewFlagSet("bulkid apps list [flags]", "bulkid apps list --data-dir ./data", stderr)
		sf.register(fs)
		if _, err := cliflag.Parse(fs, args[1:], getenv); err != nil {
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
		return fmt.Errorf("apps: unknown subcommand %q (create, list, rotate-key, revoke-key)", args[0])
	}
}

func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// findApp finds the app named name, or if name is "" the app whose id is
// id. A name is never read as an id, nor an id as a name: "3" is the app
// named "3", and --id 3 the app with id 3.
func findApp(ctx context.Context, store bulkid.Store, name string, id int64) (*bulkid.App, error) {
	apps, err := store.ListApps(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range apps {
		if name == "" && a.ID == id || name != "" && a.Name == name {
			return a, nil
		}
	}
	switch {
	case name == "":
		return nil, fmt.Errorf("no app has the id %d (see bulkid apps list)", id)
	case allDigits(name):
		return nil, fmt.Errorf("no app is named %q; to choose the app whose id is %s, give --id %s (see bulkid apps list)", name, name, name)
	default:
		return nil, fmt.Errorf("no app is named %q (see bulkid apps list)", name)
	}
}

// maxAppName is the longest app name, in bytes.
const maxAppName = 100

// checkAppName refuses names that could be mistaken: all digits (an id),
// blank at either end, with control characters, or starting with '-' (a
// flag).
func checkAppName(name string) error {
	switch {
	case allDigits(name):
		return fmt.Errorf("the name %q is all digits, and could be mistaken for an app's id; choose a name with a letter in it", name)
	case len(name) > maxAppName:
		return fmt.Errorf("the name is %d bytes long; at most %d are allowed", len(name), maxAppName)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("the name %q begins or ends with white space; choose one without", name)
	case strings.HasPrefix(name, "-"):
		return fmt.Errorf("the name %q begins with '-', as a flag does; choose another", name)
	case !utf8.ValidString(name):
		// PostgreSQL's text refuses it; SQLite would keep it. Neither does.
		return fmt.Errorf("the name %q is not valid UTF-8; name the app in UTF-8 text", name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("the name %q has control characters; choose a printable name", name)
	}
	return nil
}

func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
