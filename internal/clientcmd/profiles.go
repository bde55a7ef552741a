package clientcmd

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/bulkid/bulkid/client"
)

// The profile reads are bulkid extensions: the hosted service has no such
// endpoints.

const companiesUsage = `Usage:
  bulkid companies get COMPANY_ID                    one company, visible or not
  bulkid companies list [--all] [--limit N] [--cursor COMPANY_ID] [--all-pages]
                                                     companies by id: those with users, or --all

Each takes --url (BULKID_URL, default http://127.0.0.1:8080) and --token
(BULKID_TOKEN). Run "bulkid companies COMMAND --help" for its flags.

Example:
  bulkid companies list --all --url http://127.0.0.1:8080 --token $KEY
`

const usersUsage = `Usage:
  bulkid users get USER_ID                           one user

It takes --url (BULKID_URL, default http://127.0.0.1:8080) and --token
(BULKID_TOKEN). Run "bulkid users get --help" for its flags.

Example:
  bulkid users get u1 --url http://127.0.0.1:8080 --token $KEY
`

// groupHelp handles a command group given no subcommand (an error, which
// says what to give) or asking for help: ok is true when it did.
func groupHelp(args []string, usage, what string, stdout, stderr io.Writer) (ok bool, err error) {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return true, errors.New(what)
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return true, nil
	}
	return false, nil
}

// Companies is "bulkid companies get|list": it reads stored companies.
func Companies(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if ok, err := groupHelp(args, companiesUsage, "companies: say get or list", stdout, stderr); ok {
		return err
	}
	switch args[0] {
	case "get":
		return helpOK(companiesGet(ctx, args[1:], getenv, stdout, stderr))
	case "list":
		return helpOK(companiesList(ctx, args[1:], getenv, stdout, stderr))
	default:
		fmt.Fprint(stderr, companiesUsage)
		return fmt.Errorf("companies: unknown subcommand %q (get, list)", args[0])
	}
}

func companiesGet(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return getCommand(ctx, args, getenv, stdout, stderr, "bulkid companies get COMPANY_ID [flags]",
		"bulkid companies get acme --url http://127.0.0.1:8080 --token $KEY", "COMPANY_ID", (*client.Client).Company)
}

func companiesList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	rc := newReadCommand("bulkid companies list [flags]",
		"bulkid companies list --all --limit 100 --all-pages --url http://127.0.0.1:8080 --token $KEY", stderr)
	all := rc.fs.Bool("all", false, "every company, not only those the dashboard shows (with at least one user)")
	limit := rc.fs.Int("limit", 0, "companies per page, at most 100 (default: the server's, 50)")
	cursor := rc.fs.String("cursor", "", "start after this company id, the last of the previous page")
	allPages := rc.fs.Bool("all-pages", false, "follow the pages to the end and print every company")
	if err := rc.parse(args, getenv, 0, ""); err != nil {
		return err
	}
	if *limit < 0 {
		return errors.New("--limit must be positive")
	}
	c := rc.client(stderr, readAttempts)
	out := []client.CompanyProfile{}
	opts := client.ListOptions{Limit: *limit, Cursor: *cursor}
	for {
		cs, next, err := c.ListCompanies(ctx, opts, *all)
		if err != nil {
			return err
		}
		out = append(out, cs...)
		if next == "" {
			break
		}
		if !*allPages {
			flags := ""
			if *all {
				flags = " --all"
			}
			fmt.Fprintf(stderr, "More companies: bulkid companies list%s --cursor %q (or --all-pages)\n", flags, next)
			break
		}
		if next == opts.Cursor {
			return fmt.Errorf("companies list: the server gave the same page twice (cursor %q)", next)
		}
		opts.Cursor = next
	}
	return printJSON(stdout, out)
}

// Users is "bulkid users get": it reads a stored user.
func Users(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if ok, err := groupHelp(args, usersUsage, "users: say get", stdout, stderr); ok {
		return err
	}
	switch args[0] {
	case "get":
		return helpOK(usersGet(ctx, args[1:], getenv, stdout, stderr))
	default:
		fmt.Fprint(stderr, usersUsage)
		return fmt.Errorf("users: unknown subcommand %q (get)", args[0])
	}
}

func usersGet(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return getCommand(ctx, args, getenv, stdout, stderr, "bulkid users get USER_ID [flags]",
		"bulkid users get u1 --url http://127.0.0.1:8080 --token $KEY", "USER_ID", (*client.Client).User)
}
