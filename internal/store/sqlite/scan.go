package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/drover-dev/drover"
)

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// jobCols are the columns scanJob reads, in its order.
const jobCols = `id, spec, state, exit_code, reason, message, pending_reason,
	job_retries, fleet_retries, worker_id, output_bytes, created_at, queued_at,
	assigned_at, started_at, completed_at, cancel_requested_at, not_before, avoid_workers, worker_name, queue_rank, output_dropped`

// qualified prefixes each of cols (a comma-separated list) with table and
// a dot.
func qualified(cols, table string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = table + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// jobRow holds a job row as scanned, before it becomes a drover.Job.
type jobRow struct {
	j                                                                 drover.Job
	spec                                                              []byte
	exitCode                                                          sql.NullInt64
	createdAt, queueRank                                              int64
	queuedAt, assignedAt, startedAt, completedAt, cancelAt, notBefore sql.NullInt64
	avoid                                                             string
}

// dests are the scan destinations of jobCols, in order.
func (r *jobRow) dests() []any {
	j := &r.j
	return []any{&j.ID, &r.spec, &j.State, &r.exitCode, &j.Reason, &j.Message, &j.PendingReason,
		&j.JobRetries, &j.FleetRetries, &j.WorkerID, &j.OutputBytes, &r.createdAt, &r.queuedAt,
		&r.assignedAt, &r.startedAt, &r.completedAt, &r.cancelAt, &r.notBefore, &r.avoid, &j.WorkerName, &r.queueRank, &j.OutputDropped}
}

// job finishes the row once scanned.
func (r *jobRow) job(specs *specCache) (drover.Job, error) {
	j := r.j
	if err := decodeSpec(specs, j.ID, r.spec, &j.Spec); err != nil {
		return j, err
	}
	j.ExitCode = fromNullInt(r.exitCode)
	j.CreatedAt = fromUnixNano(r.createdAt)
	j.QueueRank = fromUnixNano(r.queueRank)
	j.QueuedAt = fromNullUnixNano(r.queuedAt)
	j.AssignedAt = fromNullUnixNano(r.assignedAt)
	j.StartedAt = fromNullUnixNano(r.startedAt)
	j.CompletedAt = fromNullUnixNano(r.completedAt)
	j.CancelRequestedAt = fromNullUnixNano(r.cancelAt)
	j.NotBefore = fromNullUnixNano(r.notBefore)
	if r.avoid != "" {
		j.AvoidWorkers = strings.Split(r.avoid, ",")
	}
	return j, nil
}

// scanJob reads a job row; its spec comes from specs when decoded before
// (specs may be nil).
func scanJob(sc scanner, specs *specCache) (drover.Job, error) {
	var r jobRow
	if err := sc.Scan(r.dests()...); err != nil {
		return r.j, err
	}
	return r.job(specs)
}

// decodeSpec decodes a job's spec, or takes it from specs (which may be nil).
func decodeSpec(specs *specCache, jobID string, raw []byte, sp *drover.JobSpec) error {
	if specs != nil {
		if cached, ok := specs.get(jobID); ok {
			*sp = cached
			return nil
		}
	}
	if err := json.Unmarshal(raw, sp); err != nil {
		return fmt.Errorf("job %s: decode spec: %w", jobID, err)
	}
	if specs != nil {
		specs.put(jobID, *sp)
	}
	return nil
}

// attemptCols are the columns scanAttempt reads, in its order; queries name
// the attempts table "a".
const attemptCols = `a.id, a.job_id, a.n, a.worker_id, a.state, a.cpu, a.memory_mb,
	a.exit_code, a.reason, a.message, a.usage, a.phases, a.assigned_at,
	a.delivered_at, a.accepted_at, a.started_at, a.finished_at, a.stop_requested, a.worker_name`

// attemptRow holds an attempt row as scanned.
type attemptRow struct {
	a                                              drover.Attempt
	exitCode                                       sql.NullInt64
	usage, phases                                  []byte
	assignedAt                                     int64
	deliveredAt, acceptedAt, startedAt, finishedAt sql.NullInt64
}

// dests are the scan destinations of attemptCols, in order.
func (r *attemptRow) dests() []any {
	a := &r.a
	return []any{&a.ID, &a.JobID, &a.N, &a.WorkerID, &a.State, &a.Resources.CPU, &a.Resources.MemoryMB,
		&r.exitCode, &a.Reason, &a.Message, &r.usage, &r.phases, &r.assignedAt,
		&r.deliveredAt, &r.acceptedAt, &r.startedAt, &r.finishedAt, &a.StopRequested, &a.WorkerName}
}

// attempt finishes the row once scanned.
func (r *attemptRow) attempt() (drover.Attempt, error) {
	a := r.a
	if err := json.Unmarshal(r.usage, &a.Usage); err != nil {
		return a, fmt.Errorf("attempt %s: decode usage: %w", a.ID, err)
	}
	var p phasesJSON
	if err := json.Unmarshal(r.phases, &p); err != nil {
		return a, fmt.Errorf("attempt %s: decode phases: %w", a.ID, err)
	}
	a.Phases = p.phases()
	a.ExitCode = fromNullInt(r.exitCode)
	at := fromUnixNano(r.assignedAt)
	a.AssignedAt = &at
	a.DeliveredAt = fromNullUnixNano(r.deliveredAt)
	a.AcceptedAt = fromNullUnixNano(r.acceptedAt)
	a.StartedAt = fromNullUnixNano(r.startedAt)
	a.FinishedAt = fromNullUnixNano(r.finishedAt)
	return a, nil
}

func scanAttempt(sc scanner) (drover.Attempt, error) {
	var r attemptRow
	if err := sc.Scan(r.dests()...); err != nil {
		return r.a, err
	}
	return r.attempt()
}

func scanAttempts(rows *sql.Rows) ([]drover.Attempt, error) {
	defer rows.Close()
	var as []drover.Attempt
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, err
		}
		as = append(as, a)
	}
	return as, rows.Err()
}

