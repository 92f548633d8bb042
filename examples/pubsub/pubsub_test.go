package pubsub_test

import (
	"context"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/adapters/handler"
	"github.com/gcftrace/gcftrace/core"
	"github.com/gcftrace/gcftrace/examples/pubsub"
	"github.com/gcftrace/gcftrace/ports"
	"github.com/gcftrace/gcftrace/ports/portstest"
	"github.com/gcftrace/gcftrace/wiring"
)

func messagePublished(t *testing.T, data string, attrs map[string]string) event.Event {
	t.Helper()
	e := event.New()
	e.SetID("msg-1")
	e.SetSource("//pubsub.googleapis.com/projects/demo-project/topics/orders")
	e.SetType("google.cloud.pubsub.topic.v1.messagePublished")
	payload := map[string]any{
		"message":      map[string]any{"data": []byte(data), "attributes": attrs, "messageId": "m-42"},
		"subscription": "projects/demo-project/subscriptions/orders-fn",
	}
	if err := e.SetData("application/json", payload); err != nil {
		t.Fatal(err)
	}
	return e
}

func traced(t *testing.T) (*tracetest.InMemoryExporter, func(context.Context, event.Event) error) {
	exp := tracetest.NewInMemoryExporter()
	cfg := core.NewDefaultConfig()
	cfg.Endpoint = "http://127.0.0.1:4318/v1/traces"
	tr, err := wiring.New(t.Context(), wiring.WithConfig(cfg), wiring.WithExporter(exp),
		wiring.WithEnvironmentSource(portstest.StaticEnvironment{Platform: ports.PlatformFunctionsGen2, Function: "receive"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return exp, handler.CloudEvent(pubsub.Receive, tr.HandlerOptions()...)
}

func TestReceiveContinuesThePublishersTrace(t *testing.T) {
	exp, fn := traced(t)
	publisher := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	e := messagePublished(t, `{"id":"o-1","items":3}`, map[string]string{"googclient_traceparent": publisher})
	if err := fn(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans() // flushed on exit
	if len(spans) != 2 {
		t.Fatalf("%d spans, want the consumer span and its child", len(spans))
	}
	var consumer tracetest.SpanStub
	for _, s := range spans {
		if s.SpanKind == trace.SpanKindConsumer {
			consumer = s
		}
	}
	if consumer.Name != "subscribe orders" {
		t.Errorf("consumer span %q, want \"subscribe orders\"", consumer.Name)
	}
	if got := consumer.Parent.TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace %s, want the publisher's", got)
	}
	attrs := map[string]string{}
	for _, kv := range consumer.Attributes {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	for k, want := range map[string]string{
		"faas.trigger": "pubsub", "messaging.system": "gcp_pubsub", "messaging.destination.name": "orders",
		"messaging.message.id": "m-42", "faas.invocation_id": "msg-1",
	} {
		if attrs[k] != want {
			t.Errorf("%s = %q, want %q", k, attrs[k], want)
		}
	}
}

func TestReceiveRecordsABadOrder(t *testing.T) {
	exp, fn := traced(t)
	if err := fn(t.Context(), messagePublished(t, `{"items":1}`, nil)); err == nil {
		t.Fatal("an order without an id was accepted")
	}
	var consumers []tracetest.SpanStub
	for _, s := range exp.GetSpans() { // flushed on exit
		if s.SpanKind == trace.SpanKindConsumer {
			consumers = append(consumers, s)
		}
	}
	if len(consumers) != 1 {
		t.Fatalf("%d consumer spans in %d, want 1", len(consumers), len(exp.GetSpans()))
	}
	if s := consumers[0]; s.Status.Code != codes.Error {
		t.Errorf("consumer span status %v, want Error", s.Status)
	}
}
