package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// pubsubMessage is what a span records of a Pub/Sub message.
type pubsubMessage struct {
	attributes      map[string]string
	id              string
	orderingKey     string
	deliveryAttempt int
	topic           string // short topic id
	subscription    string // short subscription id
}

// pushEnvelope is the JSON of a Pub/Sub push request, and of the data of a
// google.cloud.pubsub.topic.v1.messagePublished CloudEvent.
type pushEnvelope struct {
	Message struct {
		Attributes      map[string]string `json:"attributes"`
		MessageID       string            `json:"messageId"`
		OrderingKey     string            `json:"orderingKey"`
		DeliveryAttempt int               `json:"deliveryAttempt"`
	} `json:"message"`
	Subscription    string `json:"subscription"`
	DeliveryAttempt int    `json:"deliveryAttempt"`
}

// parsePubSub decodes a push envelope. Malformed JSON yields an empty
// message; fields of the wrong type are skipped and the rest kept.
func parsePubSub(data []byte) pubsubMessage {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return pubsubMessage{}
	}
	var env pushEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		var typeErr *json.UnmarshalTypeError
		if !errors.As(err, &typeErr) {
			return pubsubMessage{}
		}
	}
	m := pubsubMessage{
		attributes:      env.Message.Attributes,
		id:              env.Message.MessageID,
		orderingKey:     env.Message.OrderingKey,
		deliveryAttempt: env.DeliveryAttempt,
		subscription:    env.Subscription,
	}
	if m.deliveryAttempt <= 0 {
		m.deliveryAttempt = env.Message.DeliveryAttempt
	}
	if s := resourceID(m.subscription, "subscriptions/"); s != "" {
		m.subscription = s
	}
	return m
}

// MaxPushBodySize is the largest Pub/Sub push request body [PubSubPush]
// reads to find the message's trace context and attributes. A message is at
// most 10 MB, data and attributes together, and the push envelope carries
// the data in base64, which makes 13.4 MB of it; the rest is room for the
// attributes' JSON and the envelope's own fields. A larger body reaches the
// wrapped handler unread and unparsed.
const MaxPushBodySize = 14 << 20

// PubSubPush wraps the HTTP handler of a Pub/Sub push subscription endpoint
// (a Cloud Run service, or a function registered with functions.HTTP) so
// that each pushed message becomes one CONSUMER span "subscribe <topic>":
// faas.trigger=pubsub, faas.invocation_id and messaging.message.id = the
// message id, messaging.system=gcp_pubsub, messaging.operation.type=process,
// messaging.destination.subscription.name, delivery attempt and ordering key,
// messaging.destination.name when the URL path names the topic
// (".../projects/P/topics/T", the convention functions-framework-go uses;
// without it the span is named "subscribe"), and http.response.status_code.
//
// The parent is the publisher's context from the googclient_traceparent and
// googclient_tracestate message attributes; the request's own traceparent
// becomes a link, or the parent when the message carries none. Up to
// [MaxPushBodySize] bytes of the body are read before next runs; next reads
// the body as sent, read error included. A body that is larger, or no push
// envelope, leaves the message fields empty (faas.invocation_id is then the
// Function-Execution-Id header, else the span id, as with [HTTP]); next
// still runs. 5xx answers and panics set status Error.
func PubSubPush(next http.Handler, opts ...Option) http.Handler {
	c := newConfig(opts)
	return &pushHandler{next: next, cfg: c, tracer: c.tracer()}
}

type pushHandler struct {
	next   http.Handler
	cfg    config
	tracer trace.Tracer
}

var _ http.Handler = (*pushHandler)(nil)

func (h *pushHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m pubsubMessage
	body := r.Body
	if body != nil && body != http.NoBody && r.ContentLength <= MaxPushBodySize {
		read, err := io.ReadAll(io.LimitReader(body, MaxPushBodySize+1))
		var rest io.Reader = bytes.NewReader(read)
		switch {
		case err != nil:
			rest = io.MultiReader(rest, errReader{err})
		case len(read) > MaxPushBodySize: // no Content-Length, and too long
			rest = io.MultiReader(rest, body)
		default:
			m = parsePubSub(read)
		}
		body = readCloser{Reader: rest, Closer: body}
	}
	m.topic = resourceID(r.URL.Path, "topics/")
	info := eventInfo{id: m.id, execution: header(r.Header, "Function-Execution-Id"), msg: &m}

	ctx := h.cfg.prop.Extract(r.Context(), headerCarrier(r.Header))
	ctx, span := h.cfg.startEvent(ctx, h.tracer, &info)
	r = r.WithContext(ctx)
	r.Body = body
	rw := &responseWriter{ResponseWriter: w}
	_ = h.cfg.run(ctx, span, func(context.Context) error {
		h.next.ServeHTTP(rw.wrap(), r)
		return nil
	}, func(error) {
		if !span.IsRecording() {
			return
		}
		status := rw.status
		if status == 0 && !rw.hijacked {
			status = http.StatusOK
		}
		if status > 0 {
			span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		}
		if status >= 500 {
			span.SetStatus(codes.Error, "")
			span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
		}
	})
}

// readCloser reads what PubSubPush read of a body, then the rest, and
// closes the original body.
type readCloser struct {
	io.Reader
	io.Closer
}

// errReader replays a body read error after the bytes that were read.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// messageAttributes finds a legacy Pub/Sub event's message attributes in the
// value a background function receives: a struct (or pointer to one) with an
// Attributes map[string]string field, like pubsub.Message and the usual
// PubSubMessage, or a map with an "attributes" object.
func messageAttributes(v any) map[string]string {
	switch d := v.(type) {
	case map[string]any:
		raw, _ := d["attributes"].(map[string]any)
		if len(raw) == 0 {
			return nil
		}
		attrs := make(map[string]string, len(raw))
		for k, v := range raw {
			if s, ok := v.(string); ok && strings.HasPrefix(k, googclientAttrPrefix) {
				attrs[k] = s
			}
		}
		return attrs
	case map[string]string:
		return nil
	}
	return structAttributes(v)
}
