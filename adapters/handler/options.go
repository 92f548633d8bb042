package handler

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/ports"
)

// ScopeName is the instrumentation scope of the spans the wrappers start.
const ScopeName = "github.com/gcftrace/gcftrace/adapters/handler"

// DefaultFlushTimeout bounds the flush after an invocation when the request
// has no earlier deadline.
const DefaultFlushTimeout = 2 * time.Second

// An Option configures a wrapper.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	tp           trace.TracerProvider
	prop         propagation.TextMapPropagator
	flusher      ports.Flusher
	flushTimeout time.Duration
}

func newConfig(opts []Option) config {
	c := config{prop: propagation.TraceContext{}, flushTimeout: DefaultFlushTimeout}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	return c
}

func (c config) tracer() trace.Tracer {
	return c.tp.Tracer(ScopeName, trace.WithInstrumentationVersion(Version))
}

// Version is the version of gcftrace recorded on the instrumentation scope.
const Version = "0.1.0"

// WithTracerProvider sets the provider of the invocation spans. The default
// is the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	})
}

// WithPropagator sets how the parent is read from the request. The default
// is W3C TraceContext.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return optionFunc(func(c *config) {
		if p != nil {
			c.prop = p
		}
	})
}

// WithFlusher makes the wrapper flush after each invocation (flush on exit).
// A nil Flusher turns flushing off.
func WithFlusher(f ports.Flusher) Option {
	return optionFunc(func(c *config) { c.flusher = f })
}

// WithFlushTimeout bounds each flush (default 2s); an earlier request
// deadline wins.
func WithFlushTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.flushTimeout = d
		}
	})
}

// flush runs the flush on exit inside its budget. A client that hung up does
// not cancel it; the request's deadline, when earlier, still bounds it.
func (c config) flush(ctx context.Context) {
	if c.flusher == nil {
		return
	}
	deadline, ok := ctx.Deadline()
	if limit := time.Now().Add(c.flushTimeout); !ok || limit.Before(deadline) {
		deadline = limit
	}
	fctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	// Flush errors are the flusher's to count and report; the function's
	// answer does not depend on them.
	_ = c.flusher.ForceFlush(fctx)
}

// warm is set by the first invocation of the instance: faas.coldstart is true
// on exactly one invocation per process, whatever the concurrency.
var warm atomic.Bool

func coldStart() bool { return warm.CompareAndSwap(false, true) }
