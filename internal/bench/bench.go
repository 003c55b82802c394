// Package bench measures drover end to end for drover bench.
// Real worker agents and a real client drive a coordinator over HTTP on
// loopback. The bench reports throughput and the latencies of submit to
// start, of output and of cancel. It reports the coordinator's CPU and
// memory too. Next to them stands the machine's own floor, which spawns
// /bin/true directly.
//
// A job counts as submitted once its POST has returned.
// The job is then committed to the store, so the bench measures the durable
// path only.
package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
	"github.com/drover-dev/drover/internal/worker"
)

// Defaults for Config.
const (
	DefaultWorkers        = 4
	DefaultSlots          = 16
	DefaultNoopJobs       = 20000
	DefaultProcessJobs    = 2000
	DefaultConcurrency    = 32
	DefaultLatencyJobs    = 200
	DefaultOutputLines    = 200
	DefaultCancels        = 20
	DefaultHeartbeat      = 10 * time.Second
	DefaultIdleWindow     = 10 * time.Second
	DefaultFloorSpawnsMax = 5000
)

// Label marks the bench's workers and its jobs' constraints, so that on a
// shared coordinator bench jobs run only on bench workers.
const Label = "drover.bench"

// Config configures a run.
type Config struct {
	// Server is the coordinator's URL. Required.
	Server string
	// Token is the API token, JoinToken the workers' join token.
	Token, JoinToken string
	// InProcess says the coordinator runs in this process: its CPU and
	// memory are then read from /proc/self and include the workers and the
	// client. Otherwise they are scraped from the coordinator's /metrics.
	InProcess bool
	// Executors are the workers' executors; they must include noop and
	// process (the output and cancel measurements need a real process).
	Executors []worker.Executor
	// RunAs says who the workers' process jobs run as (worker.Config.RunAs);
	// the zero value is a worker's default.
	RunAs worker.RunAs
	// Executor runs the throughput and submit-to-start jobs: "noop" or
	// "process" (/bin/true). Defaults to noop.
	Executor string
	// Workers and Slots: worker agents run in this process, each running up
	// to Slots attempts at once. Default 4 and 16.
	Workers, Slots int
	// Jobs is how many jobs the throughput run submits. Defaults to
	// 20,000 for noop and 2,000 for process.
	Jobs int
	// Concurrency is the number of submissions in flight. Defaults to 32.
	Concurrency int
	// LatencyJobs are submitted one at a time to measure submit-to-start at
	// light load. Defaults to 200.
	LatencyJobs int
	// OutputLines is how many timestamped lines the output job prints,
	// clockEvery apart. Defaults to 200.
	OutputLines int
	// Clock is the output job's command. The number of lines is appended
	// to it. It must do what PrintClock does. It waits clockDelay, then
	// prints the time that many times, one per line, clockEvery apart. Each
	// time is in nanoseconds since the Unix epoch.
	//
	// Defaults to a shell loop around date(1), which forks twice a line.
	// On a machine where forks are dear, the job's own forks then compete
	// with the line on its way to the follower.
	Clock []string
	// Cancels is how many running processes are cancelled. Defaults to 20.
	Cancels int
	// IdleWorkers simulated workers register and heartbeat every Heartbeat
	// (with a long-poll open each, as real workers do) while the
	// coordinator's CPU is measured over IdleWindow. 0 skips it.
	IdleWorkers int
	// Heartbeat is the simulated workers' heartbeat interval. Defaults to
	// 10s; an in-process coordinator is started with it.
	Heartbeat time.Duration
	// IdleWindow is how long the idle workers' CPU is measured. Defaults to 10s.
	IdleWindow time.Duration
	// Finished noop jobs are run to completion first, so the store holds
	// that many finished jobs; memory is reported after it.
	Finished int
	// WorkDir holds the workers' workspaces. Defaults to a temporary folder.
	WorkDir string
	// Logger receives the workers' logs. Defaults to discarding them.
	Logger *slog.Logger
	// Progress receives a line per phase. May be nil.
	Progress io.Writer
}

