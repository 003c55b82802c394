package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/bundle"
	"github.com/drover-dev/drover/internal/coordinator"
	"github.com/drover-dev/drover/internal/httpapi"
	"github.com/drover-dev/drover/internal/metrics"
	"github.com/drover-dev/drover/internal/store/sqlite"
)

// serverFlags are the coordinator's flags, shared by server and dev.
type serverFlags struct {
	listen, data, joinToken, apiToken, tlsCert, tlsKey, logLevel string
	hbInterval, hbTimeout, ackTimeout, retention, downRetention  time.Duration
	gcInterval                                                   time.Duration
	fleetRetries, bundleMaxFiles, bundleMaxRatio, bundleUploads  int
	bundleMaxSize, bundleMaxUnpacked, outputCap                  string
	insecure, metricsPublic                                      bool

	// The tokens as given; resolveTokens sets joinToken and apiToken.
	join, api secretFlag
}

func (sf *serverFlags) add(a *app, fs *flag.FlagSet, listen, data string) {
	fs.StringVar(&sf.listen, "listen", envOr(a, "DROVER_LISTEN", listen), "address to serve the API and UI on (env DROVER_LISTEN)")
	fs.StringVar(&sf.data, "data", envOr(a, "DROVER_DATA", data), "folder for the store (env DROVER_DATA)")
	sf.join = secretFlag{name: "join-token", env: "DROVER_JOIN_TOKEN"}
	sf.join.add(a, fs, "the join token workers register with")
	sf.api = secretFlag{name: "api-token", env: "DROVER_API_TOKEN", lines: true}
	sf.api.add(a, fs, "the API tokens clients must present")
	fs.StringVar(&sf.tlsCert, "tls-cert", a.getenv("DROVER_TLS_CERT"), "TLS certificate file (env DROVER_TLS_CERT)")
	fs.StringVar(&sf.tlsKey, "tls-key", a.getenv("DROVER_TLS_KEY"), "TLS key file (env DROVER_TLS_KEY)")
	fs.DurationVar(&sf.hbInterval, "heartbeat-interval", coordinator.DefaultHeartbeatInterval, "how often workers heartbeat (env DROVER_HEARTBEAT_INTERVAL)")
	fs.DurationVar(&sf.hbTimeout, "heartbeat-timeout", coordinator.DefaultHeartbeatTimeout, "silence after which a worker is DOWN and its jobs requeued (env DROVER_HEARTBEAT_TIMEOUT)")
	fs.DurationVar(&sf.ackTimeout, "ack-timeout", coordinator.DefaultAckTimeout, "time a worker has to acknowledge an assignment (env DROVER_ACK_TIMEOUT)")
	fs.DurationVar(&sf.retention, "retention", coordinator.DefaultRetention, "how long finished jobs and their output are kept (env DROVER_RETENTION)")
	fs.DurationVar(&sf.downRetention, "down-retention", coordinator.DefaultDownRetention, "how long a worker stays listed DOWN before it is forgotten (env DROVER_DOWN_RETENTION)")
	fs.DurationVar(&sf.gcInterval, "gc-interval", coordinator.DefaultGCInterval, "how often jobs past --retention and workers past --down-retention are removed (env DROVER_GC_INTERVAL)")
	fs.IntVar(&sf.fleetRetries, "fleet-retries", coordinator.DefaultFleetRetries, "requeues allowed for failures of the fleet (lost worker, executor error)")
	fs.StringVar(&sf.bundleMaxSize, "bundle-max-size", envOr(a, "DROVER_BUNDLE_MAX_SIZE", "100M"), "largest bundle (ZIP) accepted (env DROVER_BUNDLE_MAX_SIZE)")
	fs.StringVar(&sf.bundleMaxUnpacked, "bundle-max-unpacked", envOr(a, "DROVER_BUNDLE_MAX_UNPACKED", "1G"), "largest total size of a bundle's files once unpacked (env DROVER_BUNDLE_MAX_UNPACKED)")
	fs.IntVar(&sf.bundleMaxFiles, "bundle-max-files", bundle.DefaultMaxFiles, "most files and folders in a bundle, counting the folders its paths imply (env DROVER_BUNDLE_MAX_FILES)")
	fs.IntVar(&sf.bundleMaxRatio, "bundle-max-ratio", bundle.DefaultMaxRatio, "largest unpacked/compressed ratio of a bundle and of each of its files, past the first MiB: above it a ZIP looks like a bomb (env DROVER_BUNDLE_MAX_RATIO)")
	fs.IntVar(&sf.bundleUploads, "bundle-uploads", httpapi.DefaultBundleUploads, "bundle uploads read and checked at once; one more is answered 503 with Retry-After (env DROVER_BUNDLE_UPLOADS)")
	fs.StringVar(&sf.outputCap, "output-cap", envOr(a, "DROVER_OUTPUT_CAP", "16M"), "output kept per job: past it the first and last halves are kept (env DROVER_OUTPUT_CAP)")
	fs.BoolVar(&sf.insecure, "insecure", false, "allow listening beyond loopback without tokens")
	fs.BoolVar(&sf.metricsPublic, "metrics-public", false, "serve GET /metrics without an API token, for a Prometheus that has none (env DROVER_METRICS_PUBLIC)")
	fs.StringVar(&sf.logLevel, "log-level", envOr(a, "DROVER_LOG_LEVEL", "info"), "debug, info, warn or error (env DROVER_LOG_LEVEL)")
	a.fromEnv(fs, "heartbeat-interval", "DROVER_HEARTBEAT_INTERVAL")
	a.fromEnv(fs, "heartbeat-timeout", "DROVER_HEARTBEAT_TIMEOUT")
	a.fromEnv(fs, "ack-timeout", "DROVER_ACK_TIMEOUT")
	a.fromEnv(fs, "retention", "DROVER_RETENTION")
	a.fromEnv(fs, "down-retention", "DROVER_DOWN_RETENTION")
	a.fromEnv(fs, "gc-interval", "DROVER_GC_INTERVAL")
	a.fromEnv(fs, "bundle-max-files", "DROVER_BUNDLE_MAX_FILES")
	a.fromEnv(fs, "bundle-max-ratio", "DROVER_BUNDLE_MAX_RATIO")
	a.fromEnv(fs, "bundle-uploads", "DROVER_BUNDLE_UPLOADS")
	a.fromEnv(fs, "metrics-public", "DROVER_METRICS_PUBLIC")
}

