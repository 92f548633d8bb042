// Package pubsub is a Pub/Sub-triggered Cloud Function traced with gcftrace:
// a CloudEvent function receiving google.cloud.pubsub.topic.v1.messagePublished
// events through Eventarc.
//
// Each message becomes one CONSUMER span "subscribe <topic>" with the
// messaging.* attributes; its parent is the publisher's context when the
// publisher put one into the message attributes (googclient_traceparent, as
// the Go Pub/Sub client with tracing does), else the event's traceparent
// extension. See README.md to deploy it.
package pubsub

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"strings"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/adapters/handler"
	"github.com/gcftrace/gcftrace/wiring"
)

func init() {
	t, err := wiring.New(context.Background()) // DT_* / OTEL_* / dtconfig.json
	if err != nil {
		log.Printf("tracing off: %v", err) // the function still runs, untraced
	}
	functions.CloudEvent("receive", handler.CloudEvent(Receive, t.HandlerOptions()...))
}

// MessagePublishedData is the data of a messagePublished event.
type MessagePublishedData struct {
	Message struct {
		Data       []byte            `json:"data"`
		Attributes map[string]string `json:"attributes"`
		MessageID  string            `json:"messageId"`
	} `json:"message"`
	Subscription string `json:"subscription"`
}

// Receive handles one order message: it decodes the event and "processes"
// the order in a child span. An order without an id is an error, which the
// wrapper records and Eventarc retries.
func Receive(ctx context.Context, e event.Event) error {
	var msg MessagePublishedData
	if err := e.DataAs(&msg); err != nil {
		return fmt.Errorf("pubsub: decode event %s: %w", e.ID(), err)
	}
	var order struct {
		ID    string `json:"id"`
		Items int    `json:"items"`
	}
	if err := json.Unmarshal(msg.Message.Data, &order); err != nil {
		return fmt.Errorf("pubsub: order in message %s: %w", msg.Message.MessageID, err)
	}
	return process(ctx, order.ID, order.Items)
}

func process(ctx context.Context, id string, items int) error {
	tracer := trace.SpanFromContext(ctx).TracerProvider().Tracer("github.com/gcftrace/gcftrace/examples/pubsub")
	_, span := tracer.Start(ctx, "process order")
	defer span.End()
	span.SetAttributes(attribute.String("order.id", id), attribute.Int("order.items", items))
	if strings.TrimSpace(id) == "" {
		return fmt.Errorf("pubsub: order without an id")
	}
	return nil
}
