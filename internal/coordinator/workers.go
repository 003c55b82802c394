package coordinator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

// Register admits a worker and returns its id and secret. The secret is
// "<worker id>.<random>". It is shown once and stored only as a SHA-256
// hash.
//
// Names are unique among live workers. A name held by a READY or DRAINING
// worker is refused with ECONFLICT. The request's previous secret may be
// that worker's, though. The request is then that worker restarted, and
// replace takes over.
func (c *Coordinator) Register(ctx context.Context, req drover.RegisterRequest) (*drover.RegisterResponse, error) {
	if err := validateRegister(&req); err != nil {
		return nil, err
	}
	now := c.now()
	w := &drover.Worker{
		ID:              drover.NewID("wrk"),
		Name:            req.Name,
		Labels:          req.Labels,
		Executors:       req.Executors,
		Capacity:        req.Capacity,
		State:           drover.WorkerReady,
		Version:         req.Version,
		Grace:           req.Grace,
		RegisteredAt:    now,
		LastHeartbeatAt: now,
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret := w.ID + "." + hex.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(secret))
	if err := c.createNamed(ctx, w, sum[:], req.PreviousSecret); err != nil {
		return nil, err
	}
	c.log.Info("worker registered", "worker", w.ID, "name", w.Name, "cpu", drover.FormatCPU(w.Capacity.CPU),
		"memory", drover.FormatMemory(w.Capacity.MemoryMB), "slots", w.Capacity.Slots, "executors", w.Executors)
	c.publishWorker(w)
	c.Wake()
	return &drover.RegisterResponse{
		Worker:            *w,
		Secret:            secret,
		HeartbeatInterval: drover.Duration(c.cfg.HeartbeatInterval),
		HeartbeatTimeout:  drover.Duration(c.cfg.HeartbeatTimeout),
	}, nil
}

// createNamed stores w unless a live worker holds its name. A holder that
// previous proves to be w's earlier self is replaced first. A holder that
// goes DOWN meanwhile frees the name, so the store is asked again a few
// times before giving up.
func (c *Coordinator) createNamed(ctx context.Context, w *drover.Worker, secretHash []byte, previous string) error {
	replaced := false
	for range 3 {
		err := c.store.CreateWorker(ctx, w, secretHash)
		if !drover.IsCode(err, drover.ECONFLICT) {
			if err != nil {
				return fmt.Errorf("register worker: %w", err)
			}
			return nil
		}
		holder, err := c.liveNamed(ctx, w.Name)
		if err != nil {
			return fmt.Errorf("register worker: %w", err)
		}
		switch {
		case holder == nil:
			continue // it went DOWN or left since
		case replaced || !c.proves(ctx, previous, holder.ID):
			return c.nameTaken(holder)
		}
		if err := c.replace(ctx, holder); err != nil {
			return err
		}
		replaced = true
	}
	return drover.Errorf(drover.EUNAVAILABLE, "worker name %q changed hands while registering: try again", w.Name)
}

