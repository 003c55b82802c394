// Package coordinator owns the job lifecycle.
// It takes submissions and runs the scheduling passes.
// It hands assignments to long-polling workers.
// It enforces leases with the heartbeat reaper and fences stale attempts.
// It applies both retry budgets, cancellation, and timeouts as a backstop.
// Its event hub feeds live output and state to followers.
// Its retention service removes old jobs, unused bundles and workers long
// DOWN.
//
// The store is the source of truth.
// In memory the coordinator keeps only wake-ups and caches of what the
// store holds. A restarted coordinator therefore loses nothing it had
// acknowledged.
package coordinator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/bundle"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/store"
)

// Defaults for Config.
const (
	DefaultHeartbeatInterval = 10 * time.Second
	DefaultHeartbeatTimeout  = 30 * time.Second
	DefaultAckTimeout        = 15 * time.Second
	DefaultFleetRetries      = 5
	DefaultSweepInterval     = time.Second
	DefaultGrace             = 10 * time.Second
	DefaultMaxPass           = 10000
	DefaultMaxWait           = 60 * time.Second
	DefaultRetention         = 7 * 24 * time.Hour
	DefaultDownRetention     = 24 * time.Hour
	DefaultGCInterval        = time.Minute
	DefaultBundleGrace       = time.Hour
)

// Clock tells the time. Tests inject a fake; production uses time.Now.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now().UTC() }

// Config configures a Coordinator.
type Config struct {
	Store  store.Store  // required
	Logger *slog.Logger // defaults to slog.Default()
	Clock  Clock        // defaults to the system clock

	// HeartbeatInterval is how often workers are told to heartbeat. Defaults to 10s.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is the silence after which a worker is DOWN and its
	// attempts fail as worker_lost. Defaults to 30s.
	HeartbeatTimeout time.Duration
	// AckTimeout is how long an assignment may stay unacknowledged before it
	// goes back to the queue. Defaults to 15s.
	AckTimeout time.Duration
	// FleetRetries caps the requeues the fleet causes: worker_lost,
	// executor_error and not_acknowledged. Defaults to 5. Set
	// NoFleetRetries for none.
	FleetRetries   int
	NoFleetRetries bool
	// SweepInterval is the period of the safety-net scheduling pass and of
	// the reaper. Defaults to 1s, or HeartbeatTimeout/4 when that is shorter.
	SweepInterval time.Duration
	// Grace stands for the SIGTERM-to-SIGKILL grace of a worker that did
	// not say its own (RegisterRequest.Grace) in the timeout backstop
	// (timeout + the worker's grace + heartbeat timeout). Defaults to 10s.
	Grace time.Duration
	// MaxPass bounds the queued jobs one scheduling pass considers. Defaults to 10,000.
	MaxPass int
	// BundleLimits bound uploaded bundles: their size, unpacked size,
	// files and compression ratio. Zero fields take the bundle package's
	// defaults of 100 MiB, 1 GiB, 10,000 files and a ratio of 100.
	BundleLimits bundle.Limits
	// Retention is how long finished jobs (with their attempts and output)
	// are kept. Defaults to 7 days.
	Retention time.Duration
	// DownRetention is how long a worker stays listed DOWN before it is
	// forgotten (a worker started again registers anew, so the old entry
	// would stay for ever). Defaults to 24 hours.
	DownRetention time.Duration
	// GCInterval is how often finished jobs past Retention, unused bundles
	// and workers DOWN past DownRetention are removed. The clock is read
	// every SweepInterval, so no removal comes sooner. Defaults to a
	// minute.
	GCInterval time.Duration
	// BundleGrace is how long a bundle that no job names is kept after its
	// last upload (for the submission that follows it); then it is removed.
	// A bundle is named by its jobs until Retention removes the last of
	// them. Defaults to an hour.
	BundleGrace time.Duration
	// EventBuffer is how many job and worker events /events can replay.
	// Defaults to 4096.
	EventBuffer int
	// Metrics receives the coordinator's Prometheus metrics (and the HTTP
	// API's, which finds it through Coordinator.Metrics). Defaults to a
	// registry of its own.
	Metrics *metrics.Registry
}

func (c *Config) fill() {
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	c.HeartbeatInterval = cmp.Or(c.HeartbeatInterval, DefaultHeartbeatInterval)
	c.HeartbeatTimeout = cmp.Or(c.HeartbeatTimeout, DefaultHeartbeatTimeout)
	c.AckTimeout = cmp.Or(c.AckTimeout, DefaultAckTimeout)
	if c.NoFleetRetries {
		c.FleetRetries = 0
	} else {
		c.FleetRetries = cmp.Or(c.FleetRetries, DefaultFleetRetries)
	}
	c.SweepInterval = cmp.Or(c.SweepInterval, min(DefaultSweepInterval, c.HeartbeatTimeout/4))
	c.Grace = cmp.Or(c.Grace, DefaultGrace)
	c.MaxPass = cmp.Or(c.MaxPass, DefaultMaxPass)
	c.EventBuffer = cmp.Or(c.EventBuffer, 4096)
	c.Retention = cmp.Or(c.Retention, DefaultRetention)
	c.DownRetention = cmp.Or(c.DownRetention, DefaultDownRetention)
	c.GCInterval = cmp.Or(c.GCInterval, DefaultGCInterval)
	c.BundleGrace = cmp.Or(c.BundleGrace, DefaultBundleGrace)
	if c.Metrics == nil {
		c.Metrics = metrics.NewRegistry()
	}
}

