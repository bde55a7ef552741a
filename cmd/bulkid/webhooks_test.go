package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid/internal/pgtest"
	"github.com/bulkid/bulkid/webhook"
)

type deliveryState struct {
	ID             string  `json:"id"`
	JobID          string  `json:"job_id"`
	Event          string  `json:"event"`
	Status         string  `json:"status"`
	Attempts       int     `json:"attempts"`
	LastStatusCode *int    `json:"last_status_code"`
	LastError      *string `json:"last_error"`
	DeliveredAt    *string `json:"delivered_at"`
}

// deliveriesUntil polls the webhook's deliveries until done says the one
// delivery there is far enough, and returns it.
func deliveriesUntil(t *testing.T, s *server, hookID, what string, done func(d deliveryState) bool) deliveryState {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got struct{ Data []deliveryState }
		s.target(t).Get("/v1/webhooks/"+hookID+"/deliveries").JSON(t, &got)
		if len(got.Data) == 1 && done(got.Data[0]) {
			return got.Data[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery %s: deliveries are %+v", what, got.Data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// received is what a receiver was sent.
type received struct {
	header http.Header
	body   []byte
}

// TestWebhookSurvivesOutageAndRestart: the receiver is down (connections
// refused) when the job ends; the server is restarted meanwhile; the
// receiver comes back answering 500, then 200: the delivery is retried
// across the restart and marked delivered, signed with the webhook's
// secret, its body the job object as GET returns it.
func TestWebhookSurvivesOutageAndRestart(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down: connections to addr are refused until the receiver listens there

	flags := []string{"--webhook-allow-private", "--webhook-backoff", "100ms", "--webhook-backoff-max", "300ms",
		"--poll-interval", "50ms", "--rows-per-minute", "0"}
	s := startServer(t, "", flags...)
	r := s.PostJSON("/v1/webhooks", map[string]any{"url": "http://" + addr + "/hook", "events": []string{"job.completed"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("POST /v1/webhooks = %d %s", r.Status, r.Body)
	}
	var hook struct{ ID, Secret string }
	r.JSON(t, &hook)

	j := s.WaitJob(accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(3, "c"))).JobID)
	down := deliveriesUntil(t, s, hook.ID, "attempted twice while the receiver is down", func(d deliveryState) bool {
		return d.Attempts >= 2
	})
	if down.Status != "pending" || down.JobID != j.JobID || down.Event != "job.completed" || down.LastStatusCode != nil ||
		down.LastError == nil || down.DeliveredAt != nil {
		t.Fatalf("delivery while the receiver is down = %+v, want pending with the connection's error", down)
	}
	s.Stop()

	var mu sync.Mutex
	var got []received
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the receiver cannot listen on %s again: %v", addr, err)
	}
	recv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, received{r.Header.Clone(), b})
		if len(got) == 1 {
			http.Error(w, "starting up", http.StatusInternalServerError)
		}
	})}
	go recv.Serve(ln)
	defer recv.Close()

	s = startServer(t, s.DataDir, flags...)
	d := deliveriesUntil(t, s, hook.ID, "delivered after the restart", func(d deliveryState) bool { return d.Status != "pending" })
	if d.Status != "delivered" || d.ID != down.ID || d.Attempts < down.Attempts+2 || d.LastStatusCode == nil || *d.LastStatusCode != 200 ||
		d.LastError != nil || d.DeliveredAt == nil {
		t.Errorf("delivery = %+v, want %s delivered with 200 after the refused attempts and one 500", d, down.ID)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("the receiver got %d requests, want 2 (a 500, then a 200)", len(got))
	}
	var want, sent map[string]any
	getJSONInto(t, s, "/v1/background_jobs/"+j.JobID, &want)
	for i, g := range got {
		if err := webhook.Verify(hook.Secret, g.header.Get("Bulkid-Signature"), g.body, 5*time.Minute, time.Now()); err != nil {
			t.Errorf("request %d: %v", i+1, err)
		}
		if g.header.Get("Bulkid-Event") != "job.completed" || g.header.Get("Bulkid-Delivery") != d.ID {
			t.Errorf("request %d headers %v, want Bulkid-Event job.completed and Bulkid-Delivery %s", i+1, g.header, d.ID)
		}
		if err := json.Unmarshal(g.body, &sent); err != nil {
			t.Fatalf("request %d body is not JSON: %v", i+1, err)
		}
		if fmt.Sprint(sent) != fmt.Sprint(want) {
			t.Errorf("request %d body = %v\nwant the job as GET returns it: %v", i+1, sent, want)
		}
	}
}

func getJSONInto(t *testing.T, s *server, path string, v any) {
	t.Helper()
	r := s.target(t).Get(path)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s = %d %s", path, r.Status, r.Body)
	}
	r.JSON(t, v)
}

// TestWebhookPrivateTargetRefused: without --webhook-allow-private a
// loopback target is refused at registration.
func TestWebhookPrivateTargetRefused(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	r := s.PostJSON("/v1/webhooks", map[string]any{"url": "http://127.0.0.1:8080/hook"})
	expectError(t, r, http.StatusBadRequest, "invalid_request")
}

// TestWebhooksMultiProcessPostgres: three processes share one PostgreSQL
// database and deliver the deliveries of one job between them; the
// receiver, slow to answer so that their claims overlap, gets each
// delivery exactly once.
func TestWebhooksMultiProcessPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	var mu sync.Mutex
	seen := map[string]int{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		seen[r.Header.Get("Bulkid-Delivery")]++
		mu.Unlock()
	}))
	defer recv.Close()
	args := []string{"--database-url", url, "--webhook-allow-private", "--poll-interval", "20ms", "--rows-per-minute", "0"}
	servers := make([]*server, 3)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Go(func() { servers[i] = startServer(t, t.TempDir(), args...) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	const hooks = 12
	var ids []string
	for i := range hooks {
		r := servers[i%3].PostJSON("/v1/webhooks", map[string]any{"url": fmt.Sprintf("%s/hook/%d", recv.URL, i)})
		if r.Status != http.StatusCreated {
			t.Fatalf("POST /v1/webhooks = %d %s", r.Status, r.Body)
		}
		var h struct{ ID string }
		r.JSON(t, &h)
		ids = append(ids, h.ID)
	}
	servers[0].WaitJob(accepted(t, servers[0].PostJSON("/v1/companies/bulk_identify", companies(2, "c"))).JobID)
	for _, id := range ids {
		deliveriesUntil(t, servers[1], id, "delivered", func(d deliveryState) bool { return d.Status == "delivered" })
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != hooks {
		t.Errorf("the receiver got %d distinct deliveries, want %d", len(seen), hooks)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("delivery %s was sent %d times, want once", id, n)
		}
	}
}

func TestServeWebhookFlagsRefused(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"--webhook-timeout=0s", "--webhook-backoff=-1s", "--webhook-give-up=0s",
		"--webhook-backoff-max=1s"} { // below --webhook-backoff's 10s
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // a serve that did not refuse would stop at once
		var out, errOut bytes.Buffer
		err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), flag},
			func(string) string { return "" }, nil, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "--webhook-backoff-max at least --webhook-backoff") {
			t.Errorf("serve %s: %v %s; want the webhook flags refused", flag, err, errOut.String())
		}
	}
}
