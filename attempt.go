package drover

import "time"

// AttemptState is the state of one try of a job on one worker.
type AttemptState string

const (
	AttemptAssigned  AttemptState = "ASSIGNED" // placed; not yet started by the worker
	AttemptRunning   AttemptState = "RUNNING"
	AttemptCompleted AttemptState = "COMPLETED"
	AttemptFailed    AttemptState = "FAILED"
	AttemptCancelled AttemptState = "CANCELLED"
)

// Final reports whether s never changes again.
func (s AttemptState) Final() bool {
	return s == AttemptCompleted || s == AttemptFailed || s == AttemptCancelled
}

// Attempt is one try of a job on one worker.
type Attempt struct {
	ID       string `json:"id"`
	JobID    string `json:"jobId"`
	N        int    `json:"n"` // 1-based
	WorkerID string `json:"workerId"`
	// WorkerName is the worker's name when the attempt was assigned: it
	// stays when the worker is gone.
	WorkerName string       `json:"workerName,omitempty"`
	State      AttemptState `json:"state"`
	// Resources reserved on the worker while the attempt is active.
	Resources Resources `json:"resources"`
	ExitCode  *int      `json:"exitCode"`
	Reason    Reason    `json:"reason,omitempty"`
	Message   string    `json:"message,omitempty"`
	Usage     Usage     `json:"usage"`
	Phases    Phases    `json:"phases"`

	AssignedAt *time.Time `json:"assignedAt"`
	// DeliveredAt is when a worker's long-poll carried the assignment.
	DeliveredAt *time.Time `json:"deliveredAt,omitempty"`
	// AcceptedAt is when the worker acknowledged it (accept or start).
	AcceptedAt *time.Time `json:"acceptedAt,omitempty"`
	StartedAt  *time.Time `json:"startedAt"`
	FinishedAt *time.Time `json:"finishedAt"`
	// StopRequested is set when the coordinator wants the worker to stop it.
	StopRequested bool `json:"stopRequested,omitempty"`
}

// Usage is what an attempt measurably used.
type Usage struct {
	PeakMemoryBytes int64   `json:"peakMemoryBytes"`
	CPUSeconds      float64 `json:"cpuSeconds"`
}

// Phases records how long an attempt spent in each phase, so a user sees where
// time went. Queued is the job's wait before this attempt was assigned.
type Phases struct {
	Queued      Duration `json:"queued"`
	BundleFetch Duration `json:"bundleFetch"`
	ImagePull   Duration `json:"imagePull"`
	Running     Duration `json:"running"`
}
