package handler

import (
	"context"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// eventInfo is what an event wrapper knows about one invocation before its
// span starts.
type eventInfo struct {
	eventType string         // CloudEvents or legacy type; "" for a raw Pub/Sub push
	id        string         // faas.invocation_id: the event or message id
	execution string         // the Function-Execution-Id of a request, when id is ""
	time      time.Time      // when the event happened; zero if unknown
	resource  string         // legacy resource name, for faas.document.* and the topic
	ce        *event.Event   // a CloudEvent: cloudevents.* and its tracing extension
	msg       *pubsubMessage // a Pub/Sub message: messaging.* and its googclient_ context
}

func (ev *eventInfo) trigger() string {
	if ev.msg != nil {
		return semconv.FaaSTriggerPubSub.Value.AsString()
	}
	return trigger(ev.eventType)
}

// spanName is, for a Pub/Sub message, "subscribe <topic>" (the messaging
// conventions' "{messaging.operation.name} {destination}", just
// "subscribe" when the topic is unknown); for any other event, the name of
// the function (the FaaS conventions), else the event type, else "event".
func (ev *eventInfo) spanName(function string) string {
	switch {
	case ev.msg != nil && ev.msg.topic != "":
		return messagingOperationName + " " + ev.msg.topic
	case ev.msg != nil:
		return messagingOperationName
	case function != "":
		return function
	case ev.eventType != "":
		return ev.eventType
	}
	return "event"
}

// startEvent starts the span of an event invocation.
//
// The parent is, in this order of preference, the Pub/Sub message's
// googclient_ context, the CloudEvent's traceparent extension (the
// producer's), and the context already in ctx (the delivering hop, for
// example from HTTP headers). The others, when valid and different, become
// links. Malformed contexts are ignored.
func (c *config) startEvent(ctx context.Context, tracer trace.Tracer, ev *eventInfo) (context.Context, trace.Span) {
	cold := coldStart()
	hop := trace.SpanContextFromContext(ctx)
	if ev.ce != nil {
		ctx = c.extractCloudEvent(ctx, ev.ce)
	}
	producer := trace.SpanContextFromContext(ctx)
	if ev.msg != nil {
		ctx = c.extractMessage(ctx, ev.msg.attributes)
	}
	parent := trace.SpanContextFromContext(ctx)
	var links []trace.Link
	for _, sc := range [...]trace.SpanContext{producer, hop} {
		if sc.IsValid() && !sc.Equal(parent) && (len(links) == 0 || !links[0].SpanContext.Equal(sc)) {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}

	trig := ev.trigger()
	kind := trace.SpanKindServer
	start := make([]attribute.KeyValue, 0, 6)
	start = append(start, semconv.FaaSTriggerKey.String(trig))
	if ev.ce != nil {
		start = append(start, semconv.CloudEventsEventType(ev.ce.Type()))
	}
	if ev.msg != nil {
		kind = trace.SpanKindConsumer
		start = append(start,
			semconv.MessagingSystemGCPPubSub,
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName(messagingOperationName),
		)
		if ev.msg.topic != "" {
			start = append(start, semconv.MessagingDestinationName(ev.msg.topic))
		}
	}
	ctx, span := tracer.Start(ctx, ev.spanName(c.function),
		trace.WithSpanKind(kind),
		trace.WithAttributes(start...),
		trace.WithLinks(links...),
	)
	if span.IsRecording() {
		span.SetAttributes(ev.attributes(cold, trig, span.SpanContext().SpanID())...)
	}
	return ctx, span
}

// attributes are the attributes of a recorded event span beyond the start
// ones. faas.invocation_id is the event or message id, else the request's
// Function-Execution-Id, else the span id, as with HTTP.
func (ev *eventInfo) attributes(cold bool, trig string, spanID trace.SpanID) []attribute.KeyValue {
	a := make([]attribute.KeyValue, 0, 16)
	a = append(a, semconv.FaaSColdstart(cold))
	switch {
	case ev.id != "":
		a = append(a, semconv.FaaSInvocationID(ev.id))
	case ev.execution != "":
		a = append(a, semconv.FaaSInvocationID(ev.execution))
	default:
		a = append(a, semconv.FaaSInvocationID(spanID.String()))
	}
	resource := ev.resource
	if e := ev.ce; e != nil {
		a = append(a,
			semconv.CloudEventsEventID(e.ID()),
			semconv.CloudEventsEventSource(e.Source()),
			semconv.CloudEventsEventSpecVersion(e.SpecVersion()),
		)
		if s := e.Subject(); s != "" {
			a = append(a, semconv.CloudEventsEventSubject(s))
		}
		if trig == semconv.FaaSTriggerDatasource.Value.AsString() {
			resource = e.Source()
			if s := e.Subject(); s != "" {
				resource = strings.TrimSuffix(resource, "/") + "/" + s
			}
		}
	}
	if m := ev.msg; m != nil {
		if m.subscription != "" {
			a = append(a, semconv.MessagingDestinationSubscriptionName(m.subscription))
		}
		if m.id != "" {
			a = append(a, semconv.MessagingMessageID(m.id))
		}
		if m.deliveryAttempt > 0 {
			a = append(a, semconv.MessagingGCPPubSubMessageDeliveryAttempt(m.deliveryAttempt))
		}
		if m.orderingKey != "" {
			a = append(a, semconv.MessagingGCPPubSubMessageOrderingKey(m.orderingKey))
		}
	}
	switch trig {
	case semconv.FaaSTriggerDatasource.Value.AsString():
		collection, name := documentPath(datasourceOf(ev.eventType), resource)
		if collection != "" {
			a = append(a, semconv.FaaSDocumentCollection(collection))
		}
		if name != "" {
			a = append(a, semconv.FaaSDocumentName(name))
		}
		if op, ok := documentOperation(ev.eventType); ok {
			a = append(a, op)
		}
		if !ev.time.IsZero() {
			a = append(a, semconv.FaaSDocumentTime(ev.time.UTC().Format(time.RFC3339Nano)))
		}
	case semconv.FaaSTriggerTimer.Value.AsString():
		if !ev.time.IsZero() {
			a = append(a, semconv.FaaSTime(ev.time.UTC().Format(time.RFC3339Nano)))
		}
	}
	return a
}

// extractCloudEvent reads the producer's context from the event's
// distributed-tracing extension (traceparent, tracestate) with the
// configured propagator.
func (c *config) extractCloudEvent(ctx context.Context, e *event.Event) context.Context {
	exts := e.Extensions()
	tp := extensionString(exts, "traceparent")
	if tp == "" {
		return ctx
	}
	carrier := propagation.MapCarrier{"traceparent": tp}
	if ts := extensionString(exts, "tracestate"); ts != "" {
		carrier["tracestate"] = ts
	}
	return c.prop.Extract(ctx, carrier)
}

func extensionString(exts map[string]any, name string) string {
	v, ok := exts[name]
	if !ok {
		return ""
	}
	s, err := types.ToString(v)
	if err != nil {
		return ""
	}
	return s
}

// extractMessage reads the publisher's context from a Pub/Sub message's
// attributes: the Go client writes each propagation key with the prefix
// "googclient_" (googclient_traceparent, googclient_tracestate, …).
func (c *config) extractMessage(ctx context.Context, attrs map[string]string) context.Context {
	var carrier propagation.MapCarrier
	for k, v := range attrs {
		if key, ok := strings.CutPrefix(k, googclientAttrPrefix); ok && key != "" {
			if carrier == nil {
				carrier = propagation.MapCarrier{}
			}
			carrier[key] = v
		}
	}
	if carrier == nil {
		return ctx
	}
	return c.prop.Extract(ctx, carrier)
}
