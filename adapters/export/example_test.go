package export_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/gcftrace/gcftrace/adapters/export"
	"github.com/gcftrace/gcftrace/ports"
)

func ExampleNew() {
	// A stand-in for https://{env-id}.live.dynatrace.com/api/v2/otlp/v1/traces.
	receiver := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer receiver.Close()

	cfg := export.NewDefaultConfig()
	cfg.Endpoint = receiver.URL + "/api/v2/otlp/v1/traces"
	cfg.Token = "dt0c01.EXAMPLE" // needs scope openTelemetryTrace.ingest
	exp, err := export.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer exp.Shutdown(context.Background())

	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	_, span := tp.Tracer("example").Start(context.Background(), "hello")
	span.End()

	fmt.Println("exported:", exp.Stats().Exported)
	// Output: exported: 1
}

// A span processor tells a failure worth retrying from a permanent one.
func ExampleRetryable() {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer receiver.Close()

	cfg := export.NewDefaultConfig()
	cfg.Endpoint = receiver.URL + "/v1/traces"
	exp, err := export.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer exp.Shutdown(context.Background())

	spans := tracetest.SpanStubs{{Name: "a"}, {Name: "b"}}.Snapshots()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = exp.ExportSpans(ctx, spans)

	var re *export.RetryableError
	switch {
	case errors.As(err, &re):
		fmt.Println("keep for the next flush:", len(re.Spans))
	case errors.Is(err, ports.ErrExportRejected):
		fmt.Println("dropped for good")
	}
	// Output: keep for the next flush: 2
}

// A program that ships OTLP bytes by other means (a queue, a file) encodes
// spans with AppendRequest, into a buffer it reuses.
func ExampleAppendRequest() {
	spans := tracetest.SpanStubs{{Name: "a"}, {Name: "b"}}.Snapshots()
	var buf []byte
	buf = export.AppendRequest(buf[:0], spans)

	// TracesData has the wire format of ExportTraceServiceRequest.
	var req tracepb.TracesData
	if err := proto.Unmarshal(buf, &req); err != nil {
		log.Fatal(err)
	}
	for _, s := range req.ResourceSpans[0].ScopeSpans[0].Spans {
		fmt.Println(s.Name)
	}
	// Output:
	// a
	// b
}
