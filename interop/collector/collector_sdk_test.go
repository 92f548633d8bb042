package collector_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/adapters/export"
	"github.com/gcftrace/gcftrace/ports"
)

// TestCollectorSDKSpans sends spans recorded by the real SDK, rather than
// stubs: limits drop attributes, events and links, errors are recorded as
// events, and the parent of one span is remote.
func TestCollectorSDKSpans(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(recorder),
		sdktrace.WithResource(resCheckout),
		sdktrace.WithRawSpanLimits(sdktrace.SpanLimits{
			AttributeValueLengthLimit:   16,
			AttributeCountLimit:         4,
			EventCountLimit:             2,
			LinkCountLimit:              1,
			AttributePerEventCountLimit: 1,
			AttributePerLinkCountLimit:  1,
		}),
	)
	tracer := tp.Tracer(scopeFull.Name, trace.WithInstrumentationVersion(scopeFull.Version),
		trace.WithSchemaURL(scopeFull.SchemaURL), trace.WithInstrumentationAttributeSet(scopeFull.Attributes))

	remote := trace.ContextWithRemoteSpanContext(context.Background(),
		spanContext(traceID(0x20), spanID(0x20), trace.FlagsSampled, "dt=fw4;2,vendor=x", true))
	ctx, root := tracer.Start(remote, "invoke", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithLinks(
			trace.Link{SpanContext: spanContext(traceID(0x21), spanID(0x21), trace.FlagsSampled, "", true), Attributes: []attribute.KeyValue{attribute.String("a", "1"), attribute.String("b", "2")}},
			trace.Link{SpanContext: spanContext(traceID(0x22), spanID(0x22), 0, "", false)},
		))
	root.SetAttributes(allValueTypes()...)
	root.AddEvent("first", trace.WithAttributes(attribute.Int("n", 1), attribute.Int("m", 2)))
	root.RecordError(errors.New("a rather long error message, truncated"))
	root.AddEvent("third")
	_, child := tracer.Start(ctx, "work", trace.WithSpanKind(trace.SpanKindInternal))
	child.SetStatus(codes.Ok, "")
	child.End()
	root.SetStatus(codes.Error, "failed")
	root.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	spans := recorder.Ended()
	stubs := tracetest.SpanStubsFromReadOnlySpans(spans)
	if len(stubs) != 2 || stubs[1].Name != "invoke" {
		t.Fatalf("recorded %d spans, want work then invoke", len(stubs))
	}
	if s := stubs[1]; s.DroppedAttributes == 0 || s.DroppedEvents == 0 || s.DroppedLinks == 0 {
		t.Fatalf("limits dropped nothing: %d attributes, %d events, %d links", s.DroppedAttributes, s.DroppedEvents, s.DroppedLinks)
	}
	for _, compression := range compressions {
		t.Run(compression, func(t *testing.T) {
			r := startReceiver(t)
			exp := newExporter(t, r, compression, 0)
			if err := exp.ExportSpans(t.Context(), spans); err != nil {
				t.Fatalf("ExportSpans: %v", err)
			}
			reportDiffs(t, diffTraces(r.sink.AllTraces(), wantTraces(stubs)))
			checkHeaders(t, r, compression)
		})
	}

	// As the processor hands them over once the resource is complete: with
	// another resource and identity keys copied onto the spans, one of which
	// the span has already (its own value stays).
	completed := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		completed[i] = &ports.ExportSpan{ReadOnlySpan: s, Res: resBilling, Extra: []attribute.KeyValue{
			attribute.String("faas.name", "checkout-fn"),
			attribute.String(string(allValueTypes()[0].Key), "the span's own value wins"),
		}}
	}
	t.Run("completed resource", func(t *testing.T) {
		r := startReceiver(t)
		exp := newExporter(t, r, export.CompressionGzip, 0)
		if err := exp.ExportSpans(t.Context(), completed); err != nil {
			t.Fatalf("ExportSpans: %v", err)
		}
		reportDiffs(t, diffTraces(r.sink.AllTraces(), wantTraces(tracetest.SpanStubsFromReadOnlySpans(completed))))
	})
}
