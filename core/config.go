package core

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
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
type Config struct {
	Dynatrace DynatraceConfig

	BaseURL            string // DT_CONNECTION_BASE_URL, trailing "/" stripped
	Token              string // DT_CONNECTION_AUTH_TOKEN; redacted by String, GoString and LogValue
	LoggingDestination string // DT_LOGGING_DESTINATION: off, stdout or stderr

	Disabled           bool                 // OTEL_SDK_DISABLED
	ServiceName        string               // OTEL_SERVICE_NAME
	ResourceAttributes []attribute.KeyValue // OTEL_RESOURCE_ATTRIBUTES

	Endpoint    string            // the OTLP traces URL, resolved
	Headers     map[string]string // OTEL_EXPORTER_OTLP_(TRACES_)HEADERS
	Compression string            // "gzip" or "none"
	Timeout     time.Duration     // OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT

	FlushOnExit  bool          // DT_FLUSH_ON_EXIT, default true
	FlushTimeout time.Duration // DT_FLUSH_TIMEOUT_MS, default 2s

	Source   string   // the dtconfig.json read, "" when none
	Warnings []string // problems that did not stop the configuration

	_ struct{} // forbid unkeyed literals
}
