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
