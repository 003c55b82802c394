package retry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

const ms = time.Millisecond

func TestDelay(t *testing.T) {
	for _, c := range []struct {
		first, max time.Duration
		n          int
		want       time.Duration
	}{
		{100 * ms, 5 * time.Second, 0, 100 * ms},
		{100 * ms, 5 * time.Second, 1, 100 * ms},
		{100 * ms, 5 * time.Second, 2, 200 * ms},
		{100 * ms, 5 * time.Second, 6, 3200 * ms},
		{100 * ms, 5 * time.Second, 7, 5 * time.Second}, // 6.4 s, capped
		{100 * ms, 5 * time.Second, 1 << 30, 5 * time.Second},
		{200 * ms, 0, 5, 3200 * ms}, // no cap
		{50 * ms, 0, 6, 1600 * ms},
		{10 * time.Second, 5 * time.Second, 1, 5 * time.Second}, // the cap holds from the start
	} {
		b := Backoff{First: c.first, Max: c.max}
		if got := b.Delay(c.n); got != c.want {
			t.Errorf("Backoff{First: %s, Max: %s}.Delay(%d) = %s, want %s", c.first, c.max, c.n, got, c.want)
		}
	}
}

// Without a cap the waits grow until they would overflow, and stay there.
func TestDelayWithoutCapDoesNotOverflow(t *testing.T) {
	b := Backoff{First: time.Second}
	prev := time.Duration(0)
	for n := 1; n < 200; n++ {
		d := b.Delay(n)
		if d < prev {
			t.Fatalf("Delay(%d) = %s, less than Delay(%d) = %s", n, d, n-1, prev)
		}
		prev = d
	}
}

func TestNextCountsFailuresAndResetStartsAgain(t *testing.T) {
	b := Backoff{First: 100 * ms, Max: 300 * ms}
	var got []time.Duration
	for range 4 {
		got = append(got, b.Next())
	}
	b.Reset()
	got = append(got, b.Next())
	if want := "[100ms 200ms 300ms 300ms 100ms]"; fmt.Sprint(got) != want {
		t.Errorf("waits = %v, want %v", got, want)
	}
}

func TestNextWithJitterStaysWithinAFifth(t *testing.T) {
	b := Backoff{First: 100 * ms, Max: 5 * time.Second, Jitter: true}
	for n := 1; n <= 10; n++ {
		d := b.Delay(n)
		if got := b.Next(); got < d-d/5 || got > d+d/5 {
			t.Fatalf("wait %d = %s, want within a fifth of %s", n, got, d)
		}
	}
}

// recorder stands in for the clock: each wait is noted and over at once.
type recorder struct{ waits []time.Duration }

func (r *recorder) after(d time.Duration) <-chan time.Time {
	r.waits = append(r.waits, d)
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

var (
	errDown  = errors.New("connection refused")
	errFinal = errors.New("400 bad request")
)

func TestDo(t *testing.T) {
	for _, c := range []struct {
		name    string
		tries   int
		max     time.Duration
		results []error // what op returns at each call; nil ends the calls
		want    error
		calls   int
		waits   string
	}{
		{"succeeds at once", 0, 0, []error{nil}, nil, 1, "[]"},
		{"succeeds after two failures", 0, 0, []error{errDown, errDown, nil}, nil, 3, "[100ms 200ms]"},
		{"a final error ends it", 0, 0, []error{errDown, errFinal, nil}, errFinal, 2, "[100ms]"},
		{"the tries run out", 3, 0, []error{errDown, errDown, errDown, nil}, errDown, 3, "[100ms 200ms]"},
		{"one try", 1, 0, []error{errDown, nil}, errDown, 1, "[]"},
		{"the waits stop at the cap", 0, 500 * ms, []error{errDown, errDown, errDown, errDown, errDown, nil}, nil, 6,
			"[100ms 200ms 400ms 500ms 500ms]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var clock recorder
			var heard []string
			p := Policy{
				Backoff:   Backoff{First: 100 * ms, Max: c.max, After: clock.after},
				Tries:     c.tries,
				Retryable: func(err error) bool { return err != errFinal },
				OnRetry:   func(err error, wait time.Duration) { heard = append(heard, fmt.Sprint(err, " ", wait)) },
			}
			calls := 0
			err := Do(context.Background(), p, func(context.Context) error {
				calls++
				return c.results[calls-1]
			})
			if err != c.want || calls != c.calls || fmt.Sprint(clock.waits) != c.waits {
				t.Errorf("Do = %v after %d calls and waits %v; want %v after %d calls and waits %s",
					err, calls, clock.waits, c.want, c.calls, c.waits)
			}
			if len(heard) != len(clock.waits) {
				t.Errorf("OnRetry heard %v, want one line for each of the waits %v", heard, clock.waits)
			}
		})
	}
}

// Every call of Do starts from the first wait, whatever the policy's
// Backoff counted before it was copied.
func TestDoStartsFromTheFirstWait(t *testing.T) {
	var clock recorder
	p := Policy{Backoff: Backoff{First: 100 * ms, After: clock.after}}
	p.Next()
	p.Next()
	for range 2 {
		failed := false
		_ = Do(context.Background(), p, func(context.Context) error {
			if failed {
				return nil
			}
			failed = true
			return errDown
		})
	}
	if want := "[100ms 100ms]"; fmt.Sprint(clock.waits) != want {
		t.Errorf("waits = %v, want %s", clock.waits, want)
	}
}

func TestDoStopsWhenItsContextEnds(t *testing.T) {
	never := func(time.Duration) <-chan time.Time { return nil }

	t.Run("in a wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		p := Policy{Backoff: Backoff{First: time.Hour, After: never}, OnRetry: func(error, time.Duration) { cancel() }}
		calls := 0
		err := Do(ctx, p, func(context.Context) error { calls++; return errDown })
		if !errors.Is(err, context.Canceled) || calls != 1 {
			t.Errorf("Do = %v after %d calls, want context.Canceled after 1", err, calls)
		}
	})
	t.Run("in a call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		p := Policy{Backoff: Backoff{First: time.Hour, After: never}}
		calls := 0
		err := Do(ctx, p, func(ctx context.Context) error {
			calls++
			cancel()
			return ctx.Err()
		})
		if !errors.Is(err, context.Canceled) || calls != 1 {
			t.Errorf("Do = %v after %d calls, want context.Canceled after 1", err, calls)
		}
	})
}

func TestJitterStaysWithinAFifth(t *testing.T) {
	for _, d := range []time.Duration{time.Nanosecond, 4 * time.Nanosecond, 5 * time.Nanosecond, 50 * ms, 10 * time.Second, time.Hour} {
		lo, hi := d-d/5, d+d/5
		seenLow, seenHigh := false, false
		for range 2000 {
			got := Jitter(d)
			if got < lo || got > hi {
				t.Fatalf("Jitter(%s) = %s, want within [%s, %s]", d, got, lo, hi)
			}
			seenLow = seenLow || got < d
			seenHigh = seenHigh || got > d
		}
		// From 5ns on there is room to spread. 2000 draws all on one
		// side of d would mean there is no spread at all.
		if d >= 5 && (!seenLow || !seenHigh) {
			t.Errorf("Jitter(%s) never went both below and above it in 2000 draws", d)
		}
	}
}

func TestJitterOfNothingIsNothing(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		if got := Jitter(d); got != 0 {
			t.Errorf("Jitter(%s) = %s, want 0", d, got)
		}
	}
}
