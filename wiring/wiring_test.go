package wiring_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"

	"github.com/gcftrace/gcftrace/adapters/export/exporttest"
	"github.com/gcftrace/gcftrace/adapters/handler"
	"github.com/gcftrace/gcftrace/adapters/metadata"
	"github.com/gcftrace/gcftrace/adapters/metadata/metadatatest"
	"github.com/gcftrace/gcftrace/core"
	"github.com/gcftrace/gcftrace/ports"
	"github.com/gcftrace/gcftrace/ports/portstest"
	"github.com/gcftrace/gcftrace/wiring"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// keepExporter is an in-memory exporter whose Shutdown keeps the spans.
type keepExporter struct{ *tracetest.InMemoryExporter }

func (keepExporter) Shutdown(context.Context) error { return nil }

func newKeepExporter() keepExporter { return keepExporter{tracetest.NewInMemoryExporter()} }

var env = portstest.StaticEnvironment{
	Platform: ports.PlatformFunctionsGen2, Function: "hello", Revision: "hello-00001",
	ProjectID: "my-project", Region: "europe-west3",
}

func localConfig(endpoint string) core.Config {
	cfg := core.NewDefaultConfig()
	cfg.Endpoint = endpoint
	return cfg
}

// newTracing is wiring.New with a local config, src and an in-memory
// exporter; it shuts down when the test ends.
func newTracing(t *testing.T, src ports.EnvironmentSource) (*wiring.Tracing, keepExporter) {
	t.Helper()
	exp := newKeepExporter()
	tr, err := wiring.New(t.Context(),
		wiring.WithConfig(localConfig("http://127.0.0.1:4318/v1/traces")),
		wiring.WithEnvironmentSource(src),
		wiring.WithExporter(exp),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, exp
}

// gen2Source is the metadata adapter of a 2nd gen function whose metadata
// server is srv, retrying after retryDelay; it closes when the test ends.
func gen2Source(t *testing.T, srv *metadatatest.Server, retryDelay time.Duration) *metadata.Source {
	procEnv := map[string]string{
		metadata.EnvService: "hello", metadata.EnvRevision: "hello-00001", metadata.EnvConfiguration: "hello",
		metadata.EnvFunctionTarget: "Hello", metadata.EnvSignatureType: "http", metadata.EnvMetadataHost: srv.Host(),
	}
	src := metadata.New(metadata.Config{RetryDelay: retryDelay},
		metadata.WithGetenv(func(k string) string { return procEnv[k] }))
	t.Cleanup(func() { _ = src.Close() })
	return src
}

func resourceAttr(s tracetest.SpanStub, k attribute.Key) string {
	v, _ := s.Resource.Set().Value(k)
	return v.String()
}

func TestNewTracesAndFlushesOnExit(t *testing.T) {
	tr, exp := newTracing(t, env)

	h := handler.HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tr.HandlerOptions()...)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))

	spans := exp.GetSpans() // flushed on exit: no ForceFlush here
	if len(spans) != 1 {
		t.Fatalf("%d spans exported after the invocation, want 1", len(spans))
	}
	for k, want := range map[attribute.Key]string{
		"service.name": "hello", "faas.name": "hello", "cloud.provider": "gcp",
		"cloud.platform": "gcp_cloud_functions", "cloud.region": "europe-west3",
		"cloud.account.id": "my-project",
		"faas.id":          "//cloudfunctions.googleapis.com/projects/my-project/locations/europe-west3/functions/hello",
	} {
		if got := resourceAttr(spans[0], k); got != want {
			t.Errorf("resource %s = %q, want %q", k, got, want)
		}
	}
}

func TestNewEndToEndOverOTLP(t *testing.T) {
	sink, err := exporttest.NewSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	tr, err := wiring.New(t.Context(), wiring.WithConfig(localConfig(sink.URL())), wiring.WithEnvironmentSource(env))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	h := handler.HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tr.HandlerOptions()...)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if err := sink.WaitForSpans(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
}

// TestNewReadsTheTokenFile passes core.Config.TokenFile to the exporter,
// which sends the token the file holds.
func TestNewReadsTheTokenFile(t *testing.T) {
	const token = "dt0c01.WIRINGTOKENFILE"
	sink, err := exporttest.NewSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := localConfig(sink.URL())
	cfg.TokenFile = path
	tr, err := wiring.New(t.Context(), wiring.WithConfig(cfg), wiring.WithEnvironmentSource(env))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	h := handler.HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tr.HandlerOptions()...)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if err := sink.WaitForSpans(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if got := sink.Requests()[0].Header.Get("Authorization"); got != "Api-Token "+token {
		t.Errorf("Authorization = %q, want the token from the file", got)
	}
}

