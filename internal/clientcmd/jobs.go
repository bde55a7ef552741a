package clientcmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/bulkid/bulkid/client"
	"github.com/bulkid/bulkid/internal/cliflag"
)

// The commands in this file and profiles.go read a server through the
// SDK (package client): --url and --token, or BULKID_URL and BULKID_TOKEN.
// Objects are printed as indented JSON on standard output, listings as a
// JSON array; messages go to standard error.

const jobsUsage = `Usage:
  bulkid jobs list [--limit N] [--cursor JOB_ID] [--all-pages]   the app's jobs, newest first
  bulkid jobs get JOB_ID                                         one job
  bulkid jobs wait JOB_ID [--interval 1s]                        poll until the job ends
  bulkid jobs errors JOB_ID                                      every failed record, as NDJSON
  bulkid jobs cancel JOB_ID                                      cancel an unfinished job (a bulkid extension)

Each takes --url (BULKID_URL, default http://127.0.0.1:8080) and --token
(BULKID_TOKEN). Run "bulkid jobs COMMAND --help" for its flags.

Example:
  bulkid jobs wait 3cd1a326-812c-432c-bbf2-e5dba4477e31 --url http://127.0.0.1:8080 --token $KEY
`

// readCommand is the parsed command line of a command that reads the
// server.
type readCommand struct {
	fs  *flag.FlagSet
	cf  clientFlags
	pos []string
}

// newReadCommand returns a flag set named name, with an example and the
// client flags; the caller adds its own flags, then calls parse.
func newReadCommand(name, example string, stderr io.Writer) *readCommand {
	rc := &readCommand{fs: cliflag.NewFlagSet(name, example, stderr)}
	rc.cf.register(rc.fs)
	return rc
}

// parse parses args and checks that exactly nargs positional arguments
// (named what) were given. --help is not an error: it returns errHelpShown.
func (rc *readCommand) parse(args []string, getenv func(string) string, nargs int, what string) error {
	pos, err := cliflag.Parse(rc.fs, args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return errHelpShown
	}
	if err != nil {
		return err
	}
	if len(pos) != nargs || (nargs == 1 && pos[0] == "") {
		rc.fs.Usage()
		if nargs == 0 {
			return fmt.Errorf("%s takes no arguments, got %q", rc.fs.Name(), pos)
		}
		return fmt.Errorf("give exactly one %s", what)
	}
	rc.pos = pos
	if rc.cf.token == "" {
		return errors.New("no API key: give --token KEY or set BULKID_TOKEN")
	}
	return nil
}

// client returns the SDK client of the flags. Reads are retried a few
// times only, so a command against a server that is down fails in seconds;
// each retry is reported on stderr.
func (rc *readCommand) client(stderr io.Writer, attempts int) *client.Client {
	c := rc.cf.client()
	c.Retry.MaxAttempts = attempts
	c.Retry.OnRetry = func(attempt int, wait time.Duration, err error) {
		fmt.Fprintf(stderr, "bulkid: %v; retrying in %s\n", err, wait.Round(10*time.Millisecond))
	}
	return c
}

// getCommand runs a command that reads one object: its one positional
// argument (named what) is the id given to get, and the object is printed
// as JSON.
func getCommand[T any](ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer,
	name, example, what string, get func(*client.Client, context.Context, string) (T, error)) error {
	rc := newReadCommand(name, example, stderr)
	if err := rc.parse(args, getenv, 1, what); err != nil {
		return err
	}
	v, err := get(rc.client(stderr, readAttempts), ctx, rc.pos[0])
	if err != nil {
		return err
	}
	return printJSON(stdout, v)
}

// errHelpShown reports that --help printed the usage: the command exits 0.
var errHelpShown = errors.New("help shown")

// helpOK turns errHelpShown into success.
func helpOK(err error) error {
	if errors.Is(err, errHelpShown) {
		return nil
	}
	return err
}

// printJSON writes v as indented JSON, without HTML escaping.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// readAttempts is how often a read is tried before giving up.
const readAttempts = 4

// Jobs is "bulkid jobs list|get|wait|errors|cancel": it reads (and cancels) the app's
// jobs on a server.
func Jobs(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if ok, err := groupHelp(args, jobsUsage, "jobs: say list, get, wait, errors or cancel", stdout, stderr); ok {
		return err
	}
	switch args[0] {
	case "list":
		return helpOK(jobsList(ctx, args[1:], getenv, stdout, stderr))
	case "get":
		return helpOK(jobsGet(ctx, args[1:], getenv, stdout, stderr))
	case "wait":
		return helpOK(jobsWait(ctx, args[1:], getenv, stdout, stderr))
	case "errors":
		return helpOK(jobsErrors(ctx, args[1:], getenv, stdout, stderr))
	case "cancel":
		return helpOK(jobsCancel(ctx, args[1:], getenv, stdout, stderr))
	default:
		fmt.Fprint(stderr, jobsUsage)
		return fmt.Errorf("jobs: unknown subcommand %q (list, get, wait, errors, cancel)", args[0])
	}
}

func jobsList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	rc := newReadCommand("bulkid jobs list [flags]",
		"bulkid jobs list --limit 10 --url http://127.0.0.1:8080 --token $KEY", stderr)
	limit := rc.fs.Int("limit", 0, "jobs per page, at most 100 (default: the server's, 50)")
	cursor := rc.fs.String("cursor", "", "start after this job, the last of the previous page")
	allPages := rc.fs.Bool("all-pages", false, "follow the pages to the end and print every job")
	if err := rc.parse(args, getenv, 0, ""); err != nil {
		return err
	}
	if *limit < 0 {
		return errors.New("--limit must be positive")
	}
	c := rc.client(stderr, readAttempts)
	all := []client.Job{}
	opts := client.ListOptions{Limit: *limit, Cursor: *cursor}
	for {
		jobs, next, err := c.ListJobs(ctx, opts)
		if err != nil {
			return err
		}
		all = append(all, jobs...)
		if next == "" {
			break
		}
		if !*allPages {
			fmt.Fprintf(stderr, "More jobs: bulkid jobs list --cursor %s (or --all-pages)\n", next)
			break
		}
		if next == opts.Cursor {
			return fmt.Errorf("jobs list: the server gave the same page twice (cursor %q)", next)
		}
		opts.Cursor = next
	}
	return printJSON(stdout, all)
}

