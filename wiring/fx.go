package wiring

import (
	"context"
	"fmt"
	"log/slog"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/fx"

	"github.com/gcftrace/gcftrace/core"
	"github.com/gcftrace/gcftrace/ports"
)

// Module wires gcftrace with the default adapters and configuration from the
// environment. It provides *Tracing, *sdktrace.TracerProvider and
// propagation.TextMapPropagator; OnStop shuts the pipeline down
// (Tracing.Shutdown), which flushes. It sets no globals.
//
// A configuration error fails the application's start (fx.New), unlike New,
// which lets the function run untraced. With OTEL_SDK_DISABLED=true (or
// core.Config.Disabled) nothing is set up, as with New: no exporter, no
// metadata lookups; *Tracing is nil, the provider records nothing, and the
// ports.EnvironmentSource and sdktrace.SpanExporter it provides are nil.
//
// The resource completion, the export warm-up and the background export
// (without flush on exit) start in the start hook and end in the stop hook.
// The metadata lookups start when the source is provided, so that they
// overlap the rest of the application's start; if the application then
// never starts, they end by themselves, within about 11 s with the default
// metadata.Config.
var Module = fx.Module("gcftrace", ConfigModule, MetadataModule, ExportModule, CoreModule)

// ConfigModule provides core.Config from DT_*, OTEL_* and dtconfig.json.
// Replace it with fx.Supply(cfg) or fx.Replace(cfg) to configure in code.
var ConfigModule = fx.Module("gcftrace.config",
	fx.Provide(core.ConfigFromEnv),
)

// MetadataModule provides the ports.EnvironmentSource over the GCP metadata
// server and the process environment. Swap it in tests with
// fx.Replace(fx.Annotate(src, fx.As(new(ports.EnvironmentSource)))).
var MetadataModule = fx.Module("gcftrace.metadata",
	fx.Provide(newEnvironmentSourceFx),
)

// SourceParams are the dependencies of the environment source provider.
type SourceParams struct {
	fx.In

	Lifecycle fx.Lifecycle
	Config    core.Config
	Logger    *slog.Logger `optional:"true"`
}

func newEnvironmentSourceFx(p SourceParams) ports.EnvironmentSource {
	if p.Config.Disabled {
		return nil // no lookups when tracing is off
	}
	src := newEnvironmentSource(loggerOr(p.Logger, p.Config))
	if closeSource := closerOf(src); closeSource != nil {
		p.Lifecycle.Append(fx.StopHook(closeSource))
	}
	return src
}

// ExportModule provides the OTLP/HTTP exporter as a sdktrace.SpanExporter.
// Swap it with fx.Replace(fx.Annotate(exp, fx.As(new(sdktrace.SpanExporter)))).
var ExportModule = fx.Module("gcftrace.export",
	fx.Provide(newExporterFx),
)

// CoreModule assembles processor, sampler, propagator and provider from a
// core.Config, a ports.EnvironmentSource and a sdktrace.SpanExporter.
var CoreModule = fx.Module("gcftrace.core",
	fx.Provide(
		newTracingFx,
		(*Tracing).TracerProvider,
		(*Tracing).Propagator,
	),
)

// TracingParams are the dependencies of the *Tracing provider.
type TracingParams struct {
	fx.In

	Lifecycle fx.Lifecycle
	Config    core.Config
	Env       ports.EnvironmentSource
	Exporter  sdktrace.SpanExporter
	Logger    *slog.Logger `optional:"true"`
}

// ExporterParams are the dependencies of the exporter provider.
type ExporterParams struct {
	fx.In

	Config core.Config
	Logger *slog.Logger `optional:"true"`
}

func newExporterFx(p ExporterParams) (sdktrace.SpanExporter, error) {
	if p.Config.Disabled {
		return nil, nil // tracing is off: no endpoint needed
	}
	// The whole configuration first, so that fx reports every problem by
	// its variable's name, as New does, rather than the exporter's part.
	if err := p.Config.Validate(); err != nil {
		return nil, fmt.Errorf("gcftrace: %w", err)
	}
	return newExporter(p.Config, loggerOr(p.Logger, p.Config))
}

func newTracingFx(p TracingParams) (*Tracing, error) {
	if p.Config.Disabled {
		return nil, nil
	}
	if err := p.Config.Validate(); err != nil {
		return nil, fmt.Errorf("gcftrace: %w", err)
	}
	logger := loggerOr(p.Logger, p.Config)
	logWarnings(logger, p.Config)
	t, start := build(p.Config, p.Env, p.Exporter, logger)
	logger.Info("gcftrace: tracing on", "config", p.Config)
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(context.Context) error { start(); return nil },
		// fx's stop timeout (15 s by default) is longer than Cloud Run's
		// 10 s SIGTERM grace period: the final flush keeps to
		// core.DefaultShutdownTimeout unless the stop context ends sooner.
		OnStop: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, core.DefaultShutdownTimeout)
			defer cancel()
			return t.Shutdown(ctx)
		},
	})
	return t, nil
}

func loggerOr(l *slog.Logger, cfg core.Config) *slog.Logger {
	if l != nil {
		return l
	}
	return newLogger(cfg.LoggingDestination)
}
