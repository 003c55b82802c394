package worker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor"
)

// namedExecutor is an executor that is only a name.
type namedExecutor string

func (n namedExecutor) Name() string { return string(n) }
func (namedExecutor) Run(context.Context, *executor.Task, executor.Sink) executor.Result {
	return executor.Result{}
}

func TestExecutorName(t *testing.T) {
	docker, process, noop := namedExecutor(drover.ExecutorDocker), namedExecutor(drover.ExecutorProcess), namedExecutor(drover.ExecutorNoop)
	for _, c := range []struct {
		spec drover.JobSpec
		have []Executor
		want string
	}{
		{drover.JobSpec{Executor: drover.ExecutorDocker}, []Executor{process}, drover.ExecutorDocker}, // named: taken as is
		{drover.JobSpec{}, []Executor{docker, process}, drover.ExecutorProcess},                       // the first that needs no image
		{drover.JobSpec{}, []Executor{noop, process}, drover.ExecutorNoop},
		{drover.JobSpec{}, []Executor{docker}, ""}, // none fits
	} {
		if got := executorName(c.spec, c.have); got != c.want {
			t.Errorf("executorName(%q, %v) = %q, want %q", c.spec.Executor, c.have, got, c.want)
		}
	}
}

func TestNeedsWorkspace(t *testing.T) {
	for _, c := range []struct {
		name   string
		bundle string
		want   bool
	}{
		{drover.ExecutorProcess, "", true},
		{drover.ExecutorDocker, "", true},
		{drover.ExecutorNoop, "", false},
		{drover.ExecutorNoop, "abc", true},
	} {
		if got := needsWorkspace(c.name, drover.JobSpec{Bundle: c.bundle}); got != c.want {
			t.Errorf("needsWorkspace(%s, bundle %q) = %v, want %v", c.name, c.bundle, got, c.want)
		}
	}
}

func TestAcceptFirst(t *testing.T) {
	for _, c := range []struct {
		bundle, executor string
		late             bool
		want             bool
	}{
		{"", drover.ExecutorProcess, false, false},
		{"abc", drover.ExecutorProcess, false, true}, // a bundle fetch may take long
		{"", drover.ExecutorDocker, false, true},     // an image pull may take long
		{"", drover.ExecutorProcess, true, true},     // late: ask first
	} {
		if got := acceptFirst(drover.JobSpec{Bundle: c.bundle}, c.executor, c.late); got != c.want {
			t.Errorf("acceptFirst(bundle %q, %s, late %v) = %v, want %v", c.bundle, c.executor, c.late, got, c.want)
		}
	}
}

func TestPastAckBy(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		ackBy time.Time
		want  bool
	}{
		{time.Time{}, false},
		{now.Add(time.Second), false},
		{now, false},
		{now.Add(-time.Second), true},
	} {
		if got := pastAckBy(c.ackBy, now); got != c.want {
			t.Errorf("pastAckBy(%v, %v) = %v, want %v", c.ackBy, now, got, c.want)
		}
	}
}

func TestUnpackFailed(t *testing.T) {
	errFetch := errors.New("bundle abc could not be fetched: connection refused")
	for _, c := range []struct {
		cause  error
		quiet  bool
		reason drover.Reason
	}{
		{nil, false, drover.ReasonExecutorError},
		{errStopped, false, drover.ReasonCancelled},
		{errStale, true, ""},
		{errShutdown, false, drover.ReasonExecutorError},
	} {
		e := unpackFailed(errFetch, c.cause, time.Second)
		if e.quiet != c.quiet || e.req.Reason != c.reason {
			t.Errorf("unpackFailed(cause %v) = quiet %v, %q; want quiet %v, %q", c.cause, e.quiet, e.req.Reason, c.quiet, c.reason)
		}
		if !e.quiet && (e.req.Message != errFetch.Error() || e.req.Phases.BundleFetch.D() != time.Second) {
			t.Errorf("unpackFailed(cause %v) = %q after %s, want the error's text after 1s", c.cause, e.req.Message, e.req.Phases.BundleFetch)
		}
	}
}

// outcome puts what stopped the command before what the executor saw.
func TestOutcome(t *testing.T) {
	exit := func(n int) executor.Result { return executor.Exit(n) }
	killed := executor.Result{ExitCode: exitCode(137)}
	broken := executor.Failed("docker: no such image")
	limit := &limitError{msg: "wrote past the workspace limit"}
	for _, c := range []struct {
		name   string
		res    executor.Result
		cause  error
		quiet  bool
		reason drover.Reason
		msg    string
	}{
		{"exit 0", exit(0), nil, false, "", ""},
		{"exit 3", exit(3), nil, false, "", ""},
		{"oom", executor.Result{ExitCode: exitCode(137), Reason: drover.ReasonOOMKilled}, nil, false, drover.ReasonOOMKilled, ""},
		{"executor error", broken, nil, false, drover.ReasonExecutorError, "docker: no such image"},
		{"nothing said", executor.Result{}, nil, false, drover.ReasonExecutorError, "the executor reported neither an exit code nor a reason"},
		{"stale", killed, errStale, true, "", ""},
		{"timeout", killed, errTimeout, false, drover.ReasonTimeout, "timed out after 1m0s"},
		{"timeout, but the executor failed", broken, errTimeout, false, drover.ReasonExecutorError, "docker: no such image"},
		{"workspace limit", killed, limit, false, drover.ReasonWorkspaceLimit, "wrote past the workspace limit"},
		{"workspace limit, but the executor failed", broken, limit, false, drover.ReasonExecutorError, "docker: no such image"},
		{"cancelled", killed, errStopped, false, drover.ReasonCancelled, "cancelled"},
		{"cancelled after an executor error", broken, errStopped, false, drover.ReasonCancelled, "cancelled"},
		{"worker stopped", killed, errShutdown, false, drover.ReasonWorkerLost, "worker w1 was stopped while running it"},
	} {
		phases := drover.Phases{Running: drover.Duration(time.Second)}
		e := outcome(c.res, c.cause, drover.Duration(time.Minute), "w1", phases)
		if e.quiet != c.quiet || e.req.Reason != c.reason || e.req.Message != c.msg {
			t.Errorf("%s: outcome = quiet %v, %q %q; want quiet %v, %q %q", c.name, e.quiet, e.req.Reason, e.req.Message, c.quiet, c.reason, c.msg)
		}
		if !e.quiet && (fmt.Sprint(e.req.ExitCode) != fmt.Sprint(c.res.ExitCode) || e.req.Phases != phases) {
			t.Errorf("%s: outcome carries exit %v and phases %+v, want the executor's exit %v and %+v", c.name, e.req.ExitCode, e.req.Phases, c.res.ExitCode, phases)
		}
	}
}

func TestRunClockStartsOnce(t *testing.T) {
	var c runClock
	if got := c.stop(); got != 0 {
		t.Errorf("a clock never started ran %s, want 0", got)
	}
	expired := make(chan struct{})
	if !c.start(time.Nanosecond, func() { close(expired) }) {
		t.Fatal("the first start was not the first")
	}
	if c.start(time.Nanosecond, func() { t.Error("a second start armed a second timeout") }) {
		t.Error("a second start counted as the first")
	}
	select {
	case <-expired:
	case <-time.After(waitFor):
		t.Fatal("the timeout did not expire")
	}
	if got := c.stop(); got <= 0 {
		t.Errorf("a started clock ran %s, want more than 0", got)
	}
}
