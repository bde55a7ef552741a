// Package dashboard is the web dashboard of bulkid serve: server-rendered
// pages under /ui/ that show an app's jobs as they run, their failed
// records, and the companies and users stored, after a sign-in with the
// app's API key. It reads through the store interfaces it declares
// (Store), never through HTTP calls to the API, and embeds its templates
// and assets. docs/DASHBOARD.md gives its decisions.
package dashboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/throttle"
)

// Store is what the dashboard reads: jobs and their errors, profiles, the
// dashboard's listings and the key lookup of the sign-in. Jobs come from
// DashboardStore's JobSummary and JobSummaries, which read no record
// errors: a page reads only the errors it shows.
type Store interface {
	ActiveJob(ctx context.Context, appID int64) (*bulkid.Job, error)
	JobErrors(ctx context.Context, appID int64, jobID string, fromSeq, limit int) ([]bulkid.RecordError, error)
	Company(ctx context.Context, appID int64, companyID string) (*bulkid.Company, error)
	User(ctx context.Context, appID int64, userID string) (*bulkid.User, error)
	AppByKeyHash(ctx context.Context, keyHash []byte) (*bulkid.App, error)
	// CancelJob is the one write: the job page's Cancel button.
	CancelJob(ctx context.Context, appID int64, jobID string) (*bulkid.Job, error)
	bulkid.DashboardStore
}

var _ Store = (interface {
	bulkid.Store
	bulkid.DashboardStore
})(nil)

// eventReader is the read side of bulkid.EventStore. A store that has it
// gets the events sections (overview totals, a user's recent events).
type eventReader interface {
	UserEvents(ctx context.Context, appID int64, userID, name string, p bulkid.Page) ([]*bulkid.Event, error)
	EventTotals(ctx context.Context, appID int64) ([]bulkid.EventTotal, error)
}

// Prefix is the path every page of the dashboard is under.
const Prefix = "/ui/"

// Config holds what the dashboard needs.
type Config struct {
	Store Store
	// RowsPerMinute is the workers' rate, for a running job's estimate of
	// completion (0: unthrottled, estimated from the speed so far).
	RowsPerMinute int
	// Secret keys the session cookies and the forms' CSRF tokens. Empty
	// means 32 random bytes for this process: its sessions end when it
	// stops, and another process does not take them; processes behind one
	// address need the same Secret (serve's --ui-session-secret).
	Secret []byte
	// SessionTTL is how long a sign-in lasts (default 12h).
	SessionTTL time.Duration
	// SecureCookies marks every cookie Secure, for a server behind a proxy
	// that terminates TLS; without it, cookies are Secure on requests that
	// came over TLS to this server. (No header is trusted to tell.)
	SecureCookies bool
	// AuthFailBurst is how many failed sign-ins a client address may make
	// at once (default 20; negative turns the throttle off), and
	// AuthFailRefill how often it regains one (default 1s), as the API's.
	AuthFailBurst  int
	AuthFailRefill time.Duration
	Logger         *slog.Logger
	// Region is the region of the server (serve's --region), "" if none,
	// and RegionURLs the base URLs of the others: a sign-in with the key of
	// another region's app is sent to that region's dashboard, as the API
	// answers it 421.
	Region     string
	RegionURLs map[string]string
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

type handler struct {
	store  Store
	events eventReader // nil if the store keeps no events
	rpm    int
	ttl    time.Duration
	secure bool
	keys   keys
	fails  *throttle.Auth // nil if off
	log    *slog.Logger
	now    func() time.Time
	pages  map[string]func() *template.Template // parsed when first rendered
	mux    *http.ServeMux
	region string
	urls   map[string]string

	totalsCache totalsCache
}

// New returns the dashboard's handler, which serves paths under Prefix.
func New(cfg Config) http.Handler {
	h := &handler{store: cfg.Store, rpm: cfg.RowsPerMinute, ttl: cfg.SessionTTL, secure: cfg.SecureCookies, log: cfg.Logger, now: cfg.Now,
		region: cfg.Region, urls: cfg.RegionURLs}
	if er, ok := cfg.Store.(eventReader); ok {
		h.events = er
	}
	if h.ttl <= 0 {
		h.ttl = 12 * time.Hour
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	secret := cfg.Secret
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	h.keys = deriveKeys(secret)
	if cfg.AuthFailBurst == 0 {
		cfg.AuthFailBurst = 20
	}
	if cfg.AuthFailRefill <= 0 {
		cfg.AuthFailRefill = time.Second
	}
	if cfg.AuthFailBurst > 0 {
		h.fails = throttle.New(cfg.AuthFailBurst, cfg.AuthFailRefill, throttle.MaxTrackedAddrs)
	}
	h.pages = parsePages()
	h.mux = http.NewServeMux()
	h.routes()
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.renderError(w, r, nil, http.StatusForbidden, "This form came from another site, and was refused.")
	}))
	return h.headers(csrf.Handler(h.mux))
}

