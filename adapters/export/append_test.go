package export

import (
	"bytes"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// TestAppendRequestMatchesReference appends random batches, some of them to
// a non-empty buffer, and compares each encoding byte for byte with
// proto.Marshal of the request the reference transform builds with the
// official OTLP types. TracesData stands in for ExportTraceServiceRequest:
// both are "repeated ResourceSpans resource_spans = 1", the same bytes, and
// the collector package would pull in gRPC.
func TestAppendRequestMatchesReference(t *testing.T) {
	g := newGen(3)
	prefix := []byte("kept")
	for i := range 300 {
		spans := g.batch(12)
		var dst []byte
		if i%2 == 1 {
			dst = append(make([]byte, 0, 64), prefix...)
		}
		got := AppendRequest(dst, spans)
		if i%2 == 1 {
			if string(got[:len(prefix)]) != string(prefix) {
				t.Fatalf("batch %d: dst's bytes overwritten", i)
			}
			got = got[len(prefix):]
		}
		ref := refTracesData(spans)
		want, err := proto.Marshal(ref)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			var decoded tracepb.TracesData
			if err := proto.Unmarshal(got, &decoded); err != nil {
				t.Fatalf("batch %d: proto.Unmarshal: %v", i, err)
			}
			t.Fatalf("batch %d: bytes differ from proto.Marshal (len %d vs %d):\n%s", i, len(got), len(want), diff(ref, &decoded))
		}
	}
}

// TestAppendRequestInOrder appends random batches put in the reference's
// order, so that every resource and group is contiguous: the one-pass path
// with several groups. The bytes must not change.
func TestAppendRequestInOrder(t *testing.T) {
	g := newGen(4)
	groups := 0
	for i := range 300 {
		spans := g.batch(12)
		want := AppendRequest(nil, spans)
		ordered := refOrder(spans)
		if got := AppendRequest(nil, ordered); string(got) != string(want) {
			t.Fatalf("batch %d: %d bytes in group order, %d in batch order, or they differ", i, len(got), len(want))
		}
		enc := newEncoder(Config{MaxRequestBytes: 1 << 30})
		if _, ok := enc.appendInOrder(nil, ordered); !ok {
			t.Fatalf("batch %d: the one-pass path refused spans in group order", i)
		}
		groups = max(groups, len(enc.groups))
	}
	if groups < 3 {
		t.Errorf("at most %d groups in a batch; the test wants batches with several", groups)
	}
}

// TestAppendRequestIsWhatTheExporterSends compares AppendRequest with the
// body the exporter sent for the same spans, uncompressed and gzipped.
func TestAppendRequestIsWhatTheExporterSends(t *testing.T) {
	for _, compression := range []string{CompressionNone, CompressionGzip} {
		t.Run(compression, func(t *testing.T) {
			s := newSink(t, nil)
			cfg := testConfig(s.url())
			cfg.Compression = compression
			cfg.CompressionMinBytes = 1
			e := newTestExporter(t, cfg)
			spans := append(testSpans(3), sdkSpans(4)...)
			if err := e.ExportSpans(t.Context(), spans); err != nil {
				t.Fatal(err)
			}
			reqs := s.requests()
			if len(reqs) != 1 || reqs[0].Err != nil {
				t.Fatalf("got %d requests (%v), want 1 decodable", len(reqs), reqs)
			}
			if got, want := reqs[0].Body, AppendRequest(nil, spans); string(got) != string(want) {
				t.Errorf("the exporter sent %d bytes, AppendRequest gives %d, or they differ", len(got), len(want))
			}
		})
	}
}

func TestAppendRequestEmpty(t *testing.T) {
	if got := AppendRequest(nil, nil); len(got) != 0 {
		t.Errorf("AppendRequest(nil, nil) = %x, want nothing", got)
	}
	dst := []byte{1, 2}
	if got := AppendRequest(dst, nil); string(got) != string(dst) {
		t.Errorf("AppendRequest(dst, nil) = %x, want dst unchanged", got)
	}
}

// TestFixLen writes length prefixes reserved for an estimate narrower,
// wider and as wide as the field turned out.
func TestFixLen(t *testing.T) {
	tests := []struct {
		name          string
		estimate, got int
	}{
		{name: "as estimated", estimate: 300, got: 200},
		{name: "narrower than reserved", estimate: 20_000, got: 100},
		{name: "wider than reserved", estimate: 10, got: 20_000},
		{name: "much wider", estimate: 0, got: 3_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			field := make([]byte, tt.got)
			for i := range field {
				field[i] = byte(i)
			}
			b := []byte("head")
			b, at, w := reserveLen(b, tt.estimate)
			b = append(b, field...)
			b = fixLen(b, at, w)
			want := protowire.AppendBytes([]byte("head"), field)
			if !bytes.Equal(b, want) {
				t.Errorf("got %d bytes, want %d: the prefix or the field is wrong", len(b), len(want))
			}
		})
	}
}
