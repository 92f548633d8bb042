package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"net/netip"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.opentelemetry.io/otel/attribute"

	"github.com/gcftrace/gcftrace/ports"
)

// Dynatrace environment variables read by ConfigFromEnv. Each one overrides
// the dtconfig.json key named in its comment.
const (
	EnvTenant             = "DT_TENANT"                     // Tenant
	EnvClusterID          = "DT_CLUSTER_ID"                 // ClusterID
	EnvBaseURL            = "DT_CONNECTION_BASE_URL"        // Connection.BaseUrl
	EnvAuthToken          = "DT_CONNECTION_AUTH_TOKEN"      // Connection.AuthToken
	EnvAuthTokenFile      = "DT_CONNECTION_AUTH_TOKEN_FILE" // Connection.AuthTokenFile (gcftrace's own key; read again after a 401/403)
	EnvLoggingDestination = "DT_LOGGING_DESTINATION"        // Logging.Destination
	EnvWarmUp             = "DT_CONNECTION_WARM_UP"         // Connection.WarmUp (gcftrace's own key)
	EnvFlushOnExit        = "DT_FLUSH_ON_EXIT"              // FlushOnExit (gcftrace's own key)
	EnvFlushTimeout       = "DT_FLUSH_TIMEOUT_MS"           // FlushTimeoutMs (gcftrace's own key)
	EnvRootSpansPerMinute = "DT_ROOT_SPANS_PER_MINUTE"      // RootSpansPerMinute (gcftrace's own key)
	EnvResourceWait       = "DT_RESOURCE_WAIT_MS"           // ResourceWaitMs (gcftrace's own key)
	EnvSpanIdentity       = "DT_SPAN_IDENTITY"              // SpanIdentity (gcftrace's own key)

	// EnvConfigFilePath names the dtconfig.json to read, as in Dynatrace's
	// Go packages. It wins over EnvConfigFile.
	EnvConfigFilePath = "DT_CONFIG_FILE_PATH"
	// EnvConfigFile names the dtconfig.json to read, as in Dynatrace's
	// Python packages.
	EnvConfigFile = "DT_CONFIG_FILE"
)

// OpenTelemetry environment variables read by ConfigFromEnv. A
// trace-specific variable wins over its generic counterpart.
const (
	EnvSDKDisabled           = "OTEL_SDK_DISABLED"
	EnvServiceName           = "OTEL_SERVICE_NAME"
	EnvResourceAttributes    = "OTEL_RESOURCE_ATTRIBUTES"
	EnvOTLPEndpoint          = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvOTLPTracesEndpoint    = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvOTLPHeaders           = "OTEL_EXPORTER_OTLP_HEADERS"
	EnvOTLPTracesHeaders     = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
	EnvOTLPCompression       = "OTEL_EXPORTER_OTLP_COMPRESSION"
	EnvOTLPTracesCompression = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"
	EnvOTLPTimeout           = "OTEL_EXPORTER_OTLP_TIMEOUT"
	EnvOTLPTracesTimeout     = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
	EnvOTLPProtocol          = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvOTLPTracesProtocol    = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
)

const (
	// envKService is set by the Cloud Functions runtime; it enables the
	// serverless_function_source_code lookup.
	envKService = "K_SERVICE"

	serverlessConfigPath = "./serverless_function_source_code/dtconfig.json"
	localConfigPath      = "./dtconfig.json"

	// dynatraceTracesPath is appended to DT_CONNECTION_BASE_URL.
	dynatraceTracesPath = "/api/v2/otlp/v1/traces"

	redactedValue = "[redacted]"
)

// DynatraceConfig identifies the Dynatrace tenant and cluster whose "Forward
// Tag 4" trace context gcftrace reads and writes. The zero value turns
// Dynatrace context off: propagation is plain W3C.
type DynatraceConfig struct {
	Tenant    string // DT_TENANT, e.g. "abc12345"
	ClusterID int32  // DT_CLUSTER_ID, may be negative; 0 = unset
}

// Enabled reports whether both tenant and cluster are configured.
func (d DynatraceConfig) Enabled() bool { return d.Tenant != "" && d.ClusterID != 0 }

// Config is everything gcftrace reads from DT_* and OTEL_* variables and
// dtconfig.json. Use ConfigFromEnv or NewDefaultConfig.
//
// Config never shows its secrets: String, GoString, Format (every fmt verb),
// LogValue and MarshalJSON print Token and every header value as
// "[redacted]", and hide the token in TokenFile wherever else it might
// appear (the token ConfigFromEnv read; for a Config built otherwise, they
// read the file).
type Config struct {
	Dynatrace DynatraceConfig

	BaseURL            string // DT_CONNECTION_BASE_URL, trailing "/" stripped
	Token              string // DT_CONNECTION_AUTH_TOKEN; never shown, see above
	TokenFile          string // DT_CONNECTION_AUTH_TOKEN_FILE: a file holding the token instead of Token
	LoggingDestination string // DT_LOGGING_DESTINATION: off, stdout or stderr

	Disabled           bool                 // OTEL_SDK_DISABLED
	ServiceName        string               // OTEL_SERVICE_NAME
	ResourceAttributes []attribute.KeyValue // OTEL_RESOURCE_ATTRIBUTES

	Endpoint    string            // the OTLP traces URL, resolved
	Headers     map[string]string // OTEL_EXPORTER_OTLP_(TRACES_)HEADERS, canonical keys
	Compression string            // "gzip" or "none"
	Timeout     time.Duration     // OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT

	// WarmUp opens the connection to the endpoint at setup, off the
	// invocation path, so that the first flush does not pay for DNS, TCP
	// and TLS; it sends one empty export, which also checks the token at
	// once (DT_CONNECTION_WARM_UP, default true).
	WarmUp bool

	FlushOnExit  bool          // DT_FLUSH_ON_EXIT, default true
	FlushTimeout time.Duration // DT_FLUSH_TIMEOUT_MS, default 2s

	// RootSpansPerMinute is the sampler's budget of new traces per minute
	// and instance (DT_ROOT_SPANS_PER_MINUTE); 0, the default, samples every
	// trace that no Dynatrace tag marks as ignored.
	RootSpansPerMinute int

	// ResourceWait caps how long the first flush with spans waits for the
	// GCP metadata lookups still under way at cold start, so that its
	// spans carry the complete resource (DT_RESOURCE_WAIT_MS, default
	// DefaultResourceWait); it never takes more than half of the flush
	// budget, and 0 never waits. No other flush ever waits.
	ResourceWait time.Duration

	// SpanIdentity copies the function's identity keys of the resource
	// (cloud.*, faas.id, faas.name, faas.version, faas.instance, gcp.*)
	// onto every span as well, for backends that read them there
	// (DT_SPAN_IDENTITY, default false).
	SpanIdentity bool

	Source   string   // the dtconfig.json read, "" when none
	Warnings []string // problems that did not stop the configuration

	// tokenFromFile is the token ConfigFromEnv read from TokenFile, kept
	// only to be hidden wherever c is shown.
	tokenFromFile string

	_ struct{} // forbid unkeyed literals
}

