package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSlowClientsAreCutOff: a client that sends its headers a byte at a
// time, or a body that never finishes, is disconnected by the server's
// timeouts, and other clients are served meanwhile.
func TestSlowClientsAreCutOff(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--read-header-timeout", "1s", "--read-timeout", "2s")
	addr := strings.TrimPrefix(s.URL, "http://")

	// slow sends prefix, then filler a byte every gap, until the server
	// answers or closes the connection, and reports how long that took.
	slow := func(prefix, filler string, gap time.Duration) chan time.Duration {
		closed := make(chan time.Duration, 1)
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		go func() {
			defer conn.Close()
			if _, err := conn.Write([]byte(prefix)); err != nil {
				closed <- time.Since(start)
				return
			}
			for i := 0; time.Since(start) < 20*time.Second; i++ {
				if _, err := conn.Write([]byte{filler[i%len(filler)]}); err != nil {
					break
				}
				conn.SetReadDeadline(time.Now().Add(gap))
				buf := make([]byte, 512)
				if n, err := conn.Read(buf); n > 0 || (err != nil && !isTimeout(err)) {
					break // the server answered or closed the connection
				}
			}
			closed <- time.Since(start)
		}()
		return closed
	}
	headers := slow("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", "a", 200*time.Millisecond)
	body := slow("POST /v1/companies/bulk_identify HTTP/1.1\r\nHost: x\r\nAuthorization: Token "+testKey+
		"\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"companies\":[", " ", 200*time.Millisecond)

	// Others are served while the slow ones hang on.
	for range 5 {
		resp, err := http.Get(s.URL + "/healthz")
		if err != nil {
			t.Fatalf("a normal client was not served: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("a normal client got %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for name, ch := range map[string]chan time.Duration{"headers a byte at a time": headers, "a body that never ends": body} {
		// Cut off by the timeouts (1 s for headers, 2 s for the request),
		// not at once and not never.
		if d := <-ch; d < 500*time.Millisecond || d > 15*time.Second {
			t.Errorf("%s: connection ended after %s, want it cut off by the server's timeout", name, d)
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
