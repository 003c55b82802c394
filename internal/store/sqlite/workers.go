package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/drover-dev/drover"
)

var (
	qWorkerByID = readQuery(`SELECT ` + workerCols + ` FROM workers WHERE id = ?`)
	qWorkers    = readQuery(`SELECT ` + workerCols + ` FROM workers ORDER BY name, id`)
	// Allocation comes from the active attempts, so it cannot drift from
	// them; the partial index keeps this cheap however long the history.
	qAllocation       = readQuery(`SELECT worker_id, job_id, cpu, memory_mb FROM attempts WHERE finished_at IS NULL ORDER BY assigned_at, id`)
	qWorkerAllocation = readQuery(`SELECT worker_id, job_id, cpu, memory_mb FROM attempts
		WHERE worker_id = ? AND finished_at IS NULL ORDER BY assigned_at, id`)
	qAllocationSums = readQuery(`SELECT worker_id, sum(cpu), sum(memory_mb), count(*) FROM attempts
		INDEXED BY attempts_active_by_worker WHERE finished_at IS NULL GROUP BY worker_id`)
	qWorkerSecret    = readQuery(`SELECT secret_hash FROM workers WHERE id = ?`)
	qLiveWorkerNamed = readQuery(`SELECT id FROM workers INDEXED BY workers_name
		WHERE name = ? AND state IN ('READY', 'DRAINING') LIMIT 1`)
	qWorkerHeartbeat = readQuery(`SELECT last_heartbeat_at FROM workers WHERE id = ?`)
	qWorkerActive    = readQuery(`SELECT count(*) FROM attempts WHERE worker_id = ? AND finished_at IS NULL`)
	// DOWN workers that still have active attempts come back too: ending
	// their attempts was interrupted, and the reaper must finish it.
	qStaleWorkers = readQuery(`SELECT id FROM workers w WHERE last_heartbeat_at < ?
		AND (state IN ('READY', 'DRAINING') OR state = 'DOWN' AND EXISTS (
			SELECT 1 FROM attempts a WHERE a.worker_id = w.id AND a.finished_at IS NULL))
		ORDER BY last_heartbeat_at, id`)
	qWorkerAttempts = readQuery(`SELECT ` + attemptCols + ` FROM attempts a
		WHERE a.worker_id = ? AND a.finished_at IS NULL ORDER BY a.assigned_at, a.id`)

	qInsertWorker = writeQuery(`INSERT INTO workers (id, name, labels, executors, cpu, memory_mb, slots,
		usage, state, version, registered_at, last_heartbeat_at, secret_hash, grace_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'READY', ?, ?, ?, ?, ?)`)
	qReviveWorker = writeQuery(`UPDATE workers SET state = 'READY' WHERE id = ?1 AND state = 'DOWN'
		AND NOT EXISTS (SELECT 1 FROM workers o INDEXED BY workers_name
			WHERE o.name = workers.name AND o.id != ?1 AND o.state IN ('READY', 'DRAINING'))`)
	qNameHolder = readQuery(`SELECT o.id, o.name FROM workers w JOIN workers o INDEXED BY workers_name
		ON o.name = w.name AND o.id != w.id AND o.state IN ('READY', 'DRAINING')
		WHERE w.id = ? AND w.state = 'DOWN' LIMIT 1`)
	qHeartbeat      = writeQuery(`UPDATE workers SET last_heartbeat_at = ?, usage = ? WHERE id = ?`)
	qSetWorkerState = writeQuery(`UPDATE workers SET state = ? WHERE id = ? AND state != 'DOWN'`)
	qMarkWorkerDown = writeQuery(`UPDATE workers SET state = 'DOWN' WHERE id = ? AND state != 'DOWN'`)
	qDeleteWorker   = writeQuery(`DELETE FROM workers WHERE id = ?`)
	qForgetWorker   = writeQuery(`DELETE FROM workers WHERE id = ?1 AND state = 'DOWN' AND last_heartbeat_at < ?2
		AND NOT EXISTS (SELECT 1 FROM attempts WHERE worker_id = ?1 AND finished_at IS NULL)`)
)

// allocate adds the active attempts read by one of the allocation queries
// to the workers they run on.
func allocate(rows *sql.Rows, byID map[string]*drover.Worker) error {
	defer rows.Close()
	for rows.Next() {
		var (
			workerID, jobID string
			cpu, mem        int64
		)
		if err := rows.Scan(&workerID, &jobID, &cpu, &mem); err != nil {
			return err
		}
		w := byID[workerID]
		if w == nil {
			continue // its worker was deleted (only possible for final attempts)
		}
		w.Allocated.CPU += cpu
		w.Allocated.MemoryMB += mem
		w.Allocated.Slots++
		w.Running = append(w.Running, jobID)
	}
	return rows.Err()
}

