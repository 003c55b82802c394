package drover

import "time"

// WorkerState is a worker's standing with the coordinator.
type WorkerState string

const (
	WorkerReady    WorkerState = "READY"
	WorkerDraining WorkerState = "DRAINING" // takes no new work; exits when idle
	WorkerDown     WorkerState = "DOWN"     // missed its heartbeat timeout
)

// Worker is a machine (or process) that runs attempts.
type Worker struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Labels    map[string]string `json:"labels"`
	Executors []string          `json:"executors"`
	Capacity  Capacity          `json:"capacity"`
	Allocated Allocated         `json:"allocated"`
	Usage     WorkerUsage       `json:"usage"`
	State     WorkerState       `json:"state"`
	Version   string            `json:"version"`
	// Grace is the wait between SIGTERM and SIGKILL the worker gives a
	// command it stops. Zero means none, or not said.
	Grace           Duration  `json:"grace,omitempty"`
	RegisteredAt    time.Time `json:"registeredAt"`
	LastHeartbeatAt time.Time `json:"lastHeartbeatAt"`
	// Running lists the ids of the jobs of its active attempts.
	Running []string `json:"running"`
}

// WorkerUsage is a worker's live machine metrics, sent with each heartbeat.
type WorkerUsage struct {
	CPUPercent    float64 `json:"cpuPercent"` // of all cores, 0-100
	MemoryUsedMB  int64   `json:"memoryUsedMB"`
	MemoryTotalMB int64   `json:"memoryTotalMB"`
	Load1         float64 `json:"load1"`
}

// HasExecutor reports whether w advertises the named executor.
func (w *Worker) HasExecutor(name string) bool {
	for _, e := range w.Executors {
		if e == name {
			return true
		}
	}
	return false
}

// Free is capacity minus allocated.
func (w *Worker) Free() Allocated {
	return Allocated{
		CPU:      w.Capacity.CPU - w.Allocated.CPU,
		MemoryMB: w.Capacity.MemoryMB - w.Allocated.MemoryMB,
		Slots:    w.Capacity.Slots - w.Allocated.Slots,
	}
}