// phasesJSON is how phases are stored. They are integer nanoseconds, which
// SQL can read with json_extract, rather than drover.Duration's text.
type phasesJSON struct {
	Queued      int64 `json:"queued"`
	BundleFetch int64 `json:"bundleFetch"`
	ImagePull   int64 `json:"imagePull"`
	Running     int64 `json:"running"`
}

func (p phasesJSON) phases() drover.Phases {
	return drover.Phases{
		Queued:      drover.Duration(p.Queued),
		BundleFetch: drover.Duration(p.BundleFetch),
		ImagePull:   drover.Duration(p.ImagePull),
		Running:     drover.Duration(p.Running),
	}
}

func encodePhases(p drover.Phases) string {
	return encodeJSON(phasesJSON{
		Queued:      int64(p.Queued),
		BundleFetch: int64(p.BundleFetch),
		ImagePull:   int64(p.ImagePull),
		Running:     int64(p.Running),
	})
}

// workerCols are the columns scanWorker reads, in its order.
const workerCols = `id, name, labels, executors, cpu, memory_mb, slots, usage, state,
	version, registered_at, last_heartbeat_at, grace_ns`

func scanWorker(sc scanner) (drover.Worker, error) {
	var (
		w                         drover.Worker
		labels, executors, usage  []byte
		registeredAt, heartbeatAt int64
	)
	err := sc.Scan(&w.ID, &w.Name, &labels, &executors, &w.Capacity.CPU, &w.Capacity.MemoryMB,
		&w.Capacity.Slots, &usage, &w.State, &w.Version, &registeredAt, &heartbeatAt, &w.Grace)
	if err != nil {
		return w, err
	}
	if err := json.Unmarshal(labels, &w.Labels); err != nil {
		return w, fmt.Errorf("worker %s: decode labels: %w", w.ID, err)
	}
	if err := json.Unmarshal(executors, &w.Executors); err != nil {
		return w, fmt.Errorf("worker %s: decode executors: %w", w.ID, err)
	}
	if err := json.Unmarshal(usage, &w.Usage); err != nil {
		return w, fmt.Errorf("worker %s: decode usage: %w", w.ID, err)
	}
	w.RegisteredAt = fromUnixNano(registeredAt)
	w.LastHeartbeatAt = fromUnixNano(heartbeatAt)
	return w, nil
}

// encodeJSON marshals v for a JSON column. The values stored are plain
// data, for which Marshal cannot fail.
func encodeJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sqlite: encode %T: %v", v, err))
	}
	return string(b)
}

// canonical returns t as the store returns it. It is in UTC, at nanosecond
// precision and without a monotonic reading. Values built in memory then
// equal those read.
func canonical(t time.Time) time.Time { return fromUnixNano(unixNano(t)) }
