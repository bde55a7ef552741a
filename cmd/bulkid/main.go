// Command bulkid is the bulk profile sync service: its server, and the
// commands that manage it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/bulkid/bulkid/internal/bench"
	"github.com/bulkid/bulkid/internal/clientcmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) { // --help printed the usage: that is success
		err = nil
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bulkid:", err)
		os.Exit(1)
	}
}

const usage = `bulkid: a self-hostable Bulk Identify service.

Usage:
  bulkid serve [flags]          run the HTTP API and the job workers
  bulkid apps create NAME       create an app and print its API key
  bulkid apps list              list apps
  bulkid apps rotate-key|revoke-key NAME|--id ID
                                replace or revoke an app's API key
  bulkid migrate                bring the store's schema up to date
  bulkid push companies|users FILE...
                                validate and sync CSV, NDJSON or JSON files
  bulkid bench [flags]          benchmark the server on loopback (docs/BENCHMARKS.md)
  bulkid jobs list|get|wait|errors|cancel
                                read a server's jobs (--url, --token)
  bulkid companies get|list     read stored companies
  bulkid users get              read a stored user

Run "bulkid COMMAND --help" for a command's flags. Every flag can also be
set with the environment variable BULKID_<FLAG>, e.g. BULKID_DATA_DIR.
Without --database-url the store is SQLite in --data-dir; with a
postgres:// URL it is PostgreSQL, which several processes can share.
`

// run is the whole program, with the OS passed in so tests can run it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "apps":
		return runApps(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "push":
		return clientcmd.Push(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "jobs":
		return clientcmd.Jobs(ctx, args[1:], getenv, stdout, stderr)
	case "companies":
		return clientcmd.Companies(ctx, args[1:], getenv, stdout, stderr)
	case "users":
		return clientcmd.Users(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		return bench.Run(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
