package export

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/gcftrace/gcftrace/ports"
)

// gen makes random spans that cover every field the encoder writes.
type gen struct {
	r         *rand.Rand
	resources []*resource.Resource
	scopes    []instrumentation.Scope
}

func newGen(seed uint64) *gen {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	g.resources = []*resource.Resource{
		testResource,
		resource.NewWithAttributes("", attribute.String("service.name", "other"), attribute.Int("n", 1)),
		resource.NewSchemaless(g.attrs(0, 3)...),
		resource.Empty(),
		nil,
	}
	g.scopes = []instrumentation.Scope{
		testScope,
		{},
		{Name: "x", SchemaURL: "https://opentelemetry.io/schemas/1.20.0"},
		{Name: "with-attrs", Version: "v9", Attributes: attribute.NewSet(g.attrs(0, 4)...)},
	}
	return g
}

func (g *gen) pick(n int) int { return g.r.IntN(n) }

func (g *gen) str() string {
	switch g.pick(6) {
	case 0:
		return ""
	case 1:
		return "héllo wörld ✓"
	case 2:
		return strings.Repeat("x", 100+g.pick(200)) // around the 128-byte length boundary
	case 3:
		if g.pick(8) == 0 {
			return strings.Repeat("y", 16300+g.pick(200)) // around the 16384-byte boundary
		}
		return "y"
	default:
		return fmt.Sprintf("s%d", g.r.Uint32())
	}
}

func (g *gen) value(depth int) attribute.Value {
	n := 13
	if depth > 1 {
		n = 11 // no further nesting
	}
	switch g.pick(n) {
	case 0:
		return attribute.BoolValue(g.pick(2) == 0)
	case 1:
		return attribute.Int64Value([]int64{0, 1, -1, math.MinInt64, math.MaxInt64, int64(g.r.Uint64())}[g.pick(6)])
	case 2:
		return attribute.Float64Value([]float64{0, -0.5, math.Inf(1), math.NaN(), g.r.NormFloat64()}[g.pick(5)])
	case 3, 4:
		return attribute.StringValue(g.str())
	case 5:
		bs := make([]bool, g.pick(6))
		for i := range bs {
			bs[i] = g.pick(2) == 0
		}
		return attribute.BoolSliceValue(bs)
	case 6:
		is := make([]int64, g.pick(6))
		for i := range is {
			is[i] = int64(g.r.Uint64()) >> g.pick(64)
		}
		return attribute.Int64SliceValue(is)
	case 7:
		fs := make([]float64, g.pick(6))
		for i := range fs {
			fs[i] = g.r.Float64()
		}
		return attribute.Float64SliceValue(fs)
	case 8:
		ss := make([]string, g.pick(6))
		for i := range ss {
			ss[i] = g.str()
		}
		return attribute.StringSliceValue(ss)
	case 9:
		b := make([]byte, []int{0, 1, 7, 200}[g.pick(4)])
		for i := range b {
			b[i] = byte(g.r.Uint32())
		}
		return attribute.ByteSliceValue(b)
	case 10:
		return attribute.Value{} // EMPTY
	case 11:
		vs := make([]attribute.Value, g.pick(7))
		for i := range vs {
			vs[i] = g.value(depth + 1)
		}
		return attribute.SliceValue(vs...)
	default:
		return attribute.MapValue(g.attrs(depth+1, 6)...)
	}
}

func (g *gen) attrs(depth, maxN int) []attribute.KeyValue {
	kvs := make([]attribute.KeyValue, g.pick(maxN+1))
	for i := range kvs {
		key := fmt.Sprintf("k%d", i)
		if g.pick(20) == 0 {
			key = ""
		}
		kvs[i] = attribute.KeyValue{Key: attribute.Key(key), Value: g.value(depth)}
	}
	return kvs
}

func (g *gen) spanContext() trace.SpanContext {
	var cfg trace.SpanContextConfig
	if g.pick(8) != 0 {
		cfg.TraceID = trace.TraceID{byte(g.r.Uint32()), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, byte(g.r.Uint32())}
		cfg.SpanID = trace.SpanID{byte(g.r.Uint32()), 1, 2, 3, 4, 5, 6, byte(g.r.Uint32())}
	}
	cfg.TraceFlags = trace.TraceFlags(g.pick(256))
	cfg.Remote = g.pick(2) == 0
	if g.pick(2) == 0 {
		ts, err := trace.ParseTraceState(fmt.Sprintf("vendor%d=v%d,7ba1b2c3-d4e5f6@dt=fw4;0;0;0;0;0;0;%x", g.pick(9), g.r.Uint32(), g.r.Uint32()))
		if err == nil {
			cfg.TraceState = ts
		}
	}
	return trace.NewSpanContext(cfg)
}

