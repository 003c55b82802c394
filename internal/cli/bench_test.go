package cli

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestBenchFlagsValidate(t *testing.T) {
	tests := []struct {
		args      []string
		wantError string // "" for none
	}{
		{args: nil},
		{args: []string{"--jobs", "0", "--idle-workers", "0"}},
		{args: []string{"--workers", "0"}, wantError: "--workers 0: use a whole number of at least 1"},
		{args: []string{"--jobs", "-5"}, wantError: "--jobs -5: use a whole number (0: the default)"},
		{args: []string{"--finished", "-1"}, wantError: "--finished -1: use a whole number (0: none)"},
		{args: []string{"--idle-window", "0s"}, wantError: "--idle-window must be positive"},
		{args: []string{"--print-clock", "-1"}, wantError: "--print-clock must be positive"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			a := &app{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
			fs := flag.NewFlagSet("bench", flag.ContinueOnError)
			var bf benchFlags
			bf.add(a, fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := bf.validate()
			switch {
			case tt.wantError == "" && err != nil:
				t.Fatalf("validate = %v, want nil", err)
			case tt.wantError != "" && (err == nil || err.Error() != tt.wantError):
				t.Fatalf("validate = %v, want %q", err, tt.wantError)
			}
		})
	}
}
