package core_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/core"
	"github.com/gcftrace/gcftrace/ports"
)

// gateExporter blocks each export until release is closed (nil: no gate)
// and fails while fail is set.
type gateExporter struct {
	tracetest.InMemoryExporter
	calls   atomic.Int64
	fail    atomic.Pointer[error]
	release chan struct{}
}

func (g *gateExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	g.calls.Add(1)
	if g.release != nil {
		select {
		case <-g.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := g.fail.Load(); err != nil {
		return *err
	}
	return g.InMemoryExporter.ExportSpans(ctx, spans)
}

// waitStarted returns once the first export has begun.
func (g *gateExporter) waitStarted() {
	for g.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
}

// Shutdown keeps the recorded spans (the in-memory exporter's resets them).
func (g *gateExporter) Shutdown(context.Context) error { return nil }

func newProvider(p *core.Processor) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p))
}

func endSpans(tp *sdktrace.TracerProvider, n int) {
	tr := tp.Tracer("test")
	for i := range n {
		_, s := tr.Start(context.Background(), fmt.Sprintf("span-%d", i))
		s.End()
	}
}

func TestProcessorFlushExportsPending(t *testing.T) {
	exp := &gateExporter{}
	p := core.NewProcessor(exp)
	tp := newProvider(p)
	endSpans(tp, 3)
	if err := p.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := len(exp.GetSpans()); got != 3 {
		t.Fatalf("exported %d spans, want 3", got)
	}
	st := p.Stats()
	if st.Exported != 3 || st.Pending != 0 || st.Exports != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestProcessorFlushWithNothingPendingCostsNoExport(t *testing.T) {
	exp := &gateExporter{}
	p := core.NewProcessor(exp)
	for range 5 {
		if err := p.ForceFlush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := exp.calls.Load(); n != 0 {
		t.Fatalf("%d exports for empty flushes, want 0", n)
	}
}

func TestProcessorFailedExportKeepsSpans(t *testing.T) {
	exp := &gateExporter{}
	down := errors.New("endpoint down")
	exp.fail.Store(&down)
	p := core.NewProcessor(exp)
	tp := newProvider(p)
	endSpans(tp, 4)
	if err := p.ForceFlush(t.Context()); !errors.Is(err, down) {
		t.Fatalf("ForceFlush = %v, want %v", err, down)
	}
	if st := p.Stats(); st.Pending != 4 {
		t.Fatalf("pending after failure = %d, want 4", st.Pending)
	}
	exp.fail.Store(nil)
	if err := p.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := len(exp.GetSpans()); got != 4 {
		t.Fatalf("exported %d after recovery, want 4", got)
	}
}

func TestProcessorRejectedExportDropsAndCounts(t *testing.T) {
	exp := &gateExporter{}
	rejected := fmt.Errorf("401: %w", ports.ErrExportRejected)
	exp.fail.Store(&rejected)
	p := core.NewProcessor(exp)
	endSpans(newProvider(p), 2)
	_ = p.ForceFlush(t.Context())
	st := p.Stats()
	if st.Pending != 0 || st.Dropped[core.DropRejected] != 2 {
		t.Fatalf("stats = %+v, want 0 pending and 2 rejected", st)
	}
}

func TestProcessorBufferBound(t *testing.T) {
	exp := &gateExporter{}
	p := core.NewProcessor(exp, core.WithMaxPending(10))
	endSpans(newProvider(p), 25)
	st := p.Stats()
	if st.Pending != 10 || st.Dropped[core.DropBufferFull] != 15 {
		t.Fatalf("stats = %+v, want 10 pending and 15 dropped", st)
	}
	_ = p.ForceFlush(t.Context())
	spans := exp.GetSpans()
	if len(spans) != 10 || spans[0].Name != "span-15" {
		t.Fatalf("exported %d spans starting at %q; want the newest 10 from span-15", len(spans), spans[0].Name)
	}
}

func TestProcessorFlushBudgetHoldsWhenExportHangs(t *testing.T) {
	exp := &gateExporter{release: make(chan struct{})} // never released
	p := core.NewProcessor(exp, core.WithFlushTimeout(100*time.Millisecond))
	if got := p.FlushBudget(); got != 100*time.Millisecond {
		t.Fatalf("FlushBudget() = %v, want the flush timeout, 100ms", got)
	}
	endSpans(newProvider(p), 1)
	start := time.Now()
	err := p.ForceFlush(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ForceFlush = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("flush took %v with a 100ms budget", d)
	}
	if st := p.Stats(); st.Pending != 1 {
		t.Fatalf("pending after timeout = %d, want 1 (kept for the next flush)", st.Pending)
	}
}

func TestProcessorFlushIgnoresCancellationWithoutDeadline(t *testing.T) {
	exp := &gateExporter{}
	p := core.NewProcessor(exp)
	endSpans(newProvider(p), 1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // the client hung up
	if err := p.ForceFlush(ctx); err != nil {
		t.Fatalf("ForceFlush after hang-up = %v, want nil", err)
	}
	if len(exp.GetSpans()) != 1 {
		t.Fatal("span not exported after the caller's context was cancelled")
	}
}

func TestProcessorConcurrentFlushesCoalesce(t *testing.T) {
	exp := &gateExporter{release: make(chan struct{})}
	p := core.NewProcessor(exp)
	tp := newProvider(p)
	endSpans(tp, 1)

	first := make(chan error, 1)
	go func() { first <- p.ForceFlush(t.Context()) }()
	exp.waitStarted() // the first export is running
	const n = 50
	endSpans(tp, n) // not covered by the running export
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() { errs <- p.ForceFlush(t.Context()) })
	}
	time.Sleep(20 * time.Millisecond)
	close(exp.release)
	wg.Wait()
	close(errs)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[trace.SpanID]bool{}
	for _, s := range exp.GetSpans() {
		if seen[s.SpanContext.SpanID()] {
			t.Fatalf("span %s exported twice", s.SpanContext.SpanID())
		}
		seen[s.SpanContext.SpanID()] = true
	}
	if len(seen) != n+1 {
		t.Fatalf("exported %d distinct spans, want %d, each once", len(seen), n+1)
	}
	if calls := exp.calls.Load(); calls > 3 {
		t.Fatalf("%d exports for %d concurrent flushes, want at most 3", calls, n+1)
	}
	if st := p.Stats(); st.Coalesced == 0 {
		t.Fatalf("no coalesced flushes counted: %+v", st)
	}
}

func TestProcessorShutdownFlushesAndIsIdempotent(t *testing.T) {
	exp := &gateExporter{}
	p := core.NewProcessor(exp, core.WithBackgroundExport(time.Hour))
	tp := newProvider(p)
	endSpans(tp, 2)
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(exp.GetSpans()) != 2 {
		t.Fatalf("exported %d at shutdown, want 2", len(exp.GetSpans()))
	}
	endSpans(tp, 1) // the provider is not shut down; the processor is
	if st := p.Stats(); st.Dropped[core.DropShutdown] != 1 {
		t.Fatalf("span after shutdown not counted: %+v", st)
	}
}

func TestProcessorBackgroundExportsWithoutFlush(t *testing.T) {
	exp := &gateExporter{}
	p := core.NewProcessor(exp, core.WithBackgroundExport(10*time.Millisecond))
	defer p.Shutdown(context.Background())
	endSpans(newProvider(p), 3)
	deadline := time.Now().Add(5 * time.Second)
	for len(exp.GetSpans()) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("background export did not run")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// partialError is an export error naming the spans not delivered.
type partialError struct{ spans []sdktrace.ReadOnlySpan }

func (e partialError) Error() string                        { return "partly delivered" }
func (e partialError) Undelivered() []sdktrace.ReadOnlySpan { return e.spans }

type partialExporter struct {
	tracetest.InMemoryExporter
	calls int
}

// ExportSpans delivers the first span of the first batch and fails the rest;
// later batches go through.
func (p *partialExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	p.calls++
	if p.calls == 1 {
		_ = p.InMemoryExporter.ExportSpans(ctx, spans[:1])
		return partialError{spans: spans[1:]}
	}
	return p.InMemoryExporter.ExportSpans(ctx, spans)
}

func TestProcessorRequeuesOnlyUndeliveredSpans(t *testing.T) {
	exp := &partialExporter{}
	p := core.NewProcessor(exp)
	endSpans(newProvider(p), 3)
	if err := p.ForceFlush(t.Context()); err == nil {
		t.Fatal("partial failure not reported")
	}
	if st := p.Stats(); st.Pending != 2 || st.Exported != 1 {
		t.Fatalf("stats = %+v, want 2 pending and 1 exported", st)
	}
	if err := p.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := len(exp.GetSpans()); got != 3 {
		t.Fatalf("exported %d spans, want 3 with none sent twice", got)
	}
}

// TestProcessorFlushOutlivesAnEarlierWaiter has two flushes wait for a
// hanging export that does not cover their span: the one with the short
// budget gives up, the other exports the span once the running export
// completes.
func TestProcessorFlushOutlivesAnEarlierWaiter(t *testing.T) {
	exp := &gateExporter{release: make(chan struct{})}
	p := core.NewProcessor(exp)
	tp := newProvider(p)
	endSpans(tp, 1)
	first := make(chan error, 1)
	go func() { first <- p.ForceFlush(t.Context()) }()
	exp.waitStarted() // the first export hangs

	endSpans(tp, 1) // not in the running export
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	early := make(chan error, 1)
	go func() { early <- p.ForceFlush(short) }()
	time.Sleep(10 * time.Millisecond) // it waits for the first export
	late := make(chan error, 1)
	go func() { late <- p.ForceFlush(t.Context()) }()

	if err := <-early; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("short flush = %v, want DeadlineExceeded", err)
	}
	close(exp.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-late; err != nil {
		t.Fatalf("long flush = %v, want its span exported", err)
	}
	if got := len(exp.GetSpans()); got != 2 {
		t.Fatalf("exported %d spans, want 2, each once", got)
	}
	if calls := exp.calls.Load(); calls != 2 {
		t.Errorf("%d exports, want 2", calls)
	}
	if st := p.Stats(); st.Pending != 0 {
		t.Errorf("stats = %+v, want nothing pending", st)
	}
}

// TestProcessorConcurrentFlushesShareTheNextExport ends a span per flush
// while an export hangs: the flushes it does not cover share one next
// export, which carries all their spans.
func TestProcessorConcurrentFlushesShareTheNextExport(t *testing.T) {
	exp := &gateExporter{release: make(chan struct{})}
	p := core.NewProcessor(exp)
	tp := newProvider(p)
	endSpans(tp, 1)
	first := make(chan error, 1)
	go func() { first <- p.ForceFlush(t.Context()) }()
	exp.waitStarted()
	const n = 20
	errs := make(chan error, n)
	for range n {
		endSpans(tp, 1)
		go func() { errs <- p.ForceFlush(t.Context()) }()
	}
	time.Sleep(20 * time.Millisecond)
	close(exp.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if calls, spans := exp.calls.Load(), len(exp.GetSpans()); calls != 2 || spans != n+1 {
		t.Errorf("%d exports of %d spans, want 2 exports of %d", calls, spans, n+1)
	}
}

// mixedError reports a batch partly delivered, partly dropped for good and
// partly to be retried.
type mixedError struct {
	retry    []sdktrace.ReadOnlySpan
	rejected int
}

func (e mixedError) Error() string                        { return "mixed" }
func (e mixedError) Undelivered() []sdktrace.ReadOnlySpan { return e.retry }
func (e mixedError) Rejected() int                        { return e.rejected }

// rejectedOnly reports some spans dropped for good and the rest delivered.
type rejectedOnly struct{ n int }

func (e rejectedOnly) Error() string { return "some rejected" }
func (e rejectedOnly) Rejected() int { return e.n }
func (e rejectedOnly) Unwrap() error { return ports.ErrExportRejected }

type scriptedExporter struct {
	tracetest.InMemoryExporter
	fail func([]sdktrace.ReadOnlySpan) error
}

func (s *scriptedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if f := s.fail; f != nil {
		s.fail = nil
		return f(spans)
	}
	return s.InMemoryExporter.ExportSpans(ctx, spans)
}

func TestProcessorCountsEachSpansFate(t *testing.T) {
	tests := []struct {
		name                       string
		fail                       func([]sdktrace.ReadOnlySpan) error
		wantExported, wantRejected uint64
		wantPending                int
	}{
		{
			name:         "some delivered, one rejected, two to retry",
			fail:         func(s []sdktrace.ReadOnlySpan) error { return mixedError{retry: s[3:], rejected: 1} },
			wantExported: 2, wantRejected: 1, wantPending: 2,
		},
		{
			name:         "rejection with a count: the rest was delivered",
			fail:         func([]sdktrace.ReadOnlySpan) error { return rejectedOnly{n: 1} },
			wantExported: 4, wantRejected: 1,
		},
		{
			name:         "rejection without a count covers the batch",
			fail:         func([]sdktrace.ReadOnlySpan) error { return fmt.Errorf("400: %w", ports.ErrExportRejected) },
			wantRejected: 5,
		},
		{
			name:        "plain error: everything retried",
			fail:        func([]sdktrace.ReadOnlySpan) error { return errors.New("refused") },
			wantPending: 5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := &scriptedExporter{fail: tt.fail}
			p := core.NewProcessor(exp)
			endSpans(newProvider(p), 5)
			_ = p.ForceFlush(t.Context())
			st := p.Stats()
			if st.Exported != tt.wantExported || st.Dropped[core.DropRejected] != tt.wantRejected || st.Pending != tt.wantPending {
				t.Fatalf("exported %d, rejected %d, pending %d; want %d, %d, %d",
					st.Exported, st.Dropped[core.DropRejected], st.Pending, tt.wantExported, tt.wantRejected, tt.wantPending)
			}
		})
	}
}

// keepingExporter fails its first export with an error holding the batch
// itself, as an exporter's UndeliveredError may.
type keepingExporter struct {
	tracetest.InMemoryExporter
	failed bool
}

func (k *keepingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if !k.failed {
		k.failed = true
		return partialError{spans: spans}
	}
	return k.InMemoryExporter.ExportSpans(ctx, spans)
}

func TestProcessorLeavesAFailedExportsSpansToItsError(t *testing.T) {
	exp := &keepingExporter{}
	p := core.NewProcessor(exp)
	tp := newProvider(p)
	endSpans(tp, 2)
	err := p.ForceFlush(t.Context())
	var u ports.UndeliveredError
	if !errors.As(err, &u) {
		t.Fatalf("ForceFlush = %v, want the exporter's error", err)
	}
	endSpans(tp, 3) // reuses buffers
	if err := p.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, s := range u.Undelivered() {
		if s == nil || s.Name() != fmt.Sprintf("span-%d", i) {
			t.Fatalf("the first error's span %d is %v now: its slice was reused", i, s)
		}
	}
}

func TestProcessorSpansRequeuedAfterShutdownAreCounted(t *testing.T) {
	exp := &gateExporter{release: make(chan struct{})}
	down := errors.New("down")
	exp.fail.Store(&down)
	p := core.NewProcessor(exp, core.WithFlushTimeout(time.Minute))
	endSpans(newProvider(p), 2)
	flushed := make(chan struct{})
	go func() { _ = p.ForceFlush(context.Background()); close(flushed) }()
	exp.waitStarted()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_ = p.Shutdown(ctx) // gives up while the flush's export still runs
	close(exp.release)  // which then fails
	<-flushed
	st := p.Stats()
	if st.Pending != 0 || st.Dropped[core.DropShutdown] != 2 {
		t.Fatalf("stats = %+v, want the 2 spans counted as dropped at shutdown, none pending", st)
	}
}

// firstHangsExporter hangs its first export until the context ends, as an
// exporter facing a dead endpoint does, and delivers the later ones.
type firstHangsExporter struct {
	tracetest.InMemoryExporter
	calls   atomic.Int64
	started chan struct{}
}

func (e *firstHangsExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.calls.Add(1) == 1 {
		close(e.started)
		<-ctx.Done()
		return fmt.Errorf("export: %w", ctx.Err())
	}
	return e.InMemoryExporter.ExportSpans(ctx, spans)
}

func (e *firstHangsExporter) Shutdown(context.Context) error { return nil }

// TestProcessorWaiterExportsUnderItsOwnBudget: a flush whose spans ride an
// export started by a flush with a shorter deadline does not give up when
// that export runs out of time; it exports them under its own budget.
func TestProcessorWaiterExportsUnderItsOwnBudget(t *testing.T) {
	exp := &firstHangsExporter{started: make(chan struct{})}
	p := core.NewProcessor(exp)
	endSpans(newProvider(p), 1)
	short, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	first := make(chan error, 1)
	go func() { first <- p.ForceFlush(short) }()
	<-exp.started
	if err := p.ForceFlush(context.Background()); err != nil { // 2s budget, covered by the running export
		t.Fatalf("second flush = %v, want the span exported under its own budget", err)
	}
	if err := <-first; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first flush = %v, want its own deadline exceeded", err)
	}
	if st := p.Stats(); st.Exported != 1 || st.Pending != 0 {
		t.Fatalf("stats = %+v, want the span exported once", st)
	}
}

// TestProcessorShutdownExportsSpansEndingDuringItsFlush: spans that end
// while Shutdown's final export runs leave with a further export, not as
// dropped, when the context leaves time.
func TestProcessorShutdownExportsSpansEndingDuringItsFlush(t *testing.T) {
	exp := &gateExporter{release: make(chan struct{})}
	p := core.NewProcessor(exp)
	tp := newProvider(p)
	endSpans(tp, 1)
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(context.Background()) }()
	exp.waitStarted()
	endSpans(tp, 3) // during the final export
	close(exp.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Exported != 4 || len(st.Dropped) != 0 {
		t.Fatalf("stats = %+v, want all 4 spans exported and none dropped", st)
	}
}

// TestProcessorBackgroundWakesAtHalfFull: with a tick that never comes, the
// buffer reaching half full starts an export by itself.
func TestProcessorBackgroundWakesAtHalfFull(t *testing.T) {
	exp := &gateExporter{}
	p := core.NewProcessor(exp, core.WithBackgroundExport(time.Hour), core.WithMaxPending(8))
	defer p.Shutdown(context.Background())
	tp := newProvider(p)
	endSpans(tp, 3)
	time.Sleep(50 * time.Millisecond)
	if n := exp.calls.Load(); n != 0 {
		t.Fatalf("%d exports below half full, want none before the tick", n)
	}
	endSpans(tp, 1) // 4 of 8
	deadline := time.Now().Add(5 * time.Second)
	for len(exp.GetSpans()) < 4 {
		if time.Now().After(deadline) {
			t.Fatal("half-full buffer did not wake the background export")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestProcessorBackgroundDoesNotStormAFailingEndpoint: while exports fail,
// spans ending above half full do not start export after export; the next
// tick retries.
func TestProcessorBackgroundDoesNotStormAFailingEndpoint(t *testing.T) {
	exp := &gateExporter{}
	down := errors.New("down")
	exp.fail.Store(&down)
	p := core.NewProcessor(exp, core.WithBackgroundExport(time.Hour), core.WithMaxPending(64))
	defer p.Shutdown(context.Background())
	tp := newProvider(p)
	for range 50 {
		endSpans(tp, 20)
		time.Sleep(time.Millisecond)
	}
	if n := exp.calls.Load(); n > 3 {
		t.Fatalf("%d exports for 1000 spans against a failing endpoint with no tick: a retry storm", n)
	}
	if st := p.Stats(); st.Pending != 64 || st.Dropped[core.DropBufferFull] == 0 {
		t.Fatalf("stats = %+v, want a full buffer and the overflow counted", st)
	}
}

// TestProcessorStartBackground turns background mode on after construction:
// spans leave without a flush, and Shutdown stops the loop (goleak checks).
func TestProcessorStartBackground(t *testing.T) {
	exp := &gateExporter{}
	p := core.NewProcessor(exp)
	p.StartBackground(10 * time.Millisecond)
	p.StartBackground(time.Hour) // already on: no second loop
	endSpans(newProvider(p), 2)
	deadline := time.Now().Add(5 * time.Second)
	for len(exp.GetSpans()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("spans did not leave with the background export")
		}
		time.Sleep(time.Millisecond)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.StartBackground(time.Millisecond) // after Shutdown: a no-op
}

// TestProcessorFailedSpansRideTheBackgroundTick: spans of a failed flush
// leave with the next background tick once the endpoint recovers.
func TestProcessorFailedSpansRideTheBackgroundTick(t *testing.T) {
	exp := &gateExporter{}
	down := errors.New("down")
	exp.fail.Store(&down)
	p := core.NewProcessor(exp, core.WithBackgroundExport(20*time.Millisecond))
	defer p.Shutdown(context.Background())
	endSpans(newProvider(p), 2)
	if err := p.ForceFlush(t.Context()); err == nil {
		t.Fatal("flush against a failing endpoint reported success")
	}
	exp.fail.Store(nil)
	deadline := time.Now().Add(5 * time.Second)
	for len(exp.GetSpans()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("failed spans did not leave with a tick: %+v", p.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestProcessorCountsUnendedSpans(t *testing.T) {
	p := core.NewProcessor(&gateExporter{})
	tr := newProvider(p).Tracer("test")
	var open []interface{ End(...trace.SpanEndOption) }
	for range 3 {
		_, s := tr.Start(context.Background(), "open")
		open = append(open, s)
	}
	open[0].End()
	if st := p.Stats(); st.Started != 3 || st.Unended != 2 {
		t.Fatalf("stats = %+v, want 3 started and 2 unended", st)
	}
}

// TestProcessorRequeueKeepsOrderWithinTheBound: spans of a failed export go
// back ahead of the spans that ended meanwhile, and when both exceed the
// bound the oldest are dropped and counted.
func TestProcessorRequeueKeepsOrderWithinTheBound(t *testing.T) {
	exp := &gateExporter{release: make(chan struct{})}
	down := errors.New("down")
	exp.fail.Store(&down)
	p := core.NewProcessor(exp, core.WithMaxPending(4))
	tp := newProvider(p)
	tr := tp.Tracer("test")
	end := func(name string) {
		_, s := tr.Start(context.Background(), name)
		s.End()
	}
	end("a")
	end("b")
	end("c")
	flushed := make(chan error, 1)
	go func() { flushed <- p.ForceFlush(context.Background()) }()
	exp.waitStarted()
	end("d")
	end("e")
	close(exp.release) // the export of a, b, c fails
	if err := <-flushed; err == nil {
		t.Fatal("failed export reported success")
	}
	if st := p.Stats(); st.Pending != 4 || st.Dropped[core.DropBufferFull] != 1 {
		t.Fatalf("stats = %+v, want 4 pending and the oldest dropped", st)
	}
	exp.fail.Store(nil)
	if err := p.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range exp.GetSpans() {
		names = append(names, s.Name)
	}
	if got := fmt.Sprint(names); got != "[b c d e]" {
		t.Fatalf("exported %s, want [b c d e]: the failed batch first, oldest dropped", got)
	}
}

// TestProcessorLeaderBudgetIsTheEarlierOfDeadlineAndTimeout: the flush that
// runs the export is bounded by min(caller's deadline, flush timeout).
func TestProcessorLeaderBudgetIsTheEarlierOfDeadlineAndTimeout(t *testing.T) {
	for _, tc := range []struct {
		name     string
		timeout  time.Duration
		deadline time.Duration
	}{
		{"flush timeout first", 50 * time.Millisecond, time.Minute},
		{"caller deadline first", time.Minute, 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := &gateExporter{release: make(chan struct{})} // hangs until its context ends
			p := core.NewProcessor(exp, core.WithFlushTimeout(tc.timeout))
			endSpans(newProvider(p), 1)
			start := time.Now() // before the caller's deadline starts to run
			ctx, cancel := context.WithTimeout(context.Background(), tc.deadline)
			defer cancel()
			if err := p.ForceFlush(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("ForceFlush = %v, want deadline exceeded", err)
			}
			// Not a timing target: the other bound is a minute.
			if d := time.Since(start); d < 50*time.Millisecond || d > 10*time.Second {
				t.Fatalf("flush took %v, want the 50ms bound", d)
			}
		})
	}
}

// TestProcessorWaiterDoesNotAskASlowEndpointAgain: when the export a flush
// waits on used a whole flush timeout and ran out of it, the endpoint is
// slow; the waiter reports that instead of waiting on it a second time.
func TestProcessorWaiterDoesNotAskASlowEndpointAgain(t *testing.T) {
	exp := &gateExporter{release: make(chan struct{})} // hangs until its context ends
	p := core.NewProcessor(exp, core.WithFlushTimeout(100*time.Millisecond))
	endSpans(newProvider(p), 1)
	first := make(chan error, 1)
	go func() { first <- p.ForceFlush(context.Background()) }()
	exp.waitStarted()
	if err := p.ForceFlush(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second flush = %v, want the running export's deadline exceeded", err)
	}
	if err := <-first; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first flush = %v, want deadline exceeded", err)
	}
	if n := exp.calls.Load(); n != 1 {
		t.Fatalf("%d exports, want 1: the waiter asked the slow endpoint again", n)
	}
	if st := p.Stats(); st.Pending != 1 {
		t.Fatalf("stats = %+v, want the span kept for the next flush", st)
	}
}

// finalExporter delivers only the exports marked final, as an exporter
// that fails fast while it believes the endpoint down does.
type finalExporter struct {
	tracetest.InMemoryExporter
	finals, others atomic.Int64
}

func (f *finalExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if !ports.IsFinalExport(ctx) {
		f.others.Add(1)
		return errors.New("endpoint down; next try after a pause")
	}
	f.finals.Add(1)
	return f.InMemoryExporter.ExportSpans(ctx, spans)
}

// Shutdown keeps the spans for the test to read.
func (f *finalExporter) Shutdown(context.Context) error { return nil }

// TestProcessorShutdownMarksItsExportFinal: flushes on exit are ordinary
// exports, Shutdown's is marked final, so that an exporter in an outage
// pause still tries it instead of the spans being dropped as "shutdown".
func TestProcessorShutdownMarksItsExportFinal(t *testing.T) {
	exp := &finalExporter{}
	p := core.NewProcessor(exp)
	endSpans(newProvider(p), 3)
	if err := p.ForceFlush(t.Context()); err == nil {
		t.Fatal("ForceFlush passed an export the exporter only takes when final")
	}
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 3 {
		t.Fatalf("Shutdown exported %d spans, want 3", n)
	}
	if f, o := exp.finals.Load(), exp.others.Load(); f != 1 || o != 1 {
		t.Errorf("%d final and %d other exports, want 1 and 1", f, o)
	}
	if st := p.Stats(); st.Dropped[core.DropShutdown] != 0 || st.Exported != 3 {
		t.Errorf("Stats = %+v, want 3 exported and none dropped at shutdown", st)
	}
}

// funcExporter exports with fn and keeps what fn lets through.
type funcExporter struct {
	tracetest.InMemoryExporter
	calls    atomic.Int64
	fn       func(call int64, spans []sdktrace.ReadOnlySpan) error
	shutdown func() error
}

func (f *funcExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := f.fn(f.calls.Add(1), spans); err != nil {
		return err
	}
	return f.InMemoryExporter.ExportSpans(ctx, spans)
}

func (f *funcExporter) Shutdown(context.Context) error {
	if f.shutdown != nil {
		return f.shutdown()
	}
	return nil
}

// checkIdentity fails unless every sampled span started is exported,
// dropped or pending.
func checkIdentity(t *testing.T, st core.ProcessorStats) {
	t.Helper()
	var dropped uint64
	for _, n := range st.Dropped {
		dropped += n
	}
	if st.Started != st.Exported+dropped+uint64(st.Pending)+st.Unended {
		t.Errorf("Stats %+v: started != exported + dropped + pending + unended", st)
	}
}

// TestProcessorSurvivesAPanickingExporter: an exporter that panics takes
// neither the caller nor the processor down: its batch is counted as
// rejected, later spans are exported, a panic in the background loop does
// not end the process, and one in Shutdown comes back as an error.
func TestProcessorSurvivesAPanickingExporter(t *testing.T) {
	panicFirst := func(call int64, _ []sdktrace.ReadOnlySpan) error {
		if call == 1 {
			panic("exporter bug")
		}
		return nil
	}
	t.Run("flush", func(t *testing.T) {
		exp := &funcExporter{fn: panicFirst}
		p := core.NewProcessor(exp, core.WithFlushTimeout(500*time.Millisecond))
		tp := newProvider(p)
		endSpans(tp, 2)
		if err := p.ForceFlush(t.Context()); !errors.Is(err, ports.ErrExportRejected) {
			t.Errorf("ForceFlush = %v, want the batch rejected", err)
		}
		endSpans(tp, 3)
		start := time.Now()
		if err := p.ForceFlush(t.Context()); err != nil {
			t.Fatalf("ForceFlush after the panic = %v", err)
		}
		if d := time.Since(start); d > 250*time.Millisecond {
			t.Errorf("the flush after the panic took %s: a stuck export was waited on", d)
		}
		st := p.Stats()
		if st.Dropped[core.DropRejected] != 2 || st.Exported != 3 || len(exp.GetSpans()) != 3 {
			t.Errorf("Stats = %+v, exporter kept %d; want 2 rejected, 3 exported", st, len(exp.GetSpans()))
		}
		checkIdentity(t, st)
		exp.shutdown = func() error { panic("shutdown bug") }
		if err := p.Shutdown(t.Context()); err == nil || !strings.Contains(err.Error(), "shutdown bug") {
			t.Errorf("Shutdown = %v, want the exporter's panic as an error", err)
		}
	})
	t.Run("background", func(t *testing.T) {
		exp := &funcExporter{fn: panicFirst}
		p := core.NewProcessor(exp, core.WithBackgroundExport(5*time.Millisecond))
		defer p.Shutdown(context.Background())
		tp := newProvider(p)
		endSpans(tp, 1)
		waitFor(t, func() bool { return exp.calls.Load() >= 1 })
		endSpans(tp, 1)
		waitFor(t, func() bool { return len(exp.GetSpans()) == 1 })
		checkIdentity(t, p.Stats())
	})
}

// waitFor waits up to 5 s for cond.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
	}
}

// TestProcessorKeepsOnlyTheBatchsUndeliveredSpans: an exporter whose
// UndeliveredError names spans twice, spans of no batch, or nil gets each
// of the batch's spans back once, so every span is exported once and the
// counts add up.
func TestProcessorKeepsOnlyTheBatchsUndeliveredSpans(t *testing.T) {
	foreign := tracetest.SpanStubs{{Name: "foreign", SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled,
	})}}.Snapshots()[0]
	exp := &funcExporter{fn: func(call int64, spans []sdktrace.ReadOnlySpan) error {
		if call == 1 {
			list := append(append(append([]sdktrace.ReadOnlySpan{}, spans...), spans[0], foreign), nil)
			return partialError{spans: list}
		}
		return nil
	}}
	p := core.NewProcessor(exp)
	endSpans(newProvider(p), 3)
	if err := p.ForceFlush(t.Context()); err == nil {
		t.Fatal("the first flush reported no failure")
	}
	if st := p.Stats(); st.Pending != 3 {
		t.Fatalf("Pending = %d after the failure, want the 3 spans of the batch", st.Pending)
	}
	if err := p.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for _, s := range exp.GetSpans() {
		names[s.Name]++
	}
	if len(names) != 3 || names["foreign"] != 0 || names["span-0"] != 1 {
		t.Errorf("exported %v, want span-0..2 once each", names)
	}
	st := p.Stats()
	if st.Exported != 3 {
		t.Errorf("Exported = %d, want 3", st.Exported)
	}
	checkIdentity(t, st)
}

// TestProcessorCountsOnlySampledSpans: a span a sampler only records is
// not exported, so it is not counted as started either, and the counts
// still add up.
func TestProcessorCountsOnlySampledSpans(t *testing.T) {
	p := core.NewProcessor(&gateExporter{})
	recordOnly := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p), sdktrace.WithSampler(recordOnlySampler{}))
	endSpans(recordOnly, 2)
	endSpans(newProvider(p), 1)
	if err := p.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Started != 1 || st.Exported != 1 {
		t.Errorf("Stats = %+v, want 1 started and exported", st)
	}
	checkIdentity(t, st)
}

type recordOnlySampler struct{}

func (recordOnlySampler) ShouldSample(sdktrace.SamplingParameters) sdktrace.SamplingResult {
	return sdktrace.SamplingResult{Decision: sdktrace.RecordOnly}
}
func (recordOnlySampler) Description() string { return "record only" }
