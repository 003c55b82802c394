package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// Container labels. Cleanup finds drover's containers by them.
const (
	LabelAttempt = "drover.attempt"
	LabelJob     = "drover.job"
	LabelWorker  = "drover.worker"
	// LabelInstance names the worker process (Config.Instance).
	LabelInstance = "drover.worker-instance"
)

const (
	// workspaceDir is where the attempt's workspace is mounted; the working
	// directory and $HOME of the command.
	workspaceDir = "/workspace"
	// engineCallTimeout bounds each call made after the run's context is
	// done (kill, inspect, remove), so a hung engine cannot hold Run forever.
	engineCallTimeout = 30 * time.Second
	// startTimeout bounds a container start, which a busy engine can make
	// slow.
	startTimeout = 2 * time.Minute
	// outputDrainTimeout is how long output may still arrive after the
	// container exited before the stream is cut.
	outputDrainTimeout = 5 * time.Second
)

// cpuPeriodUs is the CFS period of containers limited to less than a core,
// in µs: the longest the engine allows.
const cpuPeriodUs = 1_000_000

// ContainerName is the name of the container of an attempt.
func ContainerName(attemptID string) string { return "drover-" + attemptID }

// Run runs t in a new container, streams its output into out and returns how
// it ended; see executor.Result. The container is removed before Run returns,
// whatever happened.
func (e *Executor) Run(ctx context.Context, t *executor.Task, out executor.Sink) executor.Result {
	began := time.Now()
	if err := e.ensureImage(ctx, t.Spec.Image); err != nil {
		res := executor.Failed(err.Error())
		res.ImagePull = time.Since(began)
		return res
	}
	pull := time.Since(began)
	res := e.run(ctx, t, out, pull)
	res.ImagePull = pull
	return res
}

