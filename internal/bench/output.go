package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
)

// Clock timing. The output job waits clockDelay before its first line, so
// the follower is attached and nothing arrives by replay. It then prints a
// line every clockEvery.
const (
	clockDelay = 200 * time.Millisecond
	clockEvery = 5 * time.Millisecond
)

// PrintClock is the output job's process when Config.Clock runs drover
// itself. After clockDelay it writes n lines to w, clockEvery apart. Each
// line is the time of its writing in nanoseconds since the Unix epoch.
// Each line is one write, so it leaves as soon as it is stamped.
func PrintClock(ctx context.Context, w io.Writer, n int) error {
	t := time.NewTimer(clockDelay)
	defer t.Stop()
	for i := range n {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if i < n-1 {
			t.Reset(clockEvery)
		}
		if _, err := w.Write(append(strconv.AppendInt(nil, time.Now().UnixNano(), 10), '\n')); err != nil {
			return err
		}
	}
	return nil
}

// outputLatency runs Config.Clock, a process that prints its clock every
// clockEvery. It follows the output over SSE, as drover logs -f does. Each
// line's latency is its arrival at the follower minus the time it carries.
func (b *bench) outputLatency(ctx context.Context) error {
	n := b.cfg.OutputLines
	b.logf("output latency: %d timestamped lines", n)
	cmd := append(slices.Clip(b.cfg.Clock), strconv.Itoa(n))
	if len(b.cfg.Clock) == 0 {
		script := fmt.Sprintf(`sleep %g; i=0; while [ $i -lt "$1" ]; do date +%%s%%N; sleep %g; i=$((i+1)); done`,
			clockDelay.Seconds(), clockEvery.Seconds())
		cmd = []string{"sh", "-c", script, "clock", strconv.Itoa(n)}
	}
	j, err := b.submit(ctx, b.spec(drover.ExecutorProcess, cmd...), b.runID+"-output")
	if err != nil {
		return err
	}
	var (
		partial string
		ds      []time.Duration
		bad     error
	)
	end, err := b.api.Follow(ctx, j.ID, drover.Stdout, 0, client.FollowHandler{Output: func(o drover.OutputEvent) {
		now := time.Now()
		partial += o.Data
		for {
			line, rest, ok := strings.Cut(partial, "\n")
			if !ok {
				break
			}
			partial = rest
			ns, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
			if err != nil {
				bad = fmt.Errorf("output line %q of %q is not a timestamp in nanoseconds (with the default clock: is date(1) GNU coreutils?)", line, cmd)
				continue
			}
			ds = append(ds, now.Sub(time.Unix(0, ns)))
		}
	}})
	if err != nil {
		return err
	}
	if end.State != drover.JobCompleted {
		return fmt.Errorf("output job %s ended %s: %s", j.ID, end.State, end.Message)
	}
	if bad != nil {
		return bad
	}
	if len(ds) != n {
		return fmt.Errorf("output job %s: %d lines arrived, want %d", j.ID, len(ds), n)
	}
	b.res.Output = summarise(ds)
	return nil
}