func (g *gen) time() time.Time {
	switch g.pick(5) {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(-5, 0) // before 1970: 0 on the wire
	default:
		return testStart.Add(time.Duration(g.r.Int64N(int64(time.Hour))))
	}
}

func (g *gen) count() int {
	return []int{0, 0, 1, 127, 128, -1, math.MaxUint32 + 5}[g.pick(7)]
}

func (g *gen) span() sdktrace.ReadOnlySpan {
	stub := tracetest.SpanStub{
		Name:                 g.str(),
		SpanContext:          g.spanContext(),
		Parent:               g.spanContext(),
		SpanKind:             trace.SpanKind(g.pick(7)), // 6: out of range
		StartTime:            g.time(),
		EndTime:              g.time(),
		Attributes:           g.attrs(0, 12),
		DroppedAttributes:    g.count(),
		DroppedEvents:        g.count(),
		DroppedLinks:         g.count(),
		Resource:             g.resources[g.pick(len(g.resources))],
		InstrumentationScope: g.scopes[g.pick(len(g.scopes))],
	}
	for range g.pick(4) {
		stub.Events = append(stub.Events, sdktrace.Event{
			Name: g.str(), Time: g.time(), Attributes: g.attrs(0, 4), DroppedAttributeCount: g.count(),
		})
	}
	for range g.pick(4) {
		stub.Links = append(stub.Links, sdktrace.Link{
			SpanContext: g.spanContext(), Attributes: g.attrs(0, 4), DroppedAttributeCount: g.count(),
		})
	}
	switch g.pick(3) {
	case 0:
		stub.Status = sdktrace.Status{Code: codes.Error, Description: g.str()}
	case 1:
		stub.Status = sdktrace.Status{Code: codes.Ok}
	}
	return g.form(stub.Snapshot())
}

func (g *gen) batch(maxN int) []sdktrace.ReadOnlySpan {
	spans := make([]sdktrace.ReadOnlySpan, 1+g.pick(maxN))
	for i := range spans {
		spans[i] = g.span()
	}
	return spans
}

// form hands s to the encoder in one of the forms it reads differently:
// through the ReadOnlySpan interface, as the SDK's own snapshot (read in
// place), or wrapped in a ports.ExportSpan with another resource and extra
// attributes, some of which the span has already. Every form is comparable,
// for checks of identity.
func (g *gen) form(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	switch g.pick(4) {
	case 0:
		return &idSpan{s}
	case 1:
		return asSDKSnapshot(s)
	}
	inner := s
	if g.pick(2) == 0 {
		inner = asSDKSnapshot(s)
	}
	extra := g.attrs(0, 3)
	if own := s.Attributes(); len(own) > 0 && g.pick(2) == 0 {
		extra = append(extra, attribute.String(string(own[0].Key), "extra's value, left out"))
	}
	return &ports.ExportSpan{ReadOnlySpan: inner, Res: g.resources[g.pick(len(g.resources))], Extra: extra}
}

// idSpan gives a span an identity usable as a map key.
type idSpan struct{ sdktrace.ReadOnlySpan }

// TestEncodeMatchesReference encodes random batches and compares them with
// the reference transform built on the official OTLP types: decoded with
// proto.Unmarshal and compared with proto.Equal, and byte for byte with
// proto.Marshal.
func TestEncodeMatchesReference(t *testing.T) {
	g := newGen(1)
	enc := newEncoder(Config{MaxRequestBytes: 1 << 30})
	for i := range 400 {
		spans := g.batch(12)
		enc.encode(spans)
		if len(enc.tooLarge) != 0 {
			t.Fatalf("batch %d: %d spans too large", i, len(enc.tooLarge))
		}
		chunks := enc.chunks()
		if len(chunks) != 1 {
			t.Fatalf("batch %d: %d chunks, want 1", i, len(chunks))
		}
		got := enc.body(chunks[0].lo, chunks[0].hi)
		want := refTracesData(spans)

		var decoded tracepb.TracesData
		if err := proto.Unmarshal(got, &decoded); err != nil {
			t.Fatalf("batch %d: proto.Unmarshal: %v", i, err)
		}
		if !proto.Equal(&decoded, want) {
			t.Fatalf("batch %d: decoded differs from the reference:\n%s", i, diff(want, &decoded))
		}
		wantBytes, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(wantBytes) {
			t.Fatalf("batch %d: bytes differ from proto.Marshal (len %d vs %d)", i, len(got), len(wantBytes))
		}
		enc.release()
	}
}

