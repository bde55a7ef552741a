package input

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/bulkid/bulkid"
)

// A CSV file has a header row. The column named company_id (user_id for
// users) is the record's id; on users, a company_id column associates the
// user with a company; every other column becomes a metadata key. Values
// that read as JSON numbers (without leading zeros, so "00501" stays a
// string) become numbers with their digits kept, true/false (any case)
// become booleans, and everything else is a string. An empty cell sets
// nothing: the key is left as it is, not removed.
type csvReader struct {
	file    string
	r       *csv.Reader
	closer  io.Closer
	header  []string
	idCol   int
	compCol int // users' company_id column, or -1
	strings bool
	kind    bulkid.JobType
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

func newCSVReader(file string, br *bufio.Reader, closer io.Closer, opts Options) (*csvReader, error) {
	if b, _ := br.Peek(3); bytes.Equal(b, bom) {
		br.Discard(3)
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	fail := func(format string, args ...any) (*csvReader, error) {
		closer.Close()
		return nil, fmt.Errorf("%s: "+format, append([]any{file}, args...)...)
	}
	header, err := r.Read()
	if err == io.EOF {
		return fail("%v", errNoHeader)
	} else if err != nil {
		return fail("%v", err)
	}
	c := &csvReader{file: file, r: r, closer: closer, header: header, idCol: -1, compCol: -1, strings: opts.CSVStrings, kind: opts.Kind}
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		switch {
		case h == "":
			return fail("column %d of the header has no name", i+1)
		case !utf8.ValidString(h):
			return fail("the name of column %d of the header is not valid UTF-8; save the file as UTF-8", i+1)
		case seen[h]:
			return fail("the header names the column %q twice", h)
		}
		seen[h] = true
		switch {
		case h == opts.Kind.IDField():
			c.idCol = i
		case opts.Kind == bulkid.JobUsers && h == "company_id":
			c.compCol = i
		}
	}
	if c.idCol < 0 {
		return fail("%v; it has no %q column", errNoHeader, opts.Kind.IDField())
	}
	return c, nil
}

func (c *csvReader) Next() (Record, error) {
	row, err := c.r.Read()
	if err != nil {
		if err == io.EOF {
			return Record{}, io.EOF
		}
		return Record{}, fmt.Errorf("%s: %w", c.file, err)
	}
	line, _ := c.r.FieldPos(0)
	rec := Record{File: c.file, Line: line}
	if len(row) > len(c.header) {
		rec.Raw = []byte(strings.Join(row, ","))
		rec.Err = fmt.Sprintf("the row has %d fields but the header names %d columns", len(row), len(c.header))
		return rec, nil
	}
	obj := map[string]any{}
	md := map[string]json.RawMessage{}
	for i, v := range row {
		switch {
		case i == c.idCol:
			if v != "" {
				obj[c.kind.IDField()] = idValue(v)
			}
		case i == c.compCol:
			if v != "" {
				obj["company_id"] = idValue(v)
			}
		case v == "":
		default:
			md[c.header[i]] = c.value(v)
		}
	}
	if len(md) > 0 {
		obj["metadata"] = md
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return Record{}, err
	}
	rec.Raw = bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	return rec, nil
}

// value is a cell as a JSON value.
func (c *csvReader) value(v string) json.RawMessage {
	if !c.strings {
		switch {
		case jsonNumber.MatchString(v):
			return json.RawMessage(v)
		case strings.EqualFold(v, "true"):
			return json.RawMessage("true")
		case strings.EqualFold(v, "false"):
			return json.RawMessage("false")
		}
	}
	if !utf8.ValidString(v) {
		return rawString(v)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(v) // a string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
}

// idValue is an id cell as a JSON value: a string, encoded as rawString if
// it is not valid UTF-8.
func idValue(v string) any {
	if !utf8.ValidString(v) {
		return rawString(v)
	}
	return v
}

// rawString is s as a JSON string that keeps bytes that are not UTF-8 as
// they are, where encoding/json would write U+FFFD: a cell of a file in
// Latin-1 then fails its record as not UTF-8, as the same value in an
// NDJSON file does, instead of "café" and "cafè" both becoming "caf\ufffd",
// one profile.
func rawString(s string) json.RawMessage {
	const hex = "0123456789abcdef"
	b := []byte{'"'}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func (c *csvReader) Close() error { return c.closer.Close() }
