package drover

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Wire types of /api/v1 shared by internal/httpapi and the public client.

// Stream names an output stream.
type Stream string

const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// OutputChunk is one piece of an attempt's output as a worker sends it.
// Seq starts at 1 and increases by one per chunk of an attempt. The
// coordinator stores each seq of an attempt once, so a retried post is
// harmless.
type OutputChunk struct {
	Seq    int64  `json:"seq"`
	Stream Stream `json:"stream"`
	Data   []byte `json:"data"` // base64 in JSON
}

// StoredChunk is a chunk as stored and replayed: ID orders all of a job's
// output and is the SSE event id.
type StoredChunk struct {
	ID        int64     `json:"id"`
	AttemptID string    `json:"attemptId"`
	AttemptN  int       `json:"attemptN"`
	Seq       int64     `json:"seq"`
	Stream    Stream    `json:"stream"`
	Data      []byte    `json:"data"`
	Time      time.Time `json:"time"`
	// Marker says the chunk is the job's "output dropped here" marker.
	// It stands for the middle of an output past the cap. The chunks after
	// it up to the tail are gone. See Store.ReadOutput.
	Marker bool `json:"marker,omitempty"`
}

// RegisterRequest is POST /workers.
type RegisterRequest struct {
	Name      string            `json:"name"`
	Labels    map[string]string `json:"labels"`
	Executors []string          `json:"executors"`
	Capacity  Capacity          `json:"capacity"`
	Version   string            `json:"version"`
	// Grace is the worker's wait between SIGTERM and SIGKILL (0: none
	// given). The coordinator's backstop for an attempt that overruns its
	// timeout waits this long, and a heartbeat timeout, past the timeout.
	Grace Duration `json:"grace,omitempty"`
	// PreviousSecret is the secret the worker held before, if any.
	// A worker has one when it restarted on its work dir, or when it
	// registers again after the coordinator forgot it. The secret proves
	// the worker is the one the coordinator still lists under its name,
	// which then gives way to it. Without that proof a name held by a
	// READY or DRAINING worker is refused.
	PreviousSecret string `json:"previousSecret,omitempty"`
}

// RegisterResponse carries the worker's id and its secret, which it presents
// on every later call; the secret is stored only as a hash.
type RegisterResponse struct {
	Worker            Worker   `json:"worker"`
	Secret            string   `json:"secret"`
	HeartbeatInterval Duration `json:"heartbeatInterval"`
	HeartbeatTimeout  Duration `json:"heartbeatTimeout"`
}

// HeartbeatRequest is POST /workers/{id}/heartbeat.
type HeartbeatRequest struct {
	Usage WorkerUsage `json:"usage"`
	// Running lists the attempt ids the worker is running now.
	Running []string `json:"running"`
	// Draining says the worker takes no new work (it got SIGTERM).
	Draining bool `json:"draining,omitempty"`
}

// HeartbeatResponse tells a worker which of its attempts to stop, and
// whether to drain. An attempt to stop is no longer current: it was
// cancelled or lost, or the coordinator does not know it.
type HeartbeatResponse struct {
	Stop  []string    `json:"stop"`
	Drain bool        `json:"drain"`
	State WorkerState `json:"state"`
}

// Assignment is an attempt handed to a worker.
type Assignment struct {
	AttemptID string  `json:"attemptId"`
	JobID     string  `json:"jobId"`
	N         int     `json:"n"`
	Spec      JobSpec `json:"spec"`
	// AckWithin is how long the worker had to acknowledge the assignment
	// when the answer was sent. Past it the coordinator takes the
	// assignment back. An accept or a start acknowledges it. A coordinator
	// that does not say sends 0. A worker that gets to an assignment late
	// accepts it first, and runs it only if it is still its own.
	AckWithin Duration `json:"ackWithin,omitempty"`
	// AssignedAt is when the coordinator made the assignment, by its
	// clock. The store fills it, and it is not sent.
	AssignedAt time.Time `json:"-"`
}