func jobsGet(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return getCommand(ctx, args, getenv, stdout, stderr, "bulkid jobs get JOB_ID [flags]",
		"bulkid jobs get 3cd1a326-812c-432c-bbf2-e5dba4477e31 --url http://127.0.0.1:8080 --token $KEY", "JOB_ID", (*client.Client).Job)
}

// jobsWait polls a job until it ends, printing a line on stderr whenever
// its status or counts change, then the final job on stdout. It fails if
// the job failed, was canceled or has failed rows.
func jobsWait(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	rc := newReadCommand("bulkid jobs wait JOB_ID [flags]",
		"bulkid jobs wait 3cd1a326-812c-432c-bbf2-e5dba4477e31 --interval 2s --url http://127.0.0.1:8080 --token $KEY", stderr)
	interval := rc.fs.Duration("interval", time.Second, "time between polls")
	if err := rc.parse(args, getenv, 1, "JOB_ID"); err != nil {
		return err
	}
	if *interval <= 0 {
		return errors.New("--interval must be positive")
	}
	id := rc.pos[0]
	c := rc.client(stderr, 8) // a poll survives a short server restart
	last := ""
	job, err := c.WaitJob(ctx, id, *interval, func(j *client.Job) {
		line := fmt.Sprintf("job %s: %s, %d of %d rows applied, %d failed", j.JobID, j.Status, j.CompletedRows, j.TotalRows, j.FailedRows)
		if line == last {
			return
		}
		last = line
		if j.EstimatedCompletionTime != nil && !j.Done() {
			if left := time.Until(*j.EstimatedCompletionTime); left > 0 {
				line += fmt.Sprintf(", about %s left", left.Round(time.Second))
			}
		}
		fmt.Fprintln(stderr, line)
	})
	if err != nil {
		return err
	}
	if err := printJSON(stdout, job); err != nil {
		return err
	}
	switch {
	case job.Status == "failed":
		reason := "no reason given"
		if job.FailureReason != nil {
			reason = *job.FailureReason
		}
		return fmt.Errorf("job %s failed: %s", job.JobID, reason)
	case job.Status == "canceled":
		return fmt.Errorf("job %s was canceled with %d of %d rows applied", job.JobID, job.CompletedRows, job.TotalRows)
	case job.FailedRows > 0:
		return fmt.Errorf("job %s completed, but %d of %d rows failed; \"bulkid jobs errors %s\" lists them", job.JobID, job.FailedRows, job.TotalRows, job.JobID)
	}
	return nil
}

// jobsErrors writes every failed record of a job as NDJSON, each with its
// position, id, reason and the record as sent.
func jobsErrors(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	rc := newReadCommand("bulkid jobs errors JOB_ID [flags]",
		"bulkid jobs errors 3cd1a326-812c-432c-bbf2-e5dba4477e31 --url http://127.0.0.1:8080 --token $KEY > failed.ndjson", stderr)
	if err := rc.parse(args, getenv, 1, "JOB_ID"); err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	c := rc.client(stderr, readAttempts)
	err := c.JobErrors(ctx, rc.pos[0], func(e client.RecordError) error {
		return enc.Encode(e)
	})
	if client.IsCode(err, "not_found") {
		// The job may exist on a server without this endpoint (the hosted
		// service): say so rather than that the job is unknown.
		if _, jerr := c.Job(ctx, rc.pos[0]); jerr == nil {
			return fmt.Errorf("%w: the job exists, but this server has no errors endpoint (a bulkid extension); \"bulkid jobs get %s\" shows its first errors", err, rc.pos[0])
		}
	}
	return err
}

// jobsCancel cancels a job (POST /v1/background_jobs/{job_id}/cancel,
// a bulkid extension) and prints the job as the server answered: a
// queued job is canceled at once, a running one at its next batch
// boundary ("bulkid jobs wait" follows it there). A finished job is an
// error (409 job_finished).
func jobsCancel(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	rc := newReadCommand("bulkid jobs cancel JOB_ID [flags]",
		"bulkid jobs cancel 3cd1a326-812c-432c-bbf2-e5dba4477e31 --url http://127.0.0.1:8080 --token $KEY", stderr)
	if err := rc.parse(args, getenv, 1, "JOB_ID"); err != nil {
		return err
	}
	id := rc.pos[0]
	c := rc.client(stderr, readAttempts) // a cancel is idempotent: a retry is safe
	job, err := c.CancelJob(ctx, id)
	switch {
	case client.IsCode(err, "job_finished"):
		return fmt.Errorf("%w: job %s has finished, so there is nothing to cancel", err, id)
	case err != nil:
		return err
	}
	if err := printJSON(stdout, job); err != nil {
		return err
	}
	if job.Status == "canceled" {
		fmt.Fprintf(stderr, "job %s is canceled, with %d of %d rows applied\n", id, job.CompletedRows, job.TotalRows)
	} else {
		fmt.Fprintf(stderr, "job %s: cancel accepted; it stops at its next batch boundary (\"bulkid jobs wait %s\" follows it)\n", id, id)
	}
	return nil
}
