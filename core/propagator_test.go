package core_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/core"
)

var testDT = core.DynatraceConfig{Tenant: "testTenant", ClusterID: 123} // key 34d2ae74-7b@dt

const (
	dtKey     = "34d2ae74-7b@dt"
	traceA    = "11223344556677889900112233445566"
	traceB    = "22334455667788990011223344556677"
	spanA     = "8877665544332211"
	spanB     = "aaffffeebbaabbee"
	xdtA      = "FW4;123;5;15;33;67;886222452;0;e03f;2h01;6h" + traceA + ";7h" + spanA          // ours, not ignored
	xdtAIgn   = "FW4;123;5;15;33;-2147483581;886222452;0;e03f;2h01;6h" + traceA + ";7h" + spanA // ours, ignored
	entryA    = "fw4;5;f;21;43;0;0;0;7db5;2h01;7h" + spanA                                      // xdtA as tracestate
	entryAIgn = "fw4;5;f;21;43;1;0;0;7db5;2h01;7h" + spanA
)

// want describes the remote parent Extract should produce; a zero want
// means no parent.
type want struct {
	traceID, spanID string
	sampled         bool
	tracestate      string
}

func (w want) check(t *testing.T, ctx context.Context) {
	t.Helper()
	sc := trace.SpanContextFromContext(ctx)
	if w.traceID == "" {
		if sc.IsValid() {
			t.Errorf("parent = %s/%s, want none", sc.TraceID(), sc.SpanID())
		}
		return
	}
	if !sc.IsValid() || !sc.IsRemote() {
		t.Fatalf("parent = %+v, want a remote span context", sc)
	}
	if got := sc.TraceID().String(); got != w.traceID {
		t.Errorf("trace id = %s, want %s", got, w.traceID)
	}
	if got := sc.SpanID().String(); got != w.spanID {
		t.Errorf("span id = %s, want %s", got, w.spanID)
	}
	if sc.IsSampled() != w.sampled {
		t.Errorf("sampled = %v, want %v", sc.IsSampled(), w.sampled)
	}
	if got := sc.TraceState().String(); got != w.tracestate {
		t.Errorf("tracestate = %q, want %q", got, w.tracestate)
	}
}

