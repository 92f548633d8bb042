// Package gcftrace traces Google Cloud Functions and Cloud Run functions with
// OpenTelemetry and exports the spans to Dynatrace over OTLP/HTTP.
//
// The code is a hexagon; start with the package that fits your question:
//
//   - wiring: one call (wiring.New) or fx modules (wiring.Module) that
//     assemble everything;
//   - adapters/handler: wrappers for HTTP and event functions;
//   - core: sampler, span processor and flush policy, Dynatrace trace
//     context, resource attributes, configuration;
//   - ports: the interfaces core needs from outside;
//   - adapters/metadata, adapters/export: the GCP environment and the OTLP
//     exporter.
package gcftrace
