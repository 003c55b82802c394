package drover

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"time"
)

// JobState is where a job is in its life. See DESIGN.md §2.
//
//	QUEUED -> ASSIGNED -> RUNNING -> COMPLETED | FAILED
//	any non-final state -> CANCELLED; a failed attempt with retries left -> QUEUED
type JobState string

const (
	JobQueued    JobState = "QUEUED"
	JobAssigned  JobState = "ASSIGNED"
	JobRunning   JobState = "RUNNING"
	JobCompleted JobState = "COMPLETED"
	JobFailed    JobState = "FAILED"
	JobCancelled JobState = "CANCELLED"
)

// JobStates lists every job state in lifecycle order.
var JobStates = []JobState{JobQueued, JobAssigned, JobRunning, JobCompleted, JobFailed, JobCancelled}

// Final reports whether s never changes again.
func (s JobState) Final() bool {
	return s == JobCompleted || s == JobFailed || s == JobCancelled
}

// Valid reports whether s is one of the known states.
func (s JobState) Valid() bool {
	for _, v := range JobStates {
		if s == v {
			return true
		}
	}
	return false
}

// Reason says why an attempt or a job ended the way it did.
type Reason string

const (
	ReasonNone            Reason = ""
	ReasonExitCode        Reason = "exit_code"        // the command exited non-zero
	ReasonTimeout         Reason = "timeout"          // the running phase overran spec.timeout
	ReasonOOMKilled       Reason = "oom_killed"       // killed for exceeding its memory limit
	ReasonWorkspaceLimit  Reason = "workspace_limit"  // wrote past its worker's --workspace-limit
	ReasonWorkerLost      Reason = "worker_lost"      // the worker stopped heartbeating
	ReasonExecutorError   Reason = "executor_error"   // the worker could not run it: image, spawn or bundle
	ReasonNotAcknowledged Reason = "not_acknowledged" // the worker never acknowledged the assignment
	ReasonCancelled       Reason = "cancelled"        // a user asked
	ReasonUnschedulable   Reason = "unschedulable"    // no worker can hold it
)

// FleetFailure reports whether r is the fleet's fault rather than the job's:
// such failures requeue the job without touching spec.maxRetries.
func (r Reason) FleetFailure() bool {
	return r == ReasonWorkerLost || r == ReasonExecutorError || r == ReasonNotAcknowledged
}

// JobFailure reports whether r is the job's own failure, retried per spec.maxRetries.
func (r Reason) JobFailure() bool {
	return r == ReasonExitCode || r == ReasonTimeout || r == ReasonOOMKilled || r == ReasonWorkspaceLimit
}

// Executor names.
const (
	ExecutorDocker  = "docker"
	ExecutorProcess = "process"
	// ExecutorNoop completes every attempt at once with exit code 0; it exists
	// to measure drover itself (drover bench) and is never picked by "auto".
	ExecutorNoop = "noop"
)

// Resources are what a job requests and a worker offers. Requests are
// reserved, not usage (as Kubernetes and Nomad do).
type Resources struct {
	CPU      int64 `json:"cpu"`      // millicores: 1000 = one core
	MemoryMB int64 `json:"memoryMB"` // mebibytes
}

// Capacity is what a worker registered.
type Capacity struct {
	CPU      int64 `json:"cpu"`      // millicores
	MemoryMB int64 `json:"memoryMB"` // mebibytes
	Slots    int   `json:"slots"`    // attempts it runs at once
}

// Allocated is the sum of the requests of a worker's active attempts.
type Allocated struct {
	CPU      int64 `json:"cpu"`
	MemoryMB int64 `json:"memoryMB"`
	Slots    int   `json:"slots"`
}

// JobSpec is what the user asked for.
type JobSpec struct {
	Name    string  `json:"name,omitempty"`
	Command Command `json:"command"`
	Image   string  `json:"image,omitempty"`
	// Executor is "docker", "process", or empty for any worker's default.
	Executor    string            `json:"executor,omitempty"`
	Bundle      string            `json:"bundle,omitempty"` // sha256 of an uploaded ZIP
	Env         map[string]string `json:"env,omitempty"`
	Resources   Resources         `json:"resources"`
	Timeout     Duration          `json:"timeout,omitempty"` // running phase only; 0 = none
	MaxRetries  int               `json:"maxRetries"`
	RetryOn     []Reason          `json:"retryOn,omitempty"`
	Constraints map[string]string `json:"constraints,omitempty"`
	Priority    int               `json:"priority"`
	// Network asks for network access inside a container; the worker must allow it.
	Network bool `json:"network,omitempty"`
}

// Command is an argv list. In JSON it is an array of strings, or a single
// string that runs under "sh -c".
type Command []string

// UnmarshalJSON accepts ["prog","arg"] or "shell text".
func (c *Command) UnmarshalJSON(b []byte) error {
	// The first byte says which form it is: trying a string first would
	// build and drop a type error on every array, the usual form.
	if isJSONString(b) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return errCommandType
		}
		if s == "" {
			*c = nil
			return nil
		}
		*c = Command{"sh", "-c", s}
		return nil
	}
	var argv []string
	if err := json.Unmarshal(b, &argv); err != nil {
		return errCommandType
	}
	*c = argv
	return nil
}

