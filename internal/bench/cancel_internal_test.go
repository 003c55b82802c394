package bench

import "testing"

// firstLinePid reads the pid a cancel job prints once its line is whole.
func TestFirstLinePid(t *testing.T) {
	cases := []struct {
		out  string
		pid  int
		done bool
	}{
		{"", 0, false},
		{"123", 0, false},
		{"123\n", 123, true},
		{" 42 \nmore output", 42, true},
		{"42\r\n", 42, true},
		{"not a pid\n", 0, true},
		{"\n17\n", 0, true},
	}
	for _, c := range cases {
		pid, done := firstLinePid(c.out)
		if pid != c.pid || done != c.done {
			t.Errorf("firstLinePid(%q) = %d, %v; want %d, %v", c.out, pid, done, c.pid, c.done)
		}
	}
}
