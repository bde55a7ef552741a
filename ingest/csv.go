package ingest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/bulkid/bulkid"
)

// This file turns CSV rows into records: the one conversion that both
// `bulkid push` (package input) and POST /v1/imports (ScanCSV) use, so a
// file pushed and the same file imported store the same profiles.
//
// A CSV file has a header row. The column named company_id (user_id for
// users) is the record's id; on users, a company_id column associates the
// user with a company; every other column becomes a metadata key. Values
// that read as JSON numbers (without leading zeros, so "00501" stays a
// string) become numbers with their digits kept, true/false (any case)
// become booleans, and everything else is a string. An empty cell sets
// nothing: the key is left as it is, not removed.

// CSVColumns is a CSV header read for converting its rows into records of
// one kind.
type CSVColumns struct {
	names   []string
	idCol   int
	compCol int // users' company_id column, or -1
	kind    bulkid.JobType
	strings bool
	// byName are the metadata columns in the byte order of their names,
	// the order a record's metadata is written in; keys holds each
	// column's name as a JSON member name and colon.
	byName []int
	keys   [][]byte
}

// ErrCSVNoHeader is the error of a CSV file without a header row, or one
// whose header names no id column.
var ErrCSVNoHeader = errors.New("a CSV file starts with a header row naming its columns")

// CSVKind tells which profiles a CSV header describes: users if a column
// is named user_id, else companies if one is named company_id (names
// trimmed of white space, as NewCSVColumns reads them). ok is false if
// neither is there.
func CSVKind(header []string) (kind bulkid.JobType, ok bool) {
	for _, h := range header {
		switch strings.TrimSpace(h) {
		case "user_id":
			return bulkid.JobUsers, true
		case "company_id":
			kind, ok = bulkid.JobCompanies, true
		}
	}
	return kind, ok
}

// NewCSVColumns reads header, the names trimmed of white space, for records
// of kind; with keepStrings every value stays a string. It fails, saying
// why in words that follow a file name, if a name is empty, not UTF-8 or
// repeated, or there is no id column (ErrCSVNoHeader).
func NewCSVColumns(header []string, kind bulkid.JobType, keepStrings bool) (*CSVColumns, error) {
	c := &CSVColumns{names: make([]string, len(header)), idCol: -1, compCol: -1, kind: kind, strings: keepStrings,
		keys: make([][]byte, len(header))}
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		c.names[i] = h
		switch {
		case h == "":
			return nil, fmt.Errorf("column %d of the header has no name", i+1)
		case !utf8.ValidString(h):
			return nil, fmt.Errorf("the name of column %d of the header is not valid UTF-8; save the file as UTF-8", i+1)
		case seen[h]:
			return nil, fmt.Errorf("the header names the column %q twice", h)
		}
		seen[h] = true
		switch {
		case h == kind.IDField():
			c.idCol = i
		case kind == bulkid.JobUsers && h == "company_id":
			c.compCol = i
		default:
			c.byName = append(c.byName, i)
			c.keys[i] = append(appendString(nil, h), ':')
		}
	}
	if c.idCol < 0 {
		return nil, fmt.Errorf("%w; it has no %q column", ErrCSVNoHeader, kind.IDField())
	}
	sort.Slice(c.byName, func(i, j int) bool { return c.names[c.byName[i]] < c.names[c.byName[j]] })
	return c, nil
}

// Kind is the kind of the records the columns make.
func (c *CSVColumns) Kind() bulkid.JobType { return c.kind }

// RaggedRowError is the error of a row with more fields than the header
// names columns: it cannot be made into a record.
type RaggedRowError struct{ Fields, Columns int }

func (e *RaggedRowError) Error() string {
	return fmt.Sprintf("the row has %d fields but the header names %d columns", e.Fields, e.Columns)
}

