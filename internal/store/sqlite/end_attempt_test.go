package sqlite

import (
	"reflect"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

func TestTimesOfEnd(t *testing.T) {
	base := time.Date(2031, time.March, 14, 15, 0, 0, 123, time.UTC)
	at := func(d time.Duration) *time.Time { t := base.Add(d); return &t }
	ns := func(d time.Duration) int64 { return base.Add(d).UnixNano() }
	dur := func(d time.Duration) drover.Duration { return drover.Duration(d) }
	held := drover.Phases{Queued: dur(1), BundleFetch: dur(2), ImagePull: dur(3), Running: dur(99)}
	assigned := drover.Attempt{AssignedAt: at(0), Phases: held}
	started := drover.Attempt{AssignedAt: at(0), StartedAt: at(10 * time.Second), Phases: held}
	ran := func(d time.Duration) drover.Phases { p := held; p.Running = dur(d); return p }
	stopped := held
	stopped.Running = 0

	for _, tc := range []struct {
		name    string
		a       drover.Attempt
		end     store.AttemptEnd
		at      int64
		started *time.Time
		phases  drover.Phases
	}{
		{"ran from its start to its end", started, store.AttemptEnd{At: *at(time.Minute)},
			ns(time.Minute), nil, ran(50 * time.Second)},
		{"an end dated before the start ends at the start", started, store.AttemptEnd{At: *at(5 * time.Second)},
			ns(10 * time.Second), nil, ran(0)},
		{"never started: no running phase", assigned, store.AttemptEnd{At: *at(time.Minute)},
			ns(time.Minute), nil, stopped},
		{"an end dated before the assignment ends at the assignment", assigned, store.AttemptEnd{At: *at(-time.Second)},
			ns(0), nil, stopped},
		{"no assignment time: the end as dated", drover.Attempt{Phases: held}, store.AttemptEnd{At: *at(-time.Second)},
			ns(-time.Second), nil, stopped},
		{"a start reported with the end", assigned, store.AttemptEnd{At: *at(time.Minute), StartedAt: at(20 * time.Second)},
			ns(time.Minute), at(20 * time.Second), ran(40 * time.Second)},
		{"a start reported before the assignment starts at the assignment", assigned,
			store.AttemptEnd{At: *at(time.Minute), StartedAt: at(-time.Second)},
			ns(time.Minute), at(0), ran(time.Minute)},
		{"a start reported after the end starts at the end", assigned,
			store.AttemptEnd{At: *at(time.Minute), StartedAt: at(2 * time.Minute)},
			ns(time.Minute), at(time.Minute), ran(0)},
		{"a start reported for a started attempt is ignored", started,
			store.AttemptEnd{At: *at(time.Minute), StartedAt: at(30 * time.Second)},
			ns(time.Minute), nil, ran(50 * time.Second)},
		{"ran until its last sign of life", started, store.AttemptEnd{At: *at(time.Minute), RanUntil: at(40 * time.Second)},
			ns(time.Minute), nil, ran(30 * time.Second)},
		{"a last sign of life after the end counts up to the end", started,
			store.AttemptEnd{At: *at(time.Minute), RanUntil: at(2 * time.Minute)},
			ns(time.Minute), nil, ran(50 * time.Second)},
		{"a last sign of life before the start: no running phase", started,
			store.AttemptEnd{At: *at(time.Minute), RanUntil: at(5 * time.Second)},
			ns(time.Minute), nil, ran(0)},
		{"bundle fetch and image pull reported with the end replace those held", started,
			store.AttemptEnd{At: *at(time.Minute), Phases: drover.Phases{Queued: dur(7), BundleFetch: dur(8), ImagePull: dur(9), Running: dur(10)}},
			ns(time.Minute), nil, drover.Phases{Queued: dur(1), BundleFetch: dur(8), ImagePull: dur(9), Running: dur(50 * time.Second)}},
		{"only the one reported replaces its own", started,
			store.AttemptEnd{At: *at(time.Minute), Phases: drover.Phases{ImagePull: dur(9)}},
			ns(time.Minute), nil, drover.Phases{Queued: dur(1), BundleFetch: dur(2), ImagePull: dur(9), Running: dur(50 * time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.a
			got := timesOfEnd(&a, tc.end)
			want := endTimes{at: tc.at, started: tc.started, phases: tc.phases}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v (started %v)\nwant %+v (started %v)", got, got.started, want, want.started)
			}
			if !reflect.DeepEqual(a, tc.a) {
				t.Errorf("timesOfEnd changed the attempt: %+v", a)
			}
		})
	}
}
