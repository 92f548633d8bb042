package export

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/gcftrace/gcftrace/ports"
)

// Defaults applied by [NewDefaultConfig] and, for zero fields, by [New].
const (
	DefaultCompression      = CompressionGzip
	DefaultCompressionLevel = 1 // gzip.BestSpeed
	DefaultTimeout          = 10 * time.Second

	// DefaultCompressionMinBytes is the smallest request body that is
	// compressed. A body below it takes one or two TCP segments either way,
	// which leave together, so gzip would save no round trip and cost more
	// CPU than the whole rest of the export: a single invocation's span
	// (about 1.4 KB) is sent as is, a batch of a few spans is compressed.
	DefaultCompressionMinBytes = 2048

	// DefaultOutagePause is the first fail-fast pause after an outage;
	// DefaultMaxOutagePause caps it as it doubles.
	DefaultOutagePause    = time.Second
	DefaultMaxOutagePause = time.Minute

	// DefaultMaxRequestBytes is Dynatrace's OTLP trace request limit of 8 MB,
	// read as decimal megabytes so that it holds whichever way the limit is
	// counted. It bounds each request body before and after compression.
	DefaultMaxRequestBytes = 8_000_000

	// MinMaxRequestBytes is the smallest accepted Config.MaxRequestBytes.
	MinMaxRequestBytes = 1024
)

// Compression values for Config.Compression.
const (
	CompressionGzip = "gzip"
	CompressionNone = "none"
)

// Config configures the OTLP/HTTP exporter. Start from [NewDefaultConfig];
// zero fields take the documented defaults.
type Config struct {
	// Endpoint is the full URL spans are POSTed to, for Dynatrace SaaS
	// https://{env-id}.live.dynatrace.com/api/v2/otlp/v1/traces. Plain
	// http:// is allowed only for loopback hosts (a local OneAgent or
	// Collector) or when Insecure is set.
	Endpoint string

	// Token is the Dynatrace API token (scope openTelemetryTrace.ingest),
	// sent as "Authorization: Api-Token <token>". Empty sends no
	// Authorization header. It is never logged and never part of an error.
	Token string

	// TokenFile names a file holding the API token instead of Token, such
	// as a Secret Manager secret mounted as a volume on Cloud Run or Cloud
	// Functions; set one of the two. The file is read by Validate and New
	// (surrounding whitespace and newlines trimmed; it must not be empty),
	// and read again after the endpoint refused the token (401 or 403) and
	// while export pauses because of it, at most once a second: when it
	// then holds another token, the exporter switches to it and export
	// resumes at once, so that a rotated secret recovers without a
	// restart. Outside such a pause the file is not read again.
	TokenFile string

	// Headers are extra request headers. Their values are redacted when the
	// Config is printed or logged. Content-Type, Content-Encoding,
	// Content-Length, Host and, when Token or TokenFile is set,
	// Authorization are reserved.
	Headers map[string]string

	// Compression is CompressionGzip (default; Dynatrace recommends it) or
	// CompressionNone.
	Compression string

	// CompressionLevel is the gzip level, 1 (fastest) to 9 (smallest);
	// 0 means DefaultCompressionLevel.
	CompressionLevel int

	// CompressionMinBytes is the size from which a request body is
	// compressed when Compression is gzip; smaller bodies are sent
	// uncompressed, without Content-Encoding (every OTLP receiver,
	// Dynatrace included, accepts both). 0 means DefaultCompressionMinBytes;
	// 1 compresses every body.
	CompressionMinBytes int

	// Timeout bounds one ExportSpans call, retries included (default 10s).
	// The caller's context deadline, when sooner, wins.
	Timeout time.Duration

	// MaxRequestBytes bounds every request body, before and after
	// compression (default DefaultMaxRequestBytes, at least
	// MinMaxRequestBytes). Larger batches are split; a span that does not
	// fit alone is dropped.
	MaxRequestBytes int

	// OutagePause is the first pause after an export finds the endpoint
	// down (refused, hanging, 502/503/504 to the end of its budget):
	// exports fail fast until it has passed, then one probes; the pause
	// doubles with every failed probe, up to MaxOutagePause. 0 means
	// DefaultOutagePause; a negative value turns the fail-fast pause off,
	// so every export retries to its budget.
	OutagePause time.Duration

	// MaxOutagePause caps the doubling pause: while the endpoint stays
	// down, it is probed at least this often, so spans wait at most about
	// this long after it recovers. 0 means DefaultMaxOutagePause; below
	// OutagePause, OutagePause is the cap.
	MaxOutagePause time.Duration

	// Insecure allows an http:// Endpoint on a host that is not loopback.
	// It never turns TLS verification off.
	Insecure bool

	_ struct{} // forbid unkeyed literals
}

