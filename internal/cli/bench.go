package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
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

func cmdBench(ctx context.Context, a *app, args []string) int {
	fs := newFlags(a, "bench")
	var (
		cfg                                                 bench.Config
		asJSON                                              bool
		logLevel, cpuProfile, memProfile, traceFile, server string
		runAs                                               string
		printClock                                          int
	)
	fs.StringVar(&server, "server", "", "coordinator URL to measure (default: start one in this process on a temporary store)")
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
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of this process (coordinator included when in-process) to this file")
	fs.StringVar(&memProfile, "memprofile", "", "write an allocation profile of this process to this file at the end")
	fs.StringVar(&traceFile, "trace", "", "write an execution trace of this process to this file (go tool trace: where goroutines wait)")
	fs.StringVar(&logLevel, "log-level", "warn", "log level of the workers and the in-process coordinator")
	fs.StringVar(&runAs, "run-as", "auto", "who the workers' process jobs run as, as drover worker --run-as: auto, a user, or a uid range FIRST-LAST (another worker of this machine may hold the default range)")
	fs.IntVar(&printClock, "print-clock", 0, "print this many timestamps (ns since the epoch) 5 ms apart after 200 ms, and exit: what the bench's output job runs")
	if _, err := parse(fs, args); err != nil {
		return usageCode(err)
	}
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
			a.errorf("--%s %d: use %s", f.name, f.v, what)
			return exitUsage
		}
	}
	if cfg.IdleWindow <= 0 {
		a.errorf("--idle-window must be positive")
		return exitUsage
	}
	if printClock != 0 {
		if printClock < 0 {
			a.errorf("--print-clock must be positive")
			return exitUsage
		}
		if err := bench.PrintClock(ctx, a.stdout, printClock); err != nil {
			a.errorf("%v", err)
			return exitError
		}
		return exitOK
	}
	var err error
	if cfg.RunAs, err = parseRunAs(runAs); err == nil {
		err = cfg.RunAs.Check(cfg.Slots)
	}
	if err != nil {
		a.errorf("--run-as %q: %v", runAs, err)
		return exitUsage
	}
	log, err := newLogger(a, logLevel)
	if err != nil {
		a.errorf("%v", err)
		return exitUsage
	}
	if cfg.Heartbeat <= 0 {
		a.errorf("--heartbeat must be positive")
		return exitUsage
	}
	cfg.Logger, cfg.Progress = log, a.stderr
	cfg.Executors = []worker.Executor{noop.Executor{}, process.New(log)}
	// The output job prints its clock with this binary, which forks
	// nothing per line (the bench's workers are local, so the path is
	// theirs too). Without it, a shell loop around date(1).
	if exe, err := os.Executable(); err == nil {
		cfg.Clock = []string{exe, "bench", "--print-clock"}
	}

	if server == "" {
		tmp, err := os.MkdirTemp("", "drover-bench-store-")
		if err != nil {
			a.errorf("%v", err)
			return exitError
		}
		defer os.RemoveAll(tmp)
		// The coordinator's defaults, then what the bench needs: its own
		// store, loopback, no tokens, the bench's heartbeat.
		var sf serverFlags
		sfs := flag.NewFlagSet("bench", flag.ContinueOnError)
		sf.add(a, sfs, "127.0.0.1:0", tmp)
		// The coordinator's variables: those the bench sets itself are
		// not read, and the others have no flag of the bench's to win.
		for _, b := range a.badEnv {
			if !benchSets[b.flag] {
				a.errorf("%v: fix or unset it (drover bench's coordinator reads the coordinator's variables)", b.err)
				return exitUsage
			}
		}
		sf.listen, sf.data, sf.apiToken, sf.joinToken, sf.tlsCert, sf.tlsKey = "127.0.0.1:0", tmp, "", "", "", ""
		sf.hbInterval, sf.hbTimeout = cfg.Heartbeat, max(5*cfg.Heartbeat, 3*time.Second)
		if err := sf.validate(); err != nil {
			a.errorf("the bench's coordinator: %v", err)
			return exitUsage
		}
		p, err := startCoordinator(ctx, &sf, log)
		if err != nil {
			a.errorf("the bench's coordinator: %v", err)
			return exitError
		}
		defer p.shutdown()
		server, cfg.InProcess, cfg.Token, cfg.JoinToken = p.url, true, "", ""
	} else {
		fmt.Fprintf(a.stderr, "drover bench: measuring %s; its bench workers can take jobs that name no executor, so use a coordinator kept for benchmarks\n", server)
	}
	cfg.Server = server

	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			a.errorf("--cpuprofile: %v", err)
			return exitError
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			a.errorf("--cpuprofile: %v", err)
			return exitError
		}
		defer pprof.StopCPUProfile()
	}
	if traceFile != "" {
		f, err := os.Create(traceFile)
		if err != nil {
			a.errorf("--trace: %v", err)
			return exitError
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			a.errorf("--trace: %v", err)
			return exitError
		}
		defer trace.Stop()
	}
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		a.errorf("bench: %v", err)
		return exitError
	}
	if memProfile != "" {
		if err := writeHeapProfile(memProfile); err != nil {
			a.errorf("--memprofile: %v", err)
			return exitError
		}
	}
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

// benchSets are the coordinator's flags the bench sets for its own
// coordinator, whatever the environment says.
var benchSets = map[string]bool{"listen": true, "data": true, "api-token": true, "join-token": true,
	"tls-cert": true, "tls-key": true, "heartbeat-interval": true, "heartbeat-timeout": true}
