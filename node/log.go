package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	cmtlog "github.com/cometbft/cometbft/libs/log"
)

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger builds the process logger from the log config.
func NewLogger(w io.Writer, c LogConfig) (*slog.Logger, error) {
	level, err := parseLevel(c.Level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(c.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// cometLogger adapts slog to CometBFT's logger interface, at its own minimum level.
type cometLogger struct {
	l   *slog.Logger
	min slog.Level
}

func newCometLogger(l *slog.Logger, level string) (cmtlog.Logger, error) {
	min, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	return cometLogger{l: l.With("module", "cometbft"), min: min}, nil
}

func (c cometLogger) log(level slog.Level, msg string, kv []any) {
	if level < c.min {
		return
	}
	c.l.Log(context.Background(), level, msg, kv...)
}

func (c cometLogger) Debug(msg string, kv ...any) { c.log(slog.LevelDebug, msg, kv) }
func (c cometLogger) Info(msg string, kv ...any)  { c.log(slog.LevelInfo, msg, kv) }
func (c cometLogger) Error(msg string, kv ...any) { c.log(slog.LevelError, msg, kv) }
func (c cometLogger) With(kv ...any) cmtlog.Logger {
	return cometLogger{l: c.l.With(kv...), min: c.min}
}
