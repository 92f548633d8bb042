package core

import (
	"context"
	"strconv"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Fuzz targets for every parser of incoming trace context. Seed corpora live
// in testdata/fuzz/<target>; plain go test runs them as regression tests.

// FuzzFW4Value: a parsed @dt value formats to a valid tracestate value that
// parses back to the same tag, and formatting is a fixed point.
func FuzzFW4Value(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string) {
		tag, err := parseFW4Value(v)
		if err != nil {
			return
		}
		out := string(tag.appendValue(nil))
		if len(out) > fw4MaxValueLen {
			t.Fatalf("%q formats to %d bytes", v, len(out))
		}
		if _, err := (trace.TraceState{}).Insert("k@dt", out); err != nil {
			t.Fatalf("%q formats to %q, not a tracestate value: %v", v, out, err)
		}
		back, err := parseFW4Value(out)
		if err != nil {
			t.Fatalf("%q formats to %q, which does not parse: %v", v, out, err)
		}
		back.traceID = tag.traceID // not written in tracestate form
		if canon(back) != canon(tag) {
			t.Fatalf("%q → %q parses as\n%+v, want\n%+v", v, out, back, tag)
		}
		if again := string(back.appendValue(nil)); again != out {
			t.Fatalf("formatting is not stable: %q, then %q", out, again)
		}
	})
}

// FuzzXDynatrace: a parsed x-dynatrace header formats to a header that parses
// back to the same tag; a usable one also yields a valid tracestate entry.
func FuzzXDynatrace(f *testing.F) {
	id := newDTIdentity(DynatraceConfig{Tenant: "testTenant", ClusterID: 123})
	f.Fuzz(func(t *testing.T, h string) {
		tag, err := parseXDynatrace(h)
		if err != nil {
			return
		}
		out := string(tag.appendHeader(nil))
		back, err := parseXDynatrace(out)
		if err != nil {
			t.Fatalf("%q formats to %q, which does not parse: %v", h, out, err)
		}
		if canon(back) != canon(tag) {
			t.Fatalf("%q → %q parses as\n%+v, want\n%+v", h, out, back, tag)
		}
		if again := string(back.appendHeader(nil)); again != out {
			t.Fatalf("formatting is not stable: %q, then %q", out, again)
		}
		entry := appendEntry(nil, id.key, &tag)
		if _, err := trace.ParseTraceState(string(entry)); err != nil {
			t.Fatalf("%q: tracestate entry %q: %v", h, entry, err)
		}
	})
}

// FuzzPropagator feeds traceparent, tracestate and x-dynatrace to Extract;
// whatever parent comes out is injected as W3C and Dynatrace context that
// extracts to the same parent.
func FuzzPropagator(f *testing.F) {
	cfg := DynatraceConfig{Tenant: "testTenant", ClusterID: 123}
	id := newDTIdentity(cfg)
	p := NewPropagator(cfg)
	f.Fuzz(func(t *testing.T, traceparent, tracestate, xdt string) {
		in := propagation.MapCarrier{}
		for k, v := range map[string]string{"traceparent": traceparent, "tracestate": tracestate, "x-dynatrace": xdt} {
			if v != "" {
				in[k] = v
			}
		}
		ctx := p.Extract(context.Background(), in)
		sc := trace.SpanContextFromContext(ctx)
		if !sc.IsValid() {
			return
		}
		if sc.TraceState().Len() > maxTracestateMembers {
			t.Fatalf("extracted %d tracestate members", sc.TraceState().Len())
		}
		if v := sc.TraceState().Get(id.key); v != "" {
			if _, err := parseFW4Value(v); err != nil {
				t.Fatalf("extracted an unusable entry %q: %v", v, err)
			}
		}

		out := propagation.MapCarrier{}
		p.Inject(ctx, out)
		w3c := propagation.MapCarrier{}
		propagation.TraceContext{}.Inject(ctx, w3c)
		if out["traceparent"] != w3c["traceparent"] {
			t.Fatalf("traceparent %q, TraceContext writes %q", out["traceparent"], w3c["traceparent"])
		}
		ts, err := trace.ParseTraceState(out["tracestate"])
		if err != nil || ts.Len() > maxTracestateMembers {
			t.Fatalf("injected tracestate %q: %d members, %v", out["tracestate"], ts.Len(), err)
		}
		if first, _, _ := cutMember(out["tracestate"]); first != id.key {
			t.Fatalf("injected tracestate %q does not start with our entry", out["tracestate"])
		}
		tag, err := parseXDynatrace(out["x-dynatrace"])
		if err != nil || !id.usable(&tag) || tag.traceID != sc.TraceID() || tag.spanID != sc.SpanID() || tag.ignored() == sc.IsSampled() {
			t.Fatalf("injected x-dynatrace %q: %+v, %v", out["x-dynatrace"], tag, err)
		}

		for _, c := range []propagation.MapCarrier{out, {"x-dynatrace": out["x-dynatrace"]}} {
			back := trace.SpanContextFromContext(p.Extract(context.Background(), c))
			if back.TraceID() != sc.TraceID() || back.SpanID() != sc.SpanID() || back.IsSampled() != sc.IsSampled() {
				t.Fatalf("re-extracted %s/%s %v from %v, want %s/%s %v",
					back.TraceID(), back.SpanID(), back.IsSampled(), c, sc.TraceID(), sc.SpanID(), sc.IsSampled())
			}
		}
	})
}

// FuzzCloudTraceContext: a parsed X-Cloud-Trace-Context formats back to a
// header naming the same trace, span and flag.
func FuzzCloudTraceContext(f *testing.F) {
	f.Fuzz(func(t *testing.T, h string) {
		sc, ok := parseCloudTraceContext(h)
		if !ok {
			return
		}
		if !sc.IsValid() || !sc.IsRemote() {
			t.Fatalf("%q: invalid span context %+v", h, sc)
		}
		sid := sc.SpanID()
		var n uint64
		for _, b := range sid {
			n = n<<8 | uint64(b)
		}
		o := "0"
		if sc.IsSampled() {
			o = "1"
		}
		out := sc.TraceID().String() + "/" + strconv.FormatUint(n, 10) + ";o=" + o
		back, ok := parseCloudTraceContext(out)
		if !ok || !back.Equal(sc) {
			t.Fatalf("%q → %q parses as %+v, want %+v", h, out, back, sc)
		}
	})
}

// cutMember returns the first tracestate member's key and value.
func cutMember(ts string) (key, value, rest string) {
	for i := 0; i < len(ts); i++ {
		if ts[i] == ',' {
			rest, ts = ts[i+1:], ts[:i]
			break
		}
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] == '=' {
			return ts[:i], ts[i+1:], rest
		}
	}
	return ts, "", rest
}
