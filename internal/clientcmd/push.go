package clientcmd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/client"
	"github.com/bulkid/bulkid/input"
	"github.com/bulkid/bulkid/internal/cliflag"
)

// Limits of one job as push cuts them: the documented 10,000 records, and
// 50 MB read as 50,000,000 bytes so that a job fits the hosted service
// whichever way it reads "MB".
const (
	pushMaxRecords = bulkid.MaxRecords
	pushMaxBytes   = 50_000_000
)

const pushExample = `bulkid push companies --url http://127.0.0.1:8080 --token $KEY accounts.csv
  bulkid push users --skip-invalid --failed-out failed.ndjson users-*.ndjson.gz
  zcat export.ndjson.gz | bulkid push users --json -`

// pushOptions are push's flags.
type pushOptions struct {
	kind        bulkid.JobType
	skipInvalid bool
	failedOut   string
	jsonOut     bool
	format      string
	csvStrings  bool
	batchSize   int
	poll        time.Duration
	nested      bulkid.NestedRule
	keyPrefix   string // --idempotency-key: "auto", "off", or a prefix
}

// Push syncs files of companies or users: it validates every record
// locally, then sends them as jobs of at most 10,000 records and 50 MB, one
// after another, waiting out a job that is already running.
func Push(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := cliflag.NewFlagSet("bulkid push companies|users [flags] FILE...", pushExample, stderr)
	var cf clientFlags
	cf.register(fs)
	var o pushOptions
	fs.BoolVar(&o.skipInvalid, "skip-invalid", false, "send the valid records even if some are invalid (the invalid ones go to --failed-out)")
	fs.StringVar(&o.failedOut, "failed-out", "", "write every failed record, with its file, line and reason, to this NDJSON file (default: bulkid-failed-TIME.ndjson when any fails)")
	fs.BoolVar(&o.jsonOut, "json", false, "print progress as JSON events, one a line, on standard output")
	fs.StringVar(&o.format, "format", "", "ndjson, json or csv (default: from each file's name or content)")
	fs.BoolVar(&o.csvStrings, "csv-strings", false, "keep every CSV value a string instead of recognising numbers and booleans")
	fs.IntVar(&o.batchSize, "batch-size", pushMaxRecords, "records per job, at most 10000")
	fs.DurationVar(&o.poll, "poll-interval", 500*time.Millisecond, "how often to poll a running job")
	nested := fs.String("nested", "refuse", "what metadata values that are objects or arrays become: refuse (each such record fails, the API's default) or flatten (dotted keys, arrays as JSON text: sends ?nested=flatten, a bulkid extension)")
	fs.StringVar(&o.keyPrefix, "idempotency-key", "auto", "the Idempotency-Key of each job: auto (derived from the job's records and its place in the push, so a push run again after a failure gets the jobs it already made instead of new ones, for 24 hours), off (none), or a prefix PREFIX, sending PREFIX-1, PREFIX-2, ... per job")
	compress := fs.String("compress", "auto", "send each job's file gzip-compressed: auto (when the server says it decodes gzip, as bulkid does; the hosted service does not say so), always, or never")
	pos, err := cliflag.Parse(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(pos) < 2 || (pos[0] != "companies" && pos[0] != "users") {
		fs.Usage()
		return fmt.Errorf("push: say companies or users, then one or more files (- for standard input)")
	}
	if o.batchSize < 1 || o.batchSize > pushMaxRecords {
		return fmt.Errorf("--batch-size must be between 1 and %d", pushMaxRecords)
	}
	gzipMode, ok := map[string]client.GzipMode{"auto": client.GzipAuto, "always": client.GzipOn, "never": client.GzipOff}[*compress]
	if !ok {
		return fmt.Errorf("--compress must be auto, always or never, not %q", *compress)
	}
	if o.nested, err = bulkid.ParseNestedRule(*nested); err != nil {
		return fmt.Errorf("--nested must be refuse or flatten, not %q", *nested)
	}
	if err := checkKeyPrefix(o.keyPrefix); err != nil {
		return err
	}
	o.kind = bulkid.JobType(pos[0])
	files := pos[1:]

	// Standard input is read twice (validate, then send): keep a copy.
	var stdinCopy string
	for i, f := range files {
		if f != "-" {
			continue
		}
		if stdinCopy == "" {
			tmp, err := os.CreateTemp("", "bulkid-stdin-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			if _, err := io.Copy(tmp, stdin); err != nil {
				tmp.Close()
				return fmt.Errorf("read standard input: %w", err)
			}
			tmp.Close()
			stdinCopy = tmp.Name()
		}
		files[i] = stdinCopy
	}

	p := &pusher{opts: o, c: cf.client(), files: files, stdinCopy: stdinCopy, stdout: stdout, stderr: stderr, started: time.Now()}
	p.c.Retry.MaxAttempts = 1000 // waiting out a running job is the point
	p.c.Retry.MaxElapsed = 24 * time.Hour
	p.c.Retry.OnRetry = p.onRetry
	p.c.Gzip = gzipMode
	if o.nested == bulkid.NestedFlatten {
		p.c.Nested = client.NestedFlatten
	}
	p.prog = newProgress(o.jsonOut, stdout, stderr)
	defer p.closeFailed()
	return p.run(ctx)
}

// displayName is a file's name as the user gave it: "-" for the copy of
// standard input.
func (p *pusher) displayName(f string) string {
	if f == p.stdinCopy && f != "" {
		return "-"
	}
	return f
}

type pusher struct {
	opts  pushOptions
	c     *client.Client
	files []string
	// stdinCopy is the file standard input was copied to, if "-" was given.
	stdinCopy string
	stdout    io.Writer
	stderr    io.Writer
	prog      *progress
	started   time.Time

	failed     *os.File
	failedName string
	valid      int
	invalid    int
	serverFail int
	jobs       []string
}

func (p *pusher) open(name string) (input.Reader, error) {
	return input.Open(name, input.Options{Kind: p.opts.kind, Format: input.Format(p.opts.format), CSVStrings: p.opts.csvStrings})
}

// check validates one record with the server's own validation, and the
// rule of --nested.
func (p *pusher) check(rec input.Record) *bulkid.RecordError {
	if rec.Err != "" {
		return &bulkid.RecordError{Code: bulkid.RMalformedRow, Message: rec.Err}
	}
	_, rerr := bulkid.ValidateRecordOpts(p.opts.kind, rec.Raw, bulkid.ValidateOptions{Nested: p.opts.nested})
	return rerr
}

// eachRecord calls fn with every record of every file, in order.
func (p *pusher) eachRecord(fn func(input.Record) error) error {
	for _, f := range p.files {
		r, err := p.open(f)
		if err != nil {
			return err
		}
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err == nil {
				err = fn(rec)
			}
			if err != nil {
				r.Close()
				return err
			}
		}
		r.Close()
	}
	return nil
}

