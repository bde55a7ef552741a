package httpapi

import (
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/bulkid/bulkid"
)

// This file reads request bodies: their Content-Encoding, and what a
// failure to read one is called in words a person can act on. No error
// text of a library reaches a client.

// maxCompressed is the most bytes a gzip body of at most max decompressed
// bytes may take as sent: data that does not compress grows by 5 bytes
// per 64 KiB block, plus a header and trailer.
func maxCompressed(max int64) int64 { return max + max/1024 + 64<<10 }

// contentCoding reads Content-Encoding: "" for none or identity, "gzip"
// for gzip (or x-gzip), or a 415 for anything else, gzip applied twice
// included.
func contentCoding(r *http.Request) (string, error) {
	coding := ""
	for _, v := range r.Header.Values("Content-Encoding") {
		for _, c := range strings.Split(v, ",") {
			switch c = strings.ToLower(strings.TrimSpace(c)); {
			case c == "" || c == "identity":
			case (c == "gzip" || c == "x-gzip") && coding == "":
				coding = "gzip"
			default:
				if len(c) > 40 {
					c = c[:40] + "..."
				}
				return "", bulkid.Errorf(bulkid.EUNSUPPORTED,
					"The Content-Encoding %q is not supported; send the body as it is, or compressed once with Content-Encoding: gzip.", c)
			}
		}
	}
	return coding, nil
}

// refuseCoding answers a 415 of contentCoding, saying in Accept-Encoding
// (RFC 7694) what the server decodes.
func (s *server) refuseCoding(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Accept-Encoding", "gzip")
	s.writeError(w, r, err)
}

// requestBody is a request's body as sent (src) and decoded (Reader).
type requestBody struct {
	io.Reader
	src *bodySource
}

// openBody returns the body of r decoded per coding (from contentCoding).
// A gzip body may take at most maxCompressed(max) bytes as sent; the
// caller limits the decoded bytes to max, so a small body that
// decompresses to more stops there.
func openBody(r *http.Request, coding string, max int64) *requestBody {
	src := &bodySource{r: r.Body}
	b := &requestBody{Reader: src, src: src}
	if coding == "gzip" {
		b.Reader = &gunzipReader{src: &compressedLimit{r: src, max: maxCompressed(max)}, body: src}
	}
	return b
}

// bodySource reads the body as sent and keeps the first error of that
// read other than io.EOF: a connection that broke off, a body shorter than
// its Content-Length.
type bodySource struct {
	r   io.Reader
	err error
}

func (b *bodySource) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// compressedLimit fails once more than max compressed bytes came in.
type compressedLimit struct {
	r   io.Reader
	max int64
	n   int64
}

func (l *compressedLimit) Read(p []byte) (int, error) {
	if l.n > l.max {
		return 0, l.tooLarge()
	}
	if left := l.max - l.n + 1; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := l.r.Read(p)
	if l.n += int64(n); l.n > l.max {
		return 0, l.tooLarge()
	}
	return n, err
}

func (l *compressedLimit) tooLarge() error {
	return bulkid.Errorf(bulkid.ETOOLARGE, "The gzip-compressed body exceeds %d bytes as sent, more than any body within the limit can take.", l.max)
}

// gunzipReader decompresses a gzip body (several members one after
// another too), turning gzip's errors into a 400 that says what is wrong.
type gunzipReader struct {
	src  io.Reader
	body *bodySource
	zr   *gzip.Reader
	err  error
}

func (g *gunzipReader) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.zr == nil {
		zr, err := gzip.NewReader(g.src)
		if err != nil {
			g.err = g.explain(err) // io.EOF for an empty body, which reads as empty
			return 0, g.err
		}
		g.zr = zr
	}
	n, err := g.zr.Read(p)
	if err != nil {
		err = g.explain(err)
		g.err = err
	}
	return n, err
}

func (g *gunzipReader) explain(err error) error {
	var be *bulkid.Error
	if err == io.EOF || errors.As(err, &be) || g.body.err != nil {
		return err // the end, a limit, or the connection: not gzip's fault
	}
	var corrupt flate.CorruptInputError
	msg := "The body cannot be decompressed as gzip (Content-Encoding: gzip)."
	switch {
	case errors.Is(err, gzip.ErrHeader):
		msg = "The body is not gzip data, though its Content-Encoding says gzip; a gzip header is missing or wrong. Compress it with gzip, or drop the header."
	case errors.Is(err, gzip.ErrChecksum):
		msg = "The gzip-compressed body is corrupt: its checksum does not match its data."
	case errors.Is(err, io.ErrUnexpectedEOF):
		msg = "The gzip-compressed body is cut short: it ends before its gzip data does."
	case errors.As(err, &corrupt):
		msg = fmt.Sprintf("The gzip-compressed body is corrupt: its compressed data is invalid at byte %d.", int64(corrupt))
	}
	return &bulkid.Error{Code: bulkid.EINVALID, Message: msg}
}

// explain returns the error of reading the body (by a scanner or the
// multipart reader) as one a client can act on: ours as it is, a broken
// connection or short body as such, and a malformed multipart body
// described, never with the library's words.
func (b *requestBody) explain(err error, multipartBoundary string) error {
	var be *bulkid.Error
	if errors.As(err, &be) {
		return be
	}
	if b.src.err != nil {
		return &bulkid.Error{Code: bulkid.EINVALID,
			Message: "The request body ended before it was complete: the connection broke off, or the body is shorter than its Content-Length."}
	}
	if multipartBoundary == "" {
		return &bulkid.Error{Code: bulkid.EINVALID, Message: "The request body could not be read."}
	}
	return multipartError(err, multipartBoundary)
}

// multipartError describes a failure of the multipart reader.
func multipartError(err error, boundary string) error {
	if len(boundary) > 70 {
		boundary = boundary[:70] + "..."
	}
	var pe textproto.ProtocolError
	msg := fmt.Sprintf("The multipart body is malformed: each part must start with a line --%s and the body end with --%s--, as the boundary in Content-Type says.", boundary, boundary)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		msg = fmt.Sprintf("The multipart body ends before its closing boundary: it must end with a line --%s--. Send the whole body.", boundary)
	case errors.Is(err, multipart.ErrMessageTooLarge):
		msg = "A part of the multipart body has too many or too large headers."
	case errors.As(err, &pe):
		msg = `A part of the multipart body has a malformed header: each header line must be "Name: value", and an empty line must end a part's headers.`
	}
	return &bulkid.Error{Code: bulkid.EINVALID, Message: msg}
}
