package handler

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// discardExporter drops every span, so benchmarks measure the handler and
// the SDK, not an export.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// nopWriter is a ResponseWriter that allocates nothing.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header         { return w.h }
func (w nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w nopWriter) WriteHeader(int)             {}

const (
	parentSampled    = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	parentNotSampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
)

func benchProvider(b *testing.B) *sdktrace.TracerProvider {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithBatcher(discardExporter{}),
	)
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

func benchRequest(traceparent string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/items/42?q=1", nil)
	r.Header.Set("traceparent", traceparent)
	r.Header.Set("User-Agent", "bench")
	r.Header.Set("Function-Execution-Id", "exec-1")
	return r
}

func benchHTTP(b *testing.B, h http.Handler, traceparent string) {
	r := benchRequest(traceparent)
	w := nopWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

var bare = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

func BenchmarkHTTPBare(b *testing.B) { benchHTTP(b, bare, parentSampled) }

func BenchmarkHTTPSampled(b *testing.B) {
	benchHTTP(b, HTTP(bare, WithTracerProvider(benchProvider(b))), parentSampled)
}

// BenchmarkHTTPSampledNoProcessor has no span processor, as the reference
// measurement of otelhttp does.
func BenchmarkHTTPSampledNoProcessor(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	benchHTTP(b, HTTP(bare, WithTracerProvider(tp)), parentSampled)
}

// BenchmarkHTTPSampledRoute names the span after a ServeMux route.
func BenchmarkHTTPSampledRoute(b *testing.B) {
	mux := http.NewServeMux()
	mux.Handle("GET /items/{id}", bare)
	benchHTTP(b, HTTP(mux, WithTracerProvider(benchProvider(b))), parentSampled)
}

func BenchmarkHTTPNotSampled(b *testing.B) {
	benchHTTP(b, HTTP(bare, WithTracerProvider(benchProvider(b))), parentNotSampled)
}

func BenchmarkCloudEvent(b *testing.B) {
	fn := CloudEvent(func(context.Context, event.Event) error { return nil }, WithTracerProvider(benchProvider(b)))
	e := newEvent(b, "google.cloud.storage.object.v1.finalized", "//storage.googleapis.com/projects/_/buckets/b", "objects/o.txt")
	e.SetExtension("traceparent", parentSampled)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = fn(ctx, e)
	}
}

func BenchmarkCloudEventPubSub(b *testing.B) {
	fn := CloudEvent(func(context.Context, event.Event) error { return nil }, WithTracerProvider(benchProvider(b)))
	e := pubsubEvent(b, map[string]string{"googclient_traceparent": parentSampled})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = fn(ctx, e)
	}
}
