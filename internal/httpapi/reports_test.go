package httpapi_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
)

func TestAPIReportsAppliesEachOnItsOwn(t *testing.T) {
	s := newAPIServer(t, serverOpt{tokens: true})
	w := s.register(t, "w1", 4000)
	a := s.submit(t, echoSpec())
	b := s.submit(t, echoSpec())
	ctx := ctxT(t)
	got := map[string]bool{}
	for len(got) < 2 {
		r, err := w.c.Work(ctx, w.id, 5*time.Second, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, as := range r.Assignments {
			got[as.AttemptID] = true
		}
	}
	var ids []string
	for id := range got {
		ids = append(ids, id)
	}

	// One request: a start, a finish with its start, an unknown attempt.
	errs, err := w.c.Report(ctx, w.id, []drover.AttemptReport{
		{AttemptID: ids[0], Start: &drover.StartRequest{}},
		{AttemptID: ids[1], Finish: &drover.FinishRequest{ExitCode: exitCode(0), Started: true}},
		{AttemptID: "att_nope", Finish: &drover.FinishRequest{ExitCode: exitCode(0)}},
	})
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("stored reports answered %v, %v", errs[0], errs[1])
	}
	if !drover.IsCode(errs[2], drover.ENOTFOUND) {
		t.Fatalf("unknown attempt answered %v, want not_found", errs[2])
	}
	states := map[drover.JobState]int{}
	for _, id := range []string{a.ID, b.ID} {
		j, err := s.api.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		states[j.State]++
	}
	if states[drover.JobRunning] != 1 || states[drover.JobCompleted] != 1 {
		t.Fatalf("job states %v, want one RUNNING and one COMPLETED", states)
	}

	// ids[0] runs, ids[1] ended: ending both again ends the first and
	// refuses the second with 409.
	if at, err := s.st.GetAttempt(ctx, ids[0]); err != nil || at.State != drover.AttemptRunning {
		t.Fatalf("attempt %s: %v, %v; want RUNNING", ids[0], at, err)
	}
	errs, err = w.c.Report(ctx, w.id, []drover.AttemptReport{
		{AttemptID: ids[0], Finish: &drover.FinishRequest{ExitCode: exitCode(3)}},
		{AttemptID: ids[1], Finish: &drover.FinishRequest{ExitCode: exitCode(0)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || !drover.IsCode(errs[1], drover.ECONFLICT) {
		t.Fatalf("second report answered %v, %v; want nil and conflict", errs[0], errs[1])
	}

	// Another worker's attempt is refused item by item.
	s.submit(t, echoSpec())
	as := w.assignment(t)
	other := s.register(t, "w2", 1000)
	errs, err = other.c.Report(ctx, other.id, []drover.AttemptReport{{AttemptID: as.AttemptID, Start: &drover.StartRequest{}}})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] == nil {
		t.Fatalf("a report for another worker's attempt was stored")
	}
}

func TestAPIReportsBadRequests(t *testing.T) {
	s := newAPIServer(t, serverOpt{tokens: true})
	w := s.register(t, "w1", 4000)
	path := "/api/v1/workers/" + w.id + "/reports"
	wantError(t, s.call(t, "POST", path, w.secret, `{"reports":[{"attemptId":"att_1"}]}`), http.StatusUnprocessableEntity, drover.EINVALID, "reports[0]", "exactly one of start and finish")
	wantError(t, s.call(t, "POST", path, w.secret, `{"reports":[{"attemptId":"att_1","start":{},"finish":{"exitCode":0}}]}`), http.StatusUnprocessableEntity, drover.EINVALID, "exactly one")
	wantError(t, s.call(t, "POST", path, w.secret, `{"reports":[{"start":{}}]}`), http.StatusUnprocessableEntity, drover.EINVALID, "attemptId is missing")
	many := make([]string, drover.MaxReports+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"attemptId":"att_%d","start":{}}`, i)
	}
	wantError(t, s.call(t, "POST", path, w.secret, `{"reports":[`+strings.Join(many, ",")+`]}`), http.StatusRequestEntityTooLarge, drover.ETOOLARGE, "at most 256")
	wantError(t, s.call(t, "POST", path, "", `{"reports":[]}`), http.StatusUnauthorized, drover.EUNAUTHORIZED)
	other := s.register(t, "w2", 1000)
	wantError(t, s.call(t, "POST", path, other.secret, `{"reports":[]}`), http.StatusForbidden, drover.EFORBIDDEN)
}

// A coordinator without the batched call answers 404: the JSON "no API
// route" of an older drover, or a proxy's plain page. The client says so
// with ErrNoReports, which the worker takes as "report one by one", never
// as an answer about the attempts.
func TestClientReportWithoutTheRoute(t *testing.T) {
	older := http.NewServeMux()
	older.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"code":"not_found","message":"no API route %s %s: see the API reference in the README"}}`, r.Method, r.URL.Path)
	})
	for name, h := range map[string]http.Handler{"older drover": older, "plain 404": http.NotFoundHandler()} {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		c := client.New(srv.URL, client.WithToken("x"))
		_, err := c.Report(ctxT(t), "wrk_1", []drover.AttemptReport{{AttemptID: "att_1", Start: &drover.StartRequest{}}})
		if !errors.Is(err, client.ErrNoReports) {
			t.Errorf("%s: err = %v, want ErrNoReports", name, err)
		}
	}
}