func TestPropagatorExtract(t *testing.T) {
	tests := []struct {
		name string
		give map[string]string
		want want
	}{
		{
			name: "nothing",
			give: map[string]string{},
		},
		{
			name: "x-dynatrace only",
			give: map[string]string{"x-dynatrace": xdtAIgn},
			want: want{traceID: traceA, spanID: spanA, sampled: false, tracestate: dtKey + "=" + entryAIgn},
		},
		{
			name: "x-dynatrace with an invalid traceparent",
			give: map[string]string{"x-dynatrace": xdtAIgn, "traceparent": "00-00000000000000000000000000000000-0000000000000000-00"},
			want: want{traceID: traceA, spanID: spanA, sampled: false, tracestate: dtKey + "=" + entryAIgn},
		},
		{
			name: "x-dynatrace wins over traceparent of another trace, whose tracestate goes with it",
			give: map[string]string{
				"x-dynatrace": xdtA,
				"traceparent": "00-" + traceB + "-9988776655443322-00",
				"tracestate":  dtKey + "=fw4;fffffffd;0;0;0;0;0;0;8355;2h01;7h" + spanB + ",custom=00f067aa0ba902b7",
			},
			want: want{traceID: traceA, spanID: spanA, sampled: true, tracestate: dtKey + "=" + entryA},
		},
		{
			name: "x-dynatrace of the same trace: W3C parent kept, entry and flag from the tag",
			give: map[string]string{
				"x-dynatrace": xdtA,
				"traceparent": "00-" + traceA + "-" + spanB + "-00",
				"tracestate":  dtKey + "=fw4;fffffffd;0;0;0;0;0;0;8355;2h01;7h" + spanB + ",custom=00f067aa0ba902b7",
			},
			want: want{traceID: traceA, spanID: spanB, sampled: true, tracestate: dtKey + "=" + entryA + ",custom=00f067aa0ba902b7"},
		},
		{
			name: "x-dynatrace of the same trace, no tracestate",
			give: map[string]string{"x-dynatrace": xdtA, "traceparent": "00-" + traceA + "-" + spanB + "-00"},
			want: want{traceID: traceA, spanID: spanB, sampled: true, tracestate: dtKey + "=" + entryA},
		},
		{
			name: "foreign x-dynatrace: our tracestate entry decides",
			give: map[string]string{
				"x-dynatrace": "FW4;656;5;15;33;67;113948091;0;e03f;2h01;6h" + traceA + ";7h" + spanA,
				"traceparent": "00-" + traceB + "-" + spanA + "-01",
				"tracestate":  dtKey + "=fw4;0;0;0;0;1;0;0;8355;2h01;7h" + spanB,
			},
			want: want{traceID: traceB, spanID: spanA, sampled: false, tracestate: dtKey + "=fw4;0;0;0;0;1;0;0;8355;2h01;7h" + spanB},
		},
		{
			name: "x-dynatrace without trace and span id",
			give: map[string]string{"x-dynatrace": "FW4;123;5;15;33;67;886222452;0"},
		},
		{
			name: "x-dynatrace with a bad checksum",
			give: map[string]string{"x-dynatrace": strings.Replace(xdtA, "e03f", "e03e", 1)},
		},
		{
			name: "tracestate entry, other span: ignored bit clears the flag",
			give: map[string]string{
				"traceparent": "00-" + traceA + "-" + spanA + "-01",
				"tracestate":  dtKey + "=fw4;0;0;0;0;1;0;0;8355;2h01;7h" + spanB,
			},
			want: want{traceID: traceA, spanID: spanA, sampled: false, tracestate: dtKey + "=fw4;0;0;0;0;1;0;0;8355;2h01;7h" + spanB},
		},
		{
			name: "tracestate entry of another trace: W3C parent kept, entry dropped",
			give: map[string]string{
				"traceparent": "00-" + traceA + "-" + spanA + "-01",
				"tracestate":  dtKey + "=fw4;0;0;0;0;1;0;0;dd95;2h01;6haa2233445566778899001122334455bb;7h" + spanA + ",rojo=00f067aa0ba902b7",
			},
			want: want{traceID: traceA, spanID: spanA, sampled: true, tracestate: "rojo=00f067aa0ba902b7"},
		},
		{
			name: "malformed tracestate entry: W3C parent kept, entry dropped",
			give: map[string]string{
				"traceparent": "00-" + traceA + "-" + spanA + "-00",
				"tracestate":  "rojo=00f067aa0ba902b7," + dtKey + "=fw4;0;0;0;0;0;0;0;1111;2h01",
			},
			want: want{traceID: traceA, spanID: spanA, sampled: false, tracestate: "rojo=00f067aa0ba902b7"},
		},
		{
			name: "tracestate entry with negative server id",
			give: map[string]string{
				"traceparent": "00-" + traceA + "-" + spanA + "-01",
				"tracestate":  dtKey + "=fw4;fffffffd;0;0;0;0;0;0;7db5;2h01;7h" + spanA,
			},
			want: want{traceID: traceA, spanID: spanA, sampled: true, tracestate: dtKey + "=fw4;fffffffd;0;0;0;0;0;0;7db5;2h01;7h" + spanA},
		},
		{
			name: "tracestate entry not ignored sets the flag",
			give: map[string]string{
				"traceparent": "00-" + traceA + "-" + spanA + "-00",
				"tracestate":  dtKey + "=fw4;8;0;0;0;0;0;0;7db5;2h01;7h" + spanA,
			},
			want: want{traceID: traceA, spanID: spanA, sampled: true, tracestate: dtKey + "=fw4;8;0;0;0;0;0;0;7db5;2h01;7h" + spanA},
		},
		{
			name: "foreign tenant's entry kept and ignored",
			give: map[string]string{
				"traceparent": "00-" + traceA + "-" + spanA + "-00",
				"tracestate":  "custom=00f067aa0ba902b7,6cab5bb-290@dt=fw4;0;0;0;0;0;0;0;8355;2h01;7h" + spanB,
			},
			want: want{traceID: traceA, spanID: spanA, sampled: false, tracestate: "custom=00f067aa0ba902b7,6cab5bb-290@dt=fw4;0;0;0;0;0;0;0;8355;2h01;7h" + spanB},
		},
		{
			name: "unsampled traceparent alone: flag as received",
			give: map[string]string{"traceparent": "00-" + traceA + "-" + spanA + "-00"},
			want: want{traceID: traceA, spanID: spanA, sampled: false},
		},
		{
			name: "X-Cloud-Trace-Context fallback",
			give: map[string]string{"x-cloud-trace-context": "105445aa7843bc8bf206b12000100000/12345678901234567890;o=1"},
			want: want{traceID: "105445aa7843bc8bf206b12000100000", spanID: "ab54a98ceb1f0ad2", sampled: true},
		},
		{
			name: "traceparent before X-Cloud-Trace-Context",
			give: map[string]string{
				"traceparent":           "00-" + traceA + "-" + spanA + "-00",
				"x-cloud-trace-context": "105445aa7843bc8bf206b12000100000/1;o=1",
			},
			want: want{traceID: traceA, spanID: spanA, sampled: false},
		},
		{
			name: "x-dynatrace before X-Cloud-Trace-Context",
			give: map[string]string{
				"x-dynatrace":           xdtA,
				"x-cloud-trace-context": "105445aa7843bc8bf206b12000100000/1;o=1",
			},
			want: want{traceID: traceA, spanID: spanA, sampled: true, tracestate: dtKey + "=" + entryA},
		},
	}
	p := core.NewPropagator(testDT)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := p.Extract(t.Context(), propagation.MapCarrier(tt.give))
			tt.want.check(t, ctx)
		})
	}
}

