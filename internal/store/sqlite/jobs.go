package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

// DefaultListLimit is the page size of ListJobs when the filter gives none.
const DefaultListLimit = 100

// noCursor sorts after every job id, as ids are ASCII and this is
// U+10FFFF. The first page and the next ones then share one statement.
const noCursor = "\U0010FFFF"

var (
	qJobByID        = readQuery(`SELECT ` + jobCols + ` FROM jobs WHERE id = ?`)
	qJobIDByIdemKey = readQuery(`SELECT id FROM jobs WHERE idem_key = ?`)
	qJobAttempts    = readQuery(`SELECT ` + attemptCols + ` FROM attempts a WHERE a.job_id = ? ORDER BY a.n`)
	qListJobs       = readQuery(`SELECT ` + jobCols + ` FROM jobs WHERE id < ? ORDER BY id DESC LIMIT ?`)
	qListJobsIn     = readQuery(`SELECT ` + jobCols + ` FROM jobs WHERE state = ? AND id < ? ORDER BY id DESC LIMIT ?`)
	// INDEXED BY pins the index that is already in order. Without
	// statistics the planner prefers jobs_state_id and sorts every queued
	// job on each pass. The pin also makes Open fail loudly should the
	// index ever go missing.
	qQueuedJobs = readQuery(`SELECT ` + jobCols + ` FROM jobs INDEXED BY jobs_queue
		WHERE state = 'QUEUED' ORDER BY priority DESC, queue_rank, id`)
	qCountJobs = readQuery(`SELECT state, count(*) FROM jobs GROUP BY state`)

	// A key already used inserts nothing (and the job it names is read);
	// a new one costs no read first.
	qInsertJob = writeQuery(`INSERT INTO jobs (id, spec, priority, cpu, memory_mb, timeout_ns, state,
		created_at, queued_at, queue_rank, idem_key, bundle) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'QUEUED', ?7, ?7, ?7, ?8, ?9)
		ON CONFLICT (idem_key) DO NOTHING`)
	qBundleExists     = writeQuery(`SELECT EXISTS (SELECT 1 FROM bundles WHERE sha256 = ?)`)
	qSetPendingReason = writeQuery(`UPDATE jobs SET pending_reason = ? WHERE id = ? AND state = 'QUEUED'`)
	// What an earlier attempt left goes, such as its exit code or "retry 2
	// of 3". The job ends cancelled, not as that attempt did.
	qCancelJobNow = writeQuery(`UPDATE jobs SET state = 'CANCELLED', reason = 'cancelled', message = 'cancelled',
		exit_code = NULL, pending_reason = '', not_before = NULL,
		completed_at = ?1, cancel_requested_at = coalesce(cancel_requested_at, ?1) WHERE id = ?2`)
	qRequestJobCancel = writeQuery(`UPDATE jobs SET cancel_requested_at = ? WHERE id = ?`)
	qActiveAttempt    = readQuery(`SELECT ` + attemptCols + ` FROM attempts a
		WHERE a.job_id = ? AND a.finished_at IS NULL ORDER BY a.n DESC LIMIT 1`)
	qCancelAttemptNow = writeQuery(`UPDATE attempts SET state = 'CANCELLED', reason = 'cancelled',
		finished_at = ? WHERE id = ?`)
	qRequestAttemptStop = writeQuery(`UPDATE attempts SET stop_requested = 1 WHERE id = ?`)
)

// getJob reads a job, with its attempts when asked.
func getJob(x *session, id string, attempts bool) (*drover.Job, error) {
	j, err := scanJob(x.queryRow(qJobByID, id), x.specs)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("job", id)
	}
	if err != nil {
		return nil, err
	}
	if attempts {
		rows, err := x.query(qJobAttempts, id)
		if err != nil {
			return nil, err
		}
		if j.Attempts, err = scanAttempts(rows); err != nil {
			return nil, err
		}
		if j.Attempts == nil {
			j.Attempts = []drover.Attempt{} // "attempts": [] rather than null in JSON
		}
	}
	return &j, nil
}

func scanJobs(rows *sql.Rows, specs *specCache) ([]drover.Job, error) {
	return scanJobsUpTo(rows, specs, 0)
}

// scanJobsUpTo is scanJobs stopping after limit jobs (0 or less: no limit).
func scanJobsUpTo(rows *sql.Rows, specs *specCache, limit int) ([]drover.Job, error) {
	defer rows.Close()
	var js []drover.Job
	for (limit <= 0 || len(js) < limit) && rows.Next() {
		j, err := scanJob(rows, specs)
		if err != nil {
			return nil, err
		}
		js = append(js, j)
	}
	return js, rows.Err()
}

