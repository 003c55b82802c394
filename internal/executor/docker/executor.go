// Package docker is the executor that runs each attempt in a Docker
// container of its own, through the Docker Engine API.
//
// The container is confined as DESIGN.md §5 asks. Memory has a hard limit
// and no swap. CPU has a quota from the job's millicores. A pids limit caps
// its processes. It has no network unless the worker allows it. Its
// command gets no new privileges and no capabilities, and runs as a
// non-root user. Its root is read-only, with a tmpfs on /tmp. The attempt's
// workspace is bind-mounted at /workspace.
//
// Output streams live. An OOM kill is reported as oom_killed. The container
// is removed afterwards in every case.
//
// The engine must run on the same machine as the worker. The workspace is
// a host folder bind-mounted by path, which a remote engine cannot see.
package docker

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/drover-dev/drover"
	"github.com/moby/moby/client"
)

// PullPolicy says when Run pulls a job's image.
type PullPolicy string

const (
	// PullMissing pulls only images that are not on the engine yet.
	PullMissing PullPolicy = "missing"
	// PullAlways pulls before every run, so a moved tag is followed. When
	// the pull fails and the image is present, the present one is used.
	PullAlways PullPolicy = "always"
	// PullNever only runs images already on the engine.
	PullNever PullPolicy = "never"
)

// Defaults of Config.
const (
	DefaultPidsLimit = 512
	DefaultUser      = "65534:65534"
	DefaultTmpfsSize = 64 << 20
)

// Config configures an Executor. The zero value is usable.
type Config struct {
	// Logger receives the executor's own events (pulls, cleanup failures).
	// Defaults to slog.Default().
	Logger *slog.Logger
	// Pull is the image pull policy. Defaults to PullMissing. Pulls are
	// anonymous: images from private registries must be on the engine already.
	Pull PullPolicy
	// AllowNetwork is the worker's policy. A job's spec.network is honoured
	// only when it is true. Otherwise every container gets network mode
	// "none", with a loopback interface only. Defaults to false.
	AllowNetwork bool
	// PidsLimit caps the number of processes and threads in a container, so a
	// fork bomb stays inside it. Defaults to 512; must not be negative.
	PidsLimit int64
	// User is the numeric "uid:gid" (or "uid", gid = uid) commands run as.
	// Root (uid 0) is refused. Numeric because the workspace is chowned to it
	// on the host, where the image's user names mean nothing. Defaults to
	// "65534:65534" (nobody).
	User string
	// WorkerID labels containers (drover.worker) so Cleanup of a restarted
	// worker only touches its own. Defaults to "" (Cleanup then considers
	// every drover container on the engine).
	WorkerID string
	// Instance labels containers with this one worker process, for Guard.
	// The label is drover.worker-instance. Unlike WorkerID it changes when
	// the worker starts again. A guard of the earlier process thus never
	// touches the containers of the next. Defaults to "", for no label.
	Instance string
	// TmpfsSize is the size in bytes of the tmpfs mounted on /tmp, counted in
	// the container's memory. Defaults to 64 MiB.
	TmpfsSize int64
	// Registries are the registries the engine may pull from, each
	// host[:port] as ParseRegistries reads them. An image already on the
	// engine runs whatever its registry, since using it contacts none.
	//
	// Defaults to none, which allows any public registry. It never allows
	// one named by a loopback, link-local, private or shared address. Nor
	// does it allow a local name, or a name that resolves to such an
	// address.
	Registries []string
}

func (c *Config) setDefaults() {
	c.Logger = cmp.Or(c.Logger, slog.Default())
	c.Pull = cmp.Or(c.Pull, PullMissing)
	c.PidsLimit = cmp.Or(c.PidsLimit, DefaultPidsLimit)
	c.User = cmp.Or(c.User, DefaultUser)
	c.TmpfsSize = cmp.Or(c.TmpfsSize, DefaultTmpfsSize)
}

func (c *Config) validate() error {
	switch c.Pull {
	case PullMissing, PullAlways, PullNever:
	default:
		return fmt.Errorf("docker executor: Pull is %q: use %q, %q or %q", c.Pull, PullMissing, PullAlways, PullNever)
	}
	if c.PidsLimit < 0 {
		return fmt.Errorf("docker executor: PidsLimit is %d: it must be positive", c.PidsLimit)
	}
	if c.TmpfsSize < 0 {
		return fmt.Errorf("docker executor: TmpfsSize is %d: it must be positive", c.TmpfsSize)
	}
	if _, _, err := parseUser(c.User); err != nil {
		return fmt.Errorf("docker executor: User: %w", err)
	}
	if _, err := ParseRegistries(strings.Join(c.Registries, ",")); err != nil {
		return fmt.Errorf("docker executor: Registries: %w", err)
	}
	return nil
}

