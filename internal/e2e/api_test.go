package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
)

// TestBadInputs checks that each bad request gets the right status and a
// message that says what to change.
func TestBadInputs(t *testing.T) {
	t.Parallel()
	const token = "s3cret"
	cl := newCluster(t, serverOpt{token: token})
	cl.worker("w1", "--cpu", "2", "--memory", "4G")
	ctx := ctxT(t, time.Minute)

	type tc struct {
		name, method, path, body, token string
		status                          int
		msg                             string
	}
	big := `{"command":["echo"],"name":"` + strings.Repeat("x", 2<<20) + `"}`
	cases := []tc{
		{"malformed JSON", "POST", "/api/v1/jobs", `{"command": [`, token, 400, "not valid JSON"},
		{"wrong type", "POST", "/api/v1/jobs", `{"command":["x"],"resources":{"cpu":"lots"}}`, token, 400, "resources.cpu"},
		{"unknown field", "POST", "/api/v1/jobs", `{"command":["x"],"memroy":5}`, token, 400, "memroy"},
		{"fractional priority", "POST", "/api/v1/jobs", `{"command":["x"],"priority":1.5}`, token, 400, `field "priority" must be a whole number within range, not a JSON number 1.5`},
		{"empty command", "POST", "/api/v1/jobs", `{"command":[]}`, token, 422, "command is empty"},
		{"negative cpu", "POST", "/api/v1/jobs", `{"command":["x"],"resources":{"cpu":-5}}`, token, 422, "resources.cpu"},
		{"negative memory", "POST", "/api/v1/jobs", `{"command":["x"],"resources":{"memoryMB":-1}}`, token, 422, "resources.memoryMB"},
		{"impossible cpu", "POST", "/api/v1/jobs", `{"command":["x"],"resources":{"cpu":64000}}`, token, 422, "w1"},
		{"impossible memory", "POST", "/api/v1/jobs", `{"command":["x"],"resources":{"memoryMB":1000000}}`, token, 422, "largest worker"},
		{"bad timeout", "POST", "/api/v1/jobs", `{"command":["x"],"timeout":"soon"}`, token, 400, "duration"},
		{"bad retryOn", "POST", "/api/v1/jobs", `{"command":["x"],"retryOn":["worker_lost"]}`, token, 422, "retryOn"},
		{"oversized body", "POST", "/api/v1/jobs", big, token, 413, "limit"},
		{"unknown job", "GET", "/api/v1/jobs/job_nope", "", token, 404, "job_nope"},
		{"unknown job cancel", "POST", "/api/v1/jobs/job_nope/cancel", "", token, 404, "job_nope"},
		{"unknown worker", "GET", "/api/v1/workers/wrk_nope", "", token, 404, "wrk_nope"},
		{"bad state filter", "GET", "/api/v1/jobs?state=DONE", "", token, 422, "QUEUED"},
		{"missing token", "GET", "/api/v1/jobs", "", "", 401, "DROVER_TOKEN"},
		{"wrong token", "GET", "/api/v1/jobs", "", "nope", 401, "wrong"},
		{"register without the join token", "POST", "/api/v1/workers", `{"name":"x"}`, "", 401, "needs a join token"},
		{"register with the API token", "POST", "/api/v1/workers", `{"name":"x"}`, token, 401, "join token is wrong"},
		{"register without a capacity", "POST", "/api/v1/workers", `{"name":"x"}`, "join-" + token, 422, "capacity"},
		{"worker call with an API token", "POST", "/api/v1/workers/wrk_x/heartbeat", `{}`, token, 401, "not an API token"},
		{"unknown route", "GET", "/api/v1/nope", "", token, 404, "no API route"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, c.method, cl.url+c.path, strings.NewReader(c.body))
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var eb drover.ErrorBody
			if err := json.Unmarshal(b, &eb); err != nil {
				t.Fatalf("body is not a JSON error: %s", b)
			}
			if resp.StatusCode != c.status || !strings.Contains(eb.Error.Message, c.msg) || eb.Error.Code == "" {
				t.Fatalf("got %d %s %q, want %d and a message with %q", resp.StatusCode, eb.Error.Code, eb.Error.Message, c.status, c.msg)
			}
		})
	}

	// The CLI says it too: run exits 125 for bad flags (a job may exit 2
	// itself), submit 2.
	_, errOut, code := cl.cli(ctx, "run", "--cpu", "lots", "--", "true")
	if code != 125 || !strings.Contains(errOut, "--cpu") {
		t.Errorf("run with a bad --cpu: code %d, stderr %q", code, errOut)
	}
	// A spec the API would refuse names the flag, not only the API's field.
	_, errOut, code = cl.cli(ctx, "submit", "--retries", "101", "--", "true")
	if code != 2 || !strings.Contains(errOut, "(--retries)") {
		t.Errorf("submit with --retries 101: code %d, stderr %q", code, errOut)
	}
	_, errOut, code = cl.cli(ctx, "submit", "--cpu", "lots", "--", "true")
	if code != 2 || !strings.Contains(errOut, "--cpu") {
		t.Errorf("submit with a bad --cpu: code %d, stderr %q", code, errOut)
	}
	// Listing commands refuse what they would otherwise ignore.
	for _, args := range [][]string{{"jobs", "--limit", "-1"}, {"jobs", "extra"}, {"workers", "extra"}, {"jobs", "--state", "bogus"}, {"jobs", "--state", "queued,bogus"}, {"jobs", "--cursor", "bogus"}, {"bench", "--jobs", "-5"}, {"bench", "--output-lines", "-1"}, {"bench", "--workers", "0"}} {
		if _, errOut, code := cl.cli(ctx, args...); code != 2 || errOut == "" {
			t.Errorf("%q: code %d, stderr %q; want 2 and why", args, code, errOut)
		}
	}
	// A bundle that is not there is said to be missing, not the coordinator.
	_, errOut, code = cl.cli(ctx, "run", "--bundle", "/drover/no/such/folder", "--", "true")
	if code != 125 || !strings.Contains(errOut, "--bundle") || strings.Contains(errOut, "cannot reach") {
		t.Errorf("run with a missing bundle: code %d, stderr %q", code, errOut)
	}
	_, errOut, code = cl.cli(ctx, "run", "--cpu", "64", "--", "true")
	if code != 125 || !strings.Contains(errOut, "largest worker") {
		t.Errorf("impossible --cpu: code %d, stderr %q", code, errOut)
	}
	_, errOut, code = cl.cli(ctx, "status", "job_nope")
	if code != 1 || !strings.Contains(errOut, "job_nope") {
		t.Errorf("status of unknown job: code %d, stderr %q", code, errOut)
	}
	cmd := []string{"jobs"}
	_, errOut, code = cl.cliEnv(ctx, []string{"DROVER_SERVER=" + cl.url}, cmd...)
	if code != 1 || !strings.Contains(errOut, "DROVER_TOKEN") {
		t.Errorf("jobs without token: code %d, stderr %q", code, errOut)
	}
	// Nothing accepted was lost: a good job still runs.
	out, _, code := cl.cli(ctx, "run", "--", "echo", "fine")
	if code != 0 || out != "fine\n" {
		t.Errorf("good job after bad ones: code %d out %q", code, out)
	}
}