// CreateJob implements store.Store.
func (s *Store) CreateJob(ctx context.Context, job *drover.Job, idemKey string) (*drover.Job, bool, error) {
	if job.ID == "" || job.CreatedAt.IsZero() {
		return nil, false, drover.Errorf(drover.EINVALID, "create job: id and createdAt are required")
	}
	// The new row is known without reading it back. A write call runs on
	// the one writer every other write waits for. Every column not set by
	// qInsertJob holds its default. The spec goes through JSON as a read
	// would, so nil and empty collections come back the same way. Both are
	// done here, before the call waits for the writer, rather than on it.
	sp := &job.Spec
	spec := encodeJSON(sp)
	made := drover.Job{ID: job.ID, State: drover.JobQueued, CreatedAt: canonical(job.CreatedAt), Attempts: []drover.Attempt{}}
	queued := made.CreatedAt
	made.QueuedAt, made.QueueRank = &queued, queued
	if sp, ok := readBack(sp); ok {
		made.Spec = sp
	} else if err := json.Unmarshal([]byte(spec), &made.Spec); err != nil {
		return nil, false, fmt.Errorf("job %s: decode spec: %w", made.ID, err)
	}
	var (
		out     *drover.Job
		created bool
	)
	err := s.write(ctx, func(x *session) error {
		created = false
		var key sql.NullString
		if idemKey != "" {
			key = sql.NullString{String: idemKey, Valid: true}
		}
		if sp.Bundle != "" {
			// Checked in the transaction that inserts the job, so a bundle
			// removed as unused cannot be named by a job made meanwhile.
			var ok bool
			if err := x.queryRow(qBundleExists, sp.Bundle).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return drover.FieldErrorf("bundle", "bundle %s is not on this coordinator: upload the ZIP first (POST /api/v1/bundles, or drover run --bundle)", sp.Bundle)
			}
		}
		res, err := x.exec(qInsertJob, job.ID, spec, sp.Priority, sp.Resources.CPU,
			sp.Resources.MemoryMB, int64(sp.Timeout), unixNano(job.CreatedAt), key, sp.Bundle)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			// The key was used: the first job is the answer.
			var first string
			if err := x.queryRow(qJobIDByIdemKey, idemKey).Scan(&first); err != nil {
				return err
			}
			out, err = getJob(x, first, true)
			return err
		}
		created = true
		out = &made
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if created {
		// The job is committed. The scheduler and delivery read the spec
		// next, and need not decode it again.
		s.specs.put(made.ID, made.Spec)
	}
	return out, created, nil
}

// readBack returns sp as decoding its JSON would, without the decoding.
// Empty collections become nil, as JSON omits them. The rest is copied, so
// the result shares nothing with sp. ok is false when a string is not
// valid UTF-8, since JSON would replace the bad bytes. The caller then
// decodes.
func readBack(sp *drover.JobSpec) (out drover.JobSpec, ok bool) {
	if !validUTF8(sp) {
		return out, false
	}
	out = *sp
	out.Command = slices.Clone(sp.Command) // nil stays nil, and empty stays empty as "command": []
	out.Env, out.Constraints, out.RetryOn = nil, nil, nil
	if len(sp.Env) > 0 {
		out.Env = maps.Clone(sp.Env)
	}
	if len(sp.Constraints) > 0 {
		out.Constraints = maps.Clone(sp.Constraints)
	}
	if len(sp.RetryOn) > 0 {
		out.RetryOn = slices.Clone(sp.RetryOn)
	}
	return out, true
}

// validUTF8 reports whether every string of sp is valid UTF-8.
func validUTF8(sp *drover.JobSpec) bool {
	if !utf8.ValidString(sp.Name) || !utf8.ValidString(sp.Image) || !utf8.ValidString(sp.Executor) || !utf8.ValidString(sp.Bundle) {
		return false
	}
	for _, a := range sp.Command {
		if !utf8.ValidString(a) {
			return false
		}
	}
	for _, m := range []map[string]string{sp.Env, sp.Constraints} {
		for k, v := range m {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return false
			}
		}
	}
	for _, r := range sp.RetryOn {
		if !utf8.ValidString(string(r)) {
			return false
		}
	}
	return true
}

// GetJob implements store.Store.
func (s *Store) GetJob(ctx context.Context, id string) (*drover.Job, error) {
	var j *drover.Job
	err := s.readTx(ctx, func(x *session) (err error) {
		j, err = getJob(x, id, true)
		return err
	})
	return j, err
}

