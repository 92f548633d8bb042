package core_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/gcftrace/gcftrace/core"
)

const (
	testToken    = "dt0c01.ENVTOKENENVTOKENENV.ENVTOKENENVTOKENENVTOKENENVTOKEN"
	fileToken    = "dt0c01.FILETOKENFILETOKEN.FILETOKENFILETOKENFILETOKEN"
	headerToken  = "dt0c01.HEADERTOKENHEADERTO.HEADERTOKENHEADERTOKENHEADERTOK"
	testBaseURL  = "https://abc12345.live.dynatrace.com"
	testEndpoint = testBaseURL + "/api/v2/otlp/v1/traces"
)

// configKeys are the variables ConfigFromEnv reads.
var configKeys = []string{
	core.EnvTenant, core.EnvClusterID, core.EnvBaseURL, core.EnvAuthToken, core.EnvAuthTokenFile,
	core.EnvWarmUp, core.EnvLoggingDestination, core.EnvFlushOnExit, core.EnvFlushTimeout, core.EnvRootSpansPerMinute,
	core.EnvResourceWait, core.EnvSpanIdentity,
	core.EnvConfigFilePath, core.EnvConfigFile, "K_SERVICE",
	core.EnvSDKDisabled, core.EnvServiceName, core.EnvResourceAttributes,
	core.EnvOTLPEndpoint, core.EnvOTLPTracesEndpoint,
	core.EnvOTLPHeaders, core.EnvOTLPTracesHeaders,
	core.EnvOTLPCompression, core.EnvOTLPTracesCompression,
	core.EnvOTLPTimeout, core.EnvOTLPTracesTimeout,
	core.EnvOTLPProtocol, core.EnvOTLPTracesProtocol,
}

// fixtureDir is resolved before any test changes the working directory.
var fixtureDir = func() string {
	dir, err := filepath.Abs(filepath.Join("testdata", "config"))
	if err != nil {
		panic(err)
	}
	return dir
}()