func (cl *cluster) cliEnv(ctx context.Context, env []string, args ...string) (string, string, int) {
	saved := cl.env
	cl.env = env
	defer func() { cl.env = saved }()
	return cl.cli(ctx, args...)
}

// TestLateFinishFromLostAttemptIsRefused plays a worker over the real
// protocol: it takes an assignment, falls silent until the coordinator
// marks it DOWN, then reports the attempt; the report is refused with 409
// and the job has moved on.
func TestLateFinishFromLostAttemptIsRefused(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{fastReap: true})
	ctx := ctxT(t, time.Minute)
	reg, err := cl.c.Register(ctx, drover.RegisterRequest{Name: "silent", Executors: []string{"process"},
		Capacity: drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 1}})
	if err != nil {
		t.Fatal(err)
	}
	wc := cl.c.WithToken(reg.Secret)
	job, err := cl.c.Submit(ctx, drover.JobSpec{Command: drover.Command{"true"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	work, err := wc.Work(ctx, reg.Worker.ID, 10*time.Second, false)
	if err != nil || len(work.Assignments) != 1 || work.Assignments[0].JobID != job.ID {
		t.Fatalf("work: %+v, %v", work, err)
	}
	att := work.Assignments[0].AttemptID
	if err := wc.Start(ctx, att, drover.StartRequest{}); err != nil {
		t.Fatal(err)
	}
	// No heartbeats: after the timeout the attempt is lost and the job requeued.
	j := cl.waitJob(job.ID, 10*time.Second, "requeued", func(j *drover.Job) bool {
		return j.State == drover.JobQueued && len(j.Attempts) == 1 && j.Attempts[0].Reason == drover.ReasonWorkerLost
	})
	zero := 0
	err = wc.Finish(ctx, att, drover.FinishRequest{ExitCode: &zero})
	if drover.ErrorCode(err) != drover.ECONFLICT || !strings.Contains(drover.ErrorMessage(err), "no longer current") {
		t.Fatalf("late finish: %v, want a conflict", err)
	}
	err = wc.SendOutput(ctx, att, []drover.OutputChunk{{Seq: 1, Stream: drover.Stdout, Data: []byte("late")}})
	if drover.ErrorCode(err) != drover.ECONFLICT {
		t.Fatalf("late output: %v, want a conflict", err)
	}
	// The refused reports left no trace: the lost attempt has no exit code,
	// the job has no output, and it waits for a worker. No worker can take
	// it before the heartbeat below brings this one back.
	after, err := cl.c.Job(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a := after.Attempts; after.State != drover.JobQueued || after.ExitCode != nil || len(a) != 1 ||
		a[0].ExitCode != nil || a[0].Reason != drover.ReasonWorkerLost || a[0].State != j.Attempts[0].State {
		t.Fatalf("after the refused finish: %+v, want it queued as before: %+v", after, j)
	}
	var out bytes.Buffer
	if err := cl.c.Output(ctx, job.ID, "", &out); err != nil || out.Len() != 0 {
		t.Fatalf("output after the refused post: %q (%v), want none", out.String(), err)
	}
	// Coming back, the worker is told to stop what it still runs.
	hb, err := wc.Heartbeat(ctx, reg.Worker.ID, drover.HeartbeatRequest{Running: []string{att}})
	if err != nil || len(hb.Stop) != 1 || hb.Stop[0] != att {
		t.Fatalf("heartbeat after coming back: %+v, %v", hb, err)
	}
}

// TestIdempotentSubmitAndFollow checks that a retried submission returns
// the same job and that a follower opened before the job starts gets all
// of its output and its end.
func TestIdempotentSubmitAndFollow(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	ctx := ctxT(t, time.Minute)
	spec := drover.JobSpec{Command: drover.Command{"sh", "-c", "echo one; echo two >&2; exit 4"}}
	j1, err := cl.c.Submit(ctx, spec, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	j2, err := cl.c.Submit(ctx, spec, "key-1")
	if err != nil || j2.ID != j1.ID {
		t.Fatalf("retried submit: %v, %v", j2, err)
	}
	other := spec
	other.Name = "another"
	if _, err := cl.c.Submit(ctx, other, "key-1"); drover.ErrorCode(err) != drover.ECONFLICT || !strings.Contains(drover.ErrorMessage(err), "new key") {
		t.Fatalf("same key, another spec: %v, want a conflict", err)
	}
	var stdout, stderr bytes.Buffer
	done := make(chan *drover.EndEvent, 1)
	go func() {
		end, err := cl.c.Follow(ctx, j1.ID, "", 0, client.FollowHandler{Output: func(o drover.OutputEvent) {
			if o.Stream == drover.Stderr {
				stderr.WriteString(o.Data)
			} else {
				stdout.WriteString(o.Data)
			}
		}})
		if err != nil {
			t.Error(err)
		}
		done <- end
	}()
	cl.worker("w1") // the job starts only now
	select {
	case end := <-done:
		if end == nil || end.State != drover.JobFailed || end.ExitCode == nil || *end.ExitCode != 4 || end.Reason != drover.ReasonExitCode {
			t.Fatalf("end: %+v", end)
		}
	case <-ctx.Done():
		t.Fatal("follower did not end")
	}
	if stdout.String() != "one\n" || stderr.String() != "two\n" {
		t.Fatalf("followed stdout %q stderr %q", stdout.String(), stderr.String())
	}
	// A follower of a finished job gets everything and the end at once.
	end, err := cl.c.Follow(ctx, j1.ID, drover.Stdout, 0, client.FollowHandler{})
	if err != nil || end.State != drover.JobFailed {
		t.Fatalf("follow finished job: %+v %v", end, err)
	}
}

// TestRetriesAndDrain covers the job's own retry budget with backoff, and a
// worker drained by SIGTERM finishing its job before leaving.
func TestRetriesAndDrain(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	w, wid := cl.worker("w1")
	ctx := ctxT(t, time.Minute)
	out, errOut, code := cl.cli(ctx, "run", "--retries", "2", "--", "sh", "-c", "echo try; exit 7")
	if code != 7 || out != "try\ntry\ntry\n" {
		t.Fatalf("retries: code %d, out %q, err %q", code, out, errOut)
	}
	page, _ := cl.c.Jobs(ctx, drover.JobFilter{Limit: 1})
	j, _ := cl.c.Job(ctx, page.Jobs[0].ID)
	if len(j.Attempts) != 3 || j.JobRetries != 2 || j.State != drover.JobFailed {
		t.Fatalf("job after retries: state %s, attempts %d, retries %d", j.State, len(j.Attempts), j.JobRetries)
	}
	if gap := j.Attempts[1].AssignedAt.Sub(*j.Attempts[0].FinishedAt); gap < 900*time.Millisecond {
		t.Errorf("first retry came after %s; the backoff is 1s", gap)
	}

	release := shared(t) + "/release"
	out, _, _ = cl.cli(ctx, "submit", "--", "sh", "-c", "while [ ! -e "+release+" ]; do sleep 0.05; done; echo drained-ok")
	id := strings.TrimSpace(out)
	cl.waitJob(id, 10*time.Second, "RUNNING", func(j *drover.Job) bool { return j.State == drover.JobRunning })
	w.signal(15)
	w.waitLine(`draining`, 10*time.Second)
	ws, _ := cl.c.Worker(ctx, wid)
	cl.waitJob(id, 5*time.Second, "worker draining", func(*drover.Job) bool {
		ws, _ = cl.c.Worker(ctx, wid)
		return ws != nil && ws.State == drover.WorkerDraining
	})
	if err := writeFile(release); err != nil {
		t.Fatal(err)
	}
	w.wait(20 * time.Second)
	j = cl.waitJob(id, 5*time.Second, "COMPLETED", func(j *drover.Job) bool { return j.State == drover.JobCompleted })
	if _, err := cl.c.Worker(ctx, wid); drover.ErrorCode(err) != drover.ENOTFOUND {
		t.Errorf("drained worker still registered: %v", err)
	}
	// Gone, the worker is still named in its attempts.
	if len(j.Attempts) != 1 || j.Attempts[0].WorkerName != "w1" {
		t.Errorf("attempts %+v: want the worker's name kept", j.Attempts)
	}
	if out, _, _ := cl.cli(ctx, "status", id); !regexp.MustCompile(`(?m)^  1 +w1 +COMPLETED`).MatchString(out) {
		t.Errorf("status after the worker left does not name it:\n%s", out)
	}
	if out, _, _ := cl.cli(ctx, "jobs", "--limit", "1"); !regexp.MustCompile(`(?m)^` + id + ` +COMPLETED +0 +w1 `).MatchString(out) {
		t.Errorf("jobs after the worker left does not name it:\n%s", out)
	}
}

// TestBadEnvironment: a variable its command cannot use stops it with exit
// code 2 and a message naming the variable and what to change, before
// anything starts; the bench ignores those it sets itself.
func TestBadEnvironment(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t, time.Minute)
	data := t.TempDir()
	cases := []struct {
		env  string
		args []string
		want []string
	}{
		{"DROVER_RETENTION=soon", []string{"server", "--data", data}, []string{"DROVER_RETENTION", "or give --retention"}},
		{"DROVER_OUTPUT_CAP=lots", []string{"server", "--data", data}, []string{"DROVER_OUTPUT_CAP", "512M"}},
		{"DROVER_GRACE=abc", []string{"worker", "--server", "http://127.0.0.1:1"}, []string{"DROVER_GRACE", "--grace"}},
		{"DROVER_WORKSPACE_LIMIT=lots", []string{"worker", "--server", "http://127.0.0.1:1"}, []string{"DROVER_WORKSPACE_LIMIT", "--workspace-limit", "10G", "0 for none"}},
		{"DROVER_SERVER=127.0.0.1:1", []string{"worker"}, []string{"is not a coordinator URL", "like http://127.0.0.1:1"}},
		{"DROVER_RETENTION=soon", []string{"bench", "--jobs", "1"}, []string{"DROVER_RETENTION", "bench's coordinator reads"}},
		{"DROVER_OUTPUT_CAP=lots", []string{"bench", "--jobs", "1"}, []string{"the bench's coordinator", "DROVER_OUTPUT_CAP"}},
	}
	for _, c := range cases {
		cmd := exec.CommandContext(ctx, bin, c.args...)
		cmd.Env = append(cleanEnv(), c.env)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%s drover %v: %v, stderr %q; want exit code 2", c.env, c.args, err, errb.String())
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("%s drover %v: stderr %q does not say %q", c.env, c.args, errb.String(), w)
			}
		}
		if c.args[0] == "bench" && strings.Contains(errb.String(), "--retention") {
			t.Errorf("%s drover bench names a flag the bench does not have: %q", c.env, errb.String())
		}
	}
	// A client given a host and port without http:// is told so, not that
	// the coordinator is unreachable.
	cmd := exec.CommandContext(ctx, bin, "jobs")
	cmd.Env = append(cleanEnv(), "DROVER_SERVER=127.0.0.1:1")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "like http://127.0.0.1:1") || strings.Contains(string(out), "cannot reach") {
		t.Errorf("jobs with DROVER_SERVER=127.0.0.1:1: %v\n%s", err, out)
	}
	// A variable the bench sets for its own coordinator is not read.
	cmd = exec.CommandContext(ctx, bin, "bench", "--jobs", "5", "--latency-jobs", "1", "--output-lines", "1", "--cancels", "1", "--workers", "1", "--slots", "2",
		"--run-as", uidRange(t))
	cmd.Env = append(cleanEnv(), "DROVER_HEARTBEAT_INTERVAL=abc", "DROVER_LISTEN=bogus")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("bench with variables it sets itself: %v\n%s", err, out)
	}
}
