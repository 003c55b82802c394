package metrics

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestWriteText(t *testing.T) {
	r := NewRegistry()
	r.Counter("b_total", "Bs.").Add(3)
	cv := r.CounterVec("a_total", "As by state.", "state")
	cv.With("QUEUED").Inc()
	cv.With("DONE").Add(2)
	h := r.Histogram("lat_seconds", "Latency.", []float64{0.1, 1})
	h.Observe(0.05)
	h.Observe(0.5)
	h.Observe(3)
	r.HistogramVec("req_seconds", "Requests.", []float64{1}, "route", "code").With(`GET /x/{id}`, "2xx").Observe(0.5)
	r.GaugeFunc("g", "A \"gauge\"\nwith two lines.", "gauge", []string{"state"}, func(context.Context) ([]Sample, error) {
		return []Sample{{Labels: []string{`a"b`}, Value: 1.5}}, nil
	})
	var b strings.Builder
	if err := r.WriteText(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP a_total As by state.
# TYPE a_total counter
a_total{state="DONE"} 2
a_total{state="QUEUED"} 1
# HELP b_total Bs.
# TYPE b_total counter
b_total 3
# HELP g A "gauge"\nwith two lines.
# TYPE g gauge
g{state="a\"b"} 1.5
# HELP lat_seconds Latency.
# TYPE lat_seconds histogram
lat_seconds_bucket{le="0.1"} 1
lat_seconds_bucket{le="1"} 2
lat_seconds_bucket{le="+Inf"} 3
lat_seconds_sum 3.55
lat_seconds_count 3
# HELP req_seconds Requests.
# TYPE req_seconds histogram
req_seconds_bucket{route="GET /x/{id}",code="2xx",le="1"} 1
req_seconds_bucket{route="GET /x/{id}",code="2xx",le="+Inf"} 1
req_seconds_sum{route="GET /x/{id}",code="2xx"} 0.5
req_seconds_count{route="GET /x/{id}",code="2xx"} 1
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestRegisterTwiceShares(t *testing.T) {
	r := NewRegistry()
	r.Counter("x_total", "X.").Inc()
	r.Counter("x_total", "X.").Inc()
	if v := r.Counter("x_total", "X.").Value(); v != 2 {
		t.Errorf("shared counter = %d, want 2", v)
	}
	defer func() {
		if recover() == nil {
			t.Error("a name reused with another type did not panic")
		}
	}()
	r.Histogram("x_total", "X.", LatencyBuckets)
}

func TestGaugeFuncErrorKeepsTheRest(t *testing.T) {
	r := NewRegistry()
	r.GaugeFunc("a", "A.", "gauge", nil, func(context.Context) ([]Sample, error) { return nil, errors.New("store down") })
	r.Counter("b_total", "B.").Inc()
	var b strings.Builder
	err := r.WriteText(t.Context(), &b)
	if err == nil || !strings.Contains(err.Error(), "store down") {
		t.Errorf("err = %v, want the gauge's error", err)
	}
	if !strings.Contains(b.String(), "b_total 1\n") {
		t.Errorf("output lost the other families:\n%s", b.String())
	}
}

func TestConcurrentRecording(t *testing.T) {
	r := NewRegistry()
	h := r.HistogramVec("h_seconds", "H.", LatencyBuckets, "k")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				h.With([]string{"a", "b"}[i%2]).Observe(0.001)
			}
		}()
	}
	wg.Wait()
	if n := h.With("a").Count() + h.With("b").Count(); n != 8000 {
		t.Errorf("count = %d, want 8000", n)
	}
}

// BenchmarkHistogramVecObserve is what the HTTP API does per request: find
// the series of a route and status class and record a duration. It must not
// allocate.
func BenchmarkHistogramVecObserve(b *testing.B) {
	h := NewRegistry().HistogramVec("h_seconds", "H.", LatencyBuckets, "route", "code")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.With("POST /api/v1/attempts/{id}/finish", "2xx").Observe(0.001)
		}
	})
}

// The process and runtime metrics are all there, each with a value.
func TestRegisterProcess(t *testing.T) {
	r := NewRegistry()
	RegisterProcess(r)
	var b strings.Builder
	if err := r.WriteText(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"process_cpu_seconds_total", "process_resident_memory_bytes", "process_resident_memory_peak_bytes",
		"process_start_time_seconds", "process_open_fds", "process_max_fds", "go_goroutines", "go_threads",
		"go_gc_cycles_total", "go_memstats_heap_inuse_bytes"} {
		if !strings.Contains(b.String(), "\n"+name+" ") {
			t.Errorf("no sample of %s in:\n%s", name, b.String())
		}
	}
}
