package export

import (
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/ports"
)

// The encoder reads every field of every span. Through the ReadOnlySpan
// interface that is fifteen calls per span, and each one copies the whole
// SDK snapshot (about 400 bytes): the SDK's methods take it by value, so
// the pointer wrappers the interface calls copy it before reading one
// field. That was a third of the encoding time.
//
// So the encoder reads an SDK snapshot in place, through spanFields, a
// mirror of the SDK's unexported snapshot struct, when the span's type has
// been verified, once, to have exactly that layout: the same field names,
// types and offsets, and the same size. Any other span type, or an SDK
// whose snapshot changed, is read through the interface, field by field,
// into a scratch spanFields: slower, never wrong. TestSDKSnapshotLayout
// fails when the SDK in go.mod no longer matches the mirror.

// spanFields mirrors go.opentelemetry.io/otel/sdk/trace.snapshot field for
// field. childSpanCount, which OTLP has no field for, is only there for the
// layout: fields leaves it zero when it reads a span through the interface.
type spanFields struct {
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

// spanView is a span as the encoder writes it.
type spanView struct {
	*spanFields
	res   *resource.Resource   // the resource the span is exported with
	extra []attribute.KeyValue // ports.ExportSpan.Extra
}

// view returns s as the encoder reads it. The result may point into
// scratch, which it then uses until the next call with the same scratch.
func view(s sdktrace.ReadOnlySpan, scratch *spanFields) spanView {
	if w, ok := s.(*ports.ExportSpan); ok {
		return spanView{spanFields: fields(w.ReadOnlySpan, scratch), res: w.Res, extra: w.Extra}
	}
	f := fields(s, scratch)
	return spanView{spanFields: f, res: f.resource}
}

// fields returns s's fields: in place for an SDK snapshot, else read into
// scratch.
func fields(s sdktrace.ReadOnlySpan, scratch *spanFields) *spanFields {
	if t := reflect.TypeOf(s); t != nil && inPlace(t) {
		return (*spanFields)(reflect.ValueOf(s).UnsafePointer())
	}
	*scratch = spanFields{
		name:                  s.Name(),
		spanContext:           s.SpanContext(),
		parent:                s.Parent(),
		spanKind:              s.SpanKind(),
		startTime:             s.StartTime(),
		endTime:               s.EndTime(),
		attributes:            s.Attributes(),
		events:                s.Events(),
		links:                 s.Links(),
		status:                s.Status(),
		droppedAttributeCount: s.DroppedAttributes(),
		droppedEventCount:     s.DroppedEvents(),
		droppedLinkCount:      s.DroppedLinks(),
		resource:              s.Resource(),
		instrumentationScope:  s.InstrumentationScope(),
	}
	return scratch
}

var (
	sdkSnapshot atomic.Pointer[reflect.Type] // the span type verified to be read in place
	layouts     sync.Map                     // reflect.Type → bool: the span types checked, and whether they passed
)

// inPlace reports whether spans of type t can be read through spanFields.
func inPlace(t reflect.Type) bool {
	if p := sdkSnapshot.Load(); p != nil && *p == t {
		return true
	}
	return checkLayout(t)
}

func checkLayout(t reflect.Type) bool {
	if ok, seen := layouts.Load(t); seen {
		return ok.(bool)
	}
	ok := mirrors(t)
	if ok {
		sdkSnapshot.Store(&t)
	}
	layouts.Store(t, ok)
	return ok
}

// mirrors reports whether t is a pointer to the SDK's snapshot struct with
// spanFields' exact layout.
func mirrors(t reflect.Type) bool {
	if t.Kind() != reflect.Pointer {
		return false
	}
	st := t.Elem()
	return st.Kind() == reflect.Struct && st.Name() == "snapshot" && st.PkgPath() == "go.opentelemetry.io/otel/sdk/trace" &&
		sameLayout(st, reflect.TypeFor[spanFields]())
}

// sameLayout reports whether the structs a and b have the same size and
// fields: names, types and offsets.
func sameLayout(a, b reflect.Type) bool {
	if a.Size() != b.Size() || a.NumField() != b.NumField() {
		return false
	}
	for i := range b.NumField() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || fa.Type != fb.Type || fa.Offset != fb.Offset {
			return false
		}
	}
	return true
}
