// Package handler_test runs the invocation wrappers of adapters/handler in a
// real functions-framework-go server on loopback, sends it real requests and
// checks the spans that reach an OTLP sink through the export adapter, field
// by field. The spans must be there as soon as the response is: the wrappers
// flush on exit.
package handler_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/gcftrace/gcftrace/adapters/export"
	"github.com/gcftrace/gcftrace/adapters/export/exporttest"
	"github.com/gcftrace/gcftrace/adapters/handler"
)

// The process-wide fixture: functions-framework-go keeps its functions in a
// global registry and serves them until the process ends.
var (
	sink    *exporttest.Sink
	baseURL string // the framework's server, http://127.0.0.1:port
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "handler interop:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	// Serve every registered function at its own path, as locally.
	os.Unsetenv("FUNCTION_TARGET")
	os.Unsetenv("K_SERVICE")
	os.Unsetenv("CLOUD_RUN_TIMEOUT_SECONDS")

	var err error
	sink, err = exporttest.NewSink()
	if err != nil {
		return 1, err
	}
	defer sink.Close()

	cfg := export.NewDefaultConfig()
	cfg.Endpoint = sink.URL()
	exp, err := export.New(cfg)
	if err != nil {
		return 1, err
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "interop-handler"))),
	)
	defer func() { _ = tp.Shutdown(context.Background()) }()

	if err := register(handler.WithTracerProvider(tp), handler.WithFlusher(tp)); err != nil {
		return 1, err
	}
	if baseURL, err = startFramework(); err != nil {
		return 1, err
	}

	code := m.Run()
	if code == 0 && len(sink.Spans()) > 0 {
		if err := checkColdStarts(); err != nil {
			return 1, err
		}
	}
	return code, nil
}

// startFramework starts functions-framework-go on a free loopback port and
// waits until it accepts connections. The framework offers no way to stop
// its server; it ends with the test process.
func startFramework() (string, error) {
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()

		served := make(chan error, 1)
		go func() { served <- funcframework.StartHostPort("127.0.0.1", port) }()
		url := "http://127.0.0.1:" + port
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case err := <-served: // the port was taken meanwhile: try another
				if err == nil {
					err = errors.New("server stopped")
				}
				return "", fmt.Errorf("functions framework on port %s: %w", port, err)
			default:
			}
			if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
				c.Close()
				return url, nil
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return "", errors.New("functions framework did not start")
}

// checkColdStarts checks that exactly one span of the whole run, across all
// wrappers, says faas.coldstart=true.
func checkColdStarts() error {
	cold := 0
	for _, s := range sink.Spans() {
		for _, kv := range s.Span.Attributes {
			if kv.Key == "faas.coldstart" && kv.Value.GetBoolValue() {
				cold++
			}
		}
	}
	if cold != 1 {
		return fmt.Errorf("%d spans with faas.coldstart=true in %d, want exactly 1", cold, len(sink.Spans()))
	}
	return nil
}
