package cli

import "testing"

// A worker that left shows the name the job kept of it.
func TestWorkerName(t *testing.T) {
	names := map[string]string{"wrk_1": "alpha"}
	worker := func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		return id
	}
	cases := []struct {
		id, nameThen, want string
	}{
		{"wrk_1", "", "alpha"},
		{"wrk_1", "old", "alpha"},
		{"wrk_gone", "beta", "beta"},
		{"wrk_gone", "", "wrk_gone"},
	}
	for _, c := range cases {
		if got := workerName(worker, c.id, c.nameThen); got != c.want {
			t.Errorf("workerName(%q, %q) = %q, want %q", c.id, c.nameThen, got, c.want)
		}
	}
}
