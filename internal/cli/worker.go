package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor"
	"github.com/drover-dev/drover/internal/executor/docker"
	"github.com/drover-dev/drover/internal/executor/noop"
	"github.com/drover-dev/drover/internal/executor/process"
	"github.com/drover-dev/drover/internal/procstat"
	"github.com/drover-dev/drover/internal/worker"
)

// workerFlags configure a worker agent.
// drover worker and drover dev's own worker both use them.
type workerFlags struct {
	name, executor, cpu, memory, workDir, pull string
	runAs, registries, workspaceLimit          string
	maxParallel                                int
	grace                                      time.Duration
	allowNetwork                               bool
	labels                                     multiFlag

	lifeline *os.File // the container guard's lifeline (startGuard)
	dev      bool     // drover dev's own worker: auto offers process too
}

func (wf *workerFlags) add(a *app, fs *flag.FlagSet) {
	host, _ := os.Hostname()
	fs.StringVar(&wf.name, "name", envOr(a, "DROVER_WORKER_NAME", host), "worker name shown in the UI and CLI (env DROVER_WORKER_NAME)")
	fs.Var(&wf.labels, "labels", "labels k=v[,k=v...] that jobs can require with --constraint (repeatable)")
	fs.StringVar(&wf.executor, "executor", envOr(a, "DROVER_EXECUTOR", "auto"), "executors offered: auto (docker when the engine answers, else process; under dev: process, and docker when the engine answers), or a comma-separated list of docker and process, or noop alone (env DROVER_EXECUTOR)")
	fs.IntVar(&wf.maxParallel, "max-parallel", runtime.NumCPU()*2, "jobs run at once (env MAX_PARALLEL_JOBS)")
	fs.StringVar(&wf.cpu, "cpu", a.getenv("DROVER_WORKER_CPU"), "CPU offered, cores or millicores (default: all CPUs; env DROVER_WORKER_CPU)")
	fs.StringVar(&wf.memory, "memory", a.getenv("DROVER_WORKER_MEMORY"), "memory offered, e.g. 8G (default: total minus 10%, at most 2G kept back; env DROVER_WORKER_MEMORY)")
	fs.DurationVar(&wf.grace, "grace", worker.DefaultGrace, "wait between SIGTERM and SIGKILL on cancel and timeout (env DROVER_GRACE)")
	fs.StringVar(&wf.workDir, "work-dir", a.getenv("DROVER_WORK_DIR"), "folder for the jobs' workspaces and bundle cache, one per worker (default: $TMPDIR/drover-work/<name>; env DROVER_WORK_DIR)")
	fs.StringVar(&wf.pull, "pull", envOr(a, "DROVER_PULL", "missing"), "docker image pull policy: missing, always or never (env DROVER_PULL)")
	fs.BoolVar(&wf.allowNetwork, "allow-network", false, "let docker jobs that ask for --network have it (default: no network)")
	fs.StringVar(&wf.runAs, "run-as", envOr(a, "DROVER_RUN_AS", "auto"), "who process jobs run as when the worker is root: auto (a uid of its own per job), a user (name or uid[:gid]) for every job, or a uid range FIRST-LAST (env DROVER_RUN_AS)")
	fs.StringVar(&wf.registries, "registries", a.getenv("DROVER_REGISTRIES"), "registries docker images may be pulled from, host[:port],... (default: any public one; env DROVER_REGISTRIES)")
	fs.StringVar(&wf.workspaceLimit, "workspace-limit", envOr(a, "DROVER_WORKSPACE_LIMIT", "10G"), "disk space a job may add to its workspace besides its bundle, e.g. 10G, or 0 for none; also each file's size limit (env DROVER_WORKSPACE_LIMIT)")
	a.fromEnv(fs, "max-parallel", "MAX_PARALLEL_JOBS")
	a.fromEnv(fs, "grace", "DROVER_GRACE")
}

// config turns the flags into a worker.Config, executors included.
// It refuses what the worker or the coordinator would refuse, naming the
// flag.
func (wf *workerFlags) config(ctx context.Context, log *slog.Logger) (worker.Config, error) {
	cfg := worker.Config{Name: wf.name, Logger: log, WorkDir: wf.workDir}
	var err error
	if err = wf.runPolicy(&cfg); err != nil {
		return cfg, err
	}
	if cfg.Labels, err = wf.labelSet(); err != nil {
		return cfg, err
	}
	mem, _ := procstat.ReadMemory()
	if cfg.Capacity, err = wf.capacity(runtime.NumCPU(), mem.Total>>20); err != nil {
		return cfg, err
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = worker.DefaultWorkDir(cfg.Name)
	}
	if cfg.Executors, err = wf.executors(ctx, log, cfg.WorkDir); err != nil {
		return cfg, err
	}
	// Only process jobs switch users.
	if slices.ContainsFunc(cfg.Executors, func(e worker.Executor) bool { return e.Name() == drover.ExecutorProcess }) {
		if err := cfg.RunAs.Check(wf.maxParallel); err != nil {
			return cfg, fmt.Errorf("--run-as (DROVER_RUN_AS) %q: %w", wf.runAs, err)
		}
	}
	return cfg, nil
}

