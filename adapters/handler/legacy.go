package handler

import (
	"context"
	"reflect"

	fnmetadata "cloud.google.com/go/functions/metadata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Event wraps a legacy background function — func(ctx, T) error, registered
// with funcframework.RegisterEventFunctionContext — so that each event
// becomes one span. T is the event's data type, as the framework decodes it.
//
// The event's metadata, which the framework puts in ctx (see
// cloud.google.com/go/functions/metadata), gives faas.invocation_id (the
// eventId), faas.trigger (from the eventType, as for [CloudEvent]) and the
// trigger's attributes from the resource: messaging.destination.name for
// Pub/Sub, faas.document.collection, name and operation for Cloud Storage,
// Firestore and the Realtime Database, and faas.document.time or faas.time
// from the timestamp. For Pub/Sub the parent is read from the message's
// googclient_traceparent and googclient_tracestate attributes when T is a
// struct with an Attributes map[string]string field (like pubsub.Message) or
// a map with an "attributes" object; a context already in ctx becomes a link,
// or the parent when the message carries none. Pub/Sub spans are CONSUMER
// spans named "subscribe <topic>", the others SERVER spans named after the
// function (see [WithFunctionName]). Without metadata the span has
// faas.trigger=other and faas.invocation_id is the span id, as for [HTTP]
// without a Function-Execution-Id.
//
// Errors and panics are recorded as with [CloudEvent]; a panic is raised
// again after the span has ended and been flushed.
func Event[T any](fn func(context.Context, T) error, opts ...Option) func(context.Context, T) error {
	c := newConfig(opts)
	tracer := c.tracer()
	return func(ctx context.Context, data T) error {
		info := legacyInfo(ctx, data)
		ctx, span := c.startEvent(ctx, tracer, &info)
		return c.run(ctx, span, func(ctx context.Context) error { return fn(ctx, data) }, nil)
	}
}

// legacyInfo describes a background event from the metadata in ctx.
func legacyInfo(ctx context.Context, data any) eventInfo {
	md, err := fnmetadata.FromContext(ctx)
	if err != nil || md == nil {
		return eventInfo{}
	}
	info := eventInfo{eventType: md.EventType, id: md.EventID, time: md.Timestamp}
	if r := md.Resource; r != nil {
		info.resource = r.Name
		if info.resource == "" {
			info.resource = r.RawPath
		}
	}
	if trigger(md.EventType) == semconv.FaaSTriggerPubSub.Value.AsString() {
		info.msg = &pubsubMessage{
			attributes: messageAttributes(data),
			id:         md.EventID,
			topic:      resourceID(info.resource, "topics/"),
		}
	}
	return info
}

// structAttributes returns the Attributes map[string]string field of a
// struct or pointer to one, or nil.
func structAttributes(v any) map[string]string {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil
	}
	sf, ok := rv.Type().FieldByName("Attributes")
	if !ok || !sf.IsExported() {
		return nil
	}
	f, err := rv.FieldByIndexErr(sf.Index)
	if err != nil || f.Kind() != reflect.Map || f.Type().Key().Kind() != reflect.String || f.Type().Elem().Kind() != reflect.String {
		return nil
	}
	if f.CanInterface() {
		if m, ok := f.Interface().(map[string]string); ok {
			return m
		}
	}
	out := make(map[string]string, f.Len())
	for it := f.MapRange(); it.Next(); {
		out[it.Key().String()] = it.Value().String()
	}
	return out
}
