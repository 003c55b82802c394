package httpapi

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	"github.com/drover-dev/drover/internal/metrics"
)

// serveMetrics serves GET /metrics in the Prometheus text format.
// It serves the coordinator's registry. That holds the coordinator's own
// metrics and the HTTP API's, and the process's when the CLI added them.
// A scrape that could not read the store answers 500 with what it could
// gather, so an alert sees the failure.
func (s *server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	var buf bytes.Buffer
	err := s.c.Metrics().WriteText(r.Context(), &buf)
	w.Header().Set("Content-Type", metrics.ContentType)
	if err != nil {
		s.log.Error("metrics scrape", "err", err)
		w.WriteHeader(http.StatusInternalServerError)
	}
	_, _ = w.Write(buf.Bytes())
	return nil
}

// instrument records every request's duration by route pattern (so ids do
// not make a series each) and status class. Long-polls and streams count
// the time they stayed open.
func instrument(reg *metrics.Registry, next *http.ServeMux) http.Handler {
	h := reg.HistogramVec("drover_http_request_duration_seconds",
		"HTTP requests by route pattern and status class (long-polls and streams count the time they stay open).",
		metrics.LatencyBuckets, "route", "code")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern // set by the mux on r as it routes
		if route == "" {
			route = "other"
		}
		h.With(route, statusClass(sw.status)).ObserveDuration(time.Since(t0))
	})
}

func statusClass(code int) string {
	if code == 0 {
		code = http.StatusOK
	}
	return strconv.Itoa(code/100) + "xx"
}

// statusWriter remembers the status; it passes Flush on (SSE) and unwraps
// for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