func (c *Config) fill() {
	c.Executor = cmp.Or(c.Executor, drover.ExecutorNoop)
	c.Workers = cmp.Or(c.Workers, DefaultWorkers)
	c.Slots = cmp.Or(c.Slots, DefaultSlots)
	if c.Jobs == 0 {
		c.Jobs = DefaultNoopJobs
		if c.Executor == drover.ExecutorProcess {
			c.Jobs = DefaultProcessJobs
		}
	}
	c.Concurrency = cmp.Or(c.Concurrency, DefaultConcurrency)
	c.LatencyJobs = cmp.Or(c.LatencyJobs, DefaultLatencyJobs)
	c.OutputLines = cmp.Or(c.OutputLines, DefaultOutputLines)
	c.Cancels = cmp.Or(c.Cancels, DefaultCancels)
	c.Heartbeat = cmp.Or(c.Heartbeat, DefaultHeartbeat)
	c.IdleWindow = cmp.Or(c.IdleWindow, DefaultIdleWindow)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

func (c *Config) validate() error {
	switch {
	case c.Server == "":
		return errors.New("bench: Server is required")
	case c.Executor != drover.ExecutorNoop && c.Executor != drover.ExecutorProcess:
		return fmt.Errorf("bench: executor %q: use noop or process", c.Executor)
	case c.Workers < 1 || c.Slots < 1 || c.Jobs < 1 || c.Concurrency < 1:
		return fmt.Errorf("bench: workers (%d), slots (%d), jobs (%d) and concurrency (%d) must be at least 1", c.Workers, c.Slots, c.Jobs, c.Concurrency)
	case c.IdleWorkers < 0 || c.Finished < 0:
		return errors.New("bench: idle workers and finished jobs must not be negative")
	}
	have := map[string]bool{}
	for _, e := range c.Executors {
		have[e.Name()] = true
	}
	if !have[drover.ExecutorNoop] || !have[drover.ExecutorProcess] {
		return errors.New("bench: the workers need the noop and process executors")
	}
	return nil
}

// Result is what a run measured. Durations are wall-clock time.
type Result struct {
	Machine  Machine `json:"machine"`
	Executor string  `json:"executor"`
	Workers  int     `json:"workers"`
	Slots    int     `json:"slots"`
	Server   string  `json:"server"`

	// Throughput: Jobs submitted by Concurrency submitters, from the first
	// submission to the last completion heard of.
	Jobs        int           `json:"jobs"`
	Concurrency int           `json:"concurrency"`
	Elapsed     time.Duration `json:"elapsedNs"`
	JobsPerSec  float64       `json:"jobsPerSec"`
	SubmitCall  Latency       `json:"submitCall"`  // POST /jobs round trips during the throughput run
	LoadedStart Latency       `json:"loadedStart"` // createdAt → startedAt during the throughput run (queueing included)
	Failed      int           `json:"failed"`      // jobs that did not complete with exit 0
	// ThroughputCPU is the CPU time what StatsScope names used during the
	// throughput run. ThroughputBusy is the whole machine's, with every
	// process and the kernel, the jobs' commands included. It is 0 where
	// /proc/stat cannot be read.
	ThroughputCPU  time.Duration `json:"throughputCpuNs"`
	ThroughputBusy time.Duration `json:"throughputMachineCpuNs"`

	// Floor: /bin/true spawned directly with workers×slots in parallel.
	FloorSpawns     int           `json:"floorSpawns,omitempty"`
	FloorPerSec     float64       `json:"floorPerSec,omitempty"`
	FloorBusy       time.Duration `json:"floorMachineCpuNs,omitempty"` // machine CPU time of the floor's spawns
	RatioToFloor    float64       `json:"ratioToFloor,omitempty"`
	floorElapsed    time.Duration // wall time of the floor's spawns
	StartLight      Latency       `json:"submitToStart"` // createdAt → startedAt, one job at a time
	Output          Latency       `json:"output"`        // line written → follower has it
	Cancel          Latency       `json:"cancel"`        // cancel call returned → process gone
	CancelCall      Latency       `json:"cancelCall"`    // the cancel call itself
	CoordinatorCPU  float64       `json:"coordinatorCpuSeconds"`
	CoordinatorPeak int64         `json:"coordinatorPeakRssBytes"`
	CoordinatorRSS  int64         `json:"coordinatorRssBytes"`
	StatsScope      string        `json:"statsScope"`

	Finished         int     `json:"finished,omitempty"`
	FinishedElapsed  float64 `json:"finishedSeconds,omitempty"`
	FinishedRSS      int64   `json:"finishedRssBytes,omitempty"`
	IdleWorkers      int     `json:"idleWorkers,omitempty"`
	IdleHeartbeat    string  `json:"idleHeartbeat,omitempty"`
	IdleCores        float64 `json:"idleCores,omitempty"`
	IdleHeartbeatsPS float64 `json:"idleHeartbeatsPerSec,omitempty"`
	EventResets      int     `json:"eventResets"`
}

// bench is one run.
type bench struct {
	cfg    Config
	api    *client.Client
	track  *tracker
	stats  *coordinatorStats
	runID  string
	res    *Result
	logf   func(format string, args ...any)
	tmpDir string
}

// Run runs every phase and returns the figures.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tmp, err := makeWorkDir(cfg.WorkDir)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	b := newBench(cfg, tmp)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopTracking, err := b.startTracking(ctx)
	if err != nil {
		return nil, err
	}
	defer stopTracking()
	if cfg.Executor == drover.ExecutorProcess {
		if err := b.floor(ctx, (b.floorSpawns()+1)/2); err != nil {
			return nil, err
		}
	}
	fleet, err := b.startWorkers(ctx)
	if err != nil {
		return nil, err
	}
	defer fleet.stop()
	if cfg.Finished > 0 {
		if err := b.prefill(ctx); err != nil {
			return nil, err
		}
	}
	if err := b.measure(ctx); err != nil {
		return nil, err
	}
	if cfg.IdleWorkers > 0 {
		if err := b.idle(ctx); err != nil {
			return nil, fmt.Errorf("idle workers: %w", err)
		}
	}
	b.res.EventResets = b.track.resetCount()
	return b.res, nil
}