// warmUpToken is the token of the warm-up tests: recognisable, so that a
// leak into a log line shows.
const warmUpToken = "dt0c01.WARMUPTOKENWARM.UPTOKENWARMUPTOKENWARMUPTOKENWA"

// waitForRequests polls sink until it has seen n requests, for at most 5 s.
func waitForRequests(t *testing.T, sink *exporttest.Sink, n int) []exporttest.Request {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		reqs := sink.Requests()
		if len(reqs) >= n {
			return reqs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests reached the endpoint within 5 s, want %d", len(reqs), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWarmUpConnectsAtSetup: New opens the exporter's connection with one
// empty, authorised export before any invocation, so that the first flush
// does not pay the handshake.
func TestWarmUpConnectsAtSetup(t *testing.T) {
	sink, err := exporttest.NewSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	cfg := localConfig(sink.URL())
	cfg.Token = warmUpToken
	tr, err := wiring.New(t.Context(), wiring.WithConfig(cfg), wiring.WithEnvironmentSource(env))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())

	warm := waitForRequests(t, sink, 1)[0]
	if warm.Spans != 0 || warm.StatusCode != http.StatusOK {
		t.Errorf("warm-up request: %d spans, answered %d; want an empty export, accepted", warm.Spans, warm.StatusCode)
	}
	if got := warm.Header.Get("Authorization"); got != "Api-Token "+warmUpToken {
		t.Error("warm-up request without the token: it would not check it")
	}

	h := handler.HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tr.HandlerOptions()...)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if reqs := sink.Requests(); len(reqs) != 2 || reqs[1].Spans != 1 {
		t.Errorf("after one invocation: %+v, want the warm-up then one export of 1 span", reqs)
	}
}

// TestWarmUpOff: with Config.WarmUp false (DT_CONNECTION_WARM_UP=false) the
// first request is the first flush.
func TestWarmUpOff(t *testing.T) {
	sink, err := exporttest.NewSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	cfg := localConfig(sink.URL())
	cfg.WarmUp = false
	tr, err := wiring.New(t.Context(), wiring.WithConfig(cfg), wiring.WithEnvironmentSource(env))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	h := handler.HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tr.HandlerOptions()...)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	// Shutdown waits for a warm-up that ran, so a stray one shows below.
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if reqs := sink.Requests(); len(reqs) != 1 || reqs[0].Spans != 1 {
		t.Errorf("requests: %+v, want one export of 1 span and no warm-up", reqs)
	}
}

// TestWarmUpReportsARefusedTokenAtOnce: a token the endpoint refuses is
// reported at setup, naming the scope it needs and never the token.
func TestWarmUpReportsARefusedTokenAtOnce(t *testing.T) {
	sink, err := exporttest.NewSink(exporttest.WithResponder(func(int, exporttest.Request) exporttest.Response {
		return exporttest.Response{StatusCode: http.StatusUnauthorized}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	cfg := localConfig(sink.URL())
	cfg.Token = warmUpToken
	var logs lockedBuffer
	tr, err := wiring.New(t.Context(), wiring.WithConfig(cfg), wiring.WithEnvironmentSource(env),
		wiring.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "warm-up failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no warm-up warning within 5 s; logs:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	out := logs.String()
	if !strings.Contains(out, "openTelemetryTrace.ingest") {
		t.Errorf("the warning does not name the scope the token needs:\n%s", out)
	}
	if strings.Contains(out, warmUpToken) || strings.Contains(out, "WARMUPTOKEN") {
		t.Errorf("the token leaked into the logs:\n%s", out)
	}
}

// lockedBuffer is a bytes.Buffer safe for a logger and a reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestNewMissingConfigurationListsWhatIsMissing(t *testing.T) {
	for _, k := range []string{"DT_CONNECTION_BASE_URL", "DT_CONNECTION_AUTH_TOKEN", "DT_CONNECTION_AUTH_TOKEN_FILE", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "DT_CONFIG_FILE_PATH", "DT_CONFIG_FILE", "OTEL_SDK_DISABLED", "K_SERVICE"} {
		t.Setenv(k, "")
	}
	t.Chdir(t.TempDir())
	tr, err := wiring.New(t.Context())
	if err == nil || !strings.Contains(err.Error(), "DT_CONNECTION_BASE_URL") {
		t.Fatalf("err = %v, want one naming DT_CONNECTION_BASE_URL", err)
	}
	if tr != nil {
		t.Fatalf("got a *Tracing with a broken configuration")
	}
	// The function still runs, untraced, through a nil *Tracing.
	h := handler.HTTP(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }), tr.HandlerOptions()...)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 204 {
		t.Fatalf("untraced function answered %d", rec.Code)
	}
}

func TestNilTracingIsSafe(t *testing.T) {
	var tr *wiring.Tracing
	_, span := tr.TracerProvider().Tracer("x").Start(t.Context(), "s")
	if span.IsRecording() {
		t.Error("nil *Tracing records spans")
	}
	span.End()
	if tr.Propagator() == nil || tr.HandlerOptions() == nil {
		t.Error("nil *Tracing returned nil parts")
	}
	if err := tr.ForceFlush(t.Context()); err != nil {
		t.Error(err)
	}
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Error(err)
	}
}

