package handler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// CloudEvent wraps a CloudEvent function in functions-framework-go's own
// shape (functions.CloudEvent) so that each event becomes one span.
//
// The parent is the producer's context from the event's distributed-tracing
// extension (traceparent, tracestate), read with the configured propagator;
// for a Pub/Sub event the message's googclient_traceparent and
// googclient_tracestate attributes win, and the other context becomes a link.
// A context already in ctx becomes a link, or the parent when the event
// carries none. faas.trigger follows the event type (Pub/Sub → pubsub,
// Cloud Storage, Firestore and Firebase databases → datasource, Cloud
// Scheduler → timer, else other); faas.invocation_id is the event id; the
// span has the cloudevents.* attributes, and the messaging.* or
// faas.document.* ones of its trigger. Pub/Sub spans are CONSUMER spans named
// "process <topic>", the others SERVER spans named after the event type.
//
// A returned error (other than the CloudEvents SDK's ACK or an HTTP result
// below 400) sets status Error, error.type and an exception event; a panic is
// recorded with its stack and raised again after the span has ended and, with
// [WithFlusher], the spans have been flushed.
//
// functions-framework-go gives CloudEvent functions no HTTP headers, so the
// delivering hop's traceparent is lost; [CloudEventHTTP] sees both.
func CloudEvent(fn func(context.Context, event.Event) error, opts ...Option) func(context.Context, event.Event) error {
	c := newConfig(opts)
	tracer := c.tracer()
	return func(ctx context.Context, e event.Event) error {
		info := cloudEventInfo(&e)
		ctx, span := c.startEvent(ctx, tracer, &info)
		return c.run(ctx, span, func(ctx context.Context) error { return fn(ctx, e) }, nil)
	}
}

// CloudEventHTTP serves a CloudEvent function as an HTTP handler, to be
// registered with functions.HTTP. It decodes the event itself, in binary or
// structured mode, with the CloudEvents SDK's HTTP binding, so the span sees
// both contexts: the producer's (the event's traceparent extension, or a
// Pub/Sub message's googclient_ attributes) becomes the parent and the
// delivering hop's (the request's traceparent header) a link; without a
// producer context the hop is the parent. Spans are as with [CloudEvent],
// plus http.response.status_code.
//
// It answers as functions-framework-go does for CloudEvent functions: 200
// when fn returns nil or an ACK, the status of a CloudEvents HTTP result,
// else 500; 400 for a malformed or invalid event and 415 for a request that
// is no CloudEvent (fn is not called and no span starts for either); 405 for
// GET, OPTIONS and DELETE. A panic in fn is raised again for the framework to
// answer.
func CloudEventHTTP(fn func(context.Context, event.Event) error, opts ...Option) http.Handler {
	c := newConfig(opts)
	return &cloudEventHandler{fn: fn, cfg: c, tracer: c.tracer()}
}

type cloudEventHandler struct {
	fn     func(context.Context, event.Event) error
	cfg    config
	tracer trace.Tracer
}

var _ http.Handler = (*cloudEventHandler)(nil)

func (h *cloudEventHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodOptions, http.MethodDelete:
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	e, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, binding.ErrUnknownEncoding) {
			status = http.StatusUnsupportedMediaType
		}
		http.Error(w, err.Error(), status)
		return
	}
	if err := e.Validate(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	ctx := h.cfg.prop.Extract(r.Context(), headerCarrier(r.Header))
	info := cloudEventInfo(e)
	ctx, span := h.cfg.startEvent(ctx, h.tracer, &info)
	status, msg := http.StatusOK, ""
	_ = h.cfg.run(ctx, span, func(ctx context.Context) error { return h.fn(ctx, *e) }, func(err error) {
		status, msg = resultStatus(err)
		if span.IsRecording() {
			span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		}
	})
	if msg != "" {
		w.Header().Set("Content-Type", "text/plain")
	}
	w.WriteHeader(status)
	if msg != "" {
		_, _ = io.WriteString(w, msg)
	}
}

// resultStatus maps a CloudEvent function's result to the HTTP answer the
// CloudEvents SDK's receiver gives it.
func resultStatus(err error) (status int, msg string) {
	if err == nil {
		return http.StatusOK, ""
	}
	var res *cehttp.Result
	switch {
	case protocol.ResultAs(err, &res):
		status = http.StatusOK
		if res.StatusCode > 100 && res.StatusCode < 600 {
			status = res.StatusCode
		}
		return status, fmt.Errorf(res.Format, res.Args...).Error()
	case protocol.IsACK(err):
		return http.StatusOK, ""
	}
	var invalid event.ValidationError
	switch {
	case errors.As(err, &invalid):
		return http.StatusBadRequest, invalid.Error()
	case errors.Is(err, binding.ErrUnknownEncoding):
		return http.StatusUnsupportedMediaType, ""
	}
	return http.StatusInternalServerError, ""
}

// cloudEventInfo describes a CloudEvent; for a Pub/Sub event it decodes the
// message from the data (malformed data leaves the message fields empty).
func cloudEventInfo(e *event.Event) eventInfo {
	info := eventInfo{eventType: e.Type(), id: e.ID(), time: e.Time(), ce: e}
	if e.Type() == pubsubPublished {
		m := parsePubSub(e.Data())
		if m.id == "" {
			m.id = e.ID()
		}
		m.topic = resourceID(e.Source(), "topics/")
		info.msg = &m
	}
	return info
}
