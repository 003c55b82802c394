package httpapi

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drover-dev/drover"
)

// eventStream serves GET /events: job and worker changes as SSE.
//
// A client that reconnects with Last-Event-ID gets what it missed. One that
// fell too far behind gets a "reset" event and should reload its lists. So
// does one that reconnects to a restarted coordinator.
//
// ?type= and ?state= keep only the events a client wants. ?type= takes
// "job" or "worker", and ?state= job states. A script waiting for jobs to
// end then neither receives every step between nor makes the coordinator
// encode it.
func (s *server) eventStream(rw http.ResponseWriter, r *http.Request) error {
	w := s.progressive(rw) // the stream lasts while the client reads
	want, err := parseEventFilter(r)
	if err != nil {
		return err
	}
	last, resumed, err := lastEventID(r)
	if err != nil {
		return err
	}
	hub := s.c.Events()
	sse := startSSE(w)
	if !resumed {
		// Start from now: every event after the current last one, even
		// when there is none yet. The hello tells the client the id to
		// resume from.
		last = hub.Last()
		sse.eventID(last, "hello", struct{}{})
	}
	sse.flush()
	keep := time.NewTicker(s.cfg.KeepAlive)
	defer keep.Stop()
	for {
		evs, wait, ok := hub.Since(last)
		if !ok {
			last = hub.Last()
			sse.eventID(last, "reset", struct{}{})
			sse.flush()
			continue
		}
		for _, ev := range evs {
			last = ev.ID
			if want.keeps(&ev) {
				sse.eventID(ev.ID, ev.Type, ev)
			}
		}
		sse.flush()
		select {
		case <-r.Context().Done():
			return nil
		case <-hub.Done():
			return nil
		case <-wait:
		case <-keep.C:
			sse.keepAlive()
		}
	}
}

// lastEventID reads the id a reconnecting client resumes after. Browsers
// send it as the Last-Event-ID header. A client that cannot set the header
// sends ?lastEventId= instead. resumed is false when the client sent neither.
func lastEventID(r *http.Request) (id int64, resumed bool, err error) {
	v := cmp.Or(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("lastEventId"))
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, drover.Errorf(drover.EINVALID, "Last-Event-ID %s is not an event id from this stream", drover.Quote(v))
	}
	return n, true, nil
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

// parseStates reads ?state= values. They are job states in any case,
// comma-separated or repeated. It returns each once, in the order given.
// Empty values name no state. A bare ?state=, as a script with an unset
// variable sends, therefore lists every job.
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