// NewDefaultConfig returns a Config with every default filled in; Endpoint
// and Token are left to the caller.
func NewDefaultConfig() Config {
	return Config{
		Compression:         DefaultCompression,
		CompressionLevel:    DefaultCompressionLevel,
		CompressionMinBytes: DefaultCompressionMinBytes,
		Timeout:             DefaultTimeout,
		MaxRequestBytes:     DefaultMaxRequestBytes,
		OutagePause:         DefaultOutagePause,
		MaxOutagePause:      DefaultMaxOutagePause,
	}
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Compression == "" {
		c.Compression = DefaultCompression
	}
	if c.CompressionLevel == 0 {
		c.CompressionLevel = DefaultCompressionLevel
	}
	if c.CompressionMinBytes == 0 {
		c.CompressionMinBytes = DefaultCompressionMinBytes
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.OutagePause == 0 {
		c.OutagePause = DefaultOutagePause
	}
	if c.MaxOutagePause == 0 {
		c.MaxOutagePause = DefaultMaxOutagePause
	}
	return c
}

// Validate reports every problem of c at once, one "field: problem" line
// each. Zero fields are valid: they take the defaults. It reads TokenFile,
// when set: a file that cannot be read, an empty one, or one whose token
// cannot be sent as a header value is an error. Secrets never appear in the
// error.
func (c Config) Validate() error {
	_, err := c.validate()
	return err
}

// validate is Validate; it also returns the token to send: Token, or the
// content of TokenFile.
func (c Config) validate() (token string, err error) {
	var errs []error
	errs = append(errs, validateEndpoint(c.Endpoint, c.Insecure)...)
	token = c.Token
	switch {
	case c.Token != "" && c.TokenFile != "":
		errs = append(errs, errors.New("token file: conflicts with token; set one of them"))
	case c.Token != "":
		if !validHeaderValue(c.Token) {
			errs = append(errs, errors.New("token: contains control characters or surrounding spaces"))
		}
	case c.TokenFile != "":
		var terr error
		if token, terr = readTokenFile(c.TokenFile); terr != nil {
			errs = append(errs, fmt.Errorf("token file: %w", terr))
		}
	}
	auth := c.Token != "" || c.TokenFile != ""
	names := make([]string, 0, len(c.Headers))
	for name := range c.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		switch {
		case !validHeaderName(name):
			errs = append(errs, fmt.Errorf("headers: invalid header name %q", name))
		case ports.IsReservedHeader(name):
			errs = append(errs, fmt.Errorf("headers: %s is set by the exporter", name))
		case auth && strings.EqualFold(name, "Authorization"):
			errs = append(errs, errors.New("headers: Authorization conflicts with token; set one of them"))
		case !validHeaderValue(c.Headers[name]):
			errs = append(errs, fmt.Errorf("headers: value of %s contains control characters or surrounding spaces", name))
		}
	}
	switch c.Compression {
	case "", CompressionGzip, CompressionNone:
	default:
		errs = append(errs, fmt.Errorf("compression: must be %q or %q, got %q", CompressionGzip, CompressionNone, c.Compression))
	}
	if c.CompressionLevel != 0 && (c.CompressionLevel < gzip.BestSpeed || c.CompressionLevel > gzip.BestCompression) {
		errs = append(errs, fmt.Errorf("compression level: must be 1 to 9 (0 = default), got %d", c.CompressionLevel))
	}
	if c.CompressionMinBytes < 0 {
		errs = append(errs, fmt.Errorf("compression min bytes: must be >= 0 (0 = default %d, 1 = compress every body), got %d",
			DefaultCompressionMinBytes, c.CompressionMinBytes))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: must be > 0 (0 = default %s), got %s", DefaultTimeout, c.Timeout))
	}
	if c.MaxRequestBytes != 0 && c.MaxRequestBytes < MinMaxRequestBytes {
		errs = append(errs, fmt.Errorf("max request bytes: must be at least %d (0 = default %d), got %d",
			MinMaxRequestBytes, DefaultMaxRequestBytes, c.MaxRequestBytes))
	}
	if c.MaxOutagePause < 0 {
		errs = append(errs, fmt.Errorf("max outage pause: must be > 0 (0 = default %s), got %s", DefaultMaxOutagePause, c.MaxOutagePause))
	}
	if err = errors.Join(errs...); err != nil {
		return "", err
	}
	return token, nil
}

// errEmptyTokenFile reports a token file with nothing but whitespace.
var errEmptyTokenFile = errors.New("is empty")

