package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor/noop"
)

// fakeCoordinator answers the worker protocol over real HTTP and records
// the registrations. A heartbeat is answered with forget's error once, when
// set: the coordinator forgot the worker.
type fakeCoordinator struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	registered []registration
	bearers    []string // of every call but registrations
	forget     bool     // the next heartbeat is answered 401
	taken      bool     // heartbeats are answered 409: found DOWN, the name taken
	deregister int      // status of DELETE /workers/{id}
	joined     chan registration
}

type registration struct {
	token string
	req   drover.RegisterRequest
	id    string
}

func newFakeCoordinator(t *testing.T) *fakeCoordinator {
	f := &fakeCoordinator{t: t, deregister: http.StatusNoContent, joined: make(chan registration, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/workers", func(w http.ResponseWriter, r *http.Request) {
		var req drover.RegisterRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		reg := registration{token: bearer(r), req: req, id: fmt.Sprintf("wrk_%d", len(f.registered)+1)}
		f.registered = append(f.registered, reg)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(drover.RegisterResponse{Worker: drover.Worker{ID: reg.id, Name: req.Name},
			Secret: reg.id + ".secret", HeartbeatInterval: drover.Duration(20 * time.Millisecond)})
		f.joined <- reg
	})
	mux.HandleFunc("POST /api/v1/workers/{id}/heartbeat", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.bearers = append(f.bearers, bearer(r))
		forget, taken := f.forget, f.taken
		f.forget = false
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if taken {
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(drover.ErrorBody{Error: drover.Error{Code: drover.ECONFLICT, Message: `its name "w" is now worker wrk_9's`}})
			return
		}
		if forget {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(drover.ErrorBody{Error: drover.Error{Code: drover.EUNAUTHORIZED, Message: "worker is not registered"}})
			return
		}
		_ = json.NewEncoder(w).Encode(drover.HeartbeatResponse{Stop: []string{}})
	})
	mux.HandleFunc("GET /api/v1/workers/{id}/work", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.bearers = append(f.bearers, bearer(r))
		f.mu.Unlock()
		select {
		case <-r.Context().Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(drover.WorkResponse{Assignments: []drover.Assignment{}, Stop: []string{}})
	})
	mux.HandleFunc("DELETE /api/v1/workers/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		status := f.deregister
		f.mu.Unlock()
		w.WriteHeader(status)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// next waits for the next registration.
func (f *fakeCoordinator) next() registration {
	f.t.Helper()
	select {
	case reg := <-f.joined:
		return reg
	case <-time.After(10 * time.Second):
		f.t.Fatal("the worker did not register")
		return registration{}
	}
}

func (f *fakeCoordinator) forgetWorker() {
	f.mu.Lock()
	f.forget = true
	f.mu.Unlock()
}

func newTokenWorker(t *testing.T, server, workDir string, cfg Config) *Worker {
	t.Helper()
	cfg.Server, cfg.Name, cfg.WorkDir = server, "w", workDir
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Executors = []Executor{noop.Executor{}}
	cfg.Capacity = drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 1}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// running runs w until the test ends (a hard stop if it still runs); Run's
// result is sent on the channel.
func running(t *testing.T, w *Worker) <-chan error {
	ctx, cancel := context.WithCancel(context.Background())
	done, ended := make(chan error, 1), make(chan struct{})
	go func() { defer close(ended); done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ended:
		case <-time.After(20 * time.Second):
			t.Error("Run did not stop")
		}
	})
	return done
}

