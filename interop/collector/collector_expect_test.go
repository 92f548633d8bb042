package collector_test

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// This file builds the expected pdata from the span stubs, following the
// OTLP specification (opentelemetry-proto trace.proto and common.proto)
// field by field, without any code of the exporter, and compares what the
// receiver decoded with it.

// OTLP span flags (trace.proto SpanFlags): bits 0-7 are the W3C trace
// flags, then "whether the parent (or the linked span) is remote is known"
// and "it is remote".
const (
	flagContextHasIsRemote = 0x100
	flagContextIsRemote    = 0x200
)

func otlpFlags(tf trace.TraceFlags, remote bool) uint32 {
	f := uint32(tf) | flagContextHasIsRemote
	if remote {
		f |= flagContextIsRemote
	}
	return f
}

// wantTraces returns the OTLP data stubs stand for: one ResourceSpans per
// distinct resource, one ScopeSpans per distinct scope within it.
func wantTraces(stubs tracetest.SpanStubs) ptrace.Traces {
	td := ptrace.NewTraces()
	type resKey struct {
		set    attribute.Distinct
		schema string
	}
	type scopeKey struct {
		res                   resKey
		name, version, schema string
		attrs                 attribute.Distinct
	}
	resources := map[resKey]ptrace.ResourceSpans{}
	scopes := map[scopeKey]ptrace.ScopeSpans{}
	for _, s := range stubs {
		rk := resKey{s.Resource.Equivalent(), s.Resource.SchemaURL()}
		rs, ok := resources[rk]
		if !ok {
			rs = td.ResourceSpans().AppendEmpty()
			putResource(rs, s.Resource)
			resources[rk] = rs
		}
		sc := s.InstrumentationScope
		sk := scopeKey{rk, sc.Name, sc.Version, sc.SchemaURL, sc.Attributes.Equivalent()}
		ss, ok := scopes[sk]
		if !ok {
			ss = rs.ScopeSpans().AppendEmpty()
			putScope(ss, sc)
			scopes[sk] = ss
		}
		putSpan(ss.Spans().AppendEmpty(), s)
	}
	return td
}

func putResource(rs ptrace.ResourceSpans, r *resource.Resource) {
	rs.SetSchemaUrl(r.SchemaURL())
	putAttributes(rs.Resource().Attributes(), r.Attributes())
}

func putScope(ss ptrace.ScopeSpans, sc instrumentation.Scope) {
	ss.SetSchemaUrl(sc.SchemaURL)
	ss.Scope().SetName(sc.Name)
	ss.Scope().SetVersion(sc.Version)
	putAttributes(ss.Scope().Attributes(), sc.Attributes.ToSlice())
}

func putSpan(dst ptrace.Span, s tracetest.SpanStub) {
	dst.SetTraceID(pcommon.TraceID(s.SpanContext.TraceID()))
	dst.SetSpanID(pcommon.SpanID(s.SpanContext.SpanID()))
	dst.TraceState().FromRaw(s.SpanContext.TraceState().String())
	if s.Parent.SpanID().IsValid() {
		dst.SetParentSpanID(pcommon.SpanID(s.Parent.SpanID()))
	}
	dst.SetFlags(otlpFlags(s.SpanContext.TraceFlags(), s.Parent.IsRemote()))
	dst.SetName(s.Name)
	dst.SetKind(spanKind(s.SpanKind))
	dst.SetStartTimestamp(pcommon.NewTimestampFromTime(s.StartTime))
	dst.SetEndTimestamp(pcommon.NewTimestampFromTime(s.EndTime))
	putAttributes(dst.Attributes(), s.Attributes)
	dst.SetDroppedAttributesCount(uint32(s.DroppedAttributes))
	for _, ev := range s.Events {
		e := dst.Events().AppendEmpty()
		e.SetTimestamp(pcommon.NewTimestampFromTime(ev.Time))
		e.SetName(ev.Name)
		putAttributes(e.Attributes(), ev.Attributes)
		e.SetDroppedAttributesCount(uint32(ev.DroppedAttributeCount))
	}
	dst.SetDroppedEventsCount(uint32(s.DroppedEvents))
	for _, l := range s.Links {
		putLink(dst.Links().AppendEmpty(), l)
	}
	dst.SetDroppedLinksCount(uint32(s.DroppedLinks))
	dst.Status().SetMessage(s.Status.Description)
	dst.Status().SetCode(statusCode(s.Status.Code))
}

