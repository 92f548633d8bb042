package export

import (
	"math"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// refTracesData converts spans with the official OTLP types. Resources and
// scopes are grouped in order of first appearance.
func refTracesData(spans []sdktrace.ReadOnlySpan) *tracepb.TracesData {
	type resKey struct {
		set    attribute.Distinct
		schema string
	}
	type scopeKey struct {
		res   resKey
		scope instrumentation.Scope
	}
	td := &tracepb.TracesData{}
	rss := map[resKey]*tracepb.ResourceSpans{}
	sss := map[scopeKey]*tracepb.ScopeSpans{}
	for _, s := range spans {
		if s == nil {
			continue
		}
		res := s.Resource()
		rk := resKey{set: res.Equivalent(), schema: res.SchemaURL()}
		rs, ok := rss[rk]
		if !ok {
			rs = &tracepb.ResourceSpans{Resource: refResource(res), SchemaUrl: res.SchemaURL()}
			rss[rk] = rs
			td.ResourceSpans = append(td.ResourceSpans, rs)
		}
		sk := scopeKey{res: rk, scope: s.InstrumentationScope()}
		ss, ok := sss[sk]
		if !ok {
			sc := s.InstrumentationScope()
			ss = &tracepb.ScopeSpans{
				Scope: &commonpb.InstrumentationScope{
					Name:       sc.Name,
					Version:    sc.Version,
					Attributes: refKeyValues(sc.Attributes.ToSlice()),
				},
				SchemaUrl: sc.SchemaURL,
			}
			sss[sk] = ss
			rs.ScopeSpans = append(rs.ScopeSpans, ss)
		}
		ss.Spans = append(ss.Spans, refSpan(s))
	}
	return td
}

func refResource(r *resource.Resource) *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: refKeyValues(r.Attributes())}
}

func refSpan(s sdktrace.ReadOnlySpan) *tracepb.Span {
	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	st := s.Status()
	ps := &tracepb.Span{
		TraceId:                tid[:],
		SpanId:                 sid[:],
		TraceState:             sc.TraceState().String(),
		Name:                   s.Name(),
		Kind:                   refKind(s.SpanKind()),
		StartTimeUnixNano:      uint64(max(0, s.StartTime().UnixNano())),
		EndTimeUnixNano:        uint64(max(0, s.EndTime().UnixNano())),
		Attributes:             refKeyValues(s.Attributes()),
		DroppedAttributesCount: refClamp(s.DroppedAttributes()),
		DroppedEventsCount:     refClamp(s.DroppedEvents()),
		DroppedLinksCount:      refClamp(s.DroppedLinks()),
		Status:                 &tracepb.Status{Code: refStatusCode(st.Code), Message: st.Description},
		Flags:                  refFlags(sc.TraceFlags(), s.Parent().IsRemote()),
	}
	if p := s.Parent().SpanID(); p.IsValid() {
		ps.ParentSpanId = p[:]
	}
	for _, ev := range s.Events() {
		ps.Events = append(ps.Events, &tracepb.Span_Event{
			TimeUnixNano:           uint64(max(0, ev.Time.UnixNano())),
			Name:                   ev.Name,
			Attributes:             refKeyValues(ev.Attributes),
			DroppedAttributesCount: refClamp(ev.DroppedAttributeCount),
		})
	}
	for _, l := range s.Links() {
		ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		ps.Links = append(ps.Links, &tracepb.Span_Link{
			TraceId:                ltid[:],
			SpanId:                 lsid[:],
			TraceState:             l.SpanContext.TraceState().String(),
			Attributes:             refKeyValues(l.Attributes),
			DroppedAttributesCount: refClamp(l.DroppedAttributeCount),
			Flags:                  refFlags(l.SpanContext.TraceFlags(), l.SpanContext.IsRemote()),
		})
	}
	return ps
}

// refFlags is the OTLP flags word: the W3C trace flags in bits 0-7, then
// "remote is known" and "remote".
func refFlags(tf trace.TraceFlags, remote bool) uint32 {
	f := uint32(tf) | uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK)
	if remote {
		f |= uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK)
	}
	return f
}

