// Package ingest reads the records of a bulk request as they stream in: a
// JSON body {"companies": [...]} or an NDJSON file. It enforces the record
// and byte limits while reading, so it never holds more than the limit, and
// it keeps every record exactly as sent; validation of a record happens
// later, in the job, so that one bad record fails alone.
package ingest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"

	"github.com/bulkid/bulkid"
)

// Limits bound one request.
type Limits struct {
	MaxRecords int
	MaxBytes   int64
}

// DefaultLimits are the documented limits of the public API.
var DefaultLimits = Limits{MaxRecords: bulkid.MaxRecords, MaxBytes: bulkid.MaxBytes}

// LimitReader returns a reader of r that fails with ETOOLARGE as soon as
// more than max bytes have come through, having read at most max+1 of them,
// and counts what it read in *n if n is not nil.
func LimitReader(r io.Reader, max int64, n *int64) io.Reader {
	if n == nil {
		n = new(int64)
	}
	return &limitedReader{r: r, max: max, n: n}
}

type limitedReader struct {
	r   io.Reader
	max int64
	n   *int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if *l.n > l.max {
		return 0, tooLarge(l.max)
	}
	if left := l.max - *l.n + 1; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := l.r.Read(p)
	*l.n += int64(n)
	if *l.n > l.max {
		return 0, tooLarge(l.max)
	}
	return n, err
}

// LimitError is the error of a payload over max bytes.
func LimitError(max int64) error { return tooLarge(max) }

func tooLarge(max int64) error {
	return &bulkid.Error{Code: bulkid.ETOOLARGE, Message: fmt.Sprintf("The payload exceeds the limit of %d bytes.", max)}
}

func tooMany(max int) error {
	return &bulkid.Error{Code: bulkid.ETOOMANY, Message: fmt.Sprintf("The payload holds more than %d records; split it into several jobs.", max)}
}

func empty() error {
	return &bulkid.Error{Code: bulkid.EEMPTY, Message: "The payload holds no record."}
}

// Sink takes each record as it is read: its position (array index or line)
// and its bytes, valid only during the call.
type Sink func(pos int, raw []byte) error

var bom = []byte("\xef\xbb\xbf")

// ScanNDJSON reads newline-delimited records from r, passing each to add,
// and returns how many there were. Each non-blank line is one record, kept
// as sent (less a trailing CR and a leading byte-order mark) with its
// 1-based line number, whether or not it is valid JSON: a malformed line
// fails alone when the job validates it. It fails with EEMPTY, ETOOMANY,
// ETOOLARGE (if r is a LimitReader), a read error, or add's error.
func ScanNDJSON(r io.Reader, lim Limits, add Sink) (int, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	n := 0
	for line := 1; ; line++ {
		b, size, blank, err := readLine(br, bulkid.MaxRecordBytes, line == 1)
		if err != nil && err != io.EOF {
			return 0, err
		}
		if !blank {
			if n == lim.MaxRecords {
				return 0, tooMany(lim.MaxRecords)
			}
			if size > bulkid.MaxRecordBytes {
				// Kept is its first part only; it fails alone, like a
				// malformed line, when the job validates it.
				b = bulkid.OversizedRecord(b, size)
			}
			if err := add(line, b); err != nil {
				return 0, err
			}
			n++
		}
		if err == io.EOF {
			break
		}
	}
	if n == 0 {
		return 0, empty()
	}
	return n, nil
}

// readLine returns the next line without its newline or a CR before it,
// and io.EOF with the last line if the input ends without one; with
// trimBOM, less a leading byte-order mark. A line of more than max bytes is
// read to its end but only its first max+1 bytes are returned; size is the
// whole line's length (a BOM counted). blank reports whether the whole line,
// not only the part returned, is nothing but whitespace: a record behind
// more than max bytes of spaces is still a record. The slice is valid until
// the next call.
func readLine(br *bufio.Reader, max int, trimBOM bool) (line []byte, size int64, blank bool, err error) {
	b, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		if err == nil {
			b = b[:len(b)-1]
		}
		b = bytes.TrimSuffix(b, []byte{'\r'})
		size = int64(len(b))
		if trimBOM {
			b = bytes.TrimPrefix(b, bom)
		}
		return b, size, len(bytes.TrimSpace(b)) == 0, err
	}
	long := bytes.Clone(b)
	size = int64(len(b))
	var ws spaceScanner // newlines and CRs are spaces too, so it sees every byte
	if trimBOM {
		ws.scan(bytes.TrimPrefix(b, bom))
	} else {
		ws.scan(b)
	}
	var prev byte // the last byte of the chunk before b
	for err == bufio.ErrBufferFull {
		prev = b[len(b)-1]
		b, err = br.ReadSlice('\n')
		size += int64(len(b))
		ws.scan(b)
		if keep := max + 1 - len(long); keep > 0 {
			long = append(long, b[:min(keep, len(b))]...)
		}
	}
	if err == nil {
		b = b[:len(b)-1]
		size-- // the newline
	}
	if len(b) > 0 && b[len(b)-1] == '\r' || len(b) == 0 && prev == '\r' {
		size-- // the CR before it
	}
	if int64(len(long)) > size {
		long = long[:size] // the whole line fits: drop what came after it
	}
	if trimBOM {
		long = bytes.TrimPrefix(long, bom)
	}
	return long, size, ws.blank(), err
}

// spaceScanner tells, over text fed to it in pieces, whether all of it is
// white space as bytes.TrimSpace sees it (unicode.IsSpace), a character
// split between two pieces included.
type spaceScanner struct {
	carry    []byte // the start of a character the last piece ended in
	nonSpace bool
}

func (s *spaceScanner) scan(b []byte) {
	if s.nonSpace {
		return
	}
	if len(s.carry) > 0 {
		tmp := append(s.carry, b[:min(len(b), utf8.UTFMax)]...)
		if !utf8.FullRune(tmp) {
			s.carry = tmp
			return
		}
		r, n := utf8.DecodeRune(tmp)
		if !unicode.IsSpace(r) || n <= len(s.carry) {
			s.nonSpace = true // not a space, or not UTF-8
			return
		}
		b = b[n-len(s.carry):]
		s.carry = s.carry[:0]
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c < utf8.RuneSelf {
			if !asciiSpace[c] {
				s.nonSpace = true
				return
			}
			continue
		}
		if !utf8.FullRune(b[i:]) {
			s.carry = append(s.carry[:0], b[i:]...)
			return
		}
		r, n := utf8.DecodeRune(b[i:])
		if !unicode.IsSpace(r) {
			s.nonSpace = true // a RuneError too: bytes.TrimSpace keeps invalid bytes
			return
		}
		i += n - 1
	}
}

// blank reports whether everything scanned was white space.
func (s *spaceScanner) blank() bool { return !s.nonSpace && len(s.carry) == 0 }

var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}
