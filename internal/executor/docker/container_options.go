package docker

import (
	"fmt"
	"path/filepath"

	"github.com/drover-dev/drover/internal/executor"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// Container labels. Cleanup and Guard find drover's containers by them.
const (
	LabelAttempt = "drover.attempt"
	LabelJob     = "drover.job"
	LabelWorker  = "drover.worker"
	// LabelInstance names the worker process (Config.Instance).
	LabelInstance = "drover.worker-instance"
)

// workspaceDir is where the attempt's workspace is mounted. It is the
// command's working directory and $HOME.
const workspaceDir = "/workspace"

// cpuPeriodUs is the CFS period of a container limited to less than a
// core, in µs. It is the longest the engine allows.
const cpuPeriodUs = 1_000_000

// containerOptions is the whole isolation policy of DESIGN.md §5, for the
// container of task t named name.
func (e *Executor) containerOptions(t *executor.Task, name string) (client.ContainerCreateOptions, error) {
	host := e.hostConfig(t)
	if t.Workspace != "" {
		src, err := filepath.Abs(t.Workspace)
		if err != nil {
			return client.ContainerCreateOptions{}, fmt.Errorf("workspace: %w", err)
		}
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: src, Target: workspaceDir})
	}
	return client.ContainerCreateOptions{Name: name, Config: e.containerConfig(t), HostConfig: host}, nil
}

// containerConfig is what runs in the container, as whom and where.
func (e *Executor) containerConfig(t *executor.Task) *container.Config {
	cfg := &container.Config{
		Image: t.Spec.Image,
		// The command replaces the image's entrypoint, as Kubernetes'
		// command does. The argv runs as given, with no shell added.
		// Without a command, the image's own entrypoint and command run.
		Entrypoint: t.Spec.Command,
		Env:        e.containerEnv(t),
		WorkingDir: workspaceDir,
		// Both ids are given. With the uid alone, the engine takes the
		// group from the image's /etc/group, or root's.
		User:         fmt.Sprintf("%d:%d", e.uid, e.gid),
		AttachStdout: true,
		AttachStderr: true,
		Labels: map[string]string{
			LabelAttempt: t.AttemptID,
			LabelJob:     t.JobID,
			LabelWorker:  e.cfg.WorkerID,
		},
	}
	if e.cfg.Instance != "" {
		cfg.Labels[LabelInstance] = e.cfg.Instance
	}
	return cfg
}

// containerEnv is the command's environment (see executor.Env).
func (e *Executor) containerEnv(t *executor.Task) []string {
	env := executor.Env(t, workspaceDir, "/tmp")
	if _, ok := t.Spec.Env["PATH"]; !ok {
		// The image's PATH is kept, being better suited than drover's
		// generic one. A Go image puts /usr/local/go/bin in it, say. The
		// engine falls back to its default when the image has none.
		env = dropVar(env, "PATH")
	}
	if e.init {
		// docker-init then forwards signals to the command's whole
		// process group. A SIGTERM so reaches everything a shell started,
		// before SIGKILL ends the rest.
		env = append([]string{"TINI_KILL_PROCESS_GROUP=1"}, env...)
	}
	return env
}

// hostConfig confines the container and sets its limits. The container
// has no network unless allowed, no capabilities, no new privileges and a
// read-only root. The job's memory, CPU, process and file size limits
// apply.
func (e *Executor) hostConfig(t *executor.Task) *container.HostConfig {
	spec := &t.Spec
	pids, init := e.cfg.PidsLimit, e.init
	host := &container.HostConfig{
		NetworkMode:    "none",
		Init:           &init,
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges:true"},
		CgroupnsMode:   container.CgroupnsModePrivate,
		// Output reaches drover through the attach stream. A second copy
		// in the engine's log files would grow without bound until the
		// container is removed.
		LogConfig: container.LogConfig{Type: "none"},
		Resources: container.Resources{PidsLimit: &pids},
	}
	if n := t.WorkspaceLimit; n > 0 {
		// The file size limit is set before the command starts.
		host.Ulimits = []*container.Ulimit{{Name: "fsize", Soft: n, Hard: n}}
	}
	if spec.Network && e.cfg.AllowNetwork {
		host.NetworkMode = "" // the engine's default bridge
	}
	if mb := spec.Resources.MemoryMB; mb > 0 {
		host.Memory = mb << 20
		host.MemorySwap = host.Memory // equal: no swap
	}
	if m := spec.Resources.CPU; m > 0 {
		host.CPUPeriod, host.CPUQuota, host.NanoCPUs = cpuLimits(m, e.ncpu, e.cfsPeriod)
	}
	e.tmpMount(host)
	return host
}

// cpuLimits turns a request of milli millicores into the engine's limits.
// The engine accepts 0.01 to ncpu cores, so the request is brought within
// that range.
//
// Under a core, with CFS period support, the quota is counted over
// cpuPeriodUs rather than the engine's default 100 ms. The share of the CPU
// is the same. A container's start then fits in one period's quota instead
// of being throttled for most of a period. The start counts because runc's
// init and the init process run in the container's cgroup. See "CPU quota
// period" in docs/design-notes.md for what it costs.
//
// Otherwise the limit is NanoCPUs, and period and quota are zero. An
// engine without CFS bandwidth control would drop a period and quota
// unnoticed. It refuses NanoCPUs instead.
func cpuLimits(milli int64, ncpu int, cfsPeriod bool) (period, quota, nanoCPUs int64) {
	m := min(max(milli, 10), int64(ncpu)*1000)
	if m < 1000 && cfsPeriod {
		return cpuPeriodUs, m * cpuPeriodUs / 1000, 0
	}
	return 0, 0, m * 1_000_000
}

// tmpMount gives the container a fresh tmpfs on /tmp where exec is
// allowed. /workspace is writable and executable anyway. noexec, the
// engine's default for a tmpfs, would only break tools that build and run
// in TMPDIR.
//
// Engines with API 1.46 or later mount it as a tmpfs mount. That mount does
// not copy the image's /tmp in, so /tmp is 1777 whatever the image's mode.
// An image's /tmp is often 0755, which the job's user cannot write. Older
// engines take only HostConfig.Tmpfs, which copies the image's /tmp and its
// mode.
func (e *Executor) tmpMount(host *container.HostConfig) {
	if e.tmpfsOptions {
		// Mode is sent as the raw Unix bits, which the engine writes with
		// %o. The sticky bit is so 0o1000, not os.ModeSticky. A tmpfs
		// mount is nosuid and nodev by default. "exec" lifts its noexec.
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeTmpfs, Target: "/tmp", TmpfsOptions: &mount.TmpfsOptions{
			SizeBytes: e.cfg.TmpfsSize, Mode: 0o1777, Options: [][]string{{"exec"}},
		}})
		return
	}
	host.Tmpfs = map[string]string{"/tmp": fmt.Sprintf("rw,exec,nosuid,nodev,size=%d,mode=1777", e.cfg.TmpfsSize)}
}

// dropVar removes every KEY=... entry for key from env.
func dropVar(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if len(kv) > len(key) && kv[:len(key)] == key && kv[len(key)] == '=' {
			continue
		}
		out = append(out, kv)
	}
	return out
}