// liveNamed returns the READY or DRAINING worker named name, or nil.
func (c *Coordinator) liveNamed(ctx context.Context, name string) (*drover.Worker, error) {
	ws, err := c.store.Fleet(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ws {
		if ws[i].Name == name && (ws[i].State == drover.WorkerReady || ws[i].State == drover.WorkerDraining) {
			return &ws[i], nil
		}
	}
	return nil, nil
}

// proves reports whether secret is the secret of worker id.
func (c *Coordinator) proves(ctx context.Context, secret, id string) bool {
	if !strings.HasPrefix(secret, id+".") {
		return false
	}
	got, err := c.AuthWorker(ctx, secret)
	return err == nil && got == id
}

// nameTaken is the refusal of a name a live worker holds. It says who holds
// the name and since when that worker was silent. An operator can then
// tell a second worker given the same name from a restart that lost its
// work dir.
func (c *Coordinator) nameTaken(holder *drover.Worker) error {
	last := holder.LastHeartbeatAt.UTC()
	return drover.Errorf(drover.ECONFLICT,
		"worker name %q is taken by worker %s (%s, last heard from at %s, %s ago): give each worker its own --name, or stop the other one; "+
			"its name is free once it is DOWN, %s after it was last heard from (a worker restarted on the same work dir proves it is that worker and is let in at once)",
		holder.Name, holder.ID, holder.State, last.Format(time.RFC3339), c.now().Sub(last).Round(time.Second), c.cfg.HeartbeatTimeout)
}

// Evict removes worker id, as a proved restart does (see replace).
// Its operator knows it is gone, although the coordinator lists it live.
// drover dev evicts its own worker of an earlier run on the same data
// folder, one that ended without leaving. Otherwise the restarted
// coordinator would keep that worker's name taken for a heartbeat timeout.
// It would refuse the name to this run's worker if the earlier run's work
// dir, with its secret, is gone.
func (c *Coordinator) Evict(ctx context.Context, id string) error {
	w, err := c.store.GetWorker(ctx, id)
	if err != nil {
		return err
	}
	if w.State == drover.WorkerDown {
		return nil
	}
	return c.replace(ctx, w)
}

// replace removes a live worker that a registration proved to be its own
// earlier self.
// That process is gone, because one worker holds its work dir and the
// secret kept there. Its attempts are lost now rather than a heartbeat
// timeout later. Its record goes, so its secret cannot bring it back.
// A worker heard from since it was read is alive after all, and its name
// stays taken.
func (c *Coordinator) replace(ctx context.Context, old *drover.Worker) error {
	now := c.now()
	attempts, _, err := c.store.MarkWorkerDown(ctx, old.ID, old.LastHeartbeatAt.Add(time.Nanosecond))
	switch {
	case drover.IsCode(err, drover.ECONFLICT):
		if cur, gerr := c.store.GetWorker(ctx, old.ID); gerr == nil {
			return c.nameTaken(cur)
		}
		return c.nameTaken(old)
	case drover.IsCode(err, drover.ENOTFOUND):
		return nil // it left meanwhile
	case err != nil:
		return fmt.Errorf("replace worker %s: %w", old.ID, err)
	}
	c.log.Info("worker restarted: its earlier registration is removed", "worker", old.ID, "name", old.Name, "attempts_lost", len(attempts))
	c.loseAttempts(ctx, attempts, now, &old.LastHeartbeatAt, "worker "+old.Name+" ("+old.ID+") restarted")
	c.forgetWorker(old.ID)
	// Deleting fails only if an attempt could not be ended.
	// The worker then stays DOWN, which frees its name too.
	// The reaper finishes the job.
	if err := c.store.DeleteWorker(ctx, old.ID); err != nil {
		c.log.Warn("remove the replaced worker", "worker", old.ID, "err", err)
		return nil
	}
	c.pollWakeups.forget(old.ID)
	c.events.Publish(drover.Event{Type: "worker", Worker: &drover.Worker{ID: old.ID, State: "LEFT"}})
	return nil
}

// knownExecutors are those a worker may offer.
var knownExecutors = []string{drover.ExecutorDocker, drover.ExecutorProcess, drover.ExecutorNoop}

// maxVersionLen bounds the version a worker registers with.
const maxVersionLen = 64

func validateRegister(r *drover.RegisterRequest) error {
	r.Name = strings.TrimSpace(r.Name)
	if err := drover.ValidateWorkerName(r.Name); err != nil {
		return err
	}
	if err := drover.ValidateLabels("labels", r.Labels); err != nil {
		return err
	}
	switch {
	case len(r.Version) > maxVersionLen || strings.IndexFunc(r.Version, drover.UnsafeRune) >= 0:
		return drover.FieldErrorf("version", "version %s is not a version: at most %d bytes of printable text", drover.Quote(r.Version), maxVersionLen)
	case len(r.Executors) > len(knownExecutors):
		return drover.FieldErrorf("executors", "%d executors; there are only %d", len(r.Executors), len(knownExecutors))
	case r.Capacity.CPU <= 0:
		return drover.Errorf(drover.EINVALID, "capacity.cpu is %d: it must be positive (millicores)", r.Capacity.CPU)
	case r.Capacity.MemoryMB <= 0:
		return drover.Errorf(drover.EINVALID, "capacity.memoryMB is %d: it must be positive", r.Capacity.MemoryMB)
	case r.Capacity.Slots <= 0:
		return drover.Errorf(drover.EINVALID, "capacity.slots is %d: it must be at least 1 (--max-parallel)", r.Capacity.Slots)
	case len(r.Executors) == 0:
		return drover.Errorf(drover.EINVALID, "the worker offers no executor")
	case r.Grace < 0 || r.Grace.D() > maxGrace:
		return drover.Errorf(drover.EINVALID, "grace is %s: it must be between 0 and %s (--grace)", r.Grace, maxGrace)
	}
	for _, e := range r.Executors {
		if !slices.Contains(knownExecutors, e) {
			return drover.FieldErrorf("executors", "executor %s is unknown", drover.Quote(e))
		}
	}
	if r.Labels == nil {
		r.Labels = map[string]string{}
	}
	return nil
}

// AuthWorker checks a worker secret and returns the id of its worker.
// A secret seen before is checked against workerSecrets, without a store
// read.
func (c *Coordinator) AuthWorker(ctx context.Context, secret string) (string, error) {
	id, _, ok := strings.Cut(secret, ".")
	if !ok || !strings.HasPrefix(id, "wrk_") {
		return "", drover.Errorf(drover.EUNAUTHORIZED, "worker secret is malformed: register again")
	}
	got := sha256.Sum256([]byte(secret))
	if known, ok := c.secrets.get(id); ok && subtle.ConstantTimeCompare(got[:], known[:]) == 1 {
		return id, nil
	}
	want, err := c.store.WorkerSecretHash(ctx, id)
	if drover.IsCode(err, drover.ENOTFOUND) {
		return "", drover.Errorf(drover.EUNAUTHORIZED, "worker %s is not registered (it was removed or the coordinator's data was reset): register again", id)
	}
	if err != nil {
		return "", err
	}
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return "", drover.Errorf(drover.EUNAUTHORIZED, "worker secret is wrong: register again")
	}
	c.secrets.set(id, got)
	return id, nil
}

