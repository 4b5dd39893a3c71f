package node

import (
	"context"
	"io"
	"log/slog"
	"strings"

	cmtlog "github.com/cometbft/cometbft/libs/log"

	"github.com/phala-go/phala/logging"
)

func parseLevel(s string) (slog.Level, error) { return logging.ParseLevel(s) }

// NewLogger builds the process logger from the log config.
func NewLogger(w io.Writer, c LogConfig) (*slog.Logger, error) {
	return logging.New(w, c.Level, c.Format)
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
	if level == slog.LevelError && benignAtShutdown(msg, kv) {
		level = slog.LevelDebug
	}
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

// benignAtShutdown recognises the errors CometBFT logs on every clean stop (its listeners report
// their own closing), which would otherwise teach operators to ignore error lines.
func benignAtShutdown(msg string, kv []any) bool {
	if msg == "Stopped accept routine, as transport is closed" {
		return true
	}
	for _, v := range kv {
		if err, ok := v.(error); ok && strings.Contains(err.Error(), "use of closed network connection") {
			return true
		}
	}
	return false
}
