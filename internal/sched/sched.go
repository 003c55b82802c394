// Package sched decides where queued jobs run.
//
// Placement is a pure function of the queued jobs, the workers and the
// time it is given. It does no I/O and reads no clock and no randomness.
// The coordinator can thus call it on every scheduling pass, and tests can
// pin every decision.
//
// Requests, not usage, are reserved. A worker's free resources are its
// registered capacity minus the requests of its active attempts. Each job
// goes to the feasible READY worker it fits best. Every job left queued
// gets a reason a person can act on.
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
	// Pending holds why each queued job was not placed, by job id. A
	// reason reads like "needs 8 CPU; the largest free is 2 (worker w1)".
	Pending map[string]string
}