var (
	_ slog.LogValuer = Config{}
	_ fmt.Formatter  = Config{}
	_ fmt.GoStringer = Config{}
	_ json.Marshaler = Config{}
)

// NewDefaultConfig returns a Config with the defaults: gzip compression, a
// 10 s export timeout, a flush after every invocation bounded by
// DefaultFlushTimeout, and logging off. It has no endpoint and no token, so
// it does not Validate until they are set.
func NewDefaultConfig() Config {
	return Config{
		LoggingDestination: "off",
		Compression:        "gzip",
		Timeout:            10 * time.Second,
		WarmUp:             true,
		FlushOnExit:        true,
		FlushTimeout:       DefaultFlushTimeout,
		ResourceWait:       DefaultResourceWait,
	}
}

// ConfigFromEnv builds a Config from the process environment and the first
// dtconfig.json found. It returns the Config, with Warnings filled, and an
// error joining every problem found (errors.Join), each naming the variable
// or file key it is about, as in
//
//	DT_CONNECTION_BASE_URL: not an absolute URL: "foo"
//
// It prints nothing. Empty variables count as unset, and surrounding
// whitespace is trimmed from every value.
//
// Keys (env variable, dtconfig.json key, default, meaning):
//
//	DT_TENANT                 Tenant               -      fw4 tenant, [a-zA-Z0-9-]+; needs DT_CLUSTER_ID
//	DT_CLUSTER_ID             ClusterID            -      fw4 cluster, non-zero int32; needs DT_TENANT
//	DT_CONNECTION_BASE_URL    Connection.BaseUrl   -      http(s) URL of the environment; the endpoint
//	                                                      is <base>/api/v2/otlp/v1/traces
//	DT_CONNECTION_AUTH_TOKEN  Connection.AuthToken -      API token (scope openTelemetryTrace.ingest)
//	DT_CONNECTION_AUTH_TOKEN_FILE
//	                          Connection.AuthTokenFile
//	                                               -      a file holding the API token instead, e.g. a
//	                                                      secret mounted as a volume (gcftrace's own
//	                                                      key; set the token or the file); read again
//	                                                      after a 401/403, so that a rotated secret
//	                                                      recovers without a restart
//	DT_CONNECTION_WARM_UP     Connection.WarmUp    true   open the connection at setup with one empty
//	                                                      export, so that the first flush does not pay
//	                                                      the handshake (gcftrace's own key)
//	DT_LOGGING_DESTINATION    Logging.Destination  off    off, stdout or stderr
//	DT_FLUSH_ON_EXIT          FlushOnExit          true   flush after every invocation
//	DT_FLUSH_TIMEOUT_MS       FlushTimeoutMs       2000   flush budget in milliseconds
//	DT_RESOURCE_WAIT_MS       ResourceWaitMs       250    the first flush waits at most this long (and at
//	                                                      most half its budget) for the metadata lookups;
//	                                                      0 never waits
//	DT_SPAN_IDENTITY          SpanIdentity         false  copy the function's identity keys onto every span
//	DT_ROOT_SPANS_PER_MINUTE  RootSpansPerMinute   0      sampling budget of new traces per minute;
//	                                                      0 samples all
//	OTEL_SDK_DISABLED                              false  "true" turns tracing off
//	OTEL_SERVICE_NAME                              -      service.name
//	OTEL_RESOURCE_ATTRIBUTES                       -      k=v,k2=v2, values URL-decoded
//	OTEL_EXPORTER_OTLP_TRACES_ENDPOINT             -      traces URL, used as is
//	OTEL_EXPORTER_OTLP_ENDPOINT                    -      base URL, /v1/traces appended
//	OTEL_EXPORTER_OTLP_[TRACES_]HEADERS            -      k=v,k2=v2, values URL-decoded
//	OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION        gzip   gzip or none
//	OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT            10000  export timeout in milliseconds
//	OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL           -      only http/protobuf is supported
//
// A DT_* variable wins over its dtconfig.json key. The file is, in order:
// $DT_CONFIG_FILE_PATH, $DT_CONFIG_FILE,
// ./serverless_function_source_code/dtconfig.json (only when K_SERVICE is
// set, as on Cloud Functions) and ./dtconfig.json; the first that exists is
// used and Source names it. A file named by a variable must exist; any file
// read must be valid JSON. Numbers and booleans may also be given as JSON
// strings. Dynatrace's other documented keys (AgentActive, Testability,
// RUM, Debug, OpenTelemetry, Sensors, …) are accepted and ignored; unknown
// keys are warnings. File keys match case-insensitively, as in Dynatrace's
// Go packages. Header names are canonicalized ("x-key" becomes "X-Key").
//
// The endpoint is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
// OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces", else DT_CONNECTION_BASE_URL +
// "/api/v2/otlp/v1/traces". Unless tracing is disabled, an endpoint is
// required, and so is a token (DT_CONNECTION_AUTH_TOKEN or
// DT_CONNECTION_AUTH_TOKEN_FILE, not both) unless the headers carry an
// Authorization header or the endpoint is loopback (a local OneAgent or
// collector). The token file is read here and must hold a token; surrounding
// whitespace and newlines are trimmed, and a relative path is taken from the
// working directory.
//
// Malformed DT_* and dtconfig.json values and malformed endpoint URLs are
// errors. Other malformed OTEL_* values are warnings, as in the OpenTelemetry
// SDK: a bad header or resource attribute pair is skipped; a bad
// compression, timeout or OTEL_SDK_DISABLED value leaves the value from the
// generic variable or the default. The trace-specific headers win per
// header.
//
// ConfigFromEnv runs the checks of [Config.Validate].
func ConfigFromEnv() (Config, error) {
	l := &envLoader{chk: newConfigCheck(), cfg: NewDefaultConfig()}
	l.loadFile()
	l.loadSecrets() // before any message can echo a value
	l.reportFileKeys()
	l.loadDynatrace()
	l.loadOTel()
	l.resolveEndpoint()
	c := l.cfg
	c.validate(l.chk)
	l.chk.scrubAll()
	if len(l.chk.warns) > 0 {
		c.Warnings = l.chk.warns
	}
	return c, errors.Join(l.chk.errs...)
}