// runPolicy fills in how the worker runs jobs.
// That is its name, the grace before SIGKILL, the workspace limit and who
// process jobs run as. It checks the docker executor's image flags too.
func (wf *workerFlags) runPolicy(cfg *worker.Config) error {
	if err := drover.ValidateWorkerName(strings.TrimSpace(wf.name)); err != nil {
		return fmt.Errorf("--name (DROVER_WORKER_NAME): %s", drover.ErrorMessage(err))
	}
	switch {
	case wf.grace < 0:
		return fmt.Errorf("--grace (DROVER_GRACE) is %s: use 0 to kill at once, or a positive duration", wf.grace)
	case wf.grace == 0:
		cfg.NoGrace = true
	default:
		cfg.Grace = wf.grace
	}
	switch docker.PullPolicy(wf.pull) {
	case docker.PullMissing, docker.PullAlways, docker.PullNever:
	default:
		return fmt.Errorf("--pull (DROVER_PULL) is %q: use missing, always or never", wf.pull)
	}
	if _, err := docker.ParseRegistries(wf.registries); err != nil {
		return fmt.Errorf("--registries (DROVER_REGISTRIES): %w", err)
	}
	if strings.TrimSpace(wf.workspaceLimit) == "0" {
		cfg.NoWorkspaceLimit = true
	} else {
		mb, err := drover.ParseMemory(wf.workspaceLimit)
		if err != nil {
			return fmt.Errorf("--workspace-limit (DROVER_WORKSPACE_LIMIT) is %q: use a size like 500M or 10G, or 0 for none", wf.workspaceLimit)
		}
		cfg.WorkspaceLimit = mb << 20
	}
	var err error
	if cfg.RunAs, err = parseRunAs(wf.runAs); err != nil {
		return fmt.Errorf("--run-as (DROVER_RUN_AS) %q: %w", wf.runAs, err)
	}
	return nil
}

// labelSet reads --labels and --allow-network into the worker's labels.
// The map is never nil.
// drover's network label comes from --allow-network alone, so that it
// matches what the docker executor does.
func (wf *workerFlags) labelSet() (map[string]string, error) {
	var kvs []string
	for _, l := range wf.labels {
		for _, kv := range strings.Split(l, ",") {
			kvs = append(kvs, strings.TrimSpace(kv))
		}
	}
	given, err := keyValues("--labels", "k=v[,k=v...]", kvs)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for k, v := range given {
		if k == drover.NetworkLabel {
			return nil, fmt.Errorf("--labels: %s is drover's own label: --allow-network sets it", k)
		}
		labels[k] = v
	}
	if wf.allowNetwork {
		labels[drover.NetworkLabel] = "true"
	}
	if err := drover.ValidateLabels("labels", labels); err != nil {
		return nil, fmt.Errorf("--labels: %s", drover.ErrorMessage(err))
	}
	return labels, nil
}

// capacity is what the worker offers on a machine of cpus CPUs and
// memoryMB MiB of memory.
// By default it offers every CPU. It keeps a tenth of the memory back, at
// least 256 MiB and at most 2 GiB. --cpu and --memory replace either.
// A machine whose memory is unknown has memoryMB 0 and needs --memory.
func (wf *workerFlags) capacity(cpus int, memoryMB int64) (drover.Capacity, error) {
	c := drover.Capacity{CPU: int64(cpus) * 1000, MemoryMB: memoryMB - min(max(memoryMB/10, 256), 2048)}
	if wf.maxParallel < 1 {
		return c, fmt.Errorf("--max-parallel (MAX_PARALLEL_JOBS) is %d: it must be at least 1", wf.maxParallel)
	}
	c.Slots = wf.maxParallel
	if wf.cpu != "" {
		v, err := drover.ParseCPU(wf.cpu)
		if err != nil {
			return c, fmt.Errorf("--cpu (DROVER_WORKER_CPU): %w", err)
		}
		c.CPU = v
	}
	if wf.memory != "" {
		v, err := drover.ParseMemory(wf.memory)
		if err != nil {
			return c, fmt.Errorf("--memory (DROVER_WORKER_MEMORY): %w", err)
		}
		c.MemoryMB = v
	}
	if c.MemoryMB <= 0 {
		return c, errors.New("cannot tell this machine's memory: set --memory")
	}
	return c, nil
}