// WorkResponse is GET /workers/{id}/work: new assignments and attempts to stop.
type WorkResponse struct {
	Assignments []Assignment `json:"assignments"`
	Stop        []string     `json:"stop"`
	Drain       bool         `json:"drain"`
	// Waited is how long the coordinator held the poll before it answered,
	// so that a worker can tell when an assignment's AckWithin began: no
	// earlier than its request plus Waited.
	Waited Duration `json:"waited,omitempty"`
}

// StartRequest is POST /attempts/{id}/start, sent when the command runs.
type StartRequest struct {
	BundleFetch Duration `json:"bundleFetch"`
	ImagePull   Duration `json:"imagePull"`
	// Running is how long the command had run when the report was sent.
	// The coordinator dates the start that long before the report arrived.
	// A worker holds a start back briefly, as the worker's sender says.
	Running Duration `json:"running,omitempty"`
}

// OutputRequest is POST /attempts/{id}/output.
type OutputRequest struct {
	Chunks []OutputChunk `json:"chunks"`
}

// FinishRequest is POST /attempts/{id}/finish.
type FinishRequest struct {
	ExitCode *int   `json:"exitCode"`
	Reason   Reason `json:"reason,omitempty"` // empty with exit code 0 means success
	Message  string `json:"message,omitempty"`
	Usage    Usage  `json:"usage"`
	Phases   Phases `json:"phases"`
	// LastSeq is the seq of the last output chunk sent, so the coordinator
	// can tell the output is complete.
	LastSeq int64 `json:"lastSeq"`
	// Started says the command ran though its start was never reported on
	// its own: it ended before the start report went out, so one request
	// carries both. The coordinator dates the start Phases.Running ago.
	Started bool `json:"started,omitempty"`
	// EndedAgo is how long before this request the attempt ended, by the
	// worker's clock. Zero means just now. A finish delayed by an outage
	// of the coordinator thus keeps the attempt's real end. It is a
	// duration rather than a time, so the machines' clocks need not agree.
	EndedAgo Duration `json:"endedAgo,omitempty"`
}

// MaxReports is the most reports one POST /workers/{id}/reports carries.
const MaxReports = 256

// ReportsRequest is POST /workers/{id}/reports. It carries the starts and
// finishes of several attempts of one worker in one request. Each report
// is what POST /attempts/{id}/start or /finish would carry. Each is
// applied on its own, as that call would be, so one refused does not
// affect the others.
type ReportsRequest struct {
	Reports []AttemptReport `json:"reports"`
}

// AttemptReport is one attempt's start or finish (exactly one of them).
type AttemptReport struct {
	AttemptID string         `json:"attemptId"`
	Start     *StartRequest  `json:"start,omitempty"`
	Finish    *FinishRequest `json:"finish,omitempty"`
}

// ReportsResponse has one result per report, in the request's order.
type ReportsResponse struct {
	Results []ReportResult `json:"results"`
}

// ReportResult is how one report went. A report that was stored has no
// error. Any other has the error its own call would have returned, with
// that call's status. An attempt that is no longer current gets 409, say.
type ReportResult struct {
	Status int    `json:"status"`
	Error  *Error `json:"error,omitempty"`
}

// MaxCancel bounds the jobs of one POST /jobs/cancel.
const MaxCancel = 1000

// CancelRequest is POST /jobs/cancel. Its jobs are cancelled together in
// one transaction, so none of them starts in a slot another frees.
type CancelRequest struct {
	IDs []string `json:"ids"`
}

// CancelResponse answers it with a result per id, in order.
type CancelResponse struct {
	Results []CancelResult `json:"results"`
}

// CancelResult is how one job's cancel went. It holds the job as the
// cancel left it, or the error with its status. An unknown job gets 404
// and a job already final 409.
type CancelResult struct {
	ID     string `json:"id"`
	Status int    `json:"status"`
	Job    *Job   `json:"job,omitempty"`
	Error  *Error `json:"error,omitempty"`
}

