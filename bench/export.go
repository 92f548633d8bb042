package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/gcftrace/gcftrace/adapters/export"
)

// Batches are the batch sizes of the export scenarios.
var Batches = []int{1, 10, 100, 512}

// ExportAttributes is the number of attributes per exported span.
const ExportAttributes = 10

var exportSpans = sync.OnceValue(func() []sdktrace.ReadOnlySpan {
	return Spans(Batches[len(Batches)-1], ExportAttributes)
})

// exportScenarios export batches to the loopback Receiver with otlptracehttp
// and with adapters/export, gzip off and on. otlptracehttp compresses at
// gzip's default level; ours at its own default (export.DefaultCompressionLevel).
func exportScenarios() []Scenario {
	var out []Scenario
	for _, gz := range []bool{false, true} {
		for _, n := range Batches {
			row := fmt.Sprintf("gzip=%s/spans=%d", onOff(gz), n)
			out = append(out,
				Scenario{
					Group: "export", Row: row, Side: Anchor, Spans: n,
					Setup: func(tb testing.TB) Op {
						rc := newReceiver(tb)
						exp := newOTLPExporter(tb, rc.URL(), gz, nil)
						return exportOp(exp, n, rc)
					},
				},
				Scenario{
					Group: "export", Row: row, Side: Ours, Spans: n,
					Setup: func(tb testing.TB) Op {
						rc := newReceiver(tb)
						exp := newExporter(tb, rc.URL(), gz, nil)
						return exportOp(exp, n, rc)
					},
				},
			)
		}
	}
	return out
}

// encodeScenarios compare encoding without a network: the anchor is
// otlptrace's transform plus proto.Marshal, what otlptracehttp does before it
// posts; ours is export.AppendRequest into a reused buffer, the bytes our
// exporter sends before compression.
func encodeScenarios() []Scenario {
	var out []Scenario
	for _, n := range Batches {
		row := fmt.Sprintf("spans=%d", n)
		out = append(out,
			Scenario{
				Group: "encode", Row: row, Side: Anchor, Spans: n,
				Setup: func(tb testing.TB) Op {
					c := &marshalClient{}
					exp := otlptrace.NewUnstarted(c)
					shutdown(tb, "otlptrace exporter", exp.Shutdown)
					if err := exp.Start(context.Background()); err != nil {
						tb.Fatal(err)
					}
					op := exportOp(exp, n, nil)
					op.Done = func(int) map[string]float64 { return map[string]float64{"B/req": float64(len(c.buf))} }
					return op
				},
			},
			Scenario{
				Group: "encode", Row: row, Side: Ours, Spans: n,
				Setup: func(testing.TB) Op {
					spans := exportSpans()[:n]
					var buf []byte
					return Op{
						Run: func() error {
							buf = export.AppendRequest(buf[:0], spans)
							return nil
						},
						Done: func(int) map[string]float64 { return map[string]float64{"B/req": float64(len(buf))} },
					}
				},
			},
		)
	}
	return out
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func newReceiver(tb testing.TB) *Receiver {
	rc, err := NewReceiver()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = rc.Close() })
	return rc
}

// newOTLPExporter is the anchor exporter: otlptracehttp with the same
// endpoint and token header as ours; client, when set, replaces its HTTP
// client.
func newOTLPExporter(tb testing.TB, url string, gz bool, client *http.Client) *otlptrace.Exporter {
	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpointURL(url),
		otlptracehttp.WithHeaders(map[string]string{"Authorization": "Api-Token " + Token}),
		otlptracehttp.WithCompression(otlptracehttp.NoCompression),
	}
	if gz {
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	}
	if client != nil {
		opts = append(opts, otlptracehttp.WithHTTPClient(client))
	}
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	shutdown(tb, "otlptracehttp exporter", exp.Shutdown)
	return exp
}

// newExporter is our exporter with its defaults but compression; client,
// when set, replaces its HTTP client.
func newExporter(tb testing.TB, url string, gz bool, client *http.Client) *export.Exporter {
	cfg := export.NewDefaultConfig()
	cfg.Endpoint = url
	cfg.Token = Token
	cfg.Compression = export.CompressionNone
	if gz {
		cfg.Compression = export.CompressionGzip
	}
	var opts []export.Option
	if client != nil {
		opts = append(opts, export.WithHTTPClient(client))
	}
	exp, err := export.New(cfg, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	shutdown(tb, "exporter", exp.Shutdown)
	return exp
}

// exportOp exports the first n spans; with rc it reports requests per export
// ("req/op") and bytes per request as received ("B/req").
func exportOp(exp sdktrace.SpanExporter, n int, rc *Receiver) Op {
	spans := exportSpans()[:n]
	ctx := context.Background()
	op := Op{Run: func() error { return exp.ExportSpans(ctx, spans) }}
	if rc != nil {
		op.Done = func(calls int) map[string]float64 {
			req := rc.Requests()
			return map[string]float64{
				"req/op": float64(req) / float64(calls),
				"B/req":  float64(rc.Bytes()) / float64(max(req, 1)),
			}
		}
	}
	return op
}

// marshalClient is an otlptrace.Client that only marshals the request.
type marshalClient struct {
	buf []byte
}

func (c *marshalClient) Start(context.Context) error { return nil }
func (c *marshalClient) Stop(context.Context) error  { return nil }

func (c *marshalClient) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	var err error
	c.buf, err = proto.MarshalOptions{}.MarshalAppend(c.buf[:0], &coltracepb.ExportTraceServiceRequest{ResourceSpans: rs})
	return err
}
