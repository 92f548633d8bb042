package export

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
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

// Over HTTP/2 an early answer (413, without reading the body) makes the
// transport close a lent body from another goroutine while its writer may
// still be reading it; the halves sent next must not overwrite the bytes
// it reads (run with -race).
func TestLentBodyOverHTTP2EarlyAnswer(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > 64<<10 {
			w.WriteHeader(http.StatusRequestEntityTooLarge) // without reading the body
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	cfg := NewDefaultConfig()
	cfg.Endpoint = srv.URL + "/v1/traces"
	cfg.Compression = CompressionNone
	exp, err := New(cfg, WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	spans := namedSpans("big", 256, strings.Repeat("x", 8<<10)) // 2 MiB
	const rounds = 10
	for range rounds {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := exp.ExportSpans(ctx, spans)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := exp.Stats(); st.Exported != rounds*uint64(len(spans)) {
		t.Fatalf("exported %d of %d spans", st.Exported, rounds*len(spans))
	}
}

// Through go-retryablehttp (a client with a Timeout) and its retries, every
// lent body is closed: the loans balance, and the buffers serve the next
// export instead of being copied or replaced.
func TestLentBodiesBalanceThroughRetries(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if n.Add(1)%2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // every first attempt
		}
	}))
	defer srv.Close()
	cfg := NewDefaultConfig()
	cfg.Endpoint = srv.URL + "/v1/traces"
	cfg.Compression = CompressionNone
	exp, err := New(cfg, WithHTTPClient(&http.Client{Timeout: time.Minute}))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	if exp.direct {
		t.Fatal("a client with a Timeout takes the direct path")
	}
	spans := namedSpans("big", 128, strings.Repeat("x", 1<<10)) // 128 KiB: lent
	// loansBack waits until the transport has closed every lent body: it
	// closes them from its own goroutines, possibly after the response has
	// come back, and an export starting while one is out takes a fresh
	// buffer by design (TestLentBodyKeepsItsBytesWhileHeld).
	loansBack := func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			out := int32(0)
			exp.mu.Lock()
			for _, c := range exp.calls {
				out += c.loan.out.Load()
			}
			exp.mu.Unlock()
			if out == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d lent bodies still out 5 s after their export", out)
			}
			time.Sleep(time.Millisecond)
		}
	}
	export := func() {
		if err := exp.ExportSpans(context.Background(), spans); err != nil {
			t.Fatal(err)
		}
		loansBack()
	}
	export()
	const rounds = 10
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range rounds {
		export()
	}
	runtime.ReadMemStats(&after)
	if st := exp.Stats(); st.Retries < rounds {
		t.Fatalf("%d retries in %d exports: the server's 503s were not retried", st.Retries, rounds+1)
	}
	// Lending costs net/http's copy buffer (32 KiB per attempt: a lent body
	// has no WriteTo) and the requests, about 0.6 of a body per export, up to
	// 1.1 under the race detector (whose sync.Pools drop items). Copying the
	// bodies would add two bodies per export, replacing the buffers one:
	// 1.5 bodies tells them apart either way.
	raw := exp.Stats().BytesRaw / (rounds + 1)
	if perExport := (after.TotalAlloc - before.TotalAlloc) / rounds; perExport > raw*3/2 {
		t.Fatalf("%d bytes allocated per export (two attempts) of a %d-byte body: bodies copied or buffers replaced", perExport, raw)
	}
}
