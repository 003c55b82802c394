//go:build linux

package process

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// SetWorkDir names the folder holding this worker's workspaces, so Cleanup
// can tell its own leftovers from other workers' on the same machine.
func (e *Executor) SetWorkDir(dir string) {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	e.workDir = dir
}

// Cleanup kills the processes left behind by attempts this worker no
// longer runs. A worker killed with -9 takes its jobs' direct children
// with it through Pdeathsig, but not what they started in the background.
//
// Such processes are found by the environment every job gets. That is
// DROVER_ATTEMPT_ID, and DROVER_WORKSPACE, the attempt's workspace inside
// this worker's work dir. A job cannot set either. A process without
// DROVER_WORKSPACE is matched by HOME, as older drover versions set only
// that.
//
// A process that cleared its environment escapes this. Linux offers no
// stronger handle without cgroups.
func (e *Executor) Cleanup(ctx context.Context, keep func(attemptID string) bool) (int, error) {
	return e.sweep(ctx, keep, "killed a process left by an attempt this worker no longer runs")
}

// killEscaped kills the processes of attempt id that left its process
// group. setsid and a daemon's double fork leave it. It finds them as
// Cleanup finds leftovers. A cancel, a timeout or an output pipe still
// held after the group is gone then leaves nothing of the job running.
//
// It waits at most escapeBound. A read of /proc/<pid>/environ blocks while
// that process is stuck in the kernel, on a hung NFS mount say. A job's
// end must not wait for it. The sweep goes on alone and ends with that
// read.
func (e *Executor) killEscaped(id string) int {
	done := make(chan int, 1)
	go func() {
		n, _ := e.sweep(context.Background(), func(a string) bool { return a != id },
			"killed a process of the attempt that had left its process group")
		done <- n
	}()
	t := time.NewTimer(escapeBound)
	defer t.Stop()
	select {
	case n := <-done:
		return n
	case <-t.C:
		e.log.Warn("looking for the attempt's processes outside its group takes long (a process stuck in the kernel?); going on", "attempt", id, "waited", escapeBound)
		return 0
	}
}

// escapeBound is how long killEscaped waits for its sweep of /proc.
const escapeBound = 2 * time.Second

// sweep kills the processes of this worker's attempts that keep rejects.
func (e *Executor) sweep(ctx context.Context, keep func(attemptID string) bool, what string) (int, error) {
	if e.workDir == "" {
		return 0, nil
	}
	names, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	self := os.Getpid()
	home := "HOME=" + e.workDir + string(filepath.Separator)
	workspace := "DROVER_WORKSPACE=" + e.workDir + string(filepath.Separator)
	// leftOver reads pid's environment and returns its attempt when it is
	// a process of this work dir's attempts that keep rejects, else "".
	leftOver := func(pid string) string {
		env, err := os.ReadFile("/proc/" + pid + "/environ")
		if err != nil {
			return "" // gone, or not ours to read
		}
		var attempt, ws, homeWS string
		for _, kv := range bytes.Split(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("DROVER_ATTEMPT_ID=")); ok {
				attempt = string(v)
			}
			if v, ok := bytes.CutPrefix(kv, []byte(workspace)); ok {
				ws = string(v)
			}
			if v, ok := bytes.CutPrefix(kv, []byte(home)); ok {
				homeWS = string(v)
			}
		}
		if ws == "" {
			ws = homeWS
		}
		// The workspace must be exactly this work dir's of that attempt,
		// <work dir>/<attempt id>-<suffix>. Something deeper does not
		// count, as another worker's work dir may lie inside this one.
		if !strings.HasPrefix(attempt, "att_") || !strings.HasPrefix(ws, attempt+"-") ||
			strings.ContainsRune(ws, filepath.Separator) || keep(attempt) {
			return ""
		}
		return attempt
	}
	killed := 0
	for _, de := range names {
		if ctx.Err() != nil {
			return killed, ctx.Err()
		}
		pid, err := strconv.Atoi(de.Name())
		if err != nil || pid == self || leftOver(de.Name()) == "" {
			continue
		}
		// A pidfd comes first, then the environment is read again. The
		// pidfd names the process of that second read, or an earlier one
		// that is gone. If the pid was reused since the first read, the
		// second read tells. A signal through the pidfd then never hits a
		// newcomer.
		pidfd, err := unix.PidfdOpen(pid, 0)
		if errors.Is(err, unix.ESRCH) {
			continue // gone
		}
		if err != nil {
			pidfd = -1 // no pidfds here: signal by pid
		}
		attempt := leftOver(de.Name())
		if attempt == "" {
			closePidfd(pidfd)
			continue
		}
		if killPid(pid, pidfd) == nil {
			killed++
			e.log.Info(what, "pid", pid, "attempt", attempt)
		}
	}
	return killed, nil
}

// killPid sends SIGKILL through pidfd and closes it. Where no pidfd could
// be opened, on an old kernel, it signals pid instead.
func killPid(pid, pidfd int) error {
	if pidfd < 0 {
		return syscall.Kill(pid, syscall.SIGKILL)
	}
	defer closePidfd(pidfd)
	return unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
}

func closePidfd(pidfd int) {
	if pidfd >= 0 {
		_ = unix.Close(pidfd)
	}
}
