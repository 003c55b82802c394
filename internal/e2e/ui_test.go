package e2e

import (
	"archive/zip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/drover-dev/drover"
)

// The UI tests drive the embedded web UI in a real headless Chromium
// (Debian's chromium package) against the real binary. Every wait is on a
// condition in the page, checked each animation frame, with a deadline.

const uiWait = 30 * time.Second

// tab is a headless browser tab on a cluster's UI.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu     sync.Mutex
	thrown []string // uncaught exceptions of the page
}

// newTab starts Chromium for one test. Without chromium the test is
// skipped, except in CI, where a missing browser fails it.
func newTab(t *testing.T, cl *cluster) *tab {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (apt-get install chromium): the UI tests need it")
		}
		t.Skip("chromium is not installed; apt-get install chromium to run the UI tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.WindowSize(1440, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	tb := &tab{t: t, ctx: ctx, base: cl.url}
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
		tb.mu.Lock()
		defer tb.mu.Unlock()
		for _, e := range tb.thrown {
			t.Errorf("uncaught in the page: %s", e)
		}
	})
	err = chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok && e.ExceptionDetails != nil {
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			tb.mu.Lock()
			tb.thrown = append(tb.thrown, fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber+1))
			tb.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %v\npage: %s", what, err, tb.mainText())
	}
}

// open loads the UI at a hash route, like "#/jobs".
func (tb *tab) open(route string) {
	tb.t.Helper()
	tb.do("open "+route, chromedp.Navigate(tb.base+"/"+route))
}

// until waits for a JavaScript function of args to return true.
func (tb *tab) until(what, fn string, args ...any) {
	tb.t.Helper()
	tb.untilWithin(uiWait, what, fn, args...)
}

// untilWithin is until with a bound of its own, for a page's long work.
func (tb *tab) untilWithin(d time.Duration, what, fn string, args ...any) {
	tb.t.Helper()
	_, err := chromedp.Run(tb.ctx, chromedp.PollFunction[bool](fn,
		chromedp.WithPollingArgs(args...), chromedp.WithPollingTimeout(d)))
	if err != nil {
		tb.t.Fatalf("waiting for %s: %v\npage: %s", what, err, tb.mainText())
	}
}

// waitText waits until the first element matching sel contains want.
func (tb *tab) waitText(sel, want string) {
	tb.t.Helper()
	tb.until(fmt.Sprintf("%q in %s", want, sel),
		`(sel, want) => { const el = document.querySelector(sel); return !!el && el.textContent.includes(want); }`, sel, want)
}

func (tb *tab) eval(js string) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", js, err)
	}
	return s
}

// mainText is the page's visible text, for failure messages.
func (tb *tab) mainText() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main') ? document.querySelector('main').innerText : ''`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	if len(s) > 3000 {
		s = s[:3000] + "…"
	}
	return s
}

// The element is found and clicked in one step inside the page: live
// updates redraw parts of it, and a node found first and clicked later may
// be gone by then.
func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.until("click "+sel, `(sel) => { const el = document.querySelector(sel); if (!el || el.disabled) return false; el.click(); return true; }`, sel)
}

// fill sets an input's value and fires its input and change events.
func (tb *tab) fill(sel, value string) {
	tb.t.Helper()
	tb.do("fill "+sel, chromedp.SetValue(chromedp.CSS(sel), value))
}

// screenshot saves the viewport to docs/screenshots/name.png when
// DROVER_SCREENSHOTS=1, so ordinary runs write nothing in the tree.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	if os.Getenv("DROVER_SCREENSHOTS") != "1" {
		return
	}
	// Start at the top, and let the last frame's rendering settle (bars
	// animate their width).
	tb.until("a quiet frame", `() => new Promise((ok) => { window.scrollTo(0, 0); document.activeElement.blur(); requestAnimationFrame(() => setTimeout(() => ok(true), 500)); })`)
	b, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// viewport sets the size of the page's window, as a phone's or a laptop's.
func (tb *tab) viewport(width, height int64) {
	tb.t.Helper()
	tb.do(fmt.Sprintf("viewport %dx%d", width, height), chromedp.EmulateViewport(width, height))
}

// fitsWidth waits until the page does not scroll sideways.
func (tb *tab) fitsWidth() {
	tb.t.Helper()
	tb.until("the page to fit its width", `() => document.documentElement.scrollWidth <= window.innerWidth`)
}

func (tb *tab) colorScheme(scheme string) {
	tb.t.Helper()
	_, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	})
	if err != nil {
		tb.t.Fatal(err)
	}
}

