package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
	"golang.org/x/sys/unix"
)

// cancelLatency cancels running processes one at a time.
// For each it times the span from the cancel call's return to the
// process's exit. The workers have no grace period, so a cancel is a
// SIGKILL at once.
func (b *bench) cancelLatency(ctx context.Context) error {
	n := b.cfg.Cancels
	b.logf("cancel latency: %d running processes", n)
	var gone, calls []time.Duration
	for i := range n {
		g, c, err := b.cancelOne(ctx, i)
		if err != nil {
			return err
		}
		gone, calls = append(gone, g), append(calls, c)
	}
	b.res.Cancel = summarise(gone)
	b.res.CancelCall = summarise(calls)
	return nil
}

// cancelCommand prints the shell's pid, then execs sleep in that process.
// The pid the job prints is then the process a cancel must end.
var cancelCommand = []string{"sh", "-c", "echo $$; exec sleep 600"}

// cancelOne runs one job to cancel and times its cancel.
// gone runs from the cancel call's return to the process's exit. call is
// the cancel call itself.
func (b *bench) cancelOne(ctx context.Context, i int) (gone, call time.Duration, err error) {
	j, err := b.submit(ctx, b.spec(drover.ExecutorProcess, cancelCommand...), fmt.Sprintf("%s-cancel-%d", b.runID, i))
	if err != nil {
		return 0, 0, err
	}
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	f := b.followPid(fctx, j.ID)
	pid, err := f.pid(ctx)
	if err != nil {
		return 0, 0, err
	}
	w, err := watchExit(ctx, pid)
	if err != nil {
		return 0, 0, err
	}
	defer w.close()
	t0 := time.Now()
	if _, err := b.api.Cancel(ctx, j.ID); err != nil {
		return 0, 0, fmt.Errorf("cancel %s: %w", j.ID, err)
	}
	t1 := time.Now()
	t2, err := w.wait(ctx)
	if errors.Is(err, errWatchLost) {
		return 0, 0, fmt.Errorf("watching process %d of job %s failed", pid, j.ID)
	}
	if err != nil {
		return 0, 0, err
	}
	if err := f.cancelled(ctx); err != nil {
		return 0, 0, err
	}
	return t2.Sub(t1), t1.Sub(t0), nil
}

// pidFollower follows a cancel job's stdout.
// It hands over the pid the job prints first, and then how the follow
// ended.
type pidFollower struct {
	jobID string
	pids  chan int
	ended chan followEnd
}

// followEnd is how a follow ended.
type followEnd struct {
	end *drover.EndEvent
	err error
}

// followPid starts following job jobID until ctx ends.
func (b *bench) followPid(ctx context.Context, jobID string) *pidFollower {
	f := &pidFollower{jobID: jobID, pids: make(chan int, 1), ended: make(chan followEnd, 1)}
	go func() {
		var out string
		sent := false
		end, err := b.api.Follow(ctx, jobID, drover.Stdout, 0, client.FollowHandler{Output: func(o drover.OutputEvent) {
			if sent {
				return
			}
			out += o.Data
			if pid, ok := firstLinePid(out); ok {
				sent = true
				f.pids <- pid
			}
		}})
		f.ended <- followEnd{end, err}
	}()
	return f
}

// firstLinePid reads a pid from the first line of out.
// ok is false while that line is incomplete. A line that holds no pid
// gives 0.
func firstLinePid(out string) (pid int, ok bool) {
	line, _, ok := strings.Cut(out, "\n")
	if !ok {
		return 0, false
	}
	pid, _ = strconv.Atoi(strings.TrimSpace(line))
	return pid, true
}

// pid waits for the pid the job prints.
func (f *pidFollower) pid(ctx context.Context) (int, error) {
	select {
	case pid := <-f.pids:
		if pid <= 0 {
			return 0, fmt.Errorf("cancel job %s printed no pid", f.jobID)
		}
		return pid, nil
	case e := <-f.ended:
		return 0, fmt.Errorf("cancel job %s ended before it printed its pid: %v %v", f.jobID, e.end, e.err)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// cancelled waits for the follow to end, and checks the job ended
// cancelled.
func (f *pidFollower) cancelled(ctx context.Context) error {
	select {
	case e := <-f.ended:
		if e.err != nil || e.end.State != drover.JobCancelled {
			return fmt.Errorf("cancelled job %s ended %v: %v", f.jobID, e.end, e.err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errWatchLost says an exitWatch stopped without seeing the exit.
var errWatchLost = errors.New("the watch ended before the process exited")

// watchPoll is how long an exitWatch waits at a time before it looks at
// its context again. An exit wakes it at once.
const watchPoll = 100 * time.Millisecond

// exitWatch notes the moment a process exits.
// It watches the process through a pidfd, which becomes readable the
// moment the process exits.
type exitWatch struct {
	fd     int
	exited chan time.Time // gets the time of the exit
	polled chan struct{}  // closed once the watch stopped
	stop   context.CancelFunc
}

// watchExit starts watching process pid until ctx ends or close is called.
func watchExit(ctx context.Context, pid int) (*exitWatch, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d (Linux 5.3 or later is needed): %w", pid, err)
	}
	ctx, stop := context.WithCancel(ctx)
	w := &exitWatch{fd: fd, exited: make(chan time.Time, 1), polled: make(chan struct{}), stop: stop}
	go w.poll(ctx)
	return w, nil
}

// poll waits for the pidfd to become readable and sends the time it did.
// It stops early when ctx ends or the poll fails.
func (w *exitWatch) poll(ctx context.Context) {
	defer close(w.polled)
	fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
	for ctx.Err() == nil {
		n, err := unix.Poll(fds, int(watchPoll/time.Millisecond))
		if n > 0 {
			w.exited <- time.Now()
			return
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// wait returns the time the process exited.
// It returns errWatchLost when the watch stopped without seeing the exit.
func (w *exitWatch) wait(ctx context.Context) (time.Time, error) {
	select {
	case t := <-w.exited:
		return t, nil
	case <-w.polled:
		select {
		case t := <-w.exited:
			return t, nil
		default:
			return time.Time{}, errWatchLost
		}
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
}

// close stops the watch, waits for it and closes the pidfd.
func (w *exitWatch) close() {
	w.stop()
	<-w.polled
	unix.Close(w.fd)
}