// JobPage is GET /jobs.
type JobPage struct {
	Jobs       []Job  `json:"jobs"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// JobFilter selects jobs for listing: newest first, after Cursor.
type JobFilter struct {
	// States keeps jobs in any of these states (none: every job).
	States []JobState
	// State is one more state to keep.
	//
	// Deprecated: use States, which takes several.
	State  JobState
	Limit  int
	Cursor string // a job id: list jobs older than it
}

// AllStates is States with State, each once. These are the states the
// filter keeps. None keeps every job.
func (f JobFilter) AllStates() []JobState {
	if f.State == "" || slices.Contains(f.States, f.State) {
		return f.States
	}
	return append(slices.Clip(f.States), f.State)
}

// WorkerList is GET /workers.
type WorkerList struct {
	Workers []Worker `json:"workers"`
}

// EndEvent is the last event of an output follow stream.
type EndEvent struct {
	State    JobState `json:"state"`
	ExitCode *int     `json:"exitCode"`
	Reason   Reason   `json:"reason,omitempty"`
	Message  string   `json:"message,omitempty"`
}

// StateEvent is the "state" event of a follow stream. It says where the
// job is: queued and why, or on which worker and in which attempt.
type StateEvent struct {
	State         JobState `json:"state"`
	PendingReason string   `json:"pendingReason,omitempty"`
	WorkerID      string   `json:"workerId,omitempty"`
	Attempt       int      `json:"attempt"`
	Message       string   `json:"message,omitempty"`
	Cancelling    bool     `json:"cancelling,omitempty"`
}

// OutputEvent is the "output" event of a follow stream. Data is the chunk
// as text. Bytes returns the chunk's bytes exactly.
//
// JSON strings carry only valid UTF-8. Bytes that are not valid UTF-8 show
// as U+FFFD in Data, and Base64 then carries the bytes exactly. Binary
// output does that, and so does a character cut between two chunks.
type OutputEvent struct {
	Stream   Stream `json:"stream"`
	AttemptN int    `json:"attempt"`
	Data     string `json:"data"`
	Base64   string `json:"base64,omitempty"`
	// Marker says the event is drover's line where output was dropped
	// (past the output cap), not the job's own output.
	Marker bool `json:"marker,omitempty"`
}

// NewOutputEvent is the event of a chunk's bytes.
func NewOutputEvent(stream Stream, attemptN int, b []byte) OutputEvent {
	o := OutputEvent{Stream: stream, AttemptN: attemptN, Data: string(b)}
	if !utf8.Valid(b) {
		o.Data = strings.ToValidUTF8(o.Data, "\uFFFD")
		o.Base64 = base64.StdEncoding.EncodeToString(b)
	}
	return o
}

// Bytes returns the chunk's bytes as the job wrote them.
func (o OutputEvent) Bytes() ([]byte, error) {
	if o.Base64 != "" {
		b, err := base64.StdEncoding.DecodeString(o.Base64)
		if err != nil {
			return nil, fmt.Errorf("output event: base64: %w", err)
		}
		return b, nil
	}
	return []byte(o.Data), nil
}

// Event is an item of GET /events: a job or a worker changed.
type Event struct {
	ID     int64   `json:"id"`
	Type   string  `json:"type"` // "job" or "worker"
	Job    *Job    `json:"job,omitempty"`
	Worker *Worker `json:"worker,omitempty"`
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Info is GET /api/v1/info, served without a token.
type Info struct {
	Version      string `json:"version"`
	AuthRequired bool   `json:"authRequired"` // clients must send an API token
}

// LocalLabel marks the worker that runs inside the coordinator's process
// (drover dev): jobs constrained to LocalLabel=true run on this machine.
const LocalLabel = "drover.local"

// NetworkLabel marks a worker started with --allow-network.
// JobSpec.Normalize gives a docker job that asks for the network the
// constraint NetworkLabel=true. The job then runs only where it will have
// the network, and is refused when no worker could give it.
const NetworkLabel = "drover.network"

// Bundle is an uploaded ZIP of the files a job needs, named by the SHA-256
// of its bytes. POST /api/v1/bundles answers with it.
type Bundle struct {
	SHA256    string    `json:"sha256"`
	Size      int64     `json:"size"`     // bytes of the ZIP
	Files     int       `json:"files"`    // regular files in it
	Unpacked  int64     `json:"unpacked"` // bytes once extracted
	CreatedAt time.Time `json:"createdAt"`
}
