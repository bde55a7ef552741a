package bulkid

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// oversizedMark starts the stand-in a reader keeps for a record over
// MaxRecordBytes. No JSON text starts with a NUL byte, so a stand-in never
// passes for a record; a line that forges one fails as it would anyway.
var oversizedMark = []byte("\x00record_too_large:")

// sampleBytes is how much of an oversized record is kept, to show in its
// error report.
const sampleBytes = 1024

// OversizedRecord returns what a reader keeps, instead of the record, for a
// record of size bytes over MaxRecordBytes that begins with head: the size
// and up to the first kilobyte of head. ValidateRecord fails it with
// RRecordTooLarge and reports the kept bytes as the record sent.
func OversizedRecord(head []byte, size int64) []byte {
	head = head[:min(len(head), sampleBytes)]
	b := append([]byte(nil), oversizedMark...)
	b = strconv.AppendInt(b, size, 10)
	b = append(b, 0)
	return append(b, head...)
}

// oversized reports whether raw is a stand-in of OversizedRecord, and the
// size and sample it holds.
func oversized(raw []byte) (size int64, head []byte, ok bool) {
	rest, found := bytes.CutPrefix(raw, oversizedMark)
	if !found {
		return 0, nil, false
	}
	num, head, found := bytes.Cut(rest, []byte{0})
	if !found {
		return 0, nil, false
	}
	size, err := strconv.ParseInt(string(num), 10, 64)
	return size, head, err == nil
}

// malformedRowMark starts the stand-in a CSV reader keeps for a row it
// cannot make into a record. Like oversizedMark, no JSON text starts with
// it, so a stand-in never passes for a record.
var malformedRowMark = []byte("\x00malformed_row:")

// MalformedRow returns what a CSV reader keeps, instead of a record, for a
// row that cannot be made into one (more fields than the header names, a
// stray quote): why, and the row as sent. ValidateRecord fails it with
// RMalformedRow and reports the row as the record sent. why must not hold
// a NUL byte.
func MalformedRow(why string, row []byte) []byte {
	b := append([]byte(nil), malformedRowMark...)
	b = append(b, why...)
	b = append(b, 0)
	return append(b, row...)
}

// malformedRow reports whether raw is a stand-in of MalformedRow, and the
// reason and row it holds.
func malformedRow(raw []byte) (why string, row []byte, ok bool) {
	rest, found := bytes.CutPrefix(raw, malformedRowMark)
	if !found {
		return "", nil, false
	}
	w, row, found := bytes.Cut(rest, []byte{0})
	return string(w), row, found
}

func tooLargeRecord(size int64) *RecordError {
	return &RecordError{Code: RRecordTooLarge,
		Message: fmt.Sprintf("the record is %d bytes; a record may be at most %d bytes (1 MiB)", size, MaxRecordBytes)}
}

var integerRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// parsers are reused: parsing a record then allocates next to nothing.
var parsers fastjson.ParserPool

// ValidateRecord checks one raw record of a job of type t and returns it
// ready to apply, or the reason it cannot be applied, refusing nested
// metadata (NestedRefuse). It is ValidateRecordOpts with the zero options.
func ValidateRecord(t JobType, raw []byte) (Record, *RecordError) {
	return ValidateRecordOpts(t, raw, ValidateOptions{})
}