// Validate reports every problem of c at once, joined with errors.Join, each
// naming the variable the field is read from (the Endpoint as
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). Endpoint must be set unless Disabled;
// ConfigFromEnv derives it from BaseURL. It reads TokenFile, when set, which
// must hold a token. Validate never shows Token, the token in TokenFile or
// header values.
func (c Config) Validate() error {
	chk := newConfigCheck()
	if c.TokenFile != "" {
		c.tokenFromFile = chk.readTokenFile(c.TokenFile)
	}
	chk.addSecrets(c.secrets()...)
	c.validate(chk)
	return errors.Join(chk.errs...)
}

// configField names the fields problems are reported about.
type configField int

const (
	fieldTenant configField = iota
	fieldClusterID
	fieldBaseURL
	fieldToken
	fieldTokenFile
	fieldLogging
	fieldEndpoint
	fieldHeaders
	fieldCompression
	fieldTimeout
	fieldWarmUp
	fieldFlushOnExit
	fieldFlushTimeout
	fieldRootSpans
	fieldResourceWait
	fieldSpanIdentity
	numConfigFields
)

// configCheck collects the problems of one ConfigFromEnv or Validate call.
type configCheck struct {
	names   [numConfigFields]string // how problems name each field
	bad     [numConfigFields]bool   // a problem was reported while reading it
	secrets []string                // never echoed
	errs    []error
	warns   []string
}

func newConfigCheck() *configCheck {
	return &configCheck{names: [numConfigFields]string{
		fieldTenant:       EnvTenant,
		fieldClusterID:    EnvClusterID,
		fieldBaseURL:      EnvBaseURL,
		fieldToken:        EnvAuthToken,
		fieldTokenFile:    EnvAuthTokenFile,
		fieldLogging:      EnvLoggingDestination,
		fieldEndpoint:     EnvOTLPTracesEndpoint,
		fieldHeaders:      EnvOTLPHeaders,
		fieldCompression:  EnvOTLPCompression,
		fieldTimeout:      EnvOTLPTimeout,
		fieldWarmUp:       EnvWarmUp,
		fieldFlushOnExit:  EnvFlushOnExit,
		fieldFlushTimeout: EnvFlushTimeout,
		fieldRootSpans:    EnvRootSpansPerMinute,
		fieldResourceWait: EnvResourceWait,
		fieldSpanIdentity: EnvSpanIdentity,
	}}
}

// errorf reports a problem with field f. Values in args must go through
// quote or quoteURL.
func (k *configCheck) errorf(f configField, format string, args ...any) {
	k.errs = append(k.errs, errors.New(k.names[f]+": "+fmt.Sprintf(format, args...)))
	k.bad[f] = true
}

// fail reports a problem that is not about one field.
func (k *configCheck) fail(err error) { k.errs = append(k.errs, err) }

// warnf records a warning about name. Values in args must go through quote
// or quoteURL.
func (k *configCheck) warnf(name, format string, args ...any) {
	k.warns = append(k.warns, name+": "+fmt.Sprintf(format, args...))
}

func (k *configCheck) addSecrets(s ...string) {
	for _, v := range s {
		if v != "" {
			k.secrets = append(k.secrets, v)
		}
	}
	// Longest first, so that a secret containing another is hidden whole.
	slices.SortFunc(k.secrets, func(a, b string) int { return len(b) - len(a) })
}

// scrubAll hides in every message the secrets learnt after it was written:
// the config file is read before the secrets are known.
func (k *configCheck) scrubAll() {
	for i, err := range k.errs {
		if s := k.scrub(err.Error()); s != err.Error() {
			k.errs[i] = errors.New(s)
		}
	}
	for i, w := range k.warns {
		k.warns[i] = k.scrub(w)
	}
}

// quote returns v quoted for a message, with every secret redacted.
func (k *configCheck) quote(v string) string { return strconv.Quote(k.scrub(v)) }

// quoteURL is quote for URLs: it also hides a password in the user info.
func (k *configCheck) quoteURL(v string) string { return k.quote(redactURL(v)) }

// scrub replaces every secret in v, ignoring ASCII case.
func (k *configCheck) scrub(v string) string {
	for _, s := range k.secrets {
		v = replaceFold(v, s, redactedValue)
	}
	return v
}

// replaceFold replaces every old in s with repl, ignoring ASCII case.
func replaceFold(s, old, repl string) string {
	lowerS, lowerOld := asciiLower(s), asciiLower(old)
	i := strings.Index(lowerS, lowerOld)
	if i < 0 {
		return s
	}
	var b strings.Builder
	for ; i >= 0; i = strings.Index(lowerS, lowerOld) {
		b.WriteString(s[:i])
		b.WriteString(repl)
		s, lowerS = s[i+len(old):], lowerS[i+len(old):]
	}
	b.WriteString(s)
	return b.String()
}

