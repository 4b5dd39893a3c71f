package pherry

import (
	"fmt"
	"io"
	"log/slog"
	"time"
)

// progress reports sync progress: a line redrawn in place on a terminal, a log line every ten
// seconds otherwise.
type progress struct {
	term    io.Writer // nil unless a terminal
	log     *slog.Logger
	started time.Time
	from    int64
	last    time.Time
	now     func() time.Time
}

func (p *progress) update(height, target int64) {
	now := p.now()
	if p.started.IsZero() || height < p.from {
		p.started, p.from = now, height
	}
	elapsed := now.Sub(p.started).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(height-p.from) / elapsed
	}
	eta := "-"
	if rate > 0 && target > height {
		eta = (time.Duration(float64(target-height)/rate) * time.Second).Round(time.Second).String()
	}
	if p.term != nil {
		pct := 100.0
		if target > 0 {
			pct = 100 * float64(height) / float64(target)
		}
		fmt.Fprintf(p.term, "\rsyncing %d/%d (%.1f%%) %.0f blocks/s ETA %s   ", height, target, pct, rate, eta)
		return
	}
	if now.Sub(p.last) >= 10*time.Second {
		p.last = now
		p.log.Info("sync progress", "height", height, "target", target, "blocks_per_s", int(rate), "eta", eta)
	}
}
