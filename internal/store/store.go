// Package store defines the one wide interface through which the coordinator
// keeps jobs, attempts, workers and output. Store says what each method
// promises, and which *drover.Error codes it returns.
//
// Each implementation lives in a sub-package, such as sqlite. Every one
// passes the conformance suite in storetest.
//
// Every state transition is one transaction and stamps its timestamp. The
// store never reads the clock. Callers pass "now", so tests drive time.
package store

import (
	"context"
	"io"
	"time"

	"github.com/drover-dev/drover"
)

// Store is the coordinator's persistence. Methods return *drover.Error.
// A missing row gives ENOTFOUND. A transition the current state forbids
// gives ECONFLICT, as for a stale attempt or a final job. Anything else is
// EINTERNAL.
type Store interface {
	// CreateJob inserts a QUEUED job. The caller sets ID, Spec and
	// CreatedAt. QueuedAt and QueueRank take CreatedAt. With a non-empty
	// idemKey, a second call with the same key returns the first job and
	// created=false. A spec naming a bundle the store does not hold is
	// EINVALID, on the field "bundle".
	CreateJob(ctx context.Context, job *drover.Job, idemKey string) (j *drover.Job, created bool, err error)
	// GetJob returns a job with its attempts, oldest first.
	GetJob(ctx context.Context, id string) (*drover.Job, error)
	// ListJobs returns jobs newest first by id, without attempts. It also
	// returns the cursor of the next page, or "" when there is none.
	ListJobs(ctx context.Context, f drover.JobFilter) ([]drover.Job, string, error)
	// QueuedJobs returns up to limit QUEUED jobs by priority descending,
	// then QueueRank, then id. Jobs whose NotBefore is in the future are
	// included. A job's QueueRank is its submission. A requeue without
	// JobRetry keeps it. A requeue with JobRetry sets it to the requeue's
	// time.
	QueuedJobs(ctx context.Context, limit int) ([]drover.Job, error)
	// CountJobs returns the number of jobs in each state.
	CountJobs(ctx context.Context) (map[drover.JobState]int, error)
	// SetPendingReasons stores the "why pending" text of queued jobs
	// (job id -> reason, "" clears). Jobs no longer QUEUED are skipped.
	SetPendingReasons(ctx context.Context, reasons map[string]string) error

	// Assign applies placements in one transaction. Each job still QUEUED
	// and past NotBefore, on a worker still READY, becomes ASSIGNED. It
	// gets a new attempt numbered len(attempts)+1. Placements no longer
	// valid are skipped. It returns the attempts created.
	Assign(ctx context.Context, now time.Time, ps []Placement) ([]drover.Attempt, error)

	// CancelJob cancels a job. A QUEUED job becomes CANCELLED at once. So
	// does an ASSIGNED job whose attempt was not yet delivered to its
	// worker, with its attempt. A delivered or acknowledged attempt gets
	// StopRequested, as the command may already run. The job then becomes
	// CANCELLED when the attempt ends. A job already cancelling is
	// returned unchanged. A final job is ECONFLICT.
	CancelJob(ctx context.Context, id string, now time.Time) (*drover.Job, error)
	// CancelJobs cancels jobs as CancelJob does, each with its own result.
	// It cancels them all in one transaction, so no job of the list can
	// start in a slot another frees.
	CancelJobs(ctx context.Context, ids []string, now time.Time) ([]CancelResult, error)

	// CreateWorker inserts a READY worker and the hash of its secret. Names
	// are unique among live workers: when a READY or DRAINING worker has
	// w's name it writes nothing and returns ECONFLICT. A DOWN worker's
	// name may be taken.
	CreateWorker(ctx context.Context, w *drover.Worker, secretHash []byte) error
	// GetWorker returns a worker with Allocated and Running filled in.
	GetWorker(ctx context.Context, id string) (*drover.Worker, error)
	// WorkerSecretHash returns the stored hash of a worker's secret.
	WorkerSecretHash(ctx context.Context, id string) ([]byte, error)
	// ListWorkers returns all workers by name, with Allocated and Running.
	ListWorkers(ctx context.Context) ([]drover.Worker, error)
	// Fleet returns all workers by name with Allocated, as ListWorkers
	// does, and Running nil. That is what scheduling needs. It reads one
	// row per worker however many attempts run.
	Fleet(ctx context.Context) ([]drover.Worker, error)
	// Heartbeat records a heartbeat and returns the worker. It sets
	// LastHeartbeatAt to now and stores the usage. A DOWN worker becomes
	// READY again, and revived says so. If another live worker has taken
	// its name meanwhile, nothing is written and the error is ECONFLICT.
	Heartbeat(ctx context.Context, id string, now time.Time, u drover.WorkerUsage) (w *drover.Worker, revived bool, err error)
	// SetWorkerState sets READY or DRAINING on a worker that is not DOWN.
	// MarkWorkerDown alone sets DOWN. A DOWN worker is ECONFLICT, as only a
	// heartbeat brings it back.
	SetWorkerState(ctx context.Context, id string, s drover.WorkerState) (*drover.Worker, error)
	// DeleteWorker removes a worker that has no active attempt (ECONFLICT otherwise).
	DeleteWorker(ctx context.Context, id string) error
	// ForgetWorker removes a worker only if it is DOWN, silent since before
	// silentBefore and without an active attempt, and says whether it did.
	ForgetWorker(ctx context.Context, id string, silentBefore time.Time) (bool, error)
	// StaleWorkers returns the ids of READY or DRAINING workers whose last
	// heartbeat is before the given time. It also returns DOWN workers that
	// still have active attempts, as their ending was interrupted.
	StaleWorkers(ctx context.Context, before time.Time) ([]string, error)
	// MarkWorkerDown sets a worker DOWN if its last heartbeat is still
	// before the given time. It returns the worker's active attempts, to be
	// ended as worker_lost. marked says this call set it DOWN. It returns
	// ECONFLICT if the worker heartbeated since. A worker already DOWN
	// stays so with marked false, and its active attempts are returned.
	MarkWorkerDown(ctx context.Context, id string, before time.Time) (as []drover.Attempt, marked bool, err error)

	// GetAttempt returns one attempt.
	GetAttempt(ctx context.Context, id string) (*drover.Attempt, error)
	// AttemptsByID returns the attempts among ids that exist.
	AttemptsByID(ctx context.Context, ids []string) ([]drover.Attempt, error)
	// Deliver returns a worker's assignments not yet delivered, with their
	// specs. It also returns its stop requests not yet delivered. It marks
	// both delivered.
	Deliver(ctx context.Context, workerID string, now time.Time) ([]drover.Assignment, []string, error)
	// StopRequested returns the ids of a worker's active attempts with StopRequested.
	StopRequested(ctx context.Context, workerID string) ([]string, error)
	// AcceptAttempt records the worker's acknowledgement. It is
	// idempotent. ECONFLICT if the attempt is final.
	AcceptAttempt(ctx context.Context, id string, now time.Time) (*drover.Attempt, error)
	// StartAttempt marks the attempt and its job RUNNING, which
	// acknowledges the attempt too. It records the bundle fetch and image
	// pull phases. It is idempotent for a RUNNING attempt. ECONFLICT if
	// final.
	StartAttempt(ctx context.Context, id string, now time.Time, bundleFetch, imagePull time.Duration) (*drover.Job, error)
	// AppendOutput stores chunks of an active attempt and returns the job
	// id. It stores each seq of an attempt once. ECONFLICT if the attempt
	// is final.
	AppendOutput(ctx context.Context, attemptID string, chunks []drover.OutputChunk, now time.Time) (jobID string, err error)
	// ReadOutput returns a job's chunks with ID > afterID, in order. It
	// returns at most limit, or all when limit is 0. stream picks one
	// stream, or both when it is "".
	//
	// A job past its output cap keeps its head and tail. The first chunk
	// after the head becomes a marker, with Marker set. The chunks after it
	// up to the tail are deleted, also while a reader pages through them.
	// Each attempt's chunks have consecutive seqs, so a reader can tell a
	// gap.
	ReadOutput(ctx context.Context, jobID string, afterID int64, stream drover.Stream, limit int) ([]drover.StoredChunk, error)
	// EndAttempt ends an active attempt. In the same transaction it applies
	// to the job the outcome decide returns. decide is given the job, with
	// its attempts, and the ended attempt. ECONFLICT if the attempt is
	// final.
	EndAttempt(ctx context.Context, id string, end AttemptEnd, decide func(j *drover.Job, a *drover.Attempt) JobOutcome) (*drover.Job, error)
	// UnacknowledgedAttempts returns ASSIGNED attempts never acknowledged
	// and assigned before the given time.
	UnacknowledgedAttempts(ctx context.Context, assignedBefore time.Time) ([]drover.Attempt, error)
	// OverdueAttempts returns the RUNNING attempts of jobs with a timeout
	// that have overrun it. An attempt is overdue when startedAt + timeout
	// + slack + its worker's grace is before now. grace stands for a
	// worker that gave none.
	OverdueAttempts(ctx context.Context, now time.Time, slack, grace time.Duration) ([]drover.Attempt, error)

	// PutBundle stores a bundle's ZIP bytes, read from data to its end,
	// once per SHA-256. created is false when the bundle was already
	// there. data is then not read, and the bytes are not rewritten.
	// Either way the bundle counts as uploaded at b.CreatedAt for
	// DeleteUnusedBundles.
	//
	// The bytes are read and stored a part at a time, never held whole in
	// memory. A bundle is readable only once all of it is stored. A failed
	// call leaves the store as it was, whether data failed or ctx ended.
	// Concurrent calls for one bundle store it once.
	PutBundle(ctx context.Context, b *drover.Bundle, data io.Reader) (created bool, err error)
	// GetBundle returns a bundle's description. ENOTFOUND if absent.
	GetBundle(ctx context.Context, sha256 string) (*drover.Bundle, error)
	// OpenBundle returns a reader of a bundle's ZIP bytes. ENOTFOUND if
	// absent. It reads the store a part at a time as it is read, with ctx,
	// so a bundle is never held whole in memory. If the bundle is removed
	// before the reader reaches its end, a read fails rather than end
	// early.
	OpenBundle(ctx context.Context, sha256 string) (io.ReadCloser, error)

	// DeleteFinished removes up to limit jobs that reached a final state
	// before the given time, with their attempts and output, and returns
	// how many it removed. Jobs not final are never removed.
	DeleteFinished(ctx context.Context, before time.Time, limit int) (int, error)
	// DeleteUnusedBundles removes up to limit bundles that no job names,
	// whatever its state, and that were last uploaded before the given
	// time. It returns how many it removed. The bytes of uploads cut short
	// that began before the given time go too. The process stopping during
	// PutBundle cuts an upload short.
	DeleteUnusedBundles(ctx context.Context, uploadedBefore time.Time, limit int) (int, error)

	// Close releases the store.
	Close() error
}