func putLink(dst ptrace.SpanLink, l sdktrace.Link) {
	sc := l.SpanContext
	dst.SetTraceID(pcommon.TraceID(sc.TraceID()))
	dst.SetSpanID(pcommon.SpanID(sc.SpanID()))
	dst.TraceState().FromRaw(sc.TraceState().String())
	putAttributes(dst.Attributes(), l.Attributes)
	dst.SetDroppedAttributesCount(uint32(l.DroppedAttributeCount))
	dst.SetFlags(otlpFlags(sc.TraceFlags(), sc.IsRemote()))
}

func spanKind(k trace.SpanKind) ptrace.SpanKind {
	switch k {
	case trace.SpanKindInternal:
		return ptrace.SpanKindInternal
	case trace.SpanKindServer:
		return ptrace.SpanKindServer
	case trace.SpanKindClient:
		return ptrace.SpanKindClient
	case trace.SpanKindProducer:
		return ptrace.SpanKindProducer
	case trace.SpanKindConsumer:
		return ptrace.SpanKindConsumer
	}
	return ptrace.SpanKindUnspecified
}

func statusCode(c codes.Code) ptrace.StatusCode {
	switch c {
	case codes.Ok:
		return ptrace.StatusCodeOk
	case codes.Error:
		return ptrace.StatusCodeError
	}
	return ptrace.StatusCodeUnset
}

func putAttributes(dst pcommon.Map, kvs []attribute.KeyValue) {
	dst.EnsureCapacity(len(kvs))
	for _, kv := range kvs {
		putValue(dst.PutEmpty(string(kv.Key)), kv.Value)
	}
}

// putValue sets dst to v, the way common.proto's AnyValue holds it.
func putValue(dst pcommon.Value, v attribute.Value) {
	switch v.Type() {
	case attribute.BOOL:
		dst.SetBool(v.AsBool())
	case attribute.INT64:
		dst.SetInt(v.AsInt64())
	case attribute.FLOAT64:
		dst.SetDouble(v.AsFloat64())
	case attribute.STRING:
		dst.SetStr(v.AsString())
	case attribute.BYTESLICE:
		dst.SetEmptyBytes().FromRaw(v.AsByteSlice())
	case attribute.BOOLSLICE:
		s := dst.SetEmptySlice()
		for _, x := range v.AsBoolSlice() {
			s.AppendEmpty().SetBool(x)
		}
	case attribute.INT64SLICE:
		s := dst.SetEmptySlice()
		for _, x := range v.AsInt64Slice() {
			s.AppendEmpty().SetInt(x)
		}
	case attribute.FLOAT64SLICE:
		s := dst.SetEmptySlice()
		for _, x := range v.AsFloat64Slice() {
			s.AppendEmpty().SetDouble(x)
		}
	case attribute.STRINGSLICE:
		s := dst.SetEmptySlice()
		for _, x := range v.AsStringSlice() {
			s.AppendEmpty().SetStr(x)
		}
	case attribute.SLICE:
		s := dst.SetEmptySlice()
		for _, x := range v.AsSlice() {
			putValue(s.AppendEmpty(), x)
		}
	case attribute.MAP:
		putAttributes(dst.SetEmptyMap(), v.AsMap())
	case attribute.EMPTY:
		// An AnyValue with no field set.
	}
}

// flatSpan is a received span with the resource and scope it came with.
type flatSpan struct {
	request   int // index of the request (consumer call) it arrived in
	rs        ptrace.ResourceSpans
	ss        ptrace.ScopeSpans
	span      ptrace.Span
	duplicate bool
}

type spanKey struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
}

func keyOf(s ptrace.Span) spanKey { return spanKey{s.TraceID(), s.SpanID()} }

// flatten indexes the spans of all requests by trace and span id.
func flatten(requests []ptrace.Traces) (map[spanKey]*flatSpan, []string) {
	out := map[spanKey]*flatSpan{}
	var problems []string
	for i, td := range requests {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					k := keyOf(s)
					if prev, ok := out[k]; ok {
						prev.duplicate = true
						problems = append(problems, fmt.Sprintf("%s: received twice (requests %d and %d)", describe(s), prev.request, i))
						continue
					}
					out[k] = &flatSpan{request: i, rs: rs, ss: ss, span: s}
				}
			}
		}
	}
	return out, problems
}