// TestEncodeSplitsWithinLimit encodes random batches under small limits:
// every body stays within the limit, and the chunks together hold exactly
// the spans that fit, in order, each with its resource and scope.
func TestEncodeSplitsWithinLimit(t *testing.T) {
	g := newGen(2)
	for i := range 200 {
		limit := MinMaxRequestBytes + g.pick(60_000)
		enc := newEncoder(Config{MaxRequestBytes: limit})
		spans := g.batch(40)
		enc.encode(spans)

		tooLarge := map[sdktrace.ReadOnlySpan]bool{}
		for _, s := range enc.tooLarge {
			tooLarge[s] = true
		}
		var want []flatSpan
		for _, rs := range refTracesData(spans).ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					want = append(want, flatSpan{rs.Resource, rs.SchemaUrl, ss.Scope, ss.SchemaUrl, s})
				}
			}
		}
		// The reference keeps every span; remove the ones set aside.
		var wantKept []flatSpan
		ref := refOrder(spans)
		for j, fs := range want {
			if !tooLarge[ref[j]] {
				wantKept = append(wantKept, fs)
			}
		}
		for _, s := range enc.tooLarge {
			alone := refTracesData([]sdktrace.ReadOnlySpan{s})
			if n := proto.Size(alone); n <= limit {
				t.Fatalf("batch %d: span of %d bytes set aside under limit %d", i, n, limit)
			}
		}

		var got []flatSpan
		for _, c := range enc.chunks() {
			body := enc.body(c.lo, c.hi)
			if len(body) > limit {
				t.Fatalf("batch %d: body of %d bytes over limit %d", i, len(body), limit)
			}
			var td tracepb.TracesData
			if err := proto.Unmarshal(body, &td); err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
			for _, rs := range td.ResourceSpans {
				for _, ss := range rs.ScopeSpans {
					for _, s := range ss.Spans {
						got = append(got, flatSpan{rs.Resource, rs.SchemaUrl, ss.Scope, ss.SchemaUrl, s})
					}
				}
			}
		}
		if len(got) != len(wantKept) {
			t.Fatalf("batch %d: got %d spans, want %d", i, len(got), len(wantKept))
		}
		for j := range got {
			if !got[j].equal(wantKept[j]) {
				t.Fatalf("batch %d span %d differs", i, j)
			}
		}
	}
}

type flatSpan struct {
	res       *resourcepb.Resource
	resSchema string
	scope     *commonpb.InstrumentationScope
	scSchema  string
	span      *tracepb.Span
}

func (a flatSpan) equal(b flatSpan) bool {
	return proto.Equal(a.res, b.res) && a.resSchema == b.resSchema &&
		proto.Equal(a.scope, b.scope) && a.scSchema == b.scSchema && proto.Equal(a.span, b.span)
}

// refOrder lists spans in the order refTracesData emits them.
func refOrder(spans []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	type key struct {
		set    attribute.Distinct
		schema string
	}
	var resOrder []key
	byRes := map[key][]instrumentation.Scope{}
	byGroup := map[key]map[instrumentation.Scope][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		k := key{s.Resource().Equivalent(), s.Resource().SchemaURL()}
		if _, ok := byGroup[k]; !ok {
			resOrder = append(resOrder, k)
			byGroup[k] = map[instrumentation.Scope][]sdktrace.ReadOnlySpan{}
		}
		sc := s.InstrumentationScope()
		if _, ok := byGroup[k][sc]; !ok {
			byRes[k] = append(byRes[k], sc)
		}
		byGroup[k][sc] = append(byGroup[k][sc], s)
	}
	var out []sdktrace.ReadOnlySpan
	for _, k := range resOrder {
		for _, sc := range byRes[k] {
			out = append(out, byGroup[k][sc]...)
		}
	}
	return out
}

// diff shows the first lines where the JSON renderings of want and got
// differ.
func diff(want, got proto.Message) string {
	wb, _ := protoJSON(want)
	gb, _ := protoJSON(got)
	wl, gl := strings.Split(string(wb), "\n"), strings.Split(string(gb), "\n")
	for i := range min(len(wl), len(gl)) {
		if wl[i] != gl[i] {
			lo := max(0, i-8)
			short := func(ls []string) string {
				out := ls[lo:min(len(ls), i+3)]
				for j, l := range out {
					if len(l) > 120 {
						out[j] = l[:120] + "..."
					}
				}
				return strings.Join(out, "\n")
			}
			return fmt.Sprintf("line %d\nwant:\n%s\ngot:\n%s", i, short(wl), short(gl))
		}
	}
	return fmt.Sprintf("lengths differ: want %d lines, got %d", len(wl), len(gl))
}

func protoJSON(m proto.Message) ([]byte, error) {
	return protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
}