func refKind(k trace.SpanKind) tracepb.Span_SpanKind {
	switch k {
	case trace.SpanKindInternal:
		return tracepb.Span_SPAN_KIND_INTERNAL
	case trace.SpanKindServer:
		return tracepb.Span_SPAN_KIND_SERVER
	case trace.SpanKindClient:
		return tracepb.Span_SPAN_KIND_CLIENT
	case trace.SpanKindProducer:
		return tracepb.Span_SPAN_KIND_PRODUCER
	case trace.SpanKindConsumer:
		return tracepb.Span_SPAN_KIND_CONSUMER
	default:
		return tracepb.Span_SPAN_KIND_UNSPECIFIED
	}
}

func refStatusCode(c codes.Code) tracepb.Status_StatusCode {
	switch c {
	case codes.Ok:
		return tracepb.Status_STATUS_CODE_OK
	case codes.Error:
		return tracepb.Status_STATUS_CODE_ERROR
	default:
		return tracepb.Status_STATUS_CODE_UNSET
	}
}

func refClamp(n int) uint32 {
	if n < 0 {
		return 0
	}
	if int64(n) > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(n)
}

func refKeyValues(kvs []attribute.KeyValue) []*commonpb.KeyValue {
	var out []*commonpb.KeyValue
	for _, kv := range kvs {
		out = append(out, &commonpb.KeyValue{Key: string(kv.Key), Value: refValue(kv.Value)})
	}
	return out
}

func refValue(v attribute.Value) *commonpb.AnyValue {
	av := &commonpb.AnyValue{}
	switch v.Type() {
	case attribute.BOOL:
		av.Value = &commonpb.AnyValue_BoolValue{BoolValue: v.AsBool()}
	case attribute.INT64:
		av.Value = &commonpb.AnyValue_IntValue{IntValue: v.AsInt64()}
	case attribute.FLOAT64:
		av.Value = &commonpb.AnyValue_DoubleValue{DoubleValue: v.AsFloat64()}
	case attribute.STRING:
		av.Value = &commonpb.AnyValue_StringValue{StringValue: v.AsString()}
	case attribute.BYTESLICE:
		av.Value = &commonpb.AnyValue_BytesValue{BytesValue: v.AsByteSlice()}
	case attribute.BOOLSLICE:
		arr := &commonpb.ArrayValue{}
		for _, b := range v.AsBoolSlice() {
			arr.Values = append(arr.Values, &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}})
		}
		av.Value = &commonpb.AnyValue_ArrayValue{ArrayValue: arr}
	case attribute.INT64SLICE:
		arr := &commonpb.ArrayValue{}
		for _, i := range v.AsInt64Slice() {
			arr.Values = append(arr.Values, &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}})
		}
		av.Value = &commonpb.AnyValue_ArrayValue{ArrayValue: arr}
	case attribute.FLOAT64SLICE:
		arr := &commonpb.ArrayValue{}
		for _, f := range v.AsFloat64Slice() {
			arr.Values = append(arr.Values, &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}})
		}
		av.Value = &commonpb.AnyValue_ArrayValue{ArrayValue: arr}
	case attribute.STRINGSLICE:
		arr := &commonpb.ArrayValue{}
		for _, s := range v.AsStringSlice() {
			arr.Values = append(arr.Values, &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}})
		}
		av.Value = &commonpb.AnyValue_ArrayValue{ArrayValue: arr}
	case attribute.SLICE:
		arr := &commonpb.ArrayValue{}
		for _, e := range v.AsSlice() {
			arr.Values = append(arr.Values, refValue(e))
		}
		av.Value = &commonpb.AnyValue_ArrayValue{ArrayValue: arr}
	case attribute.MAP:
		kvl := &commonpb.KeyValueList{Values: refKeyValues(v.AsMap())}
		av.Value = &commonpb.AnyValue_KvlistValue{KvlistValue: kvl}
	case attribute.EMPTY:
		// An AnyValue with no value set.
	}
	return av
}