func (p *pusher) run(ctx context.Context) error {
	// Pass 1: validate everything before sending anything.
	shown := 0
	err := p.eachRecord(func(rec input.Record) error {
		rerr := p.check(rec)
		if rerr == nil {
			p.valid++
			return nil
		}
		p.invalid++
		if shown < 100 && !p.opts.jsonOut {
			fmt.Fprintf(p.stderr, "%s:%d: %s: %s\n", p.displayName(rec.File), rec.Line, rerr.Code, rerr.Message)
		}
		shown++
		return p.writeFailed(p.displayName(rec.File), rec.Line, "", rerr.Code, rerr.Message, rec.Raw)
	})
	if err != nil {
		return err
	}
	if shown > 100 && !p.opts.jsonOut {
		fmt.Fprintf(p.stderr, "... and %d more invalid records\n", shown-100)
	}
	p.prog.event(map[string]any{"event": "validated", "valid": p.valid, "invalid": p.invalid})
	if p.invalid > 0 && !p.opts.skipInvalid {
		p.summary()
		return fmt.Errorf("%d invalid records; nothing was sent (fix them, or pass --skip-invalid to send the %d valid ones)", p.invalid, p.valid)
	}
	p.prog.total = p.valid

	// Pass 2: send the valid records, one job at a time.
	var b batch
	err = p.eachRecord(func(rec input.Record) error {
		if p.check(rec) != nil {
			return nil
		}
		if b.n > 0 && (b.n == p.opts.batchSize || b.buf.Len()+len(rec.Raw)+1 > pushMaxBytes) {
			if err := p.send(ctx, &b); err != nil {
				return err
			}
		}
		b.add(p.displayName(rec.File), rec.Line, rec.Raw)
		return nil
	})
	if err != nil {
		return err
	}
	if b.n > 0 {
		if err := p.send(ctx, &b); err != nil {
			return err
		}
	}
	p.summary()
	if failed := p.invalid + p.serverFail; failed > 0 {
		return fmt.Errorf("%d of %d records failed; see %s", failed, p.valid+p.invalid, p.failedName)
	}
	return nil
}