// Heartbeat records a worker's liveness and usage.
// It answers which of the worker's attempts it must stop.
// Those are the cancelled ones and any that are no longer current. An
// attempt is no longer current when it ended as lost while the worker was
// away, or when the coordinator does not know it.
func (c *Coordinator) Heartbeat(ctx context.Context, workerID string, req drover.HeartbeatRequest) (*drover.HeartbeatResponse, error) {
	now := c.now()
	w, wasDown, err := c.store.Heartbeat(ctx, workerID, now, req.Usage)
	if err != nil {
		return nil, err
	}
	if req.Draining && w.State != drover.WorkerDraining {
		if w, err = c.store.SetWorkerState(ctx, workerID, drover.WorkerDraining); err != nil {
			return nil, err
		}
		c.log.Info("worker draining", "worker", workerID)
	}
	c.draining.note(workerID, w.State)
	if wasDown {
		c.log.Info("worker back", "worker", workerID)
		c.Wake()
	}
	c.publishWorker(w)
	stop, err := c.stopList(ctx, workerID, req.Running)
	if err != nil {
		return nil, err
	}
	return &drover.HeartbeatResponse{Stop: stop, Drain: w.State == drover.WorkerDraining, State: w.State}, nil
}

func (c *Coordinator) stopList(ctx context.Context, workerID string, running []string) ([]string, error) {
	stop := []string{}
	if len(running) > 0 {
		as, err := c.store.AttemptsByID(ctx, running)
		if err != nil {
			return nil, err
		}
		current := map[string]bool{}
		for _, a := range as {
			if a.WorkerID == workerID && !a.State.Final() && !a.StopRequested {
				current[a.ID] = true
			}
		}
		for _, id := range running {
			if !current[id] {
				stop = append(stop, id)
			}
		}
	}
	req, err := c.store.StopRequested(ctx, workerID)
	if err != nil {
		return nil, err
	}
	for _, id := range req {
		if !slices.Contains(stop, id) {
			stop = append(stop, id)
		}
	}
	return stop, nil
}