func (e *Executor) run(ctx context.Context, t *executor.Task, out executor.Sink, pull time.Duration) executor.Result {
	if t.Workspace != "" {
		if err := e.prepareWorkspace(t.Workspace); err != nil {
			return executor.Failed(fmt.Sprintf("cannot open the workspace to the container user %s: %v", e.cfg.User, err))
		}
	}
	// Stopping, waiting for and removing the container go on after ctx is
	// done, so they use a context that is not cancelled with it.
	bg := context.WithoutCancel(ctx)
	name := ContainerName(t.AttemptID)
	// By name: a create interrupted by cancellation may have made a
	// container whose id never reached us.
	defer e.remove(bg, name)

	// Not with ctx: the engine goes on creating a container whose request
	// was abandoned, after the removal above has found nothing to remove
	// (a job cancelled as it started left one behind). Creating takes
	// moments; a cancellation is seen just after. Bounded as a start is,
	// for an engine slow to create (a large image, a slow storage driver).
	cctx, cancelCreate := context.WithTimeout(bg, startTimeout)
	id, err := e.create(cctx, t, name)
	cancelCreate()
	if err != nil {
		if len(t.Spec.Command) == 0 && strings.Contains(err.Error(), "No command specified") {
			// The job's to fix, not the fleet's: as a missing command, 127.
			msg := fmt.Sprintf("the image %s has no command of its own: give the job one", t.Spec.Image)
			out.Write(drover.Stderr, []byte("drover: "+msg+"\n"))
			res := executor.Exit(127)
			res.Message = msg
			return res
		}
		return e.failedBefore(ctx, "create the container", err)
	}
	if ctx.Err() != nil {
		return e.failedBefore(ctx, "create the container", ctx.Err())
	}

	// Attach before start, so not a byte of output is missed.
	att, err := e.cli.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return e.failedBefore(ctx, "attach to the container", err)
	}
	copied := make(chan struct{})
	stderrTail := &tailWriter{w: sinkWriter{out, drover.Stderr}}
	go func() {
		defer close(copied)
		// Ends at EOF when the container exits, or when att is closed.
		_, _ = stdcopy.StdCopy(sinkWriter{out, drover.Stdout}, stderrTail, att.Reader)
	}()
	defer func() { att.Close(); <-copied }()

	// Waiting for "next-exit" must begin before start, or a quick command
	// could exit before the wait and be missed.
	waitCtx, stopWaiting := context.WithCancel(bg)
	wait := e.cli.ContainerWait(waitCtx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	exited := make(chan struct{})
	var status container.WaitResponse
	var waitErr error
	go func() {
		defer close(exited)
		select {
		case status = <-wait.Result:
		case waitErr = <-wait.Error:
		}
	}()
	defer func() { stopWaiting(); <-exited }()

	if ctx.Err() != nil {
		return e.failedBefore(ctx, "start the container", ctx.Err())
	}
	// Not with ctx: a cancellation arriving while the engine starts the
	// container would abandon a running command. It is stopped below.
	sctx, cancelStart := context.WithTimeout(bg, startTimeout)
	_, err = e.cli.ContainerStart(sctx, id, client.ContainerStartOptions{})
	cancelStart()
	if err != nil {
		if code, msg, ok := commandCannotRun(err); ok {
			out.Write(drover.Stderr, []byte("drover: "+msg+"\n"))
			res := executor.Exit(code)
			res.Message = msg
			return res
		}
		return e.failedBefore(ctx, "start the container", err)
	}
	if t.OnStart != nil {
		t.OnStart(pull)
	}
	usage := e.sampleUsage(bg, id)

	stopped := false
	select {
	case <-exited:
	case <-ctx.Done():
		stopped = true
		e.stop(bg, id, t.Grace, t.Hurry, exited)
	}
	res := executor.Result{Usage: usage.stop()}
	select {
	case <-exited:
	default:
		// SIGKILL did not end it within engineCallTimeout: the removal
		// forces it, but there is no exit status to report.
		res.Reason = drover.ReasonExecutorError
		res.Message = "the container did not stop after SIGKILL; it was removed by force"
		return res
	}

	select {
	case <-copied:
	case <-time.After(outputDrainTimeout):
		e.log.Warn("container output still open after exit; cutting it", "container", name)
	}

	if waitErr == nil && status.Error == nil && status.StatusCode == 0 {
		// Success needs no inspection: only a failed run is blamed on the
		// memory limit (below). One engine call less on every quick job.
		code := 0
		res.ExitCode = &code
		return res
	}
	ictx, cancel := context.WithTimeout(bg, engineCallTimeout)
	defer cancel()
	inspected, err := e.cli.ContainerInspect(ictx, id, client.ContainerInspectOptions{})
	var state *container.State
	if err == nil && inspected.Container.State != nil {
		state = inspected.Container.State
	}
	switch {
	case waitErr == nil && status.Error == nil:
		code := int(status.StatusCode)
		res.ExitCode = &code
	case state != nil && !state.Running:
		code := state.ExitCode
		res.ExitCode = &code
	default:
		res.Reason = drover.ReasonExecutorError
		res.Message = fmt.Sprintf("lost track of the container: %v", errors.Join(waitErr, waitExitErr(status), err))
		return res
	}
	// The engine learns of an OOM kill from an event that can arrive after
	// the exit is reported: a SIGKILL nobody here sent is looked at again
	// for a moment before it is called a plain kill.
	if !stopped && state != nil && !state.OOMKilled && *res.ExitCode == 137 {
		state = e.awaitOOM(ictx, id, state)
	}
	// The engine flags a container when any of its processes was killed
	// for memory. Only a command killed itself (SIGKILL, 137) is blamed on
	// the limit; one that outlived the kill of a child and exited on its
	// own keeps its exit code as the job's failure (or success), as docker
	// run does, and the message says what happened.
	if code := *res.ExitCode; !stopped && (code == 126 || code == 127) {
		if why := initExecFailure(stderrTail.String()); why != "" {
			res.Message = "cannot run the command: " + why
			if cmd := t.Spec.Command; len(cmd) == 3 && cmd[0] == "sh" && cmd[1] == "-c" && strings.HasPrefix(why, "exec sh failed") {
				res.Message += " (the image has no sh to run a command given as one string: give it as a list of arguments, or use an image with a shell)"
			}
		}
	}
	if !stopped && state != nil && state.OOMKilled {
		switch code := *res.ExitCode; {
		case code == 137:
			res.Reason = drover.ReasonOOMKilled
			res.Message = fmt.Sprintf("killed for exceeding its memory limit of %d MiB", t.Spec.Resources.MemoryMB)
		case code != 0:
			res.Message = fmt.Sprintf("exited with code %d after a process of it was killed for exceeding the memory limit of %d MiB", code, t.Spec.Resources.MemoryMB)
		}
	}
	return res
}

