//go:build linux

package process

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor"
)

// readSize is the most output read, and handed to the sink, at once.
const readSize = 32 << 10

// readBufs holds the pipes' read buffers between jobs. Fresh buffers for
// each job were a large share of what a short job allocated on a busy
// worker. They made the garbage collector run that much more often.
var readBufs = sync.Pool{New: func() any { return new([readSize]byte) }}

// proc is one started command: the leader of its own process group.
type proc struct {
	cmd  *exec.Cmd
	pgid int // the leader's pid
	// exited is closed once the leader has exited. It is then a zombie
	// until cmd.Wait reaps it. Meanwhile its pid, which is the group id,
	// cannot be reused. Signals to -pgid thus reach only the job's
	// processes.
	exited         chan struct{}
	stdout, stderr *os.File // our read ends of the output pipes
	closeOnce      sync.Once
	limitErr       error // why the file size limit could not be set
}

// start starts the command with its output on two fresh pipes. path is
// what resolve returned: relative paths are evaluated in dir.
//
// The child is started with Pdeathsig SIGKILL so that a worker killed with
// SIGKILL does not leave its command running. Limits:
//   - Linux sends it when the thread that forked the child ends, not the
//     process. Go ends a thread when a goroutine exits while locked to it,
//     so the forking goroutine stays locked to its thread until the child
//     has exited (one OS thread per running command; it sits in waitid
//     anyway).
//   - Only the direct child gets it. Its own children, in the same process
//     group, are orphaned and keep running if the worker dies abruptly;
//     a restarted worker does not know about them.
//   - execve of a set-user-ID, set-group-ID or file-capability program
//     clears it.
//
// With a user, the child takes that uid and gid and drops its supplementary
// groups before it enters dir and execs. The kernel clears a parent-death
// signal when credentials change, so it must be set after the change, which
// Go does.
//
// A positive fsize is the command's file size limit (limitStarted); p.limitErr
// says why it could not be set.
func start(path string, argv []string, dir string, env []string, user *executor.User, fsize int64) (*proc, error) {
	outR, outW, err := outputPipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := outputPipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	p := &proc{exited: make(chan struct{}), stdout: outR, stderr: errR}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// A thread whose credentials could not be restored (limitStarted)
		// must not run anything else: Go ends a thread whose goroutine
		// returns while locked to it.
		tainted := false
		defer func() {
			if !tainted {
				runtime.UnlockOSThread()
			}
		}()
		attrs := childAttrs{cred: credential(user), trace: fsize > 0 && needsIDs(user) && user.Exclusive}
		cmd, err := spawn(path, argv, dir, env, attrs, outW, errW)
		if err == nil {
			p.cmd, p.pgid = cmd, cmd.Process.Pid
			if fsize > 0 {
				p.limitErr, tainted = limitStarted(p.pgid, fsize, user, attrs.trace)
			}
		}
		started <- err
		if err != nil {
			return
		}
		waitExited(p.pgid)
		close(p.exited)
	}()
	err = <-started
	// The child has its copies; ours must go so the pipes reach EOF when
	// the job's processes are gone.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	return p, nil
}

// outputPipe is os.Pipe for a child's output. The read end is ours and goes
// through the runtime's poller. The write end is the child's and stays
// blocking, as a program expects its stdout. os.Pipe would make both ends
// pollable, then the write end blocking again when the child gets it.
// That costs system calls for nothing.
func outputPipe() (r, w *os.File, err error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, os.NewSyscallError("pipe2", err)
	}
	if err := syscall.SetNonblock(p[0], true); err != nil {
		syscall.Close(p[0])
		syscall.Close(p[1])
		return nil, nil, os.NewSyscallError("setnonblock", err)
	}
	// NewFile makes a non-blocking descriptor pollable, a blocking one not.
	r, w = os.NewFile(uintptr(p[0]), "|0"), os.NewFile(uintptr(p[1]), "|1")
	if r.SetReadDeadline(time.Time{}) != nil {
		// The poller refused it, with no watch left, say. It is then read
		// blocking, as os.Pipe would, rather than fail every read with
		// EAGAIN.
		if err := syscall.SetNonblock(p[0], false); err != nil {
			r.Close()
			w.Close()
			return nil, nil, os.NewSyscallError("setnonblock", err)
		}
	}
	return r, w, nil
}

// maxBusyDelay is the longest wait between two starts of a busy program.
// The waits double from a millisecond.
const maxBusyDelay = 256 * time.Millisecond

// spawn starts path. When the kernel refuses it as a format it cannot
// execute and it looks like text, spawn runs it with /bin/sh. It is then a
// script without a #! line, and a POSIX shell and execvp do the same.
//
// A program just written, such as a bundle's, can be busy for a moment
// with ETXTBSY. A process forked meanwhile for another attempt holds the
// descriptor it was written through until that process execs. See
// golang.org/issue/22315. The start is then tried again, with waits that
// double up to maxBusyDelay.
func spawn(path string, argv []string, dir string, env []string, attrs childAttrs, stdout, stderr *os.File) (*exec.Cmd, error) {
	cmd := command(path, argv, dir, env, attrs, stdout, stderr)
	err := cmd.Start()
	for delay := time.Millisecond; errors.Is(err, syscall.ETXTBSY) && delay <= maxBusyDelay; delay *= 2 {
		time.Sleep(delay)
		cmd = command(path, argv, dir, env, attrs, stdout, stderr)
		err = cmd.Start()
	}
	if errors.Is(err, syscall.ENOEXEC) && looksLikeScript(inDir(dir, path)) {
		shArgv := append([]string{"sh", path}, argv[1:]...)
		cmd = command("/bin/sh", shArgv, dir, env, attrs, stdout, stderr)
		err = cmd.Start()
	}
	return cmd, err
}

