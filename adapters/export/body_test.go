package export

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
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

// holdingTransport answers 200 at once and keeps the request bodies
// unread and open, as a transport may after RoundTrip returned.
type holdingTransport struct {
	mu     sync.Mutex
	bodies []io.ReadCloser
}

func (h *holdingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.bodies = append(h.bodies, r.Body)
	h.mu.Unlock()
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
}

func namedSpans(name string, n int, pad string) []sdktrace.ReadOnlySpan {
	spans := make([]sdktrace.ReadOnlySpan, n)
	for i := range spans {
		spans[i] = tracetest.SpanStub{
			Name: name,
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: trace.TraceID{1}, SpanID: trace.SpanID{byte(i + 1)}, TraceFlags: trace.FlagsSampled,
			}),
			EndTime:    time.Now(),
			Attributes: []attribute.KeyValue{attribute.String("pad", pad)},
		}.Snapshot()
	}
	return spans
}

// A large payload is lent to the request, not copied; a body the transport
// still holds after RoundTrip returned keeps its bytes while the next
// exports encode theirs, small (copied) and large (lent).
func TestLentBodyKeepsItsBytesWhileHeld(t *testing.T) {
	held := &holdingTransport{}
	cfg := NewDefaultConfig()
	cfg.Endpoint = "https://collector.example/v1/traces"
	cfg.Compression = CompressionNone
	exp, err := New(cfg, WithHTTPClient(&http.Client{Transport: held}))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())

	pad := strings.Repeat("x", 1<<10)
	batches := map[string][]sdktrace.ReadOnlySpan{
		"first":  namedSpans("first", 64, pad), // 64 KiB: lent
		"small":  namedSpans("small", 2, pad),  // copied
		"second": namedSpans("second", 64, pad),
	}
	for _, name := range []string{"first", "small", "second"} {
		if err := exp.ExportSpans(context.Background(), batches[name]); err != nil {
			t.Fatalf("export %s: %v", name, err)
		}
	}
	if len(held.bodies) != 3 {
		t.Fatalf("%d requests, want 3", len(held.bodies))
	}
	for i, name := range []string{"first", "small", "second"} {
		b, err := io.ReadAll(held.bodies[i])
		if err != nil {
			t.Fatal(err)
		}
		_ = held.bodies[i].Close()
		var req tracepb.TracesData // the request's wire format
		if err := proto.Unmarshal(b, &req); err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		spans := req.GetResourceSpans()[0].GetScopeSpans()[0].GetSpans()
		if len(spans) != len(batches[name]) {
			t.Fatalf("body %d: %d spans, want %d", i, len(spans), len(batches[name]))
		}
		for _, s := range spans {
			if s.GetName() != name {
				t.Fatalf("body %d holds span %q, want %q: its buffer was reused while held", i, s.GetName(), name)
			}
		}
	}
}

// Once the transport closed a lent body, its buffer serves the next
// request: exporting a large batch again and again allocates far less
// than a copy of its body each time.
func TestLentBufferReusedOnceClosed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
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
	spans := namedSpans("big", 256, strings.Repeat("x", 1<<10)) // 256 KiB
	export := func() {
		if err := exp.ExportSpans(context.Background(), spans); err != nil {
			t.Fatal(err)
		}
	}
	export() // buffers grow to size
	const n = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		export()
	}
	runtime.ReadMemStats(&after)
	raw := exp.Stats().BytesRaw / uint64(n+1)
	if perExport := (after.TotalAlloc - before.TotalAlloc) / n; perExport > raw/2 {
		t.Fatalf("%d bytes allocated per export of a %d-byte body: the body is copied", perExport, raw)
	}
}
