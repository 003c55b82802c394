package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/drover-dev/drover"
)

// cmdWorkers is drover workers: it lists the workers with their capacity,
// what is allocated of it and what they last reported using.
func cmdWorkers(ctx context.Context, a *app, args []string) int {
	fs := newFlags(a, "workers")
	var cf clientFlags
	var asJSON bool
	cf.add(a, fs)
	fs.BoolVar(&asJSON, "json", false, "print the workers as the API returns them")
	pos, err := parse(fs, args)
	if err != nil {
		return usageCode(err)
	}
	if len(pos) > 0 {
		a.errorf("workers takes no arguments (got %q)", pos)
		return exitUsage
	}
	ws, err := cf.client().Workers(ctx)
	if err != nil {
		a.apiError(cf.server, err)
		return exitError
	}
	if asJSON {
		return a.printJSON(drover.WorkerList{Workers: ws})
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tCPU (alloc/cap)\tMEM (alloc/cap)\tSLOTS\tCPU%\tMEM USED\tEXECUTORS\tLABELS\tHEARTBEAT")
	now := time.Now()
	for _, w := range ws {
		labels := []string{}
		for k, v := range w.Labels {
			labels = append(labels, k+"="+v)
		}
		cpuUse, memUse := fmt.Sprintf("%.0f%%", w.Usage.CPUPercent), drover.FormatMemory(w.Usage.MemoryUsedMB)
		if w.State == drover.WorkerDown {
			cpuUse, memUse = "-", "-" // what it last reported is not its state now
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%s/%s\t%d/%d\t%s\t%s\t%s\t%s\t%s ago\n", printable(w.ID), printable(w.Name), printable(string(w.State)),
			drover.FormatCPU(w.Allocated.CPU), drover.FormatCPU(w.Capacity.CPU),
			drover.FormatMemory(w.Allocated.MemoryMB), drover.FormatMemory(w.Capacity.MemoryMB),
			w.Allocated.Slots, w.Capacity.Slots, cpuUse, memUse,
			printable(strings.Join(w.Executors, ",")), printable(orText(strings.Join(labels, ","), "-")), age(now.Sub(w.LastHeartbeatAt)))
	}
	tw.Flush()
	return exitOK
}
