//go:build linux

package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"

	"github.com/drover-dev/drover/internal/executor"

	"golang.org/x/sys/unix"
)

// limitFileSize sets the file size limit of the started process pid to n
// bytes. It sets RLIMIT_FSIZE, soft and hard.
//
// Go starts a child with no hook between fork and exec, so the limit is
// set just after the exec. For that moment the command runs without it,
// and so does any child it forked then. The worker's measure of the
// workspace still bounds what those write.
func limitFileSize(pid int, n int64) error {
	lim := unix.Rlimit{Cur: uint64(n), Max: uint64(n)}
	return unix.Prlimit(pid, unix.RLIMIT_FSIZE, &lim, nil)
}

// errSharedUser is why a command of a user other jobs share gets no file
// size limit from a worker without CAP_SYS_RESOURCE (see limitStarted).
var errSharedUser = errors.New("this worker lacks CAP_SYS_RESOURCE and the job's user is shared with other jobs: its file size is not limited (the workspace is still measured)")

// needsIDs reports whether setting the limit of a command of user u takes
// u's real ids. Setting another process's limit takes CAP_SYS_RESOURCE,
// or the same real ids as it. A root worker has the capability, unless its
// bounding set lacks it (a container's default).
func needsIDs(u *executor.User) bool {
	return u != nil && (u.UID != uint32(os.Getuid()) || u.GID != uint32(os.Getgid())) && !hasSysResource()
}

// hasSysResource reports whether this process has CAP_SYS_RESOURCE in its
// effective set.
var hasSysResource = sync.OnceValue(func() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		if v, ok := bytes.CutPrefix(line, []byte("CapEff:")); ok {
			caps, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 16, 64)
			return err == nil && caps&(1<<unix.CAP_SYS_RESOURCE) != 0
		}
	}
	return false
})

// limitStarted sets the file size limit of the command just started as
// pid. Without trace it calls limitFileSize at once.
//
// trace is set when needsIDs and the user is the job's alone. The command
// was then started with ptrace and stops at its exec, before it runs any
// code of its own. This thread, the tracer, takes the command's real uid
// and gid for a moment. It can then set the limit without
// CAP_SYS_RESOURCE. It takes its own ids back and lets the command go.
//
// While this thread has the command's real uid, a process of that uid
// could signal it, and so stop or kill the worker. The only such process
// is the stopped command itself, as User.Exclusive says its uid is its
// alone. So nothing can.
//
// tainted is true when this thread could not take back its own ids. The
// caller must then let the thread end rather than run anything else.
func limitStarted(pid int, n int64, u *executor.User, trace bool) (err error, tainted bool) {
	if !trace {
		if needsIDs(u) {
			return errSharedUser, false
		}
		return limitFileSize(pid, n), false
	}
	stopped, err := waitExecStop(pid)
	if err != nil || !stopped {
		return err, false // it is gone: nothing to limit
	}
	err, tainted = asRealIDs(u, func() error { return limitFileSize(pid, n) })
	if derr := syscall.PtraceDetach(pid); derr != nil {
		// A command that stays stopped would hang its job: kill it.
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return fmt.Errorf("let the command go after setting its limits: %w", derr), tainted
	}
	return err, tainted
}

// waitExecStop waits until the traced child pid stops at its exec, or
// ends. stopped says which. Neither the stop nor the end is consumed, as
// it waits with WNOWAIT. cmd.Wait reaps the process as any other.
func waitExecStop(pid int) (stopped bool, err error) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WSTOPPED|unix.WNOWAIT, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("wait for the command's exec: %w", err)
		}
		const cldTrapped, cldStopped = 4, 5 // CLD_TRAPPED, CLD_STOPPED
		return info.Code == cldTrapped || info.Code == cldStopped, nil
	}
}

// asRealIDs runs f while this thread's real uid and gid are u's (its
// effective ids stay root's), then takes its own back. It changes this
// thread alone, so the caller must be locked to it. tainted is true when
// the thread's own ids could not be restored.
func asRealIDs(u *executor.User, f func() error) (err error, tainted bool) {
	const keep = ^uintptr(0) // -1: leave that id as it is
	uid, gid := uintptr(os.Getuid()), uintptr(os.Getgid())
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, uintptr(u.GID), keep, keep); e != 0 {
		return fmt.Errorf("take the command's gid: %w", e), false
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, uintptr(u.UID), keep, keep); e != 0 {
		_, _, e2 := syscall.RawSyscall(syscall.SYS_SETRESGID, gid, keep, keep)
		return fmt.Errorf("take the command's uid: %w", e), e2 != 0
	}
	err = f()
	_, _, e1 := syscall.RawSyscall(syscall.SYS_SETRESUID, uid, keep, keep)
	_, _, e2 := syscall.RawSyscall(syscall.SYS_SETRESGID, gid, keep, keep)
	return err, e1 != 0 || e2 != 0
}
