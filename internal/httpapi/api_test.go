package httpapi_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
	"github.com/drover-dev/drover/internal/coordinator"
	"github.com/drover-dev/drover/internal/httpapi"
	"github.com/drover-dev/drover/internal/store/sqlite"
)

// waitFor bounds every wait; it is only reached when a test fails.
const waitFor = 20 * time.Second

const (
	apiToken  = "api-token"
	joinToken = "join-token"
)

// apiServer is the whole API in process: a SQLite store in a temporary
// folder, a running coordinator and the handler on a loopback listener.
type apiServer struct {
	st    *sqlite.Store
	coord *coordinator.Coordinator
	url   string
	token string         // the API token clients send, if the server has one
	api   *client.Client // client API, with the token
	join  *client.Client // registers workers, with the join token
	logs  *lockedBuffer
}

type serverOpt struct {
	tokens    bool                  // require API and join tokens
	outputCap int64                 // bytes of output kept per job (0: the store's default)
	api       func(*httpapi.Config) // changes to the API's configuration
	// connState, when set, is told of the server's connections' states.
	connState func(net.Conn, http.ConnState)
	tls       bool // serve HTTPS
}

func newAPIServer(t testing.TB, o serverOpt) *apiServer {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "drover.db"), sqlite.Options{OutputCap: o.outputCap})
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	coord, err := coordinator.New(coordinator.Config{Store: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := coord.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := httpapi.Config{Coordinator: coord, Logger: log}
	s := &apiServer{st: st, coord: coord, logs: logs}
	if o.tokens {
		cfg.APITokens = []string{"another-token", apiToken}
		cfg.JoinToken = joinToken
		s.token = apiToken
	}
	if o.api != nil {
		o.api(&cfg)
	}
	base, cancelBase := context.WithCancel(ctx)
	hs := httpapi.Server(cfg)
	hs.BaseContext = func(net.Listener) context.Context { return base }
	hs.ConnState = o.connState
	srv := httptest.NewUnstartedServer(hs.Handler)
	srv.Config = hs
	if o.tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		cancelBase() // ends long-polls and streams still open
		srv.Close()
		coord.Stop()
		_ = st.Close()
	})
	s.url = srv.URL
	s.api = client.New(srv.URL, client.WithToken(s.token), client.WithHTTPClient(srv.Client()))
	s.join = client.New(srv.URL, client.WithHTTPClient(srv.Client()))
	if o.tokens {
		s.join = s.join.WithToken(joinToken)
	}
	return s
}

// lockedBuffer collects the log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// response is an answer of the raw API.
type response struct {
	status int
	header http.Header
	body   []byte
}

// apiError decodes the body as an error answer.
func (r response) apiError(t *testing.T) drover.Error {
	t.Helper()
	var eb drover.ErrorBody
	if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error.Code == "" {
		t.Fatalf("status %d: body %q is not an error answer (%v)", r.status, r.body, err)
	}
	return eb.Error
}

