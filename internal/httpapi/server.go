// Package httpapi serves drover's HTTP API under /api/v1.
//
// The API has two sides. Clients submit, list, cancel and follow jobs, and
// watch the fleet and its events. Workers register, heartbeat, long-poll
// for work and report on their attempts. New lists every route on one
// screen.
//
// The package owns what lies between HTTP and the coordinator:
//
//   - authentication: API tokens for clients, a secret per worker
//   - body limits and the deadlines of long routes (deadlines.go)
//   - strict JSON decoding that refuses a key given twice (dupkeys.go)
//   - Server-Sent Events for output and events (sse_writer.go)
//   - the one table from domain error codes to HTTP statuses (errors.go)
//
// Handlers speak only to the coordinator, never to the store.
package httpapi

import (
	"cmp"
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/coordinator"
)

// Defaults for Config.
const (
	DefaultMaxBody           = 1 << 20  // JSON bodies
	DefaultMaxOutputBody     = 16 << 20 // output posts, whose base64 holds up to ~12 MiB
	DefaultKeepAlive         = 15 * time.Second
	DefaultMaxBundleBody     = 101 << 20
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMinBodyRate       = 64 << 10 // bytes per second
	DefaultBundleUploads     = 4
	DefaultMaxListBytes      = 4 << 20
)

// Config configures the API handler.
type Config struct {
	Coordinator *coordinator.Coordinator // required
	Logger      *slog.Logger             // defaults to slog.Default()
	// APITokens, when not empty, are the bearer tokens clients must present.
	APITokens []string
	// JoinToken, when set, is the bearer token workers register with.
	JoinToken string
	// MaxBody limits JSON request bodies. Defaults to 1 MiB.
	MaxBody int64
	// MaxOutputBody limits a worker's output post. Defaults to 16 MiB.
	MaxOutputBody int64
	// MaxBundleBody limits a bundle upload, and a multipart submission
	// that carries one. The coordinator's bundle limits apply within it.
	// Defaults to 101 MiB. That holds a ZIP at bundle.DefaultMaxCompressed
	// and a spec.
	MaxBundleBody int64
	// BundleUploads is how many bundle uploads (POST /bundles, or a
	// multipart submission's bundle part) are read and checked at once.
	// One more is answered 503 with Retry-After before its body is read.
	// Defaults to 4.
	BundleUploads int
	// MaxListBytes bounds a page of GET /jobs. The page ends after the job
	// that takes it past this size, and nextCursor goes on. Defaults to
	// 4 MiB.
	MaxListBytes int64
	// KeepAlive is the SSE comment interval that keeps idle streams open
	// through proxies. Defaults to 15s.
	KeepAlive time.Duration
	// UI, when set, serves the web UI: everything outside /api/.
	UI http.Handler
	// MetricsPublic serves GET /metrics without an API token. By default
	// it follows the client API's rule: a token when the server has tokens.
	MetricsPublic bool

	// The connection timeouts below are Server's; see deadlines.go for
	// the routes that take longer.

	// ReadHeaderTimeout bounds the wait for a request's header from its
	// first byte, and for the TLS handshake. Defaults to 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, header and body. A
	// large body has ReadTimeout plus its size at MinBodyRate. A bundle, a
	// multipart submission and an output post are large. Defaults to 30s.
	ReadTimeout time.Duration
	// MinBodyRate is the slowest a large body may arrive, in bytes per
	// second. Defaults to 64 KiB/s.
	MinBodyRate int64
	// WriteTimeout bounds handling a request and writing its answer. A
	// stream, a download and a long-poll get it afresh for each write
	// instead, so they last as long as the client reads. Defaults to 30s.
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept-alive
	// connection. It is longer than the idle timeout of drover's own
	// clients, which so close first. Defaults to 2m.
	IdleTimeout time.Duration
}