// terminalLines is the text of the output view, one entry per line.
func (tb *tab) terminalLines() []string {
	tb.t.Helper()
	s := tb.eval(`[...document.querySelectorAll('.term .l:not(.mark)')].map((l) => l.textContent).join('\n')`)
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func submitJob(t *testing.T, cl *cluster, spec drover.JobSpec) *drover.Job {
	t.Helper()
	j, err := cl.c.Submit(ctxT(t, 20*time.Second), spec, "")
	if err != nil {
		t.Fatalf("submit %v: %v", spec.Command, err)
	}
	return j
}

func shell(s string) drover.Command { return drover.Command{"sh", "-c", s} }

// writeZip makes a ZIP holding the given files.
func writeZip(t *testing.T, files map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bundle.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUISubmitWithBundle submits a job with a ZIP through the form and sees
// its output appear live on the job's page.
func TestUISubmitWithBundle(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	// A worker labelled as drover dev's own: the form offers "Local".
	cl.worker("w1", "--cpu", "2", "--memory", "2G", "--labels", drover.LocalLabel+"=true")
	tb := newTab(t, cl)
	bundle := writeZip(t, map[string]string{
		"run.sh":   "#!/bin/sh\nprintf '\\033[32mready\\033[0m\\n'\necho \"data: $(cat data.txt)\"\necho 'a warning' >&2\n",
		"data.txt": "hello from the bundle",
	})

	tb.open("#/submit")
	tb.fill("#f-command", "sh run.sh")
	tb.do("choose the ZIP", chromedp.SetUploadFiles(chromedp.CSS("#f-files"), []string{bundle}))
	tb.waitText(".file-list", "uploaded as is")
	tb.fill("#f-cpu", "0.5")
	tb.fill("#f-memory", "64M")
	// The choice is redrawn when the worker list changes (it keeps its
	// value): click until the drawn radio is checked.
	tb.until("Local mode chosen", `() => { const r = document.querySelector('input[name=mode][value=local]'); if (!r) return false; if (!r.checked) r.click(); return r.checked; }`)
	tb.click("form.submit-form button[type=submit]")

	tb.until("the job's page", `() => location.hash.startsWith('#/jobs/job_')`)
	tb.waitText(".term", "data: hello from the bundle")
	tb.waitText(".page-head .badge", "COMPLETED")
	id := strings.TrimPrefix(tb.eval(`location.hash`), "#/jobs/")

	// The colour is rendered, not printed as an escape sequence, and the
	// stderr line is marked.
	if got := tb.eval(`document.querySelector('.term .f2') ? document.querySelector('.term .f2').textContent : ''`); got != "ready" {
		t.Errorf("green span: %q, want \"ready\"", got)
	}
	if got := tb.eval(`document.querySelector('.term .l.e') ? document.querySelector('.term .l.e').textContent : ''`); got != "a warning" {
		t.Errorf("stderr line: %q", got)
	}
	if lines := tb.terminalLines(); len(lines) != 3 || strings.ContainsRune(strings.Join(lines, ""), '\x1b') {
		t.Errorf("terminal lines %q", lines)
	}

	j, err := cl.c.Job(ctxT(t, 10*time.Second), id)
	if err != nil {
		t.Fatal(err)
	}
	if j.Spec.Bundle == "" || j.Spec.Resources.CPU != 500 || j.Spec.Resources.MemoryMB != 64 || j.Spec.Command.String() != "sh run.sh" ||
		j.Spec.Constraints[drover.LocalLabel] != "true" {
		t.Errorf("submitted spec %+v", j.Spec)
	}
	// The attempt and its phases are listed.
	tb.waitText("table.attempts", "running")

	// Plain files are zipped by the page; a script starting with #! is
	// executable.
	dir := t.TempDir()
	for name, body := range map[string]string{"run.sh": "#!/bin/sh\necho \"zipped: $(cat data.txt)\"\n", "data.txt": "two files"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tb.open("#/submit")
	tb.fill("#f-command", "./run.sh")
	tb.do("choose two files", chromedp.SetUploadFiles(chromedp.CSS("#f-files"),
		[]string{filepath.Join(dir, "run.sh"), filepath.Join(dir, "data.txt")}))
	tb.waitText(".file-list", "2 files")
	tb.click("form.submit-form button[type=submit]")
	tb.until("the second job's page", `(first) => location.hash.startsWith('#/jobs/job_') && location.hash !== first`, "#/jobs/"+id)
	tb.waitText(".term", "zipped: two files")
	tb.waitText(".page-head .badge", "COMPLETED")
}

// TestUICancel cancels a running job from its page, and sees the job that
// waited for its room say why, then run.
func TestUICancel(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1", "--cpu", "2", "--memory", "2G")
	tb := newTab(t, cl)
	j := submitJob(t, cl, drover.JobSpec{Command: shell("echo started; sleep 300"), Resources: drover.Resources{CPU: 2000}})
	cl.waitJob(j.ID, uiWait, "running", func(j *drover.Job) bool { return j.State == drover.JobRunning })
	next := submitJob(t, cl, drover.JobSpec{Command: shell("echo next ran"), Resources: drover.Resources{CPU: 1000}})

	tb.open("#/jobs/" + next.ID)
	tb.waitText(".banner.info", "Pending: ")
	tb.waitText(".banner.info", "CPU")

	tb.open("#/jobs/" + j.ID)
	tb.waitText(".term", "started")
	tb.waitText(".page-head .badge", "RUNNING")
	tb.waitText(".banner.note", "Not isolated")
	// By keyboard: the button goes, the keyboard stays on the job's title.
	tb.do("Enter on Cancel", chromedp.Focus(chromedp.CSS(".page-head button.danger")), chromedp.KeyEvent(kb.Enter))
	tb.waitText(".page-head .badge", "CANCELLED")
	tb.until("the Cancel button to go", `() => !document.querySelector('.page-head button.danger')`)
	tb.until("the keyboard on the job's title", `() => document.activeElement === document.querySelector('.page-head h1')`)
	tb.until("no banner that only repeats the state", `() => ![...document.querySelectorAll('.banner')].some(b => /^Cancelled/.test(b.textContent))`)
	if got := cl.waitJob(j.ID, 10*time.Second, "CANCELLED", func(j *drover.Job) bool { return j.State.Final() }); got.State != drover.JobCancelled {
		t.Errorf("job state %s, want CANCELLED", got.State)
	}

	tb.open("#/jobs/" + next.ID)
	tb.waitText(".term", "next ran")
	tb.waitText(".page-head .badge", "COMPLETED")
	tb.until("the pending note to go", `() => !document.querySelector('.banner.info')`)
}

// TestUIWorkers shows a worker with its gauges, and a job it runs, live.
func TestUIWorkers(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("ui-w1", "--cpu", "2", "--memory", "2G", "--labels", "zone=a")
	tb := newTab(t, cl)

	tb.open("#/workers")
	tb.waitText(".worker h2", "ui-w1")
	tb.waitText(".worker .badge", "READY")
	tb.waitText(".worker", "zone=a")
	tb.until("reserved and usage gauges", `() => document.querySelectorAll('.worker .gauge-track[role=meter]').length === 5`)
	tb.waitText(".worker .gauges", "0 of 2 cores")
	tb.until("a measured heartbeat", `() => /ago|just now/.test(document.querySelector('.worker time').textContent)`)

	// A job placed on it shows up in its card from the live stream.
	j := submitJob(t, cl, drover.JobSpec{Command: shell("sleep 300"), Resources: drover.Resources{CPU: 1000, MemoryMB: 256}})
	tb.until("the running job's link", `(id) => !!document.querySelector('.worker a[href="#/jobs/' + id + '"]')`, j.ID)
	tb.waitText(".worker .gauges", "1 of 2 cores")
	width := tb.eval(`document.querySelector('.worker .gauge-fill').style.width`)
	if width != "50%" {
		t.Errorf("CPU reserved bar width %q, want 50%%", width)
	}

	// Drain asks first, and Escape takes the question back.
	tb.click(`.worker button[data-focus="drain"]`)
	tb.until("the confirmation to take focus", `() => document.activeElement === document.querySelector('.worker button[data-focus="yes"]')`)
	tb.do("press Escape", chromedp.KeyEvent(kb.Escape))
	tb.until("Drain back, with the keyboard on it", `() => document.activeElement === document.querySelector('.worker button[data-focus="drain"]')`)
	// Drained while it runs a job, the worker keeps its card, and the
	// keyboard stays on it (its name) rather than falling to the page.
	tb.click(`.worker button[data-focus="drain"]`)
	tb.until("the confirmation to take focus", `() => document.activeElement === document.querySelector('.worker button[data-focus="yes"]')`)
	tb.click(`.worker button[data-focus="yes"]`)
	tb.waitText(".worker .badge", "DRAINING")
	tb.until("the keyboard on the worker's name", `() => document.activeElement === document.querySelector('.worker h2')`)
	// Its job done, the drained worker deregisters and its card goes.
	if _, err := cl.c.Cancel(ctxT(t, 10*time.Second), j.ID); err != nil {
		t.Fatal(err)
	}
	tb.until("the worker to leave", `() => !document.querySelector('.worker') && !document.querySelector('.empty').hidden`)
	tb.until("the keyboard on the page's title, and why", `() => document.activeElement === document.querySelector('.page-head h1') && document.querySelector('.page p[role=status]').textContent.includes('ui-w1 left')`)
}

// TestUIValidation shows the API's errors next to the fields they name.
func TestUIValidation(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1", "--cpu", "2", "--memory", "2G")
	tb := newTab(t, cl)
	tb.open("#/submit")

	// Checked in the browser: an empty command.
	tb.click("form.submit-form button[type=submit]")
	tb.waitText("#f-command-error", "Enter a command")
	tb.until("the command field marked and focused", `() => document.activeElement === document.querySelector('#f-command[aria-invalid=true]')`)

	// Checked by the API: no worker could ever hold 64 cores.
	tb.fill("#f-command", "echo hi")
	tb.fill("#f-cpu", "64")
	tb.click("form.submit-form button[type=submit]")
	tb.waitText("#f-resources-error", "no worker could ever run this job")
	tb.until("the CPU field marked", `() => document.querySelector('#f-cpu').getAttribute('aria-invalid') === 'true'`)
	if tb.eval(`document.querySelector('#f-command-error').textContent`) != "" ||
		tb.eval(`String(document.querySelector('#f-command').hasAttribute('aria-invalid'))`) != "false" {
		t.Error("the fixed command field is still marked invalid")
	}

	// Checked by the API, named by error.field: an invalid env name.
	tb.fill("#f-cpu", "1")
	tb.fill("#f-env", "1BAD=x")
	tb.click("form.submit-form button[type=submit]")
	tb.waitText("#f-env-error", "env name \"1BAD\" is invalid")
	if got := tb.eval(`document.querySelector('#f-resources-error').textContent`); got != "" {
		t.Errorf("resources error not cleared: %q", got)
	}
	if tb.eval(`location.hash`) != "#/submit" {
		t.Error("an invalid job left the form")
	}

	// A command of several lines runs as a script, line by line; Ctrl+Enter
	// in it submits.
	tb.eval(`document.querySelector("#f-env").value = ""`)
	tb.fill("#f-command", "echo line1\necho line2")
	tb.do("Ctrl+Enter in the command", chromedp.Focus(chromedp.CSS("#f-command")), chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	tb.until("the job's page", `() => location.hash.startsWith('#/jobs/job_')`)
	tb.waitText(".page-head .badge", "COMPLETED")
	// The output is drawn at the next animation frame, not with the state.
	tb.waitText(".term", "line2")
	if lines := tb.terminalLines(); !slices.Equal(lines, []string{"line1", "line2"}) {
		t.Errorf("output %q, want line1 and line2 on lines of their own", lines)
	}
}

// TestUIToken asks for the API token, says plainly when it is wrong, and
// shows the jobs, live, with the right one.
func TestUIToken(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{token: "t"})
	cl.worker("w1")
	first := submitJob(t, cl, drover.JobSpec{Name: "before-login", Command: shell("true")})
	tb := newTab(t, cl)

	tb.open("#/jobs")
	tb.waitText(".token-form", "needs an API token")
	tb.fill("#token", "wrong")
	tb.click(".token-form button[type=submit]")
	tb.waitText("#token-error", "That token is invalid")

	tb.fill("#token", "t")
	tb.click(".token-form button[type=submit]")
	tb.waitText("main h1", "Jobs")
	tb.until("the first job's row", `(id) => !!document.querySelector('tr[data-id="' + id + '"]')`, first.ID)
	tb.waitText(".live", "Live")

	// The event stream authenticates with ?access_token=: a new job appears.
	second := submitJob(t, cl, drover.JobSpec{Name: "after-login", Command: shell("echo hi")})
	tb.until("the new job's row", `(id) => !!document.querySelector('tr[data-id="' + id + '"]')`, second.ID)
	tb.until("the new job on top", `(id) => document.querySelector('tbody tr').dataset.id === id`, second.ID)
	tb.until("it to complete", `(id) => document.querySelector('tr[data-id="' + id + '"] .badge').textContent.includes('COMPLETED')`, second.ID)

	// The output follow stream and the download link carry the token too.
	tb.open("#/jobs/" + second.ID)
	tb.waitText(".term", "hi")
	if href := tb.eval(`document.querySelector('a[download]').getAttribute('href')`); !strings.Contains(href, "access_token=t") {
		t.Errorf("download link %q lacks the token", href)
	}
}

// TestUIOutputAcrossRestart follows a job's output while the coordinator
// restarts: the browser reconnects with Last-Event-ID and every line shows
// exactly once.
func TestUIOutputAcrossRestart(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1")
	tb := newTab(t, cl)
	release := filepath.Join(shared(t), "release")
	j := submitJob(t, cl, drover.JobSpec{Command: shell(fmt.Sprintf(
		"for i in $(seq 1 20); do echo line $i; done; while [ ! -e %s ]; do sleep 0.05; done; for i in $(seq 21 40); do echo line $i; done", release))})

	tb.open("#/jobs/" + j.ID)
	tb.waitText(".term", "line 20")
	cl.server.killProcessOnly()
	if err := writeFile(release); err != nil {
		t.Fatal(err)
	}
	cl.startServer(serverOpt{})
	tb.waitText(".page-head .badge", "COMPLETED")
	tb.waitText(".term", "line 40")
	lines := tb.terminalLines()
	if len(lines) != 40 {
		t.Fatalf("%d lines after the restart, want 40: %q", len(lines), lines)
	}
	for i, l := range lines {
		if l != fmt.Sprintf("line %d", i+1) {
			t.Fatalf("line %d is %q: %q", i+1, l, lines)
		}
	}
}

// TestUILargeOutput renders 100,000 lines without freezing the tab: the
// page keeps the last lines, says how many there are, and offers the rest.
func TestUILargeOutput(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1")
	tb := newTab(t, cl)
	j := submitJob(t, cl, drover.JobSpec{Command: shell("seq 1 100000")})

	// The observers are set before the job's page draws its first line:
	// another page first, then the job's by its route.
	tb.open("#/jobs")
	tb.waitText("main h1", "Jobs")
	// Record the longest task the page runs while the output streams in.
	// Record too the most lines added between two calls of a mutation
	// observer, which come after each task and each animation frame.
	tb.eval(`(() => { window.longest = 0; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.longest = Math.max(window.longest, e.duration); }).observe({ type: 'longtask' }); return ''; })()`)
	tb.eval(`(() => {
		window.mostLines = 0;
		new MutationObserver((records) => {
			const lines = new Set();
			for (const r of records) for (const el of r.addedNodes) {
				if (el.nodeType !== 1) continue;
				if (el.matches('.l')) lines.add(el);
				for (const l of el.querySelectorAll('.l')) lines.add(l);
			}
			window.mostLines = Math.max(window.mostLines, lines.size);
		}).observe(document.body, { childList: true, subtree: true });
		return '';
	})()`)
	tb.eval(`(() => { location.hash = '#/jobs/` + j.ID + `'; return ''; })()`)
	tb.waitText(".page-head .badge", "COMPLETED")
	tb.waitText(".term-note", "of 100,000 lines")
	tb.until("the last line", `() => { const ls = document.querySelectorAll('.term .l'); return ls.length > 0 && ls[ls.length - 1].textContent === '100000'; }`)
	var n int
	fmt.Sscan(tb.eval(`String(document.querySelectorAll('.term .l').length)`), &n)
	if n > 10200 {
		t.Errorf("%d lines in the page; the view keeps about 10,000", n)
	}
	// Responsiveness is kept by construction: a bounded number of lines,
	// drawn a frame at a time. The construction is asserted: no task or
	// frame adds more lines than one frame draws. How long the longest
	// task took is logged, not asserted: a test machine's load is not the
	// page's doing.
	assertFrameBudget(t, tb)
	t.Logf("longest task while rendering 100,000 lines: %sms", tb.eval(`String(Math.round(window.longest))`))

	// Scrolling up stops following; the Follow button brings it back to the end.
	tb.eval(`(() => { document.querySelector('.term').scrollTop = 0; return ''; })()`)
	tb.until("following to stop", `() => document.querySelector('button.toggle').getAttribute('aria-pressed') === 'false'`)
	tb.click("button.toggle")
	tb.until("following at the end", `() => { const s = document.querySelector('.term'); return document.querySelector('button.toggle').getAttribute('aria-pressed') === 'true' && s.scrollHeight - s.scrollTop - s.clientHeight < 4; }`)

	// "Show all" draws every line, a frame at a time.
	tb.click(".term-note button")
	// Drawing all of them takes a busy machine's browser a while.
	tb.untilWithin(2*time.Minute, "all the lines", `() => document.querySelectorAll('.term .l').length === 100000 && document.querySelector('.term .l').textContent === '1'`)
	assertFrameBudget(t, tb)
}

// frameLines is what the terminal draws in one animation frame at most
// (terminal.js FRAME_LINES). A frame may open one more line than it ends.
const frameLines = 1500

// assertFrameBudget fails the test when a task or a frame added more lines
// than a frame draws: the output was drawn in one long task.
func assertFrameBudget(t *testing.T, tb *tab) {
	t.Helper()
	var most int
	fmt.Sscan(tb.eval(`String(window.mostLines)`), &most)
	if most == 0 || most > frameLines+1 {
		t.Errorf("a task or frame added %d lines to the page; the terminal draws at most %d a frame", most, frameLines)
	}
}

// TestUIOutputCharactersCutBetweenChunks shows characters whose bytes
// arrive in two chunks whole, not as two replacement characters. head
// writes in blocks that do not end between characters.
func TestUIOutputCharactersCutBetweenChunks(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1")
	tb := newTab(t, cl)
	line := strings.Repeat("é", 50)
	out, _, code := cl.cli(ctxT(t, 30*time.Second), "submit", "--", "sh", "-c",
		`printf x; yes '`+line+`' | head -n 2000; echo end`)
	id := strings.TrimSpace(out)
	if code != 0 {
		t.Fatalf("submit: %d %q", code, out)
	}
	cl.waitJob(id, 30*time.Second, "COMPLETED", func(j *drover.Job) bool { return j.State == drover.JobCompleted })
	tb.open("#/jobs/" + id)
	tb.waitText(".term", "end")
	lines := tb.terminalLines()
	text := strings.Join(lines, "\n")
	if strings.ContainsRune(text, '\uFFFD') || strings.Count(text, "é") != 2000*50 || len(lines) != 2001 {
		t.Fatalf("terminal shows %d lines, %d é, %d replacement characters; want 2001 lines, %d é, none",
			len(lines), strings.Count(text, "é"), strings.Count(text, "\uFFFD"), 2000*50)
	}
}

// A line of hundreds of kilobytes is drawn up to a cap, with the count of
// what is not shown; the lines after it are drawn as usual.
func TestUIVeryLongLine(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1")
	tb := newTab(t, cl)
	out, _, code := cl.cli(ctxT(t, 30*time.Second), "submit", "--", "sh", "-c",
		`head -c 300000 /dev/zero | tr '\0' x; echo; echo end`)
	id := strings.TrimSpace(out)
	if code != 0 {
		t.Fatalf("submit: %d %q", code, out)
	}
	tb.open("#/jobs/" + id)
	tb.waitText(".term", "end")
	lines := tb.terminalLines()
	want := strings.Repeat("x", 64*1024) + " … 234,464 more characters of this line not shown (the download has them)"
	if len(lines) != 2 || lines[0] != want || lines[1] != "end" {
		first := ""
		if len(lines) > 0 {
			first = lines[0][max(0, len(lines[0])-100):]
		}
		t.Fatalf("terminal: %d lines, the first ending %q", len(lines), first)
	}
}

// TestUIAttemptSeparator styles the line where a retry's output begins as
// a rule across the terminal, not as a line of the job's output.
func TestUIAttemptSeparator(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1")
	tb := newTab(t, cl)
	j := submitJob(t, cl, drover.JobSpec{Command: shell("echo try; exit 1"), MaxRetries: 1})

	tb.open("#/jobs/" + j.ID)
	tb.waitText(".page-head .badge", "FAILED")
	tb.waitText(".term .l.mark", "attempt 2")
	if got := tb.eval(`(() => { const m = document.querySelector('.term .l.mark'); const cs = getComputedStyle(m), rule = getComputedStyle(m, '::before');
		return [cs.display, cs.paddingLeft, rule.borderTopStyle, cs.color === getComputedStyle(document.querySelector('.term')).color].join(' '); })()`); got != "flex 14px solid false" {
		t.Errorf("separator display, padding, rule and colour: %q, want a flex line padded like the output, with a rule, in its own colour", got)
	}
	if lines := tb.terminalLines(); !slices.Equal(lines, []string{"try", "try"}) {
		t.Errorf("output lines %q, want the two attempts' lines without the separator", lines)
	}
}

// TestUIWorkersJobNames names the jobs a worker runs, those it ran before
// the page opened and those it starts later, each linking to its job.
func TestUIWorkersJobNames(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1", "--cpu", "2", "--memory", "2G")
	tb := newTab(t, cl)
	named := submitJob(t, cl, drover.JobSpec{Name: "etl-nightly-" + strings.Repeat("x", 60), Command: shell("sleep 300")})
	cl.waitJob(named.ID, uiWait, "running", func(j *drover.Job) bool { return j.State == drover.JobRunning })

	tb.open("#/workers")
	link := `(id, title) => { const a = document.querySelector('.worker a[href="#/jobs/' + id + '"]'); return !!a && a.textContent === title && a.closest('li').textContent.includes(id); }`
	tb.until("the named job's link", link, named.ID, named.Spec.Name)
	unnamed := submitJob(t, cl, drover.JobSpec{Command: shell("sleep 301")})
	tb.until("the unnamed job's link, by its command", link, unnamed.ID, "sleep 301")
	// On a phone a long name is cut, not widening the page.
	tb.viewport(390, 844)
	tb.fitsWidth()
	for _, id := range []string{named.ID, unnamed.ID} {
		if _, err := cl.c.Cancel(ctxT(t, 10*time.Second), id); err != nil {
			t.Fatal(err)
		}
	}
	tb.waitText(".worker-jobs", "Running no jobs")
}

// TestUIJobsOnAPhone keeps the jobs list within a phone's width: each row
// says the job's state, name, age and exit; a laptop and a desktop keep
// every column.
func TestUIJobsOnAPhone(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("a-worker-with-a-long-host-name.example.internal")
	tb := newTab(t, cl)
	var last *drover.Job
	for _, spec := range []drover.JobSpec{
		{Name: "nightly-report-for-the-finance-team-with-every-region-and-every-currency", Command: shell("exit 3")},
		{Command: shell("echo a command long enough to be cut on a phone && true")},
	} {
		last = submitJob(t, cl, spec)
		cl.waitJob(last.ID, uiWait, "final", func(j *drover.Job) bool { return j.State.Final() })
	}

	tb.viewport(390, 844)
	tb.open("#/jobs")
	tb.until("both rows", `() => document.querySelectorAll('tbody tr .badge').length === 2`)
	tb.fitsWidth()
	tb.until("the list to fit without scrolling sideways", `() => { const w = document.querySelector('.table-wrap'); return w.scrollWidth <= w.clientWidth; }`)
	// What a row shows: the state, the job (cut to fit), when it was made and its exit.
	visible := `(sel) => [...document.querySelectorAll(sel)].filter((el) => el.getClientRects().length > 0).map((el) => el.textContent.trim())`
	tb.until("the row's state, name, age and exit", `(id) => { const tr = document.querySelector('tr[data-id="' + id + '"]'); const shown = (el) => !!el && el.getClientRects().length > 0;
		return shown(tr.querySelector('.badge')) && shown(tr.querySelector('a.job-name')) && shown(tr.querySelector('.job-meta time')) && /ago|just now/.test(tr.querySelector('.job-meta').textContent) && shown(tr.querySelector('td.num .ok')); }`, last.ID)
	if got := tb.eval(`JSON.stringify((` + visible + `)('thead th'))`); got != `["State","Job","Exit"]` {
		t.Errorf("columns on a phone: %s", got)
	}

	// A small laptop has every column, the job's name cut to fit; a desktop too.
	for _, size := range [][2]int64{{1024, 768}, {1440, 900}} {
		tb.viewport(size[0], size[1])
		tb.until("every column", `() => (`+visible+`)('thead th').join() === 'State,Job,Worker,Requests,Created,Duration,Exit'`)
		tb.until("the list to fit", `() => { const w = document.querySelector('.table-wrap'); return w.scrollWidth <= w.clientWidth; }`)
		tb.until("no phone line", `() => [...document.querySelectorAll('.job-meta')].every((el) => el.getClientRects().length === 0)`)
	}
}

// TestUIAttemptsFit lists a job's attempts within a laptop's width (1366
// px), for a job with a bundle, retried on a worker with a host's long name.
func TestUIAttemptsFit(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("ip-10-0-12-34.eu-west-1.compute.internal")
	tb := newTab(t, cl)
	f, err := os.Open(writeZip(t, map[string]string{"run.sh": "echo from the bundle; exit 3\n"}))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	b, err := cl.c.UploadBundle(ctxT(t, 20*time.Second), f, st.Size(), nil)
	if err != nil {
		t.Fatal(err)
	}
	j := submitJob(t, cl, drover.JobSpec{Name: "bundle-retried", Bundle: b.SHA256, Command: shell("sh run.sh"), MaxRetries: 1})

	tb.viewport(1366, 900)
	tb.open("#/jobs/" + j.ID)
	tb.waitText(".page-head .badge", "FAILED")
	tb.until("both attempts, with their phases", `() => { const rows = document.querySelectorAll('table.attempts tbody tr'); return rows.length === 2 && [...rows].every((r) => r.textContent.includes('bundle fetch') && r.textContent.includes('exited with code 3')); }`)
	tb.until("the attempts to fit without scrolling sideways", `() => { const w = document.querySelector('table.attempts').closest('.table-wrap'); return w.scrollWidth <= w.clientWidth; }`)
	tb.fitsWidth()
}

// TestUIOutputPastTheCap shows a job that wrote more than the output cap:
// the page says, next to the output, that its middle was dropped, and
// draws the coordinator's marker as a line of its own between the first
// and the last lines.
func TestUIOutputPastTheCap(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{args: []string{"--output-cap", "1M"}})
	cl.worker("w1")
	tb := newTab(t, cl)
	// 10,000 lines of about 200 bytes: 1.9 MiB, of which about the first and
	// last 512 KiB are kept.
	j := submitJob(t, cl, drover.JobSpec{Command: shell("seq 1 10000 | sed 's/$/ " + strings.Repeat("x", 190) + "/'")})
	j = cl.waitJob(j.ID, uiWait, "COMPLETED", func(j *drover.Job) bool { return j.State == drover.JobCompleted })
	// drover status says so too.
	if out, _, _ := cl.cli(t.Context(), "status", j.ID); !strings.Contains(out, fmt.Sprintf("%d bytes (%d of them dropped by the coordinator's output cap", j.OutputBytes, j.OutputDropped)) || j.OutputDropped == 0 {
		t.Errorf("status of a job past the cap (outputDropped %d):\n%s", j.OutputDropped, out)
	}

	tb.open("#/jobs/" + j.ID)
	tb.waitText(".page-head .badge", "COMPLETED")
	tb.waitText(".output .banner.warn", "The middle of this output was dropped")
	tb.waitText(".output .banner.warn", "wrote 1.9 MiB")
	tb.waitText(".term .l.mark.dropped", "of output dropped here")
	tb.waitText("#details-title + div", "of the middle dropped")
	tb.until("the last line", `() => { const ls = document.querySelectorAll('.term .l'); return ls.length > 0 && ls[ls.length - 1].textContent.startsWith('10000 '); }`)
	lines := tb.terminalLines()
	if len(lines) < 100 || len(lines) > 9000 || !strings.HasPrefix(lines[0], "1 x") {
		t.Fatalf("%d lines, the first %.10q; want the first and last parts, not all 10,000", len(lines), lines[:1])
	}
	for _, l := range lines {
		if strings.Contains(l, "[drover:") || l == "" {
			t.Fatalf("the marker drawn as output (or an empty line): %q", l)
		}
	}

	// A job that prints drover's words itself (here, as a job piping
	// another's logs would) is not taken for a capped one: the marker is a
	// flag of the output event, not its text.
	fake := submitJob(t, cl, drover.JobSpec{Command: shell(`printf '\n[drover: 123 bytes of output dropped here; fake]\n' >&2; echo done`)})
	cl.waitJob(fake.ID, uiWait, "COMPLETED", func(j *drover.Job) bool { return j.State == drover.JobCompleted })
	tb.open("#/jobs/" + fake.ID)
	tb.waitText(".page-head .badge", "COMPLETED")
	tb.until("its output", `() => [...document.querySelectorAll('.term .l')].some((l) => l.textContent === 'done')`)
	tb.until("the job's line shown as its stderr", `() => [...document.querySelectorAll('.term .l')].some((l) => l.textContent.includes('[drover: 123 bytes'))`)
	if n := tb.eval(`String(document.querySelectorAll('.output .banner.warn, .term .l.mark.dropped').length)`); n != "0" {
		t.Errorf("a job's own line taken for drover's marker: %s notes or rules", n)
	}
	if d := tb.eval(`document.querySelector('#details-title + div').textContent`); strings.Contains(d, "dropped") {
		t.Errorf("details say output was dropped for a job that lost none: %q", d)
	}
}