func TestNewDisabled(t *testing.T) {
	cfg := core.NewDefaultConfig()
	cfg.Disabled = true
	tr, err := wiring.New(t.Context(), wiring.WithConfig(cfg))
	if tr != nil || err != nil {
		t.Fatalf("New with OTEL_SDK_DISABLED = %v, %v; want nil, nil", tr, err)
	}
}

func TestModuleValidates(t *testing.T) {
	if err := fx.ValidateApp(wiring.Module); err != nil {
		t.Fatal(err)
	}
}

func TestModuleSwapsAdapters(t *testing.T) {
	exp := newKeepExporter()
	var tp *sdktrace.TracerProvider
	app := fxtest.New(t,
		wiring.Module,
		fx.Replace(localConfig("http://127.0.0.1:4318/v1/traces")),
		fx.Replace(fx.Annotate(ports.EnvironmentSource(env), fx.As(new(ports.EnvironmentSource)))),
		fx.Replace(fx.Annotate(sdktrace.SpanExporter(exp), fx.As(new(sdktrace.SpanExporter)))),
		fx.Populate(&tp),
	)
	app.RequireStart()
	_, span := tp.Tracer("test").Start(t.Context(), "work")
	span.End()
	app.RequireStop() // OnStop shuts the provider down, which flushes

	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "work" {
		t.Fatalf("exported %v, want the one span after stop", spans)
	}
	if got := resourceAttr(spans[0], "faas.name"); got != "hello" {
		t.Errorf("faas.name = %q from the swapped environment source", got)
	}
}

