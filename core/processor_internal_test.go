package core

import (
	"context"
	"errors"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

type failingExporter struct{ err error }

func (f failingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return f.err }
func (failingExporter) Shutdown(context.Context) error                               { return nil }

func TestProcessorDropsSpansOlderThanTheAcceptanceWindow(t *testing.T) {
	p := NewProcessor(failingExporter{err: errors.New("down")})
	now := time.Now()
	p.cfg.now = func() time.Time { return now }
	old := tracetest.SpanStub{Name: "old", EndTime: now.Add(-MaxSpanAge - time.Second)}.Snapshot()
	fresh := tracetest.SpanStub{Name: "fresh", EndTime: now.Add(-time.Minute)}.Snapshot()
	p.requeue([]sdktrace.ReadOnlySpan{old, fresh})
	st := p.Stats()
	if st.Pending != 1 || st.Dropped[DropExpired] != 1 {
		t.Fatalf("stats = %+v, want 1 pending and 1 expired", st)
	}
	if p.pending[0].Name() != "fresh" {
		t.Fatalf("kept %q, want fresh", p.pending[0].Name())
	}
}

func TestProcessorDoesNotSendExpiredSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	p := NewProcessor(exp)
	now := time.Now()
	p.cfg.now = func() time.Time { return now }
	p.pending = []sdktrace.ReadOnlySpan{
		tracetest.SpanStub{Name: "old", EndTime: now.Add(-2 * MaxSpanAge)}.Snapshot(),
		tracetest.SpanStub{Name: "fresh", EndTime: now}.Snapshot(),
	}
	p.busy.Store(true) // as OnEnd does
	if err := p.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := exp.GetSpans(); len(got) != 1 || got[0].Name != "fresh" {
		t.Fatalf("exported %v, want only the fresh span", got)
	}
	if p.Stats().Dropped[DropExpired] != 1 {
		t.Fatalf("expired span not counted: %+v", p.Stats())
	}
}
