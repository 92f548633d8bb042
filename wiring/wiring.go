package wiring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/gcftrace/gcftrace/adapters/export"
	"github.com/gcftrace/gcftrace/adapters/handler"
	"github.com/gcftrace/gcftrace/adapters/metadata"
	"github.com/gcftrace/gcftrace/core"
	"github.com/gcftrace/gcftrace/ports"
)

// Tracing is a configured tracing pipeline. A nil *Tracing is valid: it
// traces nothing and none of its methods panic, so a function whose
// configuration is missing still runs.
type Tracing struct {
	tp           *sdktrace.TracerProvider
	prop         propagation.TextMapPropagator
	processor    *core.Processor
	flushOnExit  bool
	flushTimeout time.Duration
	function     string // the function's name as the environment source knows it at setup

	stopCompletion context.CancelFunc // also ends the warm-up
	completionDone chan struct{}
	warmUpDone     chan struct{} // nil without a warm-up
	closeSource    func() error  // closes a source New created; nil otherwise
	stopSignals    chan struct{} // WithShutdownOnSignal; nil otherwise
	shutdownOnce   sync.Once
	shutdownErr    error
}

// An Option configures New.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	cfg      *core.Config
	logger   *slog.Logger
	env      ports.EnvironmentSource
	exporter sdktrace.SpanExporter
	signals  []os.Signal
}

// WithConfig uses cfg instead of reading the environment and dtconfig.json.
// Start from core.NewDefaultConfig.
func WithConfig(cfg core.Config) Option {
	return optionFunc(func(o *options) { o.cfg = &cfg })
}

// WithLogger sets the logger for lifecycle events and rare failures. The
// default follows DT_LOGGING_DESTINATION (off, stdout or stderr).
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.logger = l })
}

// WithEnvironmentSource replaces the GCP metadata adapter.
func WithEnvironmentSource(src ports.EnvironmentSource) Option {
	return optionFunc(func(o *options) { o.env = src })
}

// WithExporter replaces the OTLP/HTTP exporter, e.g. with
// tracetest.NewInMemoryExporter in tests.
func WithExporter(exp sdktrace.SpanExporter) Option {
	return optionFunc(func(o *options) { o.exporter = exp })
}

// WithShutdownOnSignal makes New watch for SIGTERM (and the other signals
// given): on the first one it shuts the pipeline down, flushing what is
// pending within core.DefaultShutdownTimeout (inside Cloud Run's 10 s grace
// period), then raises the signal again so the process ends as it would
// have. For plain-Go functions that do not handle the signal themselves
// (one that does would receive it twice: call Shutdown from its own
// handler instead); fx applications get this from OnStop.
func WithShutdownOnSignal(sigs ...os.Signal) Option {
	return optionFunc(func(o *options) {
		if len(sigs) == 0 {
			sigs = []os.Signal{syscall.SIGTERM}
		}
		o.signals = sigs
	})
}

// New reads the configuration (unless WithConfig is given), checks it and
// assembles the pipeline, the plain-Go equivalent of Dynatrace's
// configure_dynatrace. When the configuration is incomplete or wrong it
// returns a nil *Tracing, which traces nothing, and an error listing every
// problem. With OTEL_SDK_DISABLED=true it returns nil, nil.
//
// New never waits on the network. In the background it looks the GCP
// environment up (spans exported once it is known carry it, whenever they
// started) and, unless Config.WarmUp is off, opens the export connection
// with one empty export; Shutdown stops both.
//
// New does not set the global tracer provider or propagator; that is the
// application's choice (otel.SetTracerProvider(t.TracerProvider())).
func New(ctx context.Context, opts ...Option) (*Tracing, error) {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	var cfg core.Config
	if o.cfg != nil {
		cfg = *o.cfg
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("gcftrace: %w", err)
		}
	} else {
		var err error
		if cfg, err = core.ConfigFromEnv(); err != nil {
			return nil, fmt.Errorf("gcftrace: %w", err)
		}
	}
	if cfg.Disabled {
		return nil, nil
	}
	logger := o.logger
	if logger == nil {
		logger = newLogger(cfg.LoggingDestination)
	}
	logWarnings(logger, cfg)

	src := o.env
	var closeSource func() error
	if src == nil {
		src = newEnvironmentSource(logger)
		closeSource = closerOf(src)
	}
	exp := o.exporter
	if exp == nil {
		var err error
		if exp, err = newExporter(cfg, logger); err != nil {
			if closeSource != nil {
				_ = closeSource()
			}
			return nil, fmt.Errorf("gcftrace: %w", err)
		}
	}
	t, start := build(cfg, src, exp, logger)
	start()
	t.closeSource = closeSource
	if len(o.signals) > 0 {
		t.shutdownOnSignal(o.signals)
	}
	logger.Info("gcftrace: tracing on", "config", cfg)
	return t, nil
}

