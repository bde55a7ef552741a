package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/bulkid/bulkid"
)

// ScanJSON reads a JSON object whose member field is the array of records
// ({"companies": [...]}) from r, passing each record to add, and returns
// how many there were. Other members are ignored, and so is one leading
// byte-order mark. It fails with
// EINVALIDJSON, EMISSINGRECORDS, EEMPTY, ETOOMANY, ETOOLARGE (only if r is
// a LimitReader), a read error, or add's error.
//
// It walks the body's structure itself, finding where each value ends, and
// validates each value with bulkid.WellFormed: the standard decoder would
// scan every element twice through reflection, at about a quarter of the
// speed.
func ScanJSON(r io.Reader, field string, lim Limits, add Sink) (int, error) {
	s := &jsonSplitter{br: bufio.NewReaderSize(r, 64<<10), max: bulkid.MaxRecordBytes}
	// A UTF-8 byte-order mark, which Windows tools write, may start the
	// body (RFC 8259 section 8.1 lets a parser ignore it); byte offsets in
	// messages still count it.
	if b, err := s.br.Peek(len(bom)); bytes.Equal(b, bom) {
		s.br.Discard(len(bom))
		s.off = int64(len(bom))
	} else if err != nil && err != io.EOF {
		return 0, err // bufio hands an error out once: do not drop it
	}
	missing := &bulkid.Error{Code: bulkid.EMISSINGRECORDS,
		Message: fmt.Sprintf(`The body must be a JSON object with a %q array, like {"%s": [...]}.`, field, field)}

	c, err := s.next()
	if err != nil {
		return 0, err
	}
	if c != '{' {
		if startsValue(c) {
			return 0, missing
		}
		return 0, s.syntax("%s where a value should begin", char(c))
	}
	s.skip()
	n, found := 0, false
	for first := true; ; first = false {
		c, err := s.next()
		if err != nil {
			return 0, err
		}
		if c == '}' && first {
			s.skip()
			break
		}
		if c != '"' {
			return 0, s.syntax("%s where a member name in quotes should begin", char(c))
		}
		start := s.off
		keyRaw, err := s.value(nil)
		if err != nil {
			return 0, s.valueErr(err, "the member name", start)
		}
		var key string
		if !bulkid.WellFormed(keyRaw) || json.Unmarshal(keyRaw, &key) != nil {
			return 0, s.syntax("invalid object key")
		}
		if c, err = s.next(); err != nil {
			return 0, err
		} else if c != ':' {
			return 0, s.syntax("%s after a member name, where a colon should be", char(c))
		}
		s.skip()
		if c, err = s.next(); err != nil {
			return 0, err
		}
		switch {
		case key != field:
			if err := s.skipValue(); err != nil {
				return 0, err
			}
		case found:
			return 0, &bulkid.Error{Code: bulkid.EINVALIDJSON, Message: fmt.Sprintf("The body has the member %q twice.", field)}
		case c != '[':
			if err := s.skipValue(); err != nil {
				return 0, err
			}
			return 0, missing
		default:
			found = true
			if n, err = s.array(lim, add); err != nil {
				return 0, err
			}
		}
		c, err = s.next()
		if err != nil {
			return 0, err
		}
		if c != '}' && c != ',' {
			return 0, s.syntax("%s after a member, where a comma or } should be", char(c))
		}
		s.skip()
		if c == '}' {
			break
		}
	}
	if c, err := s.next(); err == nil {
		return 0, &bulkid.Error{Code: bulkid.EINVALIDJSON, Message: fmt.Sprintf("The body has data after its JSON object (%s at byte %d).", char(c), s.off+1)}
	} else if !errors.Is(err, errEnd) {
		return 0, err
	}
	if !found {
		return 0, missing
	}
	if n == 0 {
		return 0, empty()
	}
	return n, nil
}

// array reads the elements of the records array, whose '[' is next.
func (s *jsonSplitter) array(lim Limits, add Sink) (int, error) {
	s.skip()
	c, err := s.next()
	if err != nil {
		return 0, err
	}
	if c == ']' {
		s.skip()
		return 0, nil
	}
	var elem []byte
	for n := 0; ; n++ {
		if n == lim.MaxRecords {
			return 0, tooMany(lim.MaxRecords)
		}
		if _, err := s.next(); err != nil {
			return 0, err
		}
		start := s.off
		if elem, err = s.value(elem[:0]); err != nil {
			return 0, s.valueErr(err, fmt.Sprintf("record %d", n), start)
		}
		if !bulkid.WellFormed(elem) {
			if bulkid.TooDeep(elem) {
				return 0, &bulkid.Error{Code: bulkid.EINVALIDJSON, Message: fmt.Sprintf("The body is not valid JSON: record %d (at byte %d) nests arrays and objects more than %d levels deep.", n, start+1, bulkid.MaxDepth)}
			}
			return 0, &bulkid.Error{Code: bulkid.EINVALIDJSON, Message: fmt.Sprintf("The body is not valid JSON: record %d (at byte %d) is malformed.", n, start+1)}
		}
		if err := add(n, elem); err != nil {
			return 0, err
		}
		if c, err = s.next(); err != nil {
			return 0, err
		}
		switch c {
		case ']':
			s.skip()
			return n + 1, nil
		case ',':
			s.skip()
		default:
			return 0, s.syntax("%s after an array element, where a comma or ] should be", char(c))
		}
	}
}

// jsonSplitter finds the extent of JSON values in a stream.
type jsonSplitter struct {
	br  *bufio.Reader
	off int64 // bytes consumed
	max int   // the most bytes one value may have
}

// errValueTooLarge is a value longer than the splitter's max: reading
// stops there, having held at most max bytes of it.
var errValueTooLarge = errors.New("value too large")

