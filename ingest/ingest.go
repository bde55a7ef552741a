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
		b, size, err := readLine(br, bulkid.MaxRecordBytes)
		if err != nil && err != io.EOF {
			return 0, err
		}
		if line == 1 {
			b = bytes.TrimPrefix(b, bom)
		}
		if len(bytes.TrimSpace(b)) > 0 {
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
// and io.EOF with the last line if the input ends without one. A line of
// more than max bytes is read to its end but only its first max+1 bytes are
// returned; size is the whole line's length. The slice is valid until the
// next call.
func readLine(br *bufio.Reader, max int) (line []byte, size int64, err error) {
	b, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		if err == nil {
			b = b[:len(b)-1]
		}
		b = bytes.TrimSuffix(b, []byte{'\r'})
		return b, int64(len(b)), err
	}
	long := bytes.Clone(b)
	size = int64(len(b))
	var prev byte // the last byte of the chunk before b
	for err == bufio.ErrBufferFull {
		prev = b[len(b)-1]
		b, err = br.ReadSlice('\n')
		size += int64(len(b))
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
	return long, size, err
}