// logWarnings logs the problems that did not stop the configuration.
func logWarnings(logger *slog.Logger, cfg core.Config) {
	for _, w := range cfg.Warnings {
		logger.Warn("gcftrace: configuration", "warning", w)
	}
}

// build assembles the pipeline from its parts; New and Module share it. It
// never waits for the environment: the provider starts with what is known
// at once, and once start is called a goroutine completes the resource when
// the lookups finish (the first flush with spans waits for it at most
// Config.ResourceWait and half of its budget; see
// core.WithResourceCompletion). start also begins the export warm-up and,
// without flush on exit, the background export; New calls it at once, the
// Module in its start hook.
func build(cfg core.Config, src ports.EnvironmentSource, exp sdktrace.SpanExporter, logger *slog.Logger) (t *Tracing, start func()) {
	env := knownNow(src)
	procOpts := []core.ProcessorOption{
		core.WithFlushTimeout(cfg.FlushTimeout),
		core.WithProcessorLogger(logger),
		core.WithResourceCompletion(resourceWait(cfg.ResourceWait)),
	}
	if cfg.SpanIdentity {
		procOpts = append(procOpts, core.WithSpanIdentity())
	}
	proc := core.NewProcessor(exp, procOpts...)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(core.NewResource(env, cfg)),
		sdktrace.WithSampler(newSampler(cfg)),
		sdktrace.WithSpanProcessor(proc),
	)
	t = &Tracing{tp: tp, prop: newPropagator(cfg), processor: proc, flushOnExit: cfg.FlushOnExit, flushTimeout: cfg.FlushTimeout, function: env.Function}
	return t, func() {
		ctx, cancel := context.WithCancel(context.Background())
		t.stopCompletion, t.completionDone = cancel, make(chan struct{})
		go t.completeResource(ctx, cfg, src, env, logger)
		if w, ok := exp.(warmer); ok && cfg.WarmUp {
			t.warmUpDone = make(chan struct{})
			go t.warmUp(ctx, w, logger)
		}
		if !cfg.FlushOnExit {
			proc.StartBackground(core.DefaultExportInterval)
		}
	}
}