func (cfg *Config) fill() {
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.MaxBody = cmp.Or(cfg.MaxBody, DefaultMaxBody)
	cfg.MaxOutputBody = cmp.Or(cfg.MaxOutputBody, DefaultMaxOutputBody)
	cfg.KeepAlive = cmp.Or(cfg.KeepAlive, DefaultKeepAlive)
	cfg.MaxBundleBody = cmp.Or(cfg.MaxBundleBody, DefaultMaxBundleBody)
	cfg.BundleUploads = cmp.Or(cfg.BundleUploads, DefaultBundleUploads)
	cfg.MaxListBytes = cmp.Or(cfg.MaxListBytes, DefaultMaxListBytes)
	cfg.ReadHeaderTimeout = cmp.Or(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	cfg.ReadTimeout = cmp.Or(cfg.ReadTimeout, DefaultReadTimeout)
	cfg.MinBodyRate = cmp.Or(cfg.MinBodyRate, DefaultMinBodyRate)
	cfg.WriteTimeout = cmp.Or(cfg.WriteTimeout, DefaultWriteTimeout)
	cfg.IdleTimeout = cmp.Or(cfg.IdleTimeout, DefaultIdleTimeout)
}

type server struct {
	cfg     Config
	c       *coordinator.Coordinator
	log     *slog.Logger
	uploads chan struct{} // a slot per bundle upload in flight
}

// Server returns an http.Server that serves New's handler with cfg's
// connection timeouts. The caller adds what is its own, such as the base
// context, the error log and TLS.
func Server(cfg Config) *http.Server {
	cfg.fill()
	return &http.Server{
		Handler:           New(cfg),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
	}
}

// New returns the HTTP handler of the whole API. It sets the deadlines of
// the routes that take longer than the server's timeouts, so it is served
// by Server (or a server with the same timeouts).
func New(cfg Config) http.Handler {
	cfg.fill()
	s := &server{cfg: cfg, c: cfg.Coordinator, log: cfg.Logger, uploads: make(chan struct{}, cfg.BundleUploads)}
	mux := http.NewServeMux()

	// Client API.
	mux.HandleFunc("POST /api/v1/jobs", s.clientBody(s.submitLimit, s.submitJob))
	mux.HandleFunc("POST /api/v1/bundles", s.clientLimit(cfg.MaxBundleBody, s.putBundle))
	mux.HandleFunc("GET /api/v1/bundles/{sha}", s.clientOrWorker(s.getBundle))
	mux.HandleFunc("GET /api/v1/jobs", s.client(s.listJobs))
	mux.HandleFunc("GET /api/v1/jobs/{id}", s.client(s.getJob))
	mux.HandleFunc("POST /api/v1/jobs/{id}/cancel", s.client(s.cancelJob))
	mux.HandleFunc("POST /api/v1/jobs/cancel", s.client(s.cancelJobs))
	mux.HandleFunc("GET /api/v1/jobs/{id}/output", s.client(s.output))
	mux.HandleFunc("GET /api/v1/events", s.client(s.eventStream))
	mux.HandleFunc("GET /api/v1/workers", s.client(s.listWorkers))
	mux.HandleFunc("GET /api/v1/workers/{id}", s.client(s.getWorker))
	mux.HandleFunc("POST /api/v1/workers/{id}/drain", s.client(s.drainWorker))

	// Worker protocol.
	mux.HandleFunc("POST /api/v1/workers", s.register)
	mux.HandleFunc("POST /api/v1/workers/{id}/heartbeat", s.worker(s.heartbeat))
	mux.HandleFunc("GET /api/v1/workers/{id}/work", s.worker(s.work))
	mux.HandleFunc("DELETE /api/v1/workers/{id}", s.worker(s.deregister))
	mux.HandleFunc("POST /api/v1/workers/{id}/reports", s.worker(s.reports))
	mux.HandleFunc("POST /api/v1/attempts/{id}/accept", s.worker(s.accept))
	mux.HandleFunc("POST /api/v1/attempts/{id}/start", s.worker(s.start))
	mux.HandleFunc("POST /api/v1/attempts/{id}/output", s.worker(s.appendOutput))
	mux.HandleFunc("POST /api/v1/attempts/{id}/finish", s.worker(s.finish))

	// Info needs no token: a client (the UI) learns whether it must ask for one.
	mux.HandleFunc("GET /api/v1/info", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, drover.Info{Version: drover.Version, AuthRequired: len(cfg.APITokens) > 0})
	})
	if cfg.MetricsPublic {
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) { _ = s.serveMetrics(w, r) })
	} else {
		mux.HandleFunc("GET /metrics", s.client(s.serveMetrics))
	}
	// Liveness needs no token. It is at the root, where probes look for
	// it, and under /api/v1 with the other calls.
	healthz := func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": drover.Version})
	}
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /api/v1/healthz", healthz)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if allowed := allowedMethods(mux, r); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			use := allowed[len(allowed)-1]
			if len(allowed) > 1 {
				use = strings.Join(allowed[:len(allowed)-1], ", ") + " or " + use
			}
			writeError(w, r, s.log, drover.Errorf(drover.EMETHOD, "%s is not a method of %s: use %s", drover.Quote(r.Method), drover.Quote(r.URL.Path), use))
			return
		}
		writeError(w, r, s.log, drover.Errorf(drover.ENOTFOUND, "no API route %s: see the API reference in the README", drover.Quote(r.Method+" "+r.URL.Path)))
	})
	if cfg.UI != nil {
		mux.Handle("/", cfg.UI)
	}
	return instrument(s.c.Metrics(), mux)
}

