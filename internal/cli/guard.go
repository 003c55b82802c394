package cli

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/drover-dev/drover/internal/executor/docker"
)

// guardCommand is the hidden command of the container guard.
// It runs as drover docker-guard INSTANCE, with its lifeline on stdin.
// See docker.Guard.
const guardCommand = "docker-guard"

// startGuard starts the container guard of this worker process.
// The guard is a drover docker-guard process in a process group of its
// own, so a Ctrl-C meant for the worker does not reach it. It removes the
// worker's containers once the worker is gone, however the worker ends.
// A worker runs without a guard when drover's binary cannot be found.
// Its containers then outlive a kill -9 until the worker starts again.
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

// stopGuard closes the guard's lifeline.
// The guard then removes what containers of this worker are left and exits.
// After a clean stop none are left.
func (wf *workerFlags) stopGuard() {
	if wf.lifeline != nil {
		wf.lifeline.Close()
		wf.lifeline = nil
	}
}

// cmdDockerGuard is drover docker-guard INSTANCE, which startGuard starts.
// It ignores the signals a terminal or a service manager sends the worker.
// Only the end of its lifeline, stdin, ends it.
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