// Record converts one row into a record, a JSON object; a row shorter than
// the header lacks the cells at its end. It fails with *RaggedRowError for
// a row longer than the header.
//
// The object is written as encoding/json writes the map of its members
// (without HTML escaping): members and metadata keys in byte order, so
// company_id, metadata, user_id. It is written directly, which is about
// ten times as fast as encoding a map for each row.
func (c *CSVColumns) Record(row []string) ([]byte, error) {
	if len(row) > len(c.names) {
		return nil, &RaggedRowError{Fields: len(row), Columns: len(c.names)}
	}
	cell := func(i int) string {
		if i < 0 || i >= len(row) {
			return ""
		}
		return row[i]
	}
	b := make([]byte, 0, 64+len(row)*16)
	b = append(b, '{')
	company, id := cell(c.compCol), cell(c.idCol)
	if c.kind != bulkid.JobUsers {
		company, id = id, ""
	}
	if company != "" {
		b = appendID(append(b, `"company_id":`...), company)
	}
	open := false
	for _, i := range c.byName {
		v := cell(i)
		if v == "" {
			continue
		}
		switch {
		case !open && len(b) > 1:
			b = append(b, `,"metadata":{`...)
		case !open:
			b = append(b, `"metadata":{`...)
		default:
			b = append(b, ',')
		}
		open = true
		b = c.appendValue(append(b, c.keys[i]...), v)
	}
	if open {
		b = append(b, '}')
	}
	if id != "" {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendID(append(b, `"user_id":`...), id)
	}
	return append(b, '}'), nil
}

// appendValue appends a cell as a JSON value: a number, a boolean or a
// string.
func (c *CSVColumns) appendValue(b []byte, v string) []byte {
	if !c.strings {
		switch {
		case isJSONNumber(v):
			return append(b, v...)
		case strings.EqualFold(v, "true"):
			return append(b, "true"...)
		case strings.EqualFold(v, "false"):
			return append(b, "false"...)
		}
	}
	return appendID(b, v)
}

// appendID appends a cell as a JSON string, as rawString writes it if it
// is not valid UTF-8.
func appendID(b []byte, v string) []byte {
	if !utf8.ValidString(v) {
		return append(b, rawString(v)...)
	}
	return appendString(b, v)
}

// isJSONNumber reports whether s is a JSON number: -?(0|[1-9][0-9]*)
// (\.[0-9]+)?([eE][+-]?[0-9]+)?, so without leading zeros or a sign +.
func isJSONNumber(s string) bool {
	digits := func(i int) int {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i
	}
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(i)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		if j := digits(i + 1); j > i+1 {
			i = j
		} else {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if j := digits(i); j > i {
			i = j
		} else {
			return false
		}
	}
	return i == len(s)
}

