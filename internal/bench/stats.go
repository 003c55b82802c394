package bench

import (
	"encoding/json"
	"slices"
	"time"
)

// Latency summarises a set of durations.
type Latency struct {
	N   int           `json:"n"`
	P50 time.Duration `json:"p50"`
	P90 time.Duration `json:"p90"`
	P99 time.Duration `json:"p99"`
	Max time.Duration `json:"max"`
}

// summarise sorts ds in place and returns its percentiles (nearest rank).
func summarise(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(ds))+0.999999) - 1
		return ds[min(max(i, 0), len(ds)-1)]
	}
	return Latency{N: len(ds), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: ds[len(ds)-1]}
}

// MarshalJSON writes the durations in milliseconds, as the table does.
func (l Latency) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return json.Marshal(struct {
		N     int     `json:"n"`
		P50ms float64 `json:"p50Ms"`
		P90ms float64 `json:"p90Ms"`
		P99ms float64 `json:"p99Ms"`
		MaxMs float64 `json:"maxMs"`
	}{l.N, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max)})
}
