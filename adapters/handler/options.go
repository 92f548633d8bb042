package handler

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/ports"
)

// ScopeName is the instrumentation scope of the spans the wrappers start.
const ScopeName = "github.com/gcftrace/gcftrace/adapters/handler"

// Version is the version of gcftrace recorded on the instrumentation scope.
const Version = "0.1.0"

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
	selfBounded  bool // flusher is a ports.BoundedFlusher whose budget is within flushTimeout
	route        func(*http.Request) string
	redactQuery  func(string) string
	bodySizes    bool
	function     string    // names the event spans other than Pub/Sub's
	stderr       io.Writer // where CloudEventHTTP reports a function's error, as functions-framework-go does, and a panicking flusher is reported
}

// functionNameVars are the environment variables that name the function,
// in order of preference: the function (service) name of current runtimes,
// the function name of the legacy ones, and the entry point.
var functionNameVars = [...]string{"K_SERVICE", "FUNCTION_NAME", "FUNCTION_TARGET"}

func functionFromEnv() string {
	for _, k := range functionNameVars {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}

func newConfig(opts []Option) config {
	c := config{
		prop:         propagation.TraceContext{},
		flushTimeout: DefaultFlushTimeout,
		redactQuery:  RedactQuery,
		function:     functionFromEnv(),
		stderr:       os.Stderr,
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if b, ok := c.flusher.(ports.BoundedFlusher); ok && b.FlushBudget() > 0 && b.FlushBudget() <= c.flushTimeout {
		c.selfBounded = true
	}
	return c
}

func (c *config) tracer() trace.Tracer {
	return c.tp.Tracer(ScopeName, trace.WithInstrumentationVersion(Version))
}

// WithTracerProvider sets the provider of the invocation spans. The default
// is the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	})
}

// WithPropagator sets how parents are read: from the request headers, from a
// CloudEvent's traceparent and tracestate extensions, and from the
// googclient_traceparent and googclient_tracestate attributes of a Pub/Sub
// message. The default is W3C TraceContext.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return optionFunc(func(c *config) {
		if p != nil {
			c.prop = p
		}
	})
}

// WithFlusher makes the wrapper flush after each invocation (flush on exit),
// also when the function fails or panics. A nil Flusher, also a nil pointer
// such as the Processor of a nil *wiring.Tracing, turns flushing off. A
// Flusher that panics does not take the invocation down: the panic is
// written to stderr.
// The wrapper bounds each flush by the flush timeout and detaches it from
// the request's cancellation, unless f is a ports.BoundedFlusher whose
// budget is within the timeout (core.Processor): that one does both itself
// and gets the request's context as it is.
func WithFlusher(f ports.Flusher) Option {
	return optionFunc(func(c *config) {
		if isNil(f) {
			f = nil
		}
		c.flusher = f
	})
}

// isNil reports whether v is nil or holds a nil pointer, map, func, chan or
// slice.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// WithFunctionName sets the name of the function, after which the span of an
// event other than a Pub/Sub message is named, as the FaaS conventions want
// of a function's server span. The default is the environment's K_SERVICE,
// else FUNCTION_NAME, else FUNCTION_TARGET; without any, the span is named
// after the event type. An empty name keeps the default.
func WithFunctionName(name string) Option {
	return optionFunc(func(c *config) {
		if name != "" {
			c.function = name
		}
	})
}

// WithFlushTimeout bounds each flush (default [DefaultFlushTimeout]); an
// earlier deadline of the invocation's context wins.
func WithFlushTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.flushTimeout = d
		}
	})
}

// WithRoute sets how [HTTP] learns the route, the low-cardinality path
// template of a request ("/items/{id}"), for the span name and http.route.
// route is called after the handler returns; an empty answer falls back to
// the pattern of the [http.ServeMux] that matched, if any. Without a route
// the span is named after the method alone: the raw path never becomes the
// name.
func WithRoute(route func(r *http.Request) string) Option {
	return optionFunc(func(c *config) { c.route = route })
}

// WithQueryRedactor sets the function that rewrites a request's raw query
// before [HTTP] records it as url.query; an empty result records no
// url.query. The default is [RedactQuery]. Pass a function returning "" to
// never record queries, or one returning its argument to record them as
// sent.
func WithQueryRedactor(redact func(rawQuery string) string) Option {
	return optionFunc(func(c *config) {
		if redact != nil {
			c.redactQuery = redact
		}
	})
}

// WithBodySizes makes [HTTP] record the opt-in http.request.body.size
// (Content-Length, else the bytes the handler read) and
// http.response.body.size (the bytes written).
func WithBodySizes() Option {
	return optionFunc(func(c *config) { c.bodySizes = true })
}

// flush runs the flush on exit inside its budget. A client that hung up does
// not cancel it; the invocation's deadline, when earlier, still bounds it.
// A flusher that bounds itself that way (selfBounded) gets ctx as it is.
func (c *config) flush(ctx context.Context) {
	if c.flusher == nil {
		return
	}
	defer c.recoverFlush()
	if c.selfBounded {
		_ = c.flusher.ForceFlush(ctx)
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

// recoverFlush keeps a panicking flusher from taking the invocation down,
// or from replacing the function's own panic.
func (c *config) recoverFlush() {
	if rec := recover(); rec != nil {
		fmt.Fprintf(c.stderr, "gcftrace: flush on exit panicked: %v\n", rec)
	}
}

// warm is set by the first invocation of the instance: faas.coldstart is true
// on exactly one invocation per process, whatever the concurrency and
// whichever wrappers the process uses.
var warm atomic.Bool

func coldStart() bool { return !warm.Load() && warm.CompareAndSwap(false, true) }
