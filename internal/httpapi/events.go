package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drover-dev/drover"
)

// eventStream serves GET /events: job and worker changes as SSE. A client
// that reconnects with Last-Event-ID gets what it missed; one that fell too
// far behind (or reconnects to a restarted coordinator) gets a "reset"
// event and should reload its lists. ?type= (job, worker) and ?state= (job
// states) keep only the events a client wants: a script waiting for jobs
// to end need not receive, nor the coordinator encode, every step between.
func (s *server) eventStream(w http.ResponseWriter, r *http.Request) error {
	fl, ok := w.(http.Flusher)
	if !ok {
		return drover.Errorf(drover.EINTERNAL, "streaming unsupported")
	}
	want, err := parseEventFilter(r)
	if err != nil {
		return err
	}
	hub := s.c.Events()
	last := int64(-1) // no id given: from now on
	if v := cmpOr(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("lastEventId")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return drover.Errorf(drover.EINVALID, "Last-Event-ID %s is not an event id from this stream", drover.Quote(v))
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
			last = ev.ID
			if !want.keeps(&ev) {
				continue
			}
			b, _ := json.Marshal(ev)
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, b)
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

// eventFilter is what ?type= and ?state= ask for; empty sets keep all.
type eventFilter struct {
	types  map[string]bool
	states map[drover.JobState]bool // of job events
}

func parseEventFilter(r *http.Request) (eventFilter, error) {
	var f eventFilter
	q := r.URL.Query()
	for _, v := range q["type"] {
		for t := range strings.SplitSeq(strings.ToLower(v), ",") {
			if t != "job" && t != "worker" {
				return f, drover.Errorf(drover.EINVALID, "type %s: use job or worker (comma-separated for both)", drover.Quote(t))
			}
			if f.types == nil {
				f.types = map[string]bool{}
			}
			f.types[t] = true
		}
	}
	states, err := parseStates(q["state"])
	if err != nil {
		return f, err
	}
	for _, st := range states {
		if f.states == nil {
			f.states = map[drover.JobState]bool{}
		}
		f.states[st] = true
	}
	return f, nil
}

// parseStates reads ?state= values: job states, any case, comma-separated
// or repeated; each once, in the order given. Empty values name none
// (?state= with nothing, as a script with an unset variable sends, lists
// every job, as it always did).
func parseStates(vs []string) ([]drover.JobState, error) {
	var out []drover.JobState
	for _, v := range vs {
		for s := range strings.SplitSeq(strings.ToUpper(v), ",") {
			st := drover.JobState(strings.TrimSpace(s))
			if st == "" {
				continue
			}
			if !st.Valid() {
				return nil, drover.Errorf(drover.EINVALID, "state %s is not a job state: use %s (comma-separated for several)", drover.Quote(s), stateList())
			}
			if !slices.Contains(out, st) {
				out = append(out, st)
			}
		}
	}
	return out, nil
}

func stateList() string {
	var b strings.Builder
	for i, st := range drover.JobStates {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(st))
	}
	return b.String()
}

func (f eventFilter) keeps(ev *drover.Event) bool {
	if f.types != nil && !f.types[ev.Type] {
		return false
	}
	if f.states != nil && ev.Type == "job" && (ev.Job == nil || !f.states[ev.Job.State]) {
		return false
	}
	return true
}
