package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
	"github.com/drover-dev/drover/internal/executor"
)

// Executor runs one attempt. internal/executor/process and
// internal/executor/docker implement it. So does internal/executor/noop,
// for drover bench.
type Executor interface {
	// Name is the executor's name as advertised: "process", "docker" or
	// "noop".
	Name() string
	// Run runs the task, streaming output into out, and returns once the
	// command and everything it started are gone. See executor.Result.
	Run(ctx context.Context, t *executor.Task, out executor.Sink) executor.Result
}

// cleaner is an executor that can remove what earlier runs of this worker
// left behind (containers of a worker killed with -9).
type cleaner interface {
	Cleanup(ctx context.Context, keep func(attemptID string) bool) (int, error)
}

// Defaults for Config.
const (
	DefaultGrace        = 10 * time.Second
	DefaultPollWait     = 30 * time.Second
	DefaultOutputBuffer = 16 << 20
	DefaultBundleCache  = 2 << 30
	// DefaultWorkspaceLimit is room for a large build or data set, and
	// stops a job writing in a loop long before it fills a worker's disk.
	DefaultWorkspaceLimit = 10 << 30
	DefaultWorkspaceCheck = time.Second
)

// Config configures a Worker.
type Config struct {
	// Server is the coordinator's URL. Required.
	Server string
	// JoinToken is presented at the first registration. The worker keeps
	// no copy of it once registered: afterwards it proves itself with the
	// secret the coordinator gave it.
	JoinToken string
	// ReadJoinToken, when set, returns the join token for a later
	// registration. A worker needs one when the coordinator forgot it. Its
	// data may have been reset, or the worker was DOWN past the
	// coordinator's --down-retention. Without ReadJoinToken, a worker that
	// had a JoinToken cannot register again. It stops with an error saying
	// so. One that had none registers again without one.
	ReadJoinToken func() (string, error)
	// HTTPClient defaults to the client package's.
	HTTPClient *http.Client
	// Name defaults to the host name.
	Name   string
	Labels map[string]string
	// Executors in order of preference; the first runs jobs that name none.
	Executors []Executor
	// Capacity registered with the coordinator. Required.
	Capacity drover.Capacity
	// Grace is the wait between SIGTERM and SIGKILL on cancel and timeout.
	// Defaults to 10s; set NoGrace for none.
	Grace   time.Duration
	NoGrace bool
	// WorkDir holds the attempts' workspaces and the bundle cache; one
	// worker per folder. Defaults to DefaultWorkDir(Name).
	WorkDir string
	// PollWait is the long-poll duration. Defaults to 30s.
	PollWait time.Duration
	// BundleCache bounds the bytes of bundles kept on disk (least recently
	// used go first). Defaults to 2 GiB.
	BundleCache int64
	// OutputBuffer bounds the output an attempt buffers while the
	// coordinator is slow or away. Defaults to 16 MiB.
	OutputBuffer int
	// WorkspaceLimit bounds the disk space a job's command may add to its
	// workspace, besides its bundle's files. Past it the attempt is
	// stopped and fails with workspace_limit. It is also each job's file
	// size limit (see executor.Task). Defaults to 10 GiB; set
	// NoWorkspaceLimit for none.
	WorkspaceLimit   int64
	NoWorkspaceLimit bool
	// WorkspaceCheck is how often a running job's workspace is measured.
	// Defaults to 1s.
	WorkspaceCheck time.Duration
	// RunAs says who process jobs run as. The zero value gives each job a
	// uid of its own when the worker is root, and runs jobs as the worker's
	// user otherwise.
	RunAs  RunAs
	Logger *slog.Logger
}

// Worker is a running worker agent.
type Worker struct {
	cfg Config
	log *slog.Logger
	// bareClient has no token. The join-token client and the worker
	// client are copies of it.
	bareClient *client.Client
	ident      *identity
	fatal      chan error // an error that ends Run (a refused registration), buffered
	execs      map[string]Executor
	cache      *bundleCache
	ws         *workspaces
	reports    *reporter
	lock       *os.File  // flock on the work dir, held for the worker's life
	users      *jobUsers // who process jobs run as; nil: the worker's user

	mu           sync.Mutex
	id           string
	secret       string         // the last one the coordinator gave, or one kept from an earlier life
	workerClient *client.Client // authenticated with the worker secret; see coordinator
	joined       bool           // registered once: Config.JoinToken is spent
	hadToken     bool           // Config.JoinToken was given
	interval     time.Duration
	runs         map[string]*run
	draining     bool
	drainCh      chan struct{}      // closed when draining starts
	idle         chan struct{}      // signalled when a run ends
	hurry        chan struct{}      // closed on a hard stop: grace periods end at once
	lastUsage    drover.WorkerUsage // what the last regular heartbeat measured

	wg sync.WaitGroup
}

