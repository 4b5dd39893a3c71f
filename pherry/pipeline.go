package pherry

import (
	"context"
	"time"

	"github.com/phala-go/phala/pruntime/api"
)

// pipelineDepth is how many batches are fetched ahead of the runtime.
const pipelineDepth = 3

// fetched is one batch of blocks, or the error fetching it.
type fetched struct {
	from, to int64
	blocks   []*api.Block
	err      error
}

// pipeline fetches batches ahead of the runtime, so fetching overlaps verification.
type pipeline struct {
	next   int64 // the first height the consumer expects
	out    chan fetched
	cancel context.CancelFunc
}

// startPipeline fetches from height from on, never beyond what tip returns. It keeps the
// fetcher it starts with: a reconnect drops the pipeline and starts another.
func (r *Relayer) startPipeline(ctx context.Context, from int64, tip func(context.Context) (int64, error)) *pipeline {
	ctx, cancel := context.WithCancel(ctx)
	fetch, batch := r.fetch, int64(r.cfg.Batch)
	p := &pipeline{next: from, out: make(chan fetched, pipelineDepth), cancel: cancel}
	go func() {
		defer close(p.out)
		for h := from; ctx.Err() == nil; {
			top, err := tip(ctx)
			if err == nil && h > top {
				if !sleep(ctx, 200*time.Millisecond) {
					return
				}
				continue
			}
			var f fetched
			if err != nil {
				f.err = err
			} else {
				f.from, f.to = h, min(h+batch-1, top)
				f.blocks, f.err = fetch.blocks(ctx, f.from, f.to)
			}
			select {
			case p.out <- f:
			case <-ctx.Done():
				return
			}
			if f.err != nil {
				return
			}
			h = f.to + 1
		}
	}()
	return p
}

// take returns the next batch, or ok=false when the pipeline has ended.
func (p *pipeline) take(ctx context.Context) (f fetched, ok bool) {
	select {
	case f, ok = <-p.out:
		if ok && f.err == nil {
			p.next = f.to + 1
		}
		return f, ok
	case <-ctx.Done():
		return fetched{err: ctx.Err()}, true
	}
}

func (p *pipeline) stop() {
	p.cancel()
	for range p.out {
	}
}
