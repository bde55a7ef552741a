// Package input reads the files a user pushes with "bulkid push": NDJSON,
// a JSON array, a {"companies": [...]} / {"users": [...]} document, or CSV,
// plain or gzipped, from a file or standard input. It streams: a file of
// millions of rows is never held in memory. Each record comes out as one
// JSON object with the file and line it started on, ready for
// bulkid.ValidateRecord.
package input

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bulkid/bulkid"
)

// Format is how a file is written.
type Format string

const (
	Auto   Format = ""       // from the file name, or sniffed from the content
	NDJSON Format = "ndjson" // one JSON object a line
	JSON   Format = "json"   // an array of objects, or {"companies": [...]} / {"users": [...]}
	CSV    Format = "csv"    // a header row, then one record a row
)

// Record is one record read, as a JSON object.
type Record struct {
	File string // the file's name as given ("-" for standard input)
	Line int    // 1-based line the record starts on
	Raw  []byte // a JSON object, or for a broken NDJSON line the line as it is
	// Err is set when the row could not be made into a record at all (a CSV
	// row with more fields than the header); Raw then holds the row.
	Err string
}

// Reader yields records until io.EOF.
type Reader interface {
	Next() (Record, error)
	Close() error
}

// Options say how to read.
type Options struct {
	Kind   bulkid.JobType // decides the CSV id column and the JSON document's member
	Format Format
	// CSVStrings keeps every CSV value a string instead of recognising
	// numbers and booleans.
	CSVStrings bool
	// Stdin is read for the name "-" (os.Stdin if nil).
	Stdin io.Reader
}

// Open opens name ("-" for standard input) for reading records.
func Open(name string, opts Options) (Reader, error) {
	var r io.Reader
	var closer io.Closer = io.NopCloser(nil)
	if name == "-" {
		r = opts.Stdin
		if r == nil {
			r = os.Stdin
		}
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		r, closer = f, f
	}
	br := bufio.NewReaderSize(r, 256*1024)
	base := name
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			closer.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		br = bufio.NewReaderSize(gz, 256*1024)
		base = strings.TrimSuffix(base, ".gz")
	}
	format := opts.Format
	if format == Auto {
		format = formatOf(base, br)
	}
	switch format {
	case NDJSON:
		return &ndjsonReader{file: name, br: br, closer: closer}, nil
	case JSON:
		return newJSONReader(name, br, closer, opts.Kind)
	case CSV:
		return newCSVReader(name, br, closer, opts)
	default:
		closer.Close()
		return nil, fmt.Errorf("%s: unknown format %q (ndjson, json or csv)", name, format)
	}
}

// formatOf tells the format from the file's extension, or else from its
// first bytes: '[' is a JSON array, '{' followed by the member "companies"
// or "users" is a JSON document, other '{' is NDJSON, anything else CSV.
func formatOf(name string, br *bufio.Reader) Format {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".ndjson", ".jsonl":
		return NDJSON
	case ".json":
		return JSON
	case ".csv":
		return CSV
	}
	head, _ := br.Peek(4096)
	head = bytes.TrimLeft(bytes.TrimPrefix(head, bom), " \t\r\n")
	switch {
	case len(head) == 0:
		return NDJSON
	case head[0] == '[':
		return JSON
	case head[0] == '{':
		dec := json.NewDecoder(bytes.NewReader(head))
		dec.Token()
		if key, err := dec.Token(); err == nil && (key == "companies" || key == "users") {
			return JSON
		}
		return NDJSON
	default:
		return CSV
	}
}

var bom = []byte("\xef\xbb\xbf")

// ndjsonReader reads one record a line; blank lines are skipped.
type ndjsonReader struct {
	file   string
	br     *bufio.Reader
	closer io.Closer
	line   int
}

func (r *ndjsonReader) Next() (Record, error) {
	for {
		b, err := r.br.ReadBytes('\n')
		if len(b) == 0 && err != nil {
			return Record{}, err
		}
		if err != nil && err != io.EOF {
			return Record{}, err
		}
		r.line++
		if r.line == 1 {
			b = bytes.TrimPrefix(b, bom)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		return Record{File: r.file, Line: r.line, Raw: b}, nil
	}
}

func (r *ndjsonReader) Close() error { return r.closer.Close() }

// lineCounter passes bytes through and remembers where its newlines were,
// so that the line of an offset already read can be told.
type lineCounter struct {
	r        io.Reader
	read     int64
	newlines []int64 // offsets of newlines not yet passed by lineAt
	line     int     // the line at the last offset asked
}

func (c *lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i, b := range p[:n] {
		if b == '\n' {
			c.newlines = append(c.newlines, c.read+int64(i))
		}
	}
	c.read += int64(n)
	return n, err
}

// lineAt returns the 1-based line of offset; offsets must not decrease.
func (c *lineCounter) lineAt(offset int64) int {
	i := 0
	for i < len(c.newlines) && c.newlines[i] < offset {
		i++
	}
	c.line += i
	c.newlines = c.newlines[i:]
	return c.line + 1
}

// jsonReader walks a JSON array of records, or the array member of a
// document, one element at a time.
type jsonReader struct {
	file   string
	dec    *json.Decoder
	lines  *lineCounter
	closer io.Closer
	done   bool
}

func newJSONReader(file string, br *bufio.Reader, closer io.Closer, kind bulkid.JobType) (*jsonReader, error) {
	if b, _ := br.Peek(3); bytes.Equal(b, bom) {
		br.Discard(3)
	}
	lc := &lineCounter{r: br}
	dec := json.NewDecoder(lc)
	dec.UseNumber()
	r := &jsonReader{file: file, dec: dec, lines: lc, closer: closer}
	fail := func(format string, args ...any) (*jsonReader, error) {
		closer.Close()
		return nil, fmt.Errorf("%s: "+format, append([]any{file}, args...)...)
	}
	tok, err := dec.Token()
	if err != nil {
		return fail("not JSON: %v", err)
	}
	switch tok {
	case json.Delim('['):
		return r, nil
	case json.Delim('{'):
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return fail("not JSON: %v", err)
			}
			if key == string(kind) {
				if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
					return fail("the member %q is not an array", kind)
				}
				return r, nil
			}
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fail("not JSON: %v", err)
			}
		}
		return fail(`no %q array: a JSON file is an array of records or {"%s": [...]}`, kind, kind)
	default:
		return fail("a JSON file is an array of records or {\"%s\": [...]}", kind)
	}
}

func (r *jsonReader) Next() (Record, error) {
	if r.done || !r.dec.More() {
		r.done = true
		return Record{}, io.EOF
	}
	var raw json.RawMessage
	if err := r.dec.Decode(&raw); err != nil {
		at := r.dec.InputOffset()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			at = se.Offset // where the decoder gave up, from the start of the stream
		}
		return Record{}, fmt.Errorf("%s: line %d: not JSON: %v", r.file, r.lines.lineAt(at), err)
	}
	start := r.dec.InputOffset() - int64(len(raw))
	return Record{File: r.file, Line: r.lines.lineAt(start), Raw: raw}, nil
}

func (r *jsonReader) Close() error { return r.closer.Close() }
