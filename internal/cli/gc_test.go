package cli

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	was := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(was) })
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOGC" {
				return v
			}
			return ""
		}
	}
	if got := TuneGC(env("")); got != DefaultGCPercent || debug.SetGCPercent(100) != DefaultGCPercent {
		t.Errorf("without GOGC: %d in force, want %d", got, DefaultGCPercent)
	}
	// GOGC set: the runtime has applied it (here: 100), and it stays.
	if got := TuneGC(env("100")); got != 100 || debug.SetGCPercent(100) != 100 {
		t.Errorf("with GOGC=100: %d in force, want 100", got)
	}
}