// call sends one request; hdr alternates names and values.
func (s *apiServer) call(t *testing.T, method, path, token, body string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantError checks an error answer's status and code, and that its message
// contains each of msg.
func wantError(t *testing.T, r response, status int, code string, msg ...string) drover.Error {
	t.Helper()
	e := r.apiError(t)
	if r.status != status || e.Code != code {
		t.Errorf("got %d %s (%q), want %d %s", r.status, e.Code, e.Message, status, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error answer has Content-Type %q, want application/json", ct)
	}
	for _, m := range msg {
		if !strings.Contains(e.Message, m) {
			t.Errorf("message %q does not say %q", e.Message, m)
		}
	}
	return e
}

// worker is a registered worker speaking the protocol with its secret.
type worker struct {
	id, secret string
	c          *client.Client
}

func (s *apiServer) register(t *testing.T, name string, cpu int64) worker {
	t.Helper()
	resp, err := s.join.Register(ctxT(t), drover.RegisterRequest{
		Name: name, Executors: []string{drover.ExecutorProcess},
		Capacity: drover.Capacity{CPU: cpu, MemoryMB: 4096, Slots: 4}, Version: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return worker{id: resp.Worker.ID, secret: resp.Secret, c: client.New(s.url, client.WithToken(resp.Secret))}
}

// assignment long-polls until the worker is handed an attempt.
func (w worker) assignment(t *testing.T) drover.Assignment {
	t.Helper()
	ctx := ctxT(t)
	for {
		r, err := w.c.Work(ctx, w.id, 5*time.Second, false)
		if err != nil {
			t.Fatalf("work: %v", err)
		}
		if len(r.Assignments) > 0 {
			return r.Assignments[0]
		}
	}
}

func (s *apiServer) submit(t *testing.T, spec drover.JobSpec) *drover.Job {
	t.Helper()
	j, err := s.api.Submit(ctxT(t), spec, "")
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func echoSpec() drover.JobSpec { return drover.JobSpec{Command: drover.Command{"echo", "hi"}} }

func exitCode(n int) *int { return &n }

func TestAPIErrorStatuses(t *testing.T) {
	s := newAPIServer(t, serverOpt{tokens: true})
	w := s.register(t, "small", 1000)
	other := s.register(t, "other", 1000)
	cancelled := s.submit(t, drover.JobSpec{Command: drover.Command{"true"}, Constraints: map[string]string{"zone": "nowhere"}})
	if _, err := s.api.Cancel(ctxT(t), cancelled.ID); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name         string
		method, path string
		token, body  string
		status       int
		code         string
		msg          string
	}{
		{"malformed JSON", "POST", "/api/v1/jobs", apiToken, `{"command": [`, 400, drover.EMALFORMED, "not valid JSON"},
		{"no API token", "GET", "/api/v1/jobs", "", "", 401, drover.EUNAUTHORIZED, "needs an API token"},
		{"wrong API token", "GET", "/api/v1/jobs", "nope", "", 401, drover.EUNAUTHORIZED, "wrong"},
		{"a worker speaking for another", "POST", "/api/v1/workers/" + other.id + "/heartbeat", w.secret, `{}`, 403, drover.EFORBIDDEN, w.id},
		{"unknown job", "GET", "/api/v1/jobs/job_missing", apiToken, "", 404, drover.ENOTFOUND, ""},
		{"unknown route", "GET", "/api/v1/nothing-here", apiToken, "", 404, drover.ENOTFOUND, "no API route"},
		{"cancel a final job", "POST", "/api/v1/jobs/" + cancelled.ID + "/cancel", apiToken, "", 409, drover.ECONFLICT, ""},
		{"body too large", "POST", "/api/v1/jobs", apiToken, `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, 413, drover.ETOOLARGE, "1 MiB"},
		{"invalid spec", "POST", "/api/v1/jobs", apiToken, `{"command": []}`, 422, drover.EINVALID, "command is empty"},
		{"invalid query", "GET", "/api/v1/jobs?limit=many", apiToken, "", 422, drover.EINVALID, "limit"},
		{"made-up cursor", "GET", "/api/v1/jobs?cursor=zzz", apiToken, "", 422, drover.EINVALID, "not one a page returned"},
		{"unschedulable", "POST", "/api/v1/jobs", apiToken, `{"command": ["true"], "resources": {"cpu": 8000}}`, 422, drover.EUNSCHEDULABLE, "largest worker"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.call(t, tc.method, tc.path, tc.token, tc.body)
			wantError(t, r, tc.status, tc.code, tc.msg)
		})
	}
	t.Run("field named", func(t *testing.T) {
		r := s.call(t, "POST", "/api/v1/jobs", apiToken, `{"command": ["true"], "executor": "vm"}`)
		if e := wantError(t, r, 422, drover.EINVALID, "vm"); e.Field != "executor" {
			t.Errorf("field = %q, want executor", e.Field)
		}
	})
	t.Run("an executor no worker offers", func(t *testing.T) {
		r := s.call(t, "POST", "/api/v1/jobs", apiToken, `{"image": "busybox", "command": ["true"]}`)
		if e := wantError(t, r, 422, drover.EUNSCHEDULABLE, "no registered worker offers executor docker"); e.Field != "executor" {
			t.Errorf("field = %q, want executor", e.Field)
		}
	})
}

func TestAPIInternalErrorsAreNotShown(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	s.submit(t, echoSpec())
	s.coord.Stop()
	if err := s.st.Close(); err != nil { // every store call fails from now on
		t.Fatal(err)
	}

	for _, path := range []string{"/api/v1/jobs", "/api/v1/workers"} {
		r := s.call(t, "GET", path, "", "")
		e := wantError(t, r, 500, drover.EINTERNAL)
		if e.Message != "internal error" {
			t.Errorf("GET %s: message %q, want \"internal error\"", path, e.Message)
		}
		for _, leak := range []string{"sql", "closed", "database"} {
			if strings.Contains(string(r.body), leak) {
				t.Errorf("GET %s: the answer %q shows the internal detail %q", path, r.body, leak)
			}
		}
	}
	// The detail goes to the log, for the operator.
	if logs := s.logs.String(); !strings.Contains(logs, "request failed") || !strings.Contains(logs, "closed") {
		t.Errorf("the internal error was not logged with its detail; log:\n%s", logs)
	}
}

func TestAPIDecodingErrors(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	tests := []struct {
		name  string
		body  string
		field string
		msg   []string
	}{
		{"empty body", "", "", []string{"empty"}},
		{"only spaces", "  \n", "", []string{"empty"}},
		{"cut short", `{"command": ["true"]`, "", []string{"ends too early"}},
		{"syntax", `{"command": ["true"],}`, "", []string{"not valid JSON", "at byte"}},
		{"trailing value", `{"command": ["true"]} {"command": ["false"]}`, "", []string{"after the JSON value"}},
		{"trailing garbage", `{"command": ["true"]} x`, "", []string{"after the JSON value"}},
		{"trailing brace", `{"command": ["true"]}}`, "", []string{"after the JSON value"}},
		{"trailing bracket", `{"command": ["true"]}]`, "", []string{"after the JSON value"}},
		{"number as a string", `{"command": ["true"], "priority": "high"}`, "priority", []string{`"priority"`, "a whole number", "string"}},
		{"nested field", `{"command": ["true"], "resources": {"cpu": "lots"}}`, "resources.cpu", []string{`"resources.cpu"`, "a whole number"}},
		{"fraction", `{"command": ["true"], "priority": 1.5}`, "priority", []string{`"priority"`, "a whole number within range", "1.5"}},
		{"bool", `{"command": ["true"], "network": "yes"}`, "network", []string{`"network"`, "true or false"}},
		{"map", `{"command": ["true"], "env": ["A=1"]}`, "env", []string{`"env"`, "an object", "array"}},
		{"map value", `{"command": ["true"], "env": {"A": 1}}`, "env", []string{`"env" must map names to strings: a value is a JSON number`}},
		{"not an object", `["true"]`, "", []string{"an object"}},
		{"unknown field", `{"command": ["true"], "timout": "5s"}`, "timout", []string{`"timout"`, "spelling"}},
		{"bad command", `{"command": 5}`, "command", []string{"command must be a string or an array"}},
		{"duration of the wrong type", `{"command": ["true"], "timeout": true}`, "timeout", []string{`field "timeout" must be a duration like "90s"`, "or a number of seconds, not a JSON bool"}},
		{"duration without a unit", `{"command": ["true"], "timeout": "5 minutes"}`, "timeout", []string{`"timeout"`, `not a JSON string "5 minutes"`}},
		{"duration out of range", `{"command": ["true"], "timeout": 1e300}`, "timeout", []string{`"timeout"`, "1e300 (out of range)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.call(t, "POST", "/api/v1/jobs", "", tc.body)
			e := wantError(t, r, 400, drover.EMALFORMED, tc.msg...)
			if tc.field != "" && e.Field != tc.field {
				t.Errorf("field = %q, want %q", e.Field, tc.field)
			}
		})
	}
	// The worker protocol is lenient about fields a newer worker may add.
	w := s.register(t, "w", 1000)
	r := s.call(t, "POST", "/api/v1/workers/"+w.id+"/heartbeat", w.secret, `{"running": [], "future": true}`)
	if r.status != 200 {
		t.Errorf("heartbeat with an unknown field: %d %s, want 200", r.status, r.body)
	}
	r = s.call(t, "POST", "/api/v1/workers/"+w.id+"/heartbeat", w.secret, `{"running": "att_1"}`)
	if e := wantError(t, r, 400, drover.EMALFORMED, "an array"); e.Field != "running" {
		t.Errorf("field = %q, want running", e.Field)
	}
}

func TestAPIIdempotencyKey(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	spec := `{"command": ["echo", "once"]}`
	submit := func(key string) (int, drover.Job) {
		t.Helper()
		var hdr []string
		if key != "" {
			hdr = []string{"Idempotency-Key", key}
		}
		r := s.call(t, "POST", "/api/v1/jobs", "", spec, hdr...)
		var j drover.Job
		if err := json.Unmarshal(r.body, &j); err != nil || j.ID == "" {
			t.Fatalf("submit: %d %s", r.status, r.body)
		}
		if loc := r.header.Get("Location"); loc != "/api/v1/jobs/"+j.ID {
			t.Errorf("Location = %q, want /api/v1/jobs/%s", loc, j.ID)
		}
		return r.status, j
	}
	st1, j1 := submit("deploy-42")
	st2, j2 := submit("deploy-42")
	if st1 != 201 || st2 != 200 || j2.ID != j1.ID {
		t.Errorf("same key twice: %d %s then %d %s, want 201 then 200 with the same job", st1, j1.ID, st2, j2.ID)
	}
	st3, j3 := submit("deploy-43")
	_, j4 := submit("")
	_, j5 := submit("")
	if st3 != 201 || j3.ID == j1.ID || j4.ID == j5.ID {
		t.Errorf("other key or none made jobs %s, %s, %s; want new jobs each", j3.ID, j4.ID, j5.ID)
	}
	page, err := s.api.Jobs(ctxT(t), drover.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 4 {
		t.Errorf("%d jobs stored, want 4", len(page.Jobs))
	}
	r := s.call(t, "POST", "/api/v1/jobs", "", spec, "Idempotency-Key", strings.Repeat("k", 201))
	wantError(t, r, 422, drover.EINVALID, "Idempotency-Key")
}

// A registration under the name of a live worker is refused with 409 saying
// which worker holds it and what to do; the holder's own secret proves a
// restart, which takes the name at once.
func TestAPIWorkerNamesAreUnique(t *testing.T) {
	s := newAPIServer(t, serverOpt{tokens: true})
	a := s.register(t, "a", 2000)
	body := func(previous string) string {
		return `{"name": "a", "executors": ["process"], "capacity": {"cpu": 1000, "memoryMB": 512, "slots": 1}, "previousSecret": "` + previous + `"}`
	}
	wantError(t, s.call(t, "POST", "/api/v1/workers", joinToken, body("")), 409, drover.ECONFLICT,
		`worker name "a" is taken by worker `+a.id, "READY", "last heard from", "its own --name", "stop the other one")
	// A previous secret stands in for the join token nowhere.
	wantError(t, s.call(t, "POST", "/api/v1/workers", "", body(a.secret)), 401, drover.EUNAUTHORIZED, "join token")
	r := s.call(t, "POST", "/api/v1/workers", joinToken, body(a.secret))
	if r.status != 201 {
		t.Fatalf("restart with the previous secret: %d %s, want 201", r.status, r.body)
	}
	var resp drover.RegisterResponse
	if err := json.Unmarshal(r.body, &resp); err != nil || resp.Worker.ID == a.id || resp.Worker.Name != "a" {
		t.Fatalf("restart: %+v %v", resp.Worker, err)
	}
	wantError(t, s.call(t, "POST", "/api/v1/workers/"+a.id+"/heartbeat", a.secret, `{}`), 401, drover.EUNAUTHORIZED, "not registered")
}

func TestAPIWorkerAuth(t *testing.T) {
	s := newAPIServer(t, serverOpt{tokens: true})

	t.Run("register needs the join token", func(t *testing.T) {
		// A docker-only worker: the jobs below, without an image, never go to it.
		body := `{"name": "w", "executors": ["docker"], "capacity": {"cpu": 1000, "memoryMB": 512, "slots": 1}}`
		wantError(t, s.call(t, "POST", "/api/v1/workers", "", body), 401, drover.EUNAUTHORIZED, "join token")
		wantError(t, s.call(t, "POST", "/api/v1/workers", apiToken, body), 401, drover.EUNAUTHORIZED, "wrong")
		if r := s.call(t, "POST", "/api/v1/workers", joinToken, body); r.status != 201 {
			t.Errorf("register with the join token: %d %s, want 201", r.status, r.body)
		}
	})

	a := s.register(t, "a", 2000)
	b := s.register(t, "b", 2000)
	hb := func(id string) string { return "/api/v1/workers/" + id + "/heartbeat" }
	t.Run("missing secret", func(t *testing.T) {
		wantError(t, s.call(t, "POST", hb(a.id), "", `{}`), 401, drover.EUNAUTHORIZED, "worker secret")
	})
	t.Run("another worker's id", func(t *testing.T) {
		wantError(t, s.call(t, "POST", hb(b.id), a.secret, `{}`), 403, drover.EFORBIDDEN, a.id, b.id)
		wantError(t, s.call(t, "GET", "/api/v1/workers/"+b.id+"/work?wait=0s", a.secret, ""), 403, drover.EFORBIDDEN)
	})
	t.Run("unknown worker", func(t *testing.T) {
		wantError(t, s.call(t, "POST", hb("wrk_gone"), "wrk_gone.0123456789abcdef", `{}`), 401, drover.EUNAUTHORIZED, "not registered")
	})
	t.Run("wrong secret", func(t *testing.T) {
		forged := a.id + ".0000000000000000000000000000000000000000000000000000000000000000"
		wantError(t, s.call(t, "POST", hb(a.id), forged, `{}`), 401, drover.EUNAUTHORIZED, "wrong")
		wantError(t, s.call(t, "POST", hb(a.id), "not-a-secret", `{}`), 401, drover.EUNAUTHORIZED, "malformed")
	})
	t.Run("an API token is not a worker secret", func(t *testing.T) {
		wantError(t, s.call(t, "POST", hb(a.id), apiToken, `{}`), 401, drover.EUNAUTHORIZED)
	})
	t.Run("own secret", func(t *testing.T) {
		if r := s.call(t, "POST", hb(a.id), a.secret, `{}`); r.status != 200 {
			t.Errorf("heartbeat with its own secret: %d %s", r.status, r.body)
		}
	})
	t.Run("another worker's attempt", func(t *testing.T) {
		s.submit(t, echoSpec())
		var as drover.Assignment
		var owner, stranger worker
		// Either worker may get the job; the other must not report on it.
		for as.AttemptID == "" {
			for _, w := range []worker{a, b} {
				r, err := w.c.Work(ctxT(t), w.id, 100*time.Millisecond, false)
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Assignments) > 0 {
					as, owner = r.Assignments[0], w
				}
			}
		}
		stranger = a
		if owner.id == a.id {
			stranger = b
		}
		wantError(t, s.call(t, "POST", "/api/v1/attempts/"+as.AttemptID+"/start", stranger.secret, `{}`), 403, drover.EFORBIDDEN)
		if err := owner.c.Start(ctxT(t), as.AttemptID, drover.StartRequest{}); err != nil {
			t.Errorf("the owner's start: %v", err)
		}
	})
}

func TestAPIWorkLongPoll(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	w := s.register(t, "w", 2000)

	t.Run("nothing to do: answers after wait", func(t *testing.T) {
		// The call's deadline (waitFor) is shorter than the poll's default
		// wait: an answer at all shows the asked wait was kept.
		start := time.Now()
		r := s.call(t, "GET", "/api/v1/workers/"+w.id+"/work?wait=50ms", w.secret, "")
		took := time.Since(start)
		if r.status != 200 || string(bytes.TrimSpace(r.body)) != `{"assignments":[],"stop":[],"drain":false}` {
			t.Errorf("got %d %s, want 200 and empty lists", r.status, r.body)
		}
		if took < 50*time.Millisecond {
			t.Errorf("answered after %s, before the 50ms wait", took)
		}
	})
	t.Run("bad wait", func(t *testing.T) {
		wantError(t, s.call(t, "GET", "/api/v1/workers/"+w.id+"/work?wait=soon", w.secret, ""), 422, drover.EINVALID, "wait")
	})

	t.Run("an assignment: answers at once", func(t *testing.T) {
		ev := openSSE(t, s, "/api/v1/events", nil)
		j := s.submit(t, echoSpec())
		// Wait until the job is assigned, so the poll below finds it there.
		for {
			e := ev.next(t)
			var got drover.Event
			if e.event == "job" && json.Unmarshal([]byte(e.data), &got) == nil && got.Job.ID == j.ID && got.Job.State == drover.JobAssigned {
				break
			}
		}
		// The poll's deadline (waitFor) is shorter than its wait: an
		// answer at all is one given before the wait ended.
		r, err := w.c.Work(ctxT(t), w.id, time.Minute, false)
		if err != nil {
			t.Fatalf("a long-poll with an assignment waiting: %v; want the assignment at once", err)
		}
		if len(r.Assignments) != 1 || r.Assignments[0].JobID != j.ID || r.Assignments[0].N != 1 {
			t.Fatalf("assignments = %+v, want attempt 1 of %s", r.Assignments, j.ID)
		}
	})

	t.Run("an assignment made during the poll wakes it", func(t *testing.T) {
		got := make(chan *drover.WorkResponse, 1)
		go func() {
			r, err := w.c.Work(context.Background(), w.id, time.Minute, false)
			if err != nil {
				t.Error(err)
			}
			got <- r
		}()
		j := s.submit(t, echoSpec())
		select {
		case r := <-got:
			if r == nil || len(r.Assignments) != 1 || r.Assignments[0].JobID != j.ID {
				t.Errorf("poll answered %+v, want the assignment of %s", r, j.ID)
			}
		case <-time.After(waitFor):
			t.Fatal("the long-poll was not woken by the assignment")
		}
	})
}

// sseEvent is one Server-Sent Event.
type sseEvent struct{ id, event, data string }

// sseStream reads an SSE answer in the background.
type sseStream struct {
	events chan sseEvent // closed when the body ends
	cancel context.CancelFunc
}

// openSSE opens a stream; it is closed when the test ends.
func openSSE(t *testing.T, s *apiServer, path string, hdr http.Header) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if s.token != "" && req.Header.Get("Authorization") == "" && !strings.Contains(path, "access_token=") {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("GET %s: %d %s %s, want an event stream", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	st := &sseStream{events: make(chan sseEvent, 100000), cancel: cancel}
	go func() {
		defer close(st.events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if len(data) > 0 || ev.event != "" {
					ev.data = strings.Join(data, "\n")
					st.events <- ev
				}
				ev, data = sseEvent{}, nil
				continue
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.id = value
			case "event":
				ev.event = value
			case "data":
				data = append(data, value)
			}
		}
	}()
	t.Cleanup(st.close)
	return st
}

// close ends the stream and waits for its reader.
func (st *sseStream) close() {
	st.cancel()
	for range st.events {
	}
}

// next returns the next event, failing the test if the stream ends or
// nothing comes.
func (st *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-st.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(waitFor):
		t.Fatal("no event came")
	}
	return sseEvent{}
}

// ended reports whether the stream closes without another event.
func (st *sseStream) ended(t *testing.T) bool {
	t.Helper()
	select {
	case ev, ok := <-st.events:
		if ok {
			t.Errorf("event %s %q after the end", ev.event, ev.data)
		}
		return !ok
	case <-time.After(waitFor):
		return false
	}
}

func decodeData[T any](t *testing.T, ev sseEvent) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(ev.data), &v); err != nil {
		t.Fatalf("%s event data %q: %v", ev.event, ev.data, err)
	}
	return v
}

// untilState reads a follow stream up to a state event in the given state
// and returns it; output must not come before it.
func untilState(t *testing.T, st *sseStream, state drover.JobState) drover.StateEvent {
	t.Helper()
	for {
		ev := st.next(t)
		switch ev.event {
		case "state":
			if se := decodeData[drover.StateEvent](t, ev); se.State == state {
				return se
			}
		default:
			t.Fatalf("%s event %q while waiting for state %s", ev.event, ev.data, state)
		}
	}
}

func TestAPIFollowOpenedBeforeTheJobStarts(t *testing.T) {
	s := newAPIServer(t, serverOpt{tokens: true})
	j := s.submit(t, echoSpec()) // no worker yet: it waits
	st := openSSE(t, s, "/api/v1/jobs/"+j.ID+"/output?follow=1", nil)
	if se := untilState(t, st, drover.JobQueued); se.Attempt != 0 || se.WorkerID != "" {
		t.Errorf("first state = %+v, want queued, no attempt, no worker", se)
	}

	w := s.register(t, "w", 2000)
	as := w.assignment(t)
	if err := w.c.Start(ctxT(t), as.AttemptID, drover.StartRequest{}); err != nil {
		t.Fatal(err)
	}
	if se := untilState(t, st, drover.JobRunning); se.WorkerID != w.id || se.Attempt != 1 {
		t.Errorf("running state = %+v, want worker %s, attempt 1", se, w.id)
	}

	chunks := []drover.OutputChunk{
		{Seq: 1, Stream: drover.Stdout, Data: []byte("hello\n")},
		{Seq: 2, Stream: drover.Stderr, Data: []byte("careful\n")},
		{Seq: 3, Stream: drover.Stdout, Data: []byte("bye\n")},
	}
	if err := w.c.SendOutput(ctxT(t), as.AttemptID, chunks); err != nil {
		t.Fatal(err)
	}
	var lastID int64
	for i, ch := range chunks {
		ev := st.next(t)
		if ev.event != "output" {
			t.Fatalf("event %d: %s %q, want output", i, ev.event, ev.data)
		}
		id, err := strconv.ParseInt(ev.id, 10, 64)
		if err != nil || id <= lastID {
			t.Errorf("output id %q after %d, want increasing ids", ev.id, lastID)
		}
		lastID = id
		o := decodeData[drover.OutputEvent](t, ev)
		if o.Stream != ch.Stream || o.Data != string(ch.Data) || o.AttemptN != 1 {
			t.Errorf("output %d = %+v, want %s %q of attempt 1", i, o, ch.Stream, ch.Data)
		}
	}

	if err := w.c.Finish(ctxT(t), as.AttemptID, drover.FinishRequest{ExitCode: exitCode(0), LastSeq: 3}); err != nil {
		t.Fatal(err)
	}
	untilState(t, st, drover.JobCompleted)
	ev := st.next(t)
	if ev.event != "end" {
		t.Fatalf("after the final state: %s %q, want end", ev.event, ev.data)
	}
	if end := decodeData[drover.EndEvent](t, ev); end.State != drover.JobCompleted || end.ExitCode == nil || *end.ExitCode != 0 {
		t.Errorf("end = %+v, want COMPLETED with exit code 0", end)
	}
	if !st.ended(t) {
		t.Error("the stream stays open after the end event")
	}

	// A follower of a job already over gets everything and the end at once.
	late := openSSE(t, s, "/api/v1/jobs/"+j.ID+"/output", http.Header{"Accept": {"text/event-stream"}})
	var kinds []string
	for ev := range late.events {
		kinds = append(kinds, ev.event)
	}
	if got := strings.Join(kinds, ","); got != "output,output,output,state,end" {
		t.Errorf("a late follower got %s, want the three outputs, the state and the end", got)
	}

	// The text endpoint, whole and by stream.
	if r := s.call(t, "GET", "/api/v1/jobs/"+j.ID+"/output", apiToken, ""); r.status != 200 || string(r.body) != "hello\ncareful\nbye\n" {
		t.Errorf("output = %d %q", r.status, r.body)
	}
	if r := s.call(t, "GET", "/api/v1/jobs/"+j.ID+"/output?stream=stderr", apiToken, ""); r.status != 200 || string(r.body) != "careful\n" {
		t.Errorf("stderr = %d %q", r.status, r.body)
	}
	wantError(t, s.call(t, "GET", "/api/v1/jobs/"+j.ID+"/output?stream=both", apiToken, ""), 422, drover.EINVALID, "stdout or stderr")
	wantError(t, s.call(t, "GET", "/api/v1/jobs/job_missing/output?follow=1", apiToken, ""), 404, drover.ENOTFOUND)
}

// A follower already past the marker of a job over its output cap, whose
// unread chunks are then dropped, is told where: a silent gap would leave
// a copy taken with drover run > file short with nothing to say so.
func TestAPIFollowToldOfOutputDroppedUnderIt(t *testing.T) {
	s := newAPIServer(t, serverOpt{tokens: true, outputCap: 4 << 10})
	j := s.submit(t, echoSpec())
	w := s.register(t, "w", 2000)
	as := w.assignment(t)
	if err := w.c.Start(ctxT(t), as.AttemptID, drover.StartRequest{}); err != nil {
		t.Fatal(err)
	}
	send := func(from, to int64) {
		t.Helper()
		var cs []drover.OutputChunk
		for seq := from; seq <= to; seq++ {
			cs = append(cs, drover.OutputChunk{Seq: seq, Stream: drover.Stdout, Data: bytes.Repeat([]byte{byte('a' + seq)}, 1<<10)})
		}
		if err := w.c.SendOutput(ctxT(t), as.AttemptID, cs); err != nil {
			t.Fatal(err)
		}
	}
	var stream *sseStream
	lastID := ""
	outputs := func(n int) []drover.OutputEvent {
		t.Helper()
		var got []drover.OutputEvent
		for len(got) < n {
			if ev := stream.next(t); ev.event == "output" {
				if ev.id != "" {
					lastID = ev.id
				}
				o := decodeData[drover.OutputEvent](t, ev)
				if ev.id == "" && !strings.Contains(o.Data, "output dropped here while it was being read") {
					t.Errorf("output event without an id: %+v", o)
				}
				got = append(got, o)
			}
		}
		return got
	}
	// 6 KiB against a 4 KiB cap: chunk 3 becomes the marker, 4 goes.
	send(1, 6)
	stream = openSSE(t, s, "/api/v1/jobs/"+j.ID+"/output?follow=1", nil)
	got := outputs(4)
	if !strings.Contains(got[2].Data, "bytes of output dropped here") || got[3].Data[0] != 'a'+5 {
		t.Fatalf("first read: %q…, want chunks 1 and 2, the marker, 5", []string{got[0].Data[:1], got[1].Data[:1], got[2].Data, got[3].Data[:1]})
	}
	// Only drover's line is marked as such: a page tells it from the job's
	// output by the flag, not by its words.
	for i, o := range got {
		if o.Marker != (i == 2) {
			t.Errorf("output event %d: marker %v", i, o.Marker)
		}
	}
	if o := outputs(1)[0]; o.Data[0] != 'a'+6 {
		t.Fatalf("then %q…, want chunk 6 (the marker explains the gap: no notice)", o.Data[:1])
	}
	// 6 KiB more at once: 5 to 10 go before the follower reads them.
	send(7, 12)
	got = outputs(3)
	if got[0].Stream != drover.Stderr || !strings.Contains(got[0].Data, "output dropped here while it was being read") || !got[0].Marker {
		t.Fatalf("after chunks it had not read were dropped: %+v, want the notice first, marked", got[0])
	}
	if got[1].Marker || got[2].Marker {
		t.Errorf("chunks 11 and 12 marked as drover's line")
	}

	// A follower that comes back (Last-Event-ID) after what it read last
	// was dropped is told too.
	resumeFrom := lastID // chunk 12's
	send(13, 18)         // 11 and 12 go
	back := openSSE(t, s, "/api/v1/jobs/"+j.ID+"/output?follow=1", http.Header{"Last-Event-ID": {resumeFrom}})
	var first drover.OutputEvent
	for {
		if ev := back.next(t); ev.event == "output" {
			first = decodeData[drover.OutputEvent](t, ev)
			break
		}
	}
	if !first.Marker || !strings.Contains(first.Data, "output dropped here while it was being read") {
		t.Errorf("resumed after a chunk since dropped: first %+v, want the notice", first)
	}
	if jj, err := s.api.Job(ctxT(t), j.ID); err != nil || jj.OutputDropped == 0 || jj.OutputDropped >= jj.OutputBytes {
		t.Errorf("job: outputDropped %d of %d written (%v); want the dropped middle", jj.OutputDropped, jj.OutputBytes, err)
	}
	if got[1].Data[0] != 'a'+11 || got[2].Data[0] != 'a'+12 {
		t.Errorf("then %q and %q…, want chunks 11 and 12", got[1].Data[:1], got[2].Data[:1])
	}
}

func TestAPIFollowOfACancelledQueuedJobEnds(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	j := s.submit(t, echoSpec())
	st := openSSE(t, s, "/api/v1/jobs/"+j.ID+"/output?follow=1", nil)
	untilState(t, st, drover.JobQueued)
	if _, err := s.api.Cancel(ctxT(t), j.ID); err != nil {
		t.Fatal(err)
	}
	untilState(t, st, drover.JobCancelled)
	if ev := st.next(t); ev.event != "end" || decodeData[drover.EndEvent](t, ev).State != drover.JobCancelled {
		t.Errorf("got %s %q, want end CANCELLED", ev.event, ev.data)
	}
	if !st.ended(t) {
		t.Error("the stream stays open after the end event")
	}
}

func TestAPIFollowResumesAfterLastEventID(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	w := s.register(t, "w", 2000)
	j := s.submit(t, echoSpec())
	as := w.assignment(t)
	if err := w.c.Start(ctxT(t), as.AttemptID, drover.StartRequest{}); err != nil {
		t.Fatal(err)
	}
	// More chunks than the server reads from the store at once.
	var want []string
	seq := int64(0)
	post := func(n int) {
		t.Helper()
		var chunks []drover.OutputChunk
		for range n {
			seq++
			line := fmt.Sprintf("line %d\n", seq)
			want = append(want, line)
			stream := drover.Stdout
			if seq%10 == 0 {
				stream = drover.Stderr
			}
			chunks = append(chunks, drover.OutputChunk{Seq: seq, Stream: stream, Data: []byte(line)})
		}
		if err := w.c.SendOutput(ctxT(t), as.AttemptID, chunks); err != nil {
			t.Fatal(err)
		}
	}
	post(700)

	var got []string
	var ids []int64
	take := func(st *sseStream, n int) {
		t.Helper()
		for len(got) < n {
			ev := st.next(t)
			if ev.event != "output" {
				continue
			}
			id, err := strconv.ParseInt(ev.id, 10, 64)
			if err != nil {
				t.Fatalf("output event id %q", ev.id)
			}
			ids = append(ids, id)
			got = append(got, decodeData[drover.OutputEvent](t, ev).Data)
		}
	}
	first := openSSE(t, s, "/api/v1/jobs/"+j.ID+"/output?follow=1", nil)
	take(first, 300)
	first.close() // the connection breaks mid-stream

	post(500) // more output while nobody follows
	if err := w.c.Finish(ctxT(t), as.AttemptID, drover.FinishRequest{ExitCode: exitCode(0), LastSeq: seq}); err != nil {
		t.Fatal(err)
	}
	resumeFrom := ids[len(ids)-1]
	second := openSSE(t, s, "/api/v1/jobs/"+j.ID+"/output?follow=1", http.Header{"Last-Event-ID": {strconv.FormatInt(resumeFrom, 10)}})
	sawEnd := false
	for ev := range second.events {
		switch ev.event {
		case "output":
			id, _ := strconv.ParseInt(ev.id, 10, 64)
			ids = append(ids, id)
			got = append(got, decodeData[drover.OutputEvent](t, ev).Data)
		case "end":
			sawEnd = true
		}
	}
	if !sawEnd {
		t.Error("the resumed stream ended without an end event")
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("event ids go %d then %d: a repeat", ids[i-1], ids[i])
		}
	}
	if strings.Join(got, "") != strings.Join(want, "") {
		t.Errorf("first stream then resumed stream: %d chunks, want the %d sent once each in order", len(got), len(want))
	}

	// The query form (?lastEventId=) used by clients that cannot set headers.
	third := openSSE(t, s, fmt.Sprintf("/api/v1/jobs/%s/output?follow=1&stream=stderr&lastEventId=%d", j.ID, resumeFrom), nil)
	var stderr []string
	for ev := range third.events {
		if ev.event == "output" {
			o := decodeData[drover.OutputEvent](t, ev)
			if o.Stream != drover.Stderr {
				t.Fatalf("stream=stderr sent %s output", o.Stream)
			}
			stderr = append(stderr, o.Data)
		}
	}
	if len(stderr) != 90 || stderr[0] != "line 310\n" {
		t.Errorf("stderr after %d: %d chunks starting %q, want 90 from line 310", resumeFrom, len(stderr), stderr)
	}
	wantError(t, s.call(t, "GET", "/api/v1/jobs/"+j.ID+"/output?follow=1", "", "", "Last-Event-ID", "yesterday"), 422, drover.EINVALID, "Last-Event-ID")
}

func TestAPIEventsFromAFreshCoordinator(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	ev := openSSE(t, s, "/api/v1/events", nil)
	hello := ev.next(t)
	if hello.event != "hello" || hello.id != "0" {
		t.Fatalf("first event = %s id %q, want hello with id 0", hello.event, hello.id)
	}
	j := s.submit(t, echoSpec())
	e := ev.next(t)
	if e.event != "job" || e.id != "1" {
		t.Fatalf("after the first submission: %s id %q, want the job event with id 1", e.event, e.id)
	}
	if got := decodeData[drover.Event](t, e); got.ID != 1 || got.Job == nil || got.Job.ID != j.ID || got.Job.State != drover.JobQueued {
		t.Errorf("event = %+v, want job %s QUEUED", got, j.ID)
	}
}

// ?type= and ?state= keep only some events: here the ends of jobs.
func TestAPIEventsFiltered(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	ev := openSSE(t, s, "/api/v1/events?type=job&state=cancelled,COMPLETED", nil)
	if hello := ev.next(t); hello.event != "hello" {
		t.Fatalf("first event = %s, want hello", hello.event)
	}
	s.submit(t, echoSpec()) // QUEUED: not sent
	b := s.submit(t, echoSpec())
	if r := s.call(t, "POST", "/api/v1/jobs/"+b.ID+"/cancel", "", ""); r.status != 200 {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	e := ev.next(t)
	got := decodeData[drover.Event](t, e)
	if e.event != "job" || got.Job == nil || got.Job.ID != b.ID || got.Job.State != drover.JobCancelled {
		t.Errorf("first event after the hello = %s %s, want job %s CANCELLED", e.event, e.data, b.ID)
	}
	if e.id != strconv.FormatInt(got.ID, 10) {
		t.Errorf("event id %s, data id %d", e.id, got.ID)
	}

	wantError(t, s.call(t, "GET", "/api/v1/events?type=jobs", "", ""), 422, drover.EINVALID, `type "jobs"`, "job or worker")
	wantError(t, s.call(t, "GET", "/api/v1/events?state=DONE", "", ""), 422, drover.EINVALID, `state "DONE"`, "COMPLETED")
}

func TestAPIEventsReconnectReplaysWhatWasMissed(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	s.submit(t, echoSpec()) // events before the client connects are not replayed
	ev := openSSE(t, s, "/api/v1/events", nil)
	hello := ev.next(t)
	if hello.event != "hello" || hello.id == "0" {
		t.Fatalf("first event = %s id %q, want hello with the current id", hello.event, hello.id)
	}
	a := s.submit(t, echoSpec())
	last := jobEvent(t, ev, a.ID)
	ev.close()

	b := s.submit(t, echoSpec())
	c := s.submit(t, echoSpec())
	again := openSSE(t, s, "/api/v1/events", http.Header{"Last-Event-ID": {strconv.FormatInt(last, 10)}})
	want := last + 1
	seen := map[string]bool{}
	for !seen[b.ID] || !seen[c.ID] {
		e := again.next(t)
		if e.event != "job" && e.event != "worker" {
			t.Fatalf("resumed stream sent %s %q, want only job and worker events", e.event, e.data)
		}
		if e.id != strconv.FormatInt(want, 10) {
			t.Fatalf("resumed stream: event id %s, want %d (no gap, no repeat)", e.id, want)
		}
		want++
		if got := decodeData[drover.Event](t, e); got.Job != nil {
			seen[got.Job.ID] = true
			if got.Job.ID == a.ID && got.ID <= last {
				t.Errorf("event %d of job a was sent again", got.ID)
			}
		}
	}

	// An id this coordinator never gave (it restarted): reload.
	stale := openSSE(t, s, "/api/v1/events", http.Header{"Last-Event-ID": {"999999"}})
	if e := stale.next(t); e.event != "reset" {
		t.Errorf("with an unknown Last-Event-ID: %s, want reset", e.event)
	}
}

// jobEvent reads /events up to an event of job id and returns its id.
func jobEvent(t *testing.T, st *sseStream, id string) int64 {
	t.Helper()
	for {
		e := st.next(t)
		if e.event != "job" {
			continue
		}
		if got := decodeData[drover.Event](t, e); got.Job != nil && got.Job.ID == id {
			return got.ID
		}
	}
}

func TestAPIInfoNeedsNoToken(t *testing.T) {
	for _, tokens := range []bool{true, false} {
		s := newAPIServer(t, serverOpt{tokens: tokens})
		r := s.call(t, "GET", "/api/v1/info", "", "")
		var info drover.Info
		if err := json.Unmarshal(r.body, &info); err != nil || r.status != 200 {
			t.Fatalf("info: %d %s", r.status, r.body)
		}
		if info.AuthRequired != tokens || info.Version != drover.Version {
			t.Errorf("info = %+v, want authRequired %v and version %q", info, tokens, drover.Version)
		}
	}
}

// The bearer scheme is case-insensitive; an API token is never taken for
// a worker's secret, whatever it starts with, nor accepted for a worker's
// call.
func TestAPITokenForms(t *testing.T) {
	s := newAPIServer(t, serverOpt{tokens: true})
	j := s.submit(t, echoSpec())
	r := s.call(t, "GET", "/api/v1/jobs/"+j.ID, "", "", "Authorization", "bearer "+apiToken)
	if r.status != 200 {
		t.Errorf("lower-case bearer: %d %s, want 200", r.status, r.body)
	}
	w := s.register(t, "w", 1000)
	wantError(t, s.call(t, "DELETE", "/api/v1/workers/"+w.id, apiToken, ""), 401, drover.EUNAUTHORIZED, "not an API token")
}

// GET /jobs?state= takes several states, as /events does.
func TestAPIJobsInSeveralStates(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	a, b, c := s.submit(t, echoSpec()), s.submit(t, echoSpec()), s.submit(t, echoSpec())
	if _, err := s.api.Cancel(ctxT(t), b.ID); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"state=queued,CANCELLED", "state=QUEUED&state=cancelled", "state=QUEUED,%20CANCELLED,QUEUED"} {
		r := s.call(t, "GET", "/api/v1/jobs?"+q, "", "")
		var page drover.JobPage
		if err := json.Unmarshal(r.body, &page); r.status != 200 || err != nil {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		var got []string
		for _, j := range page.Jobs {
			got = append(got, j.ID)
		}
		if want := []string{c.ID, b.ID, a.ID}; !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v (newest first)", q, got, want)
		}
	}
	page, err := s.api.Jobs(ctxT(t), drover.JobFilter{States: []drover.JobState{drover.JobCancelled, drover.JobCompleted}})
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].ID != b.ID {
		t.Errorf("client Jobs(CANCELLED, COMPLETED) = %+v, %v; want %s alone", page, err, b.ID)
	}
	wantError(t, s.call(t, "GET", "/api/v1/jobs?state=QUEUED,DONE", "", ""), 422, drover.EINVALID, `state "DONE"`, "comma-separated")
	// An empty value (a script's unset variable) filters nothing.
	for _, q := range []string{"state=", "state=&limit=10", "state=,"} {
		r := s.call(t, "GET", "/api/v1/jobs?"+q, "", "")
		var page drover.JobPage
		if err := json.Unmarshal(r.body, &page); r.status != 200 || err != nil || len(page.Jobs) != 3 {
			t.Errorf("%s: %d %s, want the 3 jobs", q, r.status, r.body)
		}
	}
}

// POST /jobs/cancel: each job its result, in order; the list's bounds.

func TestAPICancelMany(t *testing.T) {
	s := newAPIServer(t, serverOpt{tokens: true})
	a, b := s.submit(t, echoSpec()), s.submit(t, echoSpec())
	rs, err := s.api.CancelMany(ctxT(t), []string{a.ID, "job_missing", b.ID, a.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := []int{200, 404, 200, 409}
	for i, r := range rs {
		if r.Status != want[i] || (r.Status == 200) != (r.Job != nil) || (r.Status != 200) != (r.Error != nil) {
			t.Errorf("result %d: %+v, want status %d", i, r, want[i])
		}
	}
	wantError(t, s.call(t, "POST", "/api/v1/jobs/cancel", apiToken, `{"ids": []}`), 422, drover.EINVALID, "name the jobs")
	many, _ := json.Marshal(drover.CancelRequest{IDs: make([]string, drover.MaxCancel+1)})
	wantError(t, s.call(t, "POST", "/api/v1/jobs/cancel", apiToken, string(many)), 422, drover.EINVALID, "at most 1000")
}

func TestAPIAccessTokenOnlyOnGet(t *testing.T) {
	s := newAPIServer(t, serverOpt{tokens: true})
	j := s.submit(t, echoSpec())

	if r := s.call(t, "GET", "/api/v1/jobs/"+j.ID+"?access_token="+apiToken, "", ""); r.status != 200 {
		t.Errorf("GET with ?access_token: %d %s, want 200", r.status, r.body)
	}
	wantError(t, s.call(t, "GET", "/api/v1/jobs?access_token=nope", "", ""), 401, drover.EUNAUTHORIZED, "wrong")
	// A header, even a wrong one, is what counts when there is one.
	wantError(t, s.call(t, "GET", "/api/v1/jobs?access_token="+apiToken, "nope", ""), 401, drover.EUNAUTHORIZED)
	wantError(t, s.call(t, "POST", "/api/v1/jobs?access_token="+apiToken, "", `{"command": ["true"]}`), 401, drover.EUNAUTHORIZED, "on GET requests only")
	wantError(t, s.call(t, "POST", "/api/v1/jobs/"+j.ID+"/cancel?access_token="+apiToken, "", ""), 401, drover.EUNAUTHORIZED)
	if got, err := s.api.Job(ctxT(t), j.ID); err != nil || got.State != drover.JobQueued {
		t.Errorf("job after a refused cancel: %+v, %v; want it still queued", got, err)
	}

	// Browsers' EventSource cannot set headers: the streams take the query.
	ev := openSSE(t, s, "/api/v1/events?access_token="+apiToken, nil)
	if e := ev.next(t); e.event != "hello" {
		t.Errorf("/events with ?access_token: %s, want hello", e.event)
	}
	follow := openSSE(t, s, "/api/v1/jobs/"+j.ID+"/output?follow=1&access_token="+apiToken, nil)
	untilState(t, follow, drover.JobQueued)
}

// Liveness answers without a token, at the root and under /api/v1.
func TestHealthz(t *testing.T) {
	s := newAPIServer(t, serverOpt{tokens: true})
	for _, path := range []string{"/healthz", "/api/v1/healthz"} {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || body["status"] != "ok" {
			t.Errorf("GET %s: %d %v %v, want 200 {\"status\":\"ok\"}", path, resp.StatusCode, body, err)
		}
	}
}

// A multipart submission's spec part is held to the JSON body's limit and
// rules: over it is 413, data after the JSON is refused.
func TestAPIMultipartSpecPart(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	post := func(specs ...string) response {
		t.Helper()
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for _, spec := range specs {
			if err := mw.WriteField("spec", spec); err != nil {
				t.Fatal(err)
			}
		}
		mw.Close()
		return s.call(t, "POST", "/api/v1/jobs", "", body.String(), "Content-Type", mw.FormDataContentType())
	}
	big := `{"command": ["true"], "name": "` + strings.Repeat("x", 2<<20) + `"}`
	wantError(t, post(big), 413, drover.ETOOLARGE, "over the 1 MiB limit")
	wantError(t, post(`{"command": ["true"]} {"command": ["false"]}`), 400, drover.EMALFORMED, "after the JSON value")
	// Two specs, or two bundles: neither is silently taken.
	wantError(t, post(`{"command": ["true"]}`, `{"command": ["false"]}`), 400, drover.EMALFORMED, `two "spec" parts`)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for range 2 {
		fw, err := mw.CreateFormFile("bundle", "job.zip")
		if err != nil {
			t.Fatal(err)
		}
		zw := zip.NewWriter(fw)
		if _, err := zw.Create("a.txt"); err != nil {
			t.Fatal(err)
		}
		zw.Close()
	}
	mw.WriteField("spec", `{"command": ["true"]}`)
	mw.Close()
	wantError(t, s.call(t, "POST", "/api/v1/jobs", "", body.String(), "Content-Type", mw.FormDataContentType()), 400, drover.EMALFORMED, `two "bundle" parts`)
	// A form sent to POST /bundles is not taken for the ZIP.
	wantError(t, s.call(t, "POST", "/api/v1/bundles", "", body.String(), "Content-Type", mw.FormDataContentType()), 400, drover.EMALFORMED, "the ZIP file itself")
	if r := post(`{"command": ["true"]}`); r.status != 201 {
		t.Errorf("multipart submission: %d %s, want 201", r.status, r.body)
	}
}

// A route called with a method it does not have is 405 with Allow; a path
// that is no route is 404.
func TestAPIMethodNotAllowed(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	r := s.call(t, "PUT", "/api/v1/jobs", "", `{}`)
	wantError(t, r, 405, drover.EMETHOD, `"PUT" is not a method of "/api/v1/jobs": use GET, HEAD or POST`)
	if got := r.header.Get("Allow"); got != "GET, HEAD, POST" {
		t.Errorf("Allow = %q, want GET, HEAD, POST", got)
	}
	r = s.call(t, "DELETE", "/api/v1/jobs/job_x/cancel", "", "")
	wantError(t, r, 405, drover.EMETHOD, "use POST")
	wantError(t, s.call(t, "GET", "/api/v1/nothing", "", ""), 404, drover.ENOTFOUND, `no API route "GET /api/v1/nothing"`)
}
