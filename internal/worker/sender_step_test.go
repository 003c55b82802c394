package worker

import (
	"testing"
	"time"
)

func (s step) String() string {
	return [...]string{"idle", "hold", "start", "batch", "finish"}[s]
}

// next orders the reports start, output, finish, and holds a silent start.
func TestSenderNextStep(t *testing.T) {
	const left = 10 * time.Millisecond
	for _, c := range []struct {
		name string
		st   senderState
		want step
	}{
		{"nothing yet", senderState{}, stepIdle},
		{"output before any start", senderState{output: true}, stepBatch},
		{"finish with nothing else", senderState{finish: true}, stepFinish},
		{"output goes before the finish", senderState{output: true, finish: true}, stepBatch},

		{"a silent start is held", senderState{start: true, holdLeft: left}, stepHold},
		{"a start whose hold ran out goes", senderState{start: true}, stepStart},
		{"a start whose hold ran out long ago goes", senderState{start: true, holdLeft: -time.Second}, stepStart},
		{"output ends the hold", senderState{start: true, holdLeft: left, output: true}, stepStart},
		{"the start goes before output", senderState{start: true, output: true}, stepStart},
		{"a finish with output to send goes after the start", senderState{start: true, holdLeft: left, output: true, finish: true}, stepStart},
		{"a finish with nothing to send carries a held start", senderState{start: true, holdLeft: left, finish: true}, stepFinish},
		{"a finish with nothing to send carries a start past its hold", senderState{start: true, finish: true}, stepFinish},

		{"started and quiet", senderState{started: true, start: true}, stepIdle},
		{"started, then output", senderState{started: true, start: true, holdLeft: left, output: true}, stepBatch},
		{"started, then the finish", senderState{started: true, start: true, finish: true}, stepFinish},
	} {
		if got := next(c.st); got != c.want {
			t.Errorf("%s: next(%+v) = %s, want %s", c.name, c.st, got, c.want)
		}
	}
}