// ValidateRecordOpts checks one raw record of a job of type t, with the
// choices of o, and returns it ready to apply, or the reason it cannot be
// applied. It is the one validation the server (real-time endpoints and
// the worker alike) and clients use.
//
// It parses the record once with fastjson (strict validation first, so
// exactly well-formed JSON passes, unless o says the caller checked it)
// and writes the metadata back out itself:
// values are primitives, so that is keys, strings and literals. Metadata
// with objects or arrays, under NestedFlatten, is first rewritten as the
// flat object the rule makes of it (flattenMetadata), which is then parsed
// and checked as a flat object sent so would be.
func ValidateRecordOpts(t JobType, raw []byte, o ValidateOptions) (Record, *RecordError) {
	var rec Record
	if size, head, ok := oversized(raw); ok {
		e := tooLargeRecord(size)
		e.Raw = head // what the error report shows as sent
		return rec, e
	}
	if why, row, ok := malformedRow(raw); ok {
		return rec, &RecordError{Code: RMalformedRow, Message: why, Raw: row}
	}
	if len(raw) > MaxRecordBytes {
		return rec, tooLargeRecord(int64(len(raw)))
	}
	if !o.WellFormed && !WellFormed(raw) {
		if TooDeep(raw) {
			return rec, &RecordError{Code: RMalformedJSON, Message: tooDeepMessage}
		}
		return rec, &RecordError{Code: RMalformedJSON, Message: malformedMessage(raw)}
	}
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(raw)
	if err != nil {
		return rec, &RecordError{Code: RMalformedJSON, Message: malformedMessage(raw)}
	}
	obj, err := v.Object()
	if err != nil {
		return rec, &RecordError{Code: RNotObject, Message: fmt.Sprintf("each record must be a JSON object with a %q field", t.IDField())}
	}
	// Only the exact names are fields of a record ({"Company_ID": "x"} has
	// no company_id); of duplicates the last wins.
	var idV, companyV, metadataV *fastjson.Value
	obj.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "company_id":
			companyV = v
		case "user_id":
			idV = v
		case "metadata":
			metadataV = v
		}
	})
	// The decoders replace an unpaired surrogate escape with some other
	// text, so the fields that may hold one are read again as written.
	var raws rawFields
	if mayHoldSurrogate(raw) {
		raws = rawFieldsOf(raw)
	}
	idField, idRaw := "user_id", raws.user
	if t != JobUsers {
		idField, idV, idRaw = "company_id", companyV, raws.company
	}
	id, code, msg := parseID(idField, idV, idRaw)
	if code != "" {
		return rec, &RecordError{Code: code, Message: msg}
	}
	rec.ID = id

	if t == JobUsers && companyV != nil && companyV.Type() != fastjson.TypeNull {
		cid, code, msg := parseID("company_id", companyV, raws.company)
		if code != "" {
			return rec, &RecordError{ID: id, Code: RInvalidCompanyID, Message: msg}
		}
		rec.CompanyID = cid
	}

	md, rerr := metadataOf(metadataV, raws.metadata, func() []byte { return rawFieldsOf(raw).metadata }, o)
	if rerr != nil {
		rerr.ID = id
		return rec, rerr
	}
	rec.Metadata = md
	return rec, nil
}

// ValidateMetadata checks a metadata value on its own, raw as sent (one
// JSON value: an object, or null), by the rules and options of
// ValidateRecordOpts, and returns what ValidateRecordOpts would return as
// the Metadata of a record holding it. It is for bodies that carry
// metadata but are not records (POST /v1/track). Its errors carry no ID.
// raw nil is no metadata, as JSON null is.
func ValidateMetadata(raw []byte, o ValidateOptions) (json.RawMessage, *RecordError) {
	if raw == nil {
		return nil, nil
	}
	if len(raw) > MaxRecordBytes {
		return nil, tooLargeRecord(int64(len(raw)))
	}
	if !WellFormed(raw) {
		if TooDeep(raw) {
			return nil, &RecordError{Code: RMalformedJSON, Message: tooDeepMessage}
		}
		return nil, &RecordError{Code: RMalformedJSON, Message: malformedMessage(raw)}
	}
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(raw)
	if err != nil {
		return nil, &RecordError{Code: RMalformedJSON, Message: malformedMessage(raw)}
	}
	var written []byte
	if mayHoldSurrogate(raw) {
		written = raw
	}
	return metadataOf(v, written, func() []byte { return raw }, o)
}

// metadataOf checks the metadata value v under o: parseMetadata, after
// flattening it (NestedFlatten) if it nests. written is v as written if
// it may hold a surrogate escape, else nil; whole returns v as written,
// for flattening.
func metadataOf(v *fastjson.Value, written []byte, whole func() []byte, o ValidateOptions) (json.RawMessage, *RecordError) {
	if o.Nested != NestedFlatten || !hasNested(v) {
		return parseMetadata(v, written)
	}
	if written == nil {
		written = whole()
	}
	flat, rerr := flattenMetadata(written)
	if rerr != nil {
		return nil, rerr
	}
	p := parsers.Get()
	defer parsers.Put(p)
	fv, err := p.ParseBytes(flat)
	if err != nil { // cannot happen: flat is well-formed
		return nil, &RecordError{Code: RInvalidMetadata, Message: "metadata could not be flattened"}
	}
	written = nil
	if mayHoldSurrogate(flat) {
		written = flat
	}
	return parseMetadata(fv, written)
}