func TestPropagatorExtractKeepsContext(t *testing.T) {
	type key struct{}
	parent := context.WithValue(t.Context(), key{}, "v")
	p := core.NewPropagator(testDT)
	for _, give := range []map[string]string{
		{"x-dynatrace": xdtA},
		{"traceparent": "00-" + traceA + "-" + spanA + "-00", "tracestate": dtKey + "=" + entryA},
		{"traceparent": "00-" + traceA + "-" + spanA + "-01"},
		{"x-cloud-trace-context": traceA + "/1"},
		{},
	} {
		if ctx := p.Extract(parent, propagation.MapCarrier(give)); ctx.Value(key{}) != "v" {
			t.Errorf("Extract(%v) lost the parent context's values", give)
		}
	}
}

func TestPropagatorWithoutDynatrace(t *testing.T) {
	give := map[string]string{
		"x-dynatrace": xdtA,
		"traceparent": "00-" + traceB + "-" + spanB + "-00",
		"tracestate":  dtKey + "=" + entryA + ",rojo=00f067aa0ba902b7",
	}
	for _, cfg := range []core.DynatraceConfig{{}, {Tenant: "testTenant"}, {ClusterID: 123}} {
		p := core.NewPropagator(cfg)
		if got, want := p.Fields(), []string{"traceparent", "tracestate"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Fields() = %v, want %v", got, want)
		}
		ctx := p.Extract(t.Context(), propagation.MapCarrier(give))
		want{traceID: traceB, spanID: spanB, tracestate: give["tracestate"]}.check(t, ctx)

		got, w3c := propagation.MapCarrier{}, propagation.MapCarrier{}
		p.Inject(ctx, got)
		propagation.TraceContext{}.Inject(ctx, w3c)
		if fmt.Sprint(got) != fmt.Sprint(w3c) {
			t.Errorf("Inject = %v, want as TraceContext: %v", got, w3c)
		}
	}
}

func TestPropagatorCloudTraceOff(t *testing.T) {
	p := core.NewPropagator(testDT, core.WithCloudTraceContext(false))
	ctx := p.Extract(t.Context(), propagation.MapCarrier{"x-cloud-trace-context": traceA + "/1;o=1"})
	want{}.check(t, ctx)

	// Through net/http headers, whatever their case.
	h := http.Header{}
	h.Set("X-Cloud-Trace-Context", traceA+"/1;o=1")
	ctx = core.NewPropagator(core.DynatraceConfig{}).Extract(t.Context(), propagation.HeaderCarrier(h))
	want{traceID: traceA, spanID: "0000000000000001", sampled: true}.check(t, ctx)
}