// Work is the worker's long-poll.
// It returns at once with new assignments and stop requests for the worker.
// It also returns at once to tell the worker to drain, unless the worker
// says it knows. Otherwise it waits for one of those up to wait.
// pollWakeups wakes it when the store may hold news.
func (c *Coordinator) Work(ctx context.Context, workerID string, wait time.Duration, draining bool) (*drover.WorkResponse, error) {
	wait = min(max(wait, 0), DefaultMaxWait)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	sig := c.pollWakeups.get(workerID)
	began := time.Now() // how long the poll was held: the worker's reference, not the clock's
	for {
		// The windows are reckoned at one instant, and so is how long the
		// poll was held: the worker counts from that.
		now, held := c.now(), time.Since(began)
		as, stops, err := c.store.Deliver(ctx, workerID, now)
		if err != nil {
			return nil, err
		}
		for i := range as {
			// At least a millisecond: 0 would read as "not said", and a
			// window already over must make the worker ask first.
			as[i].AckWithin = drover.Duration(max(time.Millisecond, as[i].AssignedAt.Add(c.cfg.AckTimeout).Sub(now)))
		}
		// With work to hand over, the answer goes out at once.
		// A drain then reaches the worker on its next poll or heartbeat.
		// The busiest path so saves a read.
		drain := len(as) == 0 && len(stops) == 0 && c.draining.has(workerID)
		if len(as) > 0 || len(stops) > 0 || drain && !draining || wait == 0 {
			if as == nil {
				as = []drover.Assignment{}
			}
			if stops == nil {
				stops = []string{}
			}
			return &drover.WorkResponse{Assignments: as, Stop: stops, Drain: drain, Waited: drover.Duration(held)}, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return &drover.WorkResponse{Assignments: []drover.Assignment{}, Stop: []string{}}, nil
		case <-sig:
		}
	}
}

// Drain stops new work going to a worker.
// The worker finishes what it runs, deregisters and exits.
func (c *Coordinator) Drain(ctx context.Context, workerID string) (*drover.Worker, error) {
	w, err := c.store.SetWorkerState(ctx, workerID, drover.WorkerDraining)
	if drover.IsCode(err, drover.ECONFLICT) {
		// A DOWN worker runs nothing: its attempts ended when it was lost.
		if cur, gerr := c.store.GetWorker(ctx, workerID); gerr == nil {
			return nil, drover.Errorf(drover.ECONFLICT, "worker %s (%s) is DOWN, not heard from since %s: it runs nothing, so there is nothing to drain; if it comes back it takes work again (drain it then, or stop it with SIGTERM)",
				cur.Name, cur.ID, cur.LastHeartbeatAt.UTC().Format(time.RFC3339))
		}
	}
	if err != nil {
		return nil, err
	}
	c.draining.note(workerID, w.State) // noted before the poll wakes
	c.pollWakeups.notify(workerID)
	c.publishWorker(w)
	return w, nil
}

// Deregister removes a worker that has finished its work, as after a drain.
// Assignments it never acknowledged go back to the queue first. They were
// delivered as it stopped polling. They use none of their jobs' fleet
// retries, because nothing of them ran. A fleet whose workers come and go
// must not use up a job's retries before it ever starts.
func (c *Coordinator) Deregister(ctx context.Context, workerID string) error {
	// The worker gets no new work while it leaves.
	// One stopped without a drain is still READY here.
	// A DOWN one gets none anyway.
	if _, err := c.store.SetWorkerState(ctx, workerID, drover.WorkerDraining); err != nil && !drover.IsCode(err, drover.ECONFLICT) {
		return err
	}
	now := c.now()
	unacked, err := c.store.UnacknowledgedAttempts(ctx, now.Add(time.Nanosecond))
	if err != nil {
		return err
	}
	for _, a := range unacked {
		if a.WorkerID == workerID {
			c.endAttemptWith(ctx, a.ID, store.AttemptEnd{If: drover.AttemptAssigned, At: now, State: drover.AttemptFailed,
				Reason: drover.ReasonNotAcknowledged, Message: "the worker left before starting it"}, requeueUncounted)
		}
	}
	if err := c.store.DeleteWorker(ctx, workerID); err != nil {
		return err
	}
	c.pollWakeups.forget(workerID)
	c.forgetWorker(workerID)
	c.log.Info("worker left", "worker", workerID)
	c.events.Publish(drover.Event{Type: "worker", Worker: &drover.Worker{ID: workerID, State: "LEFT"}})
	return nil
}

