// Package metrics keeps drover's Prometheus metrics.
// It writes them in the text exposition format, version 0.0.4.
// It is a small subset of github.com/prometheus/client_golang without its
// dependencies. It offers counters, histograms, label vectors and gauges
// computed at scrape time.
//
// Recording on the hot paths uses atomics and takes no lock.
// Only the first use of a label combination takes a lock.
// Label values must come from small fixed sets, such as states, route
// patterns and status classes. Every combination lives as long as the
// registry.
//
// The process's own CPU and memory readings come from internal/procstat.
package metrics

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Registry holds metric families and writes them.
type Registry struct {
	mu       sync.Mutex
	families map[string]family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{families: map[string]family{}} }

type family interface {
	header() (name, help, typ string)
	write(ctx context.Context, w *bufio.Writer) error
}

// register adds f under its name, or returns the family already there so
// that registering the same metric twice (two handlers on one coordinator)
// shares it. A name reused with another type is a programming error.
func register[F family](r *Registry, f F) F {
	r.mu.Lock()
	defer r.mu.Unlock()
	name, _, typ := f.header()
	if old, ok := r.families[name]; ok {
		if o, ok := old.(F); ok {
			return o
		}
		_, _, otyp := old.header()
		panic(fmt.Sprintf("metrics: %s registered as %s and %s", name, otyp, typ))
	}
	r.families[name] = f
	return f
}

// WriteText writes every family, sorted by name, in the text format.
// Scrape-time gauges that fail are left out and the first error returned
// after everything else was written.
func (r *Registry) WriteText(ctx context.Context, w io.Writer) error {
	r.mu.Lock()
	fs := make([]family, 0, len(r.families))
	for _, f := range r.families {
		fs = append(fs, f)
	}
	r.mu.Unlock()
	slices.SortFunc(fs, func(a, b family) int {
		an, _, _ := a.header()
		bn, _, _ := b.header()
		return strings.Compare(an, bn)
	})
	bw := bufio.NewWriter(w)
	var first error
	for _, f := range fs {
		name, help, typ := f.header()
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
		if err := f.write(ctx, bw); err != nil && first == nil {
			first = fmt.Errorf("metric %s: %w", name, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return first
}

// ContentType is the media type of WriteText's output.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Counter is a monotonically increasing integer.
type Counter struct{ v atomic.Uint64 }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Value returns the count.
func (c *Counter) Value() uint64 { return c.v.Load() }

// Histogram counts observations in cumulative buckets (upper bounds in the
// unit of the metric, seconds for durations).
type Histogram struct {
	bounds []float64
	counts []atomic.Uint64 // one per bound, plus +Inf
	count  atomic.Uint64
	sum    atomic.Uint64 // float64 bits
}

func newHistogram(bounds []float64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe records v.
func (h *Histogram) Observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v)
	h.counts[i].Add(1)
	h.count.Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// ObserveDuration records d in seconds.
func (h *Histogram) ObserveDuration(d time.Duration) { h.Observe(d.Seconds()) }

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.count.Load() }

func (h *Histogram) writeSeries(w *bufio.Writer, name, labels string) {
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(w, "%s_bucket{%sle=\"%s\"} %d\n", name, withComma(labels), formatFloat(b), cum)
	}
	cum += h.counts[len(h.bounds)].Load()
	fmt.Fprintf(w, "%s_bucket{%sle=\"+Inf\"} %d\n", name, withComma(labels), cum)
	fmt.Fprintf(w, "%s_sum%s %s\n", name, braces(labels), formatFloat(math.Float64frombits(h.sum.Load())))
	fmt.Fprintf(w, "%s_count%s %d\n", name, braces(labels), cum)
}

// LatencyBuckets suit request and dispatch latencies: 0.5 ms to 10 s.
var LatencyBuckets = []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10}

// desc is what every family has.
type desc struct{ name, help, typ string }

func (d desc) header() (string, string, string) { return d.name, d.help, d.typ }

// counterFamily is a counter without labels.
type counterFamily struct {
	desc
	c Counter
}

func (f *counterFamily) write(_ context.Context, w *bufio.Writer) error {
	fmt.Fprintf(w, "%s %d\n", f.name, f.c.Value())
	return nil
}

// Counter registers (or returns) a counter without labels. Counter names
// end in _total by convention.
func (r *Registry) Counter(name, help string) *Counter {
	return &register(r, &counterFamily{desc: desc{name, help, "counter"}}).c
}

// Histogram registers (or returns) a histogram without labels.
func (r *Registry) Histogram(name, help string, bounds []float64) *Histogram {
	f := register(r, &histogramFamily{desc: desc{name, help, "histogram"}, bounds: bounds})
	return f.get(nil)
}

// CounterVec is a counter per combination of label values.
type CounterVec struct{ v *vec[*Counter] }

// With returns the counter of these label values, in the order the labels
// were declared.
func (c *CounterVec) With(values ...string) *Counter { return c.v.get(values) }

