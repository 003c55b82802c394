package cli

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
	"github.com/drover-dev/drover/internal/retry"
)

// submitRetry retries a submission that failed on the way. An answer of
// the coordinator's is final. So is a certificate the CLI cannot trust:
// waiting does not fix it.
var submitRetry = retry.Policy{
	Backoff:   retry.Backoff{First: 200 * time.Millisecond},
	Tries:     5,
	Retryable: func(err error) bool { return client.Temporary(err) && !client.Untrusted(err) },
}

// submitWithRetry submits spec and retries transient failures. Every try
// carries the same idempotency key. So a submission is never lost, and a
// retry never doubles it.
func submitWithRetry(ctx context.Context, c *client.Client, spec drover.JobSpec) (*drover.Job, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	key := hex.EncodeToString(b[:])
	var j *drover.Job
	err := retry.Do(ctx, submitRetry, func(ctx context.Context) (err error) {
		j, err = c.Submit(ctx, spec, key)
		return err
	})
	return j, err
}

// submitCmd is what submit and run share. It parses the job flags, uploads
// the bundle and submits. On failure it has printed why and returns the
// exit code. That is usageCode for bad flags or an invalid job, and
// failCode for errors past them.
func submitCmd(ctx context.Context, a *app, name string, args []string, usageCode, failCode int, extra func(*flag.FlagSet)) (*client.Client, *clientFlags, *drover.Job, int) {
	fs := newFlags(a, name)
	cf := &clientFlags{}
	var jf jobFlags
	cf.add(a, fs)
	jf.add(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, nil, exitOK
		}
		return nil, nil, nil, usageCode
	}
	spec, err := jf.spec(fs.Args())
	if err != nil {
		a.errorf("%v", err)
		return nil, nil, nil, usageCode
	}
	c := cf.client()
	if jf.bundle != "" {
		// Interruptible: no job exists yet.
		if spec.Bundle, err = uploadBundle(ctx, a, c, jf.bundle); err != nil {
			if ctx.Err() != nil {
				a.errorf("interrupted before submitting (while sending the bundle)")
				return nil, nil, nil, exitCancelled
			}
			a.apiError(cf.server, err)
			return nil, nil, nil, failCode
		}
	}
	if ctx.Err() != nil {
		a.errorf("interrupted before submitting")
		return nil, nil, nil, exitCancelled
	}
	// Ctrl-C must not cut the submission itself short (the coordinator may
	// have the job already); the caller looks at ctx afterwards.
	j, err := submitWithRetry(context.WithoutCancel(ctx), c, spec)
	if err != nil {
		a.apiError(cf.server, err)
		return nil, nil, nil, failCode
	}
	return c, cf, j, exitOK
}

func cmdSubmit(ctx context.Context, a *app, args []string) int {
	_, _, j, code := submitCmd(ctx, a, "submit", args, exitUsage, exitError, nil)
	if j == nil {
		return code
	}
	fmt.Fprintln(a.stdout, printable(j.ID))
	return exitOK
}

func cmdRun(ctx context.Context, a *app, args []string) int {
	var detach, verbose bool
	patience := patienceFlag(followGiveUp)
	// Bad flags exit 125 too, as docker run's do: 2 could be the job's own.
	c, cf, j, code := submitCmd(ctx, a, "run", args, exitDrover, exitDrover, func(fs *flag.FlagSet) {
		fs.BoolVar(&detach, "detach", false, "print the job id and return; Ctrl-C then leaves the job running")
		fs.BoolVar(&detach, "d", false, "short for --detach")
		fs.BoolVar(&verbose, "v", false, "print where the job is (queued, why, which worker) on stderr")
		fs.Var(&patience, "patience", "keep trying for this `duration` to reach a coordinator that went away, then exit 125 (the job goes on)")
	})
	if j == nil {
		return code
	}
	if detach {
		fmt.Fprintln(a.stdout, printable(j.ID))
		return exitOK
	}
	if ctx.Err() != nil {
		// Interrupted while submitting: the job exists; cancel it and
		// report how it ends (it may have ended already).
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := c.Cancel(cctx, j.ID); err != nil && !drover.IsCode(err, drover.ECONFLICT) {
			a.apiError(cf.server, err)
			a.errorf("%s may still run: drover cancel %s", j.ID, j.ID)
			return exitDrover
		}
		return followJob(context.WithoutCancel(ctx), a, c, cf.server, j.ID, verbose, false, time.Duration(patience))
	}
	if verbose || isTerminal(a.stderr) {
		verbose = true
	}
	return followJob(ctx, a, c, cf.server, j.ID, verbose, true, time.Duration(patience))
}

