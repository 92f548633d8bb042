package bench

import (
	"net/http"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/gcftrace/gcftrace/adapters/handler"
)

// handlerScenarios compare the invocation wrappers alone: otelhttp.NewHandler
// and handler.HTTP on one SDK TracerProvider (parent-based always-on sampler,
// a synchronous processor into a discarding exporter), with a W3C parent
// header, sampled and not; and the bare handler.
func handlerScenarios() []Scenario {
	out := []Scenario{{
		Group: "handler", Row: "bare", Side: Bare,
		Setup: func(testing.TB) Op { return handlerOp(hello, ParentSampled, nil) },
	}}
	for _, p := range []struct{ row, parent string }{
		{"sampled", ParentSampled},
		{"not-sampled", ParentNotSampled},
	} {
		out = append(out,
			Scenario{
				Group: "handler", Row: p.row, Side: Anchor,
				Setup: func(tb testing.TB) Op {
					tp, exp := handlerProvider(tb)
					h := otelhttp.NewHandler(hello, "hello",
						otelhttp.WithTracerProvider(tp),
						otelhttp.WithPropagators(w3c))
					return handlerOp(h, p.parent, exp)
				},
			},
			Scenario{
				Group: "handler", Row: p.row, Side: Ours,
				Setup: func(tb testing.TB) Op {
					tp, exp := handlerProvider(tb)
					h := handler.HTTP(hello,
						handler.WithTracerProvider(tp),
						handler.WithPropagator(w3c))
					return handlerOp(h, p.parent, exp)
				},
			},
		)
	}
	return out
}

// handlerProvider is the SDK both wrappers use in the handler scenarios.
func handlerProvider(tb testing.TB) (*sdktrace.TracerProvider, *CountingExporter) {
	exp := &CountingExporter{}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(AnchorResource()),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithSyncer(exp),
	)
	shutdown(tb, "tracer provider", tp.Shutdown)
	return tp, exp
}

// handlerOp serves one request through h; with exp, it also reports the
// spans exported per invocation ("spans/op").
func handlerOp(h http.Handler, parent string, exp *CountingExporter) Op {
	w, r := newDiscardWriter(), newRequest(parent)
	op := Op{Run: func() error { return serve(h, w, r) }}
	if exp != nil {
		op.Done = func(calls int) map[string]float64 {
			return map[string]float64{"spans/op": float64(exp.Spans()) / float64(calls)}
		}
	}
	return op
}
