// Package handler is the driving adapter of gcftrace: it wraps a function's
// entry point so that each invocation becomes one span following the
// OpenTelemetry FaaS conventions and those of its trigger, and flushes the
// spans when the invocation ends (flush on exit).
//
// Wrappers take and return the shapes functions-framework-go registers, in
// the style of the net/http decorators:
//
//	functions.HTTP("hello", handler.HTTP(http.HandlerFunc(hello), opts...).ServeHTTP)
//	functions.CloudEvent("onEvent", handler.CloudEvent(onEvent, opts...))
//	functions.HTTP("onEvent", handler.CloudEventHTTP(onEvent, opts...).ServeHTTP) // sees the HTTP traceparent too
//	funcframework.RegisterEventFunctionContext(ctx, "/onPublish", handler.Event(onPublish, opts...))
//	mux.Handle("POST /push/", handler.PubSubPush(pushHandler, opts...)) // a Pub/Sub push endpoint
//
// Every wrapper sets faas.trigger, faas.invocation_id and faas.coldstart
// (true on exactly one invocation per process, across all wrappers). A
// returned error sets status Error, error.type and an exception event; a
// panic is recorded with its stack, the span is ended and flushed, and the
// panic is raised again so the framework answers as it always does.
// Malformed trace context, envelopes and attributes are treated as absent:
// the span becomes a new root and the function still runs.
//
// Triggers and their attributes:
//
//	HTTP                 SERVER "METHOD route"; stable HTTP server conventions
//	Pub/Sub              CONSUMER "process <topic>"; messaging.* (gcp_pubsub); parent from googclient_traceparent
//	Storage, Firestore,  SERVER "<event type>"; faas.trigger=datasource, faas.document.*
//	Firebase databases
//	Cloud Scheduler      SERVER "<event type>"; faas.trigger=timer, faas.time
//	other CloudEvents    SERVER "<event type>"; faas.trigger=other
//
// CloudEvent spans also carry cloudevents.event_id, event_source,
// event_spec_version, event_type and event_subject; their parent comes from
// the event's traceparent and tracestate extensions.
//
// Without options a wrapper uses the global tracer provider, W3C TraceContext
// propagation and no flush; [WithTracerProvider], [WithPropagator] and
// [WithFlusher] take what the application's tracing setup provides.
package handler
