package export

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
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
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// received is one request as a sink decoded it.
type received struct {
	Header http.Header
	Body   []byte // decompressed
	Wire   int    // bytes on the wire
	Data   *tracepb.TracesData
	Err    error // decoding problem
}

// sink is an OTLP/HTTP receiver on a loopback httptest server. respond, when
// set, chooses the answer to each request (n counts from 1); it may write the
// whole reply itself and return 0.
type sink struct {
	srv *httptest.Server

	mu      sync.Mutex
	reqs    []received
	respond func(w http.ResponseWriter, r *received, n int) int
}

func newSink(t *testing.T, respond func(w http.ResponseWriter, r *received, n int) int) *sink {
	t.Helper()
	s := &sink{respond: respond}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) url() string { return s.srv.URL + "/api/v2/otlp/v1/traces" }

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	wire, _ := io.ReadAll(r.Body)
	rec := received{Header: r.Header.Clone(), Wire: len(wire), Body: wire}
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err == nil {
			rec.Body, err = io.ReadAll(zr)
		}
		rec.Err = err
	}
	if rec.Err == nil {
		rec.Data = &tracepb.TracesData{}
		rec.Err = proto.Unmarshal(rec.Body, rec.Data)
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	n := len(s.reqs)
	respond := s.respond
	s.mu.Unlock()
	code := http.StatusOK
	if respond != nil {
		code = respond(w, &rec, n)
	}
	if code != 0 {
		w.WriteHeader(code)
	}
}

func (s *sink) requests() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.reqs...)
}

// spans returns every span received, in order.
func (s *sink) spans() []*tracepb.Span {
	var out []*tracepb.Span
	for _, r := range s.requests() {
		if r.Data == nil {
			continue
		}
		for _, rs := range r.Data.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				out = append(out, ss.Spans...)
			}
		}
	}
	return out
}

// newTestExporter returns an exporter for url with cfg's other fields, shut
// down at the end of the test.
func newTestExporter(t *testing.T, cfg Config, opts ...Option) *Exporter {
	t.Helper()
	e, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return e
}

func testConfig(url string) Config {
	cfg := NewDefaultConfig()
	cfg.Endpoint = url
	cfg.Token = "dt0c01.SECRETTOKEN"
	return cfg
}

// logBuffer returns a logger writing into a buffer.
func logBuffer() (*slog.Logger, *syncBuffer) {
	b := &syncBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

var (
	testResource = resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "checkout"),
		attribute.String("cloud.provider", "gcp"),
		attribute.String("faas.name", "checkout"),
	)
	testScope = instrumentation.Scope{Name: "github.com/gcftrace/gcftrace", Version: "0.1.0"}
	testStart = time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)
)

// testSpans returns n simple spans with 10 attributes each.
func testSpans(n int) []sdktrace.ReadOnlySpan {
	out := make([]sdktrace.ReadOnlySpan, n)
	for i := range out {
		out[i] = &idSpan{testSpan(i)} // comparable, for checks of identity
	}
	return out
}

func testSpan(i int) sdktrace.ReadOnlySpan {
	tid := trace.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, byte(i)}
	sid := trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, byte(i >> 8), byte(i)}
	parent := trace.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31}
	return tracetest.SpanStub{
		Name: "GET /checkout",
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled,
		}),
		Parent: trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: parent, TraceFlags: trace.FlagsSampled, Remote: true,
		}),
		SpanKind:  trace.SpanKindServer,
		StartTime: testStart.Add(time.Duration(i) * time.Millisecond),
		EndTime:   testStart.Add(time.Duration(i)*time.Millisecond + 1500*time.Microsecond),
		Attributes: []attribute.KeyValue{
			attribute.String("http.request.method", "GET"),
			attribute.String("url.path", "/checkout"),
			attribute.String("url.scheme", "https"),
			attribute.String("server.address", "europe-west3-myproject.cloudfunctions.net"),
			attribute.Int("http.response.status_code", 200),
			attribute.String("faas.trigger", "http"),
			attribute.String("faas.invocation_id", "b6a1c0e2d4f3"),
			attribute.Bool("faas.coldstart", i == 0),
			attribute.String("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
			attribute.Int("network.peer.port", 44321),
		},
		Status:               sdktrace.Status{Code: codes.Unset},
		Resource:             testResource,
		InstrumentationScope: testScope,
	}.Snapshot()
}

// sdkSpans returns n spans ended by the real SDK (the ReadOnlySpan an
// exporter gets in production), with 10 attributes each.
func sdkSpans(n int) []sdktrace.ReadOnlySpan {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(testResource))
	tracer := tp.Tracer(testScope.Name, trace.WithInstrumentationVersion(testScope.Version))
	for i := range n {
		ref := testSpan(i)
		ctx := trace.ContextWithRemoteSpanContext(context.Background(), ref.Parent())
		_, span := tracer.Start(ctx, ref.Name(),
			trace.WithSpanKind(ref.SpanKind()),
			trace.WithTimestamp(ref.StartTime()),
			trace.WithAttributes(ref.Attributes()...))
		span.End(trace.WithTimestamp(ref.EndTime()))
	}
	_ = tp.Shutdown(context.Background())
	return rec.Ended()
}

// bigSpan returns a span with an attribute of n bytes.
func bigSpan(n int) sdktrace.ReadOnlySpan {
	stub := tracetest.SpanStubFromReadOnlySpan(testSpan(999))
	stub.Name = "big"
	stub.Attributes = append(stub.Attributes, attribute.String("payload", strings.Repeat("p", n)))
	return &idSpan{stub.Snapshot()}
}
