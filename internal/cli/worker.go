package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor"
	"github.com/drover-dev/drover/internal/executor/docker"
	"github.com/drover-dev/drover/internal/executor/noop"
	"github.com/drover-dev/drover/internal/executor/process"
	"github.com/drover-dev/drover/internal/worker"
)

// workerFlags configure a worker agent (drover worker, and dev's own worker).
type workerFlags struct {
	name, executor, cpu, memory, workDir, pull string
	runAs                                      string
	maxParallel                                int
	grace                                      time.Duration
	allowNetwork                               bool
	labels                                     multiFlag

	lifeline *os.File // the container guard's lifeline (startGuard)
}

func (wf *workerFlags) add(a *app, fs *flag.FlagSet) {
	host, _ := os.Hostname()
	fs.StringVar(&wf.name, "name", envOr(a, "DROVER_WORKER_NAME", host), "worker name shown in the UI and CLI (env DROVER_WORKER_NAME)")
	fs.Var(&wf.labels, "labels", "labels k=v[,k=v...] that jobs can require with --constraint (repeatable)")
	fs.StringVar(&wf.executor, "executor", envOr(a, "DROVER_EXECUTOR", "auto"), "auto (docker when the engine answers, and process), docker, process, or noop (env DROVER_EXECUTOR)")
	fs.IntVar(&wf.maxParallel, "max-parallel", runtime.NumCPU()*2, "jobs run at once (env MAX_PARALLEL_JOBS)")
	fs.StringVar(&wf.cpu, "cpu", a.getenv("DROVER_WORKER_CPU"), "CPU offered, cores or millicores (default: all CPUs; env DROVER_WORKER_CPU)")
	fs.StringVar(&wf.memory, "memory", a.getenv("DROVER_WORKER_MEMORY"), "memory offered, e.g. 8G (default: total minus 10%, at most 2G kept back; env DROVER_WORKER_MEMORY)")
	fs.DurationVar(&wf.grace, "grace", worker.DefaultGrace, "wait between SIGTERM and SIGKILL on cancel and timeout (env DROVER_GRACE)")
	fs.StringVar(&wf.workDir, "work-dir", a.getenv("DROVER_WORK_DIR"), "folder for the jobs' workspaces and bundle cache, one per worker (default: $TMPDIR/drover-work/<name>; env DROVER_WORK_DIR)")
	fs.StringVar(&wf.pull, "pull", envOr(a, "DROVER_PULL", "missing"), "docker image pull policy: missing, always or never (env DROVER_PULL)")
	fs.BoolVar(&wf.allowNetwork, "allow-network", false, "let docker jobs that ask for --network have it (default: no network)")
	fs.StringVar(&wf.runAs, "run-as", envOr(a, "DROVER_RUN_AS", "auto"), "who process jobs run as when the worker is root: auto (a uid of its own per job), a user (name or uid[:gid]) for every job, or a uid range FIRST-LAST (env DROVER_RUN_AS)")
	a.fromEnv(fs, "max-parallel", "MAX_PARALLEL_JOBS")
	a.fromEnv(fs, "grace", "DROVER_GRACE")
}

// config turns the flags into a worker.Config (executors included).
func (wf *workerFlags) config(ctx context.Context, log *slog.Logger) (worker.Config, error) {
	cfg := worker.Config{Name: wf.name, Logger: log, WorkDir: wf.workDir, Labels: map[string]string{}}
	if wf.grace < 0 {
		return cfg, fmt.Errorf("--grace (DROVER_GRACE) is %s: use 0 to kill at once, or a positive duration", wf.grace)
	}
	switch docker.PullPolicy(wf.pull) {
	case docker.PullMissing, docker.PullAlways, docker.PullNever:
	default:
		return cfg, fmt.Errorf("--pull (DROVER_PULL) is %q: use missing, always or never", wf.pull)
	}
	if wf.grace <= 0 {
		cfg.NoGrace = true
	} else {
		cfg.Grace = wf.grace
	}
	var kvs []string
	for _, l := range wf.labels {
		for _, kv := range strings.Split(l, ",") {
			kvs = append(kvs, strings.TrimSpace(kv))
		}
	}
	labels, err := keyValues("--labels", "k=v[,k=v...]", kvs)
	if err != nil {
		return cfg, err
	}
	for k, v := range labels {
		if k == drover.NetworkLabel {
			// It must match what the docker executor does.
			return cfg, fmt.Errorf("--labels: %s is drover's own label: --allow-network sets it", k)
		}
		cfg.Labels[k] = v
	}
	if wf.allowNetwork {
		cfg.Labels[drover.NetworkLabel] = "true"
	}
	if wf.maxParallel < 1 {
		return cfg, fmt.Errorf("--max-parallel (MAX_PARALLEL_JOBS) is %d: it must be at least 1", wf.maxParallel)
	}
	cfg.Capacity.Slots = wf.maxParallel
	// Only process jobs switch users.
	if cfg.RunAs, err = parseRunAs(wf.runAs); err == nil && (wf.executor == "auto" || wf.executor == drover.ExecutorProcess) {
		err = cfg.RunAs.Check(wf.maxParallel)
	}
	if err != nil {
		return cfg, fmt.Errorf("--run-as (DROVER_RUN_AS) %q: %w", wf.runAs, err)
	}
	cfg.Capacity.CPU = int64(runtime.NumCPU()) * 1000
	if wf.cpu != "" {
		v, err := drover.ParseCPU(wf.cpu)
		if err != nil {
			return cfg, fmt.Errorf("--cpu (DROVER_WORKER_CPU): %w", err)
		}
		cfg.Capacity.CPU = v
	}
	total := worker.MemoryMB()
	cfg.Capacity.MemoryMB = total - min(max(total/10, 256), 2048)
	if wf.memory != "" {
		v, err := drover.ParseMemory(wf.memory)
		if err != nil {
			return cfg, fmt.Errorf("--memory (DROVER_WORKER_MEMORY): %w", err)
		}
		cfg.Capacity.MemoryMB = v
	}
	if cfg.Capacity.MemoryMB <= 0 {
		return cfg, errors.New("cannot tell this machine's memory: set --memory")
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = worker.DefaultWorkDir(cfg.Name)
	}
	execs, err := wf.executors(ctx, log, cfg.WorkDir)
	if err != nil {
		return cfg, err
	}
	cfg.Executors = execs
	return cfg, nil
}