// setConfigEnv unsets every variable ConfigFromEnv reads, sets env, moves
// into an empty directory and writes files (path: content) there. All of it
// is undone when the test ends.
func setConfigEnv(t *testing.T, env, files map[string]string) {
	t.Helper()
	for _, k := range configKeys {
		t.Setenv(k, "") // restores the machine's value afterwards
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	t.Chdir(t.TempDir())
	for path, content := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fixture returns the content of testdata/config/name.
func fixture(name string) string {
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		panic(err)
	}
	return string(b)
}

// validEnv is a minimal valid environment plus kv (name, value, …).
func validEnv(kv ...string) map[string]string {
	env := map[string]string{core.EnvBaseURL: testBaseURL, core.EnvAuthToken: testToken}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

// defaults is NewDefaultConfig changed by edit.
func defaults(edit func(c *core.Config)) core.Config {
	c := core.NewDefaultConfig()
	if edit != nil {
		edit(&c)
	}
	return c
}

// wantValid is the Config of validEnv, changed by edit.
func wantValid(edit func(c *core.Config)) core.Config {
	return defaults(func(c *core.Config) {
		c.BaseURL, c.Token, c.Endpoint = testBaseURL, testToken, testEndpoint
		if edit != nil {
			edit(c)
		}
	})
}

// errorLines splits a joined error into its messages.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// diffConfig describes how got differs from want, field by field. Token is
// compared but never printed; unexported fields are left out.
func diffConfig(got, want core.Config) string {
	var b strings.Builder
	if got.Token != want.Token {
		fmt.Fprintf(&b, "\n  Token differs (len %d, want len %d)", len(got.Token), len(want.Token))
	}
	got.Token, want.Token = "", ""
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range g.NumField() {
		name := g.Type().Field(i).Name
		if !g.Type().Field(i).IsExported() || reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
			continue
		}
		fmt.Fprintf(&b, "\n  %s = %#v\n  %*s want %#v", name, g.Field(i).Interface(), len(name), "", w.Field(i).Interface())
	}
	return b.String()
}

func TestNewDefaultConfig(t *testing.T) {
	got := core.NewDefaultConfig()
	want := core.Config{
		LoggingDestination: "off",
		Compression:        "gzip",
		Timeout:            10 * time.Second,
		WarmUp:             true,
		FlushOnExit:        true,
		FlushTimeout:       2 * time.Second,
		ResourceWait:       250 * time.Millisecond,
	}
	if d := diffConfig(got, want); d != "" {
		t.Errorf("NewDefaultConfig():%s", d)
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name  string
		give  map[string]string // environment
		files map[string]string // path: content
		want  core.Config
	}{
		{
			name: "base URL and token",
			give: validEnv(),
			want: wantValid(nil),
		},
		{
			name: "trailing slashes stripped",
			give: validEnv(core.EnvBaseURL, testBaseURL+"//"),
			want: wantValid(nil),
		},
		{
			name: "tenant and negative cluster",
			give: validEnv(core.EnvTenant, "abc-12345", core.EnvClusterID, "-2147483648"),
			want: wantValid(func(c *core.Config) {
				c.Dynatrace = core.DynatraceConfig{Tenant: "abc-12345", ClusterID: -2147483648}
			}),
		},
		{
			name: "surrounding whitespace trimmed",
			give: validEnv(core.EnvTenant, " abc12345 ", core.EnvClusterID, " 42\t", core.EnvAuthToken, testToken+"\n"),
			want: wantValid(func(c *core.Config) {
				c.Dynatrace = core.DynatraceConfig{Tenant: "abc12345", ClusterID: 42}
			}),
		},
		{
			name: "logging destination",
			give: validEnv(core.EnvLoggingDestination, "stdout"),
			want: wantValid(func(c *core.Config) { c.LoggingDestination = "stdout" }),
		},
		{
			name: "logging destination in capitals",
			give: validEnv(core.EnvLoggingDestination, "STDERR"),
			want: wantValid(func(c *core.Config) { c.LoggingDestination = "stderr" }),
		},
		{
			name: "flush settings",
			give: validEnv(core.EnvFlushOnExit, "false", core.EnvFlushTimeout, "500"),
			want: wantValid(func(c *core.Config) { c.FlushOnExit, c.FlushTimeout = false, 500*time.Millisecond }),
		},
		{
			name: "warm-up off",
			give: validEnv(core.EnvWarmUp, "false"),
			want: wantValid(func(c *core.Config) { c.WarmUp = false }),
		},
		{
			name: "root spans per minute",
			give: validEnv(core.EnvRootSpansPerMinute, "1000"),
			want: wantValid(func(c *core.Config) { c.RootSpansPerMinute = 1000 }),
		},
		{
			name: "resource wait",
			give: validEnv(core.EnvResourceWait, "40"),
			want: wantValid(func(c *core.Config) { c.ResourceWait = 40 * time.Millisecond }),
		},
		{
			name: "resource wait off",
			give: validEnv(core.EnvResourceWait, "0"),
			want: wantValid(func(c *core.Config) { c.ResourceWait = 0 }),
		},
		{
			name: "resource wait off, written 00",
			give: validEnv(core.EnvResourceWait, "00"),
			want: wantValid(func(c *core.Config) { c.ResourceWait = 0 }),
		},
		{
			name: "span identity",
			give: validEnv(core.EnvSpanIdentity, "true"),
			want: wantValid(func(c *core.Config) { c.SpanIdentity = true }),
		},
		{
			name: "flush on exit as 0",
			give: validEnv(core.EnvFlushOnExit, "0"),
			want: wantValid(func(c *core.Config) { c.FlushOnExit = false }),
		},
		{
			name: "disabled needs no endpoint or token",
			give: map[string]string{core.EnvSDKDisabled: "TRUE"},
			want: defaults(func(c *core.Config) { c.Disabled = true }),
		},
		{
			name: "disabled false",
			give: validEnv(core.EnvSDKDisabled, "false"),
			want: wantValid(nil),
		},
		{
			name: "service name and resource attributes",
			give: validEnv(
				core.EnvServiceName, "checkout",
				core.EnvResourceAttributes, " deployment.environment = prod , team=a%2Cb%3Dc,note=x%20y+z,,",
			),
			want: wantValid(func(c *core.Config) {
				c.ServiceName = "checkout"
				c.ResourceAttributes = []attribute.KeyValue{
					attribute.String("deployment.environment", "prod"),
					attribute.String("team", "a,b=c"),
					attribute.String("note", "x y+z"),
				}
			}),
		},
		{
			name: "OTLP endpoint gets /v1/traces and wins over the base URL",
			give: validEnv(core.EnvOTLPEndpoint, testBaseURL+"/api/v2/otlp"),
			want: wantValid(nil),
		},
		{
			name: "OTLP endpoint with a trailing slash",
			give: validEnv(core.EnvOTLPEndpoint, testBaseURL+"/api/v2/otlp/"),
			want: wantValid(nil),
		},
		{
			name: "OTLP endpoint without a path",
			give: validEnv(core.EnvOTLPEndpoint, "http://collector:4318"),
			want: wantValid(func(c *core.Config) { c.Endpoint = "http://collector:4318/v1/traces" }),
		},
		{
			name: "OTLP traces endpoint used as is and wins",
			give: validEnv(core.EnvOTLPEndpoint, "http://collector:4318", core.EnvOTLPTracesEndpoint, "https://collector.example/custom"),
			want: wantValid(func(c *core.Config) { c.Endpoint = "https://collector.example/custom" }),
		},
		{
			name: "headers merged, traces headers win per key",
			give: validEnv(
				core.EnvOTLPHeaders, "x-a=1, x-b = two%20words ,X-Empty=",
				core.EnvOTLPTracesHeaders, "X-B=3,x-c=4",
			),
			want: wantValid(func(c *core.Config) {
				c.Headers = map[string]string{"X-A": "1", "X-B": "3", "X-C": "4", "X-Empty": ""}
			}),
		},
		{
			name: "authorization header instead of a token",
			give: map[string]string{
				core.EnvBaseURL:     testBaseURL,
				core.EnvOTLPHeaders: "authorization=Api-Token%20" + headerToken,
			},
			want: wantValid(func(c *core.Config) {
				c.Token = ""
				c.Headers = map[string]string{"Authorization": "Api-Token " + headerToken}
			}),
		},
		{
			name:  "token file instead of a token",
			give:  map[string]string{core.EnvBaseURL: testBaseURL, core.EnvAuthTokenFile: "secret/token"},
			files: map[string]string{"secret/token": " " + fileToken + "\n"},
			want:  wantValid(func(c *core.Config) { c.Token, c.TokenFile = "", "secret/token" }),
		},
		{
			name: "token file in dtconfig.json",
			files: map[string]string{
				"dtconfig.json": `{"Connection": {"BaseUrl": "` + testBaseURL + `", "AuthTokenFile": "secret/token"}}`,
				"secret/token":  fileToken,
			},
			want: wantValid(func(c *core.Config) { c.Token, c.TokenFile, c.Source = "", "secret/token", "./dtconfig.json" }),
		},
		{
			name: "token file variable wins over the file key",
			give: map[string]string{core.EnvAuthTokenFile: "env-token"},
			files: map[string]string{
				"dtconfig.json": `{"Connection": {"BaseUrl": "` + testBaseURL + `", "AuthTokenFile": "missing"}}`,
				"env-token":     fileToken,
			},
			want: wantValid(func(c *core.Config) { c.Token, c.TokenFile, c.Source = "", "env-token", "./dtconfig.json" }),
		},
		{
			name: "compression none",
			give: validEnv(core.EnvOTLPCompression, "none"),
			want: wantValid(func(c *core.Config) { c.Compression = "none" }),
		},
		{
			name: "traces compression wins",
			give: validEnv(core.EnvOTLPCompression, "none", core.EnvOTLPTracesCompression, "GZIP"),
			want: wantValid(nil),
		},
		{
			name: "timeout",
			give: validEnv(core.EnvOTLPTimeout, "5000"),
			want: wantValid(func(c *core.Config) { c.Timeout = 5 * time.Second }),
		},
		{
			name: "traces timeout wins",
			give: validEnv(core.EnvOTLPTimeout, "5000", core.EnvOTLPTracesTimeout, "2500"),
			want: wantValid(func(c *core.Config) { c.Timeout = 2500 * time.Millisecond }),
		},
		{
			name: "protocol http/protobuf",
			give: validEnv(core.EnvOTLPProtocol, "grpc", core.EnvOTLPTracesProtocol, "http/protobuf"),
			want: wantValid(nil),
		},
		{
			name: "loopback OTLP endpoint needs no token",
			give: map[string]string{core.EnvOTLPEndpoint: "http://localhost:4318"},
			want: defaults(func(c *core.Config) { c.Endpoint = "http://localhost:4318/v1/traces" }),
		},
		{
			name: "loopback IPv4 traces endpoint needs no token",
			give: map[string]string{core.EnvOTLPTracesEndpoint: "http://127.0.0.2:14499/otlp/v1/traces"},
			want: defaults(func(c *core.Config) { c.Endpoint = "http://127.0.0.2:14499/otlp/v1/traces" }),
		},
		{
			name: "loopback IPv6 endpoint needs no token",
			give: map[string]string{core.EnvOTLPEndpoint: "http://[::1]:4318"},
			want: defaults(func(c *core.Config) { c.Endpoint = "http://[::1]:4318/v1/traces" }),
		},
		{
			name: "loopback base URL needs no token",
			give: map[string]string{core.EnvBaseURL: "http://localhost:9999/e/abc"},
			want: defaults(func(c *core.Config) {
				c.BaseURL, c.Endpoint = "http://localhost:9999/e/abc", "http://localhost:9999/e/abc/api/v2/otlp/v1/traces"
			}),
		},
		{
			name:  "dtconfig.json",
			files: map[string]string{"dtconfig.json": fixture("full.json")},
			want: wantValid(func(c *core.Config) {
				c.Dynatrace = core.DynatraceConfig{Tenant: "abc12345", ClusterID: -1234567}
				c.Token = fileToken
				c.LoggingDestination = "stderr"
				c.FlushOnExit, c.FlushTimeout = false, 1500*time.Millisecond
				c.RootSpansPerMinute = 600
				c.Source = "./dtconfig.json"
			}),
		},
		{
			name: "environment wins over dtconfig.json per key",
			give: map[string]string{
				core.EnvTenant:      "override",
				core.EnvAuthToken:   testToken,
				core.EnvFlushOnExit: "true",
				core.EnvClusterID:   "", // empty: the file's value
			},
			files: map[string]string{"dtconfig.json": fixture("full.json")},
			want: wantValid(func(c *core.Config) {
				c.Dynatrace = core.DynatraceConfig{Tenant: "override", ClusterID: -1234567}
				c.LoggingDestination = "stderr"
				c.FlushTimeout = 1500 * time.Millisecond
				c.RootSpansPerMinute = 600
				c.Source = "./dtconfig.json"
			}),
		},
		{
			name:  "Dynatrace's documented keys accepted silently",
			files: map[string]string{"dtconfig.json": fixture("dynatrace.json")},
			want: wantValid(func(c *core.Config) {
				c.Dynatrace = core.DynatraceConfig{Tenant: "abc12345", ClusterID: 1234567}
				c.Token = fileToken
				c.Source = "./dtconfig.json"
			}),
		},
		{
			name:  "file keys in any case, numbers and booleans as strings",
			files: map[string]string{"dtconfig.json": fixture("lenient.json")},
			want: wantValid(func(c *core.Config) {
				c.Dynatrace = core.DynatraceConfig{Tenant: "abc12345", ClusterID: 42}
				c.Token = fileToken
				c.LoggingDestination = "stdout"
				c.FlushOnExit, c.FlushTimeout = false, 750*time.Millisecond
				c.Source = "./dtconfig.json"
			}),
		},
		{
			name:  "unknown and duplicate file keys are warnings",
			files: map[string]string{"dtconfig.json": fixture("unknown.json")},
			want: wantValid(func(c *core.Config) {
				c.Dynatrace = core.DynatraceConfig{Tenant: "abc12345", ClusterID: 1234567}
				c.Token = fileToken
				c.Source = "./dtconfig.json"
				c.Warnings = []string{
					`./dtconfig.json: unknown key "Conection"`,
					`./dtconfig.json: unknown key "Connection.Proxy"`,
					`./dtconfig.json: unknown key "Extra"`,
					`./dtconfig.json: unknown key "Logging.Destinaton"`,
					`./dtconfig.json: unknown key "Testability.Foo"`,
					`./dtconfig.json: key "tenant" ignored: "Tenant" is set`,
				}
			}),
		},
		{
			name: "bad OTEL_SDK_DISABLED is a warning",
			give: validEnv(core.EnvSDKDisabled, "yes"),
			want: wantValid(func(c *core.Config) {
				c.Warnings = []string{`OTEL_SDK_DISABLED: want true or false, got "yes"; tracing stays on`}
			}),
		},
		{
			name: "malformed resource attributes are skipped",
			give: validEnv(core.EnvResourceAttributes, "a=b,novalue,=x,c=%zz,d=e"),
			want: wantValid(func(c *core.Config) {
				c.ResourceAttributes = []attribute.KeyValue{attribute.String("a", "b"), attribute.String("d", "e")}
				c.Warnings = []string{
					`OTEL_RESOURCE_ATTRIBUTES: attribute 2: missing "="; skipped`,
					`OTEL_RESOURCE_ATTRIBUTES: attribute 3: empty key; skipped`,
					`OTEL_RESOURCE_ATTRIBUTES: attribute 4: value is not URL-encoded correctly; skipped`,
				}
			}),
		},
		{
			name: "malformed headers are skipped",
			give: validEnv(
				core.EnvOTLPHeaders, "x-ok=1,novalue,bad name=x,x-esc=%zz,x-nl=a%0Ab",
				core.EnvOTLPTracesHeaders, "=x",
			),
			want: wantValid(func(c *core.Config) {
				c.Headers = map[string]string{"X-Ok": "1"}
				c.Warnings = []string{
					`OTEL_EXPORTER_OTLP_HEADERS: header 2: missing "="; skipped`,
					`OTEL_EXPORTER_OTLP_HEADERS: invalid header name; skipped`,
					`OTEL_EXPORTER_OTLP_HEADERS: header 4: value is not URL-encoded correctly; skipped`,
					`OTEL_EXPORTER_OTLP_HEADERS: "x-nl": value contains control characters; skipped`,
					`OTEL_EXPORTER_OTLP_TRACES_HEADERS: header 1: empty key; skipped`,
				}
			}),
		},
		{
			name: "bad compression keeps the default",
			give: validEnv(core.EnvOTLPCompression, "br"),
			want: wantValid(func(c *core.Config) {
				c.Warnings = []string{`OTEL_EXPORTER_OTLP_COMPRESSION: want gzip or none, got "br"; using gzip`}
			}),
		},
		{
			name: "bad traces compression keeps the generic one",
			give: validEnv(core.EnvOTLPCompression, "none", core.EnvOTLPTracesCompression, "zstd"),
			want: wantValid(func(c *core.Config) {
				c.Compression = "none"
				c.Warnings = []string{`OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: want gzip or none, got "zstd"; using none`}
			}),
		},
		{
			name: "bad timeout keeps the default",
			give: validEnv(core.EnvOTLPTimeout, "10s"),
			want: wantValid(func(c *core.Config) {
				c.Warnings = []string{`OTEL_EXPORTER_OTLP_TIMEOUT: want a positive integer of milliseconds, got "10s"; using 10s`}
			}),
		},
		{
			name: "bad traces timeout keeps the generic one",
			give: validEnv(core.EnvOTLPTimeout, "5000", core.EnvOTLPTracesTimeout, "0"),
			want: wantValid(func(c *core.Config) {
				c.Timeout = 5 * time.Second
				c.Warnings = []string{`OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: want a positive integer of milliseconds, got "0"; using 5s`}
			}),
		},
		{
			name: "unsupported protocol",
			give: validEnv(core.EnvOTLPProtocol, "grpc"),
			want: wantValid(func(c *core.Config) {
				c.Warnings = []string{`OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf is supported, got "grpc"`}
			}),
		},
		{
			name: "base URL with the OTLP path",
			give: validEnv(core.EnvBaseURL, testBaseURL+"/api/v2/otlp"),
			want: wantValid(func(c *core.Config) {
				c.BaseURL = testBaseURL + "/api/v2/otlp"
				c.Endpoint = testBaseURL + "/api/v2/otlp/api/v2/otlp/v1/traces"
				c.Warnings = []string{`DT_CONNECTION_BASE_URL: should be the environment URL without /api/v2/otlp; the endpoint is "` + c.Endpoint + `"`}
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setConfigEnv(t, tt.give, tt.files)
			got, err := core.ConfigFromEnv()
			if err != nil {
				t.Fatalf("ConfigFromEnv() error:\n%v", err)
			}
			if d := diffConfig(got, tt.want); d != "" {
				t.Errorf("ConfigFromEnv():%s", d)
			}
		})
	}
}

func TestConfigFileLookup(t *testing.T) {
	// Each file names itself in Tenant.
	file := func(tenant string) string {
		return `{"Tenant": "` + tenant + `", "ClusterID": 1}`
	}
	all := map[string]string{
		"path.json":       file("path"),
		"file.json":       file("file"),
		"dtconfig.json":   file("local"),
		"serverless.json": file("unused"),
		"serverless_function_source_code/dtconfig.json": file("serverless"),
	}
	tests := []struct {
		name       string
		give       map[string]string // environment besides validEnv
		files      map[string]string
		wantSource string
		wantTenant string
		wantWarns  []string
	}{
		{
			name:  "none",
			files: nil,
		},
		{
			name:       "./dtconfig.json",
			files:      map[string]string{"dtconfig.json": file("local")},
			wantSource: "./dtconfig.json", wantTenant: "local",
		},
		{
			name:       "serverless path ignored without K_SERVICE",
			files:      all,
			wantSource: "./dtconfig.json", wantTenant: "local",
		},
		{
			name:       "serverless path with K_SERVICE",
			give:       map[string]string{"K_SERVICE": "fn"},
			files:      all,
			wantSource: "./serverless_function_source_code/dtconfig.json", wantTenant: "serverless",
		},
		{
			name:       "K_SERVICE without a serverless file",
			give:       map[string]string{"K_SERVICE": "fn"},
			files:      map[string]string{"dtconfig.json": file("local")},
			wantSource: "./dtconfig.json", wantTenant: "local",
		},
		{
			name:       "DT_CONFIG_FILE over the default paths",
			give:       map[string]string{"K_SERVICE": "fn", core.EnvConfigFile: "file.json"},
			files:      all,
			wantSource: "file.json", wantTenant: "file",
		},
		{
			name:       "DT_CONFIG_FILE_PATH over DT_CONFIG_FILE",
			give:       map[string]string{"K_SERVICE": "fn", core.EnvConfigFile: "file.json", core.EnvConfigFilePath: "path.json"},
			files:      all,
			wantSource: "path.json", wantTenant: "path",
			wantWarns: []string{"DT_CONFIG_FILE: ignored: DT_CONFIG_FILE_PATH is set"},
		},
		{
			name:       "both naming the same file",
			give:       map[string]string{core.EnvConfigFile: "path.json", core.EnvConfigFilePath: "path.json"},
			files:      all,
			wantSource: "path.json", wantTenant: "path",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := validEnv()
			for k, v := range tt.give {
				env[k] = v
			}
			setConfigEnv(t, env, tt.files)
			got, err := core.ConfigFromEnv()
			if err != nil {
				t.Fatalf("ConfigFromEnv() error:\n%v", err)
			}
			if got.Source != tt.wantSource || got.Dynatrace.Tenant != tt.wantTenant {
				t.Errorf("ConfigFromEnv() read %q (tenant %q), want %q (tenant %q)",
					got.Source, got.Dynatrace.Tenant, tt.wantSource, tt.wantTenant)
			}
			if !reflect.DeepEqual(got.Warnings, tt.wantWarns) {
				t.Errorf("Warnings = %q, want %q", got.Warnings, tt.wantWarns)
			}
		})
	}
}

func TestConfigFromEnvErrors(t *testing.T) {
	tests := []struct {
		name  string
		give  map[string]string // environment
		files map[string]string // path: content
		want  []string
	}{
		{
			name: "nothing set",
			want: []string{
				"DT_CONNECTION_BASE_URL: required (or set OTEL_EXPORTER_OTLP_ENDPOINT)",
				"DT_CONNECTION_AUTH_TOKEN: required (or DT_CONNECTION_AUTH_TOKEN_FILE, or an Authorization header in OTEL_EXPORTER_OTLP_HEADERS)",
			},
		},
		{
			name: "token missing",
			give: map[string]string{core.EnvBaseURL: testBaseURL, core.EnvOTLPHeaders: "x-other=1"},
			want: []string{"DT_CONNECTION_AUTH_TOKEN: required (or DT_CONNECTION_AUTH_TOKEN_FILE, or an Authorization header in OTEL_EXPORTER_OTLP_HEADERS)"},
		},
		{
			name: "token missing for a non-loopback OTLP endpoint",
			give: map[string]string{core.EnvOTLPEndpoint: "http://10.0.0.1:4318"},
			want: []string{"DT_CONNECTION_AUTH_TOKEN: required (or DT_CONNECTION_AUTH_TOKEN_FILE, or an Authorization header in OTEL_EXPORTER_OTLP_HEADERS)"},
		},
		{
			name: "base URL missing",
			give: map[string]string{core.EnvAuthToken: testToken},
			want: []string{"DT_CONNECTION_BASE_URL: required (or set OTEL_EXPORTER_OTLP_ENDPOINT)"},
		},
		{
			name: "base URL not absolute",
			give: validEnv(core.EnvBaseURL, "foo"),
			want: []string{`DT_CONNECTION_BASE_URL: not an absolute URL: "foo"`},
		},
		{
			name: "base URL without scheme",
			give: validEnv(core.EnvBaseURL, "abc12345.live.dynatrace.com"),
			want: []string{`DT_CONNECTION_BASE_URL: not an absolute URL: "abc12345.live.dynatrace.com"`},
		},
		{
			name: "base URL not http",
			give: validEnv(core.EnvBaseURL, "ftp://abc12345.live.dynatrace.com"),
			want: []string{`DT_CONNECTION_BASE_URL: not an http or https URL: "ftp://abc12345.live.dynatrace.com"`},
		},
		{
			name: "bad base URL without a token",
			give: map[string]string{core.EnvBaseURL: "foo"},
			want: []string{`DT_CONNECTION_BASE_URL: not an absolute URL: "foo"`},
		},
		{
			name: "token with inner whitespace",
			give: validEnv(core.EnvAuthToken, "dt0c01.abc def"),
			want: []string{"DT_CONNECTION_AUTH_TOKEN: contains whitespace, control or non-ASCII characters"},
		},
		{
			name: "logging destination",
			give: validEnv(core.EnvLoggingDestination, "file"),
			want: []string{`DT_LOGGING_DESTINATION: want off, stdout or stderr, got "file"`},
		},
		{
			name:  "token and token file",
			give:  validEnv(core.EnvAuthTokenFile, "token"),
			files: map[string]string{"token": fileToken},
			want:  []string{"DT_CONNECTION_AUTH_TOKEN_FILE: conflicts with DT_CONNECTION_AUTH_TOKEN; set one of them"},
		},
		{
			name:  "token variable and token file key",
			give:  validEnv(),
			files: map[string]string{"dtconfig.json": `{"Connection": {"AuthTokenFile": "token"}}`, "token": fileToken},
			want:  []string{"Connection.AuthTokenFile (./dtconfig.json): conflicts with DT_CONNECTION_AUTH_TOKEN; set one of them"},
		},
		{
			name:  "token key and token file variable",
			give:  map[string]string{core.EnvBaseURL: testBaseURL, core.EnvAuthTokenFile: "token"},
			files: map[string]string{"dtconfig.json": `{"Connection": {"AuthToken": "` + testToken + `"}}`, "token": fileToken},
			want:  []string{"DT_CONNECTION_AUTH_TOKEN_FILE: conflicts with Connection.AuthToken (./dtconfig.json); set one of them"},
		},
		{
			name: "token file missing",
			give: map[string]string{core.EnvBaseURL: testBaseURL, core.EnvAuthTokenFile: "missing"},
			want: []string{`DT_CONNECTION_AUTH_TOKEN_FILE: cannot read "missing": no such file or directory`},
		},
		{
			name:  "token file is a directory",
			give:  map[string]string{core.EnvBaseURL: testBaseURL, core.EnvAuthTokenFile: "secret"},
			files: map[string]string{"secret/token": fileToken},
			want:  []string{`DT_CONNECTION_AUTH_TOKEN_FILE: cannot read "secret": is a directory`},
		},
		{
			name:  "token file empty",
			give:  map[string]string{core.EnvBaseURL: testBaseURL, core.EnvAuthTokenFile: "token"},
			files: map[string]string{"token": " \n\n"},
			want:  []string{`DT_CONNECTION_AUTH_TOKEN_FILE: "token" is empty`},
		},
		{
			name:  "token file with two lines",
			give:  map[string]string{core.EnvBaseURL: testBaseURL, core.EnvAuthTokenFile: "token"},
			files: map[string]string{"token": fileToken + "\n" + fileToken + "\n"},
			want:  []string{`DT_CONNECTION_AUTH_TOKEN_FILE: the token in "token" contains whitespace, control or non-ASCII characters`},
		},
		{
			name:  "token file key missing",
			give:  map[string]string{core.EnvBaseURL: testBaseURL},
			files: map[string]string{"dtconfig.json": `{"Connection": {"AuthTokenFile": "missing"}}`},
			want:  []string{`Connection.AuthTokenFile (./dtconfig.json): cannot read "missing": no such file or directory`},
		},
		{
			name:  "token file key not a string",
			give:  map[string]string{core.EnvBaseURL: testBaseURL},
			files: map[string]string{"dtconfig.json": `{"Connection": {"AuthTokenFile": 5}}`},
			want:  []string{"Connection.AuthTokenFile (./dtconfig.json): want a string, got number"},
		},
		{
			name: "cluster id not a number",
			give: validEnv(core.EnvTenant, "abc12345", core.EnvClusterID, "abc"),
			want: []string{`DT_CLUSTER_ID: not a non-zero int32: "abc"`},
		},
		{
			name: "cluster id zero",
			give: validEnv(core.EnvTenant, "abc12345", core.EnvClusterID, "0"),
			want: []string{`DT_CLUSTER_ID: not a non-zero int32: "0"`},
		},
		{
			name: "cluster id out of range",
			give: validEnv(core.EnvTenant, "abc12345", core.EnvClusterID, "2147483648"),
			want: []string{`DT_CLUSTER_ID: not a non-zero int32: "2147483648"`},
		},
		{
			name: "tenant without cluster id",
			give: validEnv(core.EnvTenant, "abc12345"),
			want: []string{"DT_CLUSTER_ID: required when DT_TENANT is set"},
		},
		{
			name: "cluster id without tenant",
			give: validEnv(core.EnvClusterID, "42"),
			want: []string{"DT_TENANT: required when DT_CLUSTER_ID is set"},
		},
		{
			name: "tenant with bad characters",
			give: validEnv(core.EnvTenant, "abc_123", core.EnvClusterID, "42"),
			want: []string{`DT_TENANT: must match [a-zA-Z0-9-]+, got "abc_123"`},
		},
		{
			name: "warm-up",
			give: validEnv(core.EnvWarmUp, "yes please"),
			want: []string{`DT_CONNECTION_WARM_UP: want true or false, got "yes please"`},
		},
		{
			name: "flush on exit",
			give: validEnv(core.EnvFlushOnExit, "flase"),
			want: []string{`DT_FLUSH_ON_EXIT: want true or false, got "flase"`},
		},
		{
			name: "flush timeout zero",
			give: validEnv(core.EnvFlushTimeout, "0"),
			want: []string{`DT_FLUSH_TIMEOUT_MS: want a positive integer of milliseconds, got "0"`},
		},
		{
			name: "flush timeout with a unit",
			give: validEnv(core.EnvFlushTimeout, "2s"),
			want: []string{`DT_FLUSH_TIMEOUT_MS: want a positive integer of milliseconds, got "2s"`},
		},
		{
			name: "root spans per minute negative",
			give: validEnv(core.EnvRootSpansPerMinute, "-1"),
			want: []string{`DT_ROOT_SPANS_PER_MINUTE: want an integer >= 0, got "-1"`},
		},
		{
			name: "resource wait negative",
			give: validEnv(core.EnvResourceWait, "-5"),
			want: []string{`DT_RESOURCE_WAIT_MS: want an integer >= 0 of milliseconds, got "-5"`},
		},
		{
			name: "span identity not a bool",
			give: validEnv(core.EnvSpanIdentity, "yes please"),
			want: []string{`DT_SPAN_IDENTITY: want true or false, got "yes please"`},
		},
		{
			name: "OTLP endpoint without scheme",
			give: validEnv(core.EnvOTLPEndpoint, "localhost:4318"),
			want: []string{`OTEL_EXPORTER_OTLP_ENDPOINT: not an absolute URL: "localhost:4318"`},
		},
		{
			name: "OTLP traces endpoint not http",
			give: validEnv(core.EnvOTLPTracesEndpoint, "grpc://collector:4317"),
			want: []string{`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: not an http or https URL: "grpc://collector:4317"`},
		},
		{
			name: "disabled still checks values",
			give: map[string]string{core.EnvSDKDisabled: "true", core.EnvLoggingDestination: "syslog"},
			want: []string{`DT_LOGGING_DESTINATION: want off, stdout or stderr, got "syslog"`},
		},
		{
			name:  "invalid ./dtconfig.json",
			give:  validEnv(),
			files: map[string]string{"dtconfig.json": fixture("invalid.json")},
			want:  []string{`./dtconfig.json: invalid JSON at byte 27: invalid character '}' looking for beginning of object key string`},
		},
		{
			name:  "invalid serverless dtconfig.json does not fall back",
			give:  validEnv("K_SERVICE", "fn"),
			files: map[string]string{"serverless_function_source_code/dtconfig.json": "{", "dtconfig.json": fixture("full.json")},
			want:  []string{`./serverless_function_source_code/dtconfig.json: invalid JSON at byte 1: unexpected end of JSON input`},
		},
		{
			name: "keys given twice in dtconfig.json",
			give: validEnv(),
			files: map[string]string{"dtconfig.json": `{"Connection": {"AuthToken": "dt0c01.TOK"}, "Connection": {"BaseUrl": "` + testBaseURL + `"},` +
				` "Logging": {"Destination": "stdout", "Destination": "stderr"}}`},
			want: []string{`./dtconfig.json: keys given more than once, merge them: Connection, Logging.Destination`},
		},
		{
			name:  "invalid DT_CONFIG_FILE_PATH",
			give:  validEnv(core.EnvConfigFilePath, "conf.json"),
			files: map[string]string{"conf.json": fixture("invalid.json")},
			want:  []string{`DT_CONFIG_FILE_PATH: conf.json: invalid JSON at byte 27: invalid character '}' looking for beginning of object key string`},
		},
		{
			name:  "empty DT_CONFIG_FILE",
			give:  validEnv(core.EnvConfigFile, "conf.json"),
			files: map[string]string{"conf.json": ""},
			want:  []string{`DT_CONFIG_FILE: conf.json: invalid JSON at byte 0: unexpected end of JSON input`},
		},
		{
			name:  "dtconfig.json not an object",
			give:  validEnv(),
			files: map[string]string{"dtconfig.json": fixture("array.json")},
			want:  []string{"./dtconfig.json: want a JSON object, got array"},
		},
		{
			name:  "dtconfig.json is a directory",
			give:  validEnv(),
			files: map[string]string{"dtconfig.json/x": "{}"},
			want:  []string{"./dtconfig.json: read ./dtconfig.json: is a directory"},
		},
		{
			name:  "bad values in dtconfig.json",
			files: map[string]string{"dtconfig.json": fixture("badvalues.json")},
			want: []string{
				"Connection.AuthToken (./dtconfig.json): want a string, got array",
				"Tenant (./dtconfig.json): want a string, got number",
				`ClusterID (./dtconfig.json): not a non-zero int32: "1.5"`,
				`FlushOnExit (./dtconfig.json): want true or false, got "sometimes"`,
				"FlushTimeoutMs (./dtconfig.json): want a string, number or boolean, got object",
				`Connection.BaseUrl (./dtconfig.json): not an absolute URL: "foo"`,
				`Logging.Destination (./dtconfig.json): want off, stdout or stderr, got "file"`,
			},
		},
		{
			name:  "sections in dtconfig.json that are not objects",
			files: map[string]string{"dtconfig.json": fixture("badsection.json")},
			want: []string{
				"Connection (./dtconfig.json): want an object, got string",
				"Logging (./dtconfig.json): want an object, got array",
			},
		},
		{
			name:  "file values named by the variable that overrides them",
			give:  map[string]string{core.EnvBaseURL: "foo"},
			files: map[string]string{"dtconfig.json": fixture("full.json")},
			want:  []string{`DT_CONNECTION_BASE_URL: not an absolute URL: "foo"`},
		},
		{
			name:  "tenant from the file, cluster id missing",
			give:  validEnv(),
			files: map[string]string{"dtconfig.json": `{"Tenant": "abc12345"}`},
			want:  []string{"DT_CLUSTER_ID: required when Tenant (./dtconfig.json) is set"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setConfigEnv(t, tt.give, tt.files)
			_, err := core.ConfigFromEnv()
			if got := errorLines(err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ConfigFromEnv() error =\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

func TestConfigFromEnvMissingFile(t *testing.T) {
	tests := []struct{ give string }{
		{give: core.EnvConfigFilePath},
		{give: core.EnvConfigFile},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			// ./dtconfig.json exists but is not a fallback for a named file.
			setConfigEnv(t, validEnv(tt.give, "missing.json"), map[string]string{"dtconfig.json": fixture("full.json")})
			got, err := core.ConfigFromEnv()
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("ConfigFromEnv() error = %v, want fs.ErrNotExist", err)
			}
			if len(errorLines(err)) != 1 || !strings.HasPrefix(err.Error(), tt.give+": ") || !strings.Contains(err.Error(), "missing.json") {
				t.Errorf("ConfigFromEnv() error = %q, want one problem naming %s and the file", err, tt.give)
			}
			if got.Source != "" {
				t.Errorf("Source = %q, want none", got.Source)
			}
		})
	}
}

func TestConfigFromEnvEveryProblemAtOnce(t *testing.T) {
	setConfigEnv(t, map[string]string{
		core.EnvTenant:                "a b",
		core.EnvClusterID:             "x",
		core.EnvBaseURL:               "foo",
		core.EnvAuthToken:             "a\tb",
		core.EnvLoggingDestination:    "file",
		core.EnvFlushOnExit:           "maybe",
		core.EnvFlushTimeout:          "-5",
		core.EnvSDKDisabled:           "1",
		core.EnvResourceAttributes:    "novalue",
		core.EnvOTLPHeaders:           "novalue",
		core.EnvOTLPCompression:       "br",
		core.EnvOTLPTimeout:           "soon",
		core.EnvOTLPTracesEndpoint:    "collector:4318",
		core.EnvOTLPTracesProtocol:    "grpc",
		core.EnvConfigFilePath:        "dtconfig.json",
		core.EnvConfigFile:            "other.json",
		core.EnvOTLPTracesCompression: "",
	}, map[string]string{"dtconfig.json": fixture("unknown.json")})
	got, err := core.ConfigFromEnv()
	wantErrs := []string{
		`DT_CLUSTER_ID: not a non-zero int32: "x"`,
		`DT_FLUSH_ON_EXIT: want true or false, got "maybe"`,
		`DT_FLUSH_TIMEOUT_MS: want a positive integer of milliseconds, got "-5"`,
		`DT_TENANT: must match [a-zA-Z0-9-]+, got "a b"`,
		`DT_CONNECTION_BASE_URL: not an absolute URL: "foo"`,
		`DT_LOGGING_DESTINATION: want off, stdout or stderr, got "file"`,
		`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: not an absolute URL: "collector:4318"`,
		"DT_CONNECTION_AUTH_TOKEN: contains whitespace, control or non-ASCII characters",
	}
	if got := errorLines(err); !reflect.DeepEqual(got, wantErrs) {
		t.Errorf("ConfigFromEnv() error =\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(wantErrs, "\n\t"))
	}
	wantWarns := []string{
		`DT_CONFIG_FILE: ignored: DT_CONFIG_FILE_PATH is set`,
		`dtconfig.json: unknown key "Conection"`,
		`dtconfig.json: unknown key "Connection.Proxy"`,
		`dtconfig.json: unknown key "Extra"`,
		`dtconfig.json: unknown key "Logging.Destinaton"`,
		`dtconfig.json: unknown key "Testability.Foo"`,
		`dtconfig.json: key "tenant" ignored: "Tenant" is set`,
		`OTEL_EXPORTER_OTLP_HEADERS: header 1: missing "="; skipped`,
		`OTEL_SDK_DISABLED: want true or false, got "1"; tracing stays on`,
		`OTEL_RESOURCE_ATTRIBUTES: attribute 1: missing "="; skipped`,
		`OTEL_EXPORTER_OTLP_COMPRESSION: want gzip or none, got "br"; using gzip`,
		`OTEL_EXPORTER_OTLP_TIMEOUT: want a positive integer of milliseconds, got "soon"; using 10s`,
		`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: only http/protobuf is supported, got "grpc"`,
	}
	if !reflect.DeepEqual(got.Warnings, wantWarns) {
		t.Errorf("Warnings =\n\t%s\nwant\n\t%s", strings.Join(got.Warnings, "\n\t"), strings.Join(wantWarns, "\n\t"))
	}
}

func TestConfigValidate(t *testing.T) {
	valid := func(edit func(c *core.Config)) core.Config {
		c := wantValid(nil)
		edit(&c)
		return c
	}
	dir := t.TempDir()
	tokenFile, emptyFile, missing := filepath.Join(dir, "token"), filepath.Join(dir, "empty"), filepath.Join(dir, "missing")
	for path, content := range map[string]string{tokenFile: fileToken + "\n", emptyFile: "\n"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		give core.Config
		want []string
	}{
		{
			name: "valid",
			give: wantValid(nil),
		},
		{
			name: "valid with fw4",
			give: valid(func(c *core.Config) { c.Dynatrace = core.DynatraceConfig{Tenant: "abc12345", ClusterID: -7} }),
		},
		{
			name: "defaults",
			give: core.NewDefaultConfig(),
			want: []string{
				"DT_CONNECTION_BASE_URL: required (or set OTEL_EXPORTER_OTLP_ENDPOINT)",
				"DT_CONNECTION_AUTH_TOKEN: required (or DT_CONNECTION_AUTH_TOKEN_FILE, or an Authorization header in OTEL_EXPORTER_OTLP_HEADERS)",
			},
		},
		{
			name: "zero",
			give: core.Config{},
			want: []string{
				`DT_LOGGING_DESTINATION: want off, stdout or stderr, got ""`,
				"DT_CONNECTION_BASE_URL: required (or set OTEL_EXPORTER_OTLP_ENDPOINT)",
				"DT_CONNECTION_AUTH_TOKEN: required (or DT_CONNECTION_AUTH_TOKEN_FILE, or an Authorization header in OTEL_EXPORTER_OTLP_HEADERS)",
				`OTEL_EXPORTER_OTLP_COMPRESSION: want gzip or none, got ""`,
				"OTEL_EXPORTER_OTLP_TIMEOUT: must be > 0, got 0s",
			},
		},
		{
			name: "disabled",
			give: defaults(func(c *core.Config) { c.Disabled = true }),
		},
		{
			name: "base URL without endpoint",
			give: valid(func(c *core.Config) { c.Endpoint = "" }),
			want: []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: required; ConfigFromEnv derives it from DT_CONNECTION_BASE_URL"},
		},
		{
			name: "bad URLs",
			give: valid(func(c *core.Config) { c.BaseURL, c.Endpoint = "foo", "/v1/traces" }),
			want: []string{
				`DT_CONNECTION_BASE_URL: not an absolute URL: "foo"`,
				`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: not an absolute URL: "/v1/traces"`,
			},
		},
		{
			name: "authorization header instead of a token",
			give: valid(func(c *core.Config) {
				c.Token, c.Headers = "", map[string]string{"authorization": "Bearer " + headerToken}
			}),
		},
		{
			name: "token file instead of a token",
			give: valid(func(c *core.Config) { c.Token, c.TokenFile = "", tokenFile }),
		},
		{
			name: "token and token file",
			give: valid(func(c *core.Config) { c.TokenFile = tokenFile }),
			want: []string{"DT_CONNECTION_AUTH_TOKEN_FILE: conflicts with DT_CONNECTION_AUTH_TOKEN; set one of them"},
		},
		{
			name: "token file missing",
			give: valid(func(c *core.Config) { c.Token, c.TokenFile = "", missing }),
			want: []string{`DT_CONNECTION_AUTH_TOKEN_FILE: cannot read "` + missing + `": no such file or directory`},
		},
		{
			name: "token file empty",
			give: valid(func(c *core.Config) { c.Token, c.TokenFile = "", emptyFile }),
			want: []string{`DT_CONNECTION_AUTH_TOKEN_FILE: "` + emptyFile + `" is empty`},
		},
		{
			name: "loopback endpoint without a token",
			give: valid(func(c *core.Config) { c.Token, c.Endpoint = "", "http://localhost.:4318/v1/traces" }),
		},
		{
			name: "IPv4-mapped loopback endpoint without a token",
			give: valid(func(c *core.Config) { c.Token, c.Endpoint = "", "http://[::ffff:127.0.0.1]:4318/v1/traces" }),
		},
		{
			name: "private endpoint without a token",
			give: valid(func(c *core.Config) { c.Token, c.Endpoint = "", "http://192.168.0.1:4318/v1/traces" }),
			want: []string{"DT_CONNECTION_AUTH_TOKEN: required (or DT_CONNECTION_AUTH_TOKEN_FILE, or an Authorization header in OTEL_EXPORTER_OTLP_HEADERS)"},
		},
		{
			name: "fw4 halves",
			give: valid(func(c *core.Config) { c.Dynatrace.Tenant = "abc.123" }),
			want: []string{
				`DT_TENANT: must match [a-zA-Z0-9-]+, got "abc.123"`,
				"DT_CLUSTER_ID: required when DT_TENANT is set",
			},
		},
		{
			name: "cluster id without tenant",
			give: valid(func(c *core.Config) { c.Dynatrace.ClusterID = 1 }),
			want: []string{"DT_TENANT: required when DT_CLUSTER_ID is set"},
		},
		{
			name: "headers",
			give: valid(func(c *core.Config) {
				c.Headers = map[string]string{"X-Ok": "1", "bad name": "x", "X-Nl": "a\r\nb"}
			}),
			want: []string{
				`OTEL_EXPORTER_OTLP_HEADERS: "X-Nl": value contains control characters`,
				"OTEL_EXPORTER_OTLP_HEADERS: invalid header name",
			},
		},
		{
			name: "numbers and enums",
			give: valid(func(c *core.Config) {
				c.LoggingDestination, c.Compression = "file", "br"
				c.Timeout, c.FlushTimeout = -time.Second, 0
			}),
			want: []string{
				`DT_LOGGING_DESTINATION: want off, stdout or stderr, got "file"`,
				`OTEL_EXPORTER_OTLP_COMPRESSION: want gzip or none, got "br"`,
				"OTEL_EXPORTER_OTLP_TIMEOUT: must be > 0, got -1s",
				"DT_FLUSH_TIMEOUT_MS: must be > 0, got 0s",
			},
		},
		{
			name: "no flush timeout needed without flush on exit",
			give: valid(func(c *core.Config) { c.FlushOnExit, c.FlushTimeout = false, 0 }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorLines(tt.give.Validate()); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate() =\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

// secretValues are the secrets of the redaction tests and their parts.
var secretValues = []string{testToken, fileToken, headerToken, "ENVTOKEN", "FILETOKEN", "HEADERTOKEN"}

// assertNoSecret fails if s shows any secret, in any case.
func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range secretValues {
		if strings.Contains(strings.ToLower(s), strings.ToLower(secret)) {
			t.Errorf("%s shows a secret: %s", what, s)
			return
		}
	}
}

func TestConfigRedactsSecrets(t *testing.T) {
	setConfigEnv(t, validEnv(
		core.EnvOTLPHeaders, "X-Key="+fileToken,
		core.EnvResourceAttributes, "a=b",
		core.EnvTenant, "abc12345", core.EnvClusterID, "1",
	), nil)
	c, err := core.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Token != testToken || c.Headers["X-Key"] != fileToken {
		t.Fatal("ConfigFromEnv() did not read the secrets")
	}
	// A token and an Authorization header conflict (Validate says so), but
	// a Config set in code may hold both: neither is ever shown.
	c.Headers["Authorization"] = "Api-Token " + headerToken

	outer := struct{ Config core.Config }{c}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v", "%-v"} {
		assertNoSecret(t, verb, fmt.Sprintf(verb, c))
		assertNoSecret(t, verb+" of *Config", fmt.Sprintf(verb, &c))
		assertNoSecret(t, verb+" of a struct holding it", fmt.Sprintf(verb, outer))
	}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintln(c), c.String(), c.GoString()} {
		assertNoSecret(t, "printing", s)
		if !strings.Contains(s, "[redacted]") {
			t.Errorf("%s does not say [redacted]", s)
		}
	}
	if got := fmt.Sprintf("%#v", c); !strings.HasPrefix(got, "core.Config{Dynatrace:core.DynatraceConfig{Tenant:\"abc12345\", ClusterID:1}") {
		t.Errorf("%%#v = %s", got)
	}

	for _, h := range []struct {
		name string
		new  func(w io.Writer) slog.Handler
	}{
		{"JSON", func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) }},
		{"text", func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) }},
	} {
		var buf bytes.Buffer
		log := slog.New(h.new(&buf))
		log.Info("config", "config", c, "pointer", &c, slog.Any("any", c))
		log.Info("config", slog.Group("g", "config", c))
		log.With("config", c).Info("with")
		out := buf.String()
		assertNoSecret(t, h.name+" handler", out)
		if !strings.Contains(out, "[redacted]") || !strings.Contains(out, "abc12345") {
			t.Errorf("%s handler output lacks the config:\n%s", h.name, out)
		}
	}

	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "json.Marshal", string(b))
	b, err = json.Marshal(outer)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "json.Marshal of a struct holding it", string(b))
}

