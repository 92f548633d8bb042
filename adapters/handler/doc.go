// Package handler is the driving adapter of gcftrace: it wraps a function's
// entry point so that each invocation becomes one FaaS span, and flushes the
// spans when the invocation ends (flush on exit).
//
// Wrappers take and return the framework's own function types, as
// functions-framework-go registers them:
//
//	functions.HTTP("hello", handler.HTTP(http.HandlerFunc(hello), t.HandlerOptions()...).ServeHTTP)
//
// Without options a wrapper uses the global tracer provider, W3C TraceContext
// propagation and no flush.
package handler
