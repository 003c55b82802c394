package procstat

import (
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    CPUTimes
		wantErr bool
	}{
		{
			name: "every field",
			in:   "cpu  100 2 30 400 5 6 7 8 9 10\ncpu0 50 1 15 200 2 3 3 4 4 5\nintr 1\n",
			want: CPUTimes{User: 100, Nice: 2, System: 30, Idle: 400, IOWait: 5, IRQ: 6, SoftIRQ: 7, Steal: 8},
		},
		{
			name: "an old kernel's four fields",
			in:   "cpu 1 2 3 4\n",
			want: CPUTimes{User: 1, Nice: 2, System: 3, Idle: 4},
		},
		{name: "not the cpu line", in: "intr 1 2 3 4 5\n", wantErr: true},
		{name: "too few fields", in: "cpu 1 2 3\n", wantErr: true},
		{name: "not a number", in: "cpu 1 2 x 4 5\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseStat error = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseStat = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCPUTimesSums(t *testing.T) {
	c := CPUTimes{User: 100, Nice: 2, System: 30, Idle: 400, IOWait: 5, IRQ: 6, SoftIRQ: 7, Steal: 8}
	if got := c.Busy(); got != 145 {
		t.Errorf("Busy = %d, want 145 (user, nice, system, irq, softirq)", got)
	}
	if got := c.Waiting(); got != 405 {
		t.Errorf("Waiting = %d, want 405 (idle and iowait)", got)
	}
	if got := c.Total(); got != 558 {
		t.Errorf("Total = %d, want 558 (busy, waiting and steal)", got)
	}
	if got := c.BusyTime(); got != 1450*time.Millisecond {
		t.Errorf("BusyTime = %v, want 1.45s at 100 ticks a second", got)
	}
}

func TestParseMeminfo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Memory
		wantErr bool
	}{
		{
			name: "total and available",
			in:   "MemTotal:       16384000 kB\nMemFree:         1000 kB\nMemAvailable:    8192000 kB\nHugePages_Total:       0\n",
			want: Memory{Total: 16384000 << 10, Available: 8192000 << 10},
		},
		{
			name: "no available on an old kernel",
			in:   "MemTotal: 2048 kB\nMemFree: 1024 kB\n",
			want: Memory{Total: 2048 << 10},
		},
		{name: "no total", in: "MemFree: 1024 kB\n", wantErr: true},
		{name: "a line that is no number", in: "MemTotal: lots kB\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMeminfo(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseMeminfo error = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseMeminfo = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseLoadavg(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{in: "0.52 0.58 0.59 2/1234 56789\n", want: 0.52},
		{in: "12.00 1 1 1/1 1", want: 12},
		{in: "", wantErr: true},
		{in: "high 1 1", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseLoadavg([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseLoadavg(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseCPUInfo(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nprocessor\t: 1\nmodel name\t: other\n",
			want: "Intel(R) Xeon(R) CPU @ 2.20GHz"},
		{in: "processor\t: 0\nBogoMIPS\t: 50.00\n", want: ""},
		{in: "", want: ""},
	}
	for _, tt := range tests {
		if got := parseCPUInfo(strings.NewReader(tt.in)); got != tt.want {
			t.Errorf("parseCPUInfo(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// This machine's files parse: drover reads the real ones.
func TestReadMachine(t *testing.T) {
	if _, err := ReadCPUTimes(); err != nil {
		t.Errorf("ReadCPUTimes: %v", err)
	}
	if m, err := ReadMemory(); err != nil || m.Total <= 0 || m.Available > m.Total {
		t.Errorf("ReadMemory = %+v, %v; want a total above zero and available below it", m, err)
	}
	if _, err := ReadLoad1(); err != nil {
		t.Errorf("ReadLoad1: %v", err)
	}
}
