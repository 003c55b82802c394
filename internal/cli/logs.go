package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
)

// logsFlags are drover logs' flags.
type logsFlags struct {
	cf      clientFlags
	follow  bool
	stream  string
	attempt int
	// attemptSet says --attempt was given, so that --attempt 0 is refused.
	attemptSet bool
}

func (lf *logsFlags) add(a *app, fs *flag.FlagSet) {
	lf.cf.add(a, fs)
	fs.BoolVar(&lf.follow, "f", false, "follow: stream new output until the job ends")
	fs.BoolVar(&lf.follow, "follow", false, "same as -f")
	fs.StringVar(&lf.stream, "stream", "", "only stdout or stderr")
	fs.IntVar(&lf.attempt, "attempt", 0, "only this attempt's output (1 is the first; default: every attempt's, in order)")
}

// cmdLogs is drover logs.
// It writes a job's stdout to stdout and its stderr to stderr, in the
// order the job wrote them, as docker logs does. With -f it goes on until
// the job ends.
func cmdLogs(ctx context.Context, a *app, args []string) int {
	fs := newFlags(a, "logs")
	var lf logsFlags
	lf.add(a, fs)
	pos, err := parse(fs, args)
	if err != nil {
		return usageCode(err)
	}
	fs.Visit(func(f *flag.Flag) { lf.attemptSet = lf.attemptSet || f.Name == "attempt" })
	if err := lf.validate(pos); err != nil {
		a.errorf("%v", err)
		return exitUsage
	}
	c, id := lf.cf.client(), pos[0]
	if lf.attempt > 0 {
		if code := lf.checkAttempt(ctx, a, c, id, false); code != exitOK {
			return code
		}
	}
	if code := lf.write(ctx, a, c, id); code != exitOK {
		return code
	}
	if lf.attempt > 0 && lf.follow {
		return lf.checkAttempt(ctx, a, c, id, true)
	}
	return exitOK
}

// validate refuses arguments drover logs cannot take, naming the flag.
// pos are the arguments left after the flags.
func (lf *logsFlags) validate(pos []string) error {
	switch {
	case len(pos) != 1:
		return errors.New("logs takes one job id, e.g. drover logs -f job_...")
	case lf.stream != "" && lf.stream != "stdout" && lf.stream != "stderr":
		return fmt.Errorf("--stream %q: use stdout or stderr", lf.stream)
	case lf.attempt < 0 || lf.attemptSet && lf.attempt == 0:
		return fmt.Errorf("--attempt %d: attempts are numbered from 1 (leave --attempt out for every attempt's output)", lf.attempt)
	}
	return nil
}

// checkAttempt refuses an --attempt that job id does not have and never
// will. Such an attempt is a mistake to say, not an empty output. ended
// says the follow has reached the job's end.
func (lf *logsFlags) checkAttempt(ctx context.Context, a *app, c *client.Client, id string, ended bool) int {
	j, err := c.Job(ctx, id)
	if err != nil {
		a.apiError(lf.cf.server, err)
		return exitError
	}
	if msg := missingAttempt(j, lf.attempt, lf.follow, ended); msg != "" {
		a.errorf("--attempt %d: %s", lf.attempt, msg)
		return exitError
	}
	return exitOK
}

// missingAttempt says why job j has no attempt n to show, or "" if it may
// have one. Without follow, or once the job is final, a missing attempt
// never comes. ended says the follow has reached the job's end.
func missingAttempt(j *drover.Job, n int, follow, ended bool) string {
	switch {
	case n <= len(j.Attempts):
		return ""
	case ended:
		return fmt.Sprintf("job %s ended %s after %d attempt(s)", j.ID, j.State, len(j.Attempts))
	case !follow || j.State.Final():
		return fmt.Sprintf("job %s has %d attempt(s)", j.ID, len(j.Attempts))
	}
	return ""
}

// write streams job id's output to stdout and stderr.
// Without -f it stops at the stream's first state event. The coordinator
// sends that event once it has sent all the output stored so far.
func (lf *logsFlags) write(ctx context.Context, a *app, c *client.Client, id string) int {
	fctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	out := &logsOutput{a: a, attempt: lf.attempt, marks: isTerminal(a.stderr)}
	h := client.FollowHandler{Output: out.write}
	if !lf.follow {
		h.State = func(drover.StateEvent) { stop(errCaughtUp) }
		h.Disconnected = func(error, time.Duration) bool { return false }
	}
	if _, err := c.Follow(fctx, id, drover.Stream(lf.stream), 0, h); err != nil {
		switch {
		case context.Cause(fctx) == errCaughtUp:
			return exitOK
		case ctx.Err() != nil:
			return exitCancelled
		}
		a.apiError(lf.cf.server, err)
		return exitError
	}
	return exitOK
}

// logsOutput writes the output of one attempt, or of every attempt.
// With marks, a line on stderr marks where a retry's output begins.
type logsOutput struct {
	a       *app
	attempt int  // the attempt to show, or 0 for all
	marks   bool // stderr is a terminal
	last    int  // the attempt of the last output written
}

func (o *logsOutput) write(e drover.OutputEvent) {
	if o.attempt != 0 && e.AttemptN != o.attempt {
		return
	}
	if o.marks && o.last != 0 && e.AttemptN != o.last {
		fmt.Fprintf(o.a.stderr, "drover: --- attempt %d ---\n", e.AttemptN)
	}
	o.last = e.AttemptN
	o.a.writeOutput(e)
}

// errCaughtUp stops drover logs (without -f) once it has the output so far.
var errCaughtUp = errors.New("caught up")
