// Package core is the domain of gcftrace: what a traced function does,
// independent of how it is reached and where its spans go.
//
//   - Configuration: [ConfigFromEnv] reads Dynatrace's DT_* keys,
//     dtconfig.json and the standard OTEL_* variables into a [Config].
//   - Resource: [NewResource] and [ResourceAttributes] turn a
//     ports.Environment into cloud.* and faas.* attributes.
//   - Flush policy: [Processor] buffers ended spans and exports them on
//     ForceFlush (flush on exit) or in the background, inside a budget,
//     sharing exports between concurrent flushes.
//   - Dynatrace trace context and sampling: [NewPropagator] and
//     [NewSampler].
//
// core depends only on package ports and the OpenTelemetry API and SDK. It
// implements OpenTelemetry's own interfaces (sdktrace.SpanProcessor,
// sdktrace.Sampler, propagation.TextMapPropagator) rather than declaring its
// own.
package core
