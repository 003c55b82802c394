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

// cancelLatency cancels running processes and times, for each, from the
// return of the cancel call to the process being gone. The job prints its
// pid and execs sleep (same pid); the bench watches it with a pidfd, which
// becomes readable the moment the process exits. The workers have no
// grace period, so a cancel is SIGKILL at once.
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

func (b *bench) cancelOne(ctx context.Context, i int) (gone, call time.Duration, err error) {
	j, err := b.submit(ctx, b.spec(drover.ExecutorProcess, "sh", "-c", "echo $$; exec sleep 600"), fmt.Sprintf("%s-cancel-%d", b.runID, i))
	if err != nil {
		return 0, 0, err
	}
	pids := make(chan int, 1)
	type ending struct {
		end *drover.EndEvent
		err error
	}
	ended := make(chan ending, 1)
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		var out string
		sent := false
		end, err := b.api.Follow(fctx, j.ID, drover.Stdout, 0, client.FollowHandler{Output: func(o drover.OutputEvent) {
			out += o.Data
			if line, _, ok := strings.Cut(out, "\n"); ok && !sent {
				sent = true
				pid, _ := strconv.Atoi(strings.TrimSpace(line))
				pids <- pid
			}
		}})
		ended <- ending{end, err}
	}()
	var pid int
	select {
	case pid = <-pids:
	case e := <-ended:
		return 0, 0, fmt.Errorf("cancel job %s ended before it printed its pid: %v %v", j.ID, e.end, e.err)
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	if pid <= 0 {
		return 0, 0, fmt.Errorf("cancel job %s printed no pid", j.ID)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return 0, 0, fmt.Errorf("pidfd_open %d (Linux 5.3 or later is needed): %w", pid, err)
	}
	// The watcher wakes every 100 ms to see whether it should give up; an
	// exit wakes it at once.
	exited := make(chan time.Time, 1)
	pctx, stopPoll := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for pctx.Err() == nil {
			n, err := unix.Poll(fds, 100)
			if n > 0 {
				exited <- time.Now()
				return
			}
			if err != nil && !errors.Is(err, unix.EINTR) {
				return
			}
		}
	}()
	defer func() { stopPoll(); <-polled; unix.Close(fd) }()
	t0 := time.Now()
	if _, err := b.api.Cancel(ctx, j.ID); err != nil {
		return 0, 0, fmt.Errorf("cancel %s: %w", j.ID, err)
	}
	t1 := time.Now()
	var t2 time.Time
	select {
	case t2 = <-exited:
	case <-polled:
		select {
		case t2 = <-exited:
		default:
			return 0, 0, fmt.Errorf("watching process %d of job %s failed", pid, j.ID)
		}
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	select {
	case e := <-ended:
		if e.err != nil || e.end.State != drover.JobCancelled {
			return 0, 0, fmt.Errorf("cancelled job %s ended %v: %v", j.ID, e.end, e.err)
		}
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	return t2.Sub(t1), t1.Sub(t0), nil
}
