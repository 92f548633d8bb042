package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/ports"
)

// Processor defaults.
const (
	DefaultMaxPending      = 2048
	DefaultFlushTimeout    = 2 * time.Second
	DefaultExportInterval  = 3 * time.Second
	DefaultShutdownTimeout = 5 * time.Second

	// MaxSpanAge is Dynatrace's acceptance window: spans that ended longer
	// ago are refused by the backend, so they are dropped instead of sent.
	MaxSpanAge = 60 * time.Minute
)

// Drop reasons reported by Stats.
const (
	DropBufferFull = "buffer_full" // the buffer was full; the oldest span made room
	DropExpired    = "expired"     // ended longer ago than MaxSpanAge
	DropRejected   = "rejected"    // the receiver refused the export for good
	DropShutdown   = "shutdown"    // ended after Shutdown
)

// Processor is a sdktrace.SpanProcessor for functions: OnEnd puts sampled
// spans into a bounded buffer and ForceFlush exports them inside a budget.
//
// Concurrent flushes share exports: at most one export runs at a time, each
// carries every span pending when it starts, and a flush whose spans are
// already in the running export waits for that one instead of starting its
// own. Spans of a failed export go back into the buffer for the next flush,
// unless the exporter said they were rejected for good
// (ports.ErrExportRejected). Every dropped span is counted in Stats.
//
// In background mode (WithBackgroundExport, or StartBackground later) a
// goroutine also exports every interval and whenever the buffer fills up to
// half, off the invocation path.
type Processor struct {
	exp sdktrace.SpanExporter
	cfg processorConfig

	mu       sync.Mutex
	pending  []sdktrace.ReadOnlySpan
	spare    []sdktrace.ReadOnlySpan // the last batch's buffer, empty, for the next pending
	inflight *flight
	idle     *flight // a finished flight no waiter saw, for reuse
	shutdown bool
	closing  bool          // Shutdown has begun: no background loop starts any more
	interval time.Duration // the background loop's; 0 while none runs

	// busy is set while spans are pending or an export runs, so that
	// ForceFlush returns at once, without a lock, when there is nothing to do.
	busy atomic.Bool

	wake     chan struct{} // background mode: the buffer reached half full
	stop     chan struct{} // closed by Shutdown
	done     chan struct{} // closed when the background loop has returned
	bgCtx    context.Context
	bgCancel context.CancelFunc // ends a background export Shutdown gave up waiting for

	comp completion

	shutdownOnce sync.Once
	shutdownErr  error

	started, ended, exported, exports, coalesced atomic.Uint64
	dropped                                      [4]atomic.Uint64
}

// flight is one export in progress; waiters block on done, which the
// first of them makes (see wait).
type flight struct {
	done   chan struct{}
	err    error
	shared bool // a waiter holds it: it must not be reused
	cut    bool // its budget was cut short by its caller's deadline (see flush)
}

// wait returns the channel closed when f completes. Called with p.mu held.
func (f *flight) wait() <-chan struct{} {
	if f.done == nil {
		f.done = make(chan struct{})
	}
	f.shared = true
	return f.done
}

var _ sdktrace.SpanProcessor = (*Processor)(nil)
var _ ports.BoundedFlusher = (*Processor)(nil)

type processorConfig struct {
	maxPending   int
	flushTimeout time.Duration
	interval     time.Duration // 0: no background export
	logger       *slog.Logger
	now          func() time.Time
	resourceWait time.Duration
	spanIdentity bool
}

// A ProcessorOption configures a Processor.
type ProcessorOption interface{ apply(*processorConfig) }

type processorOptionFunc func(*processorConfig)

func (f processorOptionFunc) apply(c *processorConfig) { f(c) }

// WithMaxPending bounds the number of ended spans waiting for export
// (default 2048). When the buffer is full the oldest span is dropped.
func WithMaxPending(n int) ProcessorOption {
	return processorOptionFunc(func(c *processorConfig) {
		if n > 0 {
			c.maxPending = n
		}
	})
}

