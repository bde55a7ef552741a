package httpapi_test

import (
	"database/sql"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkid/bulkid/httpapi"
	"github.com/bulkid/bulkid/sqlite"
)

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// readyz reads GET /readyz, sent without a key, checking its status.
func readyz(t *testing.T, s *server, status int) readiness {
	t.Helper()
	r := s.Do("GET", "/readyz", "", "", nil)
	var got readiness
	if err := json.Unmarshal(r.Body, &got); err != nil || r.Status != status {
		t.Fatalf("GET /readyz = %d %s (%v), want %d in the readiness shape", r.Status, r.Body, err, status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET /readyz Content-Type = %q, want JSON", ct)
	}
	return got
}

// wantChecks compares the checks of got with want, where a want of
// "PREFIX..." takes any reason starting with PREFIX.
func wantChecks(t *testing.T, got readiness, status string, want map[string]string) {
	t.Helper()
	if got.Status != status || len(got.Checks) != len(want) {
		t.Fatalf("readiness = %+v, want status %q and checks %v", got, status, want)
	}
	for name, w := range want {
		c := got.Checks[name]
		if p, ok := strings.CutSuffix(w, "..."); ok && strings.HasPrefix(c, p) && c != p || c == w {
			continue
		}
		t.Errorf("check %s = %q, want %q", name, c, w)
	}
}

func TestReadyzReady(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	wantChecks(t, readyz(t, s, http.StatusOK), "ready", map[string]string{"store": "ok", "schema": "ok", "workers": "ok"})
}

func TestReadyzStoreDown(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	s.store.Close()
	wantChecks(t, readyz(t, s, http.StatusServiceUnavailable), "not_ready",
		map[string]string{"store": "unreachable", "schema": "unknown...", "workers": "ok"})
}

// TestReadyzSchemaBehind: a database whose schema lost its latest
// migration (an older backup restored under the running server) is not
// the one this binary needs.
func TestReadyzSchemaBehind(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	raw, err := sql.Open("sqlite", filepath.Join(s.DataDir, "bulkid.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)"); err != nil {
		t.Fatal(err)
	}
	got := readyz(t, s, http.StatusServiceUnavailable)
	wantChecks(t, got, "not_ready", map[string]string{"store": "ok", "schema": "behind: the database is at migration ...", "workers": "ok"})
	if !strings.Contains(got.Checks["schema"], "run bulkid migrate") {
		t.Errorf("schema check %q, want it to say what to do", got.Checks["schema"])
	}

	if _, err := raw.Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)"); err != nil {
		t.Fatal(err)
	}
	wantChecks(t, readyz(t, s, http.StatusServiceUnavailable), "not_ready",
		map[string]string{"store": "ok", "schema": "ahead: the database is at migration 9999...", "workers": "ok"})
}

func TestReadyzWorkersStopped(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	s.stopWorkers()
	wantChecks(t, readyz(t, s, http.StatusServiceUnavailable), "not_ready",
		map[string]string{"store": "ok", "schema": "ok", "workers": "stopped"})
	s.healthy(t) // alive, though not ready
}

// stoppedPool is a worker pool that does not run.
type stoppedPool struct{}

func (stoppedPool) Running() bool { return false }

// TestReadyzWorkerRole: a process that only runs jobs (--role worker)
// serves /readyz beside /healthz, and one that runs none (--role api)
// leaves the workers check out.
func TestReadyzWorkerRole(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "bulkid.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		cfg    httpapi.Config
		status int
		want   string
	}{
		{httpapi.Config{Store: db, HealthOnly: true, Workers: stoppedPool{}}, http.StatusServiceUnavailable,
			`{"status":"not_ready","checks":{"schema":"ok","store":"ok","workers":"stopped"}}`},
		{httpapi.Config{Store: db}, http.StatusOK, `{"status":"ready","checks":{"schema":"ok","store":"ok"}}`},
	} {
		w := httptest.NewRecorder()
		httpapi.NewServer(c.cfg).ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		if got := strings.TrimSpace(w.Body.String()); w.Code != c.status || got != c.want {
			t.Errorf("GET /readyz (HealthOnly %v, Workers %v) = %d %s, want %d %s", c.cfg.HealthOnly, c.cfg.Workers, w.Code, got, c.status, c.want)
		}
	}
}
