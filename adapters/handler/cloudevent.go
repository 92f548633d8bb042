package handler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

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
// "subscribe <topic>" (the messaging conventions), the others SERVER spans
// named after the function (the FaaS conventions; see [WithFunctionName]).
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
// Like functions-framework-go for CloudEvent functions, it turns a request
// that is no CloudEvent (no Ce-Id header, no "cloudevents" in its
// Content-Type) into the CloudEvent functions-framework-go makes of it: a
// Pub/Sub push envelope into a messagePublished event (the topic from a URL
// path ".../projects/P/topics/T"), a legacy background event into the
// CloudEvent of its type. The span of a push envelope also records the
// subscription, ordering key and delivery attempt, which the event drops.
//
// It answers as functions-framework-go does for CloudEvent functions: 200
// when fn returns nil or an ACK, the status of a CloudEvents HTTP result,
// else 500, and an error fn returns is written to standard error as
// "Function error: <error>"; 400 for a request it cannot convert (with
// X-Google-Status: crash) and for a malformed or invalid event, 415 for an
// unknown encoding (fn is not called and no span starts for either); 405 for
// a GET, OPTIONS or DELETE that is a CloudEvent (any other request is
// converted first, so a bare GET gets 400, as with functions-framework-go).
// A body it has to convert is read up to [MaxPushBodySize]; a larger one
// gets 413. A panic in fn is raised again for the framework to answer.
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

// crashStatus is the X-Google-Status functions-framework-go answers a
// request it cannot convert with.
const crashStatus = "crash"

func (h *cloudEventHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// In functions-framework-go's order: conversion, method, decoding.
	var e *event.Event
	var pushBody []byte // the push envelope e was converted from
	if !isCloudEventRequest(r) {
		if r.ContentLength > MaxPushBodySize {
			http.Error(w, "handler: request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		var body []byte
		var err error
		if r.Body != nil {
			body, err = io.ReadAll(io.LimitReader(r.Body, MaxPushBodySize+1))
		}
		if len(body) > MaxPushBodySize {
			http.Error(w, "handler: request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		var pushed bool
		if err == nil {
			e, pushed, err = legacyCloudEvent(body, r.URL.Path)
		}
		if pushed {
			pushBody = body
		}
		if err != nil {
			msg := "handler: converting a request that is no CloudEvent: " + err.Error()
			_, _ = io.WriteString(h.cfg.stderr, msg+"\n")
			w.Header().Set("X-Google-Status", crashStatus)
			http.Error(w, msg, http.StatusBadRequest)
			return
		}
	}
	switch r.Method {
	case http.MethodGet, http.MethodOptions, http.MethodDelete:
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if e == nil {
		var err error
		if e, err = cehttp.NewEventFromHTTPRequest(r); err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, binding.ErrUnknownEncoding) {
				status = http.StatusUnsupportedMediaType
			}
			http.Error(w, err.Error(), status)
			return
		}
	}
	if err := e.Validate(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	ctx := h.cfg.prop.Extract(r.Context(), headerCarrier(r.Header))
	info := cloudEventInfo(e)
	if info.msg != nil && pushBody != nil {
		addPushFields(info.msg, pushBody)
	}
	ctx, span := h.cfg.startEvent(ctx, h.tracer, &info)
	status, msg := http.StatusOK, ""
	err := h.cfg.run(ctx, span, func(ctx context.Context) error { return h.fn(ctx, *e) }, func(err error) {
		status, msg = resultStatus(err)
		if span.IsRecording() {
			span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		}
	})
	if err != nil {
		_, _ = io.WriteString(h.cfg.stderr, functionError(err))
	}
	if msg != "" {
		w.Header().Set("Content-Type", "text/plain")
	}
	w.WriteHeader(status)
	if msg != "" {
		_, _ = io.WriteString(w, msg)
	}
}

// functionError is the line functions-framework-go writes to standard error
// for an error a CloudEvent function returns, whatever the error.
func functionError(err error) string {
	s := "Function error: " + err.Error()
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

// addPushFields adds to m, a message converted from the push envelope body,
// what the converted event does not keep: the subscription, the ordering
// key and the delivery attempt.
func addPushFields(m *pubsubMessage, body []byte) {
	env := parsePubSub(body)
	m.subscription = env.subscription
	m.orderingKey = env.orderingKey
	m.deliveryAttempt = env.deliveryAttempt
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
