package collector_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// The batches sent to the receiver. They are tracetest.SpanStubs, so that
// every field is set by hand, including those the SDK sets only when a limit
// is hit (dropped counts) or never (an unspecified kind).

var baseTime = time.Date(2025, time.March, 14, 15, 9, 26, 535_897_932, time.UTC)

// Resources: two with a schema URL (one of them twice, as distinct pointers
// with equal contents), one schemaless, one empty.
var (
	resCheckout = resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "checkout"),
		attribute.String("cloud.provider", "gcp"),
		attribute.String("cloud.region", "europe-west3"),
		attribute.String("faas.name", "checkout-fn"),
		attribute.Int("process.pid", 4242),
		attribute.Bool("faas.coldstart", true),
		attribute.Float64("host.cpu.ghz", 2.2),
		attribute.StringSlice("process.command_args", []string{"/layers/fn", "--port", "8080"}),
	)
	resCheckoutAgain = resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "checkout"),
		attribute.String("cloud.provider", "gcp"),
		attribute.String("cloud.region", "europe-west3"),
		attribute.String("faas.name", "checkout-fn"),
		attribute.Int("process.pid", 4242),
		attribute.Bool("faas.coldstart", true),
		attribute.Float64("host.cpu.ghz", 2.2),
		attribute.StringSlice("process.command_args", []string{"/layers/fn", "--port", "8080"}),
	)
	resBilling = resource.NewSchemaless(
		attribute.String("service.name", "billing"),
		attribute.Int64Slice("gcp.ids", []int64{1, -2, math.MaxInt64}),
		attribute.BoolSlice("flags", []bool{false, true}),
		attribute.Float64Slice("weights", []float64{0.25, -1e300}),
	)
	resEmpty = resource.Empty()
)

// Scopes: every field set, a name only, and an entirely empty scope.
var (
	scopeFull = instrumentation.Scope{
		Name:      "github.com/gcftrace/gcftrace/adapters/handler",
		Version:   "v1.2.3",
		SchemaURL: "https://opentelemetry.io/schemas/1.37.0",
		Attributes: attribute.NewSet(
			attribute.String("scope.trigger", "http"),
			attribute.Int64("scope.generation", 7),
			attribute.Bool("scope.beta", true),
			attribute.StringSlice("scope.tags", []string{"a", "b"}),
		),
	}
	scopeNameOnly = instrumentation.Scope{Name: "example.com/worker"}
	scopeEmpty    = instrumentation.Scope{}
)

func traceID(b byte) trace.TraceID {
	return trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, b}
}

func spanID(b byte) trace.SpanID {
	return trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, b}
}

func mustTraceState(s string) trace.TraceState {
	ts, err := trace.ParseTraceState(s)
	if err != nil {
		panic(err) // fixture typo
	}
	return ts
}

func spanContext(tid trace.TraceID, sid trace.SpanID, flags trace.TraceFlags, ts string, remote bool) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    tid,
		SpanID:     sid,
		TraceFlags: flags,
		TraceState: mustTraceState(ts),
		Remote:     remote,
	})
}

// allValueTypes returns one attribute of every value type the attribute
// package can hold, with edge values: empty strings and slices, extreme
// integers, negative zero, infinities and NaN, empty and nested maps and
// heterogeneous slices, bytes, and the EMPTY value.
func allValueTypes() []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("string", "värde ✓ \x00 end"),
		attribute.String("string.empty", ""),
		attribute.String("string.long", strings.Repeat("0123456789", 30)),
		attribute.Bool("bool.true", true),
		attribute.Bool("bool.false", false),
		attribute.Int64("int.max", math.MaxInt64),
		attribute.Int64("int.min", math.MinInt64),
		attribute.Int("int.minus_one", -1),
		attribute.Int("int.zero", 0),
		attribute.Float64("double", 3.25),
		attribute.Float64("double.negative_zero", math.Copysign(0, -1)),
		attribute.Float64("double.inf", math.Inf(1)),
		attribute.Float64("double.nan", math.NaN()),
		attribute.Float64("double.smallest", math.SmallestNonzeroFloat64),
		attribute.StringSlice("string_slice", []string{"a", "", "ü"}),
		attribute.StringSlice("string_slice.empty", []string{}),
		attribute.BoolSlice("bool_slice", []bool{true, false, true}),
		attribute.Int64Slice("int_slice", []int64{0, -1, math.MaxInt64, math.MinInt64, 300}),
		attribute.Float64Slice("double_slice", []float64{0.5, -2, math.Inf(-1)}),
		attribute.ByteSlice("bytes", []byte{0x00, 0x01, 0x7f, 0x80, 0xff}),
		attribute.ByteSlice("bytes.empty", []byte{}),
		attribute.Slice("slice",
			attribute.StringValue("s"),
			attribute.Int64Value(-42),
			attribute.BoolValue(true),
			attribute.Float64Value(1.5),
			attribute.ByteSliceValue([]byte("raw")),
			attribute.StringSliceValue([]string{"x", "y"}),
			attribute.MapValue(attribute.String("k", "v")),
			attribute.SliceValue(attribute.IntValue(2), attribute.SliceValue()),
			attribute.Value{},
		),
		attribute.Slice("slice.empty"),
		attribute.Map("map",
			attribute.String("a", "b"),
			attribute.Int("n", 1),
			attribute.Float64("f", -0.125),
			attribute.Bool("ok", false),
			attribute.ByteSlice("b", []byte{9}),
			attribute.Map("nested", attribute.Bool("deep", true), attribute.Map("deeper", attribute.String("long", strings.Repeat("m", 200)))),
			attribute.Slice("list", attribute.StringValue("one"), attribute.MapValue(attribute.Int("two", 2))),
			attribute.Int64Slice("ints", []int64{1, 2}),
			attribute.KeyValue{Key: "nothing"},
		),
		attribute.Map("map.empty"),
		{Key: "empty"}, // attribute.EMPTY
	}
}

