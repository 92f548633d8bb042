package bench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/adapters/handler"
	"github.com/gcftrace/gcftrace/core"
)

// Dynatrace is the tenant and cluster of the ignored-tag handler row.
var Dynatrace = core.DynatraceConfig{Tenant: "abc12345", ClusterID: 42}

// A handlerRow is one comparison of the handler group: the parent a request
// carries and the sampler and propagator every side of the row uses.
type handlerRow struct {
	row        string
	sampler    func() sdktrace.Sampler
	propagator propagation.TextMapPropagator
	parent     http.Header
	spans      int64 // spans exported per invocation, checked on the first
	// figure reports spans/op, which TestScenarios wants to be 0 for the
	// row named not-sampled and 1 for every other.
	figure bool
}

// handlerRows are the rows of the handler group:
//
//   - sampled: a sampled W3C parent, the SDK's parent-based always-on
//     sampler and the W3C propagator;
//   - not-sampled: a parent that Dynatrace ignored (traceparent flags 00,
//     a tracestate @dt entry with the ignored flag 1), with the sampler and
//     propagator of gcftrace's wiring: core.NewSampler(core.WithDynatrace)
//     and core.NewPropagator;
//   - not-sampled-w3c: an unsampled W3C parent without a tag, the SDK's
//     parent-based sampler and the W3C propagator. (The wiring's sampler
//     samples such a parent: Cloud Run sends one with almost every request.)
func handlerRows() []handlerRow {
	parentBased := func() sdktrace.Sampler { return sdktrace.ParentBased(sdktrace.AlwaysSample()) }
	dynatrace := func() sdktrace.Sampler { return core.NewSampler(core.WithDynatrace(Dynatrace)) }
	return []handlerRow{
		{"sampled", parentBased, w3c, http.Header{"Traceparent": {ParentSampled}}, 1, true},
		{"not-sampled", dynatrace, core.NewPropagator(Dynatrace), IgnoredDynatraceParent(), 0, true},
		{"not-sampled-w3c", parentBased, w3c, http.Header{"Traceparent": {ParentNotSampled}}, 0, false},
	}
}

// IgnoredDynatraceParent returns the headers of a parent that Dynatrace
// ignored: traceparent ParentNotSampled and tracestate with the @dt entry
// of Dynatrace, its ignored flag set, as core.NewPropagator writes them.
func IgnoredDynatraceParent() http.Header {
	sc := trace.SpanContextFromContext(w3c.Extract(context.Background(),
		propagation.MapCarrier{"traceparent": ParentNotSampled}))
	if !sc.IsValid() || sc.IsSampled() {
		panic("bench: ParentNotSampled is not an unsampled traceparent") // a constant
	}
	h := http.Header{}
	core.NewPropagator(Dynatrace).Inject(trace.ContextWithSpanContext(context.Background(), sc), propagation.HeaderCarrier(h))
	h.Del("X-Dynatrace") // the W3C headers alone
	return h
}

// handlerScenarios compare the invocation wrappers alone: otelhttp.NewHandler
// and handler.HTTP on one SDK TracerProvider (the row's sampler, a
// synchronous processor into a discarding exporter) and the row's
// propagator; the bare handler; and per row the floor, what any wrapper
// pays the SDK and the propagator (see floorHandler).
func handlerScenarios() []Scenario {
	out := []Scenario{{
		Group: "handler", Row: "bare", Side: Bare,
		Setup: func(testing.TB) Op {
			return handlerOp(hello, http.Header{"Traceparent": {ParentSampled}}, nil, 0, false)
		},
	}}
	for _, hr := range handlerRows() {
		out = append(out,
			Scenario{
				Group: "handler", Row: hr.row, Side: Anchor,
				Setup: func(tb testing.TB) Op {
					tp, exp := handlerProvider(tb, hr.sampler())
					h := otelhttp.NewHandler(hello, "hello",
						otelhttp.WithTracerProvider(tp),
						otelhttp.WithPropagators(hr.propagator))
					return handlerOp(h, hr.parent, exp, hr.spans, hr.figure)
				},
			},
			Scenario{
				Group: "handler", Row: hr.row, Side: Ours,
				Setup: func(tb testing.TB) Op {
					tp, exp := handlerProvider(tb, hr.sampler())
					h := handler.HTTP(hello,
						handler.WithTracerProvider(tp),
						handler.WithPropagator(hr.propagator))
					return handlerOp(h, hr.parent, exp, hr.spans, hr.figure)
				},
			},
			Scenario{
				Group: "handler", Row: hr.row, Side: Floor,
				Setup: func(tb testing.TB) Op {
					tp, exp := handlerProvider(tb, hr.sampler())
					return handlerOp(newFloorHandler(tb, tp, hr.propagator), hr.parent, exp, hr.spans, hr.figure)
				},
			},
		)
	}
	return out
}

