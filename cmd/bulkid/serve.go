package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/dashboard"
	"github.com/bulkid/bulkid/httpapi"
	"github.com/bulkid/bulkid/internal/cliflag"
	"github.com/bulkid/bulkid/internal/metrics"
	"github.com/bulkid/bulkid/sqlite"
	"github.com/bulkid/bulkid/webhook"
	"github.com/bulkid/bulkid/worker"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cliflag.NewFlagSet("bulkid serve [flags]", "BULKID_API_KEY=$(openssl rand -hex 24) bulkid serve --addr 127.0.0.1:8080 --rows-per-minute 0", stderr)
	var sf storeFlags
	sf.register(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	rpm := fs.Int("rows-per-minute", 1800, "rows each app's jobs apply per minute (the documented rate); 0 means unthrottled")
	workers := fs.Int("workers", 16, "jobs run at once, each of a different app")
	lease := fs.Duration("lease-duration", 30*time.Second, "how long a worker's claim on a job lasts without renewal; a job of a crashed server resumes after it")
	shutdown := fs.Duration("shutdown-timeout", 15*time.Second, "how long to wait for requests in flight at shutdown")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	role := fs.String("role", "all", "all (API and workers), api (answer requests only) or worker (run jobs only; serves /healthz)")
	poll := fs.Duration("poll-interval", time.Second, "how often idle workers look for jobs submitted to other processes")
	headerTimeout := fs.Duration("read-header-timeout", 10*time.Second, "how long a client may take to send a request's headers")
	readTimeout := fs.Duration("read-timeout", 10*time.Minute, "how long a client may take to send a whole request, body included (a 50 MB upload on a slow link)")
	idleTimeout := fs.Duration("idle-timeout", 2*time.Minute, "how long an idle keep-alive connection stays open")
	maxUploads := fs.Int("max-uploads", 4, "bulk requests read at once, across all apps; each holds a few MiB of memory at most")
	uploadWait := fs.Duration("upload-wait", 30*time.Second, "how long a bulk request waits for its turn before it is answered 503 with Retry-After")
	uploadsPerApp := fs.Int("max-uploads-per-app", 1, "bulk requests of one app read at once, out of --max-uploads, so one app's slow uploads cannot hold every slot")
	minUploadRate := fs.Int64("min-upload-rate", 10240, "bytes a second below which an upload is cut off (408 request_timeout), measured over --upload-rate-window; 0 turns it off")
	rateWindow := fs.Duration("upload-rate-window", 10*time.Second, "the window of --min-upload-rate: each window's worth of bytes must arrive within one (the first within one and a half)")
	authBurst := fs.Int("auth-fail-burst", 20, "requests with a wrong API key a client address may make at once before it is answered 429 (a key that has worked from it is still served); 0 turns this off")
	authRefill := fs.Duration("auth-fail-refill", time.Second, "how often a client address regains one of its --auth-fail-burst attempts")
	realtimeRate := fs.Int("realtime-rate", 600, "real-time requests (identify, company identify, track, deletes) one app may make a minute, in bursts of up to 60, before it is answered 429 with Retry-After (the hosted service's documented limit); per process; 0 turns it off")
	jobReadRate := fs.Int("job-read-rate", 6000, "job reads (GET /v1/background_jobs, a job, its errors) one app may make a minute, in bursts of up to 1000, before it is answered 429 with Retry-After; per process; 0 turns it off")
	spoolDir := fs.String("spool-dir", "", "directory that holds uploads over 1 MiB while they are read, and those of each running job's validated records over 1 MiB, created if missing (default: the system's temporary directory, $TMPDIR)")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with this PEM certificate (chain) file; needs --tls-key")
	tlsKey := fs.String("tls-key", "", "the PEM private key of --tls-cert")
	ui := fs.Bool("ui", true, "serve the dashboard under /ui/ (with --role all or api); --ui=false turns it off")
	uiSecret := fs.String("ui-session-secret", "", "secret that seals dashboard sessions, at least 32 characters; processes behind one address need the same (default: random per process, so a restart ends every session)")
	uiTTL := fs.Duration("ui-session-ttl", 12*time.Hour, "how long a dashboard sign-in lasts")
	hookPrivate := fs.Bool("webhook-allow-private", false, "let webhooks reach private, loopback, link-local and other internal addresses (refused by default, at registration and at each connection)")
	hookTimeout := fs.Duration("webhook-timeout", 10*time.Second, "how long one webhook delivery attempt may take, connection to response")
	hookBackoff := fs.Duration("webhook-backoff", 10*time.Second, "the wait after a webhook delivery's first failed attempt, doubled after each further one (with ±20% jitter) up to --webhook-backoff-max")
	hookBackoffMax := fs.Duration("webhook-backoff-max", time.Hour, "the longest wait between two attempts of a webhook delivery")
	hookGiveUp := fs.Duration("webhook-give-up", 24*time.Hour, "how long after a job ended its webhook deliveries are retried before they are marked failed")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics at /metrics on this address, a listener of its own (e.g. 127.0.0.1:9090); they count every app's work, so keep it off the public network (default: no metrics)")
	uiSecure := fs.Bool("ui-secure-cookies", false, "mark the dashboard's cookies Secure on plain HTTP too, behind a proxy that terminates TLS (with --tls-cert they are Secure anyway)")
	jobRetention := fs.Duration("job-retention", 30*24*time.Hour, "how long a finished job (completed, failed or canceled) is kept after it ends, with its staged input and error list, before it is pruned; 0 keeps every job (profiles are never pruned)")
	eventRetention := fs.Duration("event-retention", 0, "how long a tracked event is kept after it was received before it is pruned; 0 (the default) keeps every event")
	pruneInterval := fs.Duration("prune-interval", time.Hour, "how often the server prunes what --job-retention and --event-retention let go (and once at start)")
	region := fs.String("region", "", "the region this deployment serves (e.g. us or eu), with a store of its own: the store takes the region the first time and refuses any other later; keys of other regions' apps are answered 421 (default: the store's region, or none: single-region mode)")
	urls := regionURLs{}
	fs.Var(urls, "region-url", "NAME=URL: the base URL of region NAME, named in the 421 answer to a key of that region; repeatable, or comma-separated (BULKID_REGION_URL)")
	pos, err := cliflag.Parse(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("serve: unexpected argument %q", pos[0])
	}
	if *jobRetention < 0 || *eventRetention < 0 {
		return fmt.Errorf("--job-retention and --event-retention must be 0 (keep) or more")
	}
	if *pruneInterval <= 0 {
		return fmt.Errorf("--prune-interval must be positive, not %s", *pruneInterval)
	}
	if *region != "" {
		if err := bulkid.CheckRegionName(*region); err != nil {
			return fmt.Errorf("--region: %v", err)
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %v", err)
	}
	if *rpm < 0 {
		return fmt.Errorf("--rows-per-minute must be 0 (unthrottled) or more, not %d", *rpm)
	}
	if *workers < 1 {
		return fmt.Errorf("--workers must be at least 1, not %d", *workers)
	}
	if *lease < time.Second {
		return fmt.Errorf("--lease-duration must be at least 1s, not %s", *lease)
	}
	if *headerTimeout <= 0 || *readTimeout <= 0 || *idleTimeout <= 0 {
		return fmt.Errorf("--read-header-timeout, --read-timeout and --idle-timeout must be positive")
	}
	if *maxUploads < 1 || *uploadWait <= 0 {
		return fmt.Errorf("--max-uploads must be at least 1 and --upload-wait positive")
	}
	if *uploadsPerApp < 1 || *uploadsPerApp > *maxUploads {
		return fmt.Errorf("--max-uploads-per-app must be from 1 to --max-uploads (%d), not %d", *maxUploads, *uploadsPerApp)
	}
	if *minUploadRate < 0 || *rateWindow <= 0 {
		return fmt.Errorf("--min-upload-rate must be 0 (off) or more, and --upload-rate-window positive")
	}
	if *authBurst < 0 || *authRefill <= 0 {
		return fmt.Errorf("--auth-fail-burst must be 0 (off) or more, and --auth-fail-refill positive")
	}
	if *realtimeRate < 0 {
		return fmt.Errorf("--realtime-rate must be 0 (off) or more requests a minute, not %d", *realtimeRate)
	}
	if *jobReadRate < 0 {
		return fmt.Errorf("--job-read-rate must be 0 (off) or more requests a minute, not %d", *jobReadRate)
	}
	if err := checkChosenKey(getenv("BULKID_API_KEY")); err != nil {
		return err
	}
	if *poll <= 0 {
		return fmt.Errorf("--poll-interval must be positive, not %s", *poll)
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together: give both or neither")
	}
	if *spoolDir != "" {
		if err := os.MkdirAll(*spoolDir, 0o700); err != nil {
			return fmt.Errorf("--spool-dir: %w", err)
		}
	}
	if *uiSecret != "" && utf8.RuneCountInString(*uiSecret) < 32 {
		return fmt.Errorf("--ui-session-secret must have at least 32 characters, e.g. $(openssl rand -hex 32), not %d", utf8.RuneCountInString(*uiSecret))
	}
	if *uiTTL < time.Minute {
		return fmt.Errorf("--ui-session-ttl must be at least 1m, not %s", *uiTTL)
	}
	if *hookTimeout <= 0 || *hookBackoff <= 0 || *hookBackoffMax < *hookBackoff || *hookGiveUp <= 0 {
		return fmt.Errorf("--webhook-timeout, --webhook-backoff and --webhook-give-up must be positive, and --webhook-backoff-max at least --webhook-backoff")
	}
	if *metricsAddr != "" && *metricsAddr == *addr {
		return fmt.Errorf("--metrics-addr must differ from --addr (%s): metrics are never served on the API's port", *addr)
	}
	runAPI, runWorkers := *role == "all" || *role == "api", *role == "all" || *role == "worker"
	if !runAPI && !runWorkers {
		return fmt.Errorf("--role must be all, api or worker, not %q", *role)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	if sf.databaseURL == "" {
		lock, err := lockDataDir(sf.dataDir)
		if err != nil {
			return err
		}
		defer lock.Close()
	}
	store, err := sf.open(ctx, log)
	if err != nil {
		return err
	}
	defer store.Close()
	// Before any write: a store of another region is not this server's.
	if *region, err = storeRegion(ctx, store, *region); err != nil {
		return err
	}
	if *region == "" && len(urls) > 0 {
		return fmt.Errorf("--region-url names other regions' servers, for a server of a region: give --region too")
	}
	if *region != "" {
		log.Info("serving region", "region", *region, "other_regions", urls.String())
	}
	if db, ok := store.(*sqlite.DB); ok {
		// This process alone serves the data directory: jobs leased by
		// a run that crashed resume now, not a lease later.
		n, err := db.ReleaseAllLeases(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			log.Info("resuming jobs a previous run left unfinished", "jobs", n)
		}
	}
	if err := ensureFirstApp(ctx, store, *region, getenv("BULKID_API_KEY"), stdout); err != nil {
		return err
	}

	// Every process prunes, whatever its role: the stores' pruning is safe
	// from many processes at once and takes bounded transactions.
	pruner, err := worker.NewPruner(worker.PruneConfig{Store: store, JobRetention: *jobRetention,
		EventRetention: *eventRetention, Interval: *pruneInterval, Logger: log})
	if err != nil {
		return err
	}
	var apiMetrics httpapi.Metrics
	var workerMetrics worker.Metrics
	var reg *metrics.Registry
	if *metricsAddr != "" {
		reg = metrics.New()
		apiMetrics, workerMetrics = reg.API(), reg.Worker()
	}
	pool, err := worker.New(worker.Config{Store: store, Workers: *workers, RowsPerMinute: *rpm, LeaseTTL: *lease,
		PollInterval: *poll, Logger: log, SpoolDir: *spoolDir, Metrics: workerMetrics})
	if err != nil {
		return err
	}
	notify := pool.Notify
	var ready httpapi.Workers = pool
	if !runWorkers {
		notify = nil // workers of other processes find the job when they poll
		ready = nil  // nor does /readyz check workers this process does not run
	}
	handler := httpapi.NewServer(httpapi.Config{Store: store, Notify: notify, RowsPerMinute: *rpm, Logger: log,
		HealthOnly: !runAPI, MaxUploads: *maxUploads, UploadWait: *uploadWait, SpoolDir: *spoolDir,
		MaxUploadsPerApp: *uploadsPerApp, MinUploadRate: *minUploadRate, UploadRateWindow: *rateWindow, ReadTimeout: *readTimeout,
		AuthFailBurst: authFailBurst(*authBurst), AuthFailRefill: *authRefill,
		RealtimeRate: authFailBurst(*realtimeRate), JobReadRate: authFailBurst(*jobReadRate), Region: *region, RegionURLs: urls, Metrics: apiMetrics, Workers: ready,
		CheckWebhookURL: func(ctx context.Context, url string) error {
			return webhook.CheckURL(ctx, url, *hookPrivate, net.DefaultResolver)
		}})
	deliverer, err := webhook.New(webhook.Config{Store: store, AllowPrivate: *hookPrivate, Timeout: *hookTimeout,
		BackoffBase: *hookBackoff, BackoffMax: *hookBackoffMax, GiveUpAfter: *hookGiveUp, PollInterval: *poll, Logger: log,
		Body: func(ctx context.Context, d *bulkid.Delivery) ([]byte, error) {
			j, err := store.Job(ctx, d.AppID, d.JobID)
			if err != nil {
				return nil, err
			}
			return httpapi.JobBody(j, *rpm, time.Now())
		}})
	if err != nil {
		return err
	}
	if runAPI && *ui {
		ds, ok := store.(dashboard.Store)
		if !ok {
			return fmt.Errorf("the %s store has no dashboard reads; run with --ui=false", sf.name())
		}
		handler = dashboard.Beside(handler, dashboard.New(dashboard.Config{Store: ds, RowsPerMinute: *rpm, Logger: log,
			Secret: []byte(*uiSecret), SessionTTL: *uiTTL, SecureCookies: *uiSecure, AuthFailBurst: authFailBurst(*authBurst), AuthFailRefill: *authRefill,
			Region: *region, RegionURLs: urls}))
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *tlsCert == "" {
		ln = shapedListener{ln} // net/http's plain-text refusals in the error shape
	}
	srv := &http.Server{
		Handler: handler,
		// A client that sends its headers a byte at a time, or a body that
		// never ends, is cut off; others are served meanwhile.
		ReadHeaderTimeout: *headerTimeout,
		ReadTimeout:       *readTimeout,
		WriteTimeout:      *readTimeout,
		IdleTimeout:       *idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	if *region != "" {
		fmt.Fprintf(stdout, "bulkid listening on %s://%s (role: %s, rows per minute: %d, region: %s)\n", scheme, ln.Addr(), *role, *rpm, *region)
	} else {
		fmt.Fprintf(stdout, "bulkid listening on %s://%s (role: %s, rows per minute: %d)\n", scheme, ln.Addr(), *role, *rpm)
	}
	log.Info("serving", "addr", ln.Addr().String(), "store", sf.name(), "role", *role, "rows_per_minute", *rpm, "workers", *workers)

	var metricsSrv *http.Server
	if reg != nil {
		mln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", reg.Handler())
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: *headerTimeout, ReadTimeout: time.Minute, WriteTimeout: time.Minute,
			IdleTimeout: *idleTimeout, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		fmt.Fprintf(stdout, "bulkid metrics on http://%s/metrics\n", mln.Addr())
		log.Info("serving metrics", "addr", mln.Addr().String())
		if ap, err := netip.ParseAddrPort(mln.Addr().String()); err == nil && !ap.Addr().IsLoopback() {
			log.Warn("--metrics-addr is not a loopback address: the metrics count every app's work, so keep the port off the public network", "addr", mln.Addr().String())
		}
		go func() {
			if err := metricsSrv.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener", "err", err)
			}
		}()
		defer metricsSrv.Close()
	}

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	if runWorkers {
		wg.Go(func() { pool.Run(workCtx) })
		wg.Go(func() { deliverer.Run(workCtx) })
	}
	wg.Go(func() { pruner.Run(workCtx) })

	serveErr := make(chan error, 1)
	go func() {
		if *tlsCert != "" {
			serveErr <- srv.ServeTLS(ln, *tlsCert, *tlsKey)
			return
		}
		serveErr <- srv.Serve(ln)
	}()
	select {
	case err = <-serveErr:
	case <-ctx.Done():
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), *shutdown)
		err = srv.Shutdown(sctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			// Requests still in flight (a stalled upload, say) are cut
			// off: none of them has been answered, so none is accepted.
			// That ends a shutdown as designed, not in failure.
			log.Warn("shutdown timeout: closing the connections of requests still in flight", "timeout", *shutdown)
			err = srv.Close()
		}
	}
	stopWork()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("stopped")
	return err
}

// ensureFirstApp creates the first app of an empty store and prints its key
// once; key is used if it is not empty (BULKID_API_KEY), else a new key
// of region.
func ensureFirstApp(ctx context.Context, store bulkid.Store, region, key string, stdout io.Writer) error {
	shown := key == ""
	if shown {
		key = bulkid.NewRegionAPIKey(region)
	}
	app, created, err := store.CreateFirstApp(ctx, "default", bulkid.HashAPIKey(key))
	if err != nil || !created {
		return err
	}
	if shown {
		fmt.Fprintf(stdout, "Created app %q (id %d). Its API key, shown only now: %s\n", app.Name, app.ID, key)
	} else {
		fmt.Fprintf(stdout, "Created app %q (id %d) with the API key from BULKID_API_KEY.\n", app.Name, app.ID)
	}
	return nil
}

// authFailBurst turns --auth-fail-burst (and --realtime-rate,
// --job-read-rate) into httpapi's setting, where 0 means the default and
// a negative number off.
func authFailBurst(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// minChosenKey is the shortest key BULKID_API_KEY may set. Generated keys
// are 256-bit random values; a chosen one is only as strong as its
// length: 16 random letters and digits are about 95 bits, beyond guessing
// online at the throttled rate (--auth-fail-refill) from any number of
// addresses, and beyond guessing offline from a copy of the database,
// where the key is a fast SHA-256 hash.
const minChosenKey = 16

// checkChosenKey refuses a BULKID_API_KEY too short to be safe, or one
// the Authorization header cannot carry as is.
func checkChosenKey(key string) error {
	if key == "" {
		return nil
	}
	if n := utf8.RuneCountInString(key); n < minChosenKey {
		return fmt.Errorf("BULKID_API_KEY is %d characters long; a chosen key must have at least %d, since a short key can be guessed "+
			"(from a copy of the database, where keys are stored as fast SHA-256 hashes, if not over the network). "+
			"Set a long random one, e.g. BULKID_API_KEY=$(openssl rand -hex 24), or unset it and bulkid generates and prints one", n, minChosenKey)
	}
	if strings.TrimSpace(key) != key || strings.IndexFunc(key, unicode.IsControl) >= 0 {
		return fmt.Errorf("BULKID_API_KEY begins or ends with white space, or holds control characters, which the header \"Authorization: Token KEY\" cannot carry as is; set it without them")
	}
	return nil
}

// The registry is what both layers report to.
var (
	_ httpapi.Metrics = metrics.API{}
	_ worker.Metrics  = metrics.Worker{}
	_ httpapi.Workers = (*worker.Pool)(nil)
)
