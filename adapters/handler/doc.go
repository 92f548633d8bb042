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
// Every wrapper sets faas.trigger, faas.invocation_id (the event or message
// id, else the Function-Execution-Id header, else the span id) and
// faas.coldstart (true on exactly one invocation per process, across all
// wrappers). A
// returned error sets status Error, error.type and an exception event; a
// panic is recorded with its stack, the span is ended and flushed, and the
// panic is raised again so the framework answers as it always does.
// Malformed trace context, envelopes and attributes are treated as absent:
// the span becomes a new root and the function still runs.
//
// Triggers and their attributes:
//
//	HTTP                 SERVER "METHOD route"; stable HTTP server conventions
//	Pub/Sub              CONSUMER "subscribe <topic>"; messaging.* (gcp_pubsub); parent from googclient_traceparent
//	Storage, Firestore,  SERVER "<function>"; faas.trigger=datasource, faas.document.*
//	Firebase databases
//	Cloud Scheduler      SERVER "<function>"; faas.trigger=timer, faas.time
//	other events         SERVER "<function>"; faas.trigger=other
//
// Pub/Sub spans follow the messaging conventions ("{operation} {topic}",
// just "subscribe" when the topic is unknown); the others are the FaaS
// server span, named after the function: K_SERVICE, FUNCTION_NAME or
// FUNCTION_TARGET, or [WithFunctionName], else the event type.
//
// CloudEvent spans also carry cloudevents.event_id, event_source,
// event_spec_version, event_type and event_subject; their parent comes from
// the event's traceparent and tracestate extensions.
//
// Without options a wrapper uses the global tracer provider, W3C TraceContext
// propagation and no flush; [WithTracerProvider], [WithPropagator] and
// [WithFlusher] take what the application's tracing setup provides.
package handler