// routes lists every page of the dashboard in one place. Ids travel in
// the query (?id=), never in the path, so that an id with a slash, a dot
// segment or any other byte reaches its page as it is.
func (h *handler) routes() {
	h.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/", h.static()))
	h.mux.HandleFunc("GET /ui/signin", h.handleSignInForm)
	h.mux.HandleFunc("POST /ui/signin", h.handleSignIn)
	h.mux.HandleFunc("POST /ui/signout", h.handleSignOut)

	h.mux.Handle("GET /ui/{$}", h.signedIn(h.handleOverview))
	h.mux.Handle("GET /ui/jobs", h.signedIn(h.handleJobs))
	h.mux.Handle("GET /ui/job", h.signedIn(h.handleJob))
	h.mux.Handle("POST /ui/job/cancel", h.signedIn(h.handleCancelJob))
	h.mux.Handle("GET /ui/job/errors.ndjson", h.signedIn(h.handleErrorsNDJSON))
	h.mux.Handle("GET /ui/job/errors.csv", h.signedIn(h.handleErrorsCSV))
	h.mux.Handle("GET /ui/companies", h.signedIn(h.handleCompanies))
	h.mux.Handle("GET /ui/company", h.signedIn(h.handleCompany))
	h.mux.Handle("GET /ui/users", h.signedIn(h.handleUsers))
	h.mux.Handle("GET /ui/user", h.signedIn(h.handleUser))
	h.mux.Handle("GET /ui/live", h.signedInJSON(h.handleLive))
	h.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		h.renderError(w, r, nil, http.StatusNotFound, "There is no such page.")
	})
}

// Beside serves the dashboard (paths under Prefix, and /ui) beside the
// API: every other request goes to api untouched, except a browser's
// GET / (Accept: text/html), which is sent to the dashboard. A client of
// the API asking for / still gets the API's 404.
func Beside(api, ui http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case strings.HasPrefix(p, Prefix):
			ui.ServeHTTP(w, r)
		case (p == "/ui" || p == "/") && (r.Method == http.MethodGet || r.Method == http.MethodHead) && (p == "/ui" || wantsHTML(r)):
			http.Redirect(w, r, Prefix, http.StatusSeeOther)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// wantsHTML reports whether the request's Accept names text/html, as a
// browser's navigation does; */* alone (curl, SDKs) is not enough.
func wantsHTML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "text/html" {
			return true
		}
	}
	return false
}

// csp allows the dashboard's own scripts, styles and images only: no
// inline script or style (values from records cannot run), no framing.
const csp = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"

// headers sets the headers every answer of the dashboard carries.
func (h *handler) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/ui/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

func (h *handler) static() http.Handler {
	sub, err := fs.Sub(staticFS, ".")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") { // no listing of the folder
			h.renderError(w, r, nil, http.StatusNotFound, "There is no such page.")
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// render writes the page name with data, or an error page if it fails
// to render; nothing is written before the whole page is.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	v.Now = h.now()
	var buf bytes.Buffer
	if err := h.pages[name]().ExecuteTemplate(&buf, "layout", v); err != nil {
		h.log.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "The page could not be rendered.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderError answers with an error page: the message, and the app's
// navigation if signed in.
func (h *handler) renderError(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	v := &view{Title: http.StatusText(status), Data: errorPage{Status: status, Message: msg}}
	if s != nil {
		v.App, v.CSRF = s.app, s.csrf
	} else {
		v.CSRF = h.ensureCSRF(w, r)
	}
	h.render(w, r, status, "error.html", v)
}

// storeError answers with the page of a store error: a missing thing's
// message, a bad request's, or a failure's, its internals logged.
func (h *handler) storeError(w http.ResponseWriter, r *http.Request, s *session, err error, notFound string) {
	switch bulkid.ErrorCode(err) {
	case bulkid.ENOTFOUND:
		h.renderError(w, r, s, http.StatusNotFound, notFound)
	case bulkid.EINVALID:
		h.renderError(w, r, s, http.StatusBadRequest, bulkid.ErrorMessage(err))
	case bulkid.EUNAVAILABLE:
		h.renderError(w, r, s, http.StatusServiceUnavailable, "The store cannot be reached; try again shortly.")
	default:
		h.log.Error("dashboard: store", "path", r.URL.Path, "err", err)
		h.renderError(w, r, s, http.StatusInternalServerError, "The store failed to answer; the server log has the details.")
	}
}
