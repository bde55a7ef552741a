package httpapi_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// trickle is a raw bulk upload that sends its headers and the start of
// its body, then a few bytes every gap, until the server answers.
type trickle struct {
	conn   net.Conn
	answer chan response // the server's answer; Status -1 if it closed without one
	closed chan bool     // after the answer: whether the server then closed the connection
}

func startTrickle(t *testing.T, s *server, key string, gap time.Duration) *trickle {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	head := "POST /v1/companies/bulk_identify HTTP/1.1\r\nHost: x\r\nAuthorization: Token " + key +
		"\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"companies\":["
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	tr := &trickle{conn: conn, answer: make(chan response, 1), closed: make(chan bool, 1)}
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(gap):
			}
			if _, err := conn.Write([]byte("   ")); err != nil {
				return
			}
		}
	}()
	go func() {
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		close(stop)
		if err != nil {
			tr.answer <- response{Status: -1, Body: []byte(err.Error())}
			tr.closed <- true
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.answer <- response{Status: resp.StatusCode, Header: resp.Header, Body: body}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = br.ReadByte()
		tr.closed <- err == io.EOF
	}()
	return tr
}

// wait returns the trickle's answer, failing if none comes within limit.
func (tr *trickle) wait(t *testing.T, what string, limit time.Duration) response {
	t.Helper()
	select {
	case r := <-tr.answer:
		return r
	case <-time.After(limit):
		t.Fatalf("%s: no answer within %s", what, limit)
		return response{}
	}
}

// TestSlowUploadsOfOneAppDoNotStarveOthers (issue 10, item 14): four
// uploads of app A that trickle a few bytes a second take one upload slot
// between them, not all four: A's other three wait --upload-wait for A's
// own slot and are answered 503, while app B's bulk request is taken at
// once. (Before, A's four held every slot and B waited --upload-wait for a
// 503.)
func TestSlowUploadsOfOneAppDoNotStarveOthers(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0", "--max-uploads", "4", "--upload-wait", "2s")
	b := createApp(t, s, "second")
	var slow []*trickle
	for range 4 {
		slow = append(slow, startTrickle(t, s, s.Key, 300*time.Millisecond))
	}
	// Three of A's uploads are refused while the fourth holds A's slot.
	refused := 0
	for deadline := time.Now().Add(30 * time.Second); refused < 3 && time.Now().Before(deadline); {
		for i := 0; i < len(slow); i++ {
			select {
			case r := <-slow[i].answer:
				e := expectError(t, r, http.StatusServiceUnavailable, "service_unavailable")
				if r.Header.Get("Retry-After") == "" || !strings.Contains(e.Errors[0].Message, "this app") {
					t.Errorf("the 503 of A's extra upload: Retry-After %q, message %q; want a Retry-After and a message about this app's upload",
						r.Header.Get("Retry-After"), e.Errors[0].Message)
				}
				refused++
				slow = append(slow[:i], slow[i+1:]...)
				i--
			default:
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if refused != 3 || len(slow) != 1 {
		t.Fatalf("%d of app A's 4 trickling uploads were refused, want 3: they hold the upload slots of every app", refused)
	}
	// B is served while A's upload still trickles.
	j := accepted(t, b.PostJSON("/v1/companies/bulk_identify", companies(3, "b")))
	if done := b.WaitJob(j.JobID); done.Status != "completed" || done.CompletedRows != 3 {
		t.Errorf("B's job = %+v, want 3 rows completed", done)
	}
	select {
	case r := <-slow[0].answer:
		t.Fatalf("A's remaining upload was answered before it finished: %d %s", r.Status, r.Body)
	default:
	}
}

// TestTricklingUploadIsCutOff (issue 10, item 14): an upload that arrives
// slower than --min-upload-rate over a window is answered 408
// request_timeout in the documented shape, its connection is closed, and
// its upload slot is free again at once; an upload at a normal pace, with
// a pause shorter than the window, is taken.
func TestTricklingUploadIsCutOff(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0", "--max-uploads", "1", "--upload-wait", "20s",
		"--min-upload-rate", "2000", "--upload-rate-window", "1s")
	b := createApp(t, s, "second")

	// 3 bytes every 100 ms is 30 bytes a second, far below 2,000.
	tr := startTrickle(t, s, s.Key, 100*time.Millisecond)
	r := tr.wait(t, "the trickling upload", 15*time.Second)
	e := expectError(t, r, http.StatusRequestTimeout, "request_timeout")
	if msg := e.Errors[0].Message; !strings.Contains(msg, "2000 bytes") || !strings.Contains(msg, "1s") {
		t.Errorf("the 408 message %q does not say the rate and window it missed", msg)
	}
	if !<-tr.closed {
		t.Errorf("the connection of the cut-off upload stayed open")
	}
	// The one slot is free: B's upload is taken without waiting out
	// --upload-wait for a 503.
	j := accepted(t, b.PostJSON("/v1/companies/bulk_identify", companies(2, "b")))
	b.WaitJob(j.JobID)
	if jobs := listJobs(t, s, ""); len(jobs) != 0 {
		t.Errorf("the cut-off upload created %d jobs", len(jobs))
	}

	// A normal upload of about 1.5 MB, sent in two halves with a pause of
	// a third of the window between them, is unaffected.
	body, _ := json.Marshal(companies(10000, strings.Repeat("x", 120)))
	pr, pw := io.Pipe()
	go func() {
		pw.Write(body[:len(body)/2])
		time.Sleep(300 * time.Millisecond)
		pw.Write(body[len(body)/2:])
		pw.Close()
	}()
	big := s.Do("POST", "/v1/companies/bulk_identify", s.Key, "application/json", pr)
	j = accepted(t, big)
	if done := s.WaitJob(j.JobID); done.Status != "completed" || done.CompletedRows != 10000 {
		t.Errorf("the normal upload's job = %+v, want 10000 rows", done)
	}
}