// childAttrs is what a child is started with besides its command.
type childAttrs struct {
	cred  *syscall.Credential // nil keeps the worker's user
	trace bool                // stop at the exec, for limitStarted
}

// credential is what the child switches to. nil keeps the worker's user.
// Otherwise the child takes the user's uid and gid and no supplementary
// groups. An empty Groups with NoSetGroups false clears those.
func credential(u *executor.User) *syscall.Credential {
	if u == nil {
		return nil
	}
	return &syscall.Credential{Uid: u.UID, Gid: u.GID}
}

func command(path string, argv []string, dir string, env []string, attrs childAttrs, stdout, stderr *os.File) *exec.Cmd {
	return &exec.Cmd{
		Path:   path,
		Args:   argv,
		Dir:    dir,
		Env:    env,
		Stdin:  nil, // /dev/null
		Stdout: stdout,
		Stderr: stderr,
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid:    true,
			Pdeathsig:  syscall.SIGKILL,
			Credential: attrs.cred,
			Ptrace:     attrs.trace,
		},
	}
}

// waitExited blocks until the process pid has exited, without reaping it.
// It calls waitid with WNOWAIT, so the process group id stays reserved
// until cmd.Wait. The syscall package has no waitid, hence the raw call.
func waitExited(pid int) {
	const pPID = 1     // P_PID
	var info [128]byte // siginfo_t, unused
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info)), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		if errno != syscall.EINTR {
			// Anything but success means there is nothing left to wait
			// for (ECHILD); cmd.Wait reports it.
			return
		}
	}
}

// copyOutput copies both pipes into out, one goroutine each, a chunk as
// soon as it is read. The returned channel is closed when both reached
// EOF (every writer gone) or were closed by closeOutput.
func (p *proc) copyOutput(out executor.Sink) <-chan struct{} {
	var wg sync.WaitGroup
	pump := func(f *os.File, stream drover.Stream) {
		b := readBufs.Get().(*[readSize]byte)
		defer readBufs.Put(b)
		buf := b[:]
		for {
			n, err := f.Read(buf)
			if n > 0 {
				out.Write(stream, buf[:n])
			}
			if err != nil {
				return
			}
		}
	}
	wg.Go(func() { pump(p.stdout, drover.Stdout) })
	wg.Go(func() { pump(p.stderr, drover.Stderr) })
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// closeOutput closes our read ends, which unblocks the readers.
func (p *proc) closeOutput() {
	p.closeOnce.Do(func() {
		p.stdout.Close()
		p.stderr.Close()
	})
}

// signal sends sig to the whole process group. Only call it before
// cmd.Wait (see exited).
func (p *proc) signal(sig syscall.Signal) {
	// ESRCH (the group is already empty) is what we want anyway.
	_ = syscall.Kill(-p.pgid, sig)
}

// await returns once the leader has exited. If ctx is done first it stops
// the group. It sends SIGTERM, then SIGKILL after grace. SIGKILL comes at
// once when grace is 0 or hurry is closed.
func (p *proc) await(ctx context.Context, grace time.Duration, hurry <-chan struct{}) {
	select {
	case <-p.exited:
		return
	case <-ctx.Done():
	}
	select {
	case <-hurry:
		grace = 0
	default:
	}
	if grace <= 0 {
		p.signal(syscall.SIGKILL)
		<-p.exited
		return
	}
	p.signal(syscall.SIGTERM)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	select {
	case <-p.exited:
		// The leader is gone. It is often a `sh -c` wrapper that dies on
		// SIGTERM at once. The processes it started got SIGTERM too and
		// may still be cleaning up. They get the rest of the grace period
		// before the caller kills the group.
		p.awaitGroup(deadline.C, hurry)
	case <-deadline.C:
		p.signal(syscall.SIGKILL)
		<-p.exited
	case <-hurry:
		p.signal(syscall.SIGKILL)
		<-p.exited
	}
}

// awaitGroup returns when no live process is left in the group, or when
// deadline fires. The kernel does not tell us when a process that is not
// our child exits. awaitGroup therefore polls /proc, less often as it
// waits longer. It runs only during a grace period.
func (p *proc) awaitGroup(deadline <-chan time.Time, hurry <-chan struct{}) {
	interval := 5 * time.Millisecond
	for groupAlive(p.pgid) {
		tick := time.NewTimer(interval)
		select {
		case <-deadline:
			tick.Stop()
			return
		case <-hurry:
			tick.Stop()
			return
		case <-tick.C:
		}
		interval = min(2*interval, 100*time.Millisecond)
	}
}