// batch is the records of one job, as the NDJSON file sent, with where
// each line came from.
type batch struct {
	buf    bytes.Buffer
	n      int
	origin []origin
}

type origin struct {
	file       string
	line       int
	start, end int // the record within buf
}

func (b *batch) add(file string, line int, raw []byte) {
	start := b.buf.Len()
	b.buf.Write(raw)
	b.origin = append(b.origin, origin{file, line, start, b.buf.Len()})
	b.buf.WriteByte('\n')
	b.n++
}

// send submits a batch as one job, waits for it, collects its failed
// records, and empties the batch.
func (p *pusher) send(ctx context.Context, b *batch) error {
	name := fmt.Sprintf("bulkid-push-%s-%04d.ndjson", p.opts.kind, len(p.jobs)+1)
	var opts []client.CallOption
	if key := p.idempotencyKey(len(p.jobs)+1, b.buf.Bytes()); key != "" {
		opts = append(opts, client.WithIdempotencyKey(key))
	}
	job, err := p.c.Upload(ctx, client.Kind(p.opts.kind), name, b.buf.Bytes(), opts...)
	if err != nil {
		return fmt.Errorf("submit job %d: %w", len(p.jobs)+1, err)
	}
	p.jobs = append(p.jobs, job.JobID)
	p.prog.submitted(job, b.n)
	job, err = p.c.WaitJob(ctx, job.JobID, p.opts.poll, p.prog.update)
	if err != nil {
		return fmt.Errorf("wait for job %s: %w", p.jobs[len(p.jobs)-1], err)
	}
	p.prog.finished(job)
	if job.FailedRows > 0 {
		err := p.c.JobErrors(ctx, job.JobID, func(e client.RecordError) error {
			o, ok := b.lookup(e)
			if !ok {
				return p.writeFailed("", 0, job.JobID, e.ErrorCode, e.Message, e.Sent())
			}
			return p.writeFailed(o.file, o.line, job.JobID, e.ErrorCode, e.Message, b.buf.Bytes()[o.start:o.end])
		})
		if err != nil {
			return fmt.Errorf("read the failed records of job %s: %w", job.JobID, err)
		}
	}
	p.serverFail += job.FailedRows
	if job.Status == "failed" && job.CompletedRows+job.FailedRows < job.TotalRows {
		reason := ""
		if job.FailureReason != nil {
			reason = ": " + *job.FailureReason
		}
		return fmt.Errorf("job %s failed%s", job.JobID, reason)
	}
	if job.Status == "canceled" {
		// Someone canceled the push's job: stop, and send nothing more.
		return fmt.Errorf("job %s was canceled with %d of %d rows applied; the push stops and sends no more records", job.JobID, job.CompletedRows, job.TotalRows)
	}
	b.buf.Reset()
	b.n, b.origin = 0, b.origin[:0]
	return nil
}

// idempotencyKey is the Idempotency-Key of the n-th job (from 1), whose
// file is content, per --idempotency-key: with auto, a SHA-256 of the
// kind, the --nested rule, n and content, so that the same files pushed
// again (after a network failure, or a push cut off) send the same keys
// and are answered with the jobs already made, while any change to a
// job's records makes it a new one; "" with off.
func (p *pusher) idempotencyKey(n int, content []byte) string {
	switch p.opts.keyPrefix {
	case "off":
		return ""
	case "auto":
		h := sha256.New()
		fmt.Fprintf(h, "bulkid push\x00%s\x00%s\x00%d\x00", p.opts.kind, p.opts.nested, n)
		h.Write(content)
		return "push-" + hex.EncodeToString(h.Sum(nil))
	}
	return fmt.Sprintf("%s-%d", p.opts.keyPrefix, n)
}

