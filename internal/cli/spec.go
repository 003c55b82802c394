package cli

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/drover-dev/drover"
)

// jobFlags are the flags of run and submit that make a JobSpec.
type jobFlags struct {
	cpu, memory, timeout, retryOn, name, executor, image, bundle string
	retries, priority                                            int
	network                                                      bool
	env, constraints                                             multiFlag
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (jf *jobFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&jf.cpu, "cpu", "", "CPU to reserve: cores (1.5) or millicores (500m) (default 100m)")
	fs.StringVar(&jf.memory, "memory", "", "memory to reserve (and the hard limit in a container): 512M, 2G (default 128M)")
	fs.StringVar(&jf.timeout, "timeout", "", "stop the job after this long running (e.g. 90s, 5m, 1h); exit 124")
	fs.IntVar(&jf.retries, "retries", 0, "retry a failed job up to N times (backoff 1s, 2s, 4s ... 1m)")
	fs.StringVar(&jf.retryOn, "retry-on", "", "comma list of failures that are retried: exit_code,timeout,oom_killed,workspace_limit (default all)")
	fs.Var(&jf.env, "env", "set an environment variable K=V in the job (repeatable)")
	fs.Var(&jf.constraints, "constraint", "run only on workers with label k=v (repeatable)")
	fs.StringVar(&jf.name, "name", "", "a name for the job")
	fs.IntVar(&jf.priority, "priority", 0, "higher runs first (-1000..1000)")
	fs.StringVar(&jf.executor, "executor", "", "docker or process (default: the worker's default)")
	fs.StringVar(&jf.image, "image", "", "container image (implies --executor docker)")
	fs.StringVar(&jf.bundle, "bundle", "", "a folder (zipped, honouring .droverignore) or a ZIP: the job's working directory")
	fs.BoolVar(&jf.network, "network", false, "give the container network access (docker jobs; the worker must allow it: process jobs always have the machine's network)")
}

// spec builds the JobSpec; errors say which flag to fix.
func (jf *jobFlags) spec(command []string) (drover.JobSpec, error) {
	s := drover.JobSpec{Name: jf.name, Executor: jf.executor, Image: jf.image, MaxRetries: jf.retries, Priority: jf.priority, Network: jf.network}
	switch {
	case len(command) == 0 && jf.image != "":
		// The image's own entrypoint and command run.
	case len(command) == 0:
		return s, fmt.Errorf("no command given: drover run [flags] -- COMMAND [ARG...] (only a job with --image may leave it out)")
	case len(command) == 1 && strings.ContainsAny(command[0], " \t\n|&;<>()$`\\\"'*?[#~=%"):
		// One argument with shell syntax: run it under sh -c.
		s.Command = drover.Command{"sh", "-c", command[0]}
	default:
		s.Command = command
	}
	var err error
	if jf.cpu != "" {
		if s.Resources.CPU, err = drover.ParseCPU(jf.cpu); err != nil {
			return s, fmt.Errorf("--cpu: %w", err)
		}
	}
	if jf.memory != "" {
		if s.Resources.MemoryMB, err = drover.ParseMemory(jf.memory); err != nil {
			return s, fmt.Errorf("--memory: %w", err)
		}
	}
	if jf.timeout != "" {
		d, err := time.ParseDuration(jf.timeout)
		if err != nil || d < 0 {
			return s, fmt.Errorf("--timeout %q: use a duration like 90s, 5m or 1h30m, or 0 for none", jf.timeout)
		}
		s.Timeout = drover.Duration(d)
	}
	if jf.retryOn != "" {
		for _, r := range strings.Split(jf.retryOn, ",") {
			s.RetryOn = append(s.RetryOn, drover.Reason(strings.TrimSpace(r)))
		}
	}
	if s.Env, err = keyValues("--env", "KEY=VALUE", jf.env); err != nil {
		return s, err
	}
	if s.Constraints, err = keyValues("--constraint", "key=value", jf.constraints); err != nil {
		return s, err
	}
	// Validate here too, so a mistake is reported before any network call.
	check := s
	if err := check.Normalize(); err != nil {
		var de *drover.Error
		if errors.As(err, &de) && specFlags[de.Field] != "" {
			return s, fmt.Errorf("%s (%s)", de.Message, specFlags[de.Field])
		}
		return s, err
	}
	return s, nil
}

// keyValues reads repeated k=v flags into a map (nil when there are none).
func keyValues(flagName, form string, kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: use %s", flagName, kv, form)
		}
		m[k] = v
	}
	return m, nil
}
