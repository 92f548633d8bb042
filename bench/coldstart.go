package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/detectors/gcp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/gcftrace/gcftrace/adapters/handler"
	"github.com/gcftrace/gcftrace/adapters/metadata/metadatatest"
	"github.com/gcftrace/gcftrace/wiring"
)

// A cold start is measured in a fresh process, the child, so that nothing
// is warm: no connection to the metadata server or the receiver, no cached
// metadata, no lazily built state. The parent runs the Receiver and the
// metadata emulator and starts the child with ColdStartSideEnv naming the
// side to measure; the child sets tracing up from the environment, serves
// the first request (flush included) and prints the time this took, from
// before setup to after the response, on one line of stdout.
const ColdStartSideEnv = "GCFTRACE_BENCH_COLDSTART"

// coldStartPrefix starts the child's result line.
const coldStartPrefix = "coldstart-ns "

// A MetadataMode is how the metadata emulator behaves during a cold start.
type MetadataMode struct {
	Name    string
	Latency time.Duration
	Fault   metadatatest.Fault
}

// MetadataModes are the modes of the cold-start comparison.
var MetadataModes = []MetadataMode{
	{Name: "2ms", Latency: 2 * time.Millisecond},
	{Name: "200ms", Latency: 200 * time.Millisecond},
	{Name: "refused", Fault: metadatatest.FaultRefuse},
}

// ColdStartSides are what a cold start is measured for: the untraced
// function (Bare), the function plus one POST to the receiver on a new
// connection (Floor, the export itself), the anchor and ours.
var ColdStartSides = []Side{Bare, Floor, Anchor, Ours}

// coldStartEnv is the environment of a Cloud Functions 2nd gen instance,
// the metadata server's address and the export configuration: ours reads
// the Dynatrace variables, the anchor the OTLP endpoint variable (both point
// at the same receiver) and gets the token header in code.
func coldStartEnv(metadataHost, endpoint string) []string {
	base := strings.TrimSuffix(endpoint, TracesPath)
	return []string{
		"K_SERVICE=hello",
		"K_REVISION=hello-00001-abc",
		"K_CONFIGURATION=hello",
		"FUNCTION_TARGET=Hello",
		"FUNCTION_SIGNATURE_TYPE=http",
		"PORT=8080",
		"GCE_METADATA_HOST=" + metadataHost,
		"DT_CONNECTION_BASE_URL=" + base,
		"DT_CONNECTION_AUTH_TOKEN=" + Token,
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=" + endpoint,
	}
}

// childEnv is the parent's environment without anything that would change
// what the child configures, plus env.
func childEnv(env []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "OTEL_"), strings.HasPrefix(name, "DT_"), strings.HasPrefix(name, "K_"),
			strings.HasPrefix(name, "FUNCTION_"), strings.HasPrefix(name, "GCE_METADATA"), name == ColdStartSideEnv,
			name == "GOOGLE_CLOUD_PROJECT", name == "GCP_PROJECT", name == "GCLOUD_PROJECT", name == "PORT":
			continue
		}
		out = append(out, kv)
	}
	return append(out, env...)
}

// ColdStartChild is the child's side of a cold start: it measures the side
// named by ColdStartSideEnv and prints the result line. It returns false when
// the process is not a cold-start child.
func ColdStartChild() (bool, error) {
	side := Side(os.Getenv(ColdStartSideEnv))
	if side == "" {
		return false, nil
	}
	d, err := coldStart(side)
	if err != nil {
		return true, err
	}
	fmt.Printf("%s%d\n", coldStartPrefix, d.Nanoseconds())
	return true, nil
}

func coldStart(side Side) (time.Duration, error) {
	ctx := context.Background()
	w, r := newDiscardWriter(), newRequest("")
	start := time.Now()
	var cleanup func(context.Context) error
	var h http.Handler
	switch side {
	case Bare:
		h = hello
	case Floor:
		body := bytes.Repeat([]byte{'x'}, 1024)
		endpoint := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hello.ServeHTTP(w, r)
			resp, err := http.Post(endpoint, "application/x-protobuf", bytes.NewReader(body))
			if err == nil {
				_ = resp.Body.Close()
			}
		})
	case Anchor:
		res, _ := resource.New(ctx,
			resource.WithDetectors(gcp.NewDetector()),
			resource.WithTelemetrySDK(),
			resource.WithFromEnv(),
		) // a failed detection still returns what it found
		exp, err := otlptracehttp.New(ctx,
			otlptracehttp.WithCompression(otlptracehttp.GzipCompression),
			otlptracehttp.WithHeaders(map[string]string{"Authorization": "Api-Token " + Token}))
		if err != nil {
			return 0, err
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp))
		cleanup = tp.Shutdown
		oh := otelhttp.NewHandler(hello, "hello", otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(w3c))
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			oh.ServeHTTP(w, r)
			ctx, cancel := context.WithTimeout(r.Context(), FlushBudget)
			defer cancel()
			_ = tp.ForceFlush(ctx)
		})
	case Ours:
		t, err := wiring.New(ctx)
		if err != nil {
			return 0, err
		}
		cleanup = t.Shutdown
		h = handler.HTTP(hello, t.HandlerOptions()...)
	default:
		return 0, fmt.Errorf("bench: unknown cold-start side %q", side)
	}
	if err := serve(h, w, r); err != nil {
		return 0, err
	}
	d := time.Since(start)
	if cleanup != nil {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = cleanup(ctx)
	}
	return d, nil
}

// ColdStartResult is the median of a side's cold starts in one mode.
type ColdStartResult struct {
	Median   time.Duration
	Runs     int
	Requests float64 // export requests the receiver got per cold start
}

// ColdStart measures side runs times in mode, each in a child process made
// by newChild (the caller's own binary, re-executed so that it calls
// ColdStartChild first), and returns the median. Each child gets a minute.
func ColdStart(tb testing.TB, newChild func(ctx context.Context) *exec.Cmd, side Side, mode MetadataMode, runs int) ColdStartResult {
	rc := newReceiver(tb)
	opts := []metadatatest.Option{metadatatest.WithLatency(mode.Latency)}
	if mode.Fault != metadatatest.FaultNone {
		opts = append(opts, metadatatest.WithFault(mode.Fault))
	}
	md, err := metadatatest.NewServer(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = md.Close() })
	env := childEnv(append(coldStartEnv(md.Host(), rc.URL()), ColdStartSideEnv+"="+string(side)))

	times := make([]time.Duration, 0, runs)
	for range runs {
		d, err := runChild(newChild, env)
		if err != nil {
			tb.Fatalf("cold start %s/%s: %v", mode.Name, side, err)
		}
		times = append(times, d)
	}
	return ColdStartResult{
		Median:   percentile(times, 0.5),
		Runs:     runs,
		Requests: float64(rc.Requests()) / float64(runs),
	}
}

func runChild(newChild func(ctx context.Context) *exec.Cmd, env []string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := newChild(ctx)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	for line := range strings.Lines(string(out)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), coldStartPrefix); ok {
			ns, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(ns), nil
		}
	}
	return 0, errors.New("child printed no result: " + strings.TrimSpace(string(out)+stderr.String()))
}