// bearer returns the request's bearer token; GET requests may also carry it
// as ?access_token= because browsers' EventSource cannot set headers.
func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		// The scheme is case-insensitive (RFC 9110 §11.1).
		if len(h) > len("Bearer ") && strings.EqualFold(h[:len("Bearer ")], "Bearer ") {
			return strings.TrimSpace(h[len("Bearer "):])
		}
		return ""
	}
	if r.Method == http.MethodGet {
		return r.URL.Query().Get("access_token")
	}
	return ""
}

// client wraps a client API handler: API token check and body limit.
func (s *server) client(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return s.clientLimit(0, h)
}

// clientOrWorker accepts an API token or a worker secret (workers fetch
// bundles; so may clients).
func (s *server) clientOrWorker(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	asClient := s.client(h)
	return func(w http.ResponseWriter, r *http.Request) {
		if tok := bearer(r); strings.HasPrefix(tok, "wrk_") && !s.isAPIToken(tok) {
			if _, err := s.c.AuthWorker(r.Context(), tok); err != nil {
				writeError(w, r, s.log, err)
				return
			}
			if err := checkPathIDs(r); err != nil {
				writeError(w, r, s.log, err)
				return
			}
			if err := h(w, r); err != nil {
				writeError(w, r, s.log, err)
			}
			return
		}
		asClient(w, r)
	}
}

// isAPIToken reports whether tok is one of the API tokens (in constant
// time per token).
func (s *server) isAPIToken(tok string) bool {
	ok := false
	for _, t := range s.cfg.APITokens {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(t)) == 1 {
			ok = true
		}
	}
	return ok
}

// clientLimit is client with a body limit of its own (0: MaxBody).
func (s *server) clientLimit(limit int64, h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	if limit == 0 {
		limit = s.cfg.MaxBody
	}
	return s.clientBody(func(*http.Request) int64 { return limit }, h)
}

// submitLimit is the body limit of POST /jobs: a JSON spec, or a form that
// may carry a bundle.
func (s *server) submitLimit(r *http.Request) int64 {
	if isMultipart(r) {
		return s.cfg.MaxBundleBody
	}
	return s.cfg.MaxBody
}

