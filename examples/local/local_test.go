package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"

	"github.com/gcftrace/gcftrace/adapters/export/exporttest"
	"github.com/gcftrace/gcftrace/examples/atstart"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestMain(m *testing.M) {
	// run re-executes this test binary as the function process.
	if atstart.IsFunction() {
		os.Exit(serveFunction())
	}
	goleak.VerifyTestMain(m)
}

// TestRun is `make run`: the whole round trip through a real
// functions-framework-go server and a real OTLP receiver.
func TestRun(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), nil, &stdout, &stderr)
	out := stdout.String()
	if code != exitOK {
		t.Fatalf("run = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitOK, out, stderr.String())
	}
	for _, want := range []string{
		"resource\n",
		"service.name",
		"trace " + parentTraceID + "  remote parent " + parentSpanID,
		"└─ " + renderSpan,
		"faas.invocation_id=local-4",
		`error "greeting template unavailable"`,
		"\nPASS  every expected span arrived\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "resource\n"); n != 1 {
		t.Errorf("resource printed %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "\ntrace "); n != len(calls) {
		t.Errorf("printed %d traces, want %d:\n%s", n, len(calls), out)
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("output reports a failure:\n%s", out)
	}
}

func TestRunServe(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	var code int
	var wg sync.WaitGroup
	wg.Go(func() { code = run(ctx, []string{"-serve", "-port", strconv.Itoa(port)}, stdout, stderr) })
	defer wg.Wait()
	defer cancel()
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(stdout.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("output lacks %q after 20s:\n%s\nstderr:\n%s", want, stdout.String(), stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	waitFor("curl '" + url + "?name=Gopher'")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url + "?name=curl")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor("hello.name=curl")

	cancel()
	wg.Wait()
	if code != exitOK {
		t.Errorf("run -serve = %d after cancel, want %d\n%s\nstderr:\n%s", code, exitOK, stdout.String(), stderr.String())
	}
	if !strings.HasSuffix(stdout.String(), "stopped\n") {
		t.Errorf("output does not end with stopped:\n%s", stdout.String())
	}
}

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name string
		give []string
		want int
	}{
		{name: "unknown flag", give: []string{"-nope"}, want: exitUsage},
		{name: "argument", give: []string{"extra"}, want: exitUsage},
		{name: "help", give: []string{"-h"}, want: exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := run(t.Context(), tt.give, &bytes.Buffer{}, &stderr); got != tt.want {
				t.Errorf("run(%q) = %d, want %d", tt.give, got, tt.want)
			}
			if !strings.Contains(stderr.String(), "usage: local") {
				t.Errorf("stderr lacks the usage:\n%s", stderr.String())
			}
		})
	}
}

// Fixed spans for the printer and the checks.

var testResource = &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
	str("service.name", functionName),
	str("faas.name", functionName),
	str("faas.version", revision),
	str("cloud.provider", "gcp"),
	str("cloud.platform", "gcp_cloud_functions"),
	str("cloud.region", region),
	str("cloud.account.id", projectID),
}}