// followJob streams a job's output to stdout and stderr until the job
// ends. It returns the exit code the CLI exits with. With cancelOnSignal
// the first Ctrl-C cancels the job, and the stream goes on to the job's
// end. A second Ctrl-C leaves at once. Without cancelOnSignal the first
// one leaves. A coordinator away for longer than patience ends the follow.
func followJob(ctx context.Context, a *app, c *client.Client, server, id string, verbose, cancelOnSignal bool, patience time.Duration) int {
	fctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	f := &follower{a: a, c: c, server: server, id: id, verbose: verbose, patience: patience}
	interrupts := make(chan struct{})
	go func() { defer close(interrupts); f.onInterrupt(ctx, fctx, stop, cancelOnSignal) }()
	defer func() { stop(); <-interrupts }()
	end, err := c.Follow(fctx, id, "", 0, f.handler(fctx))
	return f.exitCode(end, err, fctx.Err() != nil)
}

// follower is drover run's view of the job it follows. Follow calls its
// handlers one at a time.
type follower struct {
	a        *app
	c        *client.Client
	server   string
	id       string
	verbose  bool
	patience time.Duration // how long the coordinator may be away; 0: followGiveUp

	cancelAsked atomic.Bool         // the coordinator accepted the job's cancellation
	lastState   string              // the last state line said
	warned      bool                // the loss of the coordinator was said
	lost        bool                // the coordinator is away
	workerName  func(string) string // read when a worker first shows up
}