// valueErr names what (say "record 3" or "the value") in the error of a
// value over the size limit, and passes other errors as they are.
func (s *jsonSplitter) valueErr(err error, what string, start int64) error {
	if err != errValueTooLarge {
		return err
	}
	return &bulkid.Error{Code: bulkid.ETOOLARGE, Message: fmt.Sprintf("In the body, %s at byte %d is larger than %d bytes (1 MiB), the most one record may be.", what, start+1, s.max)}
}

// char names the byte c in a message: 'x' if it is a printable ASCII
// character, its value in hex otherwise (binary data, or part of a UTF-8
// character, which %q would show as another character).
func char(c byte) string {
	if c > ' ' && c < 0x7f {
		return fmt.Sprintf("the character %q", rune(c))
	}
	return fmt.Sprintf("the byte 0x%02X", c)
}

// errEnd is the end of the input where a value was still to come.
var errEnd = &bulkid.Error{Code: bulkid.EINVALIDJSON, Message: "The body is not valid JSON: it ends too early."}

// readErr turns the end of the input into errEnd; other errors (a limit, a
// broken connection) pass as they are.
func readErr(err error) error {
	if err == io.EOF {
		return errEnd
	}
	return err
}

func (s *jsonSplitter) syntax(format string, args ...any) error {
	return &bulkid.Error{Code: bulkid.EINVALIDJSON, Message: fmt.Sprintf("The body is not valid JSON: "+format+" (at byte %d).", append(args, s.off+1)...)}
}

func startsValue(c byte) bool {
	return c == '[' || c == '{' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n'
}

// skip consumes the byte that next returned.
func (s *jsonSplitter) skip() {
	s.br.ReadByte()
	s.off++
}

// next skips JSON whitespace and returns the next byte without consuming it.
func (s *jsonSplitter) next() (byte, error) {
	for {
		buf, err := s.br.Peek(1)
		if err != nil {
			return 0, readErr(err)
		}
		switch buf[0] {
		case ' ', '\t', '\n', '\r':
			s.br.ReadByte()
			s.off++
		default:
			return buf[0], nil
		}
	}
}

// skipValue reads the value that is next and checks that it is JSON.
func (s *jsonSplitter) skipValue() error {
	start := s.off
	v, err := s.value(nil)
	if err != nil {
		return s.valueErr(err, "the value", start)
	}
	if !bulkid.WellFormed(v) {
		what := "is malformed"
		if bulkid.TooDeep(v) {
			what = fmt.Sprintf("nests arrays and objects more than %d levels deep", bulkid.MaxDepth)
		}
		return &bulkid.Error{Code: bulkid.EINVALIDJSON, Message: fmt.Sprintf("The body is not valid JSON: the value at byte %d %s.", start+1, what)}
	}
	return nil
}

// value appends the value that is next to dst: a string to its closing
// quote, an object or array to its closing bracket (minding strings), a
// number or literal to the next delimiter. It does not validate the value.
func (s *jsonSplitter) value(dst []byte) ([]byte, error) {
	c, err := s.br.ReadByte()
	if err != nil {
		return dst, readErr(err)
	}
	s.off++
	dst = append(dst, c)
	switch {
	case c == '"':
		return s.scan(dst, 0, true)
	case c == '{' || c == '[':
		return s.scan(dst, 1, false)
	case startsValue(c):
		for {
			buf, err := s.br.Peek(1)
			if err == io.EOF {
				return dst, nil // the end of a literal; the caller sees what follows
			} else if err != nil {
				return dst, err
			}
			switch buf[0] {
			case ',', ']', '}', ' ', '\t', '\n', '\r', ':':
				return dst, nil
			}
			s.br.ReadByte()
			s.off++
			if dst = append(dst, buf[0]); len(dst) > s.max {
				return dst, errValueTooLarge
			}
		}
	default:
		return dst, s.syntax("%s where a value should begin", char(c))
	}
}

// take appends the buffered bytes b, the end of a value, to dst and
// consumes them.
func (s *jsonSplitter) take(dst, b []byte) ([]byte, error) {
	if len(dst)+len(b) > s.max {
		return dst, errValueTooLarge
	}
	dst = append(dst, b...)
	s.br.Discard(len(b))
	s.off += int64(len(b))
	return dst, nil
}

// scan appends bytes to dst until the nesting depth returns to zero, or,
// inString at depth 0, until the string's closing quote. It works on
// bufio's buffer a slice at a time.
func (s *jsonSplitter) scan(dst []byte, depth int, inString bool) ([]byte, error) {
	escaped := false
	for {
		if s.br.Buffered() == 0 {
			if _, err := s.br.Peek(1); err != nil {
				return dst, readErr(err)
			}
		}
		buf, _ := s.br.Peek(s.br.Buffered())
		for i := 0; i < len(buf); i++ {
			switch c := buf[i]; {
			case escaped:
				escaped = false
			case inString:
				// Most of a body is inside strings: go to the next
				// quote or backslash at once (bytes.IndexByte looks
				// through many bytes at a time).
				rest := buf[i:]
				q := bytes.IndexByte(rest, '"')
				if q < 0 {
					q = len(rest)
				}
				if b := bytes.IndexByte(rest[:q], '\\'); b >= 0 {
					i += b
					escaped = true
					continue
				}
				if i += q; i == len(buf) {
					continue // the string goes on past the buffer
				}
				inString = false
				if depth == 0 {
					return s.take(dst, buf[:i+1])
				}
			case c == '"':
				inString = true
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				depth--
				if depth == 0 {
					return s.take(dst, buf[:i+1])
				}
			}
		}
		if len(dst)+len(buf) > s.max {
			return dst, errValueTooLarge
		}
		dst = append(dst, buf...)
		s.br.Discard(len(buf))
		s.off += int64(len(buf))
	}
}