func newLogger(a *app, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level (DROVER_LOG_LEVEL) %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: l})), nil
}

// isLoopback reports whether a listen address only accepts local connections.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// coordinatorProcess is a running coordinator with its store and its HTTP
// server.
type coordinatorProcess struct {
	url     string
	log     *slog.Logger
	srv     *http.Server
	coord   *coordinator.Coordinator
	close   func()
	served  chan error
	baseCtx context.CancelFunc
}

// resolveTokens reads the tokens from the environment, the files or the
// command line (see secretFlag).
func (sf *serverFlags) resolveTokens(a *app, fs *flag.FlagSet) error {
	var err error
	if sf.joinToken, _, err = sf.join.resolve(a, fs); err != nil {
		return err
	}
	sf.apiToken, _, err = sf.api.resolve(a, fs)
	return err
}

// checkTokens refuses tokens that leave a door open.
// With API tokens clients are kept out, so workers must be too. Without a
// join token any machine that reaches the coordinator could join as a
// worker. It would be sent jobs with their environment and files.
// Beyond loopback both tokens are needed unless --insecure is given.
// --insecure never waives the join token that API tokens call for.
func (sf *serverFlags) checkTokens() error {
	tokens := splitTokens(sf.apiToken)
	switch {
	case len(tokens) > 0 && sf.joinToken == "":
		return errors.New("API tokens are set but no join token: any machine that reaches this coordinator could register as a worker and be sent jobs, their environment and files included. " +
			"Set DROVER_JOIN_TOKEN or give --join-token-file as well")
	case isLoopback(sf.listen) || sf.insecure || len(tokens) > 0:
		return nil
	}
	missing := "DROVER_API_TOKEN and DROVER_JOIN_TOKEN (or give --api-token-file and --join-token-file)"
	if sf.joinToken != "" {
		missing = "DROVER_API_TOKEN (or give --api-token-file) as well: without it anyone could submit and cancel jobs"
	}
	return fmt.Errorf("refusing to listen on %s without tokens: anyone who can reach it could run commands. Set %s, or pass --insecure", sf.listen, missing)
}

// startCoordinator opens the store, starts the coordinator and serves the
// HTTP API and UI on sf.listen.
// It returns once the listener is open. Serving goes on in the background,
// and its end arrives on the process's served channel.
func startCoordinator(ctx context.Context, sf *serverFlags, log *slog.Logger) (*coordinatorProcess, error) {
	if err := sf.checkTLS(); err != nil {
		return nil, err
	}
	limits, err := sf.bundleLimits()
	if err != nil {
		return nil, err
	}
	st, err := sf.openStore(ctx)
	if err != nil {
		return nil, err
	}
	coord, err := sf.newCoordinator(st, log, limits)
	if err != nil {
		st.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", sf.listen)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen on %s: %w", sf.listen, err)
	}
	if err := coord.Start(ctx); err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	return sf.serve(ctx, ln, coord, st, log, limits), nil
}

