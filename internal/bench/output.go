package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
)

// outputLatency runs a process that prints its clock (date +%s%N) every
// 5 ms and follows its output over SSE, as drover logs -f does: each
// line's latency is its arrival at the follower minus the time it carries.
// The job waits 200 ms before its first line so the follower is attached
// and nothing arrives by replay.
func (b *bench) outputLatency(ctx context.Context) error {
	n := b.cfg.OutputLines
	b.logf("output latency: %d timestamped lines", n)
	script := fmt.Sprintf(`sleep 0.2; i=0; while [ $i -lt %d ]; do date +%%s%%N; sleep 0.005; i=$((i+1)); done`, n)
	j, err := b.submit(ctx, b.spec(drover.ExecutorProcess, "sh", "-c", script), b.runID+"-output")
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
				bad = fmt.Errorf("output line %q is not a timestamp: is date(1) GNU coreutils?", line)
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