// getWorker reads a worker with Allocated and Running filled in.
func getWorker(x *session, id string) (*drover.Worker, error) {
	w, err := scanWorker(x.queryRow(qWorkerByID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("worker", id)
	}
	if err != nil {
		return nil, err
	}
	w.Running = []string{}
	rows, err := x.query(qWorkerAllocation, id)
	if err != nil {
		return nil, err
	}
	if err := allocate(rows, map[string]*drover.Worker{id: &w}); err != nil {
		return nil, err
	}
	return &w, nil
}

// CreateWorker implements store.Store. A zero LastHeartbeatAt is taken as
// RegisteredAt: registering counts as the first heartbeat. The name is
// checked in the transaction that inserts, so two registrations of one name
// never both succeed.
func (s *Store) CreateWorker(ctx context.Context, w *drover.Worker, secretHash []byte) error {
	if w.ID == "" || w.RegisteredAt.IsZero() {
		return drover.Errorf(drover.EINVALID, "create worker: id and registeredAt are required")
	}
	hb := w.LastHeartbeatAt
	if hb.IsZero() {
		hb = w.RegisteredAt
	}
	if secretHash == nil {
		secretHash = []byte{}
	}
	return s.write(ctx, func(x *session) error {
		var holder string
		switch err := x.queryRow(qLiveWorkerNamed, w.Name).Scan(&holder); {
		case err == nil:
			return drover.Errorf(drover.ECONFLICT, "worker name %q is taken by worker %s", w.Name, holder)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err := x.exec(qInsertWorker, w.ID, w.Name, encodeJSON(w.Labels), encodeJSON(w.Executors),
			w.Capacity.CPU, w.Capacity.MemoryMB, w.Capacity.Slots, encodeJSON(w.Usage), w.Version,
			unixNano(w.RegisteredAt), unixNano(hb), secretHash, int64(w.Grace))
		return err
	})
}

// GetWorker implements store.Store.
func (s *Store) GetWorker(ctx context.Context, id string) (*drover.Worker, error) {
	var w *drover.Worker
	err := s.readTx(ctx, func(x *session) (err error) {
		w, err = getWorker(x, id)
		return err
	})
	return w, err
}

// WorkerSecretHash implements store.Store.
func (s *Store) WorkerSecretHash(ctx context.Context, id string) ([]byte, error) {
	var h []byte
	err := s.read(ctx, func(x *session) error {
		err := x.queryRow(qWorkerSecret, id).Scan(&h)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("worker", id)
		}
		return err
	})
	return h, err
}

// ListWorkers implements store.Store, in two statements whatever the number
// of workers.
func (s *Store) ListWorkers(ctx context.Context) ([]drover.Worker, error) {
	return s.listWorkers(ctx, true)
}

// Fleet implements store.Store. It is ListWorkers with the attempts summed
// by the database. A pass over a busy fleet then reads a row per worker
// rather than one per running attempt, and sorts nothing.
func (s *Store) Fleet(ctx context.Context) ([]drover.Worker, error) {
	return s.listWorkers(ctx, false)
}

func (s *Store) listWorkers(ctx context.Context, running bool) ([]drover.Worker, error) {
	var ws []drover.Worker
	err := s.readTx(ctx, func(x *session) error {
		rows, err := x.query(qWorkers)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			w, err := scanWorker(rows)
			if err != nil {
				return err
			}
			if running {
				w.Running = []string{}
			}
			ws = append(ws, w)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		byID := make(map[string]*drover.Worker, len(ws))
		for i := range ws {
			byID[ws[i].ID] = &ws[i]
		}
		if running {
			rows, err = x.query(qAllocation)
			if err != nil {
				return err
			}
			return allocate(rows, byID)
		}
		return allocated(x, byID)
	})
	return ws, err
}

// allocated sets the workers' Allocated from the sums of their active
// attempts.
func allocated(x *session, byID map[string]*drover.Worker) error {
	rows, err := x.query(qAllocationSums)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id          string
			cpu, mem, n int64
		)
		if err := rows.Scan(&id, &cpu, &mem, &n); err != nil {
			return err
		}
		if w := byID[id]; w != nil { // else deleted (only possible for final attempts)
			w.Allocated = drover.Allocated{CPU: cpu, MemoryMB: mem, Slots: int(n)}
		}
	}
	return rows.Err()
}

