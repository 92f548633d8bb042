// Package export is the adapter that sends spans to Dynatrace, or to any
// OTLP/HTTP receiver: an [Exporter] implements sdktrace.SpanExporter.
//
// Requests are binary protobuf ExportTraceServiceRequest bodies POSTed to
// [Config.Endpoint] (Dynatrace: https://{env-id}.live.dynatrace.com/api/v2/otlp/v1/traces),
// gzip-compressed by default, with "Authorization: Api-Token <token>" when
// [Config.Token] or [Config.TokenFile] is set. The token needs the scope
// openTelemetryTrace.ingest.
//
// Spans are encoded straight into reused buffers, grouped by resource and
// instrumentation scope, without intermediate protobuf structs;
// [AppendRequest] gives the same encoding to programs that ship OTLP bytes
// by other means. Every request body stays within [Config.MaxRequestBytes]
// (Dynatrace accepts 8 MB) before and after compression: larger batches are
// split, a 413 answer splits the batch in two, and a span too large to be
// sent alone is dropped and counted.
//
// # Defaults
//
// [NewDefaultConfig], and zero fields of any Config: gzip at level 1
// ([DefaultCompressionLevel]: the fastest; span payloads come out about 15%
// larger than at level 6, for a fraction of the CPU) for bodies of 2048
// bytes and more ([DefaultCompressionMinBytes]; a smaller body, such as the
// single span of one invocation, goes out uncompressed: it takes one or two
// TCP segments either way, and gzip would cost more CPU than the rest of
// the export), a 10s budget per export ([DefaultTimeout]), requests of at
// most 8,000,000 bytes ([DefaultMaxRequestBytes]). The default HTTP client
// keeps up to 4 idle connections per host for 90s and attempts HTTP/2.
//
// # Retries
//
// 429, 502, 503 and 504 answers and transport failures (refused, reset,
// timed out) are retried: the first retry after 20-40ms, later ones 3x
// longer each time (at most 5s), honouring Retry-After (seconds or an HTTP
// date). No wait runs past the export's deadline, the earlier of the
// caller's context deadline and [Config.Timeout]: when the next wait would
// not fit, the export returns at once so that the caller can keep the spans
// for a later flush. While at least a second is left, an attempt gets half
// of the time left, so that a request stuck on a dead connection is retried
// on a fresh one. A Retry-After longer than the budget is remembered:
// exports before it has passed fail fast without a request.
//
// An export that ends on a transport failure or the deadline, or on a 502,
// 503 or 504 it could not retry past, finds the endpoint down, so that one
// invocation pays the budget rather than all of them: for a pause of 1s
// (Config.OutagePause),
// with ±20% jitter, exports fail fast with a [*RetryableError] holding all
// their spans, without a request. The first export after the pause probes
// the endpoint with a single attempt, never retried, bounded by its own
// deadline; exports meanwhile fail fast. Any answer but a gateway error
// (a 2xx, but also a 400, a 401 or a 429) ends the outage and full retries
// resume; a failed probe doubles the pause, up to 1 minute
// (Config.MaxOutagePause). The final export before shutdown
// (ports.WithFinalExport, as core.Processor's Shutdown marks it) is a probe
// even during a pause: nothing would deliver its spans later. A negative
// Config.OutagePause turns this off. The exporter
// logs once when the endpoint goes down and once when it answers again, and
// counts outages in [Stats].Outages. A 429, a 401 or 403, and an export the
// caller cancelled never start an outage.
//
// Other answers are permanent: 400, 404, 415, 500 and the rest drop the
// spans. Redirects are never followed, so the token never travels to
// another host; a 3xx is a permanent error naming the location.
//
// # Refused token
//
// A 401 or 403 logs one error naming the token scope, drops the spans
// (Stats.Dropped["unauthorized"]) and pauses export, 30s at first, doubling
// up to 10 minutes; exports during the pause drop their spans without a
// request. When a pause has run out, the next export tries again, so that
// a token that was given the missing scope is picked up without a restart.
//
// A token that was rotated, a new value issued and the old one revoked, is
// picked up when it is read from [Config.TokenFile], as a secret mounted as
// a file is on Cloud Run and Cloud Functions. Outside a pause the file is
// not read again: a rotation shows up as a 401 first. Then, and while the
// pause runs, exports read the file again, at most once a second and
// without a goroutine of their own; when it holds another token than the
// refused one, the exporter switches to it, ends the pause at once, logs
// that once and sends (the request that was just refused is sent again
// with the new token, once per export, so that a rotation usually costs
// one refused request). The
// file is also read when a pause runs out by itself. A file that cannot be
// read, or is empty, keeps the pause and the token in use, and is logged
// once. Requests always carry one whole token, the old or the new. [Stats]
// counts the pauses (AuthPauses) and the tokens read anew (TokenReloads),
// and tells whether a pause runs (AuthPaused).
//
// # Errors
//
// An error from [Exporter.ExportSpans] is one of two kinds:
//
//   - it wraps ports.ErrExportRejected: the spans are gone for good (a
//     permanent answer, a refused token, a span too large to send, an
//     exporter already shut down). They are counted in [Stats].Dropped.
//   - it is a [*RetryableError]: the spans in its Spans field were not
//     delivered for a reason that may pass (throttling, a gateway error, a
//     refused or reset connection, the deadline). Keep them and export them
//     again later; [Retryable] tells the two kinds apart.
//
// When a batch was split, parts of it may have been delivered or dropped
// before a retryable failure: a RetryableError then lists only the spans
// worth retrying, and its message counts the others.
//
// # Security
//
// The token and the values of [Config.Headers] are never logged and never
// part of an error; [Config.String] and [Config.LogValue] redact them.
// http:// endpoints are refused unless the host is loopback or
// [Config.Insecure] is set. TLS certificates are always verified: [New]
// refuses a client whose http.Transport skips verification, and a
// certificate error is permanent, never retried.
//
// # Cold start
//
// [Exporter.WarmUp] opens the connection (TCP and TLS) ahead of the first
// export; connections are kept alive and reused. wiring calls it in the
// background at setup unless core.Config.WarmUp is off
// (DT_CONNECTION_WARM_UP=false).
package export