func TestNewNeverWaitsForTheEnvironment(t *testing.T) {
	src := &portstest.BlockingEnvironment{Env: ports.Environment(env)} // a metadata server that hangs
	tr, exp := newTracing(t, src)
	h := handler.HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tr.HandlerOptions()...)

	// The first invocation's flush waits at most core.DefaultResourceWait,
	// then exports with what is known.
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if n := len(exp.GetSpans()); n != 1 {
		t.Fatalf("%d spans after the first invocation, want 1", n)
	}
	if got := resourceAttr(exp.GetSpans()[0], "cloud.region"); got != "" {
		t.Fatalf("cloud.region = %q before the environment answered", got)
	}

	src.Release()
	deadline := time.Now().Add(5 * time.Second)
	for {
		exp.Reset()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		if got := resourceAttr(exp.GetSpans()[0], "cloud.region"); got == "europe-west3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("resource never completed after the environment answered")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestResourceCompletedAsSoonAsTheSourceKnows: when a background retry of
// the metadata adapter fills the gaps a failed cold start left, the next
// export carries the full resource: wiring is told, it does not poll on a
// schedule of its own (whose first pause is seconds long).
func TestResourceCompletedAsSoonAsTheSourceKnows(t *testing.T) {
	srv, err := metadatatest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.FailFirst(5, metadatatest.FaultGarbage) // every lookup of the first round
	src := gen2Source(t, srv, 50*time.Millisecond)
	tr, exp := newTracing(t, src)
	h := handler.HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tr.HandlerOptions()...)

	start := time.Now()
	for {
		exp.Reset()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		if got := resourceAttr(exp.GetSpans()[0], "cloud.region"); got == metadatatest.DefaultRegion {
			break
		}
		// The retry runs 25-50 ms after the first round; wiring's own
		// schedule would wait 2 s.
		if time.Since(start) > time.Second {
			t.Fatal("resource not completed within 1 s of the retry that filled the gaps")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("resource complete %v after the first invocation", time.Since(start).Round(time.Millisecond))
}

func TestShutdownOnSignalFlushesThenReraises(t *testing.T) {
	// The test's own handler keeps the re-raised SIGTERM from ending the
	// test binary, as an application's own handler would.
	own := make(chan os.Signal, 2)
	signal.Notify(own, syscall.SIGTERM)
	defer signal.Stop(own)

	exp := newKeepExporter()
	tr, err := wiring.New(t.Context(),
		wiring.WithConfig(localConfig("http://127.0.0.1:4318/v1/traces")),
		wiring.WithEnvironmentSource(env),
		wiring.WithExporter(exp),
		wiring.WithShutdownOnSignal(),
	)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.TracerProvider().Tracer("t").Start(t.Context(), "pending")
	span.End()

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for got := 0; got < 2; { // the original SIGTERM and the re-raised one
		select {
		case <-own:
			got++
		case <-deadline:
			t.Fatalf("saw %d SIGTERMs, want the original and the re-raised one", got)
		}
	}
	if spans := exp.GetSpans(); len(spans) != 1 || spans[0].Name != "pending" {
		t.Fatalf("exported %v on SIGTERM, want the pending span", spans)
	}
	if err := tr.Shutdown(t.Context()); err != nil { // idempotent after the signal
		t.Fatal(err)
	}
}

func TestNewWiresDynatraceContext(t *testing.T) {
	cfg := localConfig("http://127.0.0.1:4318/v1/traces")
	cfg.Dynatrace = core.DynatraceConfig{Tenant: "testTenant", ClusterID: 123}
	exp := newKeepExporter()
	tr, err := wiring.New(t.Context(), wiring.WithConfig(cfg), wiring.WithEnvironmentSource(env), wiring.WithExporter(exp))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())

	var outgoing http.Header
	h := handler.HTTP(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		outgoing = http.Header{}
		tr.Propagator().Inject(r.Context(), propagation.HeaderCarrier(outgoing))
	}), tr.HandlerOptions()...)
	req := httptest.NewRequest("GET", "/", nil)
	// Cloud Run's unsampled traceparent: Dynatrace's rule samples it anyway.
	req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")
	h.ServeHTTP(httptest.NewRecorder(), req)

	if len(exp.GetSpans()) != 1 {
		t.Fatalf("%d spans exported, want the unsampled remote parent's child sampled", len(exp.GetSpans()))
	}
	if ts := outgoing.Get("tracestate"); !strings.HasPrefix(ts, "34d2ae74-7b@dt=fw4;") {
		t.Errorf("outgoing tracestate %q, want our @dt entry first", ts)
	}
	if xd := outgoing.Get("x-dynatrace"); !strings.HasPrefix(xd, "FW4;123;") {
		t.Errorf("outgoing x-dynatrace %q", xd)
	}
}

// slowExporter takes delay to export.
type slowExporter struct {
	keepExporter
	delay time.Duration
}