func TestPropagatorHTTPHeaders(t *testing.T) {
	p := core.NewPropagator(testDT)
	h := http.Header{}
	sc := spanContext(t, traceA, spanA, true, dtKey+"=fw4;0;0;0;0;0;0;2a")
	p.Inject(trace.ContextWithSpanContext(t.Context(), sc), propagation.HeaderCarrier(h))
	if h.Get("X-Dynatrace") == "" || h.Get("Traceparent") == "" || h.Get("Tracestate") == "" {
		t.Fatalf("headers = %v", h)
	}
	h.Del("Traceparent")
	got := trace.SpanContextFromContext(p.Extract(t.Context(), propagation.HeaderCarrier(h)))
	if got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() {
		t.Errorf("extracted %s/%s from x-dynatrace, want %s/%s", got.TraceID(), got.SpanID(), sc.TraceID(), sc.SpanID())
	}
}

func TestPropagatorInject(t *testing.T) {
	tests := []struct {
		name           string
		giveTracestate string // of the span injected from
		giveSampled    bool
		wantTracestate string
		wantHeader     string
	}{
		{
			name:           "root tag",
			giveTracestate: dtKey + "=fw4;0;0;0;0;0;0;0",
			giveSampled:    true,
			wantTracestate: dtKey + "=fw4;0;0;0;0;0;0;0;7db5;2h01;7h" + spanA,
			wantHeader:     "FW4;123;0;0;0;0;886222452;0;e03f;2h01;6h" + traceA + ";7h" + spanA,
		},
		{
			name:           "other vendors kept after ours",
			giveTracestate: dtKey + "=fw4;0;0;0;0;0;0;53,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
			giveSampled:    true,
			wantTracestate: dtKey + "=fw4;0;0;0;0;0;0;53;7db5;2h01;7h" + spanA + ",rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
			wantHeader:     "FW4;123;0;0;0;0;886222452;83;e03f;2h01;6h" + traceA + ";7h" + spanA,
		},
		{
			name:           "tag from upstream: ids cleared, depth + 1",
			giveTracestate: "rojo=00f067aa0ba902b7," + dtKey + "=fw4;1;2;3;4;0;0;6;8355;2h01;7h" + spanB,
			giveSampled:    true,
			wantTracestate: dtKey + "=fw4;1;0;0;0;0;0;6;5561;2h02;7h" + spanA + ",rojo=00f067aa0ba902b7",
			wantHeader:     "FW4;123;1;0;0;0;886222452;6;34ad;2h02;6h" + traceA + ";7h" + spanA,
		},
		{
			name:           "not sampled: ignored, exponent kept",
			giveTracestate: dtKey + "=fw4;1;2;3;4;0;3;6;8355;2h01;7h" + spanB,
			giveSampled:    false,
			wantTracestate: dtKey + "=fw4;1;0;0;0;1;3;6;5561;2h02;7h" + spanA,
			wantHeader:     "FW4;123;1;0;0;-1744830464;886222452;6;34ad;2h02;6h" + traceA + ";7h" + spanA,
		},
		{
			name:           "foreign tenant's entry kept",
			giveTracestate: "6cab5bb-290@dt=fw4;0;0;0;0;0;0;0;8355;2h01;7h" + spanB + "," + dtKey + "=fw4;0;0;0;0;0;0;2a",
			giveSampled:    true,
			wantTracestate: dtKey + "=fw4;0;0;0;0;0;0;2a;7db5;2h01;7h" + spanA + ",6cab5bb-290@dt=fw4;0;0;0;0;0;0;0;8355;2h01;7h" + spanB,
			wantHeader:     "FW4;123;0;0;0;0;886222452;42;e03f;2h01;6h" + traceA + ";7h" + spanA,
		},
	}
	p := core.NewPropagator(testDT)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := spanContext(t, traceA, spanA, tt.giveSampled, tt.giveTracestate)
			got := propagation.MapCarrier{}
			p.Inject(trace.ContextWithSpanContext(t.Context(), sc), got)

			flags := "00"
			if tt.giveSampled {
				flags = "01"
			}
			wantCarrier := propagation.MapCarrier{
				"traceparent": "00-" + traceA + "-" + spanA + "-" + flags,
				"tracestate":  tt.wantTracestate,
				"x-dynatrace": tt.wantHeader,
			}
			if fmt.Sprint(got) != fmt.Sprint(wantCarrier) {
				t.Errorf("Inject =\n%v\nwant\n%v", got, wantCarrier)
			}
		})
	}
}