// errCommandType is a command of the wrong JSON type.
// It is malformed input, and names the field.
var errCommandType = &Error{Code: EMALFORMED, Field: "command", Message: "command must be a string or an array of strings"}

// isJSONString reports whether the JSON value b is a string.
func isJSONString(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '"'
}

// Duration is a time.Duration that reads and writes JSON as "1m30s"; a bare
// number is read as seconds.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the Go duration syntax.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "90s", "1h", or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if isJSONString(b) && json.Unmarshal(b, &s) == nil {
		if s == "" {
			*d = 0
			return nil
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			if n, err2 := strconv.ParseFloat(s, 64); err2 == nil {
				return d.setSeconds(n, "string "+Quote(s))
			}
			return durationError("string " + Quote(s))
		}
		*d = Duration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return durationError(jsonKind(b))
	}
	lit := string(b)
	if len(lit) > MaxQuoted {
		// A number's text may be of any length: the number as read then.
		lit = strconv.FormatFloat(n, 'g', -1, 64)
	}
	return d.setSeconds(n, "number "+lit)
}

// maxSeconds keeps a number of seconds inside time.Duration (about 292 years).
const maxSeconds = float64(math.MaxInt64 / int64(time.Second))

func (d *Duration) setSeconds(n float64, value string) error {
	if math.IsNaN(n) || math.IsInf(n, 0) || math.Abs(n) > maxSeconds {
		return durationError(value + " (out of range)")
	}
	*d = Duration(n * float64(time.Second))
	return nil
}

// DurationForm says what a Duration in JSON may be, for messages.
const DurationForm = `a duration like "90s", "5m" or "1h30m", or a number of seconds`

// durationError refuses a value as a Duration. value describes it as
// encoding/json does, such as "bool" or "string \"5 minutes\"". The error
// is a *json.UnmarshalTypeError, so encoding/json adds the field's path.
// The API's message then names it.
func durationError(value string) error {
	return &json.UnmarshalTypeError{Value: value, Type: reflect.TypeFor[Duration]()}
}

// jsonKind names the kind of a JSON value by its first byte.
func jsonKind(b []byte) string {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return "value"
	}
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case '"':
		return "string"
	}
	return "value"
}

// Job is a spec plus where it is.
type Job struct {
	ID    string   `json:"id"`
	Spec  JobSpec  `json:"spec"`
	State JobState `json:"state"`
	// ExitCode of the last attempt that produced one.
	ExitCode *int   `json:"exitCode"`
	Reason   Reason `json:"reason,omitempty"`
	Message  string `json:"message,omitempty"`
	// PendingReason says why a queued job is not placed yet.
	PendingReason string `json:"pendingReason,omitempty"`
	// JobRetries counts the retries charged to spec.maxRetries.
	// FleetRetries counts those the fleet caused: worker_lost,
	// executor_error and not_acknowledged.
	JobRetries   int `json:"jobRetries"`
	FleetRetries int `json:"fleetRetries"`
	// WorkerID is the worker of the current or last attempt; WorkerName
	// its name then, which stays when the worker is gone.
	WorkerID   string `json:"workerId,omitempty"`
	WorkerName string `json:"workerName,omitempty"`
	// AvoidWorkers are the workers where an attempt could not run the job
	// (executor_error): retries go to others while another READY worker
	// could hold it.
	AvoidWorkers []string `json:"avoidWorkers,omitempty"`
	OutputBytes  int64    `json:"outputBytes"`
	// OutputDropped is how much of OutputBytes the coordinator dropped.
	// Past the output cap it keeps the first and last parts. An output
	// event with marker set stands where the rest was.
	OutputDropped     int64      `json:"outputDropped,omitempty"`
	CreatedAt         time.Time  `json:"createdAt"`
	QueuedAt          *time.Time `json:"queuedAt"`
	AssignedAt        *time.Time `json:"assignedAt"`
	StartedAt         *time.Time `json:"startedAt"`
	CompletedAt       *time.Time `json:"completedAt"`
	CancelRequestedAt *time.Time `json:"cancelRequestedAt,omitempty"`
	// NotBefore delays a retried job until its backoff has passed.
	NotBefore *time.Time `json:"notBefore,omitempty"`
	Attempts  []Attempt  `json:"attempts"`
	// QueueRank is the job's place in the queue among jobs of its
	// priority, earliest first. It is the job's submission time, kept when
	// the fleet requeues the job. A retry for the job's own failure sets it
	// to the requeue's time. The store sets it, and it is not part of the
	// API. A job without it is ranked by QueuedAt, or else by CreatedAt.
	QueueRank time.Time `json:"-"`
}

// DisplayName is the job's name, or its command when it has none.
func (j *Job) DisplayName() string {
	if j.Spec.Name != "" {
		return j.Spec.Name
	}
	if len(j.Spec.Command) == 0 && j.Spec.Image != "" {
		return j.Spec.Image // its own command
	}
	return j.Spec.Command.String()
}

// String renders the command for people (not for a shell).
func (c Command) String() string {
	if len(c) == 3 && c[0] == "sh" && c[1] == "-c" {
		return c[2]
	}
	s := ""
	for i, a := range c {
		if i > 0 {
			s += " "
		}
		s += a
	}
	return s
}