type counterVecFamily struct {
	desc
	vec[*Counter]
}

func (f *counterVecFamily) write(_ context.Context, w *bufio.Writer) error {
	f.each(func(labels string, c *Counter) {
		fmt.Fprintf(w, "%s%s %d\n", f.name, braces(labels), c.Value())
	})
	return nil
}

// CounterVec registers (or returns) a counter with labels.
func (r *Registry) CounterVec(name, help string, labels ...string) *CounterVec {
	f := register(r, &counterVecFamily{desc: desc{name, help, "counter"},
		vec: vec[*Counter]{labels: labels, make: func() *Counter { return &Counter{} }}})
	return &CounterVec{&f.vec}
}

// HistogramVec is a histogram per combination of label values.
type HistogramVec struct{ f *histogramFamily }

// With returns the histogram of these label values.
func (h *HistogramVec) With(values ...string) *Histogram { return h.f.get(values) }

type histogramFamily struct {
	desc
	bounds []float64
	once   sync.Once
	vec[*Histogram]
}

func (f *histogramFamily) get(values []string) *Histogram {
	f.once.Do(func() { f.vec.make = func() *Histogram { return newHistogram(f.bounds) } })
	return f.vec.get(values)
}

func (f *histogramFamily) write(_ context.Context, w *bufio.Writer) error {
	f.each(func(labels string, h *Histogram) { h.writeSeries(w, f.name, labels) })
	return nil
}

// HistogramVec registers (or returns) a histogram with labels.
func (r *Registry) HistogramVec(name, help string, bounds []float64, labels ...string) *HistogramVec {
	f := register(r, &histogramFamily{desc: desc{name, help, "histogram"}, bounds: bounds,
		vec: vec[*Histogram]{labels: labels}})
	return &HistogramVec{f}
}

// Sample is one series of a scrape-time gauge. It holds its label values,
// in the order the labels were declared, and its value.
type Sample struct {
	Labels []string
	Value  float64
}

type gaugeFuncFamily struct {
	desc
	labels []string
	fn     func(ctx context.Context) ([]Sample, error)
}

func (f *gaugeFuncFamily) write(ctx context.Context, w *bufio.Writer) error {
	ss, err := f.fn(ctx)
	if err != nil {
		return err
	}
	for _, s := range ss {
		fmt.Fprintf(w, "%s%s %s\n", f.name, braces(labelText(f.labels, s.Labels)), formatFloat(s.Value))
	}
	return nil
}

// GaugeFunc registers gauges computed at each scrape by fn (which may read
// a store: it gets the scrape's context). typ is "gauge", or "counter" for
// a total kept elsewhere (process CPU seconds).
func (r *Registry) GaugeFunc(name, help, typ string, labels []string, fn func(ctx context.Context) ([]Sample, error)) {
	register(r, &gaugeFuncFamily{desc: desc{name, help, typ}, labels: labels, fn: fn})
}

// maxLabels bounds the labels of a vector, so that a lookup uses a fixed
// array as its map key and allocates nothing.
const maxLabels = 4

// vec maps label values to one child each.
type vec[T any] struct {
	labels []string
	make   func() T
	mu     sync.RWMutex
	m      map[[maxLabels]string]*entry[T]
}

type entry[T any] struct {
	labels string // rendered name="value" pairs
	v      T
}

func (v *vec[T]) get(values []string) T {
	if len(values) != len(v.labels) || len(values) > maxLabels {
		panic(fmt.Sprintf("metrics: %d label values for labels %v (at most %d)", len(values), v.labels, maxLabels))
	}
	var key [maxLabels]string
	copy(key[:], values)
	v.mu.RLock()
	e, ok := v.m[key]
	v.mu.RUnlock()
	if ok {
		return e.v
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.m[key]; ok {
		return e.v
	}
	if v.m == nil {
		v.m = map[[maxLabels]string]*entry[T]{}
	}
	e = &entry[T]{labels: labelText(v.labels, values), v: v.make()}
	v.m[key] = e
	return e.v
}

// each visits the children in label order, so scrapes are stable.
func (v *vec[T]) each(fn func(labels string, x T)) {
	v.mu.RLock()
	es := make([]*entry[T], 0, len(v.m))
	for _, e := range v.m {
		es = append(es, e)
	}
	v.mu.RUnlock()
	slices.SortFunc(es, func(a, b *entry[T]) int { return strings.Compare(a.labels, b.labels) })
	for _, e := range es {
		fn(e.labels, e.v)
	}
}

func labelText(names, values []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(escapeValue(values[i]))
		b.WriteByte('"')
	}
	return b.String()
}

func braces(labels string) string {
	if labels == "" {
		return ""
	}
	return "{" + labels + "}"
}

func withComma(labels string) string {
	if labels == "" {
		return ""
	}
	return labels + ","
}

var (
	valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeValue(s string) string { return valueEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
