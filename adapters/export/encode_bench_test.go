package export

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/protobuf/proto"
)

var benchSizes = []int{1, 10, 100, 512}

func perSpan(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/span")
}

// BenchmarkEncode measures encoding alone: grouping, span records and the
// request body, 10 attributes per span.
func BenchmarkEncode(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("spans=%d", n), func(b *testing.B) {
			spans := sdkSpans(n)
			enc := newEncoder(NewDefaultConfig())
			b.ReportAllocs()
			for b.Loop() {
				enc.encode(spans)
				for _, c := range enc.chunks() {
					_ = enc.body(c.lo, c.hi)
				}
				enc.release()
			}
			perSpan(b, n)
		})
	}
}

// BenchmarkAppendRequest is the public entry point for encoding alone,
// into a reused buffer.
func BenchmarkAppendRequest(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("spans=%d", n), func(b *testing.B) {
			spans := sdkSpans(n)
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendRequest(buf[:0], spans)
			}
			perSpan(b, n)
		})
	}
}

// BenchmarkEncodeGzip adds compression at the default level.
func BenchmarkEncodeGzip(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("spans=%d", n), func(b *testing.B) {
			spans := sdkSpans(n)
			enc := newEncoder(NewDefaultConfig())
			b.ReportAllocs()
			for b.Loop() {
				enc.encode(spans)
				for _, c := range enc.chunks() {
					_ = enc.compress(enc.body(c.lo, c.hi))
				}
				enc.release()
			}
			perSpan(b, n)
		})
	}
}

// BenchmarkEncodeReference is the same work done the usual way: official
// OTLP structs, then proto.Marshal. It is the baseline for BenchmarkEncode.
func BenchmarkEncodeReference(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("spans=%d", n), func(b *testing.B) {
			spans := sdkSpans(n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := proto.Marshal(refTracesData(spans)); err != nil {
					b.Fatal(err)
				}
			}
			perSpan(b, n)
		})
	}
}

// BenchmarkExport is a full ExportSpans to a loopback receiver.
func BenchmarkExport(b *testing.B) {
	for _, compression := range []string{CompressionNone, CompressionGzip} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/spans=%d", compression, n), func(b *testing.B) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
				}))
				defer srv.Close()
				cfg := testConfig(srv.URL + "/api/v2/otlp/v1/traces")
				cfg.Compression = compression
				e, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer e.Shutdown(context.Background())
				spans := sdkSpans(n)
				b.ReportAllocs()
				for b.Loop() {
					if err := e.ExportSpans(context.Background(), spans); err != nil {
						b.Fatal(err)
					}
				}
				perSpan(b, n)
			})
		}
	}
}
