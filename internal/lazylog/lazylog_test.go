package lazylog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// A lazy logger logs what l.With would have, groups included, and formats
// nothing below the handler's level.
func TestLogsAsWithWould(t *testing.T) {
	var lazy, eager bytes.Buffer
	newLogger := func(b *bytes.Buffer) *slog.Logger {
		return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo,
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}))
	}
	use := func(l *slog.Logger) {
		l.Debug("hidden", "k", 1)
		l.Info("one", "k", 1)
		l.With("more", true).WithGroup("g").Warn("two", "k", 2)
		l.WithGroup("h").With("in", "group").Error("three")
	}
	use(With(newLogger(&lazy), "attempt", "att_1", slog.Int("pid", 42)))
	use(newLogger(&eager).With("attempt", "att_1", slog.Int("pid", 42)))
	if lazy.String() != eager.String() {
		t.Errorf("lazy logger wrote\n%s\nwith would have written\n%s", lazy.String(), eager.String())
	}
	if strings.Contains(lazy.String(), "hidden") || !strings.Contains(lazy.String(), `level=INFO msg=one attempt=att_1 pid=42 k=1`) {
		t.Errorf("unexpected output:\n%s", lazy.String())
	}
}

type counting struct {
	slog.Handler
	withAttrs *int
}

func (c counting) WithAttrs(as []slog.Attr) slog.Handler {
	*c.withAttrs++
	return counting{c.Handler.WithAttrs(as), c.withAttrs}
}

// Nothing is bound while nothing is logged.
func TestBindsOnlyWhenLogging(t *testing.T) {
	n := 0
	var b bytes.Buffer
	l := With(slog.New(counting{slog.NewTextHandler(&b, nil), &n}), "attempt", "att_1")
	l.Debug("below the level")
	if n != 0 {
		t.Fatalf("attributes bound %d times before anything was logged", n)
	}
	l.Info("a")
	l.Info("b")
	if n != 1 {
		t.Errorf("attributes bound %d times for two records, want once", n)
	}
}
