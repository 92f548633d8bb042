package export

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTokenSetAsTheTokenFile: a token given as TokenFile by mistake shows
// in no error and no printed Config.
func TestTokenSetAsTheTokenFile(t *testing.T) {
	const token = "dt0c01.MIXEDUPTOKENMIXE.DUPTOKENMIXEDUPTOKENMIXEDUPTOKEN"
	c := NewDefaultConfig()
	c.Endpoint = "https://abc12345.live.dynatrace.com/api/v2/otlp/v1/traces"
	c.TokenFile = token
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil for a token file that does not exist")
	}
	for what, s := range map[string]string{"error": err.Error(), "String": c.String(), "%v": fmt.Sprintf("%v", c)} {
		if strings.Contains(s, "MIXEDUPTOKEN") {
			t.Errorf("%s shows the token: %s", what, s)
		}
	}
	if _, err := New(c); err == nil || strings.Contains(err.Error(), "MIXEDUPTOKEN") {
		t.Errorf("New() = %v, want an error without the token", err)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tokenFile := file("token", " dt0c01.FILESECRET\n")
	emptyFile := file("empty", " \n\n")
	twoLines := file("twolines", "dt0c01.FILESECRET\ndt0c01.OTHERSECRET\n")
	valid := func() Config {
		c := NewDefaultConfig()
		c.Endpoint = "https://abc12345.live.dynatrace.com/api/v2/otlp/v1/traces"
		c.Token = "dt0c01.SECRET"
		return c
	}
	tests := []struct {
		name string
		give func(*Config)
		want []string // substrings of the error; none = valid
	}{
		{name: "defaults", give: func(*Config) {}},
		{name: "zero fields take defaults", give: func(c *Config) { *c = Config{Endpoint: c.Endpoint} }},
		{name: "loopback http", give: func(c *Config) { c.Endpoint = "http://localhost:14499/otlp/v1/traces" }},
		{name: "loopback ip http", give: func(c *Config) { c.Endpoint = "http://127.0.0.1:4318/v1/traces" }},
		{name: "ipv6 loopback http", give: func(c *Config) { c.Endpoint = "http://[::1]:4318/v1/traces" }},
		{name: "insecure http", give: func(c *Config) { c.Endpoint = "http://collector:4318/v1/traces"; c.Insecure = true }},
		{name: "no endpoint", give: func(c *Config) { c.Endpoint = "" }, want: []string{"endpoint: must be set"}},
		{name: "remote http", give: func(c *Config) { c.Endpoint = "http://collector:4318/v1/traces" },
			want: []string{"endpoint: http:// needs a loopback host or insecure"}},
		{name: "scheme", give: func(c *Config) { c.Endpoint = "ftp://host/x" }, want: []string{"endpoint: scheme must be https or http"}},
		{name: "user info", give: func(c *Config) { c.Endpoint = "https://user:pw@host/x" }, want: []string{"endpoint: must not carry user info"}},
		{name: "no host", give: func(c *Config) { c.Endpoint = "https:///x" }, want: []string{"endpoint: must have a host"}},
		{name: "bad token", give: func(c *Config) { c.Token = "abc\ndef" }, want: []string{"token: contains control characters"}},
		{name: "reserved header", give: func(c *Config) { c.Headers = map[string]string{"content-type": "x"} },
			want: []string{"headers: content-type is set by the exporter"}},
		{name: "authorization with token", give: func(c *Config) { c.Headers = map[string]string{"Authorization": "Bearer x"} },
			want: []string{"headers: Authorization conflicts with token"}},
		{name: "authorization without token", give: func(c *Config) {
			c.Token = ""
			c.Headers = map[string]string{"Authorization": "Bearer x"}
		}},
		{name: "token file", give: func(c *Config) { c.Token, c.TokenFile = "", tokenFile }},
		{name: "token and token file", give: func(c *Config) { c.TokenFile = tokenFile },
			want: []string{"token file: conflicts with token; set one of them"}},
		{name: "missing token file", give: func(c *Config) { c.Token, c.TokenFile = "", filepath.Join(dir, "missing") },
			want: []string{"token file: open " + filepath.Join(dir, "missing") + ": no such file or directory"}},
		{name: "token file is a directory", give: func(c *Config) { c.Token, c.TokenFile = "", dir },
			want: []string{"token file: read " + dir + ": is a directory"}},
		{name: "empty token file", give: func(c *Config) { c.Token, c.TokenFile = "", emptyFile },
			want: []string{"token file: " + emptyFile + " is empty"}},
		{name: "token file with two lines", give: func(c *Config) { c.Token, c.TokenFile = "", twoLines },
			want: []string{"token file: " + twoLines + ": the token contains control characters"}},
		{name: "authorization with token file", give: func(c *Config) {
			c.Token, c.TokenFile = "", tokenFile
			c.Headers = map[string]string{"Authorization": "Bearer x"}
		}, want: []string{"headers: Authorization conflicts with token"}},
		{name: "bad header name", give: func(c *Config) { c.Headers = map[string]string{"X Y": "v"} }, want: []string{`headers: invalid header name "X Y"`}},
		{name: "bad header value", give: func(c *Config) { c.Headers = map[string]string{"X-Y": "a\r\nb"} },
			want: []string{"headers: value of X-Y contains control characters"}},
		{name: "compression", give: func(c *Config) { c.Compression = "zstd" }, want: []string{`compression: must be "gzip" or "none", got "zstd"`}},
		{name: "level", give: func(c *Config) { c.CompressionLevel = 11 }, want: []string{"compression level: must be 1 to 9"}},
		{name: "min bytes", give: func(c *Config) { c.CompressionMinBytes = -1 }, want: []string{"compression min bytes: must be >= 0"}},
		{name: "timeout", give: func(c *Config) { c.Timeout = -time.Second }, want: []string{"timeout: must be > 0"}},
		{name: "max outage pause", give: func(c *Config) { c.MaxOutagePause = -time.Second }, want: []string{"max outage pause: must be > 0"}},
		{name: "max bytes", give: func(c *Config) { c.MaxRequestBytes = 10 }, want: []string{"max request bytes: must be at least 1024"}},
		{name: "all at once", give: func(c *Config) {
			c.Endpoint = ""
			c.Compression = "zstd"
			c.Timeout = -1
			c.MaxRequestBytes = -1
		}, want: []string{"endpoint:", "compression:", "timeout:", "max request bytes:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.give(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("Validate() leaks the token: %v", err)
			}
			if _, nerr := New(c); nerr == nil || nerr.Error() != err.Error() {
				t.Errorf("New() = %v, want the Validate error", nerr)
			}
		})
	}
}