// onInterrupt waits for ctx to end, as Ctrl-C ends it. Then it stops the
// follow, or with cancelJob it cancels the job. After a cancel, a second
// Ctrl-C stops the follow. It returns once fctx ends.
func (f *follower) onInterrupt(ctx, fctx context.Context, stop context.CancelFunc, cancelJob bool) {
	select {
	case <-fctx.Done():
		return
	case <-ctx.Done():
	}
	if !cancelJob {
		stop()
		return
	}
	second := make(chan os.Signal, 1)
	signal.Notify(second, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(second)
	f.cancel(fctx)
	select {
	case <-second:
		stop()
	case <-fctx.Done():
	}
}

// cancel asks the coordinator to cancel the job, and says so on stderr.
func (f *follower) cancel(ctx context.Context) {
	if isTerminal(f.a.stderr) {
		fmt.Fprintln(f.a.stderr) // past the ^C the terminal echoed
	}
	fmt.Fprintf(f.a.stderr, "drover: cancelling %s (Ctrl-C again to leave it)\n", f.id)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := f.c.Cancel(cctx, f.id); err != nil && !drover.IsCode(err, drover.ECONFLICT) {
		f.a.apiError(f.server, err)
	} else if err == nil {
		f.cancelAsked.Store(true)
	}
}

// handler is what Follow calls with the job's events.
func (f *follower) handler(ctx context.Context) client.FollowHandler {
	return client.FollowHandler{
		Output: func(o drover.OutputEvent) {
			f.back()
			f.a.writeOutput(o)
		},
		State: func(s drover.StateEvent) {
			f.back()
			f.state(ctx, s)
		},
		Disconnected: f.disconnected,
	}
}

// state says on stderr where the job is, once for each change.
func (f *follower) state(ctx context.Context, s drover.StateEvent) {
	line := stateLine(f.id, s, f.verbose, func(workerID string) string { return f.worker(ctx, workerID) })
	if line != "" && line != f.lastState {
		fmt.Fprintf(f.a.stderr, "drover: %s\n", printable(line))
		f.lastState = line
	}
}

// worker returns the name of the worker workerID. It reads the workers
// again for one it does not know yet.
func (f *follower) worker(ctx context.Context, workerID string) string {
	if f.workerName == nil || f.workerName(workerID) == workerID {
		f.workerName = workerNames(ctx, f.c)
	}
	return f.workerName(workerID)
}

// stateLine is what drover run says of a state event, or "" for nothing.
// Without verbose it says only why a job was requeued. A retry is news
// even to a script. With verbose it says each state but the last, and
// why a queued job waits. worker names a worker from its id.
func stateLine(id string, s drover.StateEvent, verbose bool, worker func(string) string) string {
	requeued := s.State == drover.JobQueued && s.Attempt > 0 && s.Message != ""
	if !verbose {
		if requeued {
			return s.Message
		}
		return ""
	}
	if s.State.Final() {
		return ""
	}
	line := fmt.Sprintf("%s %s", id, strings.ToLower(string(s.State)))
	switch {
	case requeued:
		// Why first, which is how the last attempt ended. Then what the
		// job waits for.
		line += ": " + s.Message
		if s.PendingReason != "" {
			line += "; " + s.PendingReason
		}
	case s.State == drover.JobQueued && s.PendingReason != "":
		line += ": " + s.PendingReason
	case s.State == drover.JobQueued && s.Message != "":
		line += ": " + s.Message
	case s.WorkerID != "":
		line += fmt.Sprintf(" on %s (attempt %d)", worker(s.WorkerID), s.Attempt)
	}
	return line
}

// disconnected says once that the coordinator was lost. It gives up after
// patience.
func (f *follower) disconnected(err error, down time.Duration) bool {
	if !f.warned {
		f.warned = true
		f.a.errorf("lost the coordinator at %s (%v); retrying, the job goes on", f.server, err)
	}
	f.lost = true
	return down < cmp.Or(f.patience, followGiveUp)
}

// back says once that the stream flows again after a lost coordinator.
func (f *follower) back() {
	if f.lost {
		f.lost, f.warned = false, false
		f.a.errorf("reached the coordinator at %s again", f.server)
	}
}

// exitCode is drover run's exit code once the follow ended. left says the
// user stopped following.
func (f *follower) exitCode(end *drover.EndEvent, err error, left bool) int {
	if err != nil {
		if left {
			if f.cancelAsked.Load() {
				f.a.errorf("stopped following %s; its cancellation goes on: see drover status %s", f.id, f.id)
			} else {
				f.a.errorf("left %s running on request; follow it with: drover logs -f %s", f.id, f.id)
			}
			return exitCancelled
		}
		f.a.apiError(f.server, err)
		f.a.errorf("the job may still run: follow it with drover logs -f %s", f.id)
		return exitDrover
	}
	if f.cancelAsked.Load() && end.State == drover.JobCompleted {
		f.a.errorf("%s completed before the cancel reached it", f.id)
	}
	return exitCodeOf(f.a, f.id, end)
}

// followGiveUp is how long drover run keeps trying to reach a coordinator
// that went away before it gives up (exit 125), unless --patience says.
// The job itself goes on.
const followGiveUp = 2 * time.Minute

// patienceFlag is --patience: a positive duration.
type patienceFlag time.Duration

func (p *patienceFlag) String() string { return time.Duration(*p).String() }

func (p *patienceFlag) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return errors.New("use a positive duration like 30s or 5m")
	}
	*p = patienceFlag(d)
	return nil
}