func (s slowExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	select {
	case <-time.After(s.delay):
		return s.keepExporter.ExportSpans(ctx, spans)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestFlushTimeoutAboveTheHandlersDefaultIsHonoured(t *testing.T) {
	cfg := localConfig("http://127.0.0.1:4318/v1/traces")
	cfg.FlushTimeout = handler.DefaultFlushTimeout + 2*time.Second
	exp := slowExporter{keepExporter: newKeepExporter(), delay: handler.DefaultFlushTimeout + 200*time.Millisecond}
	tr, err := wiring.New(t.Context(), wiring.WithConfig(cfg), wiring.WithEnvironmentSource(env), wiring.WithExporter(exp))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	h := handler.HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tr.HandlerOptions()...)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if n := len(exp.GetSpans()); n != 1 {
		t.Fatalf("%d spans exported by the end of the invocation, want 1: DT_FLUSH_TIMEOUT_MS did not reach the handler", n)
	}
}

// TestZoneFilledByARetryReachesTheSpans: a lookup that only a background
// retry answers (here the zone) still completes the resource, although the
// first round already found project, region and instance.
func TestZoneFilledByARetryReachesTheSpans(t *testing.T) {
	srv, err := metadatatest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.SetPathFault(metadatatest.PathZone, metadatatest.FaultGarbage)
	src := gen2Source(t, srv, 100*time.Millisecond)
	tr, exp := newTracing(t, src)
	h := handler.HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tr.HandlerOptions()...)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if got := resourceAttr(exp.GetSpans()[0], "cloud.region"); got != metadatatest.DefaultRegion {
		t.Fatalf("cloud.region = %q after the first round", got)
	}
	srv.SetPathFault(metadatatest.PathZone, metadatatest.FaultNone)
	deadline := time.Now().Add(5 * time.Second)
	for {
		exp.Reset()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		if got := resourceAttr(exp.GetSpans()[0], "cloud.availability_zone"); got == metadatatest.DefaultZone {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the zone a retry found never reached the spans")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// flakySource knows the function's name at once but fails its first
// lookup round without saying so, then answers in full.
type flakySource struct {
	calls atomic.Int32
	full  ports.Environment
}

func (s *flakySource) Known() (ports.Environment, error) {
	return ports.Environment{Platform: s.full.Platform, Function: s.full.Function}, nil
}

func (s *flakySource) Environment(context.Context) (ports.Environment, error) {
	if s.calls.Add(1) == 1 {
		return ports.Environment{}, errors.New("metadata server unreachable")
	}
	return s.full, nil
}

// TestFailedLookupsKeepWhatWasKnownAndAreRetried: a source that fails with
// an empty answer does not take the function's name off the spans, and its
// later answer is applied.
func TestFailedLookupsKeepWhatWasKnownAndAreRetried(t *testing.T) {
	src := &flakySource{full: ports.Environment(env)}
	tr, exp := newTracing(t, src)
	h := handler.HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tr.HandlerOptions()...)
	for src.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the failed answer is applied
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if got := resourceAttr(exp.GetSpans()[0], "faas.name"); got != "hello" {
		t.Fatalf("faas.name = %q after a failed lookup, want what was known at setup", got)
	}
	deadline := time.Now().Add(10 * time.Second) // wiring asks again after 2 s
	for {
		exp.Reset()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		if got := resourceAttr(exp.GetSpans()[0], "cloud.region"); got == "europe-west3" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the source's later answer was never applied")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stuckSource ignores its context and answers after a long time.
type stuckSource struct{ release chan struct{} }

func (s stuckSource) Environment(context.Context) (ports.Environment, error) {
	<-s.release
	return ports.Environment{}, nil
}

func TestShutdownKeepsToItsContextWithAStuckSource(t *testing.T) {
	src := stuckSource{release: make(chan struct{})}
	defer close(src.release) // let the goroutine end for goleak
	tr, err := wiring.New(t.Context(),
		wiring.WithConfig(localConfig("http://127.0.0.1:4318/v1/traces")),
		wiring.WithEnvironmentSource(src),
		wiring.WithExporter(newKeepExporter()),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = tr.Shutdown(ctx)
	// Not a timing target: the source never answers by itself.
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Shutdown took %v with a 100ms context", d)
	}
}

// deadlineExporter records the deadline of the context Shutdown gets.
type deadlineExporter struct {
	keepExporter
	deadline chan time.Time
}

func (e deadlineExporter) Shutdown(ctx context.Context) error {
	dl, _ := ctx.Deadline()
	e.deadline <- dl
	return nil
}

// TestModuleStopKeepsToTheShutdownTimeout: fx's stop context (15 s by
// default) is longer than Cloud Run's SIGTERM grace period; the final flush
// keeps to core.DefaultShutdownTimeout.
func TestModuleStopKeepsToTheShutdownTimeout(t *testing.T) {
	exp := deadlineExporter{keepExporter: newKeepExporter(), deadline: make(chan time.Time, 1)}
	app := fxtest.New(t,
		wiring.Module,
		fx.Replace(localConfig("http://127.0.0.1:4318/v1/traces")),
		fx.Replace(fx.Annotate(ports.EnvironmentSource(env), fx.As(new(ports.EnvironmentSource)))),
		fx.Replace(fx.Annotate(sdktrace.SpanExporter(exp), fx.As(new(sdktrace.SpanExporter)))),
		fx.StopTimeout(time.Minute),
		fx.Populate(new(*wiring.Tracing)),
	)
	app.RequireStart()
	stopped := time.Now()
	app.RequireStop()
	dl := <-exp.deadline
	if dl.IsZero() || dl.Sub(stopped) > core.DefaultShutdownTimeout+time.Second {
		t.Fatalf("exporter shut down with deadline %v after stop, want within %v", dl.Sub(stopped), core.DefaultShutdownTimeout)
	}
}

// TestFlushOnExitOffExportsInTheBackground: with DT_FLUSH_ON_EXIT=false the
// handler does not flush; the spans leave with the background export.
func TestFlushOnExitOffExportsInTheBackground(t *testing.T) {
	t.Setenv(core.EnvFlushOnExit, "false")
	t.Setenv(core.EnvBaseURL, "http://127.0.0.1:9")
	t.Setenv(core.EnvAuthToken, "dt0c01.TESTTOKEN")
	cfg, err := core.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.FlushOnExit {
		t.Fatal("DT_FLUSH_ON_EXIT=false read as true")
	}
	exp := newKeepExporter()
	tr, err := wiring.New(t.Context(), wiring.WithConfig(cfg), wiring.WithEnvironmentSource(env), wiring.WithExporter(exp))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	leavesInTheBackground(t, exp, handler.HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tr.HandlerOptions()...))
}

// leavesInTheBackground serves one request through h and checks that its
// span is not exported on exit but with the background export.
func leavesInTheBackground(t *testing.T, exp keepExporter, h http.Handler) {
	t.Helper()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans exported on exit, want none", n)
	}
	deadline := time.Now().Add(10 * time.Second) // the interval is 3 s
	for len(exp.GetSpans()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("span never left with the background export")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBackgroundHandlerOptions: one handler opts out of flushing in a
// pipeline that flushes on exit; its spans leave with the background export
// that BackgroundHandlerOptions turns on.
func TestBackgroundHandlerOptions(t *testing.T) {
	tr, exp := newTracing(t, env)
	leavesInTheBackground(t, exp, handler.HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tr.BackgroundHandlerOptions()...))
}

// TestEventSpansNamedAfterTheConfiguredFunction: event spans carry the name
// the environment source knows at setup (Known), the one faas.name carries,
// not only what the process environment says.
func TestEventSpansNamedAfterTheConfiguredFunction(t *testing.T) {
	tr, exp := newTracing(t, &flakySource{full: ports.Environment(env)})
	fn := handler.CloudEvent(func(context.Context, event.Event) error { return nil }, tr.HandlerOptions()...)
	e := event.New()
	e.SetID("e-1")
	e.SetSource("//storage.googleapis.com/projects/_/buckets/b")
	e.SetType("google.cloud.storage.object.v1.finalized")
	if err := fn(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "hello" {
		t.Fatalf("exported %v, want one span named after the function, hello", spans)
	}
}

// TestModuleDisabled: with OTEL_SDK_DISABLED=true the Module sets nothing
// up, as New does: the application starts without an endpoint, the
// provider records nothing, and there is no exporter and no metadata
// source (so no lookup goes out).
func TestModuleDisabled(t *testing.T) {
	t.Setenv(core.EnvSDKDisabled, "true")
	var (
		tr  *wiring.Tracing
		tp  *sdktrace.TracerProvider
		exp sdktrace.SpanExporter
		src ports.EnvironmentSource
	)
	app := fxtest.New(t, wiring.Module, fx.Populate(&tr, &tp, &exp, &src))
	app.RequireStart()
	if tr != nil || exp != nil || src != nil {
		t.Errorf("disabled: Tracing %v, exporter %v, source %v; want all nil", tr, exp, src)
	}
	if _, span := tp.Tracer("test").Start(t.Context(), "work"); span.IsRecording() {
		t.Error("disabled: the provider records spans")
	}
	app.RequireStop()
}

// TestModuleLogsConfigurationWarnings: problems that did not stop the
// configuration are logged by the Module as by New.
func TestModuleLogsConfigurationWarnings(t *testing.T) {
	cfg := localConfig("http://127.0.0.1:4318/v1/traces")
	cfg.Warnings = []string{"OTEL_EXPORTER_OTLP_COMPRESSION: unknown value \"bogus\", using gzip"}
	var buf bytes.Buffer
	app := fxtest.New(t,
		wiring.Module,
		fx.Replace(cfg),
		fx.Supply(slog.New(slog.NewTextHandler(&buf, nil))),
		fx.Replace(fx.Annotate(ports.EnvironmentSource(env), fx.As(new(ports.EnvironmentSource)))),
		fx.Replace(fx.Annotate(sdktrace.SpanExporter(newKeepExporter()), fx.As(new(sdktrace.SpanExporter)))),
		fx.Populate(new(*wiring.Tracing)),
	)
	app.RequireStart()
	app.RequireStop()
	if !strings.Contains(buf.String(), `unknown value \"bogus\"`) {
		t.Errorf("the warning was not logged:\n%s", buf.String())
	}
}

// TestShutdownWithADoneContextCountsAndStops: a Shutdown whose context is
// already done cannot flush, but it counts what it drops, shuts the
// exporter down and stops the background export (the provider's own
// Shutdown would return at once and do none of it).
func TestShutdownWithADoneContextCountsAndStops(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := localConfig("http://127.0.0.1:4318/v1/traces")
	cfg.FlushOnExit = false // background export: a goroutine to stop
	exp := &shutdownCounter{keepExporter: newKeepExporter()}
	tr, err := wiring.New(t.Context(), wiring.WithConfig(cfg), wiring.WithEnvironmentSource(env), wiring.WithExporter(exp))
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.TracerProvider().Tracer("test").Start(t.Context(), "work")
	span.End()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := tr.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want context canceled", err)
	}
	if st := tr.Processor().Stats(); st.Dropped[core.DropShutdown] != 1 || st.Pending != 0 {
		t.Errorf("Stats = %+v, want the pending span dropped and counted", st)
	}
	if n := exp.shutdowns.Load(); n != 1 {
		t.Errorf("exporter shut down %d times, want 1", n)
	}
}

// TestShutdownCountsSpansEndingAfterIt: an invocation still running at
// Shutdown ends its span later; the span is counted as dropped, not lost
// without a trace.
func TestShutdownCountsSpansEndingAfterIt(t *testing.T) {
	tr, _ := newTracing(t, env)
	_, span := tr.TracerProvider().Tracer("test").Start(t.Context(), "still running")
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	span.End()
	if st := tr.Processor().Stats(); st.Dropped[core.DropShutdown] != 1 || st.Unended != 0 {
		t.Errorf("Stats = %+v, want the late span dropped and counted, none unended", st)
	}
}

// shutdownCounter honours the context of an export, as export.Exporter
// does, and counts its Shutdown calls.
type shutdownCounter struct {
	keepExporter
	shutdowns atomic.Int64
}

func (s *shutdownCounter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.keepExporter.ExportSpans(ctx, spans)
}

func (s *shutdownCounter) Shutdown(context.Context) error { s.shutdowns.Add(1); return nil }

// TestModuleReportsEveryConfigurationProblem: an invalid configuration
// fails the start with every problem named by its variable, as New reports
// it, not only the exporter's part.
func TestModuleReportsEveryConfigurationProblem(t *testing.T) {
	cfg := core.NewDefaultConfig()
	cfg.FlushTimeout = -1
	err := fx.New(wiring.Module, fx.Replace(cfg), fx.Populate(new(*wiring.Tracing)), fx.NopLogger).Err()
	for _, want := range []string{core.EnvBaseURL, core.EnvFlushTimeout} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("start error = %v, want it to name %s", err, want)
		}
	}
}

// TestModuleStartsNothingBeforeItsStartHook: an application that is built
// but never started (fx.New failed further on, or a test that only
// validates the graph) is left with no goroutine of ours, background
// export included.
func TestModuleStartsNothingBeforeItsStartHook(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := localConfig("http://127.0.0.1:4318/v1/traces")
	cfg.FlushOnExit = false
	var tr *wiring.Tracing
	app := fx.New(
		wiring.Module,
		fx.Replace(cfg),
		fx.Replace(fx.Annotate(ports.EnvironmentSource(env), fx.As(new(ports.EnvironmentSource)))),
		fx.Replace(fx.Annotate(sdktrace.SpanExporter(newKeepExporter()), fx.As(new(sdktrace.SpanExporter)))),
		fx.Populate(&tr),
		fx.NopLogger,
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if tr == nil {
		t.Fatal("no *Tracing provided")
	}
}