// asciiLower lower-cases ASCII letters only, so that byte offsets stay put.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// validate runs the per-field checks of Validate, skipping fields whose
// value already had a problem while being read.
func (c Config) validate(k *configCheck) {
	d := c.Dynatrace
	if d.Tenant != "" && !k.bad[fieldTenant] && !validTenant(d.Tenant) {
		k.errorf(fieldTenant, "must match [a-zA-Z0-9-]+, got %s", k.quote(d.Tenant))
	}
	switch {
	case d.Tenant != "" && d.ClusterID == 0 && !k.bad[fieldClusterID]:
		k.errorf(fieldClusterID, "required when %s is set", k.names[fieldTenant])
	case d.Tenant == "" && d.ClusterID != 0 && !k.bad[fieldTenant]:
		k.errorf(fieldTenant, "required when %s is set", k.names[fieldClusterID])
	}

	if c.BaseURL != "" && !k.bad[fieldBaseURL] {
		if problem := checkHTTPURL(c.BaseURL); problem != "" {
			k.errorf(fieldBaseURL, "%s: %s", problem, k.quoteURL(c.BaseURL))
		}
	}

	switch c.LoggingDestination {
	case "off", "stdout", "stderr":
	default:
		if !k.bad[fieldLogging] {
			k.errorf(fieldLogging, "want off, stdout or stderr, got %s", k.quote(c.LoggingDestination))
		}
	}

	// endpoint is the URL spans go to, "" when it is unknown.
	var endpoint string
	baseBad := k.bad[fieldBaseURL] // unreadable or not a URL
	switch {
	case k.bad[fieldEndpoint]:
	case c.Endpoint != "":
		if problem := checkHTTPURL(c.Endpoint); problem != "" {
			k.errorf(fieldEndpoint, "%s: %s", problem, k.quoteURL(c.Endpoint))
		} else {
			endpoint = c.Endpoint
		}
	case c.Disabled || baseBad:
	case c.BaseURL == "":
		k.errorf(fieldBaseURL, "required (or set %s)", EnvOTLPEndpoint)
	case checkHTTPURL(c.BaseURL) == "":
		k.errorf(fieldEndpoint, "required; ConfigFromEnv derives it from %s", k.names[fieldBaseURL])
		endpoint = c.BaseURL
	}
	// An endpoint that was given but is unusable can't tell whether a token
	// is needed.
	endpointUnusable := endpoint == "" && (k.bad[fieldEndpoint] || baseBad || c.BaseURL != "")

	// A token is sent as a header value: printable ASCII without spaces.
	// A byte-order mark or a zero-width space pasted with it would only
	// come back as a 401.
	badToken := func(s string) bool {
		return strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' })
	}
	switch {
	case c.Token != "" && c.TokenFile != "":
		k.errorf(fieldTokenFile, "conflicts with %s; set one of them", k.names[fieldToken])
	case k.bad[fieldToken] || k.bad[fieldTokenFile]: // reported while reading
	case c.Token != "":
		if badToken(c.Token) {
			k.errorf(fieldToken, "contains whitespace, control or non-ASCII characters")
		}
	case c.TokenFile != "":
		if badToken(c.tokenFromFile) {
			k.errorf(fieldTokenFile, "the token in %s contains whitespace, control or non-ASCII characters", k.quote(c.TokenFile))
		}
	case c.Disabled, endpointUnusable, hasAuthorization(c.Headers), isLoopbackURL(endpoint):
	default:
		k.errorf(fieldToken, "required (or %s, or an Authorization header in %s)", k.names[fieldTokenFile], EnvOTLPHeaders)
	}

	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		if !validHeaderName(name) {
			k.errorf(fieldHeaders, "invalid header name")
			continue
		}
		if strings.ContainsFunc(c.Headers[name], isControl) {
			k.errorf(fieldHeaders, "%s: value contains control characters", k.quote(name))
		}
		switch {
		case ports.IsReservedHeader(name):
			k.errorf(fieldHeaders, "%s is set by the exporter", k.quote(name))
		case strings.EqualFold(name, "Authorization") && (c.Token != "" || c.TokenFile != ""):
			k.errorf(fieldHeaders, "Authorization conflicts with %s; set one of them", k.names[fieldToken])
		}
	}

	switch c.Compression {
	case "gzip", "none":
	default:
		k.errorf(fieldCompression, "want gzip or none, got %s", k.quote(c.Compression))
	}
	if c.Timeout <= 0 && !k.bad[fieldTimeout] {
		k.errorf(fieldTimeout, "must be > 0, got %s", c.Timeout)
	}
	if (c.FlushTimeout < 0 || c.FlushOnExit && c.FlushTimeout == 0) && !k.bad[fieldFlushTimeout] {
		k.errorf(fieldFlushTimeout, "must be > 0, got %s", c.FlushTimeout)
	}
	if c.RootSpansPerMinute < 0 && !k.bad[fieldRootSpans] {
		k.errorf(fieldRootSpans, "must be >= 0, got %d", c.RootSpansPerMinute)
	}
	if c.ResourceWait < 0 && !k.bad[fieldResourceWait] {
		k.errorf(fieldResourceWait, "must be >= 0, got %s", c.ResourceWait)
	}
}

// envLoader reads the environment and the dtconfig.json into cfg.
type envLoader struct {
	chk  *configCheck
	cfg  Config
	file *configFile // nil when none was read
}

// env returns the trimmed value of the variable name.
func (l *envLoader) env(name string) string { return strings.TrimSpace(os.Getenv(name)) }

// get returns the value of a Dynatrace key and whether it is set: the
// variable env, else key of the dtconfig.json. It records where the value
// came from for messages about f. A file value must be a JSON string when
// text is set, else a string, number or boolean.
func (l *envLoader) get(f configField, env, key string, text bool) (string, bool) {
	if v := l.env(env); v != "" {
		l.chk.names[f] = env
		return v, true
	}
	if l.file == nil {
		return "", false
	}
	raw, ok := l.file.values[key]
	if !ok {
		return "", false
	}
	l.chk.names[f] = l.file.label(key)
	switch kind := jsonKind(raw); {
	case kind == "null":
		return "", false
	case kind == "string":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			l.chk.errorf(f, "want a string")
			return "", false
		}
		s = strings.TrimSpace(s)
		return s, s != ""
	case !text && (kind == "number" || kind == "boolean"):
		return string(raw), true
	case text:
		l.chk.errorf(f, "want a string, got %s", kind)
	default:
		l.chk.errorf(f, "want a string, number or boolean, got %s", kind)
	}
	return "", false
}

// loadSecrets reads the token and notes every value that must not be shown:
// the token (also a file token that the variable overrides), the token in
// the token file and the Authorization values of the OTEL_* header
// variables, decoded or not.
func (l *envLoader) loadSecrets() {
	k := l.chk
	l.cfg.Token, _ = l.get(fieldToken, EnvAuthToken, "Connection.AuthToken", true)
	k.addSecrets(l.cfg.Token)
	if path, ok := l.get(fieldTokenFile, EnvAuthTokenFile, "Connection.AuthTokenFile", true); ok {
		l.cfg.TokenFile = path
		l.cfg.tokenFromFile = k.readTokenFile(path)
	}
	if l.file != nil {
		var s string
		if json.Unmarshal(l.file.values["Connection.AuthToken"], &s) == nil {
			k.addSecrets(strings.TrimSpace(s))
		}
	}
	for _, name := range []string{EnvOTLPHeaders, EnvOTLPTracesHeaders} {
		for pair := range strings.SplitSeq(os.Getenv(name), ",") {
			key, v, _ := strings.Cut(pair, "=")
			if !strings.EqualFold(strings.TrimSpace(key), "Authorization") {
				continue
			}
			v = strings.TrimSpace(v)
			k.addSecrets(authSecrets(v)...)
			if decoded, err := url.PathUnescape(v); err == nil {
				k.addSecrets(authSecrets(strings.TrimSpace(decoded))...)
			}
		}
	}
}

// readTokenFile returns the token in the file at path, surrounding
// whitespace trimmed, notes it as a secret, and reports a file that cannot
// be read or holds nothing as a problem of fieldTokenFile. A malformed
// token is returned too, so that it stays hidden; validate reports it.
func (k *configCheck) readTokenFile(path string) string {
	if !looksLikePath(path) {
		k.addSecrets(path) // most likely the token itself, set in the wrong variable
	}
	b, err := os.ReadFile(path)
	if err != nil {
		reason := err
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			reason = pathErr.Err // the path is quoted below
		}
		k.errorf(fieldTokenFile, "cannot read %s: %v", k.quote(path), reason)
		return ""
	}
	token := strings.TrimSpace(string(b))
	k.addSecrets(token)
	if token == "" {
		k.errorf(fieldTokenFile, "%s is empty", k.quote(path))
	}
	return token
}

