package core_test

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/core"
)

func ExampleNewPropagator() {
	p := core.NewPropagator(core.DynatraceConfig{Tenant: "testTenant", ClusterID: 123})

	// A request from a service OneAgent monitors.
	in := propagation.MapCarrier{
		"traceparent": "00-11223344556677889900112233445566-bab147a0e439a28b-01",
		"tracestate":  "34d2ae74-7b@dt=fw4;0;0;0;0;0;0;2a;f6c1;2h01;7hbab147a0e439a28b,rojo=00f067aa0ba902b7",
	}
	ctx := p.Extract(context.Background(), in)
	parent := trace.SpanContextFromContext(ctx)
	fmt.Println("parent:", parent.TraceID(), parent.SpanID(), parent.IsSampled())

	// An outgoing call from a span of ours in that trace: the tag goes one
	// hop further, with our span's id.
	span := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    parent.TraceID(),
		SpanID:     trace.SpanID{0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11},
		TraceFlags: parent.TraceFlags(),
		TraceState: parent.TraceState(),
	})
	out := propagation.MapCarrier{}
	p.Inject(trace.ContextWithSpanContext(ctx, span), out)
	for _, k := range p.Fields() {
		fmt.Printf("%s: %s\n", k, out.Get(k))
	}
	// Output:
	// parent: 11223344556677889900112233445566 bab147a0e439a28b true
	// traceparent: 00-11223344556677889900112233445566-8877665544332211-01
	// tracestate: 34d2ae74-7b@dt=fw4;0;0;0;0;0;0;2a;5561;2h02;7h8877665544332211,rojo=00f067aa0ba902b7
	// x-dynatrace: FW4;123;0;0;0;0;886222452;42;34ad;2h02;6h11223344556677889900112233445566;7h8877665544332211
}

func ExampleNewSampler() {
	dt := core.DynatraceConfig{Tenant: "testTenant", ClusterID: 123}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(core.NewSampler(core.WithDynatrace(dt), core.WithRootSpansPerMinute(1000))),
		sdktrace.WithSpanProcessor(rec),
	)
	p := core.NewPropagator(dt)

	// Cloud Run's front end marks almost every request "not sampled"; without
	// a Dynatrace tag saying "ignored", the request is traced.
	ctx := p.Extract(context.Background(), propagation.MapCarrier{
		"traceparent": "00-11223344556677889900112233445566-8877665544332211-00",
	})
	_, span := tp.Tracer("example").Start(ctx, "GET /hello")
	span.End()

	s := rec.Ended()[0]
	fmt.Println("recorded:", s.SpanContext().IsSampled())
	fmt.Println("tag:", strings.HasPrefix(s.SpanContext().TraceState().String(), "34d2ae74-7b@dt=fw4;0;0;0;0;0;0;"))
	for _, kv := range s.Attributes() {
		fmt.Printf("%s: %s\n", kv.Key, kv.Value.String())
	}
	// Output:
	// recorded: true
	// tag: true
	// supportability.atm_sampling_ratio: 1
}