func TestPropagatorInjectInvalid(t *testing.T) {
	got := propagation.MapCarrier{}
	core.NewPropagator(testDT).Inject(t.Context(), got)
	if len(got) != 0 {
		t.Errorf("Inject without a span = %v, want nothing", got)
	}
}

// TestPropagatorInjectNewTag: a span without our entry gets a new root tag,
// the same for every span of the trace, with the reference's layout.
func TestPropagatorInjectNewTag(t *testing.T) {
	p := core.NewPropagator(testDT)
	inject := func(span string) propagation.MapCarrier {
		c := propagation.MapCarrier{}
		p.Inject(trace.ContextWithSpanContext(t.Context(), spanContext(t, traceA, span, true, "rojo=1")), c)
		return c
	}
	ts1, ts2 := inject(spanA).Get("tracestate"), inject(spanB).Get("tracestate")
	if !strings.HasPrefix(ts1, dtKey+"=fw4;0;0;0;0;0;0;") || !strings.HasSuffix(ts1, ";2h01;7h"+spanA+",rojo=1") {
		t.Errorf("tracestate = %q, want a first-hop root tag", ts1)
	}
	fields := func(ts string) string { return strings.Join(strings.SplitN(ts, ";", 9)[:8], ";") }
	if fields(ts1) != fields(ts2) {
		t.Errorf("root tags of one trace differ: %q, %q", ts1, ts2)
	}
}

func TestPropagatorInjectLimit(t *testing.T) {
	var members []string
	for i := range 32 {
		members = append(members, fmt.Sprintf("v%d=x", i))
	}
	p := core.NewPropagator(testDT)
	for _, tt := range []struct {
		name, give string
		wantLast   string
	}{
		{name: "32 foreign", give: strings.Join(members, ","), wantLast: "v30=x"},
		{name: "ours among 32", give: strings.Join(members[:31], ",") + "," + dtKey + "=fw4;0;0;0;0;0;0;0", wantLast: "v30=x"},
		{name: "ours first among 32", give: dtKey + "=fw4;0;0;0;0;0;0;0," + strings.Join(members[:31], ","), wantLast: "v30=x"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := propagation.MapCarrier{}
			p.Inject(trace.ContextWithSpanContext(t.Context(), spanContext(t, traceA, spanA, true, tt.give)), c)
			ts, err := trace.ParseTraceState(c.Get("tracestate"))
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(ts.String(), ",")
			if ts.Len() != 32 || !strings.HasPrefix(got[0], dtKey+"=") || got[31] != tt.wantLast {
				t.Errorf("tracestate = %d members, first %q, last %q; want 32, ours, %q", ts.Len(), got[0], got[31], tt.wantLast)
			}
		})
	}
}

// TestPropagatorRoundTrip: what we inject, we extract unchanged, and every
// hop adds one to the tag depth.
func TestPropagatorRoundTrip(t *testing.T) {
	p := core.NewPropagator(testDT)
	for _, sampled := range []bool{true, false} {
		t.Run(fmt.Sprint("sampled=", sampled), func(t *testing.T) {
			sc := spanContext(t, traceA, spanA, sampled, dtKey+"=fw4;0;0;0;0;0;0;2a,rojo=00f067aa0ba902b7")
			ctx := trace.ContextWithSpanContext(t.Context(), sc)
			for hop := 1; hop <= 3; hop++ {
				c := propagation.MapCarrier{}
				p.Inject(ctx, c)
				for _, only := range []string{"traceparent", "x-dynatrace"} {
					in := c
					if only == "x-dynatrace" {
						in = propagation.MapCarrier{"x-dynatrace": c["x-dynatrace"]}
					}
					got := trace.SpanContextFromContext(p.Extract(t.Context(), in))
					if got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || got.IsSampled() != sampled {
						t.Fatalf("hop %d via %s: extracted %s/%s sampled %v, want %s/%s %v",
							hop, only, got.TraceID(), got.SpanID(), got.IsSampled(), sc.TraceID(), sc.SpanID(), sampled)
					}
					if v := got.TraceState().Get(dtKey); !strings.Contains(v, fmt.Sprintf(";2h%02x;7h%s", hop, sc.SpanID())) {
						t.Errorf("hop %d via %s: entry %q, want depth %d and span %s", hop, only, v, hop, sc.SpanID())
					}
					if only == "traceparent" && got.TraceState().String() != c["tracestate"] {
						t.Errorf("hop %d: tracestate %q, want %q", hop, got.TraceState(), c["tracestate"])
					}
				}
				// The next hop injects from a child of what arrived.
				parent := trace.SpanContextFromContext(p.Extract(t.Context(), c))
				sc = spanContext(t, traceA, fmt.Sprintf("%016x", hop+100), sampled, parent.TraceState().String())
				ctx = trace.ContextWithSpanContext(t.Context(), sc)
			}
		})
	}
}

