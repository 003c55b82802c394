// Package cli is drover's command line.
// It holds the subcommands, their flags and the DROVER_* environment
// variables. It is the only package that reads flags and the environment.
// It is also the one place that picks the adapters, such as the store and
// the executors, and wires them together.
//
// Each file holds one command, or one group such as the job commands in
// jobs.go.
package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
)

// Exit codes of the CLI. drover run exits with the job's own exit code, or
// one of these.
const (
	exitOK        = 0
	exitError     = 1   // the command failed (message on stderr)
	exitUsage     = 2   // bad flags or arguments
	exitTimeout   = 124 // the job timed out (as timeout(1))
	exitDrover    = 125 // drover could not run the job (as docker run)
	exitCancelled = 130 // the job was cancelled (as after Ctrl-C)
	exitOOM       = 137 // the job was killed for exceeding its memory (128+SIGKILL)
	exitWorkspace = 153 // the job wrote past its workspace limit (128+SIGXFSZ)
)

const defaultServer = "http://127.0.0.1:8080"

type command struct {
	name, args, short string
	run               func(ctx context.Context, a *app, args []string) int
}

var commands []command

func init() {
	commands = []command{
		{"dev", "[flags]", "run a coordinator, a local worker and the web UI on 127.0.0.1:8080", cmdDev},
		{"server", "[flags]", "run a coordinator (API, scheduler, store, web UI)", cmdServer},
		{"worker", "--server URL [flags]", "run a worker that takes jobs from a coordinator", cmdWorker},
		{"run", "[flags] [--] COMMAND [ARG...]", "run a job, stream its output, exit with its exit code", cmdRun},
		{"submit", "[flags] [--] COMMAND [ARG...]", "queue a job and print its id", cmdSubmit},
		{"logs", "[-f] [--stream S] [--attempt N] JOB", "print a job's output (-f: follow until it ends)", cmdLogs},
		{"status", "[--json] JOB", "show a job's state, attempts and exit code", cmdStatus},
		{"cancel", "JOB...", "cancel jobs", cmdCancel},
		{"jobs", "[--state S[,S...]] [--limit N] [--cursor C] [--json]", "list jobs, newest first", cmdJobs},
		{"workers", "[--json]", "list workers with capacity and usage", cmdWorkers},
		{"bench", "[flags]", "measure throughput and latencies with real workers on loopback", cmdBench},
		{"version", "", "print the version", cmdVersion},
	}
}

// app carries the standard streams and the environment.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string

	badEnv []badEnv // environment variables their flags could not take
}

// badEnv is an environment variable whose value its flag refused.
type badEnv struct {
	flag string
	err  error // says what is wrong with the value, naming the variable
}

// fromEnv makes the environment variable key, when set, the value of flag
// name. The command line still wins. Call it after defining the flag and
// before parse. A value the flag cannot take is kept for envError. That
// reports it if the command line does not give the flag instead.
func (a *app) fromEnv(fs *flag.FlagSet, name, key string) {
	v := a.getenv(key)
	if v == "" {
		return
	}
	if err := fs.Set(name, v); err != nil {
		a.badEnv = append(a.badEnv, badEnv{flag: name, err: fmt.Errorf("%s=%q is %s", key, v, flagWants(fs.Lookup(name), err))})
	}
}

// envError returns the first environment variable fromEnv could not use
// for a flag the command line did not give.
func (a *app) envError(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, b := range a.badEnv {
		if !given[b.flag] {
			return fmt.Errorf("%w: fix or unset it (or give --%s, which wins)", b.err, b.flag)
		}
	}
	return nil
}

// flagWants says what a flag's value must be, for the message of a value
// it refused.
func flagWants(f *flag.Flag, err error) string {
	if g, ok := f.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case time.Duration:
			return "not a duration (use a number and a unit, like 30s, 5m or 1h)"
		case int, int64, uint, uint64:
			return "not a whole number"
		case bool:
			return "not true or false (use 1, true, 0 or false)"
		}
	}
	return err.Error()
}

// errorf prints a message on stderr, on one line, through printable. The
// message often carries a coordinator's text or a value from it.
func (a *app) errorf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "drover: %s\n", printable(fmt.Sprintf(format, args...)))
}

// Main runs the CLI and returns the process exit code. ctx is cancelled on
// SIGINT or SIGTERM.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, getenv: os.Getenv}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			return Main(ctx, []string{args[1], "--help"}, stdout, stderr)
		}
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "--version" || args[0] == "-v" {
		args[0] = "version"
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, a, args[1:])
		}
	}
	if args[0] == guardCommand { // hidden: started by drover worker
		return cmdDockerGuard(ctx, a, args[1:])
	}
	a.errorf("unknown command %q; run 'drover help' for the list", args[0])
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `drover runs commands on a fleet of machines: it picks a worker with room,
runs the command (in a container or as a process), streams the output live
and reports how it ended.

Usage: drover COMMAND [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.short)
	}
	fmt.Fprintf(w, `
