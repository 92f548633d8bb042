package export

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// An endpoint that answers 413 before reading a large body leaves the
// transport still writing it after RoundTrip returned; the halves sent next
// must not overwrite the bytes it is writing (run with -race).
func TestRequestBodyNotReusedWhileTheTransportReadsIt(t *testing.T) {
	var got int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > 256<<10 {
			w.WriteHeader(http.StatusRequestEntityTooLarge) // without reading the body
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		got++
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	cfg := NewDefaultConfig()
	cfg.Endpoint = srv.URL + "/v1/traces"
	cfg.Compression = CompressionNone
	exp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())

	pad := strings.Repeat("x", 32<<10)
	spans := make([]sdktrace.ReadOnlySpan, 64) // 2 MiB
	for i := range spans {
		spans[i] = tracetest.SpanStub{
			Name: "span",
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: trace.TraceID{1}, SpanID: trace.SpanID{byte(i + 1)}, TraceFlags: trace.FlagsSampled,
			}),
			EndTime:    time.Now(),
			Attributes: []attribute.KeyValue{attribute.String("pad", pad)},
		}.Snapshot()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exp.ExportSpans(ctx, spans); err != nil {
		t.Fatal(err)
	}
	if got == 0 {
		t.Fatal("no half of the batch was accepted")
	}
	if st := exp.Stats(); st.Exported != uint64(len(spans)) {
		t.Fatalf("exported %d of %d spans", st.Exported, len(spans))
	}
}