type run struct {
	cancel context.CancelCauseFunc
}

// Causes of an attempt's context cancellation.
var (
	errStopped  = errors.New("stopped by the coordinator")
	errTimeout  = errors.New("timeout")
	errStale    = errors.New("attempt no longer current")
	errShutdown = errors.New("worker shutting down")
)

// New checks the config and returns a Worker. Run starts it.
func New(cfg Config) (*Worker, error) {
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := makeWorkDir(cfg.WorkDir); err != nil {
		return nil, fmt.Errorf("worker work dir: %w", err)
	}
	lock, err := lockWorkDir(cfg.WorkDir)
	if err != nil {
		return nil, err
	}
	w := newWorker(cfg, lock)
	if err := w.open(); err != nil {
		lock.Close()
		return nil, err
	}
	return w, nil
}

// fill gives the fields left zero their defaults.
func (cfg *Config) fill() {
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.PollWait = cmp.Or(cfg.PollWait, DefaultPollWait)
	cfg.OutputBuffer = cmp.Or(cfg.OutputBuffer, DefaultOutputBuffer)
	cfg.BundleCache = cmp.Or(cfg.BundleCache, DefaultBundleCache)
	cfg.WorkspaceCheck = cmp.Or(cfg.WorkspaceCheck, DefaultWorkspaceCheck)
	if cfg.NoWorkspaceLimit {
		cfg.WorkspaceLimit = 0
	} else {
		cfg.WorkspaceLimit = cmp.Or(cfg.WorkspaceLimit, DefaultWorkspaceLimit)
	}
	if cfg.NoGrace {
		cfg.Grace = 0
	} else {
		cfg.Grace = cmp.Or(cfg.Grace, DefaultGrace)
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = DefaultWorkDir(cfg.Name)
	}
}

// validate returns an error that names the first field that is wrong.
func (cfg *Config) validate() error {
	switch {
	case cfg.Server == "":
		return errors.New("worker config: Server is required")
	case len(cfg.Executors) == 0:
		return errors.New("worker config: no executor")
	case cfg.Capacity.CPU <= 0 || cfg.Capacity.MemoryMB <= 0 || cfg.Capacity.Slots <= 0:
		return fmt.Errorf("worker config: capacity must be positive, got %+v", cfg.Capacity)
	case cfg.WorkspaceLimit < 0:
		return fmt.Errorf("worker config: WorkspaceLimit is %d: it must be positive (or NoWorkspaceLimit set)", cfg.WorkspaceLimit)
	}
	if cfg.processJobs() {
		if err := cfg.RunAs.Check(cfg.Capacity.Slots); err != nil {
			return fmt.Errorf("worker config: RunAs: %w", err)
		}
	}
	return nil
}

// processJobs reports whether the worker offers the process executor.
// Only process jobs switch users.
func (cfg *Config) processJobs() bool {
	return slices.ContainsFunc(cfg.Executors, func(e Executor) bool { return e.Name() == drover.ExecutorProcess })
}

// lockWorkDir takes the work dir's lock, which the worker holds for its
// life. One worker holds a work dir at a time. At start a worker removes
// what it finds there, so a second one must not share it.
func lockWorkDir(dir string) (*os.File, error) {
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("worker work dir: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("work dir %s is in use by another worker on this machine: give each worker on a machine its own --name (its work dir follows the name) or --work-dir", dir)
		}
		return nil, fmt.Errorf("lock the work dir %s: %w", dir, err)
	}
	if err := lock.Chmod(0o600); err != nil {
		lock.Close()
		return nil, fmt.Errorf("worker work dir: %w", err)
	}
	return lock, nil
}

