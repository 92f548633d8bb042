package bench

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/core"
)

// The span and OnEnd scenarios run the processors as deployed with flush on
// exit: the BatchSpanProcessor with its defaults (it also exports in the
// background whenever 512 spans are queued), core.Processor with its
// defaults (it exports on ForceFlush only). Every flushEvery spans both are
// flushed to a CountingExporter with the timer stopped, as an invocation's
// end would, so that neither buffer overflows and drops: the figures are
// OnEnd's cost to the caller, not the cost of dropping.
const flushEvery = 1024

func newBatchProcessor(exp sdktrace.SpanExporter) sdktrace.SpanProcessor {
	return sdktrace.NewBatchSpanProcessor(exp)
}

func newCoreProcessor(exp sdktrace.SpanExporter) sdktrace.SpanProcessor {
	return core.NewProcessor(exp)
}

var processors = []struct {
	side Side
	new  func(sdktrace.SpanExporter) sdktrace.SpanProcessor
}{
	{Anchor, newBatchProcessor},
	{Ours, newCoreProcessor},
}

// spanScenarios start and end one sampled root span with 8 attributes
// through the SDK, with the BatchSpanProcessor (the SDK floor) or with
// core.Processor. "delivered" is the share of spans the exporter received.
func spanScenarios() []Scenario {
	var out []Scenario
	for _, p := range processors {
		out = append(out, Scenario{
			Group: "span", Row: "8-attributes", Side: p.side,
			Setup: func(tb testing.TB) Op {
				exp := &CountingExporter{}
				proc := p.new(exp)
				tp := sdktrace.NewTracerProvider(
					sdktrace.WithResource(AnchorResource()),
					sdktrace.WithSampler(sdktrace.AlwaysSample()),
					sdktrace.WithSpanProcessor(proc),
				)
				shutdown(tb, "tracer provider", tp.Shutdown)
				tr := tp.Tracer("github.com/gcftrace/gcftrace/bench")
				opts := []trace.SpanStartOption{trace.WithAttributes(SpanAttributes(8)...)}
				ctx := context.Background()
				return Op{
					Run: func() error {
						_, s := tr.Start(ctx, "span", opts...)
						s.End()
						return nil
					},
					Every:   flushEvery,
					Between: func() { flush(proc) },
					Done:    delivered(proc, exp),
				}
			},
		})
	}
	return out
}

// onEndScenarios call OnEnd alone with one ended span.
func onEndScenarios() []Scenario {
	var out []Scenario
	for _, p := range processors {
		out = append(out, Scenario{
			Group: "onend", Row: "one-span", Side: p.side,
			Setup: func(tb testing.TB) Op {
				exp := &CountingExporter{}
				proc := p.new(exp)
				shutdown(tb, "processor", proc.Shutdown)
				s := Spans(1, 8)[0]
				return Op{
					Run: func() error {
						proc.OnEnd(s)
						return nil
					},
					Every:   flushEvery,
					Between: func() { flush(proc) },
					Done:    delivered(proc, exp),
				}
			},
		})
	}
	return out
}

func flush(proc sdktrace.SpanProcessor) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = proc.ForceFlush(ctx)
}

// delivered flushes proc and reports the share of spans exp received.
func delivered(proc sdktrace.SpanProcessor, exp *CountingExporter) func(int) map[string]float64 {
	return func(calls int) map[string]float64 {
		flush(proc)
		return map[string]float64{"delivered": float64(exp.Spans()) / float64(calls)}
	}
}