// parseRunAs reads --run-as: auto, a range FIRST-LAST of uids, a numeric
// uid[:gid], or a user name. A user's gid is its primary group (a uid
// without a passwd entry: the same number); no supplementary group is kept.
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

// executors picks the executors: process jobs run as the user --run-as
// says; docker ones in locked-down containers.
func (wf *workerFlags) executors(ctx context.Context, log *slog.Logger, workDir string) ([]worker.Executor, error) {
	newProcess := func() worker.Executor {
		p := process.New(log)
		p.SetWorkDir(workDir)
		return p
	}
	newDocker := func() (worker.Executor, error) {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		// The containers' label names this worker across restarts: its
		// name and work dir, which two workers on one machine never share.
		instance := drover.NewID("wi")
		d, err := docker.New(dctx, docker.Config{Logger: log, Pull: docker.PullPolicy(wf.pull), AllowNetwork: wf.allowNetwork,
			WorkerID: wf.name + ":" + workDir, Instance: instance})
		if err != nil {
			return nil, err
		}
		wf.startGuard(log, instance)
		return d, nil
	}
	switch wf.executor {
	case "auto":
		execs := []worker.Executor{newProcess()}
		d, err := newDocker()
		if err != nil {
			log.Info("docker executor off: the Docker engine does not answer", "err", err)
		} else {
			execs = append(execs, d)
		}
		return execs, nil
	case drover.ExecutorProcess:
		return []worker.Executor{newProcess()}, nil
	case drover.ExecutorNoop:
		return []worker.Executor{noop.Executor{}}, nil
	case drover.ExecutorDocker:
		d, err := newDocker()
		if err != nil {
			return nil, fmt.Errorf("--executor docker: %w", err)
		}
		return []worker.Executor{d}, nil
	}
	return nil, fmt.Errorf("--executor (DROVER_EXECUTOR) %q: use auto, docker, process or noop", wf.executor)
}

func cmdWorker(ctx context.Context, a *app, args []string) int {
	fs := newFlags(a, "worker")
	var wf workerFlags
	var server, joinToken, logLevel string
	fs.StringVar(&server, "server", envOr(a, "DROVER_SERVER", defaultServer), "coordinator URL (env DROVER_SERVER)")
	fs.StringVar(&joinToken, "join-token", a.getenv("DROVER_JOIN_TOKEN"), "the coordinator's join token (env DROVER_JOIN_TOKEN)")
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
	cfg.Server, cfg.JoinToken = server, joinToken
	w, err := worker.New(cfg)
	if err != nil {
		a.errorf("%v", err)
		return exitError
	}
	// The first SIGTERM or Ctrl-C drains (finish running jobs, take no new
	// ones, deregister); a second one stops at once and the running jobs
	// are requeued elsewhere.
	hard, stopHard := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHard()
	go func() {
		select {
		case <-hard.Done():
			return
		case <-ctx.Done():
		}
		log.Info("draining: finishing running jobs; signal again to stop at once")
		w.Drain()
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(again)
		select {
		case <-again:
			log.Warn("stopping now; running jobs will be requeued")
			stopHard()
		case <-hard.Done():
		}
	}()
	if err := w.Run(hard); err != nil && !errors.Is(err, context.Canceled) {
		a.errorf("%v", err)
		return exitError
	}
	return exitOK
}