// authSecrets returns an authorization value and, when it has a scheme
// ("Api-Token x"), its credentials on their own.
func authSecrets(v string) []string {
	_, cred, _ := strings.Cut(strings.ReplaceAll(v, "%20", " "), " ")
	return []string{v, strings.TrimSpace(cred)}
}

func (l *envLoader) loadDynatrace() {
	c, k := &l.cfg, l.chk
	c.Dynatrace.Tenant, _ = l.get(fieldTenant, EnvTenant, "Tenant", true)
	if v, ok := l.get(fieldClusterID, EnvClusterID, "ClusterID", false); ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n == 0 {
			k.errorf(fieldClusterID, "not a non-zero int32: %s", k.quote(v))
		} else {
			c.Dynatrace.ClusterID = int32(n)
		}
	}
	if v, ok := l.get(fieldBaseURL, EnvBaseURL, "Connection.BaseUrl", true); ok {
		if trimmed := strings.TrimRight(v, "/"); trimmed != "" {
			v = trimmed
		}
		c.BaseURL = v
	}
	if v, ok := l.get(fieldLogging, EnvLoggingDestination, "Logging.Destination", true); ok {
		c.LoggingDestination = v
		if lower := strings.ToLower(v); lower == "off" || lower == "stdout" || lower == "stderr" {
			c.LoggingDestination = lower
		}
	}
	if v, ok := l.get(fieldWarmUp, EnvWarmUp, "Connection.WarmUp", false); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			k.errorf(fieldWarmUp, "want true or false, got %s", k.quote(v))
		} else {
			c.WarmUp = b
		}
	}
	if v, ok := l.get(fieldFlushOnExit, EnvFlushOnExit, "FlushOnExit", false); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			k.errorf(fieldFlushOnExit, "want true or false, got %s", k.quote(v))
		} else {
			c.FlushOnExit = b
		}
	}
	if v, ok := l.get(fieldFlushTimeout, EnvFlushTimeout, "FlushTimeoutMs", false); ok {
		if d, ok := parseMillis(v); ok {
			c.FlushTimeout = d
		} else {
			k.errorf(fieldFlushTimeout, "want a positive integer of milliseconds, got %s", k.quote(v))
		}
	}
	if v, ok := l.get(fieldRootSpans, EnvRootSpansPerMinute, "RootSpansPerMinute", false); ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			c.RootSpansPerMinute = n
		} else {
			k.errorf(fieldRootSpans, "want an integer >= 0, got %s", k.quote(v))
		}
	}
	if v, ok := l.get(fieldResourceWait, EnvResourceWait, "ResourceWaitMs", false); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n == 0 {
			c.ResourceWait = 0
		} else if d, ok := parseMillis(v); ok {
			c.ResourceWait = d
		} else {
			k.errorf(fieldResourceWait, "want an integer >= 0 of milliseconds, got %s", k.quote(v))
		}
	}
	if v, ok := l.get(fieldSpanIdentity, EnvSpanIdentity, "SpanIdentity", false); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			k.errorf(fieldSpanIdentity, "want true or false, got %s", k.quote(v))
		} else {
			c.SpanIdentity = b
		}
	}
}

func (l *envLoader) loadOTel() {
	c, k := &l.cfg, l.chk

	for _, name := range []string{EnvOTLPHeaders, EnvOTLPTracesHeaders} {
		for key, v := range l.pairs(name, "header") {
			if !validHeaderName(key) {
				k.warnf(name, "invalid header name; skipped")
				continue
			}
			if strings.ContainsFunc(v, isControl) {
				k.warnf(name, "%s: value contains control characters; skipped", k.quote(key))
				continue
			}
			key = textproto.CanonicalMIMEHeaderKey(key)
			if c.Headers == nil {
				c.Headers = make(map[string]string)
			}
			c.Headers[key] = v
		}
	}

	switch v := l.env(EnvSDKDisabled); {
	case strings.EqualFold(v, "true"):
		c.Disabled = true
	case v != "" && !strings.EqualFold(v, "false"):
		k.warnf(EnvSDKDisabled, "want true or false, got %s; tracing stays on", k.quote(v))
	}

	c.ServiceName = l.env(EnvServiceName)
	for key, v := range l.pairs(EnvResourceAttributes, "attribute") {
		c.ResourceAttributes = append(c.ResourceAttributes, attribute.String(key, v))
	}

	for _, name := range []string{EnvOTLPCompression, EnvOTLPTracesCompression} {
		switch v := l.env(name); strings.ToLower(v) {
		case "":
		case "gzip", "none":
			c.Compression = strings.ToLower(v)
		default:
			k.warnf(name, "want gzip or none, got %s; using %s", k.quote(v), c.Compression)
		}
	}
	for _, name := range []string{EnvOTLPTimeout, EnvOTLPTracesTimeout} {
		if v := l.env(name); v != "" {
			if d, ok := parseMillis(v); ok {
				c.Timeout = d
			} else {
				k.warnf(name, "want a positive integer of milliseconds, got %s; using %s", k.quote(v), c.Timeout)
			}
		}
	}
	name, v := EnvOTLPTracesProtocol, l.env(EnvOTLPTracesProtocol)
	if v == "" {
		name, v = EnvOTLPProtocol, l.env(EnvOTLPProtocol)
	}
	if v != "" && v != "http/protobuf" {
		k.warnf(name, "only http/protobuf is supported, got %s", k.quote(v))
	}
}

// pairs yields the k=v pairs of the variable name in the OpenTelemetry
// format: comma-separated, keys and values trimmed, values URL-decoded.
// Malformed pairs are warnings that never echo the pair, and are skipped.
func (l *envLoader) pairs(name, what string) func(yield func(string, string) bool) {
	return func(yield func(string, string) bool) {
		v := l.env(name)
		if v == "" {
			return
		}
		for i, pair := range strings.Split(v, ",") {
			if strings.TrimSpace(pair) == "" {
				continue
			}
			key, value, ok := strings.Cut(pair, "=")
			key = strings.TrimSpace(key)
			switch {
			case !ok:
				l.chk.warnf(name, "%s %d: missing \"=\"; skipped", what, i+1)
				continue
			case key == "":
				l.chk.warnf(name, "%s %d: empty key; skipped", what, i+1)
				continue
			}
			decoded, err := url.PathUnescape(strings.TrimSpace(value))
			if err != nil {
				l.chk.warnf(name, "%s %d: value is not URL-encoded correctly; skipped", what, i+1)
				continue
			}
			if !yield(key, strings.TrimSpace(decoded)) {
				return
			}
		}
	}
}