// ListJobs implements store.Store. A zero Limit means DefaultListLimit; the
// store imposes no maximum.
func (s *Store) ListJobs(ctx context.Context, f drover.JobFilter) ([]drover.Job, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	cursor := f.Cursor
	if cursor == "" {
		cursor = noCursor
	}
	var js []drover.Job
	// One row more than asked tells whether there is a next page.
	list := func(x *session, q string, args ...any) ([]drover.Job, error) {
		rows, err := x.query(q, append(args, cursor, limit+1)...)
		if err != nil {
			return nil, err
		}
		return scanJobs(rows, x.specs)
	}
	var err error
	states := f.AllStates()
	switch len(states) {
	case 0:
		err = s.read(ctx, func(x *session) (err error) {
			js, err = list(x, qListJobs)
			return err
		})
	case 1:
		err = s.read(ctx, func(x *session) (err error) {
			js, err = list(x, qListJobsIn, string(states[0]))
			return err
		})
	default:
		// With several states, the head of each comes from its index, and
		// the heads are merged. One query would sort every job of those
		// states.
		err = s.readTx(ctx, func(x *session) error {
			seen := map[drover.JobState]bool{}
			for _, st := range states {
				if seen[st] {
					continue
				}
				seen[st] = true
				more, err := list(x, qListJobsIn, string(st))
				if err != nil {
					return err
				}
				js = append(js, more...)
			}
			slices.SortFunc(js, func(a, b drover.Job) int { return strings.Compare(b.ID, a.ID) })
			js = js[:min(len(js), limit+1)]
			return nil
		})
	}
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(js) > limit {
		js = js[:limit]
		next = js[limit-1].ID
	}
	return js, next, nil
}

// QueuedJobs implements store.Store. A limit of 0 or less returns them all.
//
// The limit is not a bound parameter of the query. SQLite's planner weighs
// a LIMIT's value, so a statement whose LIMIT parameter changes is compiled
// again at its next step. The passes of a busy fleet ask for a different
// number almost every time. Rows come from the index in order, one step
// each, so stopping after limit of them reads no more.
func (s *Store) QueuedJobs(ctx context.Context, limit int) ([]drover.Job, error) {
	var js []drover.Job
	err := s.read(ctx, func(x *session) error {
		rows, err := x.query(qQueuedJobs)
		if err != nil {
			return err
		}
		js, err = scanJobsUpTo(rows, x.specs, limit)
		return err
	})
	return js, err
}

