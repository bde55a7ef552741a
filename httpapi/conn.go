package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/bulkid/bulkid"
)

// keyClient holds the request's own context, which ends when net/http
// sees the client's side of the connection close.
const keyClient ctxKey = 100

// withClientContext serves an HTTP/1 request under a context that the
// client closing its side of the connection does not cancel, and says on
// every answer that bodies may be gzip-compressed.
//
// net/http cancels an HTTP/1 request's context as soon as its read of the
// connection after the request sees EOF. A client that half-closes
// (shutdown(SHUT_WR)) after a complete request sends that EOF, yet still
// reads the answer; one that is gone sends the same, and the two look the
// same until the answer is written. Serving both to the end keeps a
// half-closed client's answer correct (store calls no longer fail with
// context.Canceled, which was a 500); a gone client costs the request's
// work, bounded by the store's own timeouts, and its answer's write fails
// quietly. HTTP/2 keeps its context: there, the end of a request's stream
// does not cancel it, and a reset stream is a client that is gone.
func (s *server) withClientContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Accept-Encoding", "gzip")
		if r.ProtoMajor == 1 {
			ctx := context.WithValue(context.WithoutCancel(r.Context()), keyClient, r.Context())
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

// clientGone reports whether err is a cancellation because the client went
// away: that is not a failure of the server.
func clientGone(r *http.Request, err error) bool {
	if !errors.Is(err, context.Canceled) {
		return false
	}
	client, ok := r.Context().Value(keyClient).(context.Context)
	if !ok {
		client = r.Context()
	}
	return client.Err() != nil
}

// maxURLBytes is the longest request target (path and query) taken: ample
// for the longest ids (512 bytes, percent-encoded) and a cursor.
const maxURLBytes = 8 << 10

// withURLLimit answers 414 to a request whose URL is over maxURLBytes,
// before any route reads it (a 404 would echo it back). One over the
// header limit (1 MiB) is refused by net/http before any handler runs.
func (s *server) withURLLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := len(r.RequestURI); n > maxURLBytes {
			w.Header().Set("Connection", "close")
			s.writeError(w, r, bulkid.Errorf(bulkid.EURITOOLONG, "The URL is %d bytes long; at most %d are taken.", n, maxURLBytes))
			return
		}
		next.ServeHTTP(w, r)
	})
}
