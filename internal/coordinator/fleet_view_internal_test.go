package coordinator

import (
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

func TestFleetViewRecent(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ws := []drover.Worker{{ID: "wrk_a"}}
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"at once", at, true},
		{"just within the TTL", at.Add(fleetTTL - time.Nanosecond), true},
		{"at the TTL", at.Add(fleetTTL), false},
		{"the clock went back", at.Add(-time.Nanosecond), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f fleetView
			f.set(ws, at)
			if got := f.recent(tt.now) != nil; got != tt.want {
				t.Errorf("recent after %v: got a view %v, want %v", tt.now.Sub(at), got, tt.want)
			}
		})
	}
	var f fleetView
	if f.recent(at) != nil {
		t.Error("an empty view gave workers")
	}
	f.set(ws, at)
	f.forget()
	if f.recent(at) != nil {
		t.Error("a forgotten view gave workers")
	}
}
