package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/drover-dev/drover"
)

var (
	qAttemptByID = readQuery(`SELECT ` + attemptCols + ` FROM attempts a WHERE a.id = ?`)
	// qAttemptAndJob is EndAttempt's read: the attempt and its job in one
	// statement (a statement's own cost here is about that of a row's).
	qAttemptAndJob = writeQuery(`SELECT ` + attemptCols + `, ` + qualified(jobCols, "j") + `
		FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE a.id = ?`)
	qAttemptsByIDs = readQuery(`SELECT ` + attemptCols + ` FROM attempts a
		WHERE a.id IN (SELECT value FROM json_each(?)) ORDER BY a.id`)
	qUnacknowledged = readQuery(`SELECT ` + attemptCols + ` FROM attempts a
		WHERE a.finished_at IS NULL AND a.state = 'ASSIGNED' AND a.accepted_at IS NULL AND a.assigned_at < ?
		ORDER BY a.assigned_at, a.id`)
	qOverdue = readQuery(`SELECT ` + attemptCols + ` FROM attempts a JOIN jobs j ON j.id = a.job_id
		LEFT JOIN workers w ON w.id = a.worker_id
		WHERE a.finished_at IS NULL AND a.state = 'RUNNING' AND j.timeout_ns > 0
		AND a.started_at + j.timeout_ns + ?2 + COALESCE(NULLIF(w.grace_ns, 0), ?3) < ?1
		ORDER BY a.started_at, a.id`)
	qStopRequested = readQuery(`SELECT id FROM attempts
		WHERE worker_id = ? AND finished_at IS NULL AND stop_requested = 1 ORDER BY assigned_at, id`)

	// Deliver's reads; qHasDelivery lets an idle long-poll answer from the
	// read pool without taking the write lock.
	qHasDelivery = readQuery(`SELECT EXISTS (SELECT 1 FROM attempts WHERE worker_id = ? AND finished_at IS NULL
		AND ((state = 'ASSIGNED' AND delivered_at IS NULL) OR (stop_requested = 1 AND stop_delivered_at IS NULL)))`)
	// The per-worker index is pinned for the reason given at qQueuedJobs:
	// unpinned, the planner scans every assigned attempt of the fleet.
	qUndelivered = readQuery(`SELECT a.id, a.job_id, a.n, j.spec, a.assigned_at
		FROM attempts a INDEXED BY attempts_active_by_worker JOIN jobs j ON j.id = a.job_id
		WHERE a.worker_id = ? AND a.finished_at IS NULL AND a.state = 'ASSIGNED' AND a.delivered_at IS NULL
		ORDER BY a.assigned_at, a.id`)
	qUndeliveredStops = readQuery(`SELECT id FROM attempts
		WHERE worker_id = ? AND finished_at IS NULL AND stop_requested = 1 AND stop_delivered_at IS NULL
		ORDER BY assigned_at, id`)
	qMarkDelivered = writeQuery(`UPDATE attempts INDEXED BY attempts_active_by_worker SET delivered_at = ?1
		WHERE worker_id = ?2 AND finished_at IS NULL AND state = 'ASSIGNED' AND delivered_at IS NULL`)
	qMarkStopsDelivered = writeQuery(`UPDATE attempts SET stop_delivered_at = ?1
		WHERE worker_id = ?2 AND finished_at IS NULL AND stop_requested = 1 AND stop_delivered_at IS NULL`)

	// An acknowledgement proves delivery, so it also stamps delivered_at:
	// a worker that got its work by other means is not sent it again.
	qAcceptAttempt = writeQuery(`UPDATE attempts SET accepted_at = coalesce(accepted_at, ?1),
		delivered_at = coalesce(delivered_at, ?1) WHERE id = ?2`)
	qStartAttempt = writeQuery(`UPDATE attempts SET state = 'RUNNING', started_at = ?1,
		accepted_at = coalesce(accepted_at, ?1), delivered_at = coalesce(delivered_at, ?1), phases = ?2
		WHERE id = ?3`)
	qStartJob = writeQuery(`UPDATE jobs SET state = 'RUNNING', started_at = ? WHERE id = ? RETURNING ` + jobCols)
)

