package bench

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints the result for people.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	m := r.Machine
	fmt.Fprintf(tw, "machine\t%d CPUs, %s, %s memory, %s, %s, GOGC %s (%s)\n", m.CPUs, orUnknown(m.CPUModel), mib(m.MemoryMB<<20), m.OS, m.Go, gogc(m.GCPercent), gcScope(r))
	fmt.Fprintf(tw, "setup\t%d workers × %d slots, %s executor, coordinator %s\n", r.Workers, r.Slots, r.Executor, r.Server)
	fmt.Fprintf(tw, "\t\n")
	fmt.Fprintf(tw, "throughput\t%.0f jobs/s\t%d jobs in %s, %d submitters, first submit → last completion\n",
		r.JobsPerSec, r.Jobs, r.Elapsed.Round(time.Millisecond), r.Concurrency)
	if r.FloorPerSec > 0 {
		fmt.Fprintf(tw, "machine floor\t%.0f spawns/s\t/bin/true spawned directly, %d in parallel; drover reaches %.0f%% of it\n",
			r.FloorPerSec, r.Workers*r.Slots, 100*r.RatioToFloor)
	}
	if r.Jobs > 0 && (r.ThroughputCPU > 0 || r.ThroughputBusy > 0) {
		perJob := func(d time.Duration) string { return ms(d / time.Duration(r.Jobs)) }
		note := fmt.Sprintf("%s over the throughput run, per job", r.StatsScope)
		if r.ThroughputBusy > 0 {
			note += fmt.Sprintf("; the whole machine (commands and kernel included): %s", perJob(r.ThroughputBusy))
			if r.FloorBusy > 0 && r.FloorSpawns > 0 {
				note += fmt.Sprintf(", against %s per direct spawn", ms(r.FloorBusy/time.Duration(r.FloorSpawns)))
			}
		}
		fmt.Fprintf(tw, "CPU per job\t%s\t%s\n", perJob(r.ThroughputCPU), note)
	}
	fmt.Fprintf(tw, "submit call\t%s\tPOST /jobs round trip under that load (durable: committed before it returns)\n", lat(r.SubmitCall))
	fmt.Fprintf(tw, "submit → start, loaded\t%s\tcreatedAt → startedAt under that load (queueing included)\n", lat(r.LoadedStart))
	fmt.Fprintf(tw, "submit → start, light\t%s\tcreatedAt → startedAt, one job at a time\n", lat(r.StartLight))
	fmt.Fprintf(tw, "output latency\t%s\tline written → SSE follower has it\n", lat(r.Output))
	fmt.Fprintf(tw, "cancel → process gone\t%s\tfrom the cancel call's return, no grace (the call itself: p50 %s)\n", lat(r.Cancel), ms(r.CancelCall.P50))
	fmt.Fprintf(tw, "CPU\t%.2f s\t%s, over the phases above\n", r.CoordinatorCPU, r.StatsScope)
	fmt.Fprintf(tw, "memory\t%s peak, %s now\t%s\n", mib(r.CoordinatorPeak), mib(r.CoordinatorRSS), r.StatsScope)
	if r.Finished > 0 {
		fmt.Fprintf(tw, "finished jobs\t%s RSS\twith %d finished jobs in the store (prefilled in %.1f s)\n", mib(r.FinishedRSS), r.Finished, r.FinishedElapsed)
	}
	if r.IdleWorkers > 0 {
		fmt.Fprintf(tw, "idle workers\t%.2f cores\t%d workers heartbeating every %s (%.0f heartbeats/s), %s\n",
			r.IdleCores, r.IdleWorkers, r.IdleHeartbeat, r.IdleHeartbeatsPS, r.StatsScope)
	}
	if r.EventResets > 0 {
		fmt.Fprintf(tw, "note\tthe event stream dropped events %d times; those jobs were looked up and count as late\t\n", r.EventResets)
	}
	return tw.Flush()
}

func lat(l Latency) string {
	if l.N == 0 {
		return "-"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s", ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
}

func mib(b int64) string {
	if b <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

func orUnknown(s string) string {
	if s == "" {
		return "CPU model unknown"
	}
	return s
}

// gogc shows a GC percentage as GOGC would be written.
func gogc(p int) string {
	if p < 0 {
		return "off"
	}
	return strconv.Itoa(p)
}

// gcScope says whose GC target the machine line shows: the bench
// process's, which holds the coordinator only when it runs in process.
func gcScope(r *Result) string {
	if strings.HasPrefix(r.StatsScope, "bench process") {
		return "coordinator, workers and client"
	}
	return "the bench's workers and client; the coordinator has its own"
}
