package webhook_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
	"github.com/bulkid/bulkid/sqlite"
	"github.com/bulkid/bulkid/webhook"
	"github.com/google/uuid"
)

func TestSignVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"job_id":"j1","status":"completed"}`)
	sig := webhook.Sign("whsec_k", now, body)
	if !strings.HasPrefix(sig, "t=1700000000,v1=") || len(sig) != len("t=1700000000,v1=")+64 {
		t.Fatalf("Sign = %q, want t=1700000000,v1=<64 hex digits>", sig)
	}
	if err := webhook.Verify("whsec_k", sig, body, 5*time.Minute, now.Add(time.Minute)); err != nil {
		t.Errorf("Verify of a fresh signature: %v", err)
	}
	for _, tc := range []struct {
		name, secret, header string
		body                 []byte
		at                   time.Time
	}{
		{"another body", "whsec_k", sig, []byte(`{"job_id":"j1","status":"failed"}`), now},
		{"another secret", "whsec_other", sig, body, now},
		{"a replay after the tolerance", "whsec_k", sig, body, now.Add(6 * time.Minute)},
		{"a timestamp moved", "whsec_k", strings.Replace(sig, "t=1700000000", "t=1700000300", 1), body, now.Add(5 * time.Minute)},
		{"no v1", "whsec_k", "t=1700000000", body, now},
		{"garbage", "whsec_k", "hello", body, now},
	} {
		if err := webhook.Verify(tc.secret, tc.header, tc.body, 5*time.Minute, tc.at); err == nil {
			t.Errorf("Verify of %s succeeded, want an error", tc.name)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{{1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {9, 2560 * time.Second}, {10, time.Hour}, {40, time.Hour}} {
		for range 20 {
			got := webhook.Backoff(10*time.Second, time.Hour, tc.attempt)
			if lo, hi := tc.want*8/10, tc.want*12/10; got < lo || got > hi {
				t.Errorf("Backoff(10s, 1h, %d) = %s, want %s ±20%%", tc.attempt, got, tc.want)
			}
		}
	}
}

// resolver answers every host with addrs.
type resolver []netip.Addr

func (r resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if len(r) == 0 {
		return nil, errors.New("no such host")
	}
	return r, nil
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	public := resolver{netip.MustParseAddr("93.184.216.34")}
	ctx := t.Context()
	for _, raw := range []string{"https://hooks.example.com/bulkid", "http://93.184.216.34:8080/x?y=1", "https://[2606:2800:220:1:248:1893:25c8:1946]/"} {
		if err := webhook.CheckURL(ctx, raw, false, public); err != nil {
			t.Errorf("CheckURL(%q): %v, want nil", raw, err)
		}
	}
	refused := map[string]webhook.Resolver{
		"ftp://example.com/":                             public,
		"example.com/hook":                               public,
		"https://":                                       public,
		"https://user:pw@example.com/":                   public,
		"https://example.com/#frag":                      public,
		"http://127.0.0.1:9000/":                         public,
		"http://[::1]/":                                  public,
		"http://10.1.2.3/":                               public,
		"http://192.168.0.1/":                            public,
		"http://172.16.0.1/":                             public,
		"http://169.254.169.254/latest/":                 public, // cloud metadata
		"http://[fe80::1]/":                              public,
		"http://0.0.0.0/":                                public,
		"http://100.64.0.1/":                             public,
		"http://[::ffff:127.0.0.1]/":                     public,
		"http://[fd00::1]/":                              public,
		"https://localhost/":                             resolver{netip.MustParseAddr("127.0.0.1")},
		"https://rebind.example.com/":                    resolver{netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.0.0.1")},
		"https://nowhere.invalid/":                       resolver{},
		"https://" + strings.Repeat("a", 2100) + ".com/": public,
	}
	for raw, r := range refused {
		if err := webhook.CheckURL(ctx, raw, false, r); err == nil {
			t.Errorf("CheckURL(%.60q) = nil, want it refused", raw)
		}
	}
	if err := webhook.CheckURL(ctx, "http://127.0.0.1:9000/", true, public); err != nil {
		t.Errorf("CheckURL of loopback with private targets allowed: %v", err)
	}
	if err := webhook.CheckURL(ctx, "ftp://127.0.0.1/", true, public); err == nil {
		t.Errorf("CheckURL of ftp:// with private targets allowed = nil, want it refused")
	}
}

// fixture is a store with an app, whose jobs end at will, and a webhook of
// it pointing at url.
type fixture struct {
	t     *testing.T
	store *sqlite.DB
	app   *bulkid.App
	hook  *bulkid.Webhook
}

func newFixture(t *testing.T, url string) *fixture {
	t.Helper()
	store, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "bulkid.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	app, err := store.CreateApp(t.Context(), "a", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	hook := &bulkid.Webhook{ID: bulkid.NewWebhookID(), AppID: app.ID, URL: url, Events: bulkid.WebhookEvents, Secret: bulkid.NewWebhookSecret()}
	if err := store.CreateWebhook(t.Context(), hook); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, store: store, app: app, hook: hook}
}

// endJob runs a job of the app to status.
func (f *fixture) endJob(status bulkid.JobStatus) *bulkid.Job {
	f.t.Helper()
	ctx := f.t.Context()
	job := &bulkid.Job{ID: uuid.NewString(), AppID: f.app.ID, Type: bulkid.JobCompanies, Source: bulkid.SourceJSON}
	if err := f.store.CreateJob(ctx, job, recordpack.FromRecords([]bulkid.RawRecord{{Raw: []byte(`{"company_id":"c1"}`)}})); err != nil {
		f.t.Fatal(err)
	}
	if _, _, err := f.store.ClaimJob(ctx, "w", time.Minute); err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.FinishJob(ctx, bulkid.Lease{JobID: job.ID, Owner: "w", TTL: time.Minute}, status, ""); err != nil {
		f.t.Fatal(err)
	}
	return job
}

// deliverer returns a deliverer of the fixture's store whose bodies are
// "body of <job id>", with fast retries.
func (f *fixture) deliverer(allowPrivate bool, giveUp time.Duration) *webhook.Deliverer {
	f.t.Helper()
	d, err := webhook.New(webhook.Config{Store: f.store, AllowPrivate: allowPrivate, Timeout: 5 * time.Second,
		BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, GiveUpAfter: giveUp, PollInterval: 5 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
		Body: func(ctx context.Context, d *bulkid.Delivery) ([]byte, error) {
			return []byte(`{"body of":"` + d.JobID + `"}`), nil
		}})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// waitFor runs d until the fixture's webhook's newest delivery is no
// longer pending, and returns it.
func (f *fixture) waitFor(d *webhook.Deliverer) *bulkid.Delivery {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { d.Run(ctx) })
	defer wg.Wait()
	defer cancel()
	for {
		ds, err := f.store.Deliveries(ctx, f.app.ID, f.hook.ID, bulkid.Page{Limit: 1})
		if err != nil {
			f.t.Fatalf("Deliveries: %v", err)
		}
		if len(ds) == 1 && ds[0].Status != bulkid.DeliveryPending {
			return ds[0]
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("the delivery is still pending: %+v", ds)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestRetriedUntilDelivered: a receiver that fails twice gets the
// delivery on the third attempt, signed, with its headers.
func TestRetriedUntilDelivered(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var calls int
	var got []*http.Request
	var bodies [][]byte
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		got, bodies = append(got, r), append(bodies, b)
		if calls < 3 {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	f := newFixture(t, recv.URL+"/hook")
	job := f.endJob(bulkid.StatusCompleted)
	d := f.waitFor(f.deliverer(true, time.Hour))

	if d.Status != bulkid.DeliveryDelivered || d.Attempts != 3 || d.LastStatusCode != 204 || d.LastError != "" || d.DeliveredAt.IsZero() {
		t.Errorf("delivery = %+v, want delivered on attempt 3 with 204", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 3 {
		t.Fatalf("receiver called %d times, want 3", calls)
	}
	want := `{"body of":"` + job.ID + `"}`
	for i, r := range got {
		if string(bodies[i]) != want {
			t.Errorf("attempt %d body = %s, want %s", i+1, bodies[i], want)
		}
		if r.Method != http.MethodPost || r.URL.Path != "/hook" || r.Header.Get("Content-Type") != "application/json" ||
			r.Header.Get("Bulkid-Event") != "job.completed" || r.Header.Get("Bulkid-Delivery") != d.ID {
			t.Errorf("attempt %d: %s %s, headers %v; want POST /hook, application/json, job.completed, delivery %s",
				i+1, r.Method, r.URL.Path, r.Header, d.ID)
		}
		if err := webhook.Verify(f.hook.Secret, r.Header.Get("Bulkid-Signature"), bodies[i], time.Minute, time.Now()); err != nil {
			t.Errorf("attempt %d signature: %v", i+1, err)
		}
	}
}

// TestGivesUp: a receiver that never answers 2xx has the delivery failed
// once it is older than GiveUpAfter, with its last answer kept.
func TestGivesUp(t *testing.T) {
	t.Parallel()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer recv.Close()
	f := newFixture(t, recv.URL)
	f.endJob(bulkid.StatusFailed)
	// Half a second to give up after, with backoffs of 5 to 20 ms: room
	// for several attempts even when the first one is late (a loaded
	// machine under -race took over 50 ms to make it).
	d := f.waitFor(f.deliverer(true, 500*time.Millisecond))
	if d.Status != bulkid.DeliveryFailed || d.Attempts < 2 || d.LastStatusCode != 500 ||
		!strings.Contains(d.LastError, "500") || !d.NextAttemptAt.IsZero() || d.Event != bulkid.EventJobFailed {
		t.Errorf("delivery = %+v, want job.failed given up on after several 500s", d)
	}
}

// TestDialRefusesPrivate: without AllowPrivate the deliverer does not
// connect to a loopback receiver, even one whose webhook got past
// registration (a name rebound to loopback since): the address dialled is
// checked.
func TestDialRefusesPrivate(t *testing.T) {
	t.Parallel()
	hit := make(chan struct{}, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit <- struct{}{} }))
	defer recv.Close()
	// A name, not an IP: only the dial sees that it is loopback.
	f := newFixture(t, strings.Replace(recv.URL, "127.0.0.1", "localhost", 1))
	f.endJob(bulkid.StatusCompleted)
	d := f.waitFor(f.deliverer(false, 30*time.Millisecond))
	if d.Status != bulkid.DeliveryFailed || d.LastStatusCode != 0 || !strings.Contains(d.LastError, "refused") {
		t.Errorf("delivery = %+v, want failed, refused before connecting", d)
	}
	select {
	case <-hit:
		t.Error("the loopback receiver was reached")
	default:
	}
}