func describe(s ptrace.Span) string {
	return fmt.Sprintf("span %q (%s/%s)", s.Name(), s.TraceID(), s.SpanID())
}

// diffTraces compares what the receiver got with want, span by span, and
// returns one line per difference.
func diffTraces(got []ptrace.Traces, want ptrace.Traces) []string {
	index, diffs := flatten(got)
	seen := map[spanKey]bool{}
	for _, rs := range want.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, w := range ss.Spans().All() {
				k := keyOf(w)
				seen[k] = true
				g, ok := index[k]
				if !ok {
					diffs = append(diffs, describe(w)+": missing")
					continue
				}
				d := &differ{prefix: describe(w)}
				d.resource(g.rs, rs)
				d.scope(g.ss, ss)
				d.span(g.span, w)
				diffs = append(diffs, d.lines...)
			}
		}
	}
	for k, g := range index {
		if !seen[k] {
			diffs = append(diffs, describe(g.span)+": unexpected span")
		}
	}
	return diffs
}

type differ struct {
	prefix string
	lines  []string
}

func (d *differ) add(path, format string, args ...any) {
	d.lines = append(d.lines, d.prefix+": "+path+": "+fmt.Sprintf(format, args...))
}

func check[T comparable](d *differ, path string, got, want T) {
	if got != want {
		d.add(path, "got %v, want %v", got, want)
	}
}

func (d *differ) resource(got, want ptrace.ResourceSpans) {
	check(d, "resource schema_url", got.SchemaUrl(), want.SchemaUrl())
	d.attributes("resource.attributes", got.Resource().Attributes(), want.Resource().Attributes())
	check(d, "resource.dropped_attributes_count", got.Resource().DroppedAttributesCount(), want.Resource().DroppedAttributesCount())
}

func (d *differ) scope(got, want ptrace.ScopeSpans) {
	check(d, "scope schema_url", got.SchemaUrl(), want.SchemaUrl())
	g, w := got.Scope(), want.Scope()
	check(d, "scope.name", g.Name(), w.Name())
	check(d, "scope.version", g.Version(), w.Version())
	d.attributes("scope.attributes", g.Attributes(), w.Attributes())
	check(d, "scope.dropped_attributes_count", g.DroppedAttributesCount(), w.DroppedAttributesCount())
}

func (d *differ) span(got, want ptrace.Span) {
	check(d, "trace_id", got.TraceID(), want.TraceID())
	check(d, "span_id", got.SpanID(), want.SpanID())
	check(d, "trace_state", got.TraceState().AsRaw(), want.TraceState().AsRaw())
	check(d, "parent_span_id", got.ParentSpanID(), want.ParentSpanID())
	if got.Flags() != want.Flags() {
		d.add("flags", "got %#x, want %#x", got.Flags(), want.Flags())
	}
	check(d, "name", got.Name(), want.Name())
	check(d, "kind", got.Kind(), want.Kind())
	check(d, "start_time_unix_nano", got.StartTimestamp(), want.StartTimestamp())
	check(d, "end_time_unix_nano", got.EndTimestamp(), want.EndTimestamp())
	d.attributes("attributes", got.Attributes(), want.Attributes())
	check(d, "dropped_attributes_count", got.DroppedAttributesCount(), want.DroppedAttributesCount())

	ge, we := got.Events(), want.Events()
	check(d, "len(events)", ge.Len(), we.Len())
	for i := range min(ge.Len(), we.Len()) {
		g, w := ge.At(i), we.At(i)
		p := fmt.Sprintf("events[%d]", i)
		check(d, p+".time_unix_nano", g.Timestamp(), w.Timestamp())
		check(d, p+".name", g.Name(), w.Name())
		d.attributes(p+".attributes", g.Attributes(), w.Attributes())
		check(d, p+".dropped_attributes_count", g.DroppedAttributesCount(), w.DroppedAttributesCount())
	}
	check(d, "dropped_events_count", got.DroppedEventsCount(), want.DroppedEventsCount())

	gl, wl := got.Links(), want.Links()
	check(d, "len(links)", gl.Len(), wl.Len())
	for i := range min(gl.Len(), wl.Len()) {
		g, w := gl.At(i), wl.At(i)
		p := fmt.Sprintf("links[%d]", i)
		check(d, p+".trace_id", g.TraceID(), w.TraceID())
		check(d, p+".span_id", g.SpanID(), w.SpanID())
		check(d, p+".trace_state", g.TraceState().AsRaw(), w.TraceState().AsRaw())
		d.attributes(p+".attributes", g.Attributes(), w.Attributes())
		check(d, p+".dropped_attributes_count", g.DroppedAttributesCount(), w.DroppedAttributesCount())
		if g.Flags() != w.Flags() {
			d.add(p+".flags", "got %#x, want %#x", g.Flags(), w.Flags())
		}
	}
	check(d, "dropped_links_count", got.DroppedLinksCount(), want.DroppedLinksCount())

	check(d, "status.code", got.Status().Code(), want.Status().Code())
	check(d, "status.message", got.Status().Message(), want.Status().Message())
}

