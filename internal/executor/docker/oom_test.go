package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// The engine's OOM flag can come late: an engine that handles a
// container's exit before its OOM event (Docker 20.10 under load) never
// sets State.OOMKilled, though the event is in its log. No real engine
// can be made to lose that race on demand, so these tests replay answers
// recorded from a Docker 20.10 engine (API 1.41) for a container killed
// for memory, in testdata/oom: its inspect, and its event log, whose oom
// event came 21 ms after the exit.

// recordedEngine serves the recorded answers for the recorded container.
// Its times are moved to just before now, keeping their intervals. The
// event log is filtered by the query (type, container, event, since,
// until) as the engine filters it.
type recordedEngine struct {
	id       string
	inspect  map[string]any // the recorded inspect, times moved
	state    container.State
	event    events.Message // the recorded oom event, time moved
	oomAfter int            // inspects before OOMKilled reads true; 0: never
	inspects atomic.Int32
	queries  atomic.Int32 // event log reads
}

func newRecordedEngine(t *testing.T) *recordedEngine {
	t.Helper()
	b, err := os.ReadFile("testdata/oom/inspect.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	var inspected container.InspectResponse
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &inspected); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile("testdata/oom/events.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.Message
	if err := json.Unmarshal(bytes.TrimSpace(b), &ev); err != nil {
		t.Fatal(err)
	}
	st := *inspected.State
	started, err1 := time.Parse(time.RFC3339Nano, st.StartedAt)
	finished, err2 := time.Parse(time.RFC3339Nano, st.FinishedAt)
	if err1 != nil || err2 != nil || !st.OOMKilled || st.ExitCode != 137 || ev.Action != "oom" || ev.Actor.ID != inspected.ID {
		t.Fatalf("testdata/oom is not a recorded OOM kill: %+v, %+v", st, ev)
	}
	// Moved so the container ran in the last seconds.
	shift := time.Now().Add(-2 * time.Second).Sub(started)
	st.StartedAt = started.Add(shift).Format(time.RFC3339Nano)
	st.FinishedAt = finished.Add(shift).Format(time.RFC3339Nano)
	at := time.Unix(0, ev.TimeNano).Add(shift)
	ev.Time, ev.TimeNano = at.Unix(), at.UnixNano()
	return &recordedEngine{id: inspected.ID, inspect: raw, state: st, event: ev}
}

// start serves the engine on loopback and returns an Executor talking to
// it.
func (r *recordedEngine) start(t *testing.T) *Executor {
	t.Helper()
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	cli, err := client.New(client.WithHost("tcp://"+strings.TrimPrefix(srv.URL, "http://")), client.WithAPIVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return &Executor{cli: cli, log: slog.New(slog.DiscardHandler)}
}

func (r *recordedEngine) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	path := strings.TrimPrefix(req.URL.Path, "/v1.41")
	switch {
	case req.Method == http.MethodGet && path == "/containers/"+r.id+"/json":
		st := r.state
		n := int(r.inspects.Add(1))
		st.OOMKilled = r.oomAfter > 0 && n >= r.oomAfter
		body := map[string]any{}
		for k, v := range r.inspect {
			body[k] = v
		}
		body["State"] = st
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	case req.Method == http.MethodGet && path == "/events":
		r.queries.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.matches(req) {
			_ = json.NewEncoder(w).Encode(r.event)
		}
	default:
		http.Error(w, `{"message":"not recorded"}`, http.StatusNotFound)
	}
}

// matches reports whether the recorded event answers the query: every
// filter given names it, and it falls between since and until.
func (r *recordedEngine) matches(req *http.Request) bool {
	q := req.URL.Query()
	var filters map[string]map[string]bool
	if f := q.Get("filters"); f != "" {
		if err := json.Unmarshal([]byte(f), &filters); err != nil {
			return false
		}
	}
	values := map[string]string{"type": string(r.event.Type), "container": r.event.Actor.ID, "event": string(r.event.Action)}
	for key, want := range filters {
		v, ok := values[key]
		if !ok || !want[v] {
			return false
		}
	}
	at := time.Unix(0, r.event.TimeNano)
	if s := q.Get("since"); s != "" && at.Before(stampTime(s)) {
		return false
	}
	if s := q.Get("until"); s != "" && at.After(stampTime(s)) {
		return false
	}
	return true
}

// stampTime reads the engine's "seconds.nanoseconds" time.
func stampTime(s string) time.Time {
	sec, nsec, _ := strings.Cut(s, ".")
	secs, _ := strconv.ParseInt(sec, 10, 64)
	nsecs, _ := strconv.ParseInt(nsec, 10, 64)
	return time.Unix(secs, nsecs)
}

// TestAwaitOOMFindsTheLateEvent: a SIGKILLed container whose OOMKilled
// the engine never sets is found killed for memory by its oom event.
func TestAwaitOOMFindsTheLateEvent(t *testing.T) {
	t.Parallel()
	r := newRecordedEngine(t)
	e := r.start(t)
	st := r.state
	got := e.awaitOOM(context.Background(), r.id, &st)
	if !got.OOMKilled || got.ExitCode != 137 {
		t.Fatalf("state %+v: want OOMKilled from the engine's oom event", got)
	}
	if r.queries.Load() == 0 {
		t.Fatal("the event log was not read")
	}
}

// TestAwaitOOMTakesTheLateFlag: a flag the engine sets on a later inspect
// is taken as it comes.
func TestAwaitOOMTakesTheLateFlag(t *testing.T) {
	t.Parallel()
	r := newRecordedEngine(t)
	r.oomAfter = 2
	e := r.start(t)
	st := r.state
	if got := e.awaitOOM(context.Background(), r.id, &st); !got.OOMKilled {
		t.Fatalf("state %+v: want the OOMKilled of the second inspect", got)
	}
}

// TestOOMEventAsksForTheContainersOOM: the event log is asked for this
// container's oom events since the given time only.
func TestOOMEventAsksForTheContainersOOM(t *testing.T) {
	t.Parallel()
	r := newRecordedEngine(t)
	e := r.start(t)
	ctx := context.Background()
	at := time.Unix(0, r.event.TimeNano)
	if !e.oomEvent(ctx, r.id, at.Add(-time.Second)) {
		t.Error("the container's oom event was not found")
	}
	if e.oomEvent(ctx, strings.Repeat("0", 64), at.Add(-time.Second)) {
		t.Error("an oom event was found for another container")
	}
	if e.oomEvent(ctx, r.id, at.Add(time.Millisecond)) {
		t.Error("an oom event from before the given time was found")
	}
}