// TestPropagatorWithSDK: a Cloud Run style unsampled traceparent without a
// Dynatrace tag is recorded, and the span's own tracestate and outgoing
// headers carry our tag.
func TestPropagatorWithSDK(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(core.NewSampler(core.WithDynatrace(testDT))),
		sdktrace.WithSpanProcessor(rec),
	)
	p := core.NewPropagator(testDT)

	ctx := p.Extract(t.Context(), propagation.MapCarrier{
		"traceparent": "00-" + traceA + "-" + spanA + "-00",
		"tracestate":  "rojo=00f067aa0ba902b7",
	})
	ctx, server := tp.Tracer("test").Start(ctx, "server", trace.WithSpanKind(trace.SpanKindServer))
	_, client := tp.Tracer("test").Start(ctx, "client", trace.WithSpanKind(trace.SpanKindClient))
	out := propagation.MapCarrier{}
	p.Inject(trace.ContextWithSpan(ctx, client), out)
	client.End()
	server.End()

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("recorded %d spans, want 2", len(spans))
	}
	for _, s := range spans {
		ts := s.SpanContext().TraceState()
		if !strings.HasPrefix(ts.String(), dtKey+"=fw4;0;0;0;0;0;0;") || ts.Get("rojo") == "" {
			t.Errorf("%s: tracestate %q, want our root tag first and rojo kept", s.Name(), ts)
		}
	}
	csc := client.SpanContext()
	if got := out.Get("traceparent"); got != "00-"+traceA+"-"+csc.SpanID().String()+"-01" {
		t.Errorf("traceparent = %q", got)
	}
	if got := out.Get("x-dynatrace"); !strings.HasPrefix(got, "FW4;123;0;0;0;0;886222452;") ||
		!strings.HasSuffix(got, ";2h01;6h"+traceA+";7h"+csc.SpanID().String()) {
		t.Errorf("x-dynatrace = %q", got)
	}
}

func spanContext(t testing.TB, traceID, spanID string, sampled bool, ts string) trace.SpanContext {
	t.Helper()
	tid, err := trace.TraceIDFromHex(traceID)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := trace.SpanIDFromHex(spanID)
	if err != nil {
		t.Fatal(err)
	}
	state, err := trace.ParseTraceState(ts)
	if err != nil {
		t.Fatal(err)
	}
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(0).WithSampled(sampled), TraceState: state,
	})
}

func BenchmarkPropagator(b *testing.B) {
	in := propagation.MapCarrier{
		"traceparent": "00-" + traceA + "-" + spanA + "-01",
		"tracestate":  dtKey + "=fw4;0;0;0;0;0;0;2a;f6c1;2h01;7hbab147a0e439a28b,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
	}
	for _, bb := range []struct {
		name string
		p    propagation.TextMapPropagator
	}{
		{name: "TraceContext", p: propagation.TraceContext{}},
		{name: "Dynatrace", p: core.NewPropagator(testDT)},
	} {
		b.Run(bb.name, func(b *testing.B) {
			out := propagation.MapCarrier{}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				bb.p.Inject(bb.p.Extract(ctx, in), out)
			}
		})
	}
}