// Placement puts a job on a worker. AttemptID is chosen by the caller.
type Placement struct {
	JobID     string
	WorkerID  string
	AttemptID string
}

// AttemptEnd is how an attempt ended.
type AttemptEnd struct {
	// If, when set, is a precondition checked in the same transaction. The
	// attempt must still be in this state, else EndAttempt is ECONFLICT and
	// changes nothing. ASSIGNED also means never acknowledged. The reaper
	// uses it so that an attempt that started, or finished, between its
	// read and its write is left alone.
	If drover.AttemptState

	At time.Time
	// StartedAt is when the attempt started, for an attempt whose start
	// was never recorded. Its start and end were then reported together.
	// It is stamped on the attempt, and on the job when the job ends. It is
	// ignored otherwise.
	StartedAt *time.Time
	// RanUntil, when set, is the last moment the attempt is known to have
	// run, such as a lost worker's last heartbeat. Its running phase ends
	// there rather than at At, when the attempt was given up.
	RanUntil *time.Time
	State    drover.AttemptState // COMPLETED, FAILED or CANCELLED
	ExitCode *int
	Reason   drover.Reason
	Message  string
	Usage    drover.Usage
	Phases   drover.Phases
}

// JobOutcome is what happens to a job when its attempt ends.
type JobOutcome struct {
	State    drover.JobState // COMPLETED, FAILED or CANCELLED, or QUEUED for a retry
	ExitCode *int
	Reason   drover.Reason
	Message  string
	// NotBefore delays a retry (QUEUED only).
	NotBefore *time.Time
	// JobRetry / FleetRetry add one to the job's retry counters.
	JobRetry   bool
	FleetRetry bool
}

// CancelResult is one job's answer in CancelJobs. It holds the job, or
// why not. An unknown job gives ENOTFOUND, a final one ECONFLICT.
type CancelResult struct {
	Job *drover.Job
	Err error
}
