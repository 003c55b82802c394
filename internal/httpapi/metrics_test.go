package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
	"github.com/drover-dev/drover/internal/coordinator"
	"github.com/drover-dev/drover/internal/httpapi"
	"github.com/drover-dev/drover/internal/store/sqlite"
)

func scrape(t *testing.T, url, token string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodGet, url+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
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
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// GET /metrics follows the API token rule and counts one job's way through
// the coordinator and the API.
func TestMetrics(t *testing.T) {
	s := newAPIServer(t, serverOpt{tokens: true})
	ctx := ctxT(t)
	if code, _, _ := scrape(t, s.url, ""); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics without a token: %d, want 401", code)
	}

	wc, assignOne := oneSlotWorker(t, s)
	att := assignOne()
	if err := wc.Start(ctx, att, drover.StartRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := wc.SendOutput(ctx, att, []drover.OutputChunk{{Seq: 1, Stream: drover.Stdout, Data: []byte("hello\n")}}); err != nil {
		t.Fatal(err)
	}
	zero := 0
	if err := wc.Finish(ctx, att, drover.FinishRequest{ExitCode: &zero, LastSeq: 1}); err != nil {
		t.Fatal(err)
	}

	code, ctype, body := scrape(t, s.url, apiToken)
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %d %q\n%s", code, ctype, body)
	}
	for _, want := range []string{
		"drover_jobs_submitted_total 1\n",
		`drover_jobs_finished_total{state="COMPLETED"} 1` + "\n",
		`drover_jobs{state="COMPLETED"} 1` + "\n",
		`drover_jobs{state="QUEUED"} 0` + "\n",
		"drover_queue_depth 0\n",
		`drover_workers{state="READY"} 1` + "\n",
		"drover_jobs_assigned_total 1\n",
		"drover_job_start_latency_seconds_count 1\n",
		"drover_output_bytes_total 6\n",
		"drover_worker_heartbeat_misses_total 0\n",
		"# TYPE drover_scheduling_pass_duration_seconds histogram\n",
		`drover_http_request_duration_seconds_count{route="POST /api/v1/jobs",code="2xx"} 1` + "\n",
		`drover_http_request_duration_seconds_count{route="POST /api/v1/attempts/{id}/start",code="2xx"} 1` + "\n",
		`drover_http_request_duration_seconds_count{route="GET /metrics",code="4xx"} 1` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// The store's commits: every call above wrote, and calls may share one.
	commits, writes := metricValue(body, "drover_store_commits_total"), metricValue(body, "drover_store_writes_total")
	if !strings.Contains(body, "# TYPE drover_store_commits_total counter\n") || commits < 1 || writes < commits {
		t.Errorf("store commits %v, writes %v: want at least one commit and at least as many writes", commits, writes)
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}

// oneSlotWorker registers a noop worker with one slot; assignOne submits a
// job and returns its attempt, as the worker's long-poll receives it.
func oneSlotWorker(t *testing.T, s *apiServer) (wc *client.Client, assignOne func() string) {
	t.Helper()
	ctx := ctxT(t)
	reg, err := s.join.Register(ctx, drover.RegisterRequest{Name: "w", Executors: []string{drover.ExecutorNoop},
		Capacity: drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 1}})
	if err != nil {
		t.Fatal(err)
	}
	wc = client.New(s.url, client.WithToken(reg.Secret))
	return wc, func() string {
		t.Helper()
		if _, err := s.api.Submit(ctx, drover.JobSpec{Command: drover.Command{"true"}}, ""); err != nil {
			t.Fatal(err)
		}
		work, err := wc.Work(ctx, reg.Worker.ID, waitFor, false)
		if err != nil || len(work.Assignments) != 1 {
			t.Fatalf("Work = %+v, %v", work, err)
		}
		return work.Assignments[0].AttemptID
	}
}

// metricValue is the value of an unlabelled series in a scrape (-1 if absent).
func metricValue(body, name string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// With MetricsPublic a scraper needs no token even when clients do.
func TestMetricsPublic(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "drover.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	coord, err := coordinator.New(coordinator.Config{Store: st, Logger: slog.New(slog.DiscardHandler), HeartbeatInterval: time.Second, HeartbeatTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Coordinator: coord, Logger: slog.New(slog.DiscardHandler),
		APITokens: []string{apiToken}, MetricsPublic: true}))
	defer srv.Close()
	if code, _, body := scrape(t, srv.URL, ""); code != http.StatusOK || !strings.Contains(body, "drover_queue_depth 0\n") {
		t.Errorf("public GET /metrics without a token: %d\n%s", code, body)
	}
	resp, err := http.Get(srv.URL + "/api/v1/jobs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/jobs without a token: %d, want 401: only /metrics is public", resp.StatusCode)
	}
}

// The start latency is counted once per start: for a finish that carries
// the start, and not again for one that carries a start already reported
// (a worker whose start report landed though it saw an error).
func TestStartLatencyCountedOncePerStart(t *testing.T) {
	s := newAPIServer(t, serverOpt{tokens: true})
	ctx := ctxT(t)
	wc, assignOne := oneSlotWorker(t, s)
	zero := 0
	run := func(reportStart bool) {
		t.Helper()
		att := assignOne()
		if reportStart {
			if err := wc.Start(ctx, att, drover.StartRequest{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := wc.Finish(ctx, att, drover.FinishRequest{ExitCode: &zero, Started: true}); err != nil {
			t.Fatal(err)
		}
	}
	run(false) // the finish carries the start: counted
	run(true)  // the start was reported on its own as well: counted once
	_, _, body := scrape(t, s.url, apiToken)
	if got := metricValue(body, "drover_job_start_latency_seconds_count"); got != 2 {
		t.Errorf("start latency count = %v, want 2 (one per job)", got)
	}
}
