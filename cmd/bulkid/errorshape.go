package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/httpapi"
)

// A request net/http cannot parse (a header with a NUL, Content-Length
// twice, a request line and headers over 1 MiB, an unknown
// Transfer-Encoding) is refused by net/http before any handler runs, in
// plain text, with one Write on the connection of exactly this form:
//
//	HTTP/1.1 <status>[: <text>]\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n<body>
//
// (net/http's conn.serve). shapedListener's connections rewrite such a
// Write into the same status with a body in the documented error shape.
// Only plain HTTP: with TLS, http.Server must be handed the *tls.Conn,
// above which nothing can be put, so there those refusals stay plain text.
type shapedListener struct{ net.Listener }

func (l shapedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &shapedConn{Conn: c}, nil
}

type shapedConn struct{ net.Conn }

func (c *shapedConn) Write(p []byte) (int, error) {
	if out, ok := reshapeRefusal(p); ok {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// CloseWrite keeps net/http's half-close before it closes a connection it
// refused (closeWriteAndWait), which lets the client read the answer.
func (c *shapedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

const plainErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// reshapeRefusal returns the answer p in the error shape if p is exactly
// one of net/http's plain-text refusals.
func reshapeRefusal(p []byte) ([]byte, bool) {
	if len(p) > 512 {
		return nil, false
	}
	rest, ok := strings.CutPrefix(string(p), "HTTP/1.1 ")
	if !ok {
		return nil, false
	}
	statusLine, body, ok := strings.Cut(rest, plainErrorHeaders)
	if !ok || len(statusLine) < 4 || statusLine[3] != ' ' {
		return nil, false
	}
	status, err := strconv.Atoi(statusLine[:3])
	if err != nil {
		return nil, false
	}
	text := "" // net/http's reason, after the status text
	if _, t, found := strings.Cut(statusLine[4:], ": "); found {
		text = t
	}
	var e error
	switch {
	case status == 431 && body == statusLine:
		e = bulkid.Errorf(bulkid.EHEADERSTOOLARGE, "The request's URL and headers are larger than the server takes (1 MiB); send a shorter URL, or fewer or smaller headers.")
	case status == 501 && body == "Unsupported transfer encoding":
		e = bulkid.Errorf(bulkid.ENOTIMPLEMENTED, "The request's Transfer-Encoding is not supported; send the body with a Content-Length, or with Transfer-Encoding: chunked.")
	case status == 505 && body == statusLine:
		e = bulkid.Errorf(bulkid.EHTTPVERSION, "The request's HTTP version is not supported; send HTTP/1.1.")
	case status == 400 && body == statusLine && text == "":
		e = bulkid.Errorf(bulkid.EINVALID, "The request is not valid HTTP/1.1: its request line or a header is malformed (a control character such as NUL in a header, Content-Length sent twice or not a number, a header line that is not \"Name: value\"). Fix the request and send it again.")
	case status == 400 && body == statusLine:
		e = bulkid.Errorf(bulkid.EINVALID, "The request is not valid HTTP/1.1 (%s). Fix the request and send it again.", text)
	default:
		return nil, false
	}
	code, b := httpapi.ErrorResponse(e)
	id := make([]byte, 16)
	rand.Read(id)
	head := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\nX-Request-Id: %s\r\nConnection: close\r\n\r\n",
		code, http.StatusText(code), len(b), hex.EncodeToString(id))
	return append([]byte(head), b...), true
}
