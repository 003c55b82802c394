package worker

import (
	"testing"
	"time"
)

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
