package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/bulkid/bulkid"
)

// appSlots bounds the bulk requests of each app that are read at once, so
// that one app's slow uploads cannot hold every slot of the server.
type appSlots struct {
	perApp int
	mu     sync.Mutex
	apps   map[int64]*appSlot
}

type appSlot struct {
	ch   chan struct{}
	refs int // requests holding or waiting for a slot of this app
}

// acquire takes one of the app's slots, or fails once timeout fires or
// done is closed. release must be called after a successful acquire.
func (a *appSlots) acquire(appID int64, timeout <-chan time.Time, done <-chan struct{}) (release func(), ok bool) {
	a.mu.Lock()
	e := a.apps[appID]
	if e == nil {
		e = &appSlot{ch: make(chan struct{}, a.perApp)}
		a.apps[appID] = e
	}
	e.refs++
	a.mu.Unlock()
	unref := func() {
		a.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(a.apps, appID)
		}
		a.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; unref() }, true
	case <-timeout:
	case <-done:
	}
	unref()
	return nil, false
}

// rateReader cuts off a request body that arrives slower than rate bytes
// a second. Each time quota (rate × window) bytes have arrived, it moves
// the connection's read deadline to a window from now; so a body whose
// next quota takes longer than a window (the first one a window and a
// half) hits the deadline, and its read fails with ETIMEOUT. It is one
// deadline per quota, not a timer per read.
type rateReader struct {
	body   io.ReadCloser
	rc     *http.ResponseController
	w      http.ResponseWriter
	rate   int64
	window time.Duration
	quota  int64
	got    int64     // bytes since the deadline last moved
	limit  time.Time // --read-timeout's end of the request; zero if none
	err    error
}

func newRateReader(w http.ResponseWriter, body io.ReadCloser, rate int64, window, readTimeout time.Duration) *rateReader {
	now := time.Now()
	rr := &rateReader{body: body, rc: http.NewResponseController(w), w: w, rate: rate, window: window,
		quota: max(1, rate*int64(window)/int64(time.Second))}
	if readTimeout > 0 {
		rr.limit = now.Add(readTimeout)
	}
	if err := rr.setDeadline(now.Add(window + window/2)); err != nil {
		return nil // the connection has no deadlines to set: read as is
	}
	return rr
}

func (rr *rateReader) setDeadline(d time.Time) error {
	if !rr.limit.IsZero() && d.After(rr.limit) {
		d = rr.limit
	}
	return rr.rc.SetReadDeadline(d)
}

func (rr *rateReader) Read(p []byte) (int, error) {
	if rr.err != nil {
		return 0, rr.err
	}
	n, err := rr.body.Read(p)
	rr.got += int64(n)
	if rr.got >= rr.quota && err == nil {
		rr.got = 0
		rr.setDeadline(time.Now().Add(rr.window))
	}
	switch {
	case err == io.EOF:
		// The body is in: the rest of the request (storing the job) is
		// under --read-timeout alone again, as is the server's read that
		// watches for the client going away.
		rr.setDeadline(rr.limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		rr.w.Header().Set("Connection", "close")
		if !rr.limit.IsZero() && !time.Now().Before(rr.limit) {
			err = &bulkid.Error{Code: bulkid.ETIMEOUT,
				Message: "The upload took longer than the server's read timeout; nothing was stored. Send it again over a faster connection."}
		} else {
			err = &bulkid.Error{Code: bulkid.ETIMEOUT,
				Message: fmt.Sprintf("The upload arrived too slowly: fewer than %d bytes in %s (the server's minimum is %d bytes a second), so it was cut off and nothing was stored. Send it again over a faster connection.",
					rr.quota, rr.window, rr.rate)}
		}
		rr.err = err
	}
	return n, err
}

func (rr *rateReader) Close() error { return rr.body.Close() }
