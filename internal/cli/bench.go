package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/bench"
	"github.com/drover-dev/drover/internal/executor/noop"
	"github.com/drover-dev/drover/internal/executor/process"
	"github.com/drover-dev/drover/internal/worker"
)

// benchFlags are drover bench's flags.
type benchFlags struct {
	cfg                                                 bench.Config
	asJSON                                              bool
	logLevel, cpuProfile, memProfile, traceFile, server string
	runAs                                               string
	printClock                                          int
}

func (bf *benchFlags) add(a *app, fs *flag.FlagSet) {
	cfg := &bf.cfg
	fs.StringVar(&bf.server, "server", "", "coordinator URL to measure (default: start one in this process on a temporary store)")
	fs.StringVar(&cfg.Token, "token", a.getenv("DROVER_TOKEN"), "API token of --server (env DROVER_TOKEN)")
	fs.StringVar(&cfg.JoinToken, "join-token", a.getenv("DROVER_JOIN_TOKEN"), "join token of --server (env DROVER_JOIN_TOKEN)")
	fs.IntVar(&cfg.Workers, "workers", bench.DefaultWorkers, "worker agents, run in this process")
	fs.IntVar(&cfg.Slots, "slots", bench.DefaultSlots, "jobs each worker runs at once")
	fs.IntVar(&cfg.Jobs, "jobs", 0, fmt.Sprintf("jobs for the throughput run (default %d noop, %d process)", bench.DefaultNoopJobs, bench.DefaultProcessJobs))
	fs.StringVar(&cfg.Executor, "executor", drover.ExecutorNoop, "noop (completes at once: measures drover itself) or process (/bin/true)")
	fs.IntVar(&cfg.Concurrency, "concurrency", bench.DefaultConcurrency, "submissions in flight")
	fs.IntVar(&cfg.LatencyJobs, "latency-jobs", bench.DefaultLatencyJobs, "jobs submitted one at a time for submit → start at light load")
	fs.IntVar(&cfg.OutputLines, "output-lines", bench.DefaultOutputLines, "timestamped lines for the output latency")
	fs.IntVar(&cfg.Cancels, "cancels", bench.DefaultCancels, "running processes cancelled for the cancel latency")
	fs.IntVar(&cfg.IdleWorkers, "idle-workers", 0, "simulated idle workers heartbeating while the coordinator's CPU is measured")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", bench.DefaultHeartbeat, "heartbeat interval of the simulated workers (and of the in-process coordinator)")
	fs.DurationVar(&cfg.IdleWindow, "idle-window", bench.DefaultIdleWindow, "how long the idle workers' CPU is measured")
	fs.IntVar(&cfg.Finished, "finished", 0, "first run this many noop jobs to completion, then report memory with them in the store")
	fs.BoolVar(&bf.asJSON, "json", false, "print the result as JSON")
	fs.StringVar(&bf.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (coordinator included when in-process) to this file")
	fs.StringVar(&bf.memProfile, "memprofile", "", "write an allocation profile of this process to this file at the end")
	fs.StringVar(&bf.traceFile, "trace", "", "write an execution trace of this process to this file (go tool trace: where goroutines wait)")
	fs.StringVar(&bf.logLevel, "log-level", "warn", "log level of the workers and the in-process coordinator")
	fs.StringVar(&bf.runAs, "run-as", "auto", "who the workers' process jobs run as, as drover worker --run-as: auto, a user, or a uid range FIRST-LAST (another worker of this machine may hold the default range)")
	fs.IntVar(&bf.printClock, "print-clock", 0, "print this many timestamps (ns since the epoch) 5 ms apart after 200 ms, and exit: what the bench's output job runs")
}

// cmdBench is drover bench.
// It measures a coordinator with worker agents of its own on loopback.
// Without --server it starts the coordinator in this process, on a
// temporary store.
func cmdBench(ctx context.Context, a *app, args []string) int {
	fs := newFlags(a, "bench")
	var bf benchFlags
	bf.add(a, fs)
	if _, err := parse(fs, args); err != nil {
		return usageCode(err)
	}
	if err := bf.validate(); err != nil {
		a.errorf("%v", err)
		return exitUsage
	}
	if bf.printClock != 0 {
		if err := bench.PrintClock(ctx, a.stdout, bf.printClock); err != nil {
			a.errorf("%v", err)
			return exitError
		}
		return exitOK
	}
	log, code := bf.setUp(a)
	if log == nil {
		return code
	}
	stop, code := bf.coordinator(ctx, a, log)
	if stop == nil {
		return code
	}
	defer stop()
	stopProfiles, err := bf.startProfiles()
	if err != nil {
		a.errorf("%v", err)
		return exitError
	}
	defer stopProfiles()
	res, err := bench.Run(ctx, bf.cfg)
	if err != nil {
		a.errorf("bench: %v", err)
		return exitError
	}
	if bf.memProfile != "" {
		if err := writeHeapProfile(bf.memProfile); err != nil {
			a.errorf("--memprofile: %v", err)
			return exitError
		}
	}
	return writeBenchResult(a, res, bf.asJSON)
}

// validate refuses counts and durations the bench cannot take, naming the
// flag.
func (bf *benchFlags) validate() error {
	cfg := &bf.cfg
	for _, f := range []struct {
		name   string
		v, min int
	}{
		{"workers", cfg.Workers, 1}, {"slots", cfg.Slots, 1}, {"concurrency", cfg.Concurrency, 1},
		{"jobs", cfg.Jobs, 0}, {"latency-jobs", cfg.LatencyJobs, 0}, {"output-lines", cfg.OutputLines, 0},
		{"cancels", cfg.Cancels, 0}, {"idle-workers", cfg.IdleWorkers, 0}, {"finished", cfg.Finished, 0},
	} {
		if f.v < f.min {
			what := "a whole number of at least 1"
			if f.min == 0 {
				what = "a whole number (0: the default)"
			}
			if f.name == "idle-workers" || f.name == "finished" {
				what = "a whole number (0: none)"
			}
			return fmt.Errorf("--%s %d: use %s", f.name, f.v, what)
		}
	}
	if cfg.IdleWindow <= 0 {
		return errors.New("--idle-window must be positive")
	}
	if bf.printClock < 0 {
		return errors.New("--print-clock must be positive")
	}
	return nil
}

// setUp reads --run-as, --log-level and --heartbeat into the bench's
// config, and gives it its executors and its clock command.
// On failure it has said why and returns a nil logger and the exit code.
func (bf *benchFlags) setUp(a *app) (*slog.Logger, int) {
	cfg := &bf.cfg
	var err error
	if cfg.RunAs, err = parseRunAs(bf.runAs); err == nil {
		err = cfg.RunAs.Check(cfg.Slots)
	}
	if err != nil {
		a.errorf("--run-as %q: %v", bf.runAs, err)
		return nil, exitUsage
	}
	log, err := newLogger(a, bf.logLevel)
	if err != nil {
		a.errorf("%v", err)
		return nil, exitUsage
	}
	if cfg.Heartbeat <= 0 {
		a.errorf("--heartbeat must be positive")
		return nil, exitUsage
	}
	cfg.Logger, cfg.Progress = log, a.stderr
	cfg.Executors = []worker.Executor{noop.Executor{}, process.New(log)}
	// The output job prints its clock with this binary, which forks
	// nothing per line. The bench's workers are local, so the path is
	// theirs too. Without it the job is a shell loop around date(1).
	if exe, err := os.Executable(); err == nil {
		cfg.Clock = []string{exe, "bench", "--print-clock"}
	}
	return log, exitOK
}

// coordinator points the bench at the coordinator it measures.
// With --server that is the one named. Otherwise it starts one in this
// process on a temporary store.
// It returns what stops that coordinator and removes its store.
// On failure it has said why and returns nil and the exit code.
func (bf *benchFlags) coordinator(ctx context.Context, a *app, log *slog.Logger) (stop func(), code int) {
	if bf.server != "" {
		fmt.Fprintf(a.stderr, "drover bench: measuring %s; its bench workers can take jobs that name no executor, so use a coordinator kept for benchmarks\n", bf.server)
		bf.cfg.Server = bf.server
		return func() {}, exitOK
	}
	tmp, err := os.MkdirTemp("", "drover-bench-store-")
	if err != nil {
		a.errorf("%v", err)
		return nil, exitError
	}
	sf, code := benchServerFlags(a, tmp, bf.cfg.Heartbeat)
	if sf == nil {
		os.RemoveAll(tmp)
		return nil, code
	}
	p, err := startCoordinator(ctx, sf, log)
	if err != nil {
		os.RemoveAll(tmp)
		a.errorf("the bench's coordinator: %v", err)
		return nil, exitError
	}
	cfg := &bf.cfg
	cfg.Server, cfg.InProcess, cfg.Token, cfg.JoinToken = p.url, true, "", ""
	return func() {
		p.shutdown()
		os.RemoveAll(tmp)
	}, exitOK
}

// benchServerFlags are the flags of the bench's own coordinator.
// They start from the coordinator's defaults and environment. The bench
// then sets what it needs: its own store in data, loopback, no tokens and
// its heartbeat. On failure it has said why and returns nil and the exit
// code.
func benchServerFlags(a *app, data string, heartbeat time.Duration) (*serverFlags, int) {
	sf := &serverFlags{}
	sf.add(a, flag.NewFlagSet("bench", flag.ContinueOnError), "127.0.0.1:0", data)
	// The bench reads the coordinator's variables. It sets some itself,
	// and those are not read. The others have no flag of the bench's to
	// win over them, so a bad one is an error.
	for _, b := range a.badEnv {
		if !benchSets[b.flag] {
			a.errorf("%v: fix or unset it (drover bench's coordinator reads the coordinator's variables)", b.err)
			return nil, exitUsage
		}
	}
	sf.listen, sf.data, sf.apiToken, sf.joinToken, sf.tlsCert, sf.tlsKey = "127.0.0.1:0", data, "", "", "", ""
	sf.hbInterval, sf.hbTimeout = heartbeat, max(5*heartbeat, 3*time.Second)
	if err := sf.validate(); err != nil {
		a.errorf("the bench's coordinator: %v", err)
		return nil, exitUsage
	}
	return sf, exitOK
}

// benchSets are the coordinator's flags the bench sets for its own
// coordinator, whatever the environment says.
var benchSets = map[string]bool{"listen": true, "data": true, "api-token": true, "join-token": true,
	"tls-cert": true, "tls-key": true, "heartbeat-interval": true, "heartbeat-timeout": true}

// startProfiles starts the CPU profile and the execution trace that
// --cpuprofile and --trace ask for.
// It returns what stops them and closes their files.
// On failure it has stopped what it started.
func (bf *benchFlags) startProfiles() (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	fail := func(flag string, err error) (func(), error) {
		stop()
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if bf.cpuProfile != "" {
		f, err := os.Create(bf.cpuProfile)
		if err != nil {
			return fail("--cpuprofile", err)
		}
		stops = append(stops, func() { f.Close() })
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail("--cpuprofile", err)
		}
		stops = append(stops, pprof.StopCPUProfile)
	}
	if bf.traceFile != "" {
		f, err := os.Create(bf.traceFile)
		if err != nil {
			return fail("--trace", err)
		}
		stops = append(stops, func() { f.Close() })
		if err := trace.Start(f); err != nil {
			return fail("--trace", err)
		}
		stops = append(stops, trace.Stop)
	}
	return stop, nil
}

// writeBenchResult prints the bench's result as a table, or as JSON.
func writeBenchResult(a *app, res *bench.Result, asJSON bool) int {
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			a.errorf("%v", err)
			return exitError
		}
		return exitOK
	}
	if err := res.WriteTable(a.stdout); err != nil {
		a.errorf("%v", err)
		return exitError
	}
	return exitOK
}

// writeHeapProfile writes the allocation profile to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
