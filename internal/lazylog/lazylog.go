// Package lazylog binds attributes to a logger without formatting them until
// something is logged.
//
// slog's Logger.With hands the attributes to the handler at once, and the
// standard handlers format them then. A logger made per attempt, with the
// attempt's id, the job's and the process id, then costs an allocation
// and some formatting on every run. That cost is paid even when nothing is
// logged at the worker's level, which is the fate of almost every attempt.
package lazylog

import (
	"context"
	"log/slog"
	"slices"
	"sync"
)

// With returns a logger that logs as l.With(args...) would. It formats args
// only when the first record is handled. A value that changes, or an
// slog.LogValuer, is read then, not when With is called. Pass values that
// do not change.
func With(l *slog.Logger, args ...any) *slog.Logger {
	return slog.New(&handler{h: l.Handler(), attrs: argsToAttrs(args)})
}

type handler struct {
	h     slog.Handler
	attrs []slog.Attr

	once sync.Once
	with slog.Handler // h.WithAttrs(attrs), made once needed
}

func (l *handler) bound() slog.Handler {
	l.once.Do(func() { l.with = l.h.WithAttrs(l.attrs) })
	return l.with
}

func (l *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

func (l *handler) Handle(ctx context.Context, r slog.Record) error {
	return l.bound().Handle(ctx, r)
}

func (l *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{h: l.h, attrs: append(slices.Clip(l.attrs), attrs...)}
}

// WithGroup binds the attributes first: they stay outside the group.
func (l *handler) WithGroup(name string) slog.Handler {
	return l.bound().WithGroup(name)
}

// argsToAttrs turns With's arguments into attributes as slog does. An
// argument is a key followed by its value, or an Attr. A lone value is
// kept under !BADKEY.
func argsToAttrs(args []any) []slog.Attr {
	var attrs []slog.Attr
	for len(args) > 0 {
		switch x := args[0].(type) {
		case slog.Attr:
			attrs, args = append(attrs, x), args[1:]
		case string:
			if len(args) == 1 {
				attrs, args = append(attrs, slog.String("!BADKEY", x)), nil
			} else {
				attrs, args = append(attrs, slog.Any(x, args[1])), args[2:]
			}
		default:
			attrs, args = append(attrs, slog.Any("!BADKEY", x)), args[1:]
		}
	}
	return attrs
}
