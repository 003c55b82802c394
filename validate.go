package drover

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults applied to a spec that leaves a field empty.
const (
	DefaultCPU      = 100 // millicores requested by a job that names none
	DefaultMemoryMB = 128 // MiB requested by a job that names none
	MaxRetriesLimit = 100
	MaxPriority     = 1000
	MaxNameLen      = 200
	MaxCommandBytes = 128 << 10
	MaxEnvBytes     = 128 << 10
	MinTimeout      = time.Second
	// MinDockerMemoryMB is the Docker engine's smallest memory limit: a
	// container with less is refused at its start.
	MinDockerMemoryMB = 6
)

var envKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Normalize fills defaults and validates a spec. It returns an EINVALID
// *Error naming the field and what to change.
//
// The checks run in the order below and the first failure is returned. A
// later check may rely on an earlier one: checkResources reads the
// executor that checkExecutor settled.
func (s *JobSpec) Normalize() error {
	for _, check := range []func() error{
		s.checkCommand,
		s.checkName,
		s.checkExecutor,
		s.checkBundle,
		s.checkEnv,
		s.checkResources,
		s.checkTimeout,
		s.checkRetries,
		s.checkConstraints,
		s.checkPriority,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// checkCommand checks the argv. A docker job may leave it out, and the
// image's own entrypoint and command then run.
func (s *JobSpec) checkCommand() error {
	if len(s.Command) == 0 && s.Image == "" {
		return FieldErrorf("command", "command is empty: give the program and its arguments, e.g. [\"echo\",\"hi\"] or \"echo hi\" (only a job with an image may leave it out, to run the image's own command)")
	}
	if len(s.Command) > 0 && s.Command[0] == "" {
		return FieldErrorf("command", "command[0] is empty: the first element is the program to run")
	}
	n := 0
	for _, a := range s.Command {
		n += len(a)
		if strings.IndexByte(a, 0) >= 0 {
			return FieldErrorf("command", "command contains a NUL byte")
		}
	}
	if n > MaxCommandBytes {
		return FieldErrorf("command", "command is %d bytes; the limit is %d: put long scripts in a bundle", n, MaxCommandBytes)
	}
	return nil
}

// checkName checks that the name is one line of printable text.
func (s *JobSpec) checkName() error {
	return checkLine("name", "name", s.Name, MaxNameLen)
}

// checkExecutor checks the executor and the image together. An image with
// no executor named makes a docker job. A docker job asking for the network
// gets the constraint of workers that give it.
func (s *JobSpec) checkExecutor() error {
	switch s.Executor {
	case "", ExecutorDocker, ExecutorProcess, ExecutorNoop:
	default:
		return FieldErrorf("executor", "executor %s is unknown: use %q, %q, or leave it empty for any", Quote(s.Executor), ExecutorDocker, ExecutorProcess)
	}
	if s.Image != "" && s.Executor == "" {
		s.Executor = ExecutorDocker
	}
	if s.Image != "" && s.Executor != ExecutorDocker {
		return FieldErrorf("image", "image %s is only used by the docker executor, but executor is %q: drop the image or use executor docker", Quote(s.Image), s.Executor)
	}
	if s.Image != "" {
		// The engine would refuse it on every worker, so it is refused
		// here.
		if _, err := ParseImage(s.Image); err != nil {
			return FieldErrorf("image", "image %s is not an image reference: %v; use [registry/]name[:tag][@sha256:digest], the name in lower case, e.g. debian:bookworm-slim", Quote(s.Image), err)
		}
	}
	if s.Network && s.Executor == ExecutorDocker {
		// Only workers started with --allow-network give a container the
		// network. A process job has the worker's network anyway.
		if s.Constraints == nil {
			s.Constraints = map[string]string{}
		}
		s.Constraints[NetworkLabel] = "true"
	}
	if s.Executor == ExecutorDocker && s.Image == "" {
		return FieldErrorf("image", "the docker executor needs an image: set image (CLI --image), e.g. debian:bookworm-slim")
	}
	return nil
}

// checkBundle checks that a bundle is named by its digest.
func (s *JobSpec) checkBundle() error {
	if s.Bundle != "" && !isSHA256(s.Bundle) {
		return FieldErrorf("bundle", "bundle %s is not a sha256 hex digest: upload the ZIP with POST /api/v1/bundles and use the sha256 it returns", Quote(s.Bundle))
	}
	return nil
}

// checkEnv checks the names and values of the environment and its size.
// Names starting with DROVER_ are drover's own.
func (s *JobSpec) checkEnv() error {
	envBytes := 0
	for k, v := range s.Env {
		if !envKey.MatchString(k) {
			return FieldErrorf("env", "env name %s is invalid: use letters, digits and underscores, not starting with a digit", Quote(k))
		}
		if strings.HasPrefix(k, "DROVER_") {
			return FieldErrorf("env", "env name %s: names starting with DROVER_ are set by drover for every job (DROVER_JOB_ID, DROVER_ATTEMPT_ID, DROVER_WORKSPACE); pick another name", Quote(k))
		}
		if strings.IndexByte(v, 0) >= 0 {
			return FieldErrorf("env", "env %s contains a NUL byte", Quote(k))
		}
		envBytes += len(k) + len(v)
	}
	if envBytes > MaxEnvBytes {
		return FieldErrorf("env", "env is %d bytes; the limit is %d", envBytes, MaxEnvBytes)
	}
	return nil
}

// checkResources checks the requests and fills the defaults of those left
// out. A docker job's memory must reach the engine's smallest limit.
func (s *JobSpec) checkResources() error {
	if s.Resources.CPU < 0 {
		return FieldErrorf("resources.cpu", "resources.cpu is %d: it must be positive, in millicores (1000 = one core)", s.Resources.CPU)
	}
	if s.Resources.MemoryMB < 0 {
		return FieldErrorf("resources.memoryMB", "resources.memoryMB is %d: it must be positive, in MiB", s.Resources.MemoryMB)
	}
	if s.Resources.CPU == 0 {
		s.Resources.CPU = DefaultCPU
	}
	if s.Resources.MemoryMB == 0 {
		s.Resources.MemoryMB = DefaultMemoryMB
	}
	if s.Executor == ExecutorDocker && s.Resources.MemoryMB < MinDockerMemoryMB {
		return FieldErrorf("resources.memoryMB", "resources.memoryMB is %d: a docker job needs at least %d MiB, the engine's smallest limit", s.Resources.MemoryMB, MinDockerMemoryMB)
	}
	return nil
}

// checkTimeout checks the timeout. Zero means none.
func (s *JobSpec) checkTimeout() error {
	if s.Timeout < 0 {
		return FieldErrorf("timeout", "timeout is %s: it must be positive, or 0 for none", s.Timeout)
	}
	if s.Timeout > 0 && s.Timeout.D() < MinTimeout {
		return FieldErrorf("timeout", "timeout is %s: the shortest is %s (a job's start alone can take longer), or 0 for none", s.Timeout, MinTimeout)
	}
	return nil
}

// checkRetries checks maxRetries and retryOn. Only job failures may be
// listed, because fleet failures are always retried.
func (s *JobSpec) checkRetries() error {
	if s.MaxRetries < 0 || s.MaxRetries > MaxRetriesLimit {
		return FieldErrorf("maxRetries", "maxRetries is %d: it must be between 0 and %d", s.MaxRetries, MaxRetriesLimit)
	}
	for _, r := range s.RetryOn {
		if !r.JobFailure() {
			return FieldErrorf("retryOn", "retryOn %s is not a job failure: use %q, %q, %q or %q (fleet failures are always retried)", Quote(string(r)), ReasonExitCode, ReasonTimeout, ReasonOOMKilled, ReasonWorkspaceLimit)
		}
	}
	return nil
}

// checkConstraints checks the labels a worker must carry. They include
// the network's, which checkExecutor adds.
func (s *JobSpec) checkConstraints() error {
	return ValidateLabels("constraints", s.Constraints)
}

// checkPriority checks that the priority is within ±MaxPriority.
func (s *JobSpec) checkPriority() error {
	if s.Priority < -MaxPriority || s.Priority > MaxPriority {
		return FieldErrorf("priority", "priority is %d: it must be between %d and %d", s.Priority, -MaxPriority, MaxPriority)
	}
	return nil
}

// RetriesOn reports whether a job failure with reason r counts against spec.maxRetries.
func (s *JobSpec) RetriesOn(r Reason) bool {
	if !r.JobFailure() {
		return false
	}
	if len(s.RetryOn) == 0 {
		return true
	}
	return slices.Contains(s.RetryOn, r)
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// IsSHA256 reports whether s is a lower-case hex sha256 digest.
func IsSHA256(s string) bool { return isSHA256(s) }

// ParseCPU reads a CPU request in cores, such as "1.5", or in millicores,
// such as "500m".
func ParseCPU(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if m, ok := strings.CutSuffix(s, "m"); ok {
		v, err := strconv.ParseInt(m, 10, 64)
		if err != nil || v <= 0 {
			return 0, fmt.Errorf("cpu %q: use cores like 1.5 or millicores like 500m", s)
		}
		return v, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) || f > 1e6 {
		return 0, fmt.Errorf("cpu %q: use cores like 1.5 or millicores like 500m", s)
	}
	v := int64(math.Round(f * 1000))
	if v == 0 {
		return 0, fmt.Errorf("cpu %q is below one millicore", s)
	}
	return v, nil
}

// ParseMemory reads a memory size into MiB. It takes "512M", "2G",
// "1.5Gi", "256MB" or "1048576K". A bare number is MiB.
func ParseMemory(s string) (int64, error) {
	t := strings.TrimSpace(s)
	u := strings.ToUpper(t)
	u = strings.TrimSuffix(strings.TrimSuffix(u, "B"), "I")
	mult := 1.0
	switch {
	case strings.HasSuffix(u, "K"):
		mult, u = 1.0/1024, strings.TrimSuffix(u, "K")
	case strings.HasSuffix(u, "M"):
		u = strings.TrimSuffix(u, "M")
	case strings.HasSuffix(u, "G"):
		mult, u = 1024, strings.TrimSuffix(u, "G")
	case strings.HasSuffix(u, "T"):
		mult, u = 1024*1024, strings.TrimSuffix(u, "T")
	}
	f, err := strconv.ParseFloat(u, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("memory %q: use a size like 512M or 2G", t)
	}
	v := int64(math.Ceil(f * mult))
	if v <= 0 || v > 1<<40 {
		return 0, fmt.Errorf("memory %q is out of range", t)
	}
	return v, nil
}

// FormatCPU renders millicores for people: "1.5" cores or "500m".
func FormatCPU(m int64) string {
	if m%1000 == 0 {
		return strconv.FormatInt(m/1000, 10)
	}
	if m < 1000 {
		return strconv.FormatInt(m, 10) + "m"
	}
	return strconv.FormatFloat(float64(m)/1000, 'f', -1, 64)
}

// FormatMemory renders MiB for people, as "512M", "2G" or "1.5G".
func FormatMemory(mb int64) string {
	if mb >= 1024 {
		if mb%1024 == 0 {
			return strconv.FormatInt(mb/1024, 10) + "G"
		}
		return strconv.FormatFloat(float64(mb)/1024, 'f', 1, 64) + "G"
	}
	return strconv.FormatInt(mb, 10) + "M"
}

// RetryBackoff is the wait before retry n, counted from 1.
// It is 1s·2^(n−1), and at most a minute.
func RetryBackoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 7 {
		return time.Minute
	}
	return min(time.Second<<(n-1), time.Minute)
}