func (c *Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("coordinator config: Store is required")
	case c.HeartbeatInterval <= 0:
		return errors.New("coordinator config: HeartbeatInterval must be positive")
	case c.HeartbeatTimeout <= c.HeartbeatInterval:
		return fmt.Errorf("coordinator config: HeartbeatTimeout (%s) must be longer than HeartbeatInterval (%s)", c.HeartbeatTimeout, c.HeartbeatInterval)
	case c.Retention < 0:
		return errors.New("coordinator config: Retention must not be negative")
	case c.DownRetention < 0:
		return errors.New("coordinator config: DownRetention must not be negative")
	case c.GCInterval < 0:
		return errors.New("coordinator config: GCInterval must not be negative")
	case c.BundleGrace < 0:
		return errors.New("coordinator config: BundleGrace must not be negative")
	case c.EventBuffer < 1:
		return errors.New("coordinator config: EventBuffer must be at least 1")
	case c.FleetRetries < 0:
		return errors.New("coordinator config: FleetRetries must not be negative")
	}
	return nil
}

// Coordinator is the brain of a drover cluster.
type Coordinator struct {
	cfg   Config
	store store.Store
	log   *slog.Logger
	clock Clock

	wake        chan struct{} // scheduler wake-up, capacity 1
	events      *Hub
	watch       *watchers
	pollWakeups *pollWakeups // wakes the workers' long-polls

	lastFree int // free slots the last scheduling pass found, -1 if unknown (only the pass touches it)
	// fleetChanged is set by every Wake but a new job's: something may
	// have freed or added capacity since the last pass.
	fleetChanged atomic.Bool
	pendingMu    sync.Mutex
	pending      map[string]string // last pending reason written per job

	// These remember what hot calls would otherwise read from the store.
	// The store stays the source of truth. A restarted coordinator, or
	// another one on the same store, reads them again.
	secrets  workerSecrets
	owners   *attemptOwners
	fleet    fleetView
	draining *drainingSet

	metrics *coordMetrics

	// startedAt is when Start ran: leases are enforced only once workers
	// have had a heartbeat timeout to find a restarted coordinator.
	startedAt time.Time

	stop    context.CancelFunc
	wg      sync.WaitGroup
	started bool
}

// New returns a Coordinator.
// Start runs its loops.
func New(cfg Config) (*Coordinator, error) {
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Coordinator{
		cfg:         cfg,
		store:       cfg.Store,
		log:         cfg.Logger,
		clock:       cfg.Clock,
		wake:        make(chan struct{}, 1),
		events:      NewHub(cfg.EventBuffer),
		watch:       newWatchers(),
		pollWakeups: newPollWakeups(),
		pending:     map[string]string{},
		owners:      newAttemptOwners(),
		draining:    newDrainingSet(),
	}
	c.metrics = newCoordMetrics(cfg.Metrics, c)
	return c, nil
}

// Start runs the scheduler, the reaper and the retention service until Stop.
func (c *Coordinator) Start(ctx context.Context) error {
	if c.started {
		return errors.New("coordinator already started")
	}
	c.started = true
	c.startedAt = c.now()
	// Long-polls learn from memory which workers a previous run left
	// DRAINING. Without this they learn it from their next heartbeat's
	// answer.
	if ws, err := c.store.Fleet(ctx); err != nil {
		c.log.Warn("read the workers at start", "err", err)
	} else {
		for _, w := range ws {
			c.draining.note(w.ID, w.State)
		}
	}
	ctx, c.stop = context.WithCancel(context.WithoutCancel(ctx))
	c.wg.Add(3)
	go func() { defer c.wg.Done(); c.scheduleLoop(ctx) }()
	go func() { defer c.wg.Done(); c.reapLoop(ctx) }()
	go func() { defer c.wg.Done(); c.retentionLoop(ctx) }()
	c.Wake()
	return nil
}

// Stop ends the loops and waits for them. Long-polls and follow streams end
// with their requests' contexts.
func (c *Coordinator) Stop() {
	if c.stop != nil {
		c.stop()
	}
	c.wg.Wait()
	c.events.Close()
}

// Wake asks for a scheduling pass soon; many wakes coalesce into one pass.
func (c *Coordinator) Wake() {
	c.fleetChanged.Store(true)
	c.wakeQueued()
}

// wakeQueued is Wake for a new job in the queue.
// A fleet the last pass found without a free slot cannot take the job.
// Such a pass is skipped until something else changes (see scheduleLoop).
func (c *Coordinator) wakeQueued() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Metrics is the registry of the coordinator's metrics, which GET /metrics
// serves; the HTTP API adds its own to it.
func (c *Coordinator) Metrics() *metrics.Registry { return c.cfg.Metrics }

// Events is the hub of job and worker changes.
func (c *Coordinator) Events() *Hub { return c.events }

// HeartbeatInterval and HeartbeatTimeout as configured.
func (c *Coordinator) HeartbeatInterval() time.Duration { return c.cfg.HeartbeatInterval }
func (c *Coordinator) HeartbeatTimeout() time.Duration  { return c.cfg.HeartbeatTimeout }

func (c *Coordinator) now() time.Time { return c.clock.Now().UTC() }

// publishJob sends a job change to /events and to the job's followers.
func (c *Coordinator) publishJob(j *drover.Job) {
	if j == nil {
		return
	}
	cp := *j
	cp.Attempts = nil
	c.events.Publish(drover.Event{Type: "job", Job: &cp})
	c.watch.notify(j.ID, true)
}

// forgetWorker drops what memory holds of a worker that left or was lost.
// The fleet view goes too, as it counted the worker.
func (c *Coordinator) forgetWorker(workerID string) {
	c.secrets.forget(workerID)
	c.draining.forget(workerID)
	c.fleet.forget()
}

// publishWorker sends a worker change to /events.
func (c *Coordinator) publishWorker(w *drover.Worker) {
	if w == nil {
		return
	}
	c.events.Publish(drover.Event{Type: "worker", Worker: w})
}
