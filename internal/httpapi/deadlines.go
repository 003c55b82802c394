package httpapi

import (
	"net/http"
	"time"
)

// Deadlines. Server bounds every connection. The header, the whole request
// and the answer each get a timeout, and an idle connection is closed. A
// client that sends nothing, sends slowly or stops reading is cut off and
// costs nothing after. A few routes need longer, each with its own bound:
//
//   - a large body may take ReadTimeout plus its size at MinBodyRate.
//     Bundle uploads, multipart submissions and output posts are large.
//   - a long-poll answers within its wait, and may take that plus
//     WriteTimeout.
//   - a stream gets WriteTimeout for each write, and so does a large
//     answer. They last while the client reads and end when it stops.
//     Output follows and /events are streams. A bundle, the output as text
//     and a list are large answers.
//
// Once a request's body is read, net/http reads the connection without a
// deadline. It only watches for the client to leave. A handler's own time
// is therefore bounded by the write deadline alone.
//
// Deadlines are wall-clock instants of the connection, so they are taken
// from time.Now rather than from an injected clock.

// extendBody gives a large body ReadTimeout plus its size at MinBodyRate
// (its limit when the client does not say its size), and the answer
// WriteTimeout more.
func (s *server) extendBody(w http.ResponseWriter, r *http.Request, limit int64) {
	size := r.ContentLength
	if size < 0 {
		size = limit
	}
	end := time.Now().Add(s.cfg.ReadTimeout + time.Duration(float64(size)/float64(s.cfg.MinBodyRate)*float64(time.Second)))
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(end)
	_ = rc.SetWriteDeadline(end.Add(s.cfg.WriteTimeout))
}

// holdFor lets a long-poll hold its answer for up to wait.
func (s *server) holdFor(w http.ResponseWriter, wait time.Duration) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + s.cfg.WriteTimeout))
}

// progressive returns w with a write deadline that moves on with each
// write: WriteTimeout for every write and flush, however long the whole.
func (s *server) progressive(w http.ResponseWriter) *progressWriter {
	p := &progressWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: s.cfg.WriteTimeout}
	p.extend()
	return p
}

// progressWriter is a ResponseWriter whose deadline a write moves on.
// A write moves it once an eighth of WriteTimeout has passed since the
// last move. Each write then has at least seven eighths of WriteTimeout.
// A burst of small writes costs one timer reset.
type progressWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	d    time.Duration
	last time.Time
}

func (p *progressWriter) extend() {
	if now := time.Now(); now.Sub(p.last) >= p.d/8 {
		p.last = now
		_ = p.rc.SetWriteDeadline(now.Add(p.d))
	}
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.extend()
	return p.ResponseWriter.Write(b)
}

func (p *progressWriter) Flush() {
	p.extend()
	_ = p.rc.Flush()
}

func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// closeAfter makes the answer close the connection when the request has a
// body the server will not read. net/http would otherwise read part of it
// to keep the connection. A client without a token could then make the
// server read that much, or wait for it. The read deadline set in the
// past ends that read at once.
func closeAfter(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
}