// makeWorkDir makes the folder of the workers' workspaces inside parent.
// Every user may search it. A root worker's process jobs run as users of
// their own, who go through it to their workspaces.
func makeWorkDir(parent string) (string, error) {
	tmp, err := os.MkdirTemp(parent, "drover-bench-")
	if err != nil {
		return "", fmt.Errorf("bench work dir: %w", err)
	}
	if err := os.Chmod(tmp, 0o711); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("bench work dir: %w", err)
	}
	return tmp, nil
}

// newBench sets up a run of cfg with its workers' workspaces in tmp.
func newBench(cfg Config, tmp string) *bench {
	b := &bench{
		cfg:    cfg,
		api:    client.New(cfg.Server, client.WithToken(cfg.Token)),
		stats:  &coordinatorStats{inProcess: cfg.InProcess, url: cfg.Server, token: cfg.Token, hc: &http.Client{Timeout: 30 * time.Second}},
		runID:  drover.NewID("bench"),
		tmpDir: tmp,
		res: &Result{Machine: machine(), Executor: cfg.Executor, Workers: cfg.Workers, Slots: cfg.Slots, Server: cfg.Server,
			Jobs: cfg.Jobs, Concurrency: cfg.Concurrency},
		logf: func(format string, args ...any) { fmt.Fprintf(cfg.Progress, format+"\n", args...) },
	}
	b.res.StatsScope = b.stats.scope()
	b.track = newTracker(b.api, b.runID)
	return b
}

// streamWait is how long the bench waits for the coordinator's event
// stream to open.
const streamWait = 30 * time.Second

// startTracking follows the coordinator's event stream and returns once it
// is open. The returned stop ends the following and waits for it.
func (b *bench) startTracking(ctx context.Context) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); b.track.run(ctx) }()
	stop = func() { cancel(); <-done }
	select {
	case <-b.track.ready:
		return stop, nil
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	case <-time.After(streamWait):
		stop()
		return nil, fmt.Errorf("no event stream from %s/api/v1/events after %s", b.cfg.Server, streamWait)
	}
}

// floorSpawns is how many times the floor spawns /bin/true in all.
func (b *bench) floorSpawns() int {
	return min(b.cfg.Jobs, DefaultFloorSpawnsMax)
}

// measure runs the phases with the workers, from throughput to cancel
// latency. It reads the coordinator's CPU and memory around them.
func (b *bench) measure(ctx context.Context) error {
	before, err := b.stats.read(ctx)
	if err != nil {
		return err
	}
	b.stats.resetPeak()
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"throughput", b.throughput},
		{"spawn floor after the throughput run", func(ctx context.Context) error {
			if b.cfg.Executor != drover.ExecutorProcess {
				return nil
			}
			return b.floor(ctx, b.floorSpawns()/2)
		}},
		{"submit-to-start at light load", b.startLatency},
		{"output latency", b.outputLatency},
		{"cancel latency", b.cancelLatency},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	after, err := b.stats.read(ctx)
	if err != nil {
		return err
	}
	b.res.CoordinatorCPU = (after.CPU - before.CPU).Seconds()
	b.res.CoordinatorPeak = after.PeakRSS
	b.res.CoordinatorRSS = after.RSS
	if b.cfg.Finished > 0 {
		b.res.FinishedRSS = after.RSS
	}
	return nil
}

// spec is a bench job: tiny requests, only on this run's workers.
func (b *bench) spec(executor string, command ...string) drover.JobSpec {
	return drover.JobSpec{
		Name:        "bench",
		Command:     command,
		Executor:    executor,
		Resources:   drover.Resources{CPU: 10, MemoryMB: 1},
		Constraints: map[string]string{Label: b.runID},
	}
}

// mainSpec is the throughput and submit-to-start job of the chosen executor.
func (b *bench) mainSpec() drover.JobSpec {
	return b.spec(b.cfg.Executor, "/bin/true")
}