func waitExitErr(w container.WaitResponse) error {
	if w.Error != nil && w.Error.Message != "" {
		return errors.New(w.Error.Message)
	}
	return nil
}

// commandCannotRun reads a failed start of the container: when the engine
// (runc, without docker-init) could not execute the command, because it is
// missing (127) or not executable (126), the job ends with that exit code,
// as docker run and a shell end it, and as docker-init makes it end when
// the engine has one: the image is what lacks the program, and another
// worker would not cure it. Anything else is the machine's.
func commandCannotRun(err error) (code int, msg string, ok bool) {
	s := err.Error()
	i := strings.Index(s, `exec: "`)
	if i < 0 {
		return 0, "", false
	}
	what := strings.TrimSuffix(strings.TrimSpace(s[i:]), ": unknown")
	switch {
	case strings.Contains(what, "executable file not found"), strings.Contains(what, "no such file or directory"):
		code = 127
	case strings.Contains(what, "permission denied"), strings.Contains(what, "is a directory"):
		code = 126
	default:
		return 0, "", false
	}
	return code, "cannot run the command: " + what, true
}

// failedBefore reports a run that ended before its command started.
func (e *Executor) failedBefore(ctx context.Context, what string, err error) executor.Result {
	if ctx.Err() != nil {
		// The worker reports cancelled or timeout from ctx's cause.
		return executor.Failed(fmt.Sprintf("stopped before the container started (%v)", context.Cause(ctx)))
	}
	return executor.Failed(fmt.Sprintf("%s: %v", what, err))
}

// create creates the attempt's container, replacing a leftover of the same
// name (a run of this attempt interrupted before its removal).
func (e *Executor) create(ctx context.Context, t *executor.Task, name string) (string, error) {
	opts, err := e.containerOptions(t, name)
	if err != nil {
		return "", err
	}
	for try := 0; ; try++ {
		created, err := e.cli.ContainerCreate(ctx, opts)
		if err == nil {
			for _, w := range created.Warnings {
				e.log.Warn("docker engine warning", "container", name, "warning", w)
			}
			return created.ID, nil
		}
		if try > 0 || !cerrdefs.IsConflict(err) {
			return "", err
		}
		e.log.Warn("removing a leftover container of the same attempt", "container", name)
		e.remove(ctx, name)
	}
}

// containerOptions is the whole isolation policy of DESIGN.md §5.
func (e *Executor) containerOptions(t *executor.Task, name string) (client.ContainerCreateOptions, error) {
	spec := &t.Spec
	env := executor.Env(t, workspaceDir, "/tmp")
	if _, ok := spec.Env["PATH"]; !ok {
		// The image's PATH (say /usr/local/go/bin in a Go image) is
		// better than drover's generic one; the engine falls back to
		// its default when the image has none.
		env = dropVar(env, "PATH")
	}
	if e.init {
		// Makes docker-init forward signals to the command's whole
		// process group, not the command alone, so a SIGTERM reaches
		// everything a shell started before SIGKILL ends the rest.
		env = append([]string{"TINI_KILL_PROCESS_GROUP=1"}, env...)
	}
	cfg := &container.Config{
		Image: spec.Image,
		// The command replaces the image's entrypoint, as Kubernetes'
		// command does: the argv runs as given, no shell added. Without
		// one, the image's own entrypoint and command run.
		Entrypoint: spec.Command,
		Env:        env,
		WorkingDir: workspaceDir,
		// Both ids, always: with "uid" alone the engine takes the group
		// from the image's /etc/group, or root's.
		User:         fmt.Sprintf("%d:%d", e.uid, e.gid),
		AttachStdout: true,
		AttachStderr: true,
		Labels: map[string]string{
			LabelAttempt: t.AttemptID,
			LabelJob:     t.JobID,
			LabelWorker:  e.cfg.WorkerID,
		},
	}
	if e.cfg.Instance != "" {
		cfg.Labels[LabelInstance] = e.cfg.Instance
	}
	pids, init := e.cfg.PidsLimit, e.init
	host := &container.HostConfig{
		NetworkMode:    "none",
		Init:           &init,
		ReadonlyRootfs: true,
		// /tmp: see tmpMount.
		CapDrop:      []string{"ALL"},
		SecurityOpt:  []string{"no-new-privileges:true"},
		CgroupnsMode: container.CgroupnsModePrivate,
		// Output reaches drover through the attach stream; a second copy in
		// the engine's log files would grow without bound until removal.
		LogConfig: container.LogConfig{Type: "none"},
		Resources: container.Resources{PidsLimit: &pids},
	}
	if n := t.WorkspaceLimit; n > 0 {
		// The file size limit, set before the command starts.
		host.Ulimits = []*container.Ulimit{{Name: "fsize", Soft: n, Hard: n}}
	}
	if spec.Network && e.cfg.AllowNetwork {
		host.NetworkMode = "" // the engine's default bridge
	}
	if mb := spec.Resources.MemoryMB; mb > 0 {
		host.Memory = mb << 20
		host.MemorySwap = host.Memory // equal: no swap
	}
	if m := spec.Resources.CPU; m > 0 {
		// The engine accepts 0.01 to NCPU cores.
		m = min(max(m, 10), int64(e.ncpu)*1000)
		if m < 1000 && e.cfsPeriod {
			// Under a core, the quota is counted over one second, not the
			// engine's default 100 ms: the same share of the CPU, but a
			// container's start (runc's init, the init process, which run
			// in its cgroup) fits in one period's quota instead of being
			// throttled for most of a period. At 100m that start took
			// ~100 ms longer than unlimited; now it takes no longer.
			host.CPUPeriod = cpuPeriodUs
			host.CPUQuota = m * cpuPeriodUs / 1000
		} else {
			host.NanoCPUs = m * 1_000_000
		}
	}
	e.tmpMount(host)
	if t.Workspace != "" {
		src, err := filepath.Abs(t.Workspace)
		if err != nil {
			return client.ContainerCreateOptions{}, fmt.Errorf("workspace: %w", err)
		}
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: src, Target: workspaceDir})
	}
	return client.ContainerCreateOptions{Name: name, Config: cfg, HostConfig: host}, nil
}

