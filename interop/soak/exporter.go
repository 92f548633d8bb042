package soak

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/gcftrace/gcftrace/adapters/export"
	"github.com/gcftrace/gcftrace/ports"
)

// recordingExporter is the exporter wiring.New would build, passed in with
// wiring.WithExporter so that the run can read its Stats. It passes every
// call through unchanged and records what the checks need: calls in flight
// (to read the counters only when no export runs), every error, and, per
// call, how the exporter's counters moved against what the processor will
// make of the returned error.
type recordingExporter struct {
	exp   *export.Exporter
	leaks *leakWatch
	phase func() *phaseStats // the phase running, or nil

	returned    atomic.Uint64 // ExportSpans calls that returned
	inflight    atomic.Int64
	maxInflight atomic.Int64
	handed      atomic.Uint64 // spans passed to ExportSpans

	// The processor reads only the error (ports.UndeliveredError: the spans
	// to retry; ports.RejectedError: how many were dropped for good; an
	// ErrExportRejected without a count: all dropped; the rest delivered).
	// The exporter's counters say what happened to each span; the two must
	// agree on every call.
	deliveredAsRejected atomic.Uint64 // delivered spans the processor would count as rejected or retried
	droppedAsExported   atomic.Uint64 // spans not delivered that the processor would count as exported
}

var _ sdktrace.SpanExporter = (*recordingExporter)(nil)

func (r *recordingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	n := r.inflight.Add(1)
	for m := r.maxInflight.Load(); n > m && !r.maxInflight.CompareAndSwap(m, n); m = r.maxInflight.Load() {
	}
	before := r.exp.Stats()
	err := r.exp.ExportSpans(ctx, spans)
	after := r.exp.Stats()
	if dl, ok := ctx.Deadline(); ok {
		if ps := r.phase(); ps != nil {
			ps.exportReturned(time.Since(dl), len(spans))
		}
	}

	// The processor runs one export at a time, so the difference is this
	// call's (maxInflight checks that).
	delivered := after.Exported - before.Exported
	if inferred := processorExported(err, len(spans)); inferred > delivered {
		r.droppedAsExported.Add(inferred - delivered)
	} else {
		r.deliveredAsRejected.Add(delivered - inferred)
	}
	r.leaks.err("ExportSpans", err)
	r.handed.Add(uint64(len(spans)))
	r.inflight.Add(-1)
	r.returned.Add(1)
	return err
}

func (r *recordingExporter) Shutdown(ctx context.Context) error {
	err := r.exp.Shutdown(ctx)
	r.leaks.err("exporter Shutdown", err)
	return err
}

// recordingFlusher is the processor as the handlers' flusher, recording
// the errors of the flushes on exit, which the handlers discard.
type recordingFlusher struct {
	f     ports.Flusher
	leaks *leakWatch
	phase func() *phaseStats // the phase running, or nil
}

func (f recordingFlusher) ForceFlush(ctx context.Context) error {
	start := time.Now()
	err := f.f.ForceFlush(ctx)
	if ps := f.phase(); ps != nil {
		ps.flushed(time.Since(start))
	}
	f.leaks.err("ForceFlush", err)
	return err
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// processorExported is how many of n spans a span processor counts as
// exported from the error of their export, by the ports contract.
func processorExported(err error, n int) uint64 {
	if err == nil {
		return uint64(n)
	}
	var u ports.UndeliveredError
	var r ports.RejectedError
	hasU, hasR := errors.As(err, &u), errors.As(err, &r)
	retry, rejected := 0, 0
	switch {
	case hasU || hasR:
		if hasU {
			retry = len(u.Undelivered())
		}
		if hasR {
			rejected = r.Rejected()
		}
	case errors.Is(err, ports.ErrExportRejected):
		rejected = n
	default:
		retry = n
	}
	return uint64(max(0, n-retry-rejected))
}