// parseRunAs reads --run-as. It takes one of:
//
//   - auto
//   - a range FIRST-LAST of uids
//   - a numeric uid[:gid]
//   - a user name
//
// A user's gid is its primary group. A uid without a passwd entry takes
// the same number as its gid. No supplementary group is kept.
func parseRunAs(s string) (worker.RunAs, error) {
	const use = "use auto, a user name, a numeric uid[:gid], or a range of uids FIRST-LAST"
	if s == "auto" {
		return worker.RunAs{}, nil
	}
	id := func(v string) (uint32, bool) {
		n, err := strconv.ParseUint(v, 10, 32)
		return uint32(n), err == nil && n < 1<<32-1 // (uid_t)-1 is no id
	}
	if a, b, ok := strings.Cut(s, "-"); ok {
		first, ok1 := id(a)
		last, ok2 := id(b)
		if ok1 && ok2 {
			return worker.RunAs{First: first, Last: last}, nil
		}
	}
	uidText, gidText, hasGID := strings.Cut(s, ":")
	if uid, ok := id(uidText); ok {
		u := &executor.User{UID: uid, GID: uid, Name: worker.JobUserName}
		if pw, err := user.LookupId(uidText); err == nil {
			u.Name = pw.Username
			if g, ok := id(pw.Gid); ok {
				u.GID = g
			}
		}
		if hasGID {
			g, ok := id(gidText)
			if !ok {
				return worker.RunAs{}, fmt.Errorf("%q is not a numeric gid: %s", gidText, use)
			}
			u.GID = g
		}
		return worker.RunAs{User: u}, nil
	}
	if s == "" || hasGID {
		return worker.RunAs{}, errors.New(use)
	}
	pw, err := user.Lookup(s)
	if err != nil {
		return worker.RunAs{}, fmt.Errorf("no user %s on this machine: %s", s, use)
	}
	uid, ok1 := id(pw.Uid)
	gid, ok2 := id(pw.Gid)
	if !ok1 || !ok2 {
		return worker.RunAs{}, fmt.Errorf("user %s has uid %s and gid %s: only numeric ids can be switched to", s, pw.Uid, pw.Gid)
	}
	return worker.RunAs{User: &executor.User{UID: uid, GID: gid, Name: pw.Username}}, nil
}

// executors makes the executors the operator allows with --executor, in
// its order.
// Which executors a worker offers is the operator's choice. A submitter
// only chooses among them. Process jobs are not isolated, so auto offers
// process only where docker cannot be had.
func (wf *workerFlags) executors(ctx context.Context, log *slog.Logger, workDir string) ([]worker.Executor, error) {
	names, err := parseExecutors(wf.executor)
	if err != nil {
		return nil, err
	}
	newProcess := func() worker.Executor {
		p := process.New(log)
		p.SetWorkDir(workDir)
		return p
	}
	newDocker := func() (worker.Executor, error) {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		// The containers' label names this worker across restarts.
		// It is the name and the work dir, which two workers on one
		// machine never share.
		instance := drover.NewID("wi")
		registries, _ := docker.ParseRegistries(wf.registries) // checked in config
		d, err := docker.New(dctx, docker.Config{Logger: log, Pull: docker.PullPolicy(wf.pull), AllowNetwork: wf.allowNetwork,
			WorkerID: wf.name + ":" + workDir, Instance: instance, Registries: registries})
		if err != nil {
			return nil, err
		}
		wf.startGuard(log, instance)
		return d, nil
	}
	if names == nil {
		return wf.auto(log, newProcess, newDocker), nil
	}
	var execs []worker.Executor
	for _, name := range names {
		switch name {
		case drover.ExecutorProcess:
			execs = append(execs, newProcess())
		case drover.ExecutorNoop:
			execs = append(execs, noop.Executor{})
		case drover.ExecutorDocker:
			d, err := newDocker()
			if err != nil {
				return nil, fmt.Errorf("--executor %s: %w", wf.executor, err)
			}
			execs = append(execs, d)
		}
	}
	return execs, nil
}

// auto is --executor auto.
// It offers docker when the engine answers, and process otherwise.
// A machine without Docker can only run process jobs, and its operator
// installed a worker there to run them.
// drover dev is one user running their own commands on loopback. It offers
// process, and docker as well when the engine answers.
func (wf *workerFlags) auto(log *slog.Logger, newProcess func() worker.Executor, newDocker func() (worker.Executor, error)) []worker.Executor {
	d, err := newDocker()
	switch {
	case wf.dev && err != nil:
		log.Info("executors: process (drover dev runs your commands on this machine); docker off: the Docker engine does not answer", "err", err)
		return []worker.Executor{newProcess()}
	case wf.dev:
		log.Info("executors: process (drover dev runs your commands on this machine) and docker (the Docker engine answers)")
		return []worker.Executor{newProcess(), d}
	case err != nil:
		log.Warn("executor auto: process, as the Docker engine does not answer; process jobs are not isolated (they share this machine's file system and network; --run-as says as whom they run)", "err", err)
		return []worker.Executor{newProcess()}
	}
	log.Info("executor auto: docker, as the Docker engine answers; no process jobs (they are not isolated: offer them with --executor docker,process)")
	return []worker.Executor{d}
}

