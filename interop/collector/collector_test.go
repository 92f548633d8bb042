// Package collector_test sends spans with the export adapter to the real
// OpenTelemetry Collector OTLP receiver, listening on loopback at the
// Dynatrace path, and checks that every field arrives as sent.
//
// The expected data is built from the span stubs by an independent
// transform (collector_expect_test.go) and compared, via pdata, with what
// the receiver decoded.
package collector_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcftrace/gcftrace/adapters/export"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines. The receiver's Shutdown and the
// exporter's Shutdown stop everything they started, so nothing is ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const token = "interop-test-token"

// newExporter returns an exporter sending to r, shut down when the test ends.
func newExporter(t *testing.T, r *receiver, compression string, maxBytes int) *export.Exporter {
	t.Helper()
	exp, err := export.New(export.Config{
		Endpoint:    r.endpoint,
		Token:       token,
		Compression: compression,
		// Compress every body, however small: these tests are about gzip
		// on the wire when it is on.
		CompressionMinBytes: 1,
		MaxRequestBytes:     maxBytes,
		Timeout:             time.Minute, // a 3 MB batch takes seconds with -race on a busy machine
	})
	if err != nil {
		t.Fatalf("export.New: %v", err)
	}
	t.Cleanup(func() {
		if err := exp.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return exp
}

func exportSpans(t *testing.T, exp *export.Exporter, spans tracetest.SpanStubs) {
	if err := exp.ExportSpans(t.Context(), spans.Snapshots()); err != nil {
		t.Errorf("ExportSpans: %v", err)
	}
}

var compressions = []string{export.CompressionGzip, export.CompressionNone}

// TestCollectorRoundTrip sends the fixture, which sets every field, and a
// generated batch at the same time through one exporter, then a third batch
// that reuses an encoder and its cached resources and scopes.
func TestCollectorRoundTrip(t *testing.T) {
	for _, compression := range compressions {
		t.Run(compression, func(t *testing.T) {
			r := startReceiver(t)
			exp := newExporter(t, r, compression, 0)
			fixture, concurrent, later := fixtureBatch(), generatedBatch(2, 32<<10), generatedBatch(3, 32<<10)

			var wg sync.WaitGroup
			wg.Go(func() { exportSpans(t, exp, fixture) })
			wg.Go(func() { exportSpans(t, exp, concurrent) })
			wg.Wait()
			exportSpans(t, exp, later)

			got := r.sink.AllTraces()
			if len(got) != 3 {
				t.Errorf("receiver got %d requests, want 3", len(got))
			}
			reportDiffs(t, diffTraces(got, wantTraces(slices.Concat(fixture, concurrent, later))))
			checkGrouping(t, got)
			checkHeaders(t, r, compression)
		})
	}
}

// TestCollectorLargeBatch sends a batch of more than 3 MiB, which fits in
// one request, gzipped and not, and a 1 MiB batch with a 64 KiB request
// limit, which the exporter has to split.
func TestCollectorLargeBatch(t *testing.T) {
	large := generatedBatch(1, 3<<20)
	tests := []struct {
		name        string
		batch       tracetest.SpanStubs
		minBytes    int // of the batch in OTLP
		compression string
		maxBytes    int // of a request; 0 is the default, 8 MB
	}{
		{name: "gzip", batch: large, minBytes: 3 << 20, compression: export.CompressionGzip},
		{name: "none", batch: large, minBytes: 3 << 20, compression: export.CompressionNone},
		{name: "split", batch: generatedBatch(4, 1<<20), minBytes: 1 << 20, compression: export.CompressionGzip, maxBytes: 64 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := wantTraces(tt.batch)
			size := new(ptrace.ProtoMarshaler).TracesSize(want)
			if size < tt.minBytes {
				t.Fatalf("batch encodes to %d bytes, want at least %d", size, tt.minBytes)
			}
			// A request body holds at most maxBytes (before compression too),
			// and the whole batch when it fits.
			minRequests, maxRequests := 1, 1
			if tt.maxBytes != 0 {
				minRequests, maxRequests = (size+tt.maxBytes-1)/tt.maxBytes, len(tt.batch)
			}

			r := startReceiver(t)
			exportSpans(t, newExporter(t, r, tt.compression, tt.maxBytes), tt.batch)

			got := r.sink.AllTraces()
			t.Logf("%d spans, %d bytes of OTLP, %d requests", len(tt.batch), size, len(got))
			if r.sink.SpanCount() != len(tt.batch) {
				t.Errorf("receiver got %d spans, want %d", r.sink.SpanCount(), len(tt.batch))
			}
			if len(got) < minRequests || len(got) > maxRequests {
				t.Errorf("receiver got %d requests, want %d to %d", len(got), minRequests, maxRequests)
			}
			reportDiffs(t, diffTraces(got, want))
			checkGrouping(t, got)
			checkHeaders(t, r, tt.compression)
		})
	}
}

// reportDiffs fails the test with the first differences.
func reportDiffs(t *testing.T, diffs []string) {
	t.Helper()
	const maxShown = 40
	for i, d := range diffs {
		if i == maxShown {
			t.Errorf("... and %d more differences", len(diffs)-maxShown)
			break
		}
		t.Error(d)
	}
}

// checkGrouping checks that no request repeats a resource, nor a scope
// within a resource: spans are grouped as OTLP intends.
func checkGrouping(t *testing.T, requests []ptrace.Traces) {
	t.Helper()
	for i, td := range requests {
		resources := map[string]bool{}
		for _, rs := range td.ResourceSpans().All() {
			rk := fmt.Sprint(rs.SchemaUrl(), rs.Resource().Attributes().AsRaw())
			if resources[rk] {
				t.Errorf("request %d: resource %s appears twice", i, rk)
			}
			resources[rk] = true
			scopes := map[string]bool{}
			for _, ss := range rs.ScopeSpans().All() {
				sc := ss.Scope()
				sk := fmt.Sprint(ss.SchemaUrl(), sc.Name(), sc.Version(), sc.Attributes().AsRaw())
				if scopes[sk] {
					t.Errorf("request %d: scope %s appears twice under resource %s", i, sk, rk)
				}
				scopes[sk] = true
				if ss.Spans().Len() == 0 {
					t.Errorf("request %d: scope %s has no spans", i, sk)
				}
			}
		}
	}
}

// checkHeaders checks the request headers the receiver saw (it passes them
// on with include_metadata).
func checkHeaders(t *testing.T, r *receiver, compression string) {
	t.Helper()
	wantEncoding := ""
	if compression == export.CompressionGzip {
		wantEncoding = "gzip"
	}
	contexts := r.sink.Contexts()
	if len(contexts) == 0 {
		t.Error("receiver passed on no request")
	}
	for i, ctx := range contexts {
		md := client.FromContext(ctx).Metadata
		header := func(name string) string { return strings.Join(md.Get(name), ", ") }
		if got, want := header("Authorization"), "Api-Token "+token; got != want {
			t.Errorf("request %d: Authorization = %q, want %q", i, got, want)
		}
		if got, want := header("Content-Type"), "application/x-protobuf"; got != want {
			t.Errorf("request %d: Content-Type = %q, want %q", i, got, want)
		}
		if got := header("Content-Encoding"); got != wantEncoding {
			t.Errorf("request %d: Content-Encoding = %q, want %q", i, got, wantEncoding)
		}
	}
}
