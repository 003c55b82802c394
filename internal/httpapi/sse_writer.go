package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// sseRetry is the reconnection delay an event stream asks of its client.
const sseRetry = "1000" // milliseconds

// flushWriter is a ResponseWriter that can flush, such as progressWriter.
type flushWriter interface {
	http.ResponseWriter
	http.Flusher
}

// sseWriter writes one Server-Sent Events stream. Each event's data is
// JSON, which never holds a newline, so one data line carries it. Write
// errors are dropped: a client gone is noticed by its request's context.
type sseWriter struct {
	w   flushWriter
	buf []byte // the frame being written, kept for the next one
}

// startSSE writes the headers of an event stream and the client's retry
// delay. The caller flushes them, with its first events if it has some.
func startSSE(w flushWriter) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // no proxy buffering
	w.WriteHeader(http.StatusOK)
	s := &sseWriter{w: w}
	s.write([]byte("retry: " + sseRetry + "\n\n"))
	return s
}

// event writes an event without an id. A client that reconnects resumes
// after the last event that had one.
func (s *sseWriter) event(name string, data any) {
	s.frame(nil, name, data)
}

// eventID writes an event with an id. A client that reconnects sends back
// the last id it saw as Last-Event-ID.
func (s *sseWriter) eventID(id int64, name string, data any) {
	s.frame(&id, name, data)
}

func (s *sseWriter) frame(id *int64, name string, data any) {
	b := s.buf[:0]
	if id != nil {
		b = append(b, "id: "...)
		b = strconv.AppendInt(b, *id, 10)
		b = append(b, '\n')
	}
	b = append(b, "event: "...)
	b = append(b, name...)
	b = append(b, "\ndata: "...)
	js, _ := json.Marshal(data)
	b = append(b, js...)
	b = append(b, "\n\n"...)
	s.buf = b
	s.write(b)
}

// keepAlive writes a comment. It keeps an idle stream open through proxies
// that close quiet connections.
func (s *sseWriter) keepAlive() {
	s.write([]byte(": keep-alive\n\n"))
}

// flush sends what was written to the client.
func (s *sseWriter) flush() { s.w.Flush() }

func (s *sseWriter) write(b []byte) { _, _ = s.w.Write(b) }
