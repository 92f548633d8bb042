// Package wiring assembles gcftrace: configuration, the GCP environment
// source, the OTLP exporter, the span processor, the sampler, the propagator
// and the tracer provider.
//
// Two entry points build the same graph from the same constructors:
//
//   - [New], one plain-Go call for a small function (Dynatrace's
//     configure_dynatrace);
//   - [Module], go.uber.org/fx modules for services that compose their
//     dependencies; each adapter has its own sub-module so a test or an
//     application can swap one with fx.Replace or fx.Decorate.
//
// This is the only package of gcftrace that imports fx.
package wiring
