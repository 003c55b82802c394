package httpapi_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/httpapi"
)

// listPage is GET /jobs with the raw query q.
func listPage(t *testing.T, s *apiServer, q string) (drover.JobPage, int) {
	t.Helper()
	r := s.call(t, "GET", "/api/v1/jobs?"+q, "", "")
	if r.status != 200 {
		t.Fatalf("GET /jobs?%s: %d %s", q, r.status, r.body)
	}
	var p drover.JobPage
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("GET /jobs?%s: %v in %.200s", q, err, r.body)
	}
	return p, len(r.body)
}

// walk lists every page of a query and returns the ids, and each page's
// size in jobs and bytes.
func walk(t *testing.T, s *apiServer, q string) (ids []string, jobs, sizes []int) {
	t.Helper()
	for cursor := ""; ; {
		p, n := listPage(t, s, q+"&cursor="+cursor)
		for _, j := range p.Jobs {
			ids = append(ids, j.ID)
		}
		jobs, sizes = append(jobs, len(p.Jobs)), append(sizes, n)
		if cursor = p.NextCursor; cursor == "" {
			return ids, jobs, sizes
		}
		if len(jobs) > 1000 {
			t.Fatal("the pages do not end")
		}
	}
}

// A page of GET /jobs ends once it passes MaxListBytes, before its limit,
// and nextCursor goes on from there: every job is listed once, newest
// first.
func TestAPIListJobsPageBoundedInBytes(t *testing.T) {
	s := newAPIServer(t, serverOpt{api: func(c *httpapi.Config) { c.MaxListBytes = 16 << 10 }})
	var want []string
	for i := range 20 {
		spec := echoSpec()
		spec.Env = map[string]string{"DATA": strings.Repeat(fmt.Sprint(i%10), 4<<10)}
		want = append(want, s.submit(t, spec).ID)
	}
	slices.Reverse(want)
	ids, jobs, sizes := walk(t, s, "limit=1000")
	if !slices.Equal(ids, want) {
		t.Fatalf("listed %v, want %v", ids, want)
	}
	if len(jobs) != 5 {
		t.Errorf("%d pages of %v jobs, want 5 pages of 4", len(jobs), jobs)
	}
	for i, n := range jobs[:len(jobs)-1] {
		// Four jobs take a page past 16 KiB; a fifth would be too many.
		if n != 4 || sizes[i] > 16<<10+6<<10 {
			t.Errorf("page %d: %d jobs, %d bytes; want 4 jobs, about 16 KiB", i, n, sizes[i])
		}
	}
	// A job larger than the bound still has a page of its own.
	spec := echoSpec()
	spec.Env = map[string]string{"DATA": strings.Repeat("x", 40<<10)}
	big := s.submit(t, spec)
	if p, _ := listPage(t, s, "limit=10"); len(p.Jobs) != 1 || p.Jobs[0].ID != big.ID || p.NextCursor != big.ID {
		t.Errorf("first page: %d jobs, next %q; want the large job alone, then more", len(p.Jobs), p.NextCursor)
	}
}

// A page is read from the coordinator in batches: the batches join
// without a job missed or listed twice, with and without a state filter,
// and the limit holds.
func TestAPIListJobsInBatches(t *testing.T) {
	s := newAPIServer(t, serverOpt{})
	var all, cancelled []string
	for i := range 150 {
		j := s.submit(t, echoSpec())
		all = append(all, j.ID)
		if i%3 == 0 {
			if _, err := s.api.Cancel(ctxT(t), j.ID); err != nil {
				t.Fatal(err)
			}
			cancelled = append(cancelled, j.ID)
		}
	}
	slices.Reverse(all)
	slices.Reverse(cancelled)
	if p, _ := listPage(t, s, "limit=1000"); len(p.Jobs) != 150 || p.NextCursor != "" {
		t.Fatalf("one page of 1000: %d jobs, next %q", len(p.Jobs), p.NextCursor)
	}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"limit=1000", all},
		{"limit=40", all},
		{"limit=33", all},
		{"limit=7&state=CANCELLED", cancelled},
		{"limit=1000&state=QUEUED,CANCELLED", all},
		{"", all},
	} {
		ids, jobs, _ := walk(t, s, tc.q)
		if !slices.Equal(ids, tc.want) {
			t.Errorf("%s: listed %d jobs, want %d in order", tc.q, len(ids), len(tc.want))
		}
		for _, n := range jobs[:len(jobs)-1] {
			if want := limitOf(tc.q); n != want {
				t.Errorf("%s: a page of %d jobs, want %d", tc.q, n, want)
			}
		}
	}
	wantError(t, s.call(t, "GET", "/api/v1/jobs?limit=1001", "", ""), 422, drover.EINVALID, "the most is 1000")
	wantError(t, s.call(t, "GET", "/api/v1/jobs?cursor=nope", "", ""), 422, drover.EINVALID, "cursor")
}

func limitOf(q string) int {
	var n int
	if _, err := fmt.Sscanf(q, "limit=%d", &n); err != nil {
		return 100
	}
	return n
}