var testScope = &commonpb.InstrumentationScope{Name: "github.com/gcftrace/gcftrace/adapters/handler"}

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func num(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

func boolean(k string, v bool) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: v}}}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// goodSpans are the spans calls should produce, with fixed ids and times.
func goodSpans() []exporttest.Span {
	const t0 = 1_750_000_000_000_000_000
	var out []exporttest.Span
	for i, c := range calls {
		traceID := bytes.Repeat([]byte{byte(i + 1)}, 16)
		var parent []byte
		if c.traceparent != "" {
			traceID, parent = mustHex(parentTraceID), mustHex(parentSpanID)
		}
		serverID := []byte{0, 0, 0, 0, 0, 0, byte(i + 1), 1}
		start := uint64(t0 + i*int(time.Second))
		code := tracepb.Status_STATUS_CODE_UNSET
		if c.wantStatus >= 500 {
			code = tracepb.Status_STATUS_CODE_ERROR
		}
		server := &tracepb.Span{
			TraceId: traceID, SpanId: serverID, ParentSpanId: parent,
			Name: "GET /", Kind: tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: start, EndTimeUnixNano: start + 1_270_000,
			Attributes: []*commonpb.KeyValue{
				str("http.request.method", "GET"), str("url.path", "/"), str("url.scheme", "http"),
				num("http.response.status_code", int64(c.wantStatus)), str("faas.trigger", "http"),
				boolean("faas.coldstart", i == 0), str("faas.invocation_id", c.id),
				str("user_agent.original", "Go-http-client/1.1"),
			},
			Status: &tracepb.Status{Code: code},
		}
		render := &tracepb.Span{
			TraceId: traceID, SpanId: []byte{0, 0, 0, 0, 0, 0, byte(i + 1), 2}, ParentSpanId: serverID,
			Name: renderSpan, Kind: tracepb.Span_SPAN_KIND_INTERNAL,
			StartTimeUnixNano: start + 200_000, EndTimeUnixNano: start + 241_000,
			Attributes: []*commonpb.KeyValue{str("hello.name", "World")},
			Status:     &tracepb.Status{Code: code},
		}
		if code == tracepb.Status_STATUS_CODE_ERROR {
			render.Status.Message = "greeting template unavailable"
			render.Events = []*tracepb.Span_Event{{Name: "exception", Attributes: []*commonpb.KeyValue{
				str("exception.type", "*errors.errorString"), str("exception.message", "greeting template unavailable"),
			}}}
		}
		out = append(out,
			exporttest.Span{Resource: testResource, Scope: testScope, Span: render},
			exporttest.Span{Resource: testResource, Scope: testScope, Span: server},
		)
	}
	return out
}