// Heartbeat implements store.Store.
func (s *Store) Heartbeat(ctx context.Context, id string, now time.Time, u drover.WorkerUsage) (*drover.Worker, bool, error) {
	var (
		w       *drover.Worker
		revived bool
	)
	err := s.writeLazy(ctx, func(x *session) error {
		res, err := x.exec(qReviveWorker, id)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		revived = n > 0
		if !revived {
			// Still DOWN: another live worker may have taken its name.
			var holder, name string
			switch err := x.queryRow(qNameHolder, id).Scan(&holder, &name); {
			case err == nil:
				return drover.Errorf(drover.ECONFLICT, "worker %s was DOWN and its name %q is now worker %s's: it cannot come back under that name", id, name, holder)
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		res, err = x.exec(qHeartbeat, unixNano(now), encodeJSON(u), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("worker", id)
		}
		w, err = getWorker(x, id)
		return err
	})
	return w, revived, err
}

// SetWorkerState implements store.Store. Setting READY also takes a DOWN
// worker back; it gets work again only while it keeps heartbeating.
func (s *Store) SetWorkerState(ctx context.Context, id string, st drover.WorkerState) (*drover.Worker, error) {
	if st != drover.WorkerReady && st != drover.WorkerDraining {
		return nil, drover.Errorf(drover.EINVALID, "worker state %q cannot be set: use %s or %s", st, drover.WorkerReady, drover.WorkerDraining)
	}
	var w *drover.Worker
	err := s.write(ctx, func(x *session) error {
		res, err := x.exec(qSetWorkerState, string(st), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := getWorker(x, id); err != nil {
				return err // not found
			}
			return drover.Errorf(drover.ECONFLICT, "worker %s is DOWN: its state changes only when it is heard from again", id)
		}
		w, err = getWorker(x, id)
		return err
	})
	return w, err
}

// DeleteWorker implements store.Store. Its finished attempts keep its id.
func (s *Store) DeleteWorker(ctx context.Context, id string) error {
	return s.write(ctx, func(x *session) error {
		var active int
		if err := x.queryRow(qWorkerActive, id).Scan(&active); err != nil {
			return err
		}
		if active > 0 {
			return drover.Errorf(drover.ECONFLICT, "worker %s still has %d active attempts: drain it first", id, active)
		}
		res, err := x.exec(qDeleteWorker, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("worker", id)
		}
		return nil
	})
}

// ForgetWorker implements store.Store: one statement, so a heartbeat that
// revives the worker cannot fall between the check and the removal.
func (s *Store) ForgetWorker(ctx context.Context, id string, silentBefore time.Time) (bool, error) {
	var gone bool
	err := s.write(ctx, func(x *session) error {
		res, err := x.exec(qForgetWorker, id, unixNano(silentBefore))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		gone = n > 0
		return nil
	})
	return gone, err
}

// StaleWorkers implements store.Store, stalest first.
func (s *Store) StaleWorkers(ctx context.Context, before time.Time) ([]string, error) {
	var ids []string
	err := s.read(ctx, func(x *session) error {
		rows, err := x.query(qStaleWorkers, unixNano(before))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	return ids, err
}

// MarkWorkerDown implements store.Store. Marking a worker already DOWN
// again returns its active attempts again, so a reaper that crashed between
// marking and ending them finishes the job on its next pass.
func (s *Store) MarkWorkerDown(ctx context.Context, id string, before time.Time) ([]drover.Attempt, bool, error) {
	var (
		as     []drover.Attempt
		marked bool
	)
	err := s.write(ctx, func(x *session) error {
		var hb int64
		err := x.queryRow(qWorkerHeartbeat, id).Scan(&hb)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("worker", id)
		}
		if err != nil {
			return err
		}
		if hb >= unixNano(before) {
			return drover.Errorf(drover.ECONFLICT, "worker %s heartbeated at %s, not before %s", id,
				fromUnixNano(hb).Format(time.RFC3339Nano), before.UTC().Format(time.RFC3339Nano))
		}
		res, err := x.exec(qMarkWorkerDown, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		marked = n > 0
		rows, err := x.query(qWorkerAttempts, id)
		if err != nil {
			return err
		}
		as, err = scanAttempts(rows)
		return err
	})
	return as, marked, err
}
