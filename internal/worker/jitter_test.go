package worker

import (
	"testing"
	"time"
)

func TestJitterStaysWithinTwentyPercent(t *testing.T) {
	for _, d := range []time.Duration{time.Nanosecond, 4 * time.Nanosecond, 5 * time.Nanosecond, 50 * time.Millisecond, 10 * time.Second, time.Hour} {
		lo, hi := d-d/5, d+d/5
		seenLow, seenHigh := false, false
		for range 2000 {
			got := jitter(d)
			if got < lo || got > hi {
				t.Fatalf("jitter(%s) = %s, want within [%s, %s]", d, got, lo, hi)
			}
			seenLow = seenLow || got < d
			seenHigh = seenHigh || got > d
		}
		// From 5ns on there is room to spread; 2000 draws all on one side
		// of d would mean there is no spread at all.
		if d >= 5 && (!seenLow || !seenHigh) {
			t.Errorf("jitter(%s) never went both below and above it in 2000 draws", d)
		}
	}
}

func TestJitterOfNothingIsNothing(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		if got := jitter(d); got != 0 {
			t.Errorf("jitter(%s) = %s, want 0", d, got)
		}
	}
}

// ackBy counts the coordinator's window from the poll's sending plus the
// time the coordinator held it, less a margin for the start's way back.
func TestAckBy(t *testing.T) {
	sent := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		waited, within, want time.Duration
	}{
		{0, 0, -1}, // not said
		{time.Second, 15 * time.Second, 11 * time.Second},   // margin 5 s
		{2 * time.Second, 3 * time.Second, 4 * time.Second}, // margin a third
		{0, time.Millisecond, time.Millisecond - time.Millisecond/3},
	} {
		got := ackBy(sent, c.waited, c.within)
		if c.want < 0 {
			if !got.IsZero() {
				t.Errorf("ackBy(%s, %s) = %v, want zero", c.waited, c.within, got)
			}
			continue
		}
		if d := got.Sub(sent); d != c.want {
			t.Errorf("ackBy(%s, %s) = sent + %s, want sent + %s", c.waited, c.within, d, c.want)
		}
	}
}