// parseUser reads a numeric "uid:gid" or "uid" and refuses root.
func parseUser(s string) (uid, gid int, err error) {
	u, g, found := strings.Cut(s, ":")
	if uid, err = strconv.Atoi(u); err != nil || uid < 0 {
		return 0, 0, fmt.Errorf("%q is not a numeric uid[:gid]", s)
	}
	gid = uid
	if found {
		if gid, err = strconv.Atoi(g); err != nil || gid < 0 {
			return 0, 0, fmt.Errorf("%q is not a numeric uid[:gid]", s)
		}
	}
	if uid == 0 {
		return 0, 0, fmt.Errorf("%q is root: containers run as a non-root user", s)
	}
	return uid, gid, nil
}

// Executor runs attempts in Docker containers. It is safe for concurrent use.
type Executor struct {
	cfg        Config
	log        *slog.Logger
	cli        *client.Client
	registries *registryPolicy
	uid, gid   int
	// chown is true when the workspace can be handed to the container user
	// with chown. That needs a root worker and an engine that maps uids one
	// to one. Otherwise the workspace is opened with chmod. See
	// prepareWorkspace.
	chown bool
	// init is true when the engine has docker-init, which is tini. Without
	// it the command is PID 1. A SIGTERM it has no handler for is then
	// ignored, so a stop always waits the whole grace before SIGKILL.
	// Orphans are then not reaped until the container ends.
	init bool
	// tmpfsOptions says the engine takes tmpfs mount options, from API
	// 1.46 on. /tmp can then be a mount of its own. See tmpMount.
	tmpfsOptions bool
	// ncpu is the engine's CPU count, which caps a CPU quota (the engine
	// refuses a larger one).
	ncpu int
	// cfsPeriod: the engine can set a CFS period of its own. Without CFS
	// bandwidth control it would drop a period and quota with a warning,
	// where NanoCPUs fails the create, so only NanoCPUs is used then.
	cfsPeriod bool
}

// engineTimeout bounds the calls New makes, so a socket that accepts but
// never answers does not hang the worker's start.
const engineTimeout = 10 * time.Second

// New connects to the Docker engine the standard way. It reads DOCKER_HOST
// and the other DOCKER_* variables, else takes the default socket. It
// negotiates the API version down to the engine's, from API 1.40 on. It
// returns an error when the engine does not answer. The worker then does
// not advertise "docker".
func New(ctx context.Context, cfg Config) (*Executor, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	ver, err := cli.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker engine at %s does not answer: %w", cli.DaemonHost(), err)
	}
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker engine info: %w", err)
	}
	uid, gid, _ := parseUser(cfg.User)
	regs, _ := ParseRegistries(strings.Join(cfg.Registries, ","))
	e := &Executor{cfg: cfg, log: cfg.Logger, cli: cli, registries: newRegistryPolicy(regs), uid: uid, gid: gid,
		ncpu: max(info.Info.NCPU, 1), cfsPeriod: info.Info.CPUCfsPeriod && info.Info.CPUCfsQuota}

	// The engine lists docker-init among its components only when it can
	// run it.
	for _, c := range ver.Components {
		if c.Name == "docker-init" || (info.Info.InitBinary != "" && c.Name == info.Info.InitBinary) {
			e.init = true
		}
	}
	if !e.init {
		e.log.Warn("docker engine has no init binary: containers run without docker-init, so a stop waits the whole grace and orphans are not reaped",
			"engine", ver.Version)
	}

	// With user-namespace remapping or a rootless engine, uid 65534 in the
	// container is another uid on the host. chown would hand the workspace
	// to the wrong user, so chmod opens it instead.
	remapped := false
	for _, o := range info.Info.SecurityOptions {
		if strings.Contains(o, "name=userns") || strings.Contains(o, "name=rootless") {
			remapped = true
		}
	}
	e.chown = os.Geteuid() == 0 && !remapped
	e.tmpfsOptions = apiAtLeast(cli.ClientVersion(), 1, 46)

	e.log.Debug("docker executor ready", "host", cli.DaemonHost(), "engine", ver.Version,
		"api", cli.ClientVersion(), "init", e.init, "chown", e.chown)
	return e, nil
}

// Name returns "docker".
func (e *Executor) Name() string { return drover.ExecutorDocker }

// Close releases the connection to the engine. Containers still running are
// left alone.
func (e *Executor) Close() error { return e.cli.Close() }

// apiAtLeast says whether the engine API version v ("1.41") is at least
// major.minor.
func apiAtLeast(v string, major, minor int) bool {
	a, b, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	ma, err1 := strconv.Atoi(a)
	mi, err2 := strconv.Atoi(b)
	return err1 == nil && err2 == nil && (ma > major || ma == major && mi >= minor)
}
