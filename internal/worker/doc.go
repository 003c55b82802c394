// Package worker is the drover worker agent.
//
// A Worker registers its capacity with a coordinator. Then three loops run
// until it is drained or stopped. The heartbeat reports the machine's usage
// and the attempts the worker runs. The long-poll brings assignments and
// stop requests. The reporter sends the starts and finishes of all the
// worker's attempts, in batches while a request is in flight.
//
// Each assignment runs as an attempt, in steps. The worker finds the
// executor and makes a workspace. It acknowledges the assignment and
// unpacks the job's bundle. It runs the command with an Executor, and
// reports how the attempt ended. A sender streams the attempt's output in
// order, without loss or repeats.
//
// The worker speaks only HTTP to its coordinator, through the client
// package. A call that fails on the way is tried again with internal/retry.
//
// The worker owns its work dir: the workspaces, the bundle cache and its
// secret. One worker holds a work dir at a time.
package worker