// clientBody is client with the body limit limitOf gives a request.
func (s *server) clientBody(limitOf func(*http.Request) int64, h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(s.cfg.APITokens) > 0 {
			tok := bearer(r)
			if !s.isAPIToken(tok) {
				msg := "this server needs an API token: pass --token or set DROVER_TOKEN (header Authorization: Bearer <token>)"
				switch {
				case tok != "":
					msg = "the API token is wrong: check --token or DROVER_TOKEN"
				case r.Method != http.MethodGet && r.URL.Query().Has("access_token"):
					msg = "access_token in the URL is taken on GET requests only: send the token in the header Authorization: Bearer <token>"
				}
				writeError(w, r, s.log, drover.Errorf(drover.EUNAUTHORIZED, "%s", msg))
				return
			}
		}
		if err := checkPathIDs(r); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if err := s.admitBody(w, r, limitOf(r)); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if err := h(w, r); err != nil {
			writeError(w, r, s.log, err)
		}
	}
}

// checkPathIDs refuses a path id longer than any drover makes as not
// found. The messages of a lookup name the id it did not find: this keeps
// them short.
func checkPathIDs(r *http.Request) error {
	for _, name := range []string{"id", "sha"} {
		if v := r.PathValue(name); len(v) > drover.MaxIDLen {
			return drover.Errorf(drover.ENOTFOUND, "%s %s is not one drover made: those are at most %d bytes", name, drover.Quote(v), drover.MaxIDLen)
		}
	}
	return nil
}

// admitBody bounds what is read of r's body to limit.
// A body that says it is over limit is refused before any of it is read.
// A body that may be larger than a JSON one gets the time its size needs.
func (s *server) admitBody(w http.ResponseWriter, r *http.Request, limit int64) error {
	if err := tooLarge(r, limit); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if limit > s.cfg.MaxBody {
		s.extendBody(w, r, limit)
	}
	return nil
}

// tooLarge is the 413 of a body whose Content-Length is over limit.
func tooLarge(r *http.Request, limit int64) error {
	if r.ContentLength > limit {
		return drover.Errorf(drover.ETOOLARGE, "request body is %s, over the %s limit", sizeText(r.ContentLength), sizeText(limit))
	}
	return nil
}

type workerKey struct{}

// worker wraps a worker protocol handler: the worker secret names the
// worker, and a path's worker id must be that worker's.
func (s *server) worker(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		if tok == "" || s.isAPIToken(tok) {
			msg := "worker calls need the worker secret returned at registration (Authorization: Bearer <secret>)"
			if tok != "" {
				msg = "this is a worker's call: it takes the secret the worker got at registration, not an API token (to take a worker out of service, drain it: POST /api/v1/workers/{id}/drain)"
			}
			writeError(w, r, s.log, drover.Errorf(drover.EUNAUTHORIZED, "%s", msg))
			return
		}
		id, err := s.c.AuthWorker(r.Context(), tok)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if err := checkPathIDs(r); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/api/v1/workers/") && r.PathValue("id") != id {
			closeAfter(w, r)
			writeError(w, r, s.log, drover.Errorf(drover.EFORBIDDEN, "this secret belongs to worker %s, not %s", id, drover.Quote(r.PathValue("id"))))
			return
		}
		limit := s.cfg.MaxBody
		if strings.HasSuffix(r.URL.Path, "/output") {
			limit = s.cfg.MaxOutputBody
		}
		if err := s.admitBody(w, r, limit); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if err := h(w, r.WithContext(context.WithValue(r.Context(), workerKey{}, id))); err != nil {
			writeError(w, r, s.log, err)
		}
	}
}

func workerID(r *http.Request) string { id, _ := r.Context().Value(workerKey{}).(string); return id }

// allowedMethods are the methods of the routes at r's path.
// It asks mux which pattern each method would reach. A path that is no
// route at all has none, as only the catch-all "/api/" takes it.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/api/" && !strings.HasSuffix(pattern, " /api/") {
			allowed = append(allowed, m)
			if m == http.MethodGet {
				allowed = append(allowed, http.MethodHead) // the router serves HEAD with GET
			}
		}
	}
	return allowed
}
