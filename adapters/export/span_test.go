package export

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// realSDKSpans returns spans ended by a real SDK TracerProvider, as its span
// processors get them: the SDK's own snapshot type.
func realSDKSpans(t testing.TB) []sdktrace.ReadOnlySpan {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(rec),
		sdktrace.WithResource(testResource),
		sdktrace.WithRawSpanLimits(sdktrace.SpanLimits{
			AttributeCountLimit: 3, EventCountLimit: 1, LinkCountLimit: 1,
			AttributePerEventCountLimit: -1, AttributePerLinkCountLimit: -1, AttributeValueLengthLimit: -1,
		}),
	)
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("test", trace.WithInstrumentationVersion("v1"))
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ctx, root := tr.Start(trace.ContextWithRemoteSpanContext(context.Background(), remote), "root",
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("a", "1"), attribute.Int("b", 2), attribute.Bool("c", true), attribute.Float64("d", 4)),
		trace.WithLinks(trace.Link{SpanContext: remote}, trace.Link{SpanContext: remote}))
	root.AddEvent("one", trace.WithAttributes(attribute.String("k", "v")))
	root.AddEvent("two")
	root.RecordError(errors.New("boom"))
	root.SetStatus(codes.Error, "failed")
	_, child := tr.Start(ctx, "child")
	child.End(trace.WithTimestamp(time.Unix(1700000000, 5)))
	root.End()
	return rec.Ended()
}

// The SDK in go.mod hands processors a snapshot the encoder reads in place:
// when this fails, the SDK's snapshot struct changed, spanFields must follow
// it, and until then every span is read through the slower interface.
func TestSDKSnapshotLayout(t *testing.T) {
	for _, s := range realSDKSpans(t) {
		if typ := reflect.TypeOf(s); !mirrors(typ) {
			t.Fatalf("%v does not have spanFields' layout", typ)
		}
		var scratch spanFields
		got := fields(s, &scratch)
		if got == &scratch {
			t.Fatalf("span %q was read through the interface, not in place", s.Name())
		}
		inPlace := *got
		inPlace.childSpanCount = 0 // not in OTLP: the interface path leaves it out
		want := fields(&idSpan{s}, &scratch)
		if !reflect.DeepEqual(inPlace, *want) {
			t.Fatalf("span %q read in place:\n%+v\nthrough the interface:\n%+v", s.Name(), inPlace, *want)
		}
	}
}

// Types that are not the SDK's snapshot are read through the interface.
func TestOtherSpanTypesReadThroughTheInterface(t *testing.T) {
	for _, s := range []sdktrace.ReadOnlySpan{
		tracetest.SpanStub{Name: "stub"}.Snapshot(),
		&idSpan{tracetest.SpanStub{Name: "wrapped"}.Snapshot()},
	} {
		var scratch spanFields
		if got := fields(s, &scratch); got != &scratch || got.name != s.Name() {
			t.Fatalf("%T: read in place", s)
		}
	}
}

// asSDKSnapshot returns a span of the SDK's own snapshot type holding s's
// fields, so that random spans can be encoded along the in-place path.
func asSDKSnapshot(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	typ := sdkSnapshotType()
	if !mirrors(typ) {
		panic("the SDK's snapshot does not have spanFields' layout: see TestSDKSnapshotLayout")
	}
	v := reflect.New(typ.Elem())
	var scratch spanFields
	*(*spanFields)(v.UnsafePointer()) = *fields(&idSpan{s}, &scratch)
	return v.Interface().(sdktrace.ReadOnlySpan)
}

var sdkSnapshotType = sync.OnceValue(func() reflect.Type {
	return reflect.TypeOf(realSDKSpans(nil)[0])
})

// sameLayout tells a struct with spanFields' layout from ones that differ
// in one field's name or type, or by a field more.
func TestSameLayout(t *testing.T) {
	//lint:ignore U1000 the fields are there for their layout, never read
	type same struct {
		name                  string
		spanContext           trace.SpanContext
		parent                trace.SpanContext
		spanKind              trace.SpanKind
		startTime             time.Time
		endTime               time.Time
		attributes            []attribute.KeyValue
		events                []sdktrace.Event
		links                 []sdktrace.Link
		status                sdktrace.Status
		childSpanCount        int
		droppedAttributeCount int
		droppedEventCount     int
		droppedLinkCount      int
		resource              *resource.Resource
		instrumentationScope  instrumentation.Scope
	}
	//lint:ignore U1000 the fields are there for their layout, never read
	type renamed struct {
		name                  string
		spanContext           trace.SpanContext
		parent                trace.SpanContext
		spanKind              trace.SpanKind
		startTime             time.Time
		endTime               time.Time
		attributes            []attribute.KeyValue
		events                []sdktrace.Event
		links                 []sdktrace.Link
		status                sdktrace.Status
		childSpanCount        int
		droppedAttributeCount int
		droppedLinkCount      int // swapped names
		droppedEventCount     int
		resource              *resource.Resource
		instrumentationScope  instrumentation.Scope
	}
	//lint:ignore U1000 the fields are there for their layout, never read
	type retyped struct {
		name                  string
		spanContext           trace.SpanContext
		parent                trace.SpanContext
		spanKind              trace.SpanKind
		startTime             time.Time
		endTime               time.Time
		attributes            []attribute.KeyValue
		events                []sdktrace.Event
		links                 []sdktrace.Link
		status                sdktrace.Status
		childSpanCount        int64 // same size, other type
		droppedAttributeCount int
		droppedEventCount     int
		droppedLinkCount      int
		resource              *resource.Resource
		instrumentationScope  instrumentation.Scope
	}
	//lint:ignore U1000 the fields are there for their layout, never read
	type longer struct {
		same
		extra int
	}
	want := reflect.TypeFor[spanFields]()
	if !sameLayout(reflect.TypeFor[same](), want) {
		t.Fatal("an identical struct does not have the same layout")
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[renamed](), reflect.TypeFor[retyped](), reflect.TypeFor[longer]()} {
		if sameLayout(typ, want) {
			t.Errorf("%v has the same layout as spanFields", typ.Name())
		}
	}
	if mirrors(reflect.TypeFor[*same]()) {
		t.Error("a look-alike outside the SDK passes for its snapshot")
	}
}