// CountJobs implements store.Store. Every state is present, with 0 when no
// job is in it. It reads the whole state index: fine for metrics scrapes,
// not for a hot path.
func (s *Store) CountJobs(ctx context.Context) (map[drover.JobState]int, error) {
	counts := make(map[drover.JobState]int, len(drover.JobStates))
	for _, st := range drover.JobStates {
		counts[st] = 0
	}
	err := s.read(ctx, func(x *session) error {
		rows, err := x.query(qCountJobs)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				st drover.JobState
				n  int
			)
			if err := rows.Scan(&st, &n); err != nil {
				return err
			}
			counts[st] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// SetPendingReasons implements store.Store.
func (s *Store) SetPendingReasons(ctx context.Context, reasons map[string]string) error {
	if len(reasons) == 0 {
		return nil
	}
	return s.write(ctx, func(x *session) error {
		// In id order, so the writes touch the primary key in order.
		for _, id := range slices.Sorted(maps.Keys(reasons)) {
			if _, err := x.exec(qSetPendingReason, reasons[id], id); err != nil {
				return err
			}
		}
		return nil
	})
}

// CancelJob implements store.Store. An attempt counts as acknowledged once
// the worker accepted or started it. Before that the worker may never have
// seen it. The job is then cancelled at once, and a late start gets
// ECONFLICT.
func (s *Store) CancelJob(ctx context.Context, id string, now time.Time) (*drover.Job, error) {
	var j *drover.Job
	err := s.write(ctx, func(x *session) (err error) {
		j, err = cancelJob(x, id, unixNano(now))
		return err
	})
	return j, err
}

// CancelJobs implements store.Store. The jobs are cancelled in one
// transaction, so none of them can be placed in a slot another of them
// frees. A job unknown or already final gets its error, and the others go
// on. Those errors come before anything is written for the job.
func (s *Store) CancelJobs(ctx context.Context, ids []string, now time.Time) ([]store.CancelResult, error) {
	var out []store.CancelResult
	err := s.write(ctx, func(x *session) error {
		out = make([]store.CancelResult, len(ids))
		t := unixNano(now)
		for i, id := range ids {
			j, err := cancelJob(x, id, t)
			if err != nil && !drover.IsCode(err, drover.ENOTFOUND) && !drover.IsCode(err, drover.ECONFLICT) {
				return err
			}
			out[i] = store.CancelResult{Job: j, Err: err}
		}
		return nil
	})
	return out, err
}

// cancelJob is CancelJob's work in x.
func cancelJob(x *session, id string, t int64) (*drover.Job, error) {
	cur, err := getJob(x, id, false)
	if err != nil {
		return nil, err
	}
	if cur.State.Final() {
		return nil, drover.Errorf(drover.ECONFLICT, "job %s is already %s", id, cur.State)
	}
	a, err := scanAttempt(x.queryRow(qActiveAttempt, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// QUEUED: no attempt to stop.
		if _, err := x.exec(qCancelJobNow, t, id); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case a.DeliveredAt == nil && a.AcceptedAt == nil:
		// The worker has not seen it: nothing can be running.
		if _, err := x.exec(qCancelAttemptNow, t, a.ID); err != nil {
			return nil, err
		}
		if _, err := x.exec(qCancelJobNow, t, id); err != nil {
			return nil, err
		}
	case cur.CancelRequestedAt != nil:
		// Already cancelling: the worker has been told.
	default:
		if _, err := x.exec(qRequestAttemptStop, a.ID); err != nil {
			return nil, err
		}
		if _, err := x.exec(qRequestJobCancel, t, id); err != nil {
			return nil, err
		}
	}
	return getJob(x, id, true)
}

// Assign implements store.Store. A placement is skipped when its job is no
// longer QUEUED or still in its retry backoff, or its worker is missing or
// not READY. The store does not re-check capacity: placement is the
// scheduler's, which holds the only view of what it has placed in a pass.
func (s *Store) Assign(ctx context.Context, now time.Time, ps []store.Placement) ([]drover.Attempt, error) {
	for _, p := range ps {
		if p.JobID == "" || p.WorkerID == "" || p.AttemptID == "" {
			return nil, drover.Errorf(drover.EINVALID, "assign: a placement needs a job, a worker and an attempt id")
		}
	}
	now = canonical(now)
	t := unixNano(now)
	var out []drover.Attempt
	err := s.write(ctx, func(x *session) error {
		out = out[:0]
		type workerRow struct {
			ready bool
			name  string
		}
		workers := make(map[string]workerRow) // read once per call
		for _, p := range ps {
			wk, seen := workers[p.WorkerID]
			if !seen {
				var st drover.WorkerState
				err := x.queryRow(qWorkerState, p.WorkerID).Scan(&st, &wk.name)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				wk.ready = st == drover.WorkerReady
				workers[p.WorkerID] = wk
			}
			if !wk.ready {
				continue
			}
			var (
				queuedAt sql.NullInt64
				res      drover.Resources
				n        int
			)
			err := x.queryRow(qClaimJob, t, p.WorkerID, p.JobID, wk.name).Scan(&queuedAt, &res.CPU, &res.MemoryMB, &n)
			if errors.Is(err, sql.ErrNoRows) {
				continue // not QUEUED any more, unknown, or backing off
			}
			if err != nil {
				return err
			}
			a := drover.Attempt{
				ID:         p.AttemptID,
				JobID:      p.JobID,
				N:          n + 1,
				WorkerID:   p.WorkerID,
				WorkerName: wk.name,
				State:      drover.AttemptAssigned,
				Resources:  res,
				AssignedAt: &now,
			}
			if queuedAt.Valid {
				a.Phases.Queued = drover.Duration(max(0, t-queuedAt.Int64))
			}
			if _, err := x.exec(qInsertAttempt, a.ID, a.JobID, a.N, a.WorkerID, res.CPU, res.MemoryMB,
				encodePhases(a.Phases), t, a.WorkerName); err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

var (
	qWorkerState = readQuery(`SELECT state, name FROM workers WHERE id = ?`)
	// qClaimJob moves a QUEUED job past its backoff to ASSIGNED and returns
	// what the attempt needs: the wait, the requests and the attempts so far.
	qClaimJob = writeQuery(`UPDATE jobs SET state = 'ASSIGNED', assigned_at = ?1, worker_id = ?2,
		worker_name = ?4, started_at = NULL, pending_reason = ''
		WHERE id = ?3 AND state = 'QUEUED' AND (not_before IS NULL OR not_before <= ?1)
		RETURNING queued_at, cpu, memory_mb, (SELECT count(*) FROM attempts WHERE job_id = ?3)`)
	qInsertAttempt = writeQuery(`INSERT INTO attempts (id, job_id, n, worker_id, state, cpu, memory_mb,
		phases, assigned_at, worker_name) VALUES (?, ?, ?, ?, 'ASSIGNED', ?, ?, ?, ?, ?)`)
)