// exitCodeOf maps a job's end to the CLI's exit code, saying on stderr why
// when the job did not simply exit.
func exitCodeOf(a *app, id string, end *drover.EndEvent) int {
	switch end.State {
	case drover.JobCompleted:
		return exitOK
	case drover.JobCancelled:
		a.errorf("%s was cancelled", id)
		return exitCancelled
	}
	switch end.Reason {
	case drover.ReasonExitCode:
		if end.ExitCode != nil {
			return *end.ExitCode
		}
	case drover.ReasonTimeout:
		a.errorf("%s: %s", id, orText(end.Message, "timed out"))
		return exitTimeout
	case drover.ReasonOOMKilled:
		a.errorf("%s: killed for exceeding its memory limit (raise --memory)", id)
		return exitOOM
	case drover.ReasonWorkspaceLimit:
		a.errorf("%s: %s", id, printable(orText(end.Message, "killed for writing past its worker's workspace limit")))
		return exitWorkspace
	}
	a.errorf("%s failed: %s (%s)", id, orText(end.Message, "drover could not run it"), end.Reason)
	return exitDrover
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func cmdStatus(ctx context.Context, a *app, args []string) int {
	fs := newFlags(a, "status")
	var cf clientFlags
	var asJSON bool
	cf.add(a, fs)
	fs.BoolVar(&asJSON, "json", false, "print the job as the API returns it")
	pos, err := parse(fs, args)
	if err != nil {
		return usageCode(err)
	}
	if len(pos) != 1 {
		a.errorf("status takes one job id")
		return exitUsage
	}
	c := cf.client()
	j, err := c.Job(ctx, pos[0])
	if err != nil {
		a.apiError(cf.server, err)
		return exitError
	}
	if asJSON {
		return a.printJSON(j)
	}
	printJob(a, j, workerNames(ctx, c))
	return exitOK
}

// workerNames maps worker ids to "name (id)" for display; ids of workers
// that left stay as they are.
func workerNames(ctx context.Context, c *client.Client) func(id string) string {
	names := map[string]string{}
	if ws, err := c.Workers(ctx); err == nil {
		for _, w := range ws {
			names[w.ID] = w.Name
		}
	}
	return func(id string) string {
		if n, ok := names[id]; ok && n != "" {
			return n
		}
		return orText(id, "-")
	}
}

func printJob(a *app, j *drover.Job, worker func(string) string) {
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "id:\t%s\n", printable(j.ID))
	if j.Spec.Name != "" {
		fmt.Fprintf(w, "name:\t%s\n", printable(j.Spec.Name))
	}
	fmt.Fprintf(w, "command:\t%s\n", printable(j.Spec.Command.String()))
	state := string(j.State)
	if j.CancelRequestedAt != nil && !j.State.Final() {
		state += " (cancelling)"
	}
	fmt.Fprintf(w, "state:\t%s\n", printable(state))
	if j.ExitCode != nil {
		fmt.Fprintf(w, "exit code:\t%d\n", *j.ExitCode)
	}
	if j.Reason != "" {
		fmt.Fprintf(w, "reason:\t%s\n", printable(string(j.Reason)))
	}
	if j.Message != "" {
		fmt.Fprintf(w, "message:\t%s\n", printable(j.Message))
	}
	if j.State == drover.JobQueued && j.PendingReason != "" {
		fmt.Fprintf(w, "pending:\t%s\n", printable(j.PendingReason))
	}
	exec := j.Spec.Executor
	if exec == "" {
		exec = "any"
	}
	if j.Spec.Image != "" {
		exec += " " + j.Spec.Image
	}
	fmt.Fprintf(w, "resources:\t%s CPU, %s memory, executor %s\n", drover.FormatCPU(j.Spec.Resources.CPU), drover.FormatMemory(j.Spec.Resources.MemoryMB), printable(exec))
	fmt.Fprintf(w, "created:\t%s\n", j.CreatedAt.Local().Format(time.RFC3339))
	if j.StartedAt != nil {
		fmt.Fprintf(w, "started:\t%s\n", j.StartedAt.Local().Format(time.RFC3339))
	}
	if j.CompletedAt != nil {
		fmt.Fprintf(w, "completed:\t%s", j.CompletedAt.Local().Format(time.RFC3339))
		if j.StartedAt != nil {
			fmt.Fprintf(w, " (ran %s)", j.CompletedAt.Sub(*j.StartedAt).Round(time.Millisecond))
		}
		fmt.Fprintln(w)
	}
	if j.OutputDropped > 0 {
		fmt.Fprintf(w, "output:\t%d bytes (%d of them dropped by the coordinator's output cap: it keeps the first and last parts)\n", j.OutputBytes, j.OutputDropped)
	} else {
		fmt.Fprintf(w, "output:\t%d bytes\n", j.OutputBytes)
	}
	w.Flush()
	if len(j.Attempts) > 0 {
		fmt.Fprintln(a.stdout, "\nattempts:")
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  #\tWORKER\tSTATE\tEXIT\tREASON\tRAN\tMESSAGE")
		for _, at := range j.Attempts {
			exit := "-"
			if at.ExitCode != nil {
				exit = fmt.Sprint(*at.ExitCode)
			}
			ran := "-"
			if at.StartedAt != nil && at.FinishedAt != nil {
				ran = at.FinishedAt.Sub(*at.StartedAt).Round(time.Millisecond).String()
			}
			name := workerName(worker, at.WorkerID, at.WorkerName)
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\n", at.N, printable(name), printable(string(at.State)), exit, printable(orText(string(at.Reason), "-")), ran, printable(at.Message))
		}
		tw.Flush()
	}
}