// Worker returns one worker; Workers all of them.
func (c *Coordinator) Worker(ctx context.Context, id string) (*drover.Worker, error) {
	return c.store.GetWorker(ctx, id)
}

func (c *Coordinator) Workers(ctx context.Context) ([]drover.Worker, error) {
	ws, err := c.store.ListWorkers(ctx)
	if ws == nil {
		ws = []drover.Worker{}
	}
	return ws, err
}

// owned checks that an attempt belongs to workerID.
// It reads the owner from attemptOwners, and from the store on a miss.
func (c *Coordinator) owned(ctx context.Context, workerID, attemptID string) error {
	owner, ok := c.owners.get(attemptID)
	if !ok {
		a, err := c.store.GetAttempt(ctx, attemptID)
		if err != nil {
			return err
		}
		owner = a.WorkerID
		c.owners.add([]drover.Attempt{*a})
	}
	if owner != workerID {
		return drover.Errorf(drover.EFORBIDDEN, "attempt %s belongs to another worker", attemptID)
	}
	return nil
}

// Accept is a worker's early acknowledgement of an assignment, before a
// long bundle fetch or image pull.
func (c *Coordinator) Accept(ctx context.Context, workerID, attemptID string) error {
	if err := c.owned(ctx, workerID, attemptID); err != nil {
		return err
	}
	_, err := c.store.AcceptAttempt(ctx, attemptID, c.now())
	return stale(err, attemptID)
}

// StartAttempt records that the command runs.
func (c *Coordinator) StartAttempt(ctx context.Context, workerID, attemptID string, req drover.StartRequest) error {
	if err := c.owned(ctx, workerID, attemptID); err != nil {
		return err
	}
	at := c.now().Add(-max(req.Running.D(), 0))
	j, err := c.store.StartAttempt(ctx, attemptID, at, req.BundleFetch.D(), req.ImagePull.D())
	if err != nil {
		return stale(err, attemptID)
	}
	// A repeated start (a retried post) finds the attempt running since
	// earlier: only the first is counted.
	if j.StartedAt != nil && j.StartedAt.Equal(at) && j.QueuedAt != nil {
		c.metrics.startLatency.ObserveDuration(at.Sub(*j.QueuedAt))
	}
	c.publishJob(j)
	return nil
}

// AppendOutput stores output chunks of a current attempt.
func (c *Coordinator) AppendOutput(ctx context.Context, workerID, attemptID string, chunks []drover.OutputChunk) error {
	if err := c.owned(ctx, workerID, attemptID); err != nil {
		return err
	}
	for i, ch := range chunks {
		if ch.Seq < 1 {
			return drover.Errorf(drover.EINVALID, "chunk %d has seq %d: seqs start at 1", i, ch.Seq)
		}
		if ch.Stream != drover.Stdout && ch.Stream != drover.Stderr {
			return drover.Errorf(drover.EINVALID, "chunk %d has stream %q: use stdout or stderr", i, ch.Stream)
		}
	}
	if len(chunks) == 0 {
		return nil
	}
	jobID, err := c.store.AppendOutput(ctx, attemptID, chunks, c.now())
	if err != nil {
		return stale(err, attemptID)
	}
	n := 0
	for _, ch := range chunks {
		n += len(ch.Data)
	}
	c.metrics.outputBytes.Add(uint64(n))
	c.watch.notify(jobID, false)
	return nil
}