// resolveEndpoint sets cfg.Endpoint from the OTEL_* endpoints or the base
// URL.
func (l *envLoader) resolveEndpoint() {
	c, k := &l.cfg, l.chk
	if v := l.env(EnvOTLPTracesEndpoint); v != "" {
		k.names[fieldEndpoint] = EnvOTLPTracesEndpoint
		c.Endpoint = v
		return
	}
	if v := l.env(EnvOTLPEndpoint); v != "" {
		k.names[fieldEndpoint] = EnvOTLPEndpoint
		if problem := checkHTTPURL(v); problem != "" {
			k.errorf(fieldEndpoint, "%s: %s", problem, k.quoteURL(v))
			return
		}
		u, _ := url.Parse(v) // checked above
		c.Endpoint = u.JoinPath("v1", "traces").String()
		return
	}
	if c.BaseURL == "" || k.bad[fieldBaseURL] || checkHTTPURL(c.BaseURL) != "" {
		return
	}
	k.names[fieldEndpoint] = k.names[fieldBaseURL]
	c.Endpoint = c.BaseURL + dynatraceTracesPath
	if u, _ := url.Parse(c.BaseURL); strings.Contains(u.Path, "/api/v2/otlp") {
		k.warnf(k.names[fieldBaseURL], "should be the environment URL without /api/v2/otlp; the endpoint is %s", k.quoteURL(c.Endpoint))
	}
}

// configFile is a dtconfig.json that was read.
type configFile struct {
	path    string
	values  map[string]json.RawMessage // used keys, by canonical dotted name
	unknown []string                   // unknown keys, dotted
	ignored [][2]string                // case variants ignored: key, the canonical key set
}

// label names key of f in messages.
func (f *configFile) label(key string) string { return key + " (" + f.path + ")" }

// fileKeyKind says how a dtconfig.json key is treated.
type fileKeyKind int

const (
	fileKeyUsed    fileKeyKind = iota // a value gcftrace reads
	fileKeySection                    // an object whose keys are checked
	fileKeyIgnored                    // documented by Dynatrace, not used by gcftrace
)

// fileKeys are the dtconfig.json keys gcftrace knows: the ones it reads, and
// the ones Dynatrace documents for its own packages, which are accepted
// silently so that a generated dtconfig.json gives no warnings.
var fileKeys = map[string]fileKeyKind{
	"Tenant":                                fileKeyUsed,
	"ClusterID":                             fileKeyUsed,
	"Connection":                            fileKeySection,
	"Connection.BaseUrl":                    fileKeyUsed,
	"Connection.AuthToken":                  fileKeyUsed,
	"Connection.AuthTokenFile":              fileKeyUsed,
	"Connection.WarmUp":                     fileKeyUsed,
	"Logging":                               fileKeySection,
	"Logging.Destination":                   fileKeyUsed,
	"FlushOnExit":                           fileKeyUsed,
	"FlushTimeoutMs":                        fileKeyUsed,
	"RootSpansPerMinute":                    fileKeyUsed,
	"ResourceWaitMs":                        fileKeyUsed,
	"SpanIdentity":                          fileKeyUsed,
	"AgentActive":                           fileKeyIgnored,
	"Connection.AuthTokenSecretsManagerArn": fileKeyIgnored,
	"Connection.FlushConnectTimeoutMs":      fileKeyIgnored,
	"Connection.FlushDataTimeoutMs":         fileKeyIgnored,
	"Connection.InsecureDisableCertificateCheck": fileKeyIgnored,
	"Logging.Go":                             fileKeyIgnored,
	"Logging.Python":                         fileKeyIgnored,
	"Testability":                            fileKeySection,
	"Testability.SpanProcessingIntervalMs":   fileKeyIgnored,
	"Testability.KeepAliveIntervalMs":        fileKeyIgnored,
	"Testability.MetricCollectionIntervalMs": fileKeyIgnored,
	"Testability.MetricCollectionsPerExport": fileKeyIgnored,
	"RUM":                                    fileKeySection,
	"RUM.ClientIpHeaders":                    fileKeyIgnored,
	"RUM.ApplicationId":                      fileKeyIgnored,
	"Debug":                                  fileKeySection,
	"Debug.AddStackOnStart":                  fileKeyIgnored,
	"OpenTelemetry":                          fileKeySection,
	"OpenTelemetry.AllowExplicitParent":      fileKeyIgnored,
	"OpenTelemetry.DisabledSensors":          fileKeyIgnored,
	"OpenTelemetry.EnableIntegration":        fileKeyIgnored,
	"OpenTelemetry.OverrideMaxApiVersion":    fileKeyIgnored,
	"Sensors":                                fileKeyIgnored,
}

// fileKeysFolded maps lower-cased names to the canonical ones of fileKeys.
var fileKeysFolded = func() map[string]string {
	m := make(map[string]string, len(fileKeys))
	for k := range fileKeys {
		m[strings.ToLower(k)] = k
	}
	return m
}()

// loadFile finds and reads the dtconfig.json.
func (l *envLoader) loadFile() {
	k := l.chk
	var path, name string // name: the variable that named path
	switch p, f := l.env(EnvConfigFilePath), l.env(EnvConfigFile); {
	case p != "":
		path, name = p, EnvConfigFilePath
		if f != "" && f != p {
			k.warnf(EnvConfigFile, "ignored: %s is set", EnvConfigFilePath)
		}
	case f != "":
		path, name = f, EnvConfigFile
	}
	if name != "" {
		if !looksLikePath(path) {
			k.addSecrets(path) // most likely a token, set in the wrong variable
		}
		data, err := os.ReadFile(path)
		if err != nil {
			reason := err
			if pathErr, ok := errors.AsType[*fs.PathError](err); ok {
				reason = pathErr.Err // the path is quoted below
			}
			k.fail(fmt.Errorf("%s: cannot read %s: %w", name, k.quote(path), reason))
			return
		}
		l.parseFile(path, name+": "+path, data)
		return
	}

	candidates := []string{localConfigPath}
	if l.env(envKService) != "" {
		candidates = []string{serverlessConfigPath, localConfigPath}
	}
	for _, p := range candidates {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			k.fail(fmt.Errorf("%s: %w", p, err))
			return
		}
		l.parseFile(p, p, data)
		return
	}
}