// TestConfigRedactsTokenFromFile reads the token from a file and finds it
// hidden wherever the Config is shown, even where it was put by mistake.
func TestConfigRedactsTokenFromFile(t *testing.T) {
	setConfigEnv(t, map[string]string{
		core.EnvBaseURL:            testBaseURL,
		core.EnvAuthTokenFile:      "secret/token",
		core.EnvServiceName:        "svc-" + fileToken,
		core.EnvResourceAttributes: "a=" + fileToken,
	}, map[string]string{"secret/token": fileToken + "\n"})
	c, err := core.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	// Removing the file changes nothing: the token read is kept to hide it.
	if err := os.Remove("secret/token"); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "config", c)
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for what, s := range map[string]string{
		"String": c.String(), "%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"LogValue": logged.String(), "json.Marshal": string(b),
	} {
		assertNoSecret(t, what, s)
		if !strings.Contains(s, "secret/token") {
			t.Errorf("%s does not name the token file: %s", what, s)
		}
	}
}

func TestConfigErrorsNeverShowSecrets(t *testing.T) {
	tests := []struct {
		name  string
		give  map[string]string // environment
		files map[string]string
	}{
		{name: "token in a base URL", give: validEnv(core.EnvBaseURL, "htp//x?Api-Token="+testToken)},
		{name: "token in user info", give: validEnv(core.EnvBaseURL, "ftp://user:"+testToken+"@host")},
		{name: "header token in user info", give: validEnv(core.EnvOTLPHeaders, "Authorization=Api-Token "+headerToken, core.EnvOTLPEndpoint, "ftp://u:"+headerToken+"@h")},
		{name: "token as tenant", give: validEnv(core.EnvTenant, testToken, core.EnvClusterID, "1")},
		{name: "token as cluster id", give: validEnv(core.EnvTenant, "abc", core.EnvClusterID, testToken)},
		{name: "token as logging destination", give: validEnv(core.EnvLoggingDestination, testToken)},
		{name: "token as flush settings", give: validEnv(core.EnvFlushOnExit, testToken, core.EnvFlushTimeout, testToken)},
		{name: "token as OTLP endpoint", give: validEnv(core.EnvOTLPEndpoint, testToken)},
		{name: "token as OTLP traces endpoint", give: validEnv(core.EnvOTLPTracesEndpoint, testToken)},
		{name: "token as OTEL values", give: validEnv(
			core.EnvSDKDisabled, testToken, core.EnvOTLPCompression, testToken,
			core.EnvOTLPTimeout, testToken, core.EnvOTLPProtocol, testToken,
		)},
		{name: "token with whitespace", give: validEnv(core.EnvAuthToken, testToken+" x")},
		{name: "header token with a bad escape", give: validEnv(core.EnvOTLPHeaders, "Authorization=Api-Token%20"+headerToken+"%zz")},
		{name: "header token without a key", give: validEnv(core.EnvOTLPHeaders, "Api-Token "+headerToken)},
		{name: "header token in a bad key", give: validEnv(core.EnvOTLPHeaders, "Authorization: Api-Token "+headerToken+"=x")},
		{name: "header token as a key", give: validEnv(core.EnvOTLPHeaders, "Authorization=Api-Token%20"+headerToken+","+headerToken+"=x%0Ay")},
		{name: "header token with a newline", give: validEnv(core.EnvOTLPHeaders, "Authorization=Api-Token%20"+headerToken+"%0Ax")},
		{name: "header token as a tenant", give: validEnv(core.EnvOTLPHeaders, "Authorization=Api-Token%20"+headerToken, core.EnvTenant, headerToken)},
		{name: "token in resource attributes", give: validEnv(core.EnvResourceAttributes, testToken+","+testToken+"=%zz")},
		{name: "token as a file key", give: validEnv(), files: map[string]string{"dtconfig.json": `{"` + testToken + `": 1, "Connection": {"` + testToken + `": 2}}`}},
		{name: "file token as a file key", files: map[string]string{"dtconfig.json": `{"` + fileToken + `": 1, "Connection": {"AuthToken": "` + fileToken + `", "BaseUrl": "` + fileToken + `"}}`}},
		{name: "overridden file token", give: validEnv(core.EnvBaseURL, fileToken), files: map[string]string{"dtconfig.json": fixture("full.json")}},
		{name: "file token with bad types", files: map[string]string{"dtconfig.json": `{"Tenant": "` + fileToken + `", "ClusterID": "` + fileToken + `", "Connection": {"AuthToken": "` + fileToken + `", "BaseUrl": 5}}`}},
		{name: "bad file with a token", give: validEnv(core.EnvConfigFilePath, "conf.json"), files: map[string]string{"conf.json": `{"Connection": {"AuthToken": "` + fileToken + `"`}},
		{name: "token from the token file as values", give: map[string]string{
			core.EnvBaseURL: "ftp://" + fileToken, core.EnvAuthTokenFile: "token", core.EnvTenant: fileToken, core.EnvClusterID: fileToken,
			core.EnvResourceAttributes: fileToken + ",x=%zz" + fileToken, core.EnvOTLPCompression: fileToken,
		}, files: map[string]string{"token": fileToken + "\n"}},
		{name: "token file with whitespace", give: map[string]string{core.EnvBaseURL: testBaseURL, core.EnvAuthTokenFile: "token"},
			files: map[string]string{"token": fileToken + " x\n"}},
		{name: "token file conflicting with the token", give: validEnv(core.EnvAuthTokenFile, "token", core.EnvTenant, fileToken),
			files: map[string]string{"token": fileToken}},
		{name: "token set as the token file", give: map[string]string{core.EnvBaseURL: testBaseURL, core.EnvAuthTokenFile: testToken}},
		{name: "token set as the token file key", give: map[string]string{core.EnvBaseURL: testBaseURL},
			files: map[string]string{"dtconfig.json": `{"Connection": {"AuthTokenFile": "` + fileToken + `"}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setConfigEnv(t, tt.give, tt.files)
			c, err := core.ConfigFromEnv()
			if err == nil && len(c.Warnings) == 0 {
				t.Fatal("ConfigFromEnv() reported no problem; the case tests nothing")
			}
			if err != nil {
				assertNoSecret(t, "error", err.Error())
			}
			assertNoSecret(t, "warnings", strings.Join(c.Warnings, "\n"))
		})
	}
}

func TestConfigValidateNeverShowsSecrets(t *testing.T) {
	dir := t.TempDir()
	tokenFile, badTokenFile := filepath.Join(dir, "token"), filepath.Join(dir, "bad")
	for path, content := range map[string]string{tokenFile: fileToken + "\n", badTokenFile: fileToken + "\tx\n"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		give core.Config
	}{
		{name: "token with whitespace", give: defaults(func(c *core.Config) { c.Token = testToken + "\n" })},
		{name: "token in URLs", give: defaults(func(c *core.Config) {
			c.Token, c.BaseURL, c.Endpoint = testToken, "ftp://"+testToken, "x:"+testToken
		})},
		{name: "header token in headers", give: defaults(func(c *core.Config) {
			c.Headers = map[string]string{"Authorization": "Api-Token " + headerToken, headerToken: "\n", "X-A": headerToken + "\n", "Bad Name": headerToken}
		})},
		{name: "token as tenant", give: defaults(func(c *core.Config) { c.Token, c.Dynatrace.Tenant = testToken, testToken })},
		{name: "token from the token file in URLs", give: defaults(func(c *core.Config) {
			c.TokenFile, c.BaseURL, c.Endpoint, c.Dynatrace.Tenant = tokenFile, "ftp://"+fileToken, "x:"+fileToken, fileToken
		})},
		{name: "token file with whitespace", give: defaults(func(c *core.Config) {
			c.TokenFile, c.BaseURL, c.Endpoint = badTokenFile, testBaseURL, testEndpoint
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.give.Validate()
			if err == nil {
				t.Fatal("Validate() = nil; the case tests nothing")
			}
			assertNoSecret(t, "Validate", err.Error())
			assertNoSecret(t, "String", tt.give.String())
			assertNoSecret(t, "%#v", fmt.Sprintf("%#v", tt.give))
			var logged bytes.Buffer
			slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", tt.give)
			assertNoSecret(t, "LogValue", logged.String())
			b, err := json.Marshal(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			assertNoSecret(t, "json.Marshal", string(b))
		})
	}
}

func TestConfigFromEnvPrintsNothing(t *testing.T) {
	setConfigEnv(t, map[string]string{
		core.EnvClusterID:   "x",
		core.EnvOTLPHeaders: "novalue",
		"K_SERVICE":         "fn",
	}, map[string]string{"serverless_function_source_code/dtconfig.json": fixture("unknown.json")})

	stdout, stderr := os.Stdout, os.Stderr
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout, os.Stderr = w, w
	_, cfgErr := core.ConfigFromEnv()
	os.Stdout, os.Stderr = stdout, stderr
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if cfgErr == nil {
		t.Error("ConfigFromEnv() error = nil; the test needs problems")
	}
	if len(out) > 0 {
		t.Errorf("ConfigFromEnv() printed %q", out)
	}
}

// TestConfigHidesSecretsInBadValuesAndReportsConflicts: a secret inside a
// bad value is never echoed, and conflicts the exporter would refuse are
// reported with every other problem, by their variables.
func TestConfigHidesSecretsInBadValuesAndReportsConflicts(t *testing.T) {
	const pw = "s3cretPW"
	for _, tc := range []struct {
		name   string
		env    map[string]string
		want   string   // in the error
		hidden []string // never in the error nor in String()
	}{
		{
			name: "password in an unparsable base URL",
			env:  validEnv(core.EnvBaseURL, "https://user:"+pw+"@host.example/%zz"),
			want: core.EnvBaseURL + ": not an absolute URL", hidden: []string{pw, "user:"},
		},
		{
			name: "password in an unparsable traces endpoint",
			env:  validEnv(core.EnvOTLPTracesEndpoint, "https://user:"+pw+"@ho st/v1/traces"),
			want: core.EnvOTLPTracesEndpoint, hidden: []string{pw},
		},
		{
			name: "a token set as the config file path",
			env:  validEnv(core.EnvConfigFilePath, "dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX.ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
			want: core.EnvConfigFilePath + ": cannot read", hidden: []string{"ABCDEFGHIJKLMNOPQRSTUVWX"},
		},
		{
			name: "a byte-order mark before the token",
			env:  validEnv(core.EnvAuthToken, "\ufeff"+testToken),
			want: core.EnvAuthToken + ": contains whitespace, control or non-ASCII characters", hidden: []string{testToken},
		},
		{
			name: "a zero-width space in the token",
			env:  validEnv(core.EnvAuthToken, "dt0c01.SEC\u200bRET"),
			want: core.EnvAuthToken + ": contains whitespace, control or non-ASCII characters", hidden: []string{"SEC\u200bRET"},
		},
		{
			name: "an Authorization header beside the token",
			env:  validEnv(core.EnvOTLPHeaders, "Authorization=Api-Token%20"+headerToken),
			want: core.EnvOTLPHeaders + ": Authorization conflicts with " + core.EnvAuthToken, hidden: []string{testToken, headerToken},
		},
		{
			name: "a header the exporter sets",
			env:  validEnv(core.EnvOTLPHeaders, "Content-Type=text/plain"),
			want: core.EnvOTLPHeaders + `: "Content-Type" is set by the exporter`, hidden: []string{testToken},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setConfigEnv(t, tc.env, nil)
			c, err := core.ConfigFromEnv()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ConfigFromEnv() error = %v, want %q", err, tc.want)
			}
			for _, h := range tc.hidden {
				for what, s := range map[string]string{"error": err.Error(), "String()": c.String()} {
					if strings.Contains(s, h) {
						t.Errorf("%s shows %q: %s", what, h, s)
					}
				}
			}
		})
	}
}