// dropVar removes every KEY=... entry for key from env.
func dropVar(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if len(kv) > len(key) && kv[:len(key)] == key && kv[len(key)] == '=' {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// stop ends a running container as DESIGN.md §4 asks: SIGTERM to its init,
// which forwards it to the command's process group, SIGKILL once grace has
// passed (or once hurry is closed), then waits until the engine reports the
// exit (at most engineCallTimeout after SIGKILL). Everything else in the container dies
// with its init, as the kernel ends a PID namespace with its first process.
func (e *Executor) stop(ctx context.Context, id string, grace time.Duration, hurry <-chan struct{}, exited <-chan struct{}) {
	select {
	case <-hurry:
		grace = 0
	default:
	}
	if grace > 0 {
		e.kill(ctx, id, "TERM")
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-exited:
			return
		case <-timer.C:
		case <-hurry:
		}
	}
	e.kill(ctx, id, "KILL")
	timer := time.NewTimer(engineCallTimeout)
	defer timer.Stop()
	select {
	case <-exited:
	case <-timer.C:
		e.log.Error("container still running after SIGKILL", "container", id)
	}
}

func (e *Executor) kill(ctx context.Context, id, signal string) {
	ctx, cancel := context.WithTimeout(ctx, engineCallTimeout)
	defer cancel()
	if _, err := e.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: signal}); err != nil {
		// Most often it has just exited on its own.
		e.log.Debug("signal container", "container", id, "signal", signal, "err", err)
	}
}

// remove force-removes a container (and its anonymous volumes) and returns
// once the engine has removed it; a container already gone is fine.
func (e *Executor) remove(ctx context.Context, idOrName string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), engineCallTimeout)
	defer cancel()
	_, err := e.cli.ContainerRemove(ctx, idOrName, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		e.log.Error("remove container", "container", idOrName, "err", err)
	}
}

// sinkWriter feeds one demultiplexed stream into the sink as it arrives.
type sinkWriter struct {
	out    executor.Sink
	stream drover.Stream
}

func (w sinkWriter) Write(p []byte) (int, error) {
	w.out.Write(w.stream, p)
	return len(p), nil
}

// tailWriter passes writes on to w and keeps the last tailSize bytes.
type tailWriter struct {
	w    io.Writer
	mu   sync.Mutex
	tail []byte
}