func cmdCancel(ctx context.Context, a *app, args []string) int {
	fs := newFlags(a, "cancel")
	var cf clientFlags
	cf.add(a, fs)
	pos, err := parse(fs, args)
	if err != nil {
		return usageCode(err)
	}
	if len(pos) == 0 {
		a.errorf("cancel takes one or more job ids")
		return exitUsage
	}
	code := exitOK
	c := cf.client()
	say := func(j *drover.Job, err error) {
		switch {
		case err != nil:
			a.apiError(cf.server, err)
			code = exitError
		case j.State.Final():
			fmt.Fprintf(a.stdout, "%s %s\n", printable(j.ID), printable(string(j.State)))
		default:
			fmt.Fprintf(a.stdout, "%s cancelling (its worker is stopping it)\n", printable(j.ID))
		}
	}
	// Together, so that a job of the list cannot start in a slot another
	// of them frees; one by one for a coordinator without the call.
	for len(pos) > 0 {
		batch := pos[:min(len(pos), drover.MaxCancel)]
		pos = pos[len(batch):]
		rs, err := c.CancelMany(ctx, batch)
		if drover.IsCode(err, drover.ENOTFOUND) || drover.IsCode(err, drover.EMETHOD) {
			for _, id := range batch {
				say(c.Cancel(ctx, id))
			}
			continue
		}
		if err != nil {
			a.apiError(cf.server, err)
			return exitError
		}
		for _, r := range rs {
			if r.Error != nil {
				say(nil, r.Error)
			} else {
				say(r.Job, nil)
			}
		}
	}
	return code
}

// workerName is how drover shows the worker workerID.
// worker names the workers that are registered. A worker that left shows
// the name it had then, nameThen, if the job kept it.
func workerName(worker func(string) string, workerID, nameThen string) string {
	name := worker(workerID)
	if name == workerID && nameThen != "" {
		return nameThen
	}
	return name
}

func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// printJSON prints v as the API returns it, indented, for --json.
func (a *app) printJSON(v any) int {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		a.errorf("%v", err)
		return exitError
	}
	return exitOK
}

// writeOutput writes an output event's bytes, exactly as the job wrote
// them, to the stream it came from.
func (a *app) writeOutput(o drover.OutputEvent) {
	b, err := o.Bytes()
	if err != nil {
		a.errorf("%v", err)
		b = []byte(o.Data)
	}
	if o.Stream == drover.Stderr {
		_, _ = a.stderr.Write(b)
	} else {
		_, _ = a.stdout.Write(b)
	}
}
