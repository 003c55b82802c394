// Package sched decides where queued jobs run (DESIGN.md §3). Placement is a
// pure function of the queued jobs, the workers and the time it is given: no
// I/O, no clock, no randomness, so the coordinator can call it on every
// scheduling pass and tests can pin every decision.
//
// Requests, not usage, are reserved: a worker's free resources are its
// registered capacity minus the requests of its active attempts. Each job goes
// to the feasible READY worker it fits best, and every job left queued gets a
// reason a person can act on.
package sched

// Assignment places one job on one worker.
type Assignment struct {
	JobID    string
	WorkerID string
}

// Result is the outcome of one scheduling pass.
type Result struct {
	// Assignments in the order they were decided: highest priority first.
	Assignments []Assignment
	// Pending holds, for every queued job not placed, why
	// ("needs 8 CPU; the largest free is 2 (worker w1)").
	Pending map[string]string
}