// appendString appends s, valid UTF-8, as a JSON string written as
// encoding/json writes it without HTML escaping: ", \ and control
// characters escaped (\b \f \n \r \t by name), and U+2028 and U+2029 as
// \u escapes.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == '\u2028' || r == '\u2029' {
				b = append(b, s[start:i]...)
				b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
				start = i + size
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// rawString is s as a JSON string that keeps bytes that are not UTF-8 as
// they are, where encoding/json would write U+FFFD: a cell of a file in
// Latin-1 then fails its record as not UTF-8, as the same value in an
// NDJSON file does, instead of "café" and "cafè" both becoming "caf\ufffd",
// one profile.
func rawString(s string) []byte {
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

// MaxCSVRecordBytes bounds the records of one CSV file as converted, in
// all: a 50 MiB file of 10,000 rows could otherwise become gigabytes of
// JSON, each row repeating long column names. Four times the file limit
// leaves room for wide, sparse files; a file past it is refused, 413.
const MaxCSVRecordBytes = 4 * bulkid.MaxBytes

// csvBuffer is what encoding/csv reads ahead of the row it parses.
const csvBuffer = 4096

// ScanCSV reads a CSV file from r: a header row, which tells the kind of
// its records (CSVKind), then one record a row, converted as NewCSVColumns
// and Record convert them for `bulkid push`, passed to add with the line
// the row starts on (the header's line is 1 if nothing comes before it). A
// leading byte-order mark is dropped; empty lines are skipped and counted.
//
// A row that cannot be made into a record but can be told from the rows
// around it (more fields than the header, a stray quote) is passed on as
// bulkid.MalformedRow, the row as sent, and fails alone when the job
// validates it; a converted record over bulkid.MaxRecordBytes is passed on
// as bulkid.OversizedRecord. It fails with EINVALID for a header it cannot
// use or a quoted field left open to the end of the file (which names the
// line), EEMPTY for a file without a header or rows, ETOOMANY, ETOOLARGE
// for a row over bulkid.MaxRecordBytes as sent (it holds no more of one)
// or records over MaxCSVRecordBytes in all, a read error (ETOOLARGE if r
// is a LimitReader), or add's error.
func ScanCSV(r io.Reader, lim Limits, add Sink) (bulkid.JobType, int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(len(bom)); bytes.Equal(b, bom) {
		br.Discard(len(bom))
	} else if err != nil && err != io.EOF {
		return "", 0, err // bufio hands an error out once: do not drop it
	}
	tap := &rowTap{r: br, max: bulkid.MaxRecordBytes + csvBuffer, line: 1}
	cr := csv.NewReader(tap)
	cr.FieldsPerRecord = -1

	header, err := cr.Read()
	switch {
	case err == io.EOF:
		return "", 0, &bulkid.Error{Code: bulkid.EEMPTY, Message: "The file is empty. " + ImportForms}
	case err != nil:
		return "", 0, csvReadError(err, tap, "header row")
	}
	headerLine, _ := cr.FieldPos(0)
	kind, ok := CSVKind(header)
	if !ok {
		return "", 0, bulkid.Errorf(bulkid.EINVALID,
			"The CSV header (line %d) has no user_id or company_id column, so whether the file holds users or companies cannot be told: "+
				"name the id column user_id for users (company_id then associates each with a company) or company_id for companies.", headerLine)
	}
	cols, err := NewCSVColumns(header, kind, false)
	if err != nil {
		return "", 0, bulkid.Errorf(bulkid.EINVALID, "The CSV header (line %d) cannot be used: %v.", headerLine, err)
	}
	tap.next(cr.InputOffset())

	n, total := 0, int64(0)
	for {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		line := 0
		var raw []byte
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			atEnd := tap.eof && cr.InputOffset() == tap.read
			rowBytes := tap.row(cr.InputOffset())
			// A quoted field left open (an odd number of quotes) runs to
			// the end of the file.
			open := pe.Err == csv.ErrQuote && atEnd && bytes.Count(rowBytes, []byte{'"'})%2 == 1
			if open && pe.Line > pe.StartLine {
				// It took in every line after it: those are not one row
				// that fails alone, but rows lost in it.
				return "", 0, bulkid.Errorf(bulkid.EINVALID,
					"The CSV row at line %d has a quoted field that is not closed before the end of the file (line %d), so the lines after it cannot be read as rows. Close the quote; a quote inside a quoted field is written twice (\"\").",
					pe.StartLine, pe.Line)
			}
			if len(rowBytes) > bulkid.MaxRecordBytes {
				return "", 0, rowTooLarge(pe.StartLine)
			}
			line, raw = pe.StartLine, bulkid.MalformedRow(quoteMessage(pe, open), rowBytes)
		case err != nil:
			return "", 0, csvReadError(err, tap, "row")
		default:
			line, _ = cr.FieldPos(0)
			rowBytes := tap.row(cr.InputOffset())
			if len(rowBytes) > bulkid.MaxRecordBytes {
				return "", 0, rowTooLarge(line)
			}
			rec, rerr := cols.Record(row)
			switch {
			case rerr != nil:
				raw = bulkid.MalformedRow(rerr.Error(), rowBytes)
			case len(rec) > bulkid.MaxRecordBytes:
				raw = bulkid.OversizedRecord(rec, int64(len(rec)))
			default:
				raw = rec
			}
		}
		if n == lim.MaxRecords {
			return "", 0, tooMany(lim.MaxRecords)
		}
		if total += int64(len(raw)); total > MaxCSVRecordBytes {
			return "", 0, bulkid.Errorf(bulkid.ETOOLARGE,
				"The CSV file's rows make more than %d bytes of records as JSON, each row repeating its column names; split the file, or send fewer or shorter columns.", MaxCSVRecordBytes)
		}
		if err := add(line, raw); err != nil {
			return "", 0, err
		}
		n++
	}
	if n == 0 {
		return "", 0, bulkid.Errorf(bulkid.EEMPTY, "The CSV file has a header row (line %d) but no rows.", headerLine)
	}
	return kind, n, nil
}