// readTokenFile returns the token in the file at path, surrounding
// whitespace and newlines trimmed. Its errors name the file, never its
// content.
func readTokenFile(path string) (string, error) {
	shown := shownPath(path)
	b, err := os.ReadFile(path)
	if err != nil {
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			return "", fmt.Errorf("%s %s: %w", pe.Op, shown, pe.Err) // the path as shown, or not at all
		}
		return "", fmt.Errorf("read %s: %w", shown, err)
	}
	token := strings.TrimSpace(string(b))
	switch {
	case token == "":
		return "", fmt.Errorf("%s %w", shown, errEmptyTokenFile)
	case !validHeaderValue(token):
		return "", fmt.Errorf("%s: the token contains control characters", shown)
	}
	return token, nil
}

// shownPath returns a token file path as errors, logs and String show it:
// as is when it looks like a file name (no Dynatrace token prefix, and a
// path separator or fewer than 16 characters, shorter than any API token),
// otherwise redacted, for it may be the token itself, set as the file by
// mistake.
func shownPath(path string) string {
	if !strings.Contains(path, "dt0c") && (strings.ContainsAny(path, `/\`) || len(path) < 16) {
		return path
	}
	return redacted
}

func validateEndpoint(endpoint string, insecure bool) []error {
	if endpoint == "" {
		return []error{errors.New("endpoint: must be set")}
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		// url.Error repeats the input; the endpoint carries no secret we
		// know of, but its query might, so only the reason is kept.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return []error{fmt.Errorf("endpoint: not a URL: %w", err)}
	}
	var errs []error
	switch u.Scheme {
	case "https":
	case "http":
		if !insecure && !isLoopback(u.Hostname()) {
			errs = append(errs, fmt.Errorf("endpoint: http:// needs a loopback host or insecure: true, got host %q", u.Hostname()))
		}
	default:
		errs = append(errs, fmt.Errorf("endpoint: scheme must be https or http, got %q", u.Scheme))
	}
	if u.Host == "" || u.Hostname() == "" {
		errs = append(errs, errors.New("endpoint: must have a host"))
	}
	if u.User != nil {
		errs = append(errs, errors.New("endpoint: must not carry user info; use token or headers"))
	}
	if u.Fragment != "" {
		errs = append(errs, errors.New("endpoint: must not have a fragment"))
	}
	return errs
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s can be sent as a header value as is.
func validHeaderValue(s string) bool {
	if s != strings.TrimSpace(s) {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

const redacted = "[REDACTED]"

// redactURL returns u's text without user info or query values.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparsable URL]"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = redacted
	}
	u.Fragment = ""
	return u.String()
}

// String returns c in one line with the token, header values and query
// values redacted.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "export.Config{Endpoint: %s", redactURL(c.Endpoint))
	if c.Token != "" {
		b.WriteString(", Token: " + redacted)
	}
	if c.TokenFile != "" {
		b.WriteString(", TokenFile: " + shownPath(c.TokenFile))
	}
	if len(c.Headers) > 0 {
		b.WriteString(", Headers: {")
		for i, name := range sortedKeys(c.Headers) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(name + ": " + redacted)
		}
		b.WriteString("}")
	}
	fmt.Fprintf(&b, ", Compression: %s, CompressionLevel: %d, CompressionMinBytes: %d, Timeout: %s, MaxRequestBytes: %d, OutagePause: %s, MaxOutagePause: %s, Insecure: %t}",
		c.Compression, c.CompressionLevel, c.CompressionMinBytes, c.Timeout, c.MaxRequestBytes, c.OutagePause, c.MaxOutagePause, c.Insecure)
	return b.String()
}

// GoString is String, so that %#v redacts as well.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer with the token, header values and query
// values redacted.
func (c Config) LogValue() slog.Value {
	token := ""
	if c.Token != "" {
		token = redacted
	}
	return slog.GroupValue(
		slog.String("endpoint", redactURL(c.Endpoint)),
		slog.String("token", token),
		slog.String("token_file", shownPath(c.TokenFile)),
		slog.Any("headers", sortedKeys(c.Headers)),
		slog.String("compression", c.Compression),
		slog.Int("compression_level", c.CompressionLevel),
		slog.Int("compression_min_bytes", c.CompressionMinBytes),
		slog.Duration("timeout", c.Timeout),
		slog.Int("max_request_bytes", c.MaxRequestBytes),
		slog.Duration("outage_pause", c.OutagePause),
		slog.Duration("max_outage_pause", c.MaxOutagePause),
		slog.Bool("insecure", c.Insecure),
	)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