// waitID waits until w has taken the id the coordinator gave it.
func waitID(t *testing.T, w *Worker, id string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); w.ID() != id; {
		if time.Now().After(deadline) {
			t.Fatalf("worker id %q, want %s", w.ID(), id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Once registered, the worker keeps no join token: its calls carry its own
// secret, and its config has dropped the token.
func TestJoinTokenDroppedOnceRegistered(t *testing.T) {
	f := newFakeCoordinator(t)
	w := newTokenWorker(t, f.srv.URL, t.TempDir(), Config{JoinToken: "join-1"})
	running(t, w)
	if reg := f.next(); reg.token != "join-1" || reg.req.PreviousSecret != "" {
		t.Fatalf("first registration: token %q, previous secret %q; want the join token and none", reg.token, reg.req.PreviousSecret)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		f.mu.Lock()
		n := len(f.bearers)
		f.mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no heartbeats or polls")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.mu.Lock()
	for _, b := range f.bearers {
		if b != "wrk_1.secret" {
			t.Errorf("a call after registration carried %q, want the worker's secret", b)
		}
	}
	f.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cfg.JoinToken != "" {
		t.Errorf("the worker's config still holds the join token %q", w.cfg.JoinToken)
	}
}

// A worker the coordinator forgot registers again with the token read
// afresh (drover worker --join-token-file reads the file again), presenting
// the secret it had.
func TestForgottenWorkerReadsTheTokenAgain(t *testing.T) {
	f := newFakeCoordinator(t)
	var reads int
	read := func() (string, error) { reads++; return fmt.Sprintf("join-%d", reads+1), nil }
	w := newTokenWorker(t, f.srv.URL, t.TempDir(), Config{JoinToken: "join-1", ReadJoinToken: read})
	running(t, w)
	f.next()
	f.forgetWorker()
	reg := f.next()
	if reg.token != "join-2" || reg.req.PreviousSecret != "wrk_1.secret" {
		t.Fatalf("registration again: token %q, previous secret %q; want join-2 and wrk_1.secret", reg.token, reg.req.PreviousSecret)
	}
	waitID(t, w, "wrk_2")
}

// A worker the coordinator forgot that has no way to read the join token
// again stops, saying why and what to do, instead of heartbeating in vain.
func TestForgottenWorkerWithoutTokenStops(t *testing.T) {
	f := newFakeCoordinator(t)
	w := newTokenWorker(t, f.srv.URL, t.TempDir(), Config{JoinToken: "join-1"})
	done := running(t, w)
	f.next()
	f.forgetWorker()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "join token") || !strings.Contains(err.Error(), "--join-token-file") {
			t.Fatalf("Run = %v, want an error saying the join token is needed and how to give it", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run went on after the coordinator forgot the worker")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.registered) != 1 {
		t.Errorf("%d registrations, want 1: there was no token to register again with", len(f.registered))
	}
}

// A worker found DOWN whose name another worker took meanwhile stops,
// saying so: it cannot come back under that name.
func TestWorkerWhoseNameWasTakenStops(t *testing.T) {
	f := newFakeCoordinator(t)
	w := newTokenWorker(t, f.srv.URL, t.TempDir(), Config{})
	done := running(t, w)
	f.next()
	f.mu.Lock()
	f.taken = true
	f.mu.Unlock()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "wrk_9") {
			t.Fatalf("Run = %v, want the coordinator's refusal", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run went on heartbeating under a name another worker holds")
	}
}

// A worker without a join token (drover dev, an open coordinator)
// registers again without one.
func TestForgottenWorkerWithoutJoinTokenRegistersAgain(t *testing.T) {
	f := newFakeCoordinator(t)
	w := newTokenWorker(t, f.srv.URL, t.TempDir(), Config{})
	running(t, w)
	f.next()
	f.forgetWorker()
	if reg := f.next(); reg.token != "" || reg.req.PreviousSecret != "wrk_1.secret" {
		t.Fatalf("registration again: token %q, previous secret %q", reg.token, reg.req.PreviousSecret)
	}
}

// The secret is kept in the work dir, readable by the worker's user alone,
// and presented by the next worker on that work dir; a worker that
// deregistered forgets it.
func TestSecretKeptForARestart(t *testing.T) {
	f := newFakeCoordinator(t)
	workDir := t.TempDir()
	f.deregister = http.StatusServiceUnavailable // the first one leaves as if killed
	w := newTokenWorker(t, f.srv.URL, workDir, Config{JoinToken: "join-1"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	f.next()
	waitID(t, w, "wrk_1")
	cancel()
	<-done
	for path, want := range map[string]os.FileMode{filepath.Join(workDir, "identity"): 0o700 | os.ModeDir, filepath.Join(workDir, "identity", "secret"): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v, want mode %v", path, err, want)
			if err == nil {
				t.Errorf("%s has mode %v", path, fi.Mode())
			}
		}
	}

	f.mu.Lock()
	f.deregister = http.StatusNoContent
	f.mu.Unlock()
	w2 := newTokenWorker(t, f.srv.URL, workDir, Config{JoinToken: "join-1"})
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- w2.Run(ctx2) }()
	if reg := f.next(); reg.req.PreviousSecret != "wrk_1.secret" {
		t.Errorf("restart on the same work dir: previous secret %q, want wrk_1.secret", reg.req.PreviousSecret)
	}
	waitID(t, w2, "wrk_2")
	w2.Drain()
	select {
	case <-done2:
	case <-time.After(10 * time.Second):
		t.Fatal("drain did not end Run")
	}
	cancel2()
	if _, err := os.Stat(filepath.Join(workDir, "identity", "secret")); !os.IsNotExist(err) {
		t.Errorf("secret after deregistering: %v, want it removed", err)
	}
}
