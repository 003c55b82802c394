package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/drover-dev/drover"
)

// eventStream serves GET /events: job and worker changes as SSE. A client
// that reconnects with Last-Event-ID gets what it missed; one that fell too
// far behind (or reconnects to a restarted coordinator) gets a "reset"
// event and should reload its lists.
func (s *server) eventStream(w http.ResponseWriter, r *http.Request) error {
	fl, ok := w.(http.Flusher)
	if !ok {
		return drover.Errorf(drover.EINTERNAL, "streaming unsupported")
	}
	hub := s.c.Events()
	last := int64(-1) // no id given: from now on
	if v := cmpOr(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("lastEventId")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return drover.Errorf(drover.EINVALID, "Last-Event-ID %q is not an event id from this stream", v)
		}
		last = n
	}
	startSSE(w)
	if last < 0 {
		// Start from now (every event after the current last one, even
		// when there is none yet): tell the client the id to resume from.
		last = hub.Last()
		fmt.Fprintf(w, "id: %d\nevent: hello\ndata: {}\n\n", last)
	}
	fl.Flush()
	keep := time.NewTicker(s.cfg.KeepAlive)
	defer keep.Stop()
	for {
		evs, wait, ok := hub.Since(last)
		if !ok {
			last = hub.Last()
			fmt.Fprintf(w, "id: %d\nevent: reset\ndata: {}\n\n", last)
			fl.Flush()
			continue
		}
		for _, ev := range evs {
			b, _ := json.Marshal(ev)
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, b)
			last = ev.ID
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return nil
		case <-hub.Done():
			return nil
		case <-wait:
		case <-keep.C:
			fmt.Fprintf(w, ": keep-alive\n\n")
		}
	}
}
