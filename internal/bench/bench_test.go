package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/bench"
	"github.com/drover-dev/drover/internal/coordinator"
	"github.com/drover-dev/drover/internal/executor/noop"
	"github.com/drover-dev/drover/internal/executor/process"
	"github.com/drover-dev/drover/internal/httpapi"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/store/sqlite"
	"github.com/drover-dev/drover/internal/worker"
)

// testUIDs is the range the bench's workers run process jobs under when
// root: not the default one, which a worker of the machine may hold.
var testUIDs = worker.RunAs{First: 0x7E020000, Last: 0x7E0200FF}

// TestMain makes this test binary the output job's clock when asked, as
// drover bench --print-clock makes drover: bench-print-clock N.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "bench-print-clock" {
		n, err := strconv.Atoi(os.Args[2])
		if err == nil {
			err = bench.PrintClock(context.Background(), os.Stdout, n)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// A root worker's process jobs run under testUIDs, which one process of
	// the machine holds at a time: test processes of other checkouts wait
	// for this one.
	if lock, err := os.OpenFile(filepath.Join(os.TempDir(), "drover-bench-test-uids.lock"), os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
	}
	os.Exit(m.Run())
}

// startCoordinator runs a real coordinator on a temporary store over
// loopback, as drover bench does.
func startCoordinator(t *testing.T, heartbeat time.Duration) string {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "drover.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	reg := metrics.NewRegistry()
	metrics.RegisterProcess(reg)
	c, err := coordinator.New(coordinator.Config{Store: st, Logger: log, Metrics: reg,
		HeartbeatInterval: heartbeat, HeartbeatTimeout: 10 * heartbeat})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	base, cancel := context.WithCancel(ctx)
	srv := httptest.NewUnstartedServer(httpapi.New(httpapi.Config{Coordinator: c, Logger: log}))
	srv.Config.BaseContext = func(net.Listener) context.Context { return base }
	srv.Start()
	t.Cleanup(func() {
		cancel()
		srv.Close()
		c.Stop()
		st.Close()
	})
	return srv.URL
}

// A small run of every phase, against a coordinator outside the bench (its
// CPU and memory come from /metrics), reports figures that add up.
func TestRun(t *testing.T) {
	url := startCoordinator(t, 200*time.Millisecond)
	var progress bytes.Buffer
	res, err := bench.Run(t.Context(), bench.Config{
		Server:      url,
		Executors:   []worker.Executor{noop.Executor{}, process.New(nil)},
		RunAs:       testUIDs,
		Workers:     2,
		Slots:       4,
		Jobs:        200,
		Concurrency: 8,
		LatencyJobs: 10,
		OutputLines: 10,
		Cancels:     3,
		IdleWorkers: 20,
		Heartbeat:   200 * time.Millisecond,
		IdleWindow:  time.Second,
		Finished:    50,
		WorkDir:     workDir(t),
		Progress:    &progress,
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, progress.String())
	}
	switch {
	case res.JobsPerSec <= 0 || res.Failed != 0 || res.LoadedStart.N != 200:
		t.Errorf("throughput: %.0f jobs/s, %d failed, %d start times", res.JobsPerSec, res.Failed, res.LoadedStart.N)
	case res.StartLight.N != 10 || res.StartLight.P50 <= 0 || res.StartLight.P50 > res.StartLight.Max:
		t.Errorf("submit → start at light load: %+v", res.StartLight)
	case res.Output.N != 10:
		t.Errorf("output latency: %+v", res.Output)
	case res.Cancel.N != 3 || res.CancelCall.N != 3:
		t.Errorf("cancel latency: %+v, call %+v", res.Cancel, res.CancelCall)
	case res.Finished != 50 || res.FinishedRSS <= 0:
		t.Errorf("finished jobs: %d, RSS %d", res.Finished, res.FinishedRSS)
	case res.IdleWorkers != 20 || res.IdleHeartbeatsPS <= 0:
		t.Errorf("idle workers: %d, %.1f heartbeats/s", res.IdleWorkers, res.IdleHeartbeatsPS)
	case res.CoordinatorCPU <= 0 || res.CoordinatorPeak <= 0 || !strings.Contains(res.StatsScope, "/metrics"):
		t.Errorf("coordinator: %.2f CPU s, peak %d, scope %q", res.CoordinatorCPU, res.CoordinatorPeak, res.StatsScope)
	case res.FloorPerSec != 0:
		t.Errorf("a noop run measured a spawn floor: %.0f/s", res.FloorPerSec)
	case res.ThroughputCPU <= 0 || res.ThroughputBusy <= 0:
		t.Errorf("CPU over the throughput run: coordinator %s, machine %s (want both)", res.ThroughputCPU, res.ThroughputBusy)
	}

	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"throughput", "CPU per job", "submit → start, light", "output latency", "cancel → process gone", "idle workers", "finished jobs"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil || back["jobsPerSec"] == nil || back["submitToStart"] == nil {
		t.Errorf("JSON result: %s (%v)", b, err)
	}
}

// With the process executor the bench measures the machine's floor and
// reports drover's rate as a share of it. The output job's clock is a
// program of its own (here this test binary), as drover bench runs it.
func TestRunProcessAgainstFloor(t *testing.T) {
	url := startCoordinator(t, time.Second)
	res, err := bench.Run(t.Context(), bench.Config{
		Server:      url,
		Executors:   []worker.Executor{noop.Executor{}, process.New(nil)},
		RunAs:       testUIDs,
		Executor:    drover.ExecutorProcess,
		Workers:     1,
		Slots:       4,
		Jobs:        40,
		LatencyJobs: 3,
		OutputLines: 3,
		Clock:       []string{jobsCanRun(t, os.Args[0]), "bench-print-clock"},
		Cancels:     1,
		WorkDir:     workDir(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Output.N != 3 {
		t.Errorf("output latency over %d lines, want 3", res.Output.N)
	}
	if res.FloorSpawns != 40 || res.FloorPerSec <= 0 || res.RatioToFloor <= 0 || res.Failed != 0 {
		t.Errorf("floor %d spawns at %.0f/s, ratio %.2f, %d failed", res.FloorSpawns, res.FloorPerSec, res.RatioToFloor, res.Failed)
	}
}

// PrintClock writes the lines it was asked for, each a time in nanoseconds,
// in order, and stops early when its context ends.
func TestPrintClock(t *testing.T) {
	var out bytes.Buffer
	before := time.Now().UnixNano()
	if err := bench.PrintClock(t.Context(), &out, 3); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("printed %q: want 3 lines", out.String())
	}
	last := before
	for _, l := range lines {
		ns, err := strconv.ParseInt(l, 10, 64)
		if err != nil || ns < last {
			t.Fatalf("printed %q: want increasing nanosecond times from %d", out.String(), before)
		}
		last = ns
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := bench.PrintClock(ctx, &out, 3); err != context.Canceled {
		t.Errorf("PrintClock with its context done: %v, want context.Canceled", err)
	}
}

// workDir returns a folder for the bench's workers whose parents every user
// may search: a root worker's process jobs run as users of their own.
func workDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	return dir
}

// jobsCanRun returns a copy of the program at path that process jobs, which
// may run as users of their own, can run (the build cache is closed to
// them).
func jobsCanRun(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(workDir(t), filepath.Base(path))
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
