package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSSEWriter(t *testing.T) {
	cases := []struct {
		name  string
		write func(s *sseWriter)
		want  string
	}{
		{"nothing", func(s *sseWriter) {}, ""},
		{"event", func(s *sseWriter) { s.event("state", map[string]string{"state": "RUNNING"}) },
			"event: state\ndata: {\"state\":\"RUNNING\"}\n\n"},
		{"event with id", func(s *sseWriter) { s.eventID(7, "output", map[string]string{"data": "a\nb"}) },
			"id: 7\nevent: output\ndata: {\"data\":\"a\\nb\"}\n\n"},
		{"id zero", func(s *sseWriter) { s.eventID(0, "hello", struct{}{}) },
			"id: 0\nevent: hello\ndata: {}\n\n"},
		{"keep-alive", func(s *sseWriter) { s.keepAlive() }, ": keep-alive\n\n"},
		{"two events", func(s *sseWriter) {
			s.eventID(12345678901, "job", []int{1})
			s.event("end", nil)
		}, "id: 12345678901\nevent: job\ndata: [1]\n\nevent: end\ndata: null\n\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s := startSSE(rec)
			c.write(s)
			s.flush()
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/event-stream" || !rec.Flushed {
				t.Errorf("status %d, Content-Type %q, flushed %v", rec.Code, rec.Header().Get("Content-Type"), rec.Flushed)
			}
			if got, want := rec.Body.String(), "retry: 1000\n\n"+c.want; got != want {
				t.Errorf("stream:\n%q\nwant\n%q", got, want)
			}
		})
	}
}