// handlerProvider is the SDK every side of a handler row uses.
func handlerProvider(tb testing.TB, sampler sdktrace.Sampler) (*sdktrace.TracerProvider, *CountingExporter) {
	exp := &CountingExporter{}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(AnchorResource()),
		sdktrace.WithSampler(sampler),
		sdktrace.WithSyncer(exp),
	)
	shutdown(tb, "tracer provider", tp.Shutdown)
	return tp, exp
}

// handlerOp serves one request with the parent headers through h. With exp,
// the first invocation fails unless it exported spans spans, and with figure
// the spans exported per invocation are reported as "spans/op".
func handlerOp(h http.Handler, parent http.Header, exp *CountingExporter, spans int64, figure bool) Op {
	w, r := newDiscardWriter(), newRequest("")
	for k, v := range parent {
		r.Header[k] = v
	}
	if exp == nil {
		return Op{Run: func() error { return serve(h, w, r) }}
	}
	calls := 0
	op := Op{Run: func() error {
		calls++
		if err := serve(h, w, r); err != nil || calls > 1 {
			return err
		}
		if got := exp.Spans(); got != spans {
			return fmt.Errorf("bench: the first invocation exported %d spans, want %d", got, spans)
		}
		return nil
	}}
	if figure {
		op.Done = func(int) map[string]float64 {
			return map[string]float64{"spans/op": float64(exp.Spans()) / float64(calls)}
		}
	}
	return op
}

// floorHandler does around the bare handler only what no wrapper on the
// SDK can skip: Extract with the row's propagator (through a carrier that
// does not allocate), Start with the attributes handler.HTTP gives the
// sampler, the request with the span's context, and for a recorded span
// SetAttributes with the other attributes handler.HTTP records, precomputed,
// and End. It names the span after the method and has no ResponseWriter
// wrapper.
type floorHandler struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	start  []trace.SpanStartOption
	later  []attribute.KeyValue
}

// samplerAttributes are the attributes the sampler sees, which
// handler.HTTP sets at the start.
var samplerAttributes = []attribute.Key{"faas.trigger", "http.request.method", "url.path"}

// newFloorHandler returns the floor on tp with the attributes handler.HTTP
// records for the bench request, learnt by serving it once.
func newFloorHandler(tb testing.TB, tp trace.TracerProvider, prop propagation.TextMapPropagator) *floorHandler {
	rec := tracetest.NewSpanRecorder()
	rtp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	shutdown(tb, "recording tracer provider", rtp.Shutdown)
	if err := serve(handler.HTTP(hello, handler.WithTracerProvider(rtp)), newDiscardWriter(), newRequest(ParentSampled)); err != nil {
		tb.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 1 {
		tb.Fatalf("bench: handler.HTTP ended %d spans, want 1", len(spans))
	}
	var start, later []attribute.KeyValue
	for _, kv := range spans[0].Attributes() {
		if slices.Contains(samplerAttributes, kv.Key) {
			start = append(start, kv)
		} else {
			later = append(later, kv)
		}
	}
	return &floorHandler{
		tracer: tp.Tracer(handler.ScopeName, trace.WithInstrumentationVersion(handler.Version)),
		prop:   prop,
		start:  []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(start...)},
		later:  later,
	}
}

func (f *floorHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := f.prop.Extract(r.Context(), canonicalCarrier(r.Header))
	ctx, span := f.tracer.Start(ctx, r.Method, f.start...)
	hello.ServeHTTP(w, r.WithContext(ctx))
	if span.IsRecording() {
		span.SetAttributes(f.later...)
	}
	span.End()
}

// canonicalCarrier reads the headers propagators ask for by their lower-case
// names without the allocation http.Header.Get makes to canonicalise them.
type canonicalCarrier http.Header

func (c canonicalCarrier) Get(key string) string {
	switch key {
	case "traceparent":
		key = "Traceparent"
	case "tracestate":
		key = "Tracestate"
	case "x-dynatrace":
		key = "X-Dynatrace"
	case "x-cloud-trace-context":
		key = "X-Cloud-Trace-Context"
	case "baggage":
		key = "Baggage"
	default:
		return http.Header(c).Get(key)
	}
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c canonicalCarrier) Set(key, value string) { http.Header(c).Set(key, value) }

func (c canonicalCarrier) Keys() []string { return propagation.HeaderCarrier(c).Keys() }
