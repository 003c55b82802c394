package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/drover-dev/drover"
)

// hostile is text that would drive a terminal: a title change, a screen
// clear, a bidi override, a C1 CSI, a newline that fakes a line of output
// and a byte that is not UTF-8.
const hostile = "evil\x1b]0;owned\x07\x1b[2J\u202egnp.exe\u009b31m\nFAKE ROW\r\xff"

// hostileCoordinator answers every call with that text wherever a string
// goes: a coordinator that holds such bytes (stored before it refused
// them, or from a worker's report) or one that is not what it seems.
func hostileCoordinator(t *testing.T) string {
	now := time.Now()
	exit := 3
	job := drover.Job{ID: "job_1" + hostile, State: drover.JobQueued, Reason: drover.Reason(hostile), Message: hostile,
		PendingReason: hostile, WorkerID: "wrk_1", WorkerName: hostile, CreatedAt: now, ExitCode: &exit,
		Spec: drover.JobSpec{Name: hostile, Command: drover.Command{"sh", "-c", hostile}, Image: hostile, Executor: hostile},
		Attempts: []drover.Attempt{{ID: "att_1", N: 1, WorkerID: "wrk_gone", WorkerName: hostile, State: drover.AttemptState(hostile),
			Reason: drover.Reason(hostile), Message: hostile}}}
	worker := drover.Worker{ID: "wrk_1" + hostile, Name: hostile, Labels: map[string]string{hostile: hostile},
		Executors: []string{hostile}, State: drover.WorkerState(hostile), LastHeartbeatAt: now}
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /api/v1/workers", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, drover.WorkerList{Workers: []drover.Worker{worker}})
	})
	mux.HandleFunc("GET /api/v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, drover.JobPage{Jobs: []drover.Job{job}, NextCursor: hostile})
	})
	mux.HandleFunc("POST /api/v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 201, job)
	})
	mux.HandleFunc("POST /api/v1/jobs/cancel", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 409, drover.ErrorBody{Error: drover.Error{Code: drover.ECONFLICT, Message: hostile}})
	})
	mux.HandleFunc("GET /api/v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, job)
	})
	mux.HandleFunc("GET /api/v1/jobs/{id}/output", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		state, _ := json.Marshal(drover.StateEvent{State: drover.JobQueued, PendingReason: hostile, Message: hostile})
		end, _ := json.Marshal(drover.EndEvent{State: drover.JobFailed, Reason: drover.Reason(hostile), Message: hostile})
		fmt.Fprintf(w, "event: state\ndata: %s\n\nevent: end\ndata: %s\n\n", state, end)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestHumanOutputEscapesWhatCouldDriveATerminal runs the commands that
// print a coordinator's text against a hostile one. Their output carries
// none of its unsafe bytes, only their escapes; --json keeps the values
// exactly.
func TestHumanOutputEscapesWhatCouldDriveATerminal(t *testing.T) {
	url := hostileCoordinator(t)
	for _, args := range [][]string{
		{"workers"},
		{"jobs"},
		{"status", "job_1"},
		{"cancel", "job_1"},
		{"submit", "--", "true"},
		{"run", "-v", "--", "true"},
		{"run", "--", "true"},
		{"run", "-d", "--", "true"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			Main(ctx, append([]string{args[0], "--server", url}, args[1:]...), &stdout, &stderr)
			out := stdout.String() + stderr.String()
			// The byte that is not UTF-8 came as U+FFFD: JSON carries only
			// valid UTF-8.
			if !strings.Contains(out, `\x1b]0;owned\a\x1b[2J\u202egnp.exe\u009b31m\nFAKE ROW\r`+"\uFFFD") {
				t.Errorf("the hostile text is not shown escaped:\n%s", out)
			}
			for i, r := range out {
				if r == utf8.RuneError && !strings.HasPrefix(out[i:], "\uFFFD") || r != '\n' && drover.UnsafeRune(r) {
					t.Fatalf("raw %U at byte %d of the output:\n%q", r, i, out)
				}
			}
		})
	}
	t.Run("workers --json", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := Main(context.Background(), []string{"workers", "--server", url, "--json"}, &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		var list drover.WorkerList
		if err := json.Unmarshal(stdout.Bytes(), &list); err != nil {
			t.Fatal(err)
		}
		// JSON carries only valid UTF-8: the byte that was not is U+FFFD.
		want := strings.ToValidUTF8(hostile, "\uFFFD")
		if len(list.Workers) != 1 || list.Workers[0].Name != want || list.Workers[0].Labels[want] != want {
			t.Errorf("--json changed the values: %+v", list.Workers)
		}
	})
}