func cmdDev(ctx context.Context, a *app, args []string) int {
	fs := newFlags(a, "dev")
	var sf serverFlags
	var wf workerFlags
	sf.add(a, fs, "127.0.0.1:8080", ".drover")
	wf.add(a, fs)
	if _, err := parse(fs, args); err != nil {
		return usageCode(err)
	}
	if err := a.envError(fs); err != nil {
		a.errorf("%v", err)
		return exitUsage
	}
	if !isLoopback(sf.listen) && !sf.insecure {
		a.errorf("drover dev listens on loopback only (it has no tokens); use drover server to serve a network")
		return exitUsage
	}
	p, log, code := startFromFlags(ctx, a, &sf)
	if p == nil {
		return code
	}
	cfg, err := wf.config(ctx, log)
	if err != nil {
		p.shutdown()
		a.errorf("%v", err)
		return exitUsage
	}
	defer wf.stopGuard()
	cfg.Server, cfg.JoinToken = p.url, sf.joinToken
	cfg.Labels[drover.LocalLabel] = "true"
	w, err := worker.New(cfg)
	if err != nil {
		p.shutdown()
		a.errorf("%v", err)
		return exitError
	}
	abs, _ := absPath(sf.data)
	try := "drover run -- echo hello"
	if p.url != defaultServer {
		try = "DROVER_SERVER=" + p.url + " " + try
	}
	fmt.Fprintf(a.stderr, `
  drover dev is up: coordinator, a local worker and the web UI
    UI and API:  %s
    data:        %s (delete it to start afresh)
    try:         %s
  Ctrl-C lets running jobs finish, then stops; Ctrl-C again stops at once
  (they run again at the next start). Queued jobs wait for the next start.

`, p.url, abs, try)
	wctx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	select {
	case <-ctx.Done():
		// As drover worker: the first Ctrl-C drains (the coordinator goes
		// on serving, so followers see the jobs end), a second stops now.
		log.Info("draining: finishing running jobs; Ctrl-C again to stop at once")
		w.Drain()
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		select {
		case <-again:
			log.Warn("stopping now; running jobs will run again at the next start")
		case err := <-done:
			done <- err // for doneOr below
		}
		signal.Stop(again)
	case err := <-done:
		if err != nil {
			a.errorf("worker: %v", err)
			done <- nil
			break
		}
		// Drained from the UI or the API: the worker left, the coordinator
		// and the UI go on (their page is what drained it).
		wf.stopGuard() // nothing of it is left to guard
		log.Warn("the local worker drained and left; the coordinator and UI go on serving: start a worker to run jobs (drover worker --server " + p.url + "), Ctrl-C to stop")
		done <- nil
		select {
		case <-ctx.Done():
		case err := <-p.served:
			if err != nil {
				a.errorf("serve: %v", err)
			}
		}
	case err := <-p.served:
		if err != nil {
			a.errorf("serve: %v", err)
		}
	}
	stopWorker()
	<-doneOr(done)
	p.shutdown()
	return exitOK
}

func doneOr(ch chan error) <-chan error {
	out := make(chan error, 1)
	go func() {
		select {
		case err := <-ch:
			out <- err
		case <-time.After(15 * time.Second):
			out <- errors.New("worker did not stop in time")
		}
	}()
	return out
}

// guardCommand is the hidden command of the container guard (see
// docker.Guard): drover docker-guard INSTANCE, its lifeline on stdin.
const guardCommand = "docker-guard"

// startGuard starts the container guard of this worker process: a drover
// docker-guard process of its own process group (a Ctrl-C meant for the
// worker does not reach it) that removes the worker's containers once the
// worker is gone, however it ends. Without it (drover's binary not found,
// say) containers of a worker killed with -9 run on until it starts again.
func (wf *workerFlags) startGuard(log *slog.Logger, instance string) {
	exe, err := os.Executable()
	if err != nil {
		log.Warn("no container guard: containers of this worker outlive it if it is killed", "err", err)
		return
	}
	r, w, err := os.Pipe()
	if err != nil {
		log.Warn("no container guard: containers of this worker outlive it if it is killed", "err", err)
		return
	}
	cmd := exec.Command(exe, guardCommand, instance)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	r.Close() // the guard's end; the worker keeps only the write end
	if err != nil {
		w.Close()
		log.Warn("no container guard: containers of this worker outlive it if it is killed", "err", err)
		return
	}
	wf.lifeline = w
	go func() { _ = cmd.Wait() }() // reaps the guard, which exits after the worker closes its end
}

// stopGuard closes the guard's lifeline: the guard removes what containers
// of this worker are left (none after a clean stop) and exits.
func (wf *workerFlags) stopGuard() {
	if wf.lifeline != nil {
		wf.lifeline.Close()
		wf.lifeline = nil
	}
}

// cmdDockerGuard is drover docker-guard INSTANCE (see startGuard). It
// ignores the signals a terminal or a service manager sends the worker:
// only the end of its lifeline, stdin, ends it.
func cmdDockerGuard(_ context.Context, a *app, args []string) int {
	signal.Ignore(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	if len(args) != 1 {
		a.errorf("usage: drover %s INSTANCE (started by drover worker, not by hand)", guardCommand)
		return exitUsage
	}
	if fi, err := os.Stdin.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		a.errorf("%s is started by drover worker with a pipe on its stdin, not by hand", guardCommand)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(a.stderr, nil)).With("guard", args[0])
	if _, err := docker.Guard(context.Background(), log, args[0], os.Stdin); err != nil {
		log.Error("container guard", "err", err)
		return exitError
	}
	return exitOK
}
