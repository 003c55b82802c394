package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/procstat"
)

// coordinatorStats reads the coordinator's CPU time and memory.
// A coordinator in this process is read through procstat. Its figures then
// include the workers and the bench client. Another coordinator is read
// from its /metrics.
type coordinatorStats struct {
	inProcess bool
	url       string
	token     string
	hc        *http.Client
}

// scope names what the CPU and memory figures cover.
func (s *coordinatorStats) scope() string {
	if s.inProcess {
		return "bench process: coordinator, workers and client together"
	}
	return "coordinator process (its /metrics)"
}

// resetPeak starts the peak resident size over.
// Only a coordinator in this process can be reset.
func (s *coordinatorStats) resetPeak() {
	if s.inProcess {
		procstat.ResetPeakRSS()
	}
}

// read returns the coordinator's CPU time and memory now.
func (s *coordinatorStats) read(ctx context.Context) (procstat.Process, error) {
	if s.inProcess {
		return procstat.ReadProcess(), nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/metrics", nil)
	if err != nil {
		return procstat.Process{}, err
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return procstat.Process{}, fmt.Errorf("scrape %s/metrics: %w", s.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return procstat.Process{}, fmt.Errorf("scrape %s/metrics: %s", s.url, resp.Status)
	}
	var p procstat.Process
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_cpu_seconds_total":
			p.CPU = time.Duration(v * float64(time.Second))
		case "process_resident_memory_bytes":
			p.RSS = int64(v)
		case "process_resident_memory_peak_bytes":
			p.PeakRSS = int64(v)
		}
	}
	return p, sc.Err()
}
