package collector_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// tracesPath is where Dynatrace receives OTLP traces; the receiver is told
// to listen there instead of its default /v1/traces.
const tracesPath = "/api/v2/otlp/v1/traces"

// receiver is a running OpenTelemetry Collector OTLP receiver, HTTP only,
// that hands what it decodes to sink.
type receiver struct {
	endpoint string // full traces URL
	sink     *consumertest.TracesSink
}

// startReceiver starts the Collector's OTLP receiver on a loopback port and
// stops it when the test ends. The receiver's config takes an address, not
// a listener, so a free port is picked first; another process may take it
// in between, hence the retries.
func startReceiver(t *testing.T) *receiver {
	t.Helper()
	var err error
	for range 5 {
		var r *receiver
		if r, err = tryStartReceiver(t); err == nil {
			return r
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	t.Fatalf("starting the OTLP receiver: %v", err)
	return nil
}

func tryStartReceiver(t *testing.T) (*receiver, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	cfg.Protocols.GRPC = configoptional.None[configgrpc.ServerConfig]()
	h := cfg.Protocols.HTTP.GetOrInsertDefault()
	h.ServerConfig.NetAddr.Endpoint = addr
	h.ServerConfig.IncludeMetadata = true // request headers reach the consumer's context
	h.TracesURLPath = tracesPath

	sink := new(consumertest.TracesSink)
	ctx := context.Background()
	r, err := f.CreateTraces(ctx, receivertest.NewNopSettings(f.Type()), cfg, sink)
	if err != nil {
		return nil, err
	}
	if err := r.Start(ctx, componenttest.NewNopHost()); err != nil {
		return nil, errors.Join(err, r.Shutdown(ctx))
	}
	t.Cleanup(func() {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Errorf("receiver shutdown: %v", err)
		}
	})
	return &receiver{endpoint: "http://" + addr + tracesPath, sink: sink}, nil
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}