func TestConfigRedacts(t *testing.T) {
	c := NewDefaultConfig()
	c.Endpoint = "https://abc.live.dynatrace.com/api/v2/otlp/v1/traces?api-token=QUERYSECRET"
	c.Token = "dt0c01.TOKENSECRET"
	c.Headers = map[string]string{"X-Key": "HEADERSECRET"}

	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c)
	for _, out := range []string{c.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), logged.String()} {
		for _, secret := range []string{"QUERYSECRET", "TOKENSECRET", "HEADERSECRET"} {
			if strings.Contains(out, secret) {
				t.Errorf("%q leaks %s", out, secret)
			}
		}
		if !strings.Contains(out, "abc.live.dynatrace.com") || !strings.Contains(out, "X-Key") {
			t.Errorf("%q lost the endpoint host or header name", out)
		}
	}
}

func TestExporterStringRedacts(t *testing.T) {
	cfg := NewDefaultConfig()
	cfg.Endpoint = "https://abc.live.dynatrace.com/api/v2/otlp/v1/traces"
	cfg.Token = "dt0c01.TOKENSECRET"
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown(t.Context())
	for _, out := range []string{fmt.Sprint(e), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
		if strings.Contains(out, "TOKENSECRET") || !strings.Contains(out, "abc.live.dynatrace.com") {
			t.Errorf("printed exporter: %q", out)
		}
	}
}
