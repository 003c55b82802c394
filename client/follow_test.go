package client

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// followServer plays a coordinator's follow stream. Each request gets the
// next answer of answers; an answer writes its events and returns.
type followServer struct {
	mu      sync.Mutex
	answers []func(w http.ResponseWriter)
	lastIDs []string // the Last-Event-ID of each request
}

func (f *followServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.lastIDs = append(f.lastIDs, r.Header.Get("Last-Event-ID"))
	n := len(f.lastIDs)
	f.mu.Unlock()
	if n > len(f.answers) {
		http.Error(w, "no more answers", http.StatusTeapot)
		return
	}
	f.answers[n-1](w)
}

func sse(events ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range events {
			fmt.Fprint(w, ev)
		}
	}
}

func output(id int, data string) string {
	return fmt.Sprintf("event: output\nid: %d\ndata: {\"stream\":\"stdout\",\"data\":%q}\n\n", id, data)
}

const endCompleted = "event: end\ndata: {\"state\":\"COMPLETED\",\"exitCode\":0}\n\n"

func followWith(t *testing.T, f *followServer, h FollowHandler) (*drover.EndEvent, error, []string) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	var out []string
	h.Output = func(o drover.OutputEvent) { out = append(out, o.Data) }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	end, err := New(srv.URL).Follow(ctx, "job_1", "", 0, h)
	return end, err, out
}

// A broken stream is opened again after the last event received, so
// nothing is missed or repeated.
func TestFollowReconnectsAfterTheLastEvent(t *testing.T) {
	f := &followServer{answers: []func(http.ResponseWriter){
		sse(output(1, "a"), output(2, "b")), // then the connection breaks
		func(w http.ResponseWriter) { http.Error(w, "restarting", http.StatusServiceUnavailable) },
		sse(output(3, "c"), endCompleted),
	}}
	var downs []string
	end, err, out := followWith(t, f, FollowHandler{Disconnected: func(err error, down time.Duration) bool {
		downs = append(downs, err.Error())
		return true
	}})
	if err != nil || end == nil || end.State != drover.JobCompleted {
		t.Fatalf("Follow = %+v, %v; want the COMPLETED end", end, err)
	}
	if got := strings.Join(out, ""); got != "abc" {
		t.Errorf("output = %q, want abc: each event once, in order", got)
	}
	if got := fmt.Sprint(f.lastIDs); got != "[ 2 2]" {
		t.Errorf("Last-Event-ID of the requests = %s, want [ 2 2]", got)
	}
	if len(downs) != 2 {
		t.Errorf("Disconnected heard %q, want the break and the 503", downs)
	}
}

// An answer that is not temporary ends the follow at once.
func TestFollowStopsOnAFinalAnswer(t *testing.T) {
	f := &followServer{answers: []func(http.ResponseWriter){
		func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":"not_found","message":"no job job_1"}}`)
		},
	}}
	disconnected := false
	_, err, _ := followWith(t, f, FollowHandler{Disconnected: func(error, time.Duration) bool {
		disconnected = true
		return true
	}})
	if !drover.IsCode(err, drover.ENOTFOUND) || disconnected || len(f.lastIDs) != 1 {
		t.Errorf("Follow = %v after %d requests (disconnected %v), want not_found after one", err, len(f.lastIDs), disconnected)
	}
}

// Disconnected can give up: Follow returns the error that broke the stream.
func TestFollowStopsWhenDisconnectedGivesUp(t *testing.T) {
	f := &followServer{answers: []func(http.ResponseWriter){
		func(w http.ResponseWriter) { http.Error(w, "restarting", http.StatusServiceUnavailable) },
	}}
	_, err, _ := followWith(t, f, FollowHandler{Disconnected: func(error, time.Duration) bool { return false }})
	if !drover.IsCode(err, drover.EUNAVAILABLE) || len(f.lastIDs) != 1 {
		t.Errorf("Follow = %v after %d requests, want the 503 after one", err, len(f.lastIDs))
	}
}