// maxMessageLen bounds the message a worker reports with a finish. The
// message is stored with the attempt and shown in the UI and the CLI, and a
// worker host is not trusted to keep it short.
const maxMessageLen = 4096

// clipMessage cuts msg to maxMessageLen bytes and says how long it was.
func clipMessage(msg string) string {
	if len(msg) <= maxMessageLen {
		return msg
	}
	return fmt.Sprintf("%s (%d bytes in all)", drover.Clip(msg, maxMessageLen), len(msg))
}

// Finish ends an attempt as the worker reports it and applies the retry
// policy. A finish for an attempt that is no longer current is ECONFLICT.
func (c *Coordinator) Finish(ctx context.Context, workerID, attemptID string, req drover.FinishRequest) (*drover.Job, error) {
	if err := c.owned(ctx, workerID, attemptID); err != nil {
		return nil, err
	}
	// The end is dated when the worker says it was, as a finish delayed by
	// an outage asks. It is never in the future, and at most maxEndedAgo
	// back.
	now := c.now().Add(-min(max(req.EndedAgo.D(), 0), maxEndedAgo))
	end := store.AttemptEnd{At: now, ExitCode: req.ExitCode, Reason: req.Reason, Message: clipMessage(req.Message), Usage: req.Usage, Phases: req.Phases}
	if req.Started {
		st := now.Add(-max(req.Phases.Running.D(), 0))
		end.StartedAt = &st
	}
	switch {
	case req.Reason == drover.ReasonCancelled:
		end.State = drover.AttemptCancelled
	case req.Reason == "" && req.ExitCode != nil && *req.ExitCode == 0:
		end.State = drover.AttemptCompleted
	case req.Reason == "" && req.ExitCode != nil:
		end.State, end.Reason = drover.AttemptFailed, drover.ReasonExitCode
		if end.Message == "" {
			end.Message = fmt.Sprintf("exited with code %d", *req.ExitCode)
		}
	case req.Reason == "":
		return nil, drover.Errorf(drover.EINVALID, "finish needs an exit code or a reason")
	case req.Reason.JobFailure() || req.Reason.FleetFailure():
		end.State = drover.AttemptFailed
	default:
		return nil, drover.Errorf(drover.EINVALID, "reason %s is not one a worker reports", drover.Quote(string(req.Reason)))
	}
	policy := decide
	if req.Reason == drover.ReasonNotAcknowledged && !req.Started && req.ExitCode == nil {
		// The attempt was handed back unstarted, as the worker began to
		// drain when it got it. It is requeued without using a fleet
		// retry, as at deregistration.
		policy = handedBack
	}
	j, err := c.endAttemptWith(ctx, attemptID, end, policy)
	if err != nil {
		return nil, stale(err, attemptID)
	}
	// Counted only when this end stamped the start: one reported before
	// (a retried report whose first try did land) was counted then.
	if end.StartedAt != nil && j.StartedAt != nil && j.StartedAt.Equal(*end.StartedAt) && j.QueuedAt != nil && j.State.Final() {
		c.metrics.startLatency.ObserveDuration(end.StartedAt.Sub(*j.QueuedAt))
	}
	return j, nil
}

// stale rewrites a conflict on an attempt into the message a worker acts on.
func stale(err error, attemptID string) error {
	if drover.IsCode(err, drover.ECONFLICT) {
		return drover.Errorf(drover.ECONFLICT, "attempt %s is no longer current (it ended, was cancelled or was given to another worker): stop it", attemptID)
	}
	return err
}

// maxEndedAgo bounds how far back a finish may date an attempt's end. In
// practice a worker's report waits for the coordinator at most this long.
// A worker not heard from for a heartbeat timeout is lost anyway.
const maxEndedAgo = time.Hour

// maxGrace bounds the grace a worker may say it gives, which the timeout
// backstop waits.
const maxGrace = 24 * time.Hour