func TestPrinter(t *testing.T) {
	tests := []struct {
		name    string
		verbose bool
	}{
		{name: "tree"},
		{name: "tree_verbose", verbose: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := &printer{w: &buf, verbose: tt.verbose}
			spans := goodSpans()
			p.print(spans[:4])
			p.print(spans[4:]) // the same resource is not printed again
			golden(t, filepath.Join("testdata", tt.name+".golden"), buf.String())
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestCheckSpans(t *testing.T) {
	tests := []struct {
		name     string
		give     func([]exporttest.Span) []exporttest.Span
		wantFail string // the start of the failing check; "" for none
		wantErr  string
	}{
		{
			name: "all there",
			give: func(s []exporttest.Span) []exporttest.Span { return s },
		},
		{
			name:     "render span lost",
			give:     func(s []exporttest.Span) []exporttest.Span { return s[1:] },
			wantFail: "8 spans arrived",
			wantErr:  `no "render greeting" span under invocation local-1`,
		},
		{
			name: "traceparent ignored",
			give: func(s []exporttest.Span) []exporttest.Span {
				s[5].Span.ParentSpanId = nil
				return s
			},
			wantFail: "traceparent continued",
			wantErr:  "local-3",
		},
		{
			name: "500 not an error",
			give: func(s []exporttest.Span) []exporttest.Span {
				s[7].Span.Status = nil
				return s
			},
			wantFail: "status codes",
			wantErr:  "local-4: server span status unset, want error",
		},
		{
			name: "every invocation cold",
			give: func(s []exporttest.Span) []exporttest.Span {
				for _, kv := range s[3].Span.GetAttributes() {
					if kv.GetKey() == "faas.coldstart" {
						kv.Value = boolean("", true).GetValue()
					}
				}
				return s
			},
			wantFail: "faas.coldstart",
			wantErr:  "local-2",
		},
		{
			name: "duplicate export",
			give: func(s []exporttest.Span) []exporttest.Span {
				return append(s, s[0])
			},
			wantFail: "8 spans arrived",
			wantErr:  `two "render greeting" spans under invocation local-1`,
		},
		{
			name: "stray span",
			give: func(s []exporttest.Span) []exporttest.Span {
				return append(s, exporttest.Span{Resource: testResource, Scope: testScope, Span: &tracepb.Span{
					TraceId: bytes.Repeat([]byte{9}, 16), SpanId: bytes.Repeat([]byte{9}, 8), Name: "SELECT",
				}})
			},
			wantFail: "8 spans arrived",
			wantErr:  `unexpected span "SELECT"`,
		},
		{
			name: "resource without region",
			give: func(s []exporttest.Span) []exporttest.Span {
				res := &resourcepb.Resource{Attributes: testResource.Attributes[:5]}
				for i := range s {
					s[i].Resource = res
				}
				return s
			},
			wantFail: "resource",
			wantErr:  `cloud.region=""`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results := checkSpans(tt.give(goodSpans()), calls)
			for _, r := range results {
				failing := tt.wantFail != "" && strings.HasPrefix(r.what, tt.wantFail)
				switch {
				case failing && r.err == nil:
					t.Errorf("check %q passed, want it to fail", r.what)
				case failing && !strings.Contains(r.err.Error(), tt.wantErr):
					t.Errorf("check %q: %v, want it to mention %q", r.what, r.err, tt.wantErr)
				case !failing && r.err != nil:
					t.Errorf("check %q failed: %v", r.what, r.err)
				}
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		give time.Duration
		want string
	}{
		{give: 800, want: "800 ns"},
		{give: 41 * time.Microsecond, want: "41 µs"},
		{give: 1270 * time.Microsecond, want: "1.27 ms"},
		{give: 2500 * time.Millisecond, want: "2.50 s"},
	}
	for _, tt := range tests {
		if got := formatDuration(tt.give); got != tt.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestFunctionEnv(t *testing.T) {
	t.Setenv("DT_CONNECTION_AUTH_TOKEN", "dt0c01.secret")
	t.Setenv("OTEL_SERVICE_NAME", "not-hello")
	t.Setenv("K_SERVICE", "other")
	env := functionEnv(8080, "http://127.0.0.1:1/api/v2/otlp/v1/traces", "127.0.0.1:2")
	got := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := got[k]; dup {
			t.Errorf("%s set twice", k)
		}
		got[k] = v
	}
	for k, want := range map[string]string{
		atstart.RoleEnv:                      atstart.RoleFunction,
		"PORT":                               "8080",
		"K_SERVICE":                          functionName,
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1/api/v2/otlp/v1/traces",
		"GCE_METADATA_HOST":                  "127.0.0.1:2",
	} {
		if got[k] != want {
			t.Errorf("%s=%q, want %q", k, got[k], want)
		}
	}
	for _, k := range []string{"DT_CONNECTION_AUTH_TOKEN", "OTEL_SERVICE_NAME", "OTEL_SDK_DISABLED"} {
		if v, ok := got[k]; ok {
			t.Errorf("%s=%q leaked into the function's environment", k, v)
		}
	}
}

func TestPrinterNested(t *testing.T) {
	const t0 = 1_750_000_000_000_000_000
	traceID := bytes.Repeat([]byte{7}, 16)
	span := func(id, parent byte, name string, start, end uint64) exporttest.Span {
		var parentID []byte
		if parent != 0 {
			parentID = []byte{0, 0, 0, 0, 0, 0, 0, parent}
		}
		return exporttest.Span{Resource: testResource, Scope: testScope, Span: &tracepb.Span{
			TraceId: traceID, SpanId: []byte{0, 0, 0, 0, 0, 0, 0, id}, ParentSpanId: parentID,
			Name: name, Kind: tracepb.Span_SPAN_KIND_INTERNAL,
			StartTimeUnixNano: t0 + start, EndTimeUnixNano: t0 + end,
			Attributes: []*commonpb.KeyValue{str("hello.step", name)},
		}}
	}
	spans := []exporttest.Span{
		span(4, 2, "parse", 2_000, 3_000),
		span(3, 1, "write", 5_000_000, 6_000_000),
		span(2, 1, "read", 1_000, 4_000_000),
		span(1, 0, "invoke", 0, 2_500_000_000),
		span(5, 9, "orphan", 10, 20), // its parent never arrived
	}
	var buf bytes.Buffer
	(&printer{w: &buf}).print(spans)
	golden(t, filepath.Join("testdata", "tree_nested.golden"), buf.String())
}

// TestRunnerLeavesTracingOff checks that package atstart runs before the
// function's init() in the runner: without it, hello's init() would find no
// configuration and log "tracing off".
func TestRunnerLeavesTracingOff(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), exe, "-test.run=^$")
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k != atstart.RoleEnv && !strings.HasPrefix(k, "DT_") && !strings.HasPrefix(k, "OTEL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(string(out), "tracing off") {
		t.Errorf("the runner process set up tracing:\n%s", out)
	}
}
