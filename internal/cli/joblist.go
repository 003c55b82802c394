package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/drover-dev/drover"
)

// jobsFlags are drover jobs' flags.
type jobsFlags struct {
	cf            clientFlags
	state, cursor string
	limit         int
	asJSON        bool
}

// defaultJobsLimit is how many jobs drover jobs lists without --limit.
const defaultJobsLimit = 50

// maxJobsLimit is the most jobs drover jobs lists at once.
const maxJobsLimit = 1000

func (jf *jobsFlags) add(a *app, fs *flag.FlagSet) {
	jf.cf.add(a, fs)
	fs.StringVar(&jf.state, "state", "", "only jobs in these states, comma-separated: QUEUED, ASSIGNED, RUNNING, COMPLETED, FAILED, CANCELLED")
	fs.IntVar(&jf.limit, "limit", defaultJobsLimit, fmt.Sprintf("how many (at most %d)", maxJobsLimit))
	fs.StringVar(&jf.cursor, "cursor", "", "continue after this page's cursor")
	fs.BoolVar(&jf.asJSON, "json", false, "print the page as the API returns it")
}

// cmdJobs is drover jobs.
// It lists a page of jobs, newest first, and says how to get the next.
func cmdJobs(ctx context.Context, a *app, args []string) int {
	fs := newFlags(a, "jobs")
	var jf jobsFlags
	jf.add(a, fs)
	pos, err := parse(fs, args)
	if err != nil {
		return usageCode(err)
	}
	states, err := jf.validate(pos)
	if err != nil {
		a.errorf("%v", err)
		return exitUsage
	}
	c := jf.cf.client()
	page, err := c.Jobs(ctx, drover.JobFilter{States: states, Limit: jf.limit, Cursor: jf.cursor})
	if err != nil {
		a.apiError(jf.cf.server, err)
		if jf.cursor != "" && drover.IsCode(err, drover.EINVALID) {
			return exitUsage // the only part of the request the coordinator checks is the cursor
		}
		return exitError
	}
	if jf.asJSON {
		return a.printJSON(page)
	}
	printJobs(a, page.Jobs, workerNames(ctx, c), time.Now())
	if page.NextCursor != "" {
		fmt.Fprintf(a.stderr, "more: %s --cursor %s\n", nextJobsCommand(states, jf.limit), printable(page.NextCursor))
	}
	return exitOK
}

// validate refuses arguments drover jobs cannot take, naming the flag.
// pos are the arguments left after the flags. It returns the states
// --state names.
func (jf *jobsFlags) validate(pos []string) ([]drover.JobState, error) {
	if len(pos) > 0 {
		return nil, fmt.Errorf("jobs takes no arguments (got %q): filter with --state, page with --cursor", pos)
	}
	if jf.limit < 1 || jf.limit > maxJobsLimit {
		return nil, fmt.Errorf("--limit %d: use a whole number from 1 to %d", jf.limit, maxJobsLimit)
	}
	if jf.state == "" {
		return nil, nil
	}
	var states []drover.JobState
	for s := range strings.SplitSeq(jf.state, ",") {
		st := drover.JobState(strings.ToUpper(strings.TrimSpace(s)))
		if st == "" {
			continue // "queued," as the API takes it
		}
		if !st.Valid() {
			return nil, fmt.Errorf("--state %q: %q is not a state; use one or more of %s, comma-separated", jf.state, s, joinStates(drover.JobStates))
		}
		states = append(states, st)
	}
	return states, nil
}

// maxNameWidth is the most characters of a job's name drover jobs shows.
const maxNameWidth = 50

// printJobs prints jobs as a table, their ages taken at now.
// worker names a worker from its id.
func printJobs(a *app, jobs []drover.Job, worker func(string) string, now time.Time) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tEXIT\tWORKER\tCPU\tMEM\tAGE\tNAME")
	for _, j := range jobs {
		exit := "-"
		if j.ExitCode != nil {
			exit = fmt.Sprint(*j.ExitCode)
		}
		wname := workerName(worker, j.WorkerID, j.WorkerName)
		if j.State == drover.JobQueued {
			wname = "-" // waiting: the worker of its last attempt is history
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", printable(j.ID), printable(string(j.State)), exit, printable(wname),
			drover.FormatCPU(j.Spec.Resources.CPU), drover.FormatMemory(j.Spec.Resources.MemoryMB), age(now.Sub(j.CreatedAt)),
			shorten(printable(j.DisplayName()), maxNameWidth))
	}
	tw.Flush()
}

// shorten cuts s to at most n characters, the last three of them dots.
// n must be more than 3.
func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}

// nextJobsCommand is the drover jobs command of the next page, without its
// cursor. It keeps the filter and the page size.
func nextJobsCommand(states []drover.JobState, limit int) string {
	more := "drover jobs"
	if len(states) > 0 {
		more += " --state " + strings.ReplaceAll(joinStates(states), ", ", ",")
	}
	if limit != defaultJobsLimit {
		more += fmt.Sprintf(" --limit %d", limit)
	}
	return more
}

// joinStates lists states as a reader does, comma-separated.
func joinStates(ss []drover.JobState) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}