// checkKeyPrefix refuses an --idempotency-key prefix that would make a
// key the server refuses: its keys are printable ASCII, at most 255.
func checkKeyPrefix(prefix string) error {
	if prefix == "" || len(prefix) > bulkid.MaxIdempotencyKey-8 {
		return fmt.Errorf("--idempotency-key must be auto, off, or a prefix of 1 to %d printable ASCII characters", bulkid.MaxIdempotencyKey-8)
	}
	for i := 0; i < len(prefix); i++ {
		if prefix[i] < 0x20 || prefix[i] > 0x7e {
			return fmt.Errorf("--idempotency-key must be auto, off, or a prefix of 1 to %d printable ASCII characters", bulkid.MaxIdempotencyKey-8)
		}
	}
	return nil
}

// lookup finds the origin of a failed record: its 1-based line in the
// file sent, or the 0-based index of a JSON body.
func (b *batch) lookup(e client.RecordError) (origin, bool) {
	i := -1
	switch {
	case e.Line != nil:
		i = *e.Line - 1
	case e.Index != nil:
		i = *e.Index
	}
	if i < 0 || i >= len(b.origin) {
		return origin{}, false
	}
	return b.origin[i], true
}

// writeFailed appends one failed record to the failed-records file,
// creating it on first use.
func (p *pusher) writeFailed(file string, line int, jobID, code, message string, raw []byte) error {
	if p.failed == nil {
		name := p.opts.failedOut
		if name == "" {
			name = "bulkid-failed-" + time.Now().Format("20060102-150405") + ".ndjson"
		}
		f, err := os.Create(name)
		if err != nil {
			return fmt.Errorf("--failed-out: %w", err)
		}
		p.failed, p.failedName = f, name
	}
	rec := map[string]any{"file": file, "line": line, "error_code": code, "message": message}
	if jobID != "" {
		rec["job_id"] = jobID
	}
	// As the server's errors stream: JSON text is UTF-8, so a record that
	// is not keeps its exact bytes in raw_base64.
	switch {
	case !utf8.Valid(raw):
		rec["raw"] = strings.ToValidUTF8(string(raw), "\uFFFD")
		rec["raw_base64"] = base64.StdEncoding.EncodeToString(raw)
	case json.Valid(raw):
		rec["record"] = json.RawMessage(raw)
	default:
		rec["raw"] = string(raw)
	}
	enc := json.NewEncoder(p.failed)
	enc.SetEscapeHTML(false)
	return enc.Encode(rec)
}

func (p *pusher) closeFailed() {
	if p.failed != nil {
		p.failed.Close()
	}
}

func (p *pusher) onRetry(attempt int, wait time.Duration, err error) {
	var e *client.Error
	if errors.As(err, &e) && e.StatusCode == 409 {
		p.prog.waiting(e.JobID, wait)
		return
	}
	p.prog.retrying(attempt, wait, err)
}

func (p *pusher) summary() {
	failed := p.invalid + p.serverFail
	elapsed := time.Since(p.started).Round(time.Millisecond)
	if p.opts.jsonOut {
		p.prog.event(map[string]any{"event": "summary", "jobs": len(p.jobs), "records": p.valid + p.invalid,
			"applied": p.prog.applied, "invalid": p.invalid, "failed": failed, "failed_out": p.failedName,
			"elapsed_seconds": elapsed.Seconds()})
		return
	}
	p.prog.clear()
	fmt.Fprintf(p.stdout, "%s: %d records in %s; %s; %d applied, %d failed (%d invalid locally, %d by the server) in %s\n",
		p.opts.kind, p.valid+p.invalid, plural(len(p.files), "file"), plural(len(p.jobs), "job"), p.prog.applied, failed, p.invalid, p.serverFail, elapsed)
	if failed > 0 {
		fmt.Fprintf(p.stdout, "failed records, with their reasons: %s\n", p.failedName)
	}
	if len(p.jobs) > 0 {
		fmt.Fprintf(p.stdout, "jobs: %s\n", strings.Join(p.jobs, " "))
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