// resourceWait maps Config.ResourceWait, where 0 never waits, onto
// core.WithResourceCompletion, where a negative wait never waits.
func resourceWait(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// warmer is an exporter that can open its connection ahead of the first
// export, as export.Exporter does.
type warmer interface {
	WarmUp(ctx context.Context) error
}

// warmUp opens the exporter's connection while the function starts, so
// that the first flush does not pay for DNS, TCP and TLS. It never delays
// setup or an invocation; a failure costs nothing but a log line (the first
// flush connects itself), and a refused token is reported now rather than
// after the first invocation.
func (t *Tracing) warmUp(ctx context.Context, w warmer, logger *slog.Logger) {
	defer close(t.warmUpDone)
	if err := w.WarmUp(ctx); err != nil && ctx.Err() == nil {
		logger.Warn("gcftrace: export warm-up failed; the first flush connects by itself", "err", err)
	}
}

// Environment lookups in the background: the first one bounded by
// lookupTimeout, then, while the environment still has gaps on GCP, again
// whenever the source says it may know more (see changeNotifier), or, for a
// source that cannot tell, a few more rounds with a growing pause.
const (
	lookupTimeout = 5 * time.Second
	lookupRounds  = 5
	firstPause    = 2 * time.Second
)

// changeNotifier is an EnvironmentSource that tells when it may know more,
// as the metadata adapter does: Changed returns a channel closed then, or
// nil once nothing will change any more.
type changeNotifier interface {
	Changed() <-chan struct{}
}

func (t *Tracing) completeResource(ctx context.Context, cfg core.Config, src ports.EnvironmentSource, known ports.Environment, logger *slog.Logger) {
	defer close(t.completionDone)
	notifier, _ := src.(changeNotifier)
	pause := firstPause
	for round := 0; ; round++ {
		var changed <-chan struct{}
		if notifier != nil {
			changed = notifier.Changed()
		}
		lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		env, err := src.Environment(lctx)
		cancel()
		if ctx.Err() != nil && env == (ports.Environment{}) {
			return // stopped before anything was learned
		}
		// What the source answers adds to what was known at setup: a
		// source that fails without saying what it knows must not take
		// the function's name off the spans.
		env = env.Merge(known)
		known = env
		t.processor.SetResource(core.NewResource(env, cfg))
		if ctx.Err() != nil {
			return
		}
		switch {
		case notifier != nil && changed == nil:
			// The source has settled: nothing more will be learnt.
			if hasGaps(env) {
				logger.Warn("gcftrace: environment incomplete", "err", err, "project", env.ProjectID, "region", env.Region, "instance", env.InstanceID)
			}
			return
		case notifier != nil:
			// It retries in the background and says when it may know
			// more, also about a zone or a numeric project id, also off
			// GCP (an emulator on GCE_METADATA_HOST).
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
		case errors.Is(err, ports.ErrNotOnGCP) || err == nil && !hasGaps(env):
			return
		case round == lookupRounds:
			logger.Warn("gcftrace: environment incomplete", "err", err, "project", env.ProjectID, "region", env.Region, "instance", env.InstanceID)
			return
		default:
			timer := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			pause *= 2
		}
	}
}

// hasGaps reports whether a GCP environment lacks what any source of it is
// expected to know: project, region and instance. (The metadata adapter
// also looks up the zone and the numeric project id, and says itself when
// it knows more.)
func hasGaps(env ports.Environment) bool {
	return env.Platform != ports.PlatformUnknown && (env.ProjectID == "" || env.Region == "" || env.InstanceID == "")
}

// knownNow returns what src knows without waiting, when it can tell.
func knownNow(src ports.EnvironmentSource) ports.Environment {
	if k, ok := src.(interface {
		Known() (ports.Environment, error)
	}); ok {
		env, _ := k.Known()
		return env
	}
	return ports.Environment{}
}

func (t *Tracing) shutdownOnSignal(sigs []os.Signal) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	t.stopSignals = make(chan struct{})
	go func() {
		defer signal.Stop(ch)
		select {
		case sig := <-ch:
			ctx, cancel := context.WithTimeout(context.Background(), core.DefaultShutdownTimeout)
			_ = t.Shutdown(ctx)
			cancel()
			signal.Stop(ch)
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				_ = p.Signal(sig)
			}
		case <-t.stopSignals:
		}
	}()
}

func closerOf(src ports.EnvironmentSource) func() error {
	if c, ok := src.(interface{ Close() error }); ok {
		return c.Close
	}
	return nil
}

func newEnvironmentSource(logger *slog.Logger) ports.EnvironmentSource {
	return metadata.New(metadata.Config{}, metadata.WithLogger(logger))
}

func newExporter(cfg core.Config, logger *slog.Logger) (*export.Exporter, error) {
	ec := export.NewDefaultConfig()
	ec.Endpoint = cfg.Endpoint
	ec.Token = cfg.Token
	ec.TokenFile = cfg.TokenFile // read again after a 401/403: a rotated secret recovers without a restart
	ec.Headers = cfg.Headers
	if cfg.Compression != "" {
		ec.Compression = cfg.Compression
	}
	if cfg.Timeout > 0 {
		ec.Timeout = cfg.Timeout
	}
	return export.New(ec, export.WithLogger(logger))
}

// newSampler follows Dynatrace's rules: a remote parent's Dynatrace tag
// decides, other remote parents (Cloud Run's unsampled traceparent) and
// roots are sampled, within DT_ROOT_SPANS_PER_MINUTE when it is set.
func newSampler(cfg core.Config) sdktrace.Sampler {
	return core.NewSampler(core.WithDynatrace(cfg.Dynatrace), core.WithRootSpansPerMinute(cfg.RootSpansPerMinute))
}