// parseFile reads the keys of a dtconfig.json; prefix starts its errors.
func (l *envLoader) parseFile(path, prefix string, data []byte) {
	var root json.RawMessage
	if err := json.Unmarshal(data, &root); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			l.chk.fail(fmt.Errorf("%s: invalid JSON at byte %d: %w", prefix, syntax.Offset, err))
		} else {
			l.chk.fail(fmt.Errorf("%s: invalid JSON: %w", prefix, err))
		}
		return
	}
	if kind := jsonKind(root); kind != "object" {
		l.chk.fail(fmt.Errorf("%s: want a JSON object, got %s", prefix, kind))
		return
	}
	if dups := duplicateKeys(data); len(dups) > 0 {
		// encoding/json keeps the last of them: a value in the first would
		// be lost without a word.
		l.chk.fail(fmt.Errorf("%s: keys given more than once, merge them: %s", prefix, strings.Join(dups, ", ")))
		return
	}
	l.file = &configFile{path: path, values: make(map[string]json.RawMessage)}
	l.cfg.Source = path
	l.walkFile("", root)
}

// duplicateKeys returns the dotted names of the keys that appear more than
// once in the same object of the valid JSON document data.
func duplicateKeys(data []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(data))
	var dups []string
	var walk func(prefix string) error
	walk = func(prefix string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := make(map[string]bool)
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := kt.(string)
				if seen[key] {
					dups = append(dups, prefix+key)
				}
				seen[key] = true
				if err := walk(prefix + key + "."); err != nil {
					return err
				}
			}
			_, err = dec.Token() // }
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(prefix); err != nil {
					return err
				}
			}
			_, err = dec.Token() // ]
			return err
		}
		return nil
	}
	if walk("") != nil {
		return nil // not reached for a valid document
	}
	return dups
}

// walkFile records the used keys of the object raw, whose dotted name is
// prefix, and warns about unknown ones.
func (l *envLoader) walkFile(prefix string, raw json.RawMessage) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return // raw is a valid JSON object
	}
	// Canonical spellings first: they win over case variants.
	keys := slices.Sorted(maps.Keys(obj))
	slices.SortStableFunc(keys, func(a, b string) int {
		_, ea := fileKeys[prefix+a]
		_, eb := fileKeys[prefix+b]
		switch {
		case ea && !eb:
			return -1
		case eb && !ea:
			return 1
		}
		return 0
	})
	seen := make(map[string]bool)
	for _, key := range keys {
		name, ok := fileKeysFolded[strings.ToLower(prefix+key)]
		switch {
		case !ok:
			l.file.unknown = append(l.file.unknown, prefix+key)
			continue
		case seen[name]:
			l.file.ignored = append(l.file.ignored, [2]string{prefix + key, name})
			continue
		}
		seen[name] = true
		v := obj[key]
		switch fileKeys[name] {
		case fileKeyUsed:
			l.file.values[name] = v
		case fileKeySection:
			switch kind := jsonKind(v); kind {
			case "object":
				l.walkFile(name+".", v)
			case "null":
			default:
				l.chk.fail(fmt.Errorf("%s: want an object, got %s", l.file.label(name), kind))
				for f := range fileKeys {
					if strings.HasPrefix(f, name+".") {
						l.markBad(f)
					}
				}
			}
		}
	}
}

// reportFileKeys warns about the unknown and duplicate keys of the file, once
// the secrets are known.
func (l *envLoader) reportFileKeys() {
	if l.file == nil {
		return
	}
	slices.Sort(l.file.unknown)
	for _, key := range l.file.unknown {
		l.chk.warnf(l.file.path, "unknown key %s", l.chk.quote(key))
	}
	for _, dup := range l.file.ignored {
		l.chk.warnf(l.file.path, "key %s ignored: %s is set", l.chk.quote(dup[0]), strconv.Quote(dup[1]))
	}
}

// markBad marks the field read from the file key as already reported.
func (l *envLoader) markBad(key string) {
	switch key {
	case "Connection.BaseUrl":
		l.chk.bad[fieldBaseURL] = true
	case "Connection.AuthToken":
		l.chk.bad[fieldToken] = true
	case "Connection.AuthTokenFile":
		l.chk.bad[fieldTokenFile] = true
	case "Logging.Destination":
		l.chk.bad[fieldLogging] = true
	}
}

// jsonKind names the JSON type of a valid JSON value.
func jsonKind(raw json.RawMessage) string {
	s := strings.TrimLeft(string(raw), " \t\r\n")
	if s == "" {
		return "nothing"
	}
	switch s[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// checkHTTPURL returns what is wrong with s as an absolute http(s) URL, or
// "".
func checkHTTPURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "not an absolute URL"
	}
	if scheme := strings.ToLower(u.Scheme); scheme != "http" && scheme != "https" {
		return "not an http or https URL"
	}
	return ""
}

// redactURL hides the password of a URL's user info.
func redactURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err == nil && u.User == nil:
		return s
	case err == nil:
		return u.Redacted()
	}
	// Unparsable, yet it may carry user info: hide what lies between the
	// scheme and the last @ before the path.
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		return scheme + "://" + redactedValue + "@" + rest[at+1:]
	}
	return s
}

// isLoopbackURL reports whether s is a URL whose host is localhost or a
// loopback address.
func isLoopbackURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

func hasAuthorization(headers map[string]string) bool {
	for k, v := range headers {
		if strings.EqualFold(k, "Authorization") && v != "" {
			return true
		}
	}
	return false
}

func validTenant(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
	})
}

// validHeaderName reports whether s is an HTTP token (RFC 9110).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("!#$%&'*+-.^_`|~", r))
	})
}

// isControl reports control characters other than tab, which header values
// may not contain.
func isControl(r rune) bool { return r != '\t' && unicode.IsControl(r) }

// parseMillis parses a positive number of milliseconds.
func parseMillis(s string) (time.Duration, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/int64(time.Millisecond) {
		return 0, false
	}
	return time.Duration(n) * time.Millisecond, true
}

// secrets returns the values that must never be shown. The token in
// TokenFile is the one ConfigFromEnv read; a Config built otherwise has the
// file read now.
func (c Config) secrets() []string {
	s := []string{c.Token, c.tokenFromFile}
	if !looksLikePath(c.TokenFile) {
		s = append(s, c.TokenFile)
	}
	if c.TokenFile != "" && c.tokenFromFile == "" {
		if b, err := os.ReadFile(c.TokenFile); err == nil {
			s = append(s, strings.TrimSpace(string(b)))
		}
	}
	for k, v := range c.Headers {
		if strings.EqualFold(k, "Authorization") {
			s = append(s, authSecrets(v)...)
		}
	}
	return s
}

