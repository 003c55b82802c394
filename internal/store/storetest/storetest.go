// Package storetest is the conformance suite of store.Store. Every
// implementation runs Exercise from its tests. The coordinator then relies
// on the contract written in internal/store, not on one implementation's
// habits.
//
// The suite drives time itself. Every "now" is an offset from a fixed UTC
// base with a nanosecond part. Times are compared with time.Time.Equal, so
// an implementation must keep timestamps to the nanosecond.
package storetest

import (
	"testing"

	"github.com/drover-dev/drover/internal/store"
)

// Exercise runs the suite as subtests of t. open must return a new, empty
// store each time it is called; Exercise closes it when the subtest ends.
func Exercise(t *testing.T, open func(t *testing.T) store.Store) {
	cases := []struct {
		name string
		fn   func(f *fixture)
	}{
		{"CreateJob", testCreateJob},
		{"CreateJob/IdempotencyKey", testIdempotencyKey},
		{"GetJob/NotFound", testGetJobNotFound},
		{"ListJobs", testListJobs},
		{"ListJobs/Pagination", testListJobsPagination},
		{"QueuedJobs", testQueuedJobs},
		{"QueuedJobs/Place", testQueuePlace},
		{"CountJobs", testCountJobs},
		{"SetPendingReasons", testSetPendingReasons},

		{"Assign", testAssign},
		{"Assign/Skips", testAssignSkips},
		{"Assign/OneTransaction", testAssignOneTransaction},

		{"CancelJob/Queued", testCancelQueued},
		{"CancelJob/InRetryBackoff", testCancelInRetryBackoff},
		{"CancelJob/Undelivered", testCancelUnacknowledged},
		{"CancelJob/Delivered", testCancelDelivered},
		{"CancelJob/Acknowledged", testCancelAcknowledged},
		{"CancelJob/Errors", testCancelErrors},
		{"CancelJobs", testCancelJobs},

		{"Workers/CreateGet", testWorkerCreateGet},
		{"Workers/UniqueLiveNames", testWorkerUniqueLiveNames},
		{"Workers/List", testListWorkers},
		{"Workers/Heartbeat", testHeartbeat},
		{"Workers/SetState", testSetWorkerState},
		{"Workers/Delete", testDeleteWorker},
		{"Workers/Forget", testForgetWorker},
		{"Workers/Stale", testStaleWorkers},
		{"Workers/MarkDown", testMarkWorkerDown},

		{"Attempts/Get", testGetAttempts},
		{"Attempts/Deliver", testDeliver},
		{"Attempts/Accept", testAcceptAttempt},
		{"Attempts/Start", testStartAttempt},
		{"Attempts/Unacknowledged", testUnacknowledged},
		{"Attempts/Overdue", testOverdue},

		{"Output/Append", testAppendOutput},
		{"Output/Read", testReadOutput},

		{"EndAttempt/Completed", testEndCompleted},
		{"EndAttempt/Retry", testEndRetry},
		{"EndAttempt/AvoidWorkers", testEndAvoidWorkers},
		{"EndAttempt/RanUntil", testEndRanUntil},
		{"EndAttempt/NotBeforeStart", testEndNotBeforeStart},
		{"EndAttempt/WithStart", testEndWithStart},
		{"EndAttempt/Cancelled", testEndCancelled},
		{"EndAttempt/Errors", testEndErrors},
		{"EndAttempt/If", testEndIf},
		{"Fencing", testFencing},

		{"Bundles", testBundles},
		{"Bundles/UploadCutShort", testBundleUploadCutShort},
		{"Bundles/ConcurrentUploads", testBundleConcurrentUploads},
		{"Bundles/RemovedWhileRead", testBundleRemovedWhileRead},
		{"Bundles/NamedByJob", testBundleNamedByJob},
		{"Bundles/DeleteUnused", testDeleteUnusedBundles},
		{"DeleteFinished", testDeleteFinished},

		{"Concurrency", testConcurrency},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.fn(newFixture(t, open))
		})
	}
}
