// Package httpapi serves drover's HTTP API under /api/v1: the client API
// (jobs, output follow over Server-Sent Events, workers, events), the worker
// protocol (register, heartbeat, long-poll, attempt start/output/finish),
// authentication, body limits and the one table from domain error codes to
// HTTP statuses.
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
	DefaultMaxBody       = 1 << 20  // JSON bodies
	DefaultMaxOutputBody = 16 << 20 // output posts (base64 of up to ~12 MiB)
	DefaultKeepAlive     = 15 * time.Second
	DefaultMaxBundleBody = 101 << 20
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
	// MaxBundleBody limits a bundle upload (and a multipart submission
	// carrying one). Defaults to 100 MiB + 1 MiB; the coordinator's bundle
	// limits apply within it.
	MaxBundleBody int64
	// KeepAlive is the SSE comment interval that keeps idle streams open
	// through proxies. Defaults to 15s.
	KeepAlive time.Duration
	// UI, when set, serves everything outside /api/ (the web UI).
	UI http.Handler
	// MetricsPublic serves GET /metrics without an API token. By default
	// it follows the client API's rule: a token when the server has tokens.
	MetricsPublic bool
}

type server struct {
	cfg Config
	c   *coordinator.Coordinator
	log *slog.Logger
}

// New returns the HTTP handler of the whole API.
func New(cfg Config) http.Handler {
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.MaxBody = cmp.Or(cfg.MaxBody, DefaultMaxBody)
	cfg.MaxOutputBody = cmp.Or(cfg.MaxOutputBody, DefaultMaxOutputBody)
	cfg.KeepAlive = cmp.Or(cfg.KeepAlive, DefaultKeepAlive)
	cfg.MaxBundleBody = cmp.Or(cfg.MaxBundleBody, DefaultMaxBundleBody)
	s := &server{cfg: cfg, c: cfg.Coordinator, log: cfg.Logger}
	mux := http.NewServeMux()

	// Client API.
	mux.HandleFunc("POST /api/v1/jobs", s.clientLimit(cfg.MaxBundleBody, s.submitJob))
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
	// Liveness, without a token: at the root, where probes look for it, and
	// under /api/v1 with the other calls.
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
		r.Body = http.MaxBytesReader(w, r.Body, limit)
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
			writeError(w, r, s.log, drover.Errorf(drover.EFORBIDDEN, "this secret belongs to worker %s, not %s", id, drover.Quote(r.PathValue("id"))))
			return
		}
		limit := s.cfg.MaxBody
		if strings.HasSuffix(r.URL.Path, "/output") {
			limit = s.cfg.MaxOutputBody
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if err := h(w, r.WithContext(context.WithValue(r.Context(), workerKey{}, id))); err != nil {
			writeError(w, r, s.log, err)
		}
	}
}

func workerID(r *http.Request) string { id, _ := r.Context().Value(workerKey{}).(string); return id }

// allowedMethods are the methods of the routes r's path has, found by
// asking mux which pattern each would reach; none when the path is not a
// route at all (only the catch-all "/api/" takes it).
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
