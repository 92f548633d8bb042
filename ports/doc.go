// Package ports declares what core needs from the outside world and the plain
// data that crosses those boundaries.
//
// "Ports" means outbound interfaces here (driven ports, in hexagonal terms):
// the GCP environment a function runs in ([EnvironmentSource]) and the flush
// that ends an invocation ([Flusher]). Inbound requests reach the function
// through adapters/handler, which is not a port.
//
// OpenTelemetry's own interfaces (sdktrace.SpanExporter, sdktrace.Sampler,
// sdktrace.SpanProcessor, propagation.TextMapPropagator) already are ports and
// are not re-declared here. What crosses sdktrace.SpanExporter from core is
// plain data: [ExportSpan], a span with the resource completed after it
// started.
//
// The package imports only the standard library and the OTel SDK's span,
// resource and attribute types (for ExportSpan and the export outcome
// contract).
package ports