// parseExecutors reads --executor.
// It returns nil for auto. Otherwise it returns the names of a
// comma-separated list of docker and process, or noop alone.
// noop runs nothing and is there for drover bench.
func parseExecutors(v string) ([]string, error) {
	bad := func(why string) error {
		return fmt.Errorf("--executor (DROVER_EXECUTOR) %q: %s: use auto, or docker, process or both as docker,process (noop alone)", v, why)
	}
	if strings.TrimSpace(v) == "auto" {
		return nil, nil
	}
	var names []string
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
			return nil, bad("an empty name")
		case n == "auto":
			return nil, bad("auto stands alone")
		case n != drover.ExecutorDocker && n != drover.ExecutorProcess && n != drover.ExecutorNoop:
			return nil, bad(fmt.Sprintf("%q is not an executor", n))
		case slices.Contains(names, n):
			return nil, bad(n + " is given twice")
		}
		names = append(names, n)
	}
	if len(names) > 1 && slices.Contains(names, drover.ExecutorNoop) {
		return nil, bad("noop stands alone (it runs nothing: it is for drover bench)")
	}
	return names, nil
}

// cmdWorker is drover worker: a worker agent that takes jobs from the
// coordinator at --server.
func cmdWorker(ctx context.Context, a *app, args []string) int {
	fs := newFlags(a, "worker")
	var wf workerFlags
	var server, logLevel string
	join := secretFlag{name: "join-token", env: "DROVER_JOIN_TOKEN"}
	fs.StringVar(&server, "server", envOr(a, "DROVER_SERVER", defaultServer), "coordinator URL (env DROVER_SERVER)")
	join.add(a, fs, "the join token of the coordinator")
	fs.StringVar(&logLevel, "log-level", envOr(a, "DROVER_LOG_LEVEL", "info"), "debug, info, warn or error (env DROVER_LOG_LEVEL)")
	wf.add(a, fs)
	if _, err := parse(fs, args); err != nil {
		return usageCode(err)
	}
	if err := a.envError(fs); err != nil {
		a.errorf("%v", err)
		return exitUsage
	}
	if err := serverURLError(server); err != nil {
		a.errorf("%v", err)
		return exitUsage
	}
	// The token is read, and unset from the environment, before any
	// process starts. The container guard then cannot inherit it.
	joinToken, readJoinToken, err := join.resolve(a, fs)
	if err != nil {
		a.errorf("%v", err)
		return exitUsage
	}
	log, err := newLogger(a, logLevel)
	if err != nil {
		a.errorf("%v", err)
		return exitUsage
	}
	cfg, err := wf.config(ctx, log)
	if err != nil {
		a.errorf("%v", err)
		return exitUsage
	}
	defer wf.stopGuard()
	// The worker keeps the token until it registers, then only its own
	// secret. It reads the file again if it must register again.
	cfg.Server, cfg.JoinToken, cfg.ReadJoinToken = server, joinToken, readJoinToken
	w, err := worker.New(cfg)
	if err != nil {
		a.errorf("%v", err)
		return exitError
	}
	// The first SIGTERM or Ctrl-C drains the worker.
	// A second one stops it at once, and its running jobs are requeued
	// elsewhere.
	hard, stopHard := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHard()
	go func() {
		select {
		case <-hard.Done():
			return
		case <-ctx.Done():
		}
		if drainUntilSecondSignal(log, w, hard.Done(), "draining: finishing running jobs; signal again to stop at once") {
			log.Warn("stopping now; running jobs will be requeued")
			stopHard()
		}
	}()
	if err := w.Run(hard); err != nil && !errors.Is(err, context.Canceled) {
		a.errorf("%v", err)
		return exitError
	}
	return exitOK
}

// drainUntilSecondSignal drains w and waits for a second SIGINT or SIGTERM.
// The first one has already arrived, and draining says so in the log.
// It reports true when the second signal came, and false when ended closed
// first.
func drainUntilSecondSignal(log *slog.Logger, w *worker.Worker, ended <-chan struct{}, draining string) bool {
	log.Info(draining)
	w.Drain()
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	select {
	case <-again:
		return true
	case <-ended:
		return false
	}
}