// WithFlushTimeout sets the budget of one ForceFlush (default 2s). The
// caller's deadline, when earlier, wins.
func WithFlushTimeout(d time.Duration) ProcessorOption {
	return processorOptionFunc(func(c *processorConfig) {
		if d > 0 {
			c.flushTimeout = d
		}
	})
}

// WithBackgroundExport turns background mode on: spans are exported every
// interval (DefaultExportInterval when interval <= 0) and whenever the buffer
// is half full, off the invocation path. Use it when the CPU stays allocated
// between requests (Cloud Run with "CPU always allocated", long-running
// services).
func WithBackgroundExport(interval time.Duration) ProcessorOption {
	return processorOptionFunc(func(c *processorConfig) {
		if interval <= 0 {
			interval = DefaultExportInterval
		}
		c.interval = interval
	})
}

// WithProcessorLogger sets the logger for rare failures. The default
// discards.
func WithProcessorLogger(l *slog.Logger) ProcessorOption {
	return processorOptionFunc(func(c *processorConfig) {
		if l != nil {
			c.logger = l
		}
	})
}

// NewProcessor returns a Processor exporting through exp.
func NewProcessor(exp sdktrace.SpanExporter, opts ...ProcessorOption) *Processor {
	cfg := processorConfig{
		maxPending:   DefaultMaxPending,
		flushTimeout: DefaultFlushTimeout,
		logger:       slog.New(slog.DiscardHandler),
		now:          time.Now,
	}
	for _, o := range opts {
		o.apply(&cfg)
	}
	p := &Processor{exp: exp, cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	p.bgCtx, p.bgCancel = context.WithCancel(context.Background())
	p.comp.wait = cfg.resourceWait
	p.comp.identity = cfg.spanIdentity
	p.comp.ready = make(chan struct{})
	if cfg.interval > 0 {
		p.StartBackground(cfg.interval)
	}
	return p
}

// StartBackground turns background mode on after construction, for a
// pipeline whose handlers flush on exit but some of whose handlers do not:
// their spans then leave every interval (DefaultExportInterval when
// interval <= 0) and whenever the buffer fills up to half. It is a no-op
// when background mode is already on or Shutdown has begun.
func (p *Processor) StartBackground(interval time.Duration) {
	if interval <= 0 {
		interval = DefaultExportInterval
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.interval > 0 || p.closing {
		return
	}
	p.interval = interval
	p.wake = make(chan struct{}, 1)
	go p.background(interval, p.wake)
}

// OnStart counts a sampled span; see Stats.Unended. A span a sampler only
// records is not exported, so not counted either.
func (p *Processor) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	if s.SpanContext().IsSampled() {
		p.started.Add(1)
	}
}

// OnEnd buffers a sampled span for export. It never blocks on the network.
func (p *Processor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	p.ended.Add(1)
	p.mu.Lock()
	if p.shutdown {
		p.mu.Unlock()
		p.drop(DropShutdown, 1)
		return
	}
	if len(p.pending) >= p.cfg.maxPending {
		reason := DropBufferFull
		if p.pending[0].EndTime().Before(p.cfg.now().Add(-MaxSpanAge)) {
			reason = DropExpired
		}
		p.pending[0] = nil
		p.pending = p.pending[1:]
		p.drop(reason, 1)
	}
	p.pending = append(p.pending, s)
	// Wake the background loop when the buffer reaches half full, not on
	// every span above that: after a failed export puts its spans back,
	// the loop waits for its next tick instead of retrying back to back.
	var wake chan struct{}
	if len(p.pending) == max(1, p.cfg.maxPending/2) {
		wake = p.wake
	}
	if !p.busy.Load() {
		p.busy.Store(true)
	}
	p.mu.Unlock()
	if wake != nil {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// ForceFlush exports every span that ended before it was called and returns
// when they are exported, when the export failed (the spans stay buffered for
// the next flush), or when the budget ends: min(ctx's deadline, the flush
// timeout). Cancelling ctx without a deadline, as a client hanging up does,
// does not cut the flush short. With nothing pending it returns at once.
//
// The flush that runs the export calls the exporter synchronously, so the
// budget holds as long as the exporter honours its context's deadline, as
// sdktrace.SpanExporter requires (export.Exporter does, whatever the
// endpoint does).
func (p *Processor) ForceFlush(ctx context.Context) error {
	if !p.busy.Load() {
		return nil
	}
	ctx, cut, cancel := p.budget(ctx)
	defer cancel()
	return p.flush(ctx, cut)
}

// FlushBudget is the flush timeout that bounds every ForceFlush besides
// ctx's deadline (ports.BoundedFlusher).
func (p *Processor) FlushBudget() time.Duration { return p.cfg.flushTimeout }

// budget bounds a flush by the flush timeout and ctx's deadline, detached
// from ctx's cancellation; cut reports that ctx's deadline came first.
func (p *Processor) budget(ctx context.Context) (_ context.Context, cut bool, _ context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	ctx = context.WithoutCancel(ctx)
	if limit := time.Now().Add(p.cfg.flushTimeout); !ok || limit.Before(deadline) {
		deadline = limit
	} else {
		cut = true
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	return ctx, cut, cancel
}

// flush exports what is pending within ctx; cut says that ctx's deadline
// is its caller's, earlier than a whole flush timeout.
func (p *Processor) flush(ctx context.Context, cut bool) error {
	waited := false
	for {
		p.mu.Lock()
		if len(p.pending) == 0 && p.inflight == nil {
			p.mu.Unlock()
			return nil
		}
		if f := p.inflight; f != nil {
			// The running export covers this flush only when nothing ended
			// since it started; either way, wait for it first.
			covered := len(p.pending) == 0
			done := f.wait()
			p.mu.Unlock()
			if !waited {
				p.coalesced.Add(1)
				waited = true
			}
			select {
			case <-done:
				// An export that ran out of a budget its caller cut short
				// put the spans back: export them under this flush's
				// budget instead of giving up. (One that had a whole
				// flush timeout met a slow endpoint: trying again would
				// only wait on it again.)
				if covered && (f.err == nil || !f.cut || ctx.Err() != nil || !errors.Is(f.err, context.DeadlineExceeded)) {
					return f.err
				}
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if wait, ok := p.comp.claimWait(ctx); ok {
			// The first flush with spans to export waits for the complete
			// resource, outside the export slot: other flushes meanwhile
			// export with what is known, so that no other invocation waits
			// on the metadata server.
			p.mu.Unlock()
			p.comp.awaitResource(ctx, wait)
			continue
		}
		batch := p.pending
		p.pending, p.spare = p.spare, nil
		f := p.idle
		if f == nil {
			f = &flight{}
		}
		f.cut = cut
		p.idle = nil
		p.inflight = f
		p.mu.Unlock()

		err := p.export(ctx, batch)
		if err == nil {
			// Reused only after a success: a failed export's error may
			// hold this very slice (ports.UndeliveredError).
			clear(batch)
		}

		p.mu.Lock()
		p.inflight = nil
		f.err = err
		if f.done != nil {
			close(f.done)
		}
		if !f.shared {
			*f = flight{}
			p.idle = f
		}
		if err == nil && p.spare == nil && cap(batch) <= p.cfg.maxPending {
			p.spare = batch[:0]
		}
		p.busy.Store(len(p.pending) > 0)
		p.mu.Unlock()
		return err
	}
}

// export sends batch; on a retryable failure the spans that were not
// delivered go back to the front of the buffer, oldest first, within the
// bound.
func (p *Processor) export(ctx context.Context, batch []sdktrace.ReadOnlySpan) error {
	if batch = p.dropExpired(batch); len(batch) == 0 {
		return nil
	}
	p.exports.Add(1)
	err := p.exportSpans(ctx, p.comp.prepare(batch))
	p.comp.done(err)
	retry, rejected := outcome(err, batch)
	p.exported.Add(uint64(max(0, len(batch)-len(retry)-rejected)))
	p.drop(DropRejected, rejected)
	if len(retry) > 0 {
		p.requeue(retry)
	}
	return err
}

// exportSpans calls the exporter. An exporter that panics does not take
// the invocation, the background loop or Shutdown down with it: its batch
// is counted as rejected (exporting it again would panic again), and the
// panic is logged.
func (p *Processor) exportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) (err error) {
	defer func() {
		if rec := recover(); rec != nil {
			err = fmt.Errorf("%w: the exporter panicked: %v", ports.ErrExportRejected, rec)
			p.cfg.logger.Error("gcftrace: the exporter panicked; its batch is dropped", "spans", len(spans), "panic", rec)
		}
	}()
	return p.exp.ExportSpans(ctx, spans)
}

// outcome splits a failed batch by the export error: the spans to keep for
// the next flush and how many the exporter dropped for good; the others
// were delivered. Without details a rejection covers the whole batch and
// any other error means the whole batch may be retried.
func outcome(err error, batch []sdktrace.ReadOnlySpan) (retry []sdktrace.ReadOnlySpan, rejected int) {
	if err == nil {
		return nil, 0
	}
	var u ports.UndeliveredError
	var r ports.RejectedError
	hasU, hasR := errors.As(err, &u), errors.As(err, &r)
	if hasU {
		retry = ofBatch(u.Undelivered(), batch)
	}
	if hasR {
		rejected = min(max(0, r.Rejected()), len(batch)-len(retry))
	}
	switch {
	case hasU || hasR:
		return retry, rejected
	case errors.Is(err, ports.ErrExportRejected):
		return nil, len(batch)
	default:
		return batch, 0
	}
}

// ofBatch returns the spans of batch that list names, once each and in
// batch's order: what an exporter reports undelivered goes back into the
// buffer only as far as it is this batch's.
func ofBatch(list, batch []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	if len(list) == 0 {
		return nil
	}
	type spanID struct {
		trace trace.TraceID
		span  trace.SpanID
	}
	named := make(map[spanID]bool, len(list))
	for _, s := range list {
		if s != nil {
			sc := s.SpanContext()
			named[spanID{sc.TraceID(), sc.SpanID()}] = true
		}
	}
	out := make([]sdktrace.ReadOnlySpan, 0, min(len(named), len(batch)))
	for _, s := range batch {
		sc := s.SpanContext()
		if id := (spanID{sc.TraceID(), sc.SpanID()}); named[id] {
			out = append(out, s)
			delete(named, id)
		}
	}
	return out
}

func (p *Processor) requeue(batch []sdktrace.ReadOnlySpan) {
	keep := make([]sdktrace.ReadOnlySpan, len(batch))
	for i, s := range batch {
		keep[i] = original(s)
	}
	keep = p.dropExpired(keep)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutdown {
		// An export that outlived Shutdown's deadline failed: its spans
		// have nowhere to go.
		p.drop(DropShutdown, len(keep))
		return
	}
	merged := append(keep, p.pending...)
	if over := len(merged) - p.cfg.maxPending; over > 0 {
		p.drop(DropBufferFull, over)
		merged = merged[over:]
	}
	p.pending = merged
	if len(merged) > 0 {
		p.busy.Store(true)
	}
}

// dropExpired removes, in place, the spans Dynatrace would refuse because
// they ended longer ago than MaxSpanAge, and counts them.
func (p *Processor) dropExpired(batch []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	cutoff := p.cfg.now().Add(-MaxSpanAge)
	n := 0
	for _, s := range batch {
		if s.EndTime().Before(cutoff) {
			continue
		}
		batch[n] = s
		n++
	}
	if dropped := len(batch) - n; dropped > 0 {
		clear(batch[n:])
		p.drop(DropExpired, dropped)
	}
	return batch[:n]
}

func (p *Processor) background(interval time.Duration, wakeup chan struct{}) {
	defer close(p.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	wake := wakeup
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		case <-wake:
		}
		ctx, cancel := context.WithTimeout(p.bgCtx, p.cfg.flushTimeout)
		err := p.flush(ctx, false)
		cancel()
		if err != nil {
			p.cfg.logger.Debug("gcftrace: background export", "err", err)
			wake = nil // retry on the next tick, not back to back
		} else {
			wake = wakeup
		}
	}
}

// Shutdown stops background work, makes a final flush bounded by ctx
// (DefaultShutdownTimeout when ctx has no deadline; its exports are marked
// ports.WithFinalExport) and shuts the exporter down. Spans ending afterwards are dropped and counted. It is idempotent.
func (p *Processor) Shutdown(ctx context.Context) error {
	p.shutdownOnce.Do(func() {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, DefaultShutdownTimeout)
			defer cancel()
		}
		defer p.bgCancel()
		p.mu.Lock()
		p.closing = true
		looping := p.interval > 0
		p.mu.Unlock()
		close(p.stop)
		if looping {
			select { // a background export under way ends by its own budget
			case <-p.done:
			case <-ctx.Done():
				p.bgCancel()
			}
		}
		// Flush until nothing is left, so that spans ending during the
		// final export leave too, within ctx. The exports are marked
		// final: an exporter that believes the endpoint down tries them
		// anyway, since nothing comes after them.
		final := ports.WithFinalExport(ctx)
		var err error
		for {
			err = p.flush(final, false)
			p.mu.Lock()
			if err != nil || ctx.Err() != nil || len(p.pending) == 0 {
				break // with p.mu held
			}
			p.mu.Unlock()
		}
		p.shutdown = true
		left := len(p.pending)
		p.pending = nil
		p.busy.Store(false)
		p.mu.Unlock()
		p.drop(DropShutdown, left)
		p.shutdownErr = errors.Join(err, p.shutdownExporter(ctx))
	})
	return p.shutdownErr
}

// shutdownExporter shuts the exporter down; a panic comes back as an error.
func (p *Processor) shutdownExporter(ctx context.Context) (err error) {
	defer func() {
		if rec := recover(); rec != nil {
			err = fmt.Errorf("gcftrace: the exporter panicked in Shutdown: %v", rec)
		}
	}()
	return p.exp.Shutdown(ctx)
}

func (p *Processor) drop(reason string, n int) {
	if n <= 0 {
		return
	}
	p.dropped[dropIndex(reason)].Add(uint64(n))
}

func dropIndex(reason string) int {
	switch reason {
	case DropBufferFull:
		return 0
	case DropExpired:
		return 1
	case DropRejected:
		return 2
	default:
		return 3
	}
}

// ProcessorStats are a Processor's counters since it was created.
type ProcessorStats struct {
	Pending   int               // ended spans waiting for export
	Exported  uint64            // spans the exporter accepted
	Dropped   map[string]uint64 // spans given up, by reason (Drop* constants)
	Exports   uint64            // ExportSpans calls
	Coalesced uint64            // flushes (ForceFlush, background, Shutdown) that waited for another one's export
	Started   uint64            // sampled spans started (a span a sampler only records is not exported)
	Unended   uint64            // spans started but not ended yet
}

// Stats reports the processor's counters.
func (p *Processor) Stats() ProcessorStats {
	p.mu.Lock()
	pending := len(p.pending)
	p.mu.Unlock()
	// ended before started: a span that starts and ends between the two
	// reads then counts as unended for this one read, rather than hiding a
	// span that never ended.
	ended := p.ended.Load()
	started := p.started.Load()
	s := ProcessorStats{
		Pending:   pending,
		Exported:  p.exported.Load(),
		Exports:   p.exports.Load(),
		Coalesced: p.coalesced.Load(),
		Started:   started,
		Dropped:   map[string]uint64{},
	}
	if started > ended {
		s.Unended = started - ended
	}
	for _, r := range []string{DropBufferFull, DropExpired, DropRejected, DropShutdown} {
		if n := p.dropped[dropIndex(r)].Load(); n > 0 {
			s.Dropped[r] = n
		}
	}
	return s
}