func getAttempt(x *session, id string) (*drover.Attempt, error) {
	a, err := scanAttempt(x.queryRow(qAttemptByID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("attempt", id)
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// activeAttempt reads an attempt a worker is calling about. An unknown
// attempt gives ENOTFOUND. One that has ended gives ECONFLICT, which is
// what fences off a worker that lost its lease.
func activeAttempt(x *session, id string) (*drover.Attempt, error) {
	a, err := getAttempt(x, id)
	if err != nil {
		return nil, err
	}
	return a, current(a)
}

func current(a *drover.Attempt) error {
	if a.State.Final() {
		return drover.Errorf(drover.ECONFLICT, "attempt %s is no longer current: it ended %s", a.ID, a.State)
	}
	return nil
}

// activeAttemptAndJob is activeAttempt that also reads the attempt's job.
func activeAttemptAndJob(x *session, id string) (*drover.Attempt, *drover.Job, error) {
	var ar attemptRow
	var jr jobRow
	if err := x.queryRow(qAttemptAndJob, id).Scan(append(ar.dests(), jr.dests()...)...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil, notFound("attempt", id)
		}
		return nil, nil, err
	}
	a, err := ar.attempt()
	if err != nil {
		return nil, nil, err
	}
	if err := current(&a); err != nil {
		return nil, nil, err
	}
	j, err := jr.job(x.specs)
	if err != nil {
		return nil, nil, err
	}
	return &a, &j, nil
}

// GetAttempt implements store.Store.
func (s *Store) GetAttempt(ctx context.Context, id string) (*drover.Attempt, error) {
	var a *drover.Attempt
	err := s.read(ctx, func(x *session) (err error) {
		a, err = getAttempt(x, id)
		return err
	})
	return a, err
}

// AttemptsByID implements store.Store, in id order.
func (s *Store) AttemptsByID(ctx context.Context, ids []string) ([]drover.Attempt, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	// One JSON array parameter, however many ids: no statement per length
	// and no limit on bound variables.
	arr, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	var as []drover.Attempt
	err = s.read(ctx, func(x *session) error {
		rows, err := x.query(qAttemptsByIDs, string(arr))
		if err != nil {
			return err
		}
		as, err = scanAttempts(rows)
		return err
	})
	return as, err
}

// Deliver implements store.Store. Assignments come in assignment order.
func (s *Store) Deliver(ctx context.Context, workerID string, now time.Time) ([]drover.Assignment, []string, error) {
	var pending bool
	err := s.read(ctx, func(x *session) error {
		return x.queryRow(qHasDelivery, workerID).Scan(&pending)
	})
	if err != nil || !pending {
		return nil, nil, err
	}
	var (
		as    []drover.Assignment
		stops []string
	)
	err = s.write(ctx, func(x *session) error {
		as, stops = nil, nil
		rows, err := x.query(qUndelivered, workerID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				a        drover.Assignment
				spec     []byte
				assigned int64
			)
			if err := rows.Scan(&a.AttemptID, &a.JobID, &a.N, &spec, &assigned); err != nil {
				return err
			}
			a.AssignedAt = fromUnixNano(assigned)
			if err := decodeSpec(x.specs, a.JobID, spec, &a.Spec); err != nil {
				return err
			}
			as = append(as, a)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if stops, err = ids(x.query(qUndeliveredStops, workerID)); err != nil {
			return err
		}
		t := unixNano(now)
		if len(as) > 0 {
			if _, err := x.exec(qMarkDelivered, t, workerID); err != nil {
				return err
			}
		}
		if len(stops) > 0 {
			if _, err := x.exec(qMarkStopsDelivered, t, workerID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return as, stops, nil
}

// ids reads a column of strings.
func ids(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// StopRequested implements store.Store.
func (s *Store) StopRequested(ctx context.Context, workerID string) ([]string, error) {
	var out []string
	err := s.read(ctx, func(x *session) (err error) {
		out, err = ids(x.query(qStopRequested, workerID))
		return err
	})
	return out, err
}

// AcceptAttempt implements store.Store.
func (s *Store) AcceptAttempt(ctx context.Context, id string, now time.Time) (*drover.Attempt, error) {
	var a *drover.Attempt
	err := s.write(ctx, func(x *session) (err error) {
		if a, err = activeAttempt(x, id); err != nil {
			return err
		}
		if a.AcceptedAt != nil {
			return nil
		}
		t := unixNano(now)
		if _, err := x.exec(qAcceptAttempt, t, id); err != nil {
			return err
		}
		acknowledged(a, t) // a as qAcceptAttempt left it
		return nil
	})
	return a, err
}

// acknowledged changes a as an acknowledgement at t changes its row. t is
// in unix nanoseconds. qAcceptAttempt, qStartAttempt and a start reported
// with the end set accepted_at and delivered_at to t where they are NULL.
func acknowledged(a *drover.Attempt, t int64) {
	if a.AcceptedAt == nil {
		acc := fromUnixNano(t)
		a.AcceptedAt = &acc
	}
	if a.DeliveredAt == nil {
		del := fromUnixNano(t)
		a.DeliveredAt = &del
	}
}

// StartAttempt implements store.Store.
func (s *Store) StartAttempt(ctx context.Context, id string, now time.Time, bundleFetch, imagePull time.Duration) (*drover.Job, error) {
	var j *drover.Job
	err := s.write(ctx, func(x *session) error {
		a, err := activeAttempt(x, id)
		if err != nil {
			return err
		}
		if a.State == drover.AttemptRunning {
			// A repeated start changes nothing.
			if j, err = getJob(x, a.JobID, false); err != nil {
				return err
			}
		} else {
			p := a.Phases
			p.BundleFetch, p.ImagePull = drover.Duration(bundleFetch), drover.Duration(imagePull)
			t := max(unixNano(now), assignedAt(a)) // never before its assignment
			if _, err := x.exec(qStartAttempt, t, encodePhases(p), id); err != nil {
				return err
			}
			started, err := scanJob(x.queryRow(qStartJob, t, a.JobID), x.specs)
			if err != nil {
				return notFoundIfNoRows(err, "job", a.JobID)
			}
			j = &started
			// a as qStartAttempt left it.
			st := fromUnixNano(t)
			a.State, a.StartedAt, a.Phases = drover.AttemptRunning, &st, p
			acknowledged(a, t)
		}
		j.Attempts, err = attemptsWith(x, a)
		return err
	})
	return j, err
}

// assignedAt is when a was assigned, in unix nanoseconds (0 if unknown).
func assignedAt(a *drover.Attempt) int64 {
	if a.AssignedAt == nil {
		return 0
	}
	return unixNano(*a.AssignedAt)
}

// attemptsWith returns the attempts of a's job, given a, its active
// attempt as it now is. A first attempt is the only one, so the common
// case needs no read. A job has one active attempt at a time, and later
// ones are made only after it ended.
func attemptsWith(x *session, a *drover.Attempt) ([]drover.Attempt, error) {
	if a.N == 1 {
		return []drover.Attempt{*a}, nil
	}
	rows, err := x.query(qJobAttempts, a.JobID)
	if err != nil {
		return nil, err
	}
	return scanAttempts(rows)
}

// UnacknowledgedAttempts implements store.Store, oldest first.
func (s *Store) UnacknowledgedAttempts(ctx context.Context, assignedBefore time.Time) ([]drover.Attempt, error) {
	var as []drover.Attempt
	err := s.read(ctx, func(x *session) error {
		rows, err := x.query(qUnacknowledged, unixNano(assignedBefore))
		if err != nil {
			return err
		}
		as, err = scanAttempts(rows)
		return err
	})
	return as, err
}

// OverdueAttempts implements store.Store, oldest start first.
func (s *Store) OverdueAttempts(ctx context.Context, now time.Time, slack, grace time.Duration) ([]drover.Attempt, error) {
	var as []drover.Attempt
	err := s.read(ctx, func(x *session) error {
		rows, err := x.query(qOverdue, unixNano(now), int64(slack), int64(grace))
		if err != nil {
			return err
		}
		as, err = scanAttempts(rows)
		return err
	})
	return as, err
}