// fixtureBatch exercises every span field. Resources and scopes are
// interleaved so that the exporter has to group them.
func fixtureBatch() tracetest.SpanStubs {
	tid := traceID(0x01)
	root := spanContext(tid, spanID(0x01), trace.FlagsSampled, "dt=fw4;0;0;0;0;0;0;7b,congo=t61rcWkgMzE", false)
	remoteParent := spanContext(traceID(0x02), spanID(0xa0), trace.FlagsSampled|trace.FlagsRandom, "vendor=remote", true)
	unsampledParent := spanContext(traceID(0x03), spanID(0xb0), 0, "", true)

	at := func(ms int) time.Time { return baseTime.Add(time.Duration(ms)*time.Millisecond + 17*time.Nanosecond) }

	return tracetest.SpanStubs{
		{ // every field at once
			Name:        "GET /checkout/{id}",
			SpanContext: root,
			SpanKind:    trace.SpanKindServer,
			StartTime:   baseTime,
			EndTime:     at(250),
			Attributes:  allValueTypes(),
			Events: []sdktrace.Event{
				{Name: "exception", Time: at(100), Attributes: []attribute.KeyValue{
					attribute.String("exception.type", "*errors.errorString"),
					attribute.String("exception.message", strings.Repeat("boom ", 40)),
					attribute.StringSlice("exception.frames", []string{"main.go:12", "handler.go:99"}),
				}, DroppedAttributeCount: 2},
				{Name: "all types", Time: at(101), Attributes: allValueTypes()},
				{Name: "", Time: at(102)},
			},
			Links: []sdktrace.Link{
				{
					SpanContext:           spanContext(traceID(0x09), spanID(0x09), trace.FlagsSampled|trace.FlagsRandom, "dt=fw4;1,other=x", true),
					Attributes:            []attribute.KeyValue{attribute.String("link.kind", "pubsub"), attribute.Int("link.n", 3), attribute.Map("link.map", attribute.Bool("m", true))},
					DroppedAttributeCount: 4,
				},
				{SpanContext: spanContext(traceID(0x0a), spanID(0x0a), 0, "", false)},
				{SpanContext: spanContext(tid, spanID(0x02), trace.FlagsSampled, "", false), Attributes: allValueTypes()},
			},
			Status:               sdktrace.Status{Code: codes.Error, Description: "payment declined: card expired"},
			DroppedAttributes:    3,
			DroppedEvents:        5,
			DroppedLinks:         1,
			ChildSpanCount:       2,
			Resource:             resCheckout,
			InstrumentationScope: scopeFull,
		},
		{ // local parent, other resource pointer with equal contents
			Name:                 "charge card",
			SpanContext:          spanContext(tid, spanID(0x02), trace.FlagsSampled, "dt=fw4;0;0;0;0;0;0;7b,congo=t61rcWkgMzE", false),
			Parent:               root,
			SpanKind:             trace.SpanKindClient,
			StartTime:            at(10),
			EndTime:              at(90),
			Attributes:           []attribute.KeyValue{attribute.String("http.request.method", "POST"), attribute.Int("http.response.status_code", 402)},
			Status:               sdktrace.Status{Code: codes.Ok},
			Resource:             resCheckoutAgain,
			InstrumentationScope: scopeFull,
		},
		{ // remote parent, other resource and scope
			Name:                 "consume order",
			SpanContext:          spanContext(remoteParent.TraceID(), spanID(0x03), trace.FlagsSampled|trace.FlagsRandom, "vendor=remote", false),
			Parent:               remoteParent,
			SpanKind:             trace.SpanKindConsumer,
			StartTime:            at(1000),
			EndTime:              at(1003),
			Attributes:           []attribute.KeyValue{attribute.String("messaging.system", "gcp_pubsub")},
			Events:               []sdktrace.Event{{Name: "ack", Time: at(1002), DroppedAttributeCount: 1}},
			Resource:             resBilling,
			InstrumentationScope: scopeNameOnly,
		},
		{ // back to the first resource, other scope
			Name:                 "publish receipt",
			SpanContext:          spanContext(tid, spanID(0x04), trace.FlagsSampled, "", false),
			Parent:               root,
			SpanKind:             trace.SpanKindProducer,
			StartTime:            at(200),
			EndTime:              at(201),
			Links:                []sdktrace.Link{{SpanContext: remoteParent, Attributes: []attribute.KeyValue{attribute.Bool("follows", true)}}},
			DroppedLinks:         7,
			Resource:             resCheckout,
			InstrumentationScope: scopeNameOnly,
		},
		{ // unsampled remote parent, empty resource and scope
			Name:                 "internal step",
			SpanContext:          spanContext(unsampledParent.TraceID(), spanID(0x05), 0, "", false),
			Parent:               unsampledParent,
			SpanKind:             trace.SpanKindInternal,
			StartTime:            at(5),
			EndTime:              at(5),
			Resource:             resEmpty,
			InstrumentationScope: scopeEmpty,
		},
		{ // unspecified kind, empty name, no parent, nothing else
			Name:                 "",
			SpanContext:          spanContext(traceID(0x06), spanID(0x06), 0, "", false),
			SpanKind:             trace.SpanKindUnspecified,
			StartTime:            at(7),
			EndTime:              at(8),
			Resource:             resBilling,
			InstrumentationScope: scopeFull,
		},
		{ // an attribute past the two-byte length of most spans (16 KiB)
			Name:        "large attribute",
			SpanContext: spanContext(traceID(0x07), spanID(0x07), trace.FlagsSampled, "", false),
			SpanKind:    trace.SpanKindServer,
			StartTime:   at(9),
			EndTime:     at(10),
			Attributes: []attribute.KeyValue{
				attribute.String("large", strings.Repeat("L", 20_000)),
				attribute.StringSlice("large.slice", []string{strings.Repeat("S", 20_000)}),
			},
			Events:               []sdktrace.Event{{Name: "large event", Time: at(9), Attributes: []attribute.KeyValue{attribute.String("e", strings.Repeat("E", 200))}}},
			Resource:             resEmpty,
			InstrumentationScope: scopeFull,
		},
	}
}