// newWorker returns a Worker of cfg that holds lock. It reads nothing from
// disk: open does.
func newWorker(cfg Config, lock *os.File) *Worker {
	var opts []client.Option
	if cfg.HTTPClient != nil {
		opts = append(opts, client.WithHTTPClient(cfg.HTTPClient))
	}
	w := &Worker{cfg: cfg, log: cfg.Logger, bareClient: client.New(cfg.Server, opts...), execs: map[string]Executor{}, lock: lock,
		ident: newIdentity(cfg.WorkDir), fatal: make(chan error, 1), hadToken: cfg.JoinToken != "",
		runs: map[string]*run{}, drainCh: make(chan struct{}), idle: make(chan struct{}, 1), hurry: make(chan struct{})}
	for _, e := range cfg.Executors {
		w.execs[e.Name()] = e
	}
	w.reports = newReporter(func() (reportAPI, string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.workerClient, w.id
	}, w.log)
	return w
}

// open reads and makes what the worker keeps in its work dir. That is the
// secret of its last registration, the bundle cache, the job users and
// the workspaces.
func (w *Worker) open() error {
	var err error
	if w.secret, err = w.ident.load(); err != nil {
		return err
	}
	bundles := filepath.Join(w.cfg.WorkDir, "bundles")
	if w.cache, err = newBundleCache(bundles, w.cfg.BundleCache, w.log); err != nil {
		return err
	}
	// The cache is the worker's alone, whatever mode an older worker left.
	if err := os.Chmod(bundles, 0o700); err != nil {
		return fmt.Errorf("bundle cache: %w", err)
	}
	if w.cfg.processJobs() {
		if w.users, err = newJobUsers(w.cfg.RunAs, w.cfg.WorkDir, w.log); err != nil {
			return err
		}
	}
	if w.ws, err = newWorkspaces(w.cfg.WorkDir, w.cfg.Capacity.Slots); err != nil {
		return fmt.Errorf("worker work dir: %w", err)
	}
	return nil
}

// makeWorkDir makes the work dir, or takes over one that exists.
// A root worker's is root's, with mode 0711. Process jobs run as other
// users. They go through it to their workspaces but cannot list it.
// Another worker's has mode 0700, as its jobs run as its user anyway.
func makeWorkDir(dir string) error {
	// Folders made above it are 0755: jobs go through them.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return os.Chmod(dir, 0o700)
	}
	if err := os.Chown(dir, 0, 0); err != nil {
		return err
	}
	return os.Chmod(dir, 0o711)
}

// ID is the worker id given at registration ("" before).
func (w *Worker) ID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.id
}

// Drain stops taking new work; Run returns once the running attempts have
// finished and the worker has deregistered.
func (w *Worker) Drain() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.draining {
		w.draining = true
		close(w.drainCh)
	}
}

// Run registers and works until the worker is drained, and then returns
// nil. When ctx ends first, the stop is hard. The running attempts are
// then killed and reported lost to the fleet, so they are requeued
// elsewhere. An error that ends the worker, such as a refused
// registration, ends Run with it.
func (w *Worker) Run(ctx context.Context) error {
	defer w.lock.Close()
	if err := w.register(ctx); err != nil {
		if errors.Is(err, errDrainedUnregistered) {
			return nil // nothing ran, nothing to finish
		}
		return err
	}
	w.cleanup(ctx)
	// The reporter outlives a hard stop until every attempt has reported.
	// Each report has a bound of its own.
	repCtx, stopReports := context.WithCancel(context.WithoutCancel(ctx))
	repDone := make(chan struct{})
	go func() { defer close(repDone); w.reports.run(repCtx) }()
	defer func() { stopReports(); <-repDone }()
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	pollCtx, stopPoll := context.WithCancel(ctx)
	hbDone, pollDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(hbDone); w.heartbeatLoop(hbCtx) }()
	go func() { defer close(pollDone); w.pollLoop(pollCtx) }()

	var fatal error
	select {
	case <-ctx.Done():
	case fatal = <-w.fatal:
	case <-w.drainCh:
		w.log.Info("draining: finishing running attempts", "running", w.running())
		w.heartbeatNow(ctx)
		w.waitIdle(ctx)
	}
	// Polling stops before the attempts are stopped or waited for. So no
	// launch races either. An attempt a last answer launched while
	// draining is handed back at once.
	stopPoll()
	<-pollDone
	if ctx.Err() == nil && fatal == nil {
		w.waitIdle(ctx)
	}
	hard := ctx.Err() != nil || fatal != nil
	if hard {
		// The worker was told twice to stop. The running commands are
		// killed without their grace period, and their jobs go to other
		// workers.
		close(w.hurry)
		w.stopAll(errShutdown)
	}
	// Attempts report their end with a bounded context of their own.
	w.wg.Wait()
	w.ws.close()
	stopHeartbeat()
	<-hbDone
	w.deregister(ctx, hard)
	if fatal == nil {
		select {
		case fatal = <-w.fatal: // while draining
		default:
		}
	}
	return fatal
}

