package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

func TestConfigFill(t *testing.T) {
	var cfg Config
	cfg.fill()
	if cfg.Logger == nil || cfg.PollWait != DefaultPollWait || cfg.OutputBuffer != DefaultOutputBuffer ||
		cfg.BundleCache != DefaultBundleCache || cfg.WorkspaceCheck != DefaultWorkspaceCheck ||
		cfg.WorkspaceLimit != DefaultWorkspaceLimit || cfg.Grace != DefaultGrace || cfg.WorkDir != DefaultWorkDir(cfg.Name) {
		t.Errorf("filled zero config = %+v, want every default", cfg)
	}

	// No* turns a bound off, whatever its field says.
	cfg = Config{Name: "w1", Grace: time.Minute, NoGrace: true, WorkspaceLimit: 5, NoWorkspaceLimit: true, WorkDir: "/srv/w"}
	cfg.fill()
	if cfg.Grace != 0 || cfg.WorkspaceLimit != 0 || cfg.Name != "w1" || cfg.WorkDir != "/srv/w" {
		t.Errorf("filled config = grace %s, limit %d, name %q, work dir %q; want no grace, no limit, and the name and work dir given",
			cfg.Grace, cfg.WorkspaceLimit, cfg.Name, cfg.WorkDir)
	}
}

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{Server: "http://c", Executors: []Executor{namedExecutor(drover.ExecutorNoop)},
			Capacity: drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 1}}
	}
	for _, c := range []struct {
		name   string
		change func(*Config)
		want   string // in the error; "" for none
	}{
		{"good", func(*Config) {}, ""},
		{"no server", func(c *Config) { c.Server = "" }, "Server is required"},
		{"no executor", func(c *Config) { c.Executors = nil }, "no executor"},
		{"no slots", func(c *Config) { c.Capacity.Slots = 0 }, "capacity must be positive"},
		{"no memory", func(c *Config) { c.Capacity.MemoryMB = -1 }, "capacity must be positive"},
		{"negative workspace limit", func(c *Config) { c.WorkspaceLimit = -1 }, "WorkspaceLimit is -1"},
	} {
		cfg := good()
		c.change(&cfg)
		err := cfg.validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: validate = %v, want an error saying %q", c.name, err, c.want)
		}
	}
}