// generatedBatch returns spans whose OTLP encoding takes at least minBytes,
// built from seed, spread over every resource and scope of the fixture.
func generatedBatch(seed uint64, minBytes int) tracetest.SpanStubs {
	rng := rand.New(rand.NewPCG(seed, 2))
	resources := []*resource.Resource{resCheckout, resBilling, resEmpty}
	scopes := []instrumentation.Scope{scopeFull, scopeNameOnly, scopeEmpty}
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		return string(b)
	}
	var spans tracetest.SpanStubs
	size := 0
	for i := 0; size < minBytes; i++ {
		var tid trace.TraceID
		var sid trace.SpanID
		for j := range tid {
			tid[j] = byte(rng.Uint32())
		}
		for j := range sid {
			sid[j] = byte(rng.Uint32())
		}
		sid[0] = byte(i >> 8) // unique even if the generator repeats itself
		sid[1] = byte(i)
		tid[0] = 1
		attrs := []attribute.KeyValue{
			attribute.String("payload", word(200+rng.IntN(800))),
			attribute.Int64("index", int64(i)),
			attribute.Float64("ratio", rng.Float64()),
			attribute.Bool("even", i%2 == 0),
			attribute.StringSlice("words", []string{word(5), word(9)}),
			attribute.Int64Slice("numbers", []int64{rng.Int64(), -rng.Int64()}),
			attribute.ByteSlice("blob", []byte(word(16))),
			attribute.Map("nested", attribute.String("k", word(8)), attribute.Int("n", i)),
		}
		s := tracetest.SpanStub{
			Name:        fmt.Sprintf("span %d", i),
			SpanContext: spanContext(tid, sid, trace.TraceFlags(rng.IntN(4)), "", false),
			SpanKind:    trace.SpanKind(1 + rng.IntN(5)),
			StartTime:   baseTime.Add(time.Duration(i) * time.Microsecond),
			EndTime:     baseTime.Add(time.Duration(i)*time.Microsecond + time.Duration(rng.IntN(1e9))),
			Attributes:  attrs,
			Events: []sdktrace.Event{{
				Name:       "tick",
				Time:       baseTime.Add(time.Duration(i) * time.Millisecond),
				Attributes: []attribute.KeyValue{attribute.String("note", word(40))},
			}},
			Resource:             resources[i%len(resources)],
			InstrumentationScope: scopes[(i/len(resources))%len(scopes)],
		}
		if i%3 == 0 {
			s.Parent = spanContext(tid, spanID(byte(i)), trace.FlagsSampled, "", i%2 == 0)
			s.Links = []sdktrace.Link{{
				SpanContext: spanContext(tid, spanID(byte(i+1)), trace.FlagsSampled, "k=v", true),
				Attributes:  []attribute.KeyValue{attribute.Int("link", i)},
			}}
		}
		if i%7 == 0 {
			s.Status = sdktrace.Status{Code: codes.Error, Description: word(30)}
		}
		spans = append(spans, s)
		size += len(s.Attributes[0].Value.AsString()) + 350 // rough; checked exactly by the test
	}
	return spans
}