// looksLikePath reports whether a token file value names a file: it has no
// Dynatrace token prefix, and a path separator or fewer characters than any
// API token. Anything else may be the token itself, set in
// DT_CONNECTION_AUTH_TOKEN_FILE by mistake, and is never shown.
func looksLikePath(v string) bool {
	return !strings.Contains(v, "dt0c") && (strings.ContainsAny(v, `/\`) || len(v) < minTokenLen)
}

// minTokenLen is shorter than any API token we know of (Dynatrace's have
// 96 characters): a bare file name below it is shown.
const minTokenLen = 16

// redacted returns a copy of c that is safe to show.
func (c Config) redacted() Config {
	chk := newConfigCheck()
	chk.addSecrets(c.secrets()...)
	r := c
	if r.Token != "" {
		r.Token = redactedValue
	}
	r.tokenFromFile = ""
	r.TokenFile = chk.scrub(c.TokenFile)
	if c.Headers != nil {
		r.Headers = make(map[string]string, len(c.Headers))
		for k := range c.Headers {
			r.Headers[chk.scrub(k)] = redactedValue
		}
	}
	r.BaseURL = chk.scrub(redactURL(c.BaseURL))
	r.Endpoint = chk.scrub(redactURL(c.Endpoint))
	// Nothing else should hold a secret; hide it anyway if it does.
	r.Dynatrace.Tenant = chk.scrub(c.Dynatrace.Tenant)
	r.LoggingDestination = chk.scrub(c.LoggingDestination)
	r.ServiceName = chk.scrub(c.ServiceName)
	r.Source = chk.scrub(c.Source)
	if c.ResourceAttributes != nil {
		r.ResourceAttributes = make([]attribute.KeyValue, len(c.ResourceAttributes))
		for i, kv := range c.ResourceAttributes {
			if kv.Value.Type() == attribute.STRING {
				kv.Value = attribute.StringValue(chk.scrub(kv.Value.AsString()))
			}
			r.ResourceAttributes[i] = kv
		}
	}
	if c.Warnings != nil {
		r.Warnings = make([]string, len(c.Warnings))
		for i, w := range c.Warnings {
			r.Warnings[i] = chk.scrub(w)
		}
	}
	return r
}

// String returns c with Token and header values redacted, in the layout of
// fmt's %+v.
func (c Config) String() string {
	r := c.redacted()
	var b strings.Builder
	fmt.Fprintf(&b, "{Dynatrace:{Tenant:%s ClusterID:%d} BaseURL:%s Token:%s TokenFile:%s LoggingDestination:%s",
		r.Dynatrace.Tenant, r.Dynatrace.ClusterID, r.BaseURL, r.Token, r.TokenFile, r.LoggingDestination)
	fmt.Fprintf(&b, " Disabled:%t ServiceName:%s ResourceAttributes:[", r.Disabled, r.ServiceName)
	for i, kv := range r.ResourceAttributes {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", kv.Key, kv.Value.String())
	}
	fmt.Fprintf(&b, "] Endpoint:%s Headers:%v Compression:%s Timeout:%s WarmUp:%t", r.Endpoint, r.Headers, r.Compression, r.Timeout, r.WarmUp)
	fmt.Fprintf(&b, " FlushOnExit:%t FlushTimeout:%s RootSpansPerMinute:%d ResourceWait:%s SpanIdentity:%t Source:%s Warnings:%q}",
		r.FlushOnExit, r.FlushTimeout, r.RootSpansPerMinute, r.ResourceWait, r.SpanIdentity, r.Source, r.Warnings)
	return b.String()
}

// GoString returns c as a Go expression, with Token and header values
// redacted.
func (c Config) GoString() string {
	r := c.redacted()
	return fmt.Sprintf("core.Config{Dynatrace:%#v, BaseURL:%#v, Token:%#v, TokenFile:%#v, LoggingDestination:%#v, "+
		"Disabled:%#v, ServiceName:%#v, ResourceAttributes:%#v, Endpoint:%#v, Headers:%#v, "+
		"Compression:%#v, Timeout:%#v, WarmUp:%#v, FlushOnExit:%#v, FlushTimeout:%#v, RootSpansPerMinute:%#v, "+
		"ResourceWait:%#v, SpanIdentity:%#v, Source:%#v, Warnings:%#v}",
		r.Dynatrace, r.BaseURL, r.Token, r.TokenFile, r.LoggingDestination,
		r.Disabled, r.ServiceName, r.ResourceAttributes, r.Endpoint, r.Headers,
		r.Compression, r.Timeout, r.WarmUp, r.FlushOnExit, r.FlushTimeout, r.RootSpansPerMinute,
		r.ResourceWait, r.SpanIdentity, r.Source, r.Warnings)
}

// Format implements fmt.Formatter so that no verb shows a secret: %#v is
// GoString, %q is String quoted, and every other verb is String.
func (c Config) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, c.GoString())
	case verb == 'q':
		_, _ = io.WriteString(f, strconv.Quote(c.String()))
	default:
		_, _ = io.WriteString(f, c.String())
	}
}

// LogValue implements slog.LogValuer: c as a group, with Token and header
// values redacted.
func (c Config) LogValue() slog.Value {
	r := c.redacted()
	headers := make([]slog.Attr, 0, len(r.Headers))
	for _, k := range slices.Sorted(maps.Keys(r.Headers)) {
		headers = append(headers, slog.String(k, r.Headers[k]))
	}
	resource := make([]slog.Attr, 0, len(r.ResourceAttributes))
	for _, kv := range r.ResourceAttributes {
		resource = append(resource, slog.String(string(kv.Key), kv.Value.String()))
	}
	return slog.GroupValue(
		slog.String("tenant", r.Dynatrace.Tenant),
		slog.Int("cluster_id", int(r.Dynatrace.ClusterID)),
		slog.String("base_url", r.BaseURL),
		slog.String("token", r.Token),
		slog.String("token_file", r.TokenFile),
		slog.String("logging_destination", r.LoggingDestination),
		slog.Bool("disabled", r.Disabled),
		slog.String("service_name", r.ServiceName),
		slog.Attr{Key: "resource_attributes", Value: slog.GroupValue(resource...)},
		slog.String("endpoint", r.Endpoint),
		slog.Attr{Key: "headers", Value: slog.GroupValue(headers...)},
		slog.String("compression", r.Compression),
		slog.Duration("timeout", r.Timeout),
		slog.Bool("warm_up", r.WarmUp),
		slog.Bool("flush_on_exit", r.FlushOnExit),
		slog.Duration("flush_timeout", r.FlushTimeout),
		slog.Int("root_spans_per_minute", r.RootSpansPerMinute),
		slog.Duration("resource_wait", r.ResourceWait),
		slog.Bool("span_identity", r.SpanIdentity),
		slog.String("source", r.Source),
		slog.Any("warnings", r.Warnings),
	)
}

// MarshalJSON implements json.Marshaler with Token and header values
// redacted, so that encoding a Config never leaks them.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config // no methods: no recursion
	return json.Marshal(plain(c.redacted()))
}