// attributes compares two attribute maps as maps: order is not part of
// OTLP's contract, duplicates would be.
func (d *differ) attributes(path string, got, want pcommon.Map) {
	if got.Len() != want.Len() {
		d.add(path, "got %d entries, want %d (got keys %v, want %v)", got.Len(), want.Len(), keys(got), keys(want))
	}
	for k, w := range want.All() {
		g, ok := got.Get(k)
		if !ok {
			d.add(fmt.Sprintf("%s[%q]", path, k), "missing, want %s", show(w))
			continue
		}
		d.value(fmt.Sprintf("%s[%q]", path, k), g, w)
	}
	for k, g := range got.All() {
		if _, ok := want.Get(k); !ok {
			d.add(fmt.Sprintf("%s[%q]", path, k), "unexpected %s", show(g))
		}
	}
}

func keys(m pcommon.Map) []string {
	var ks []string
	for k := range m.All() {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// value compares two AnyValues exactly: same type, doubles bit for bit
// (negative zero and NaN included).
func (d *differ) value(path string, got, want pcommon.Value) {
	if got.Type() != want.Type() {
		d.add(path, "got %s, want %s", show(got), show(want))
		return
	}
	switch want.Type() {
	case pcommon.ValueTypeStr:
		if got.Str() != want.Str() {
			d.add(path, "got %s, want %s", show(got), show(want))
		}
	case pcommon.ValueTypeBool:
		check(d, path, got.Bool(), want.Bool())
	case pcommon.ValueTypeInt:
		check(d, path, got.Int(), want.Int())
	case pcommon.ValueTypeDouble:
		if math.Float64bits(got.Double()) != math.Float64bits(want.Double()) {
			d.add(path, "got double %v (bits %#x), want %v (bits %#x)",
				got.Double(), math.Float64bits(got.Double()), want.Double(), math.Float64bits(want.Double()))
		}
	case pcommon.ValueTypeBytes:
		if !bytes.Equal(got.Bytes().AsRaw(), want.Bytes().AsRaw()) {
			d.add(path, "got bytes %x, want %x", got.Bytes().AsRaw(), want.Bytes().AsRaw())
		}
	case pcommon.ValueTypeSlice:
		gs, ws := got.Slice(), want.Slice()
		if gs.Len() != ws.Len() {
			d.add(path, "got %d elements, want %d: got %s, want %s", gs.Len(), ws.Len(), show(got), show(want))
			return
		}
		for i := range ws.Len() {
			d.value(fmt.Sprintf("%s[%d]", path, i), gs.At(i), ws.At(i))
		}
	case pcommon.ValueTypeMap:
		d.attributes(path, got.Map(), want.Map())
	case pcommon.ValueTypeEmpty:
	}
}

func show(v pcommon.Value) string {
	s := v.AsString()
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return strings.ToLower(v.Type().String()) + " " + s
}

// TestDiffTraces checks that the comparison used above is not vacuous: each
// change to a copy of the expected data is reported, naming its field.
func TestDiffTraces(t *testing.T) {
	spanAt := func(td ptrace.Traces, name string) ptrace.Span {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					if s.Name() == name {
						return s
					}
				}
			}
		}
		t.Fatalf("no span %q in the fixture", name)
		return ptrace.Span{}
	}
	const root = "GET /checkout/{id}"
	tests := []struct {
		give   string
		mutate func(td ptrace.Traces)
		want   string
	}{
		{give: "flags", mutate: func(td ptrace.Traces) { spanAt(td, root).SetFlags(1) }, want: "flags: got 0x1, want 0x101"},
		{give: "int to double", mutate: func(td ptrace.Traces) { spanAt(td, root).Attributes().PutDouble("int.zero", 0) }, want: `attributes["int.zero"]: got double`},
		{give: "negative zero", mutate: func(td ptrace.Traces) { spanAt(td, root).Attributes().PutDouble("double.negative_zero", 0) }, want: `attributes["double.negative_zero"]: got double 0`},
		{give: "empty bytes", mutate: func(td ptrace.Traces) { v, _ := spanAt(td, root).Attributes().Get("bytes.empty"); v.SetStr("") }, want: `attributes["bytes.empty"]: got str`},
		{give: "nested map", mutate: func(td ptrace.Traces) {
			v, _ := spanAt(td, root).Attributes().Get("map")
			n, _ := v.Map().Get("nested")
			n.Map().PutBool("deep", false)
		}, want: `attributes["map"]["nested"]["deep"]: got false, want true`},
		{give: "empty value", mutate: func(td ptrace.Traces) { spanAt(td, root).Attributes().PutStr("empty", "") }, want: `attributes["empty"]: got str , want empty`},
		{give: "missing attribute", mutate: func(td ptrace.Traces) { spanAt(td, root).Attributes().Remove("string") }, want: `attributes["string"]: missing`},
		{give: "event", mutate: func(td ptrace.Traces) { spanAt(td, root).Events().At(0).SetDroppedAttributesCount(0) }, want: "events[0].dropped_attributes_count: got 0, want 2"},
		{give: "link trace state", mutate: func(td ptrace.Traces) { spanAt(td, root).Links().At(0).TraceState().FromRaw("") }, want: "links[0].trace_state"},
		{give: "link flags", mutate: func(td ptrace.Traces) { spanAt(td, root).Links().At(0).SetFlags(0x103) }, want: "links[0].flags: got 0x103, want 0x303"},
		{give: "status", mutate: func(td ptrace.Traces) { spanAt(td, root).Status().SetMessage("") }, want: "status.message"},
		{give: "dropped links", mutate: func(td ptrace.Traces) { spanAt(td, root).SetDroppedLinksCount(0) }, want: "dropped_links_count: got 0, want 1"},
		{give: "parent", mutate: func(td ptrace.Traces) { spanAt(td, "charge card").SetParentSpanID(pcommon.SpanID{}) }, want: "parent_span_id"},
		{give: "kind", mutate: func(td ptrace.Traces) { spanAt(td, "consume order").SetKind(ptrace.SpanKindInternal) }, want: "kind: got Internal, want Consumer"},
		{give: "scope version", mutate: func(td ptrace.Traces) { td.ResourceSpans().At(0).ScopeSpans().At(0).Scope().SetVersion("") }, want: "scope.version"},
		{give: "resource", mutate: func(td ptrace.Traces) { td.ResourceSpans().At(0).Resource().Attributes().PutInt("process.pid", 1) }, want: `resource.attributes["process.pid"]: got 1, want 4242`},
		{give: "resource schema", mutate: func(td ptrace.Traces) { td.ResourceSpans().At(0).SetSchemaUrl("") }, want: "resource schema_url"},
		{give: "lost span", mutate: func(td ptrace.Traces) {
			td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().RemoveIf(func(s ptrace.Span) bool { return s.Name() == root })
		}, want: "missing"},
	}
	want := wantTraces(fixtureBatch())
	if diffs := diffTraces([]ptrace.Traces{want}, want); len(diffs) != 0 {
		t.Fatalf("want differs from itself: %q", diffs)
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got := ptrace.NewTraces()
			want.CopyTo(got)
			tt.mutate(got)
			diffs := diffTraces([]ptrace.Traces{got}, want)
			if !slices.ContainsFunc(diffs, func(d string) bool { return strings.Contains(d, tt.want) }) {
				t.Errorf("diffs do not mention %q:\n%s", tt.want, strings.Join(diffs, "\n"))
			}
		})
	}
	t.Run("duplicate", func(t *testing.T) {
		diffs := diffTraces([]ptrace.Traces{want, want}, want)
		if !slices.ContainsFunc(diffs, func(d string) bool { return strings.Contains(d, "received twice") }) {
			t.Errorf("a span received twice is not reported: %q", diffs)
		}
	})
}