const tailSize = 512

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.tail = append(t.tail, p[max(0, len(p)-tailSize):]...)
	if len(t.tail) > tailSize {
		t.tail = append(t.tail[:0], t.tail[len(t.tail)-tailSize:]...)
	}
	t.mu.Unlock()
	return t.w.Write(p)
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.tail)
}

// initExecFailure is why docker-init could not start the command, from the
// last line it wrote ("[FATAL tini (7)] exec nosuchcmd failed: No such
// file or directory"), or "" when it wrote none: the 127 or 126 is then the
// command's own.
func initExecFailure(stderr string) string {
	i := strings.LastIndex(stderr, "[FATAL tini (")
	if i < 0 {
		return ""
	}
	line, _, _ := strings.Cut(stderr[i:], "\n")
	_, why, ok := strings.Cut(line, "] ")
	if !ok || !strings.HasPrefix(why, "exec ") {
		return ""
	}
	return strings.TrimSpace(why)
}

// oomSettle bounds how long a SIGKILLed container's OOM flag is awaited.
// The engine's OOM event came over a second after the exit on a machine
// busy with other containers, so the wait is generous: it only delays the
// report of a container killed by SIGKILL from outside drover without an
// OOM, which is rare.
const oomSettle = 3 * time.Second

// awaitOOM inspects the container again until the engine marks it
// OOMKilled, or has logged an OOM event for it, or oomSettle passes, and
// returns the last state seen (OOMKilled set when only the event says so).
//
// The event is looked for because an engine that processes the exit
// before the OOM event (Docker 20.10 under load: the event came 28 ms
// after the exit) takes the flag from the exit alone and never sets it,
// while the event stays in its log.
func (e *Executor) awaitOOM(ctx context.Context, id string, state *container.State) *container.State {
	since := time.Now().Add(-time.Hour)
	if t, err := time.Parse(time.RFC3339Nano, state.StartedAt); err == nil {
		since = t.Add(-time.Second)
	}
	deadline := time.Now().Add(oomSettle)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return state
		case <-time.After(50 * time.Millisecond):
		}
		inspected, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil || inspected.Container.State == nil {
			return state
		}
		if state = inspected.Container.State; state.OOMKilled {
			return state
		}
		if e.oomEvent(ctx, id, since) {
			s := *state
			s.OOMKilled = true
			return &s
		}
	}
	return state
}

// oomEvent reports whether the engine has logged an OOM event for the
// container since the given time.
func (e *Executor) oomEvent(ctx context.Context, id string, since time.Time) bool {
	ectx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	stamp := func(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }
	res := e.cli.Events(ectx, client.EventsListOptions{
		Since:   stamp(since),
		Until:   stamp(time.Now()),
		Filters: client.Filters{}.Add("type", "container").Add("container", id).Add("event", "oom"),
	})
	for {
		select {
		case m, ok := <-res.Messages:
			if !ok {
				return false
			}
			if m.Action == "oom" {
				return true
			}
		case <-res.Err:
			return false // the log up to now was read (nil), or could not be
		case <-ectx.Done():
			return false
		}
	}
}

// tmpMount gives the container a fresh tmpfs on /tmp where exec is
// allowed: /workspace is writable and executable anyway, so noexec (the
// engine's default for a tmpfs) would only break tools that build and run
// in TMPDIR. Engines with API 1.46 or later mount it as a tmpfs mount,
// which does not copy the image's /tmp in, so /tmp is 1777 whatever the
// image's is (often 0755: unwritable to the job's user). Older ones take
// only HostConfig.Tmpfs, which copies the image's /tmp and its mode.
func (e *Executor) tmpMount(host *container.HostConfig) {
	if e.tmpfsOptions {
		// Mode is sent as the raw Unix bits (the engine writes it with
		// %o), so the sticky bit is 0o1000, not os.ModeSticky. A tmpfs
		// mount is nosuid and nodev by default; "exec" lifts its noexec.
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeTmpfs, Target: "/tmp", TmpfsOptions: &mount.TmpfsOptions{
			SizeBytes: e.cfg.TmpfsSize, Mode: 0o1777, Options: [][]string{{"exec"}},
		}})
		return
	}
	host.Tmpfs = map[string]string{"/tmp": fmt.Sprintf("rw,exec,nosuid,nodev,size=%d,mode=1777", e.cfg.TmpfsSize)}
}