// checkTLS checks that --tls-cert and --tls-key go together and load.
// It runs before anything is announced. Serving would find a bad pair only
// after the listening line.
func (sf *serverFlags) checkTLS() error {
	if (sf.tlsCert == "") != (sf.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if sf.tlsCert == "" {
		return nil
	}
	if _, err := tls.LoadX509KeyPair(sf.tlsCert, sf.tlsKey); err != nil {
		return fmt.Errorf("--tls-cert %s and --tls-key %s: %w", sf.tlsCert, sf.tlsKey, err)
	}
	return nil
}

// bundleLimits reads the --bundle-* flags.
func (sf *serverFlags) bundleLimits() (bundle.Limits, error) {
	maxSize, err := drover.ParseMemory(sf.bundleMaxSize)
	if err != nil {
		return bundle.Limits{}, fmt.Errorf("--bundle-max-size (DROVER_BUNDLE_MAX_SIZE): %w", err)
	}
	maxUnpacked, err := drover.ParseMemory(sf.bundleMaxUnpacked)
	if err != nil {
		return bundle.Limits{}, fmt.Errorf("--bundle-max-unpacked (DROVER_BUNDLE_MAX_UNPACKED): %w", err)
	}
	return bundle.Limits{MaxCompressed: maxSize << 20, MaxUnpacked: maxUnpacked << 20, MaxFiles: sf.bundleMaxFiles, MaxRatio: sf.bundleMaxRatio}, nil
}

// openStore opens the SQLite store in the --data folder, made if missing.
func (sf *serverFlags) openStore(ctx context.Context) (*sqlite.Store, error) {
	if err := os.MkdirAll(sf.data, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	outCap, err := drover.ParseMemory(sf.outputCap)
	if err != nil {
		return nil, fmt.Errorf("--output-cap (DROVER_OUTPUT_CAP): %w", err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(sf.data, "drover.db"), sqlite.Options{OutputCap: outCap << 20})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}

// newCoordinator makes the coordinator on st from the flags.
// Its metrics registry holds the process's own metrics too.
func (sf *serverFlags) newCoordinator(st *sqlite.Store, log *slog.Logger, limits bundle.Limits) (*coordinator.Coordinator, error) {
	reg := metrics.NewRegistry()
	metrics.RegisterProcess(reg)
	return coordinator.New(coordinator.Config{
		Store: st, Logger: log, Metrics: reg,
		HeartbeatInterval: sf.hbInterval, HeartbeatTimeout: sf.hbTimeout, AckTimeout: sf.ackTimeout,
		FleetRetries: sf.fleetRetries, NoFleetRetries: sf.fleetRetries == 0,
		BundleLimits: limits, Retention: sf.retention, DownRetention: sf.downRetention, GCInterval: sf.gcInterval,
	})
}

// serve serves the API and UI of coord on ln in the background.
// Requests' contexts end with the process's base context, which shutdown
// cancels.
func (sf *serverFlags) serve(ctx context.Context, ln net.Listener, coord *coordinator.Coordinator, st *sqlite.Store, log *slog.Logger, limits bundle.Limits) *coordinatorProcess {
	tokens := splitTokens(sf.apiToken)
	srv := httpapi.Server(httpapi.Config{Coordinator: coord, Logger: log, APITokens: tokens, JoinToken: sf.joinToken, UI: uiHandler(),
		MaxBundleBody: limits.MaxCompressed + 1<<20, BundleUploads: sf.bundleUploads, MetricsPublic: sf.metricsPublic})
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	srv.BaseContext = func(net.Listener) context.Context { return baseCtx }
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	scheme := "http"
	if sf.tlsCert != "" {
		scheme = "https"
	}
	p := &coordinatorProcess{url: scheme + "://" + ln.Addr().String(), log: log, srv: srv, coord: coord, served: make(chan error, 1), baseCtx: cancelBase}
	var once sync.Once
	p.close = func() { once.Do(func() { coord.Stop(); st.Close() }) }
	go func() {
		var err error
		if sf.tlsCert != "" {
			err = srv.ServeTLS(ln, sf.tlsCert, sf.tlsKey)
		} else {
			err = srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		p.served <- err
	}()
	log.Info("listening", "url", p.url, "data", sf.data, "api_tokens", len(tokens) > 0, "join_token", sf.joinToken != "")
	return p
}

// shutdown stops serving.
// Long-polls and follow streams end, and their clients reconnect to the
// next coordinator. Requests in flight get a bound to finish.
func (p *coordinatorProcess) shutdown() {
	p.baseCtx()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(sctx)
	p.close()
}

// startFromFlags makes the logger, checks the flags and starts the
// coordinator.
// On failure it has said why and returns the exit code.
func startFromFlags(ctx context.Context, a *app, sf *serverFlags) (*coordinatorProcess, *slog.Logger, int) {
	log, err := newLogger(a, sf.logLevel)
	if err != nil {
		a.errorf("%v", err)
		return nil, nil, exitUsage
	}
	if err := sf.validate(); err != nil {
		a.errorf("%v", err)
		return nil, nil, exitUsage
	}
	if err := sf.checkTokens(); err != nil {
		a.errorf("%v", err)
		return nil, nil, exitUsage
	}
	p, err := startCoordinator(ctx, sf, log)
	if err != nil {
		a.errorf("%v", err)
		return nil, nil, exitError
	}
	return p, log, exitOK
}

func cmdServer(ctx context.Context, a *app, args []string) int {
	fs := newFlags(a, "server")
	var sf serverFlags
	sf.add(a, fs, "127.0.0.1:8080", "./drover-data")
	if _, err := parse(fs, args); err != nil {
		return usageCode(err)
	}
	if err := a.envError(fs); err != nil {
		a.errorf("%v", err)
		return exitUsage
	}
	if err := sf.resolveTokens(a, fs); err != nil {
		a.errorf("%v", err)
		return exitUsage
	}
	p, log, code := startFromFlags(ctx, a, &sf)
	if p == nil {
		return code
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-p.served:
		if err != nil {
			a.errorf("serve: %v", err)
			p.close()
			return exitError
		}
	}
	p.shutdown()
	return exitOK
}

// validate refuses flag values the coordinator cannot take.
// The error names the flag and its variable. It is bad usage, exit 2.
func (sf *serverFlags) validate() error {
	positive := []struct {
		flag, env string
		d         time.Duration
	}{
		{"--heartbeat-interval", "DROVER_HEARTBEAT_INTERVAL", sf.hbInterval},
		{"--heartbeat-timeout", "DROVER_HEARTBEAT_TIMEOUT", sf.hbTimeout},
		{"--ack-timeout", "DROVER_ACK_TIMEOUT", sf.ackTimeout},
		{"--retention", "DROVER_RETENTION", sf.retention},
		{"--down-retention", "DROVER_DOWN_RETENTION", sf.downRetention},
		{"--gc-interval", "DROVER_GC_INTERVAL", sf.gcInterval},
	}
	for _, p := range positive {
		if p.d <= 0 {
			return fmt.Errorf("%s (%s) is %s: it must be a positive duration, e.g. 30s or 24h", p.flag, p.env, p.d)
		}
	}
	sizes := []struct{ flag, env, v string }{
		{"--bundle-max-size", "DROVER_BUNDLE_MAX_SIZE", sf.bundleMaxSize},
		{"--bundle-max-unpacked", "DROVER_BUNDLE_MAX_UNPACKED", sf.bundleMaxUnpacked},
		{"--output-cap", "DROVER_OUTPUT_CAP", sf.outputCap},
	}
	for _, sz := range sizes {
		if _, err := drover.ParseMemory(sz.v); err != nil {
			return fmt.Errorf("%s (%s): %w", sz.flag, sz.env, err)
		}
	}
	switch {
	case sf.hbTimeout <= sf.hbInterval:
		return fmt.Errorf("--heartbeat-timeout (%s) must be longer than --heartbeat-interval (%s): a few intervals, so one late heartbeat does not lose a worker", sf.hbTimeout, sf.hbInterval)
	case sf.bundleMaxFiles < 1:
		return fmt.Errorf("--bundle-max-files (DROVER_BUNDLE_MAX_FILES) is %d: it must be at least 1", sf.bundleMaxFiles)
	case sf.bundleMaxRatio < 1:
		return fmt.Errorf("--bundle-max-ratio (DROVER_BUNDLE_MAX_RATIO) is %d: it must be at least 1", sf.bundleMaxRatio)
	case sf.bundleUploads < 1:
		return fmt.Errorf("--bundle-uploads (DROVER_BUNDLE_UPLOADS) is %d: it must be at least 1", sf.bundleUploads)
	case sf.fleetRetries < 0:
		return fmt.Errorf("--fleet-retries is %d: it must not be negative", sf.fleetRetries)
	}
	return nil
}