// newPropagator is W3C TraceContext plus Dynatrace's fw4 context when tenant
// and cluster are configured, with X-Cloud-Trace-Context as a fallback parent.
func newPropagator(cfg core.Config) propagation.TextMapPropagator {
	return core.NewPropagator(cfg.Dynatrace)
}

func newLogger(destination string) *slog.Logger {
	var w io.Writer
	switch destination {
	case "stdout":
		w = os.Stdout
	case "stderr":
		w = os.Stderr
	default:
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// off is the provider of a nil *Tracing: it records nothing.
var off = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))

// TracerProvider returns the provider. For a nil *Tracing it is a provider
// that records nothing.
func (t *Tracing) TracerProvider() *sdktrace.TracerProvider {
	if t == nil {
		return off
	}
	return t.tp
}

// Propagator returns the propagator: W3C TraceContext, plus Dynatrace's
// context when DT_TENANT and DT_CLUSTER_ID are set.
func (t *Tracing) Propagator() propagation.TextMapPropagator {
	if t == nil {
		return propagation.TraceContext{}
	}
	return t.prop
}

// Processor returns the span processor, for its Stats. It is nil for a nil
// *Tracing.
func (t *Tracing) Processor() *core.Processor {
	if t == nil {
		return nil
	}
	return t.processor
}

// HandlerOptions returns the options that connect adapters/handler wrappers
// to this pipeline: its provider, its propagator and, when flush on exit is
// on, its processor as the flusher. For a nil *Tracing the wrappers trace
// nothing.
func (t *Tracing) HandlerOptions() []handler.Option {
	if t == nil {
		return []handler.Option{handler.WithTracerProvider(noop.NewTracerProvider())}
	}
	opts := t.baseHandlerOptions()
	if t.flushOnExit {
		opts = append(opts, handler.WithFlusher(t.processor), handler.WithFlushTimeout(t.flushTimeout))
	}
	return opts
}

// BackgroundHandlerOptions are HandlerOptions for a handler that does not
// flush on exit whatever the configuration says, e.g. a streaming endpoint
// in a service whose other handlers do: its spans leave with the background
// export, every core.DefaultExportInterval and whenever the buffer fills up
// to half, which this call turns on. Use it only where the CPU stays
// allocated after the response (Cloud Run with CPU always allocated,
// long-running services).
func (t *Tracing) BackgroundHandlerOptions() []handler.Option {
	if t == nil {
		return t.HandlerOptions()
	}
	t.processor.StartBackground(core.DefaultExportInterval)
	return t.baseHandlerOptions()
}

// baseHandlerOptions tie a wrapper to the pipeline's provider and
// propagator, and name event spans after the function as the resource's
// faas.name does (a name set in the source's configuration included).
func (t *Tracing) baseHandlerOptions() []handler.Option {
	return []handler.Option{handler.WithTracerProvider(t.tp), handler.WithPropagator(t.prop), handler.WithFunctionName(t.function)}
}

// ForceFlush exports what is pending within ctx's deadline and the flush
// budget.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.processor.ForceFlush(ctx)
}

// Shutdown flushes what is pending and stops the pipeline, bounded by ctx
// (5s when ctx has no deadline). It is idempotent: later calls return the
// first call's result. Spans it cannot export within ctx (all of them when
// ctx is already done), and spans that end after it, are dropped and
// counted (core.DropShutdown). It shuts the processor down rather than the
// provider, which would stop before the final flush when ctx is already
// done and would stop counting spans that end afterwards.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	t.shutdownOnce.Do(func() {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, core.DefaultShutdownTimeout)
			defer cancel()
		}
		if t.stopSignals != nil {
			close(t.stopSignals)
		}
		// Flush first, then stop the lookups and the warm-up; an
		// environment source that ignores its context is not waited for
		// past ctx.
		err := t.processor.Shutdown(ctx)
		if t.stopCompletion != nil { // nil when the Module's start hook never ran
			t.stopCompletion()
		}
		for _, done := range []chan struct{}{t.completionDone, t.warmUpDone} {
			if done == nil {
				continue
			}
			select {
			case <-done:
			case <-ctx.Done():
			}
		}
		if t.closeSource != nil {
			err = errors.Join(err, t.closeSource())
		}
		t.shutdownErr = err
	})
	return t.shutdownErr
}