// ImportForms says what a file of POST /v1/imports holds, for the
// messages of one that does not tell.
const ImportForms = "Send a CSV file whose header row names a user_id column (users) or a company_id column (companies), " +
	"or an NDJSON file of one JSON object a line, each with a user_id (users) or a company_id (companies)."

// csvReadError is the error of reading the CSV file that stops the read:
// the row tap's or the reader's (the connection, a limit) as it is, and
// encoding/csv's own described without its words.
func csvReadError(err error, tap *rowTap, what string) error {
	if tap.err != nil {
		return tap.err
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		open := pe.Err == csv.ErrQuote && tap.eof && bytes.Count(tap.buf, []byte{'"'})%2 == 1
		return bulkid.Errorf(bulkid.EINVALID, "The CSV file's %s (line %d) cannot be read: %s.", what, pe.StartLine, quoteMessage(pe, open))
	}
	return err
}

// quoteMessage describes a quote error of encoding/csv; open says the
// quoted field is not closed before the end of the file.
func quoteMessage(pe *csv.ParseError, open bool) string {
	switch {
	case pe.Err == csv.ErrBareQuote:
		return fmt.Sprintf("a quote (\") at line %d, column %d is inside a field that does not start with one; quote the whole field and double each quote inside it (\"\")", pe.Line, pe.Column)
	case open:
		return "a quoted field is not closed before the end of the file; close it, and double each quote inside it (\"\")"
	default:
		return fmt.Sprintf("the quoted field that ends at line %d, column %d is followed by other text than a comma or the end of the line; double each quote inside a quoted field (\"\")", pe.Line, pe.Column)
	}
}

func rowTooLarge(line int) error {
	return bulkid.Errorf(bulkid.ETOOLARGE,
		"The CSV row at line %d is larger than %d bytes (1 MiB), the most one record may be; a quote left open makes the lines after it part of the row.", line, bulkid.MaxRecordBytes)
}

// rowTap passes the file to encoding/csv and keeps the bytes of the row
// being read, so that a row that cannot be made into a record is reported
// as sent; it refuses to read on once a row exceeds max bytes, so no more
// than that of one row is ever held.
type rowTap struct {
	r    io.Reader
	max  int
	buf  []byte // the bytes read from the start of the current row on
	base int64  // the offset of buf[0]
	read int64  // bytes read in all
	line int    // the line buf starts on
	eof  bool
	err  error // the first error of reading, or ETOOLARGE for a row over max
}

func (t *rowTap) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if len(t.buf) > t.max {
		// Leading empty lines are no part of the row.
		t.err = rowTooLarge(t.line + bytes.Count(t.buf[:len(t.buf)-len(bytes.TrimLeft(t.buf, "\r\n"))], []byte{'\n'}))
		return 0, t.err
	}
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	t.read += int64(n)
	switch {
	case err == io.EOF:
		t.eof = true
	case err != nil:
		t.err = err // encoding/csv may report a stray quote first: keep it for the next read
	}
	return n, err
}

// row returns the bytes of the row that ends at offset end, less the empty
// lines before it and its line end, and starts the next row there. It is
// valid until the next read.
func (t *rowTap) row(end int64) []byte {
	b := t.buf[:end-t.base]
	t.next(end)
	b = bytes.TrimLeft(b, "\r\n")
	b = bytes.TrimSuffix(b, []byte{'\n'})
	return bytes.TrimSuffix(b, []byte{'\r'})
}

// next drops the bytes before offset end: the next row starts there.
func (t *rowTap) next(end int64) {
	k := end - t.base
	t.line += bytes.Count(t.buf[:k], []byte{'\n'})
	t.buf = t.buf[k:]
	t.base = end
}
