package export

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
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
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGolden exports fixed batches to a receiver and compares what arrived,
// rendered as OTLP JSON (ids in base64, as protojson writes bytes), with
// testdata/*.json.
func TestGolden(t *testing.T) {
	tests := []struct {
		name     string
		maxBytes int
		give     []sdktrace.ReadOnlySpan
	}{
		{name: "http_invocation", give: testSpans(1)},
		{name: "every_field", give: everyFieldBatch()},
		{name: "split", maxBytes: 1500, give: testSpans(5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, nil)
			cfg := testConfig(s.url())
			if tt.maxBytes != 0 {
				cfg.MaxRequestBytes = tt.maxBytes
			}
			e := newTestExporter(t, cfg)
			if err := e.ExportSpans(t.Context(), tt.give); err != nil {
				t.Fatalf("ExportSpans: %v", err)
			}
			var out bytes.Buffer
			out.WriteString("[\n")
			for i, r := range s.requests() {
				if r.Err != nil {
					t.Fatalf("request %d: %v", i, r.Err)
				}
				b, err := protoJSON(r.Data)
				if err != nil {
					t.Fatal(err)
				}
				// protojson varies its spacing on purpose; normalise it.
				var compact bytes.Buffer
				if err := json.Compact(&compact, b); err != nil {
					t.Fatal(err)
				}
				if i > 0 {
					out.WriteString(",\n")
				}
				if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
					t.Fatal(err)
				}
			}
			out.WriteString("\n]\n")
			got := out.Bytes()
			if bytes.Contains(got, []byte("SECRETTOKEN")) {
				t.Fatal("the token is in the payload")
			}

			path := filepath.Join("testdata", tt.name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
				for i := range min(len(gl), len(wl)) {
					if gl[i] != wl[i] {
						t.Fatalf("%s differs at line %d:\ngot:  %s\nwant: %s\n(run with -update if the change is intended)", path, i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("%s differs in length: got %d lines, want %d", path, len(gl), len(wl))
			}
		})
	}
}

// everyFieldBatch is a fixed batch that sets every field the encoder
// writes: two resources, scopes with attributes and schema URLs, every
// attribute type, events, links with trace state and flags, status, dropped
// counts, trace state and remote parents.
func everyFieldBatch() []sdktrace.ReadOnlySpan {
	ts, _ := trace.ParseTraceState("7ba1b2c3-d4e5f6@dt=fw4;3;4a2f0c1e;0;0;0;0;0;8e5b;2h01;7h4a2f0c1e,congo=t61rcWkgMzE")
	tid := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: trace.SpanID{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled, TraceState: ts,
	})
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: trace.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31},
		TraceFlags: trace.FlagsSampled, Remote: true,
	})
	link := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceState: ts, Remote: true,
	})
	allTypes := []attribute.KeyValue{
		attribute.String("string", "value"),
		attribute.String("empty_string", ""),
		attribute.Bool("bool", true),
		attribute.Bool("false", false),
		attribute.Int64("int", -42),
		attribute.Float64("double", 3.25),
		attribute.BoolSlice("bools", []bool{true, false}),
		attribute.Int64Slice("ints", []int64{1, -2, 300}),
		attribute.Float64Slice("doubles", []float64{0.5, -1}),
		attribute.StringSlice("strings", []string{"a", ""}),
		attribute.ByteSlice("bytes", []byte{0, 1, 0xfe, 0xff}),
		attribute.ByteSlice("empty_bytes", nil),
		attribute.Slice("slice", attribute.StringValue("x"), attribute.Int64Value(7), attribute.SliceValue()),
		attribute.Map("map", attribute.String("k", "v"), attribute.Map("inner", attribute.Bool("b", true))),
		{Key: "empty", Value: attribute.Value{}},
	}
	start := time.Date(2026, 11, 26, 18, 0, 0, 123456789, time.UTC)
	server := tracetest.SpanStub{
		Name: "POST /orders", SpanContext: sc, Parent: parent, SpanKind: trace.SpanKindServer,
		StartTime: start, EndTime: start.Add(42 * time.Millisecond),
		Attributes: allTypes,
		Events: []sdktrace.Event{
			{Name: "exception", Time: start.Add(time.Millisecond), Attributes: []attribute.KeyValue{
				attribute.String("exception.type", "*errors.errorString"),
				attribute.String("exception.message", "boom"),
			}, DroppedAttributeCount: 1},
			{Name: "no attributes", Time: start.Add(2 * time.Millisecond)},
		},
		Links: []sdktrace.Link{
			{SpanContext: link, Attributes: []attribute.KeyValue{attribute.String("messaging.message.id", "42")}, DroppedAttributeCount: 2},
		},
		Status:            sdktrace.Status{Code: codes.Error, Description: "order rejected"},
		DroppedAttributes: 3, DroppedEvents: 4, DroppedLinks: 5,
		Resource:             testResource,
		InstrumentationScope: testScope,
	}
	client := tracetest.SpanStub{
		Name: "pubsub publish", SpanKind: trace.SpanKindProducer,
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{9, 9, 9, 9, 9, 9, 9, 9}}),
		Parent:      sc,
		StartTime:   start.Add(10 * time.Millisecond), EndTime: start.Add(20 * time.Millisecond),
		Status:   sdktrace.Status{Code: codes.Ok},
		Resource: testResource,
		InstrumentationScope: instrumentation.Scope{
			Name: "cloud.google.com/go/pubsub", Version: "1.50.0",
			SchemaURL:  "https://opentelemetry.io/schemas/1.24.0",
			Attributes: attribute.NewSet(attribute.String("scope.attr", "yes")),
		},
	}
	other := tracetest.SpanStub{
		Name: "background", SpanKind: trace.SpanKindInternal,
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{0xff, 1}, SpanID: trace.SpanID{0xff, 2},
		}),
		StartTime: start, EndTime: start.Add(time.Second),
		Resource: resource.NewSchemaless(attribute.String("service.name", "worker")),
	}
	return []sdktrace.ReadOnlySpan{server.Snapshot(), other.Snapshot(), client.Snapshot()}
}