// deregister leaves the coordinator, so nothing is scheduled here until
// the heartbeat timeout. After a hard stop it waits less: the killed
// attempts have reported already. When the coordinator is away the call
// fails, and the reaper marks the worker DOWN instead.
func (w *Worker) deregister(ctx context.Context, hard bool) {
	timeout := 10 * time.Second
	if hard {
		timeout = 3 * time.Second
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := w.coordinator().Deregister(dctx, w.ID()); err != nil {
		w.log.Warn("deregister", "err", err)
		return
	}
	w.log.Info("deregistered", "worker", w.ID(), "drained", !hard)
	// The coordinator no longer knows this secret, so it proves nothing.
	if err := w.ident.forget(); err != nil {
		w.log.Warn("forget the worker's secret", "err", err)
	}
}

// stopWith ends Run with err, for a worker that cannot go on. The
// coordinator may have refused to register it again.
func (w *Worker) stopWith(err error) {
	select {
	case w.fatal <- err:
	default: // one is enough
	}
}

// waitIdle waits until no attempt runs, or ctx ends.
func (w *Worker) waitIdle(ctx context.Context) {
	for w.running() > 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-w.idle:
		}
	}
}

// coordinator returns the worker client. A registration replaces it.
func (w *Worker) coordinator() *client.Client {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.workerClient
}

func (w *Worker) running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.runs)
}

func (w *Worker) runningIDs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := make([]string, 0, len(w.runs))
	for id := range w.runs {
		ids = append(ids, id)
	}
	return ids
}

func (w *Worker) stopAll(cause error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.runs {
		r.cancel(cause)
	}
}

func (w *Worker) stop(ids []string, cause error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if r, ok := w.runs[id]; ok {
			r.cancel(cause)
		}
	}
}

// cleanup removes what an earlier life of this worker left behind. That
// life was killed with -9, or the machine rebooted. cleanup removes the
// workspaces no running attempt owns. Through the executors, it removes
// the containers and background processes of attempts this process does
// not run.
func (w *Worker) cleanup(ctx context.Context) {
	for _, e := range w.cfg.Executors {
		c, ok := e.(cleaner)
		if !ok {
			continue
		}
		n, err := c.Cleanup(ctx, func(id string) bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			_, ok := w.runs[id]
			return ok
		})
		if err != nil {
			w.log.Warn("cleanup of leftovers", "executor", e.Name(), "err", err)
		} else if n > 0 {
			w.log.Info("removed leftovers of attempts this worker no longer owns", "executor", e.Name(), "count", n)
		}
	}
	if des, err := os.ReadDir(w.cfg.WorkDir); err == nil {
		removed := 0
		for _, de := range des {
			if strings.HasPrefix(de.Name(), "att_") {
				w.mu.Lock()
				_, running := w.runs[strings.SplitN(de.Name(), "-", 2)[0]]
				w.mu.Unlock()
				if !running {
					if err := os.RemoveAll(filepath.Join(w.cfg.WorkDir, de.Name())); err != nil {
						w.log.Warn("remove a leftover workspace", "dir", de.Name(), "err", err)
					} else {
						removed++
					}
				}
			}
		}
		if removed > 0 {
			w.log.Info("removed leftover workspaces", "count", removed, "work_dir", w.cfg.WorkDir)
		}
	}
}

// DefaultWorkDir is where a worker named name keeps workspaces and bundles
// when not told: $TMPDIR/drover-work/<name>.
func DefaultWorkDir(name string) string {
	safe := strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator || r == 0 {
			return '_'
		}
		return r
	}, name)
	if safe == "" || safe == "." || safe == ".." {
		safe = "worker"
	}
	return filepath.Join(os.TempDir(), "drover-work", safe)
}
