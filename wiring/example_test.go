package wiring_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/fx"

	"github.com/gcftrace/gcftrace/adapters/export/exporttest"
	"github.com/gcftrace/gcftrace/adapters/handler"
	"github.com/gcftrace/gcftrace/core"
	"github.com/gcftrace/gcftrace/ports"
	"github.com/gcftrace/gcftrace/ports/portstest"
	"github.com/gcftrace/gcftrace/wiring"
)

// A function's setup: one call, then every invocation is traced and its
// spans are exported before the response completes (flush on exit).
func ExampleNew() {
	sink, _ := exporttest.NewSink() // an OTLP/HTTP receiver on loopback
	defer sink.Close()

	cfg := core.NewDefaultConfig() // in a function: wiring.New(ctx) reads DT_* / OTEL_*
	cfg.Endpoint = sink.URL()      // loopback: no token needed
	t, err := wiring.New(context.Background(),
		wiring.WithConfig(cfg),
		wiring.WithEnvironmentSource(portstest.StaticEnvironment{Platform: ports.PlatformFunctionsGen2, Function: "hello"}),
	)
	if err != nil {
		fmt.Println("tracing off:", err)
	}
	defer t.Shutdown(context.Background())

	hello := handler.HTTP(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Hello")
	}), t.HandlerOptions()...)
	hello.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))

	for _, s := range sink.Spans() { // already there: flushed on exit
		fmt.Println(s.Span.GetName(), s.Span.GetKind())
	}
	// Output: GET SPAN_KIND_SERVER
}

// A service composes the fx module; tests and applications swap adapters
// with fx.Replace.
func ExampleModule() {
	sink, _ := exporttest.NewSink()
	defer sink.Close()
	cfg := core.NewDefaultConfig()
	cfg.Endpoint = sink.URL()

	app := fx.New(
		wiring.Module,
		fx.Replace(cfg), // instead of the environment
		fx.Replace(fx.Annotate(ports.EnvironmentSource(portstest.StaticEnvironment{Function: "orders"}),
			fx.As(new(ports.EnvironmentSource)))),
		fx.Invoke(func(tp *sdktrace.TracerProvider) {
			_, span := tp.Tracer("example").Start(context.Background(), "startup")
			span.End()
		}),
		fx.NopLogger,
	)
	if err := app.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	_ = app.Stop(context.Background()) // OnStop shuts the provider down, which flushes

	for _, s := range sink.Spans() {
		fmt.Println(s.Span.GetName())
	}
	// Output: startup
}