Start here:
  drover dev                          # coordinator + worker + UI on http://127.0.0.1:8080
  drover run -- echo hello            # in another terminal

Client commands talk to --server (env DROVER_SERVER, default %s)
with --token (env DROVER_TOKEN) when the server requires one.
Run 'drover COMMAND --help' for a command's flags.
`, defaultServer)
}

// newFlags returns a FlagSet whose usage names the command.
func newFlags(a *app, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("drover "+name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		for _, c := range commands {
			if c.name == name {
				fmt.Fprintf(a.stderr, "Usage: drover %s %s\n\n%s.\n\nFlags:\n", c.name, c.args, upperFirst(c.short))
			}
		}
		fs.PrintDefaults()
	}
	return fs
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// parse parses flags that may come before or after positional arguments
// (drover logs JOB -f), and returns the positional ones. An error has been
// printed; the caller exits with exitUsage (or 0 for --help).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		// fs.Parse stops at "--" (consumed) or at the first positional.
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func usageCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

// clientFlags adds --server and --token.
type clientFlags struct {
	server, token string
}

func (cf *clientFlags) add(a *app, fs *flag.FlagSet) {
	fs.StringVar(&cf.server, "server", envOr(a, "DROVER_SERVER", defaultServer), "coordinator URL (env DROVER_SERVER)")
	fs.StringVar(&cf.token, "token", a.getenv("DROVER_TOKEN"), "API token (env DROVER_TOKEN)")
}

func (cf *clientFlags) client() *client.Client {
	return client.New(cf.server, client.WithToken(cf.token))
}

// specFlags name the flag of run and submit that sets a job spec's field,
// for the API's messages, which name the field.
var specFlags = map[string]string{
	"resources.cpu": "--cpu", "resources.memoryMB": "--memory", "timeout": "--timeout", "maxRetries": "--retries",
	"retryOn": "--retry-on", "env": "--env", "constraints": "--constraint", "name": "--name", "priority": "--priority",
	"executor": "--executor", "image": "--image", "bundle": "--bundle",
}

// serverURLError says what is wrong with a coordinator URL that cannot
// work, or returns nil. A host and port without http:// cannot, say.
func serverURLError(server string) error {
	if u, err := url.Parse(server); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return nil
	}
	host := strings.TrimPrefix(server, "//")
	if _, after, ok := strings.Cut(server, "://"); ok {
		host = after
	}
	return fmt.Errorf("--server (or DROVER_SERVER) %q is not a coordinator URL: write it as http:// or https:// and the address, like http://%s", server, host)
}

func envOr(a *app, key, def string) string {
	if v := a.getenv(key); v != "" {
		return v
	}
	return def
}

// apiError prints a client error in a form a user can act on.
func (a *app) apiError(server string, err error) {
	var de *drover.Error
	if errors.As(err, &de) {
		if strings.Contains(de.Message, "HTTP request to an HTTPS server") {
			a.errorf("the coordinator at %s speaks HTTPS (it answered %q): use https:// in --server (or DROVER_SERVER)", server, de.Message)
			return
		}
		if f := specFlags[de.Field]; f != "" {
			a.errorf("%s (%s)", de.Message, f)
		} else {
			a.errorf("%s", de.Message)
		}
		return
	}
	if errors.Is(err, context.Canceled) {
		a.errorf("interrupted")
		return
	}
	var le localError
	if errors.As(err, &le) {
		a.errorf("%v", err)
		return
	}
	if client.Untrusted(err) {
		var host x509.HostnameError
		if errors.As(err, &host) {
			a.errorf("the coordinator's certificate is not for %s: %v (use in --server the name it was issued for, or have it issued for this address)", server, err)
			return
		}
		a.errorf("cannot trust the coordinator at %s: %v (add its CA to the system's, or point SSL_CERT_FILE at it)", server, err)
		return
	}
	if err := serverURLError(server); err != nil {
		a.errorf("%v", err)
		return
	}
	a.errorf("cannot reach the coordinator at %s: %v (is 'drover dev' or 'drover server' running? set --server or DROVER_SERVER)", server, err)
}

func cmdVersion(_ context.Context, a *app, args []string) int {
	fs := newFlags(a, "version")
	pos, err := parse(fs, args)
	if err != nil {
		return usageCode(err)
	}
	if len(pos) > 0 {
		a.errorf("version takes no arguments (got %q)", pos)
		return exitUsage
	}
	fmt.Fprintf(a.stdout, "drover %s\n", drover.Version)
	return exitOK
}
