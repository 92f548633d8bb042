package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/core"
	"github.com/gcftrace/gcftrace/ports"
	"github.com/gcftrace/gcftrace/ports/portstest"
)

// Token is the API token every exporter sends, anchors included.
const Token = "dt0c01.BENCH.not-a-secret"

// Parent headers: a W3C parent, sampled and not sampled.
const (
	ParentSampled    = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ParentNotSampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
)

// Environment is the function instance the scenarios pretend to run in.
var Environment = ports.Environment{
	Platform:      ports.PlatformFunctionsGen2,
	ProjectID:     "bench-project",
	Region:        "europe-west3",
	Function:      "hello",
	Revision:      "hello-00001-abc",
	Configuration: "hello",
	EntryPoint:    "Hello",
	SignatureType: "http",
	InstanceID:    "00f2b2c8d1e7a6b5c4d3e2f1",
	MemoryMB:      256,
}

// EnvironmentSource reports Environment at once.
func EnvironmentSource() ports.EnvironmentSource { return portstest.StaticEnvironment(Environment) }

// AnchorResource is the resource the anchors export with: the SDK's default
// plus the same cloud and FaaS attributes gcftrace derives from Environment,
// so that both sides send comparable payloads.
func AnchorResource() *resource.Resource {
	res, err := resource.Merge(resource.Default(),
		resource.NewSchemaless(core.ResourceAttributes(Environment)...))
	if err != nil {
		return resource.Default()
	}
	return res
}

// SpanAttributes returns n attributes of the kinds a server span carries.
func SpanAttributes(n int) []attribute.KeyValue {
	all := []attribute.KeyValue{
		semconv.HTTPRequestMethodGet,
		semconv.URLPath("/api/v1/orders/12345"),
		semconv.URLScheme("https"),
		semconv.ServerAddress("hello-abc123-ew.a.run.app"),
		semconv.ServerPort(443),
		semconv.ClientAddress("203.0.113.42"),
		semconv.UserAgentOriginal("Mozilla/5.0 (X11; Linux x86_64) bench/1.0"),
		semconv.HTTPResponseStatusCode(200),
		attribute.Bool("faas.coldstart", false),
		attribute.Float64("app.order.total", 1234.56),
		attribute.StringSlice("app.order.items", []string{"a-1", "b-22", "c-333"}),
		attribute.Int64("app.order.count", 3),
	}
	for len(all) < n {
		all = append(all, attribute.String(fmt.Sprintf("app.extra.%d", len(all)), "value"))
	}
	return all[:n:n]
}

// Spans returns n ended, sampled spans of one trace, each with attrs
// attributes, a server kind and an ok status, from one resource and scope.
func Spans(n, attrs int) []sdktrace.ReadOnlySpan {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(AnchorResource()),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithSpanProcessor(rec),
	)
	tr := tp.Tracer("github.com/gcftrace/gcftrace/bench", trace.WithInstrumentationVersion("0.1.0"))
	ctx, root := tr.Start(context.Background(), "GET /api/v1/orders/{id}", trace.WithSpanKind(trace.SpanKindServer))
	kv := SpanAttributes(attrs)
	for i := range n - 1 {
		_, s := tr.Start(ctx, fmt.Sprintf("step %d", i%16), trace.WithAttributes(kv...))
		s.SetStatus(codes.Ok, "")
		s.End()
	}
	root.SetAttributes(kv...)
	root.End()
	_ = tp.Shutdown(context.Background())
	return rec.Ended()
}

// CountingExporter is a sdktrace.SpanExporter that counts and discards.
type CountingExporter struct {
	spans, calls atomic.Int64
}

var _ sdktrace.SpanExporter = (*CountingExporter)(nil)

// ExportSpans counts spans.
func (e *CountingExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.calls.Add(1)
	e.spans.Add(int64(len(spans)))
	return nil
}

// Shutdown does nothing.
func (e *CountingExporter) Shutdown(context.Context) error { return nil }

// Spans is the number of spans exported so far.
func (e *CountingExporter) Spans() int64 { return e.spans.Load() }

// discardWriter is a reusable http.ResponseWriter that discards.
type discardWriter struct {
	h      http.Header
	status int
}

func newDiscardWriter() *discardWriter { return &discardWriter{h: make(http.Header, 4)} }

func (w *discardWriter) reset() {
	clear(w.h)
	w.status = 0
}

func (w *discardWriter) Header() http.Header { return w.h }

func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}

func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

// hello is the function under test: it answers a short text.
var hello = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(helloBody)
})

var helloBody = []byte("Hello, World!\n")

// newRequest returns the invocation request: GET with a traceparent header
// (none when parent is ""), the headers Google's front end adds, and a
// Function-Execution-Id.
func newRequest(parent string) *http.Request {
	r, err := http.NewRequest(http.MethodGet, "http://hello-abc123-ew.a.run.app/?name=bench", http.NoBody)
	if err != nil {
		panic(err) // a constant URL
	}
	r.RemoteAddr = "169.254.1.1:40000"
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) bench/1.0")
	r.Header.Set("X-Forwarded-For", "203.0.113.42")
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("Function-Execution-Id", "f8a3c2b1d4e5")
	if parent != "" {
		r.Header.Set("Traceparent", parent)
	}
	return r
}

// serve runs h once on r, reporting a non-200 answer.
func serve(h http.Handler, w *discardWriter, r *http.Request) error {
	w.reset()
	h.ServeHTTP(w, r)
	if w.status != http.StatusOK {
		return fmt.Errorf("bench: handler answered %d", w.status)
	}
	return nil
}

// w3c is the propagator both sides use: W3C trace context.
var w3c propagation.TextMapPropagator = propagation.TraceContext{}

func shutdown(tb testing.TB, name string, f func(context.Context) error) {
	tb.Cleanup(func() {
		if err := f(context.Background()); err != nil {
			tb.Logf("%s: shutdown: %v", name, err)
		}
	})
}