// WellFormed reports whether raw is exactly well-formed JSON nested at most
// MaxDepth deep. fastjson's validator is fast but recursive, with no bound
// on its depth: a 10 MB line of brackets would overflow the goroutine's
// stack and kill the process, so anything nested deeper is refused first.
// The validator also lets control characters through inside strings;
// those are the only bytes below 0x20, and but for tab, LF and CR (JSON
// whitespace outside strings) they are never valid, so records holding
// those three take the standard library's slower, exact check.
func WellFormed(raw []byte) bool {
	ws, open := false, 0
	for _, c := range raw {
		if c < 0x20 {
			if c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			ws = true
		} else if c|0x20 == '{' { // '{' or '['
			open++
		}
	}
	if open > MaxDepth && TooDeep(raw) {
		return false
	}
	if ws {
		return json.Valid(raw)
	}
	return fastjson.ValidateBytes(raw) == nil
}

// TooDeep reports whether raw opens more than MaxDepth arrays and objects
// within each other, brackets inside strings not counted. It reads raw
// once, without recursion, whether or not raw is valid JSON.
func TooDeep(raw []byte) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range raw {
		switch {
		case escaped:
			escaped = false
		case inString:
			if c == '\\' {
				escaped = true
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > MaxDepth {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}

// tooDeepMessage is the record error message of a record TooDeep.
var tooDeepMessage = fmt.Sprintf("the record nests arrays and objects more than %d levels deep, more than bulkid reads", MaxDepth)

// rawFields are the values of a record's fields as written: the last of
// each name, as fastjson's are.
type rawFields struct{ company, user, metadata []byte }

func rawFieldsOf(raw []byte) rawFields {
	var f rawFields
	ObjectMembers(raw, func(name, value []byte) {
		switch MemberName(name) {
		case "company_id":
			f.company = value
		case "user_id":
			f.user = value
		case "metadata":
			f.metadata = value
		}
	})
	return f
}

// surrogateMessage says that what holds the unpaired surrogate escape esc.
func surrogateMessage(what, esc string) string {
	return fmt.Sprintf("%s holds the unpaired UTF-16 surrogate escape %s, which stands for no character; send the text as UTF-8, or a surrogate as half of a pair", what, esc)
}

// nulMessage says that what holds U+0000.
func nulMessage(what string) string {
	return fmt.Sprintf("%s holds the character U+0000 (NUL, sent as \\u0000), which bulkid cannot store", what)
}

// Storable reports whether s is text every store can hold: valid UTF-8
// without U+0000 (PostgreSQL's text refuses both). Every id that passes
// ValidateRecord is; an id that is not names no company, user or job.
func Storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// parseID reads an id: a non-empty string, or an integer taken as its
// decimal string; raw is the value as written, if the record may hold a
// surrogate escape. It returns a record error code and message on failure.
func parseID(field string, v *fastjson.Value, raw []byte) (id, code, msg string) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return "", RMissingID, fmt.Sprintf("%s is required", field)
	}
	switch v.Type() {
	case fastjson.TypeString:
		b := v.GetStringBytes()
		if len(b) == 0 {
			return "", RMissingID, fmt.Sprintf("%s must not be empty", field)
		}
		// Checked on the bytes as sent: a decoder that replaced invalid
		// UTF-8 with U+FFFD would merge distinct ids into one.
		if !utf8.Valid(b) {
			return "", RInvalidID, fmt.Sprintf("%s is not valid UTF-8", field)
		}
		if esc := loneSurrogate(raw); esc != "" {
			return "", RInvalidID, surrogateMessage(field, esc)
		}
		// PostgreSQL's text cannot hold U+0000: no store takes it.
		if bytes.IndexByte(b, 0) >= 0 {
			return "", RInvalidID, nulMessage(field)
		}
		id = string(b)
	case fastjson.TypeNumber:
		text := v.MarshalTo(nil) // numbers keep the text they were sent as
		if !integerRE.Match(text) {
			return "", RInvalidID, fmt.Sprintf("%s must be a string or an integer, got %s", field, preview(text))
		}
		id = string(text)
	default:
		return "", RInvalidID, fmt.Sprintf("%s must be a string or an integer, got %s", field, preview(v.MarshalTo(nil)))
	}
	if len(id) > MaxIDLen {
		return "", RInvalidID, fmt.Sprintf("%s is %d bytes long; at most %d are allowed", field, len(id), MaxIDLen)
	}
	return id, "", ""
}

// member is one member of a metadata object being checked: its key as
// the parser decoded it (valid while the parser is not put back) and its
// value.
type member struct {
	key []byte
	v   *fastjson.Value
}

// metadataBufs are the scratch buffers parseMetadata writes its output in
// before copying it out at its exact size: a record's metadata then costs
// one allocation of what it is, not a guess at it.
var metadataBufs = sync.Pool{New: func() any { return new([]byte) }}

// parseMetadata checks that v is absent, null or an object of primitives,
// and returns it as compact JSON with keys sorted and duplicate keys
// resolved (the last wins). raw is the value as written, if the record may
// hold a surrogate escape.
func parseMetadata(v *fastjson.Value, raw []byte) (json.RawMessage, *RecordError) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	obj, err := v.Object()
	if err != nil {
		return nil, &RecordError{Code: RInvalidMetadata, Message: fmt.Sprintf("metadata must be an object, got %s", preview(v.MarshalTo(nil)))}
	}
	if obj.Len() > MaxMetadataKeys {
		return nil, &RecordError{Code: RInvalidMetadata, Message: fmt.Sprintf("metadata has %d keys; at most %d are allowed", obj.Len(), MaxMetadataKeys)}
	}
	// A key with an unpaired surrogate escape fails as written; a string
	// value with one fails if it is the value its key ends up with.
	var loneValue map[string]string
	if raw != nil {
		var rerr *RecordError
		ObjectMembers(raw, func(name, value []byte) {
			if rerr != nil {
				return
			}
			if esc := loneSurrogate(name); esc != "" {
				rerr = &RecordError{Code: RInvalidMetadata, Message: surrogateMessage("metadata key "+preview(name), esc)}
				return
			}
			k := MemberName(name)
			delete(loneValue, k)
			if len(value) > 0 && value[0] == '"' {
				if esc := loneSurrogate(value); esc != "" {
					if loneValue == nil {
						loneValue = map[string]string{}
					}
					loneValue[k] = esc
				}
			}
		})
		if rerr != nil {
			return nil, rerr
		}
	}
	var buf [32]member
	members := buf[:0]
	obj.Visit(func(k []byte, v *fastjson.Value) { members = append(members, member{k, v}) })
	// Taken in the order of their keys; of equal keys in the order sent,
	// so the last of each run is the one that wins. What is sorted is
	// their indexes, which hold no pointers: moving members themselves
	// costs a write barrier each while the collector runs. Clients often
	// send keys sorted already, which costs one look through them.
	var obuf [32]int32
	order := obuf[:0]
	for i := range members {
		order = append(order, int32(i))
	}
	for i := 1; i < len(members); i++ {
		if bytes.Compare(members[i-1].key, members[i].key) >= 0 {
			slices.SortFunc(order, func(a, b int32) int {
				if c := bytes.Compare(members[a].key, members[b].key); c != 0 {
					return c
				}
				return int(a - b)
			})
			break
		}
	}
	bp := metadataBufs.Get().(*[]byte)
	out := append((*bp)[:0], '{')
	defer func() {
		if cap(out) <= 64<<10 { // a rare large one is not kept
			*bp = out[:0]
			metadataBufs.Put(bp)
		}
	}()
	for i, at := range order {
		m := members[at]
		if i+1 < len(order) && bytes.Equal(members[order[i+1]].key, m.key) {
			continue
		}
		typ := m.v.Type()
		switch {
		case len(m.key) == 0:
			return nil, &RecordError{Code: RInvalidMetadata, Message: "metadata has an empty key"}
		case !utf8.Valid(m.key):
			return nil, &RecordError{Code: RInvalidMetadata, Message: fmt.Sprintf("metadata key %s is not valid UTF-8", quote(string(m.key)))}
		case bytes.IndexByte(m.key, 0) >= 0:
			return nil, &RecordError{Code: RInvalidMetadata, Message: nulMessage("metadata key " + quote(string(m.key)))}
		case typ == fastjson.TypeObject || typ == fastjson.TypeArray:
			kind := "an object"
			if typ == fastjson.TypeArray {
				kind = "an array"
			}
			return nil, &RecordError{Code: RNestedMetadata, Message: fmt.Sprintf(
				"metadata key %s is %s; only string, number, boolean or null values are allowed", quote(string(m.key)), kind)}
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = appendString(out, m.key)
		out = append(out, ':')
		if typ == fastjson.TypeString {
			b := m.v.GetStringBytes()
			if !utf8.Valid(b) {
				return nil, &RecordError{Code: RInvalidMetadata, Message: fmt.Sprintf("the value of metadata key %s is not valid UTF-8", quote(string(m.key)))}
			}
			if loneValue != nil {
				if esc := loneValue[string(m.key)]; esc != "" {
					return nil, &RecordError{Code: RInvalidMetadata, Message: surrogateMessage("the value of metadata key "+quote(string(m.key)), esc)}
				}
			}
			if bytes.IndexByte(b, 0) >= 0 {
				return nil, &RecordError{Code: RInvalidMetadata, Message: nulMessage("the value of metadata key " + quote(string(m.key)))}
			}
			out = appendString(out, b)
		} else { // numbers as sent, true, false, null
			n := len(out)
			out = m.v.MarshalTo(out)
			if typ == fastjson.TypeNumber {
				if problem := numberProblem(out[n:]); problem != "" {
					return nil, &RecordError{Code: RInvalidMetadata, Message: fmt.Sprintf(
						"the value of metadata key %s %s; send it as a string to keep it as it is", quote(string(m.key)), problem)}
				}
			}
		}
	}
	out = append(out, '}')
	return bytes.Clone(out), nil
}

// MaxNumberLen is the longest number text metadata may hold.
const MaxNumberLen = 1000

// numberProblem says why the JSON number text cannot be metadata, or "".
// A number is stored as sent, but it must be one a 64-bit float holds
// without overflow or underflow (1e400 and 1e-400 are not), so that every
// store and client reads the same value: PostgreSQL's numeric refuses
// exponents beyond its range, and would fail the job, and a float64 client
// would read ±Inf or 0. Digits beyond a float64's precision are kept. The
// length and exponent bounds keep the number within PostgreSQL's numeric
// scale (at most 16,383 decimal places) even when it is zero, as 0e-99999.
func numberProblem(text []byte) string {
	if len(text) > MaxNumberLen {
		return fmt.Sprintf("is a number of %d characters; at most %d are allowed", len(text), MaxNumberLen)
	}
	exp := bytes.IndexAny(text, "eE")
	if exp < 0 && len(text) <= 15 {
		return "" // at most 15 characters without an exponent: within range
	}
	if exp >= 0 {
		digits := bytes.TrimLeft(text[exp+1:], "+-0")
		if len(digits) > 3 {
			return fmt.Sprintf("is the number %s, whose exponent has more than 3 digits", preview(text))
		}
	} else {
		exp = len(text)
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		return fmt.Sprintf("is the number %s, beyond the range of a 64-bit float", preview(text))
	}
	if f == 0 && bytes.ContainsAny(text[:exp], "123456789") {
		return fmt.Sprintf("is the number %s, too small for a 64-bit float (it would read as 0)", preview(text))
	}
	return ""
}

// appendString appends s, valid UTF-8, as a JSON string: quotes,
// backslashes and control characters escaped, everything else as it is.
func appendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// preview returns the start of a JSON value for an error message: valid
// UTF-8 (bytes that are not become U+FFFD), cut between characters.
func preview(raw []byte) string {
	const max = 40
	if len(raw) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(raw[cut]) {
			cut--
		}
		return strings.ToValidUTF8(string(raw[:cut]), "\uFFFD") + "…"
	}
	return strings.ToValidUTF8(string(raw), "\uFFFD")
}

// quote returns a metadata key for an error message, as a Go string
// literal of at most about 40 characters.
func quote(key string) string {
	if len(key) > 40 {
		cut := 40
		for cut > 0 && !utf8.RuneStart(key[cut]) {
			cut--
		}
		return strconv.Quote(key[:cut]) + "…"
	}
	return strconv.Quote(key)
}
