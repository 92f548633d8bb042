package handler_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	fnmetadata "cloud.google.com/go/functions/metadata"
	"github.com/cloudevents/sdk-go/v2/event"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gcftrace/gcftrace/adapters/handler"
)

// newProvider records spans in memory; an application passes the options of
// its tracing setup instead (wiring's HandlerOptions).
func newProvider() (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	return sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)), exp
}

func printSpan(exp *tracetest.InMemoryExporter, keys ...string) {
	for _, s := range exp.GetSpans() {
		fmt.Printf("%s (%s)\n", s.Name, s.SpanKind)
		for _, k := range keys {
			for _, kv := range s.Attributes {
				if string(kv.Key) == k {
					fmt.Printf("  %s=%s\n", k, kv.Value.String())
				}
			}
		}
	}
}

func ExampleHTTP() {
	tp, exp := newProvider()
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	})
	// With functions-framework-go:
	//	functions.HTTP("hello", handler.HTTP(hello, opts...).ServeHTTP)
	h := handler.HTTP(hello, handler.WithTracerProvider(tp), handler.WithFlusher(tp),
		handler.WithRoute(func(*http.Request) string { return "/hello" }))

	r := httptest.NewRequest("GET", "/hello?name=gopher", nil)
	r.Header.Set("Function-Execution-Id", "exec-42")
	h.ServeHTTP(httptest.NewRecorder(), r)
	printSpan(exp, "faas.trigger", "faas.invocation_id", "http.route", "url.query", "http.response.status_code")
	// Output:
	// GET /hello (server)
	//   faas.trigger=http
	//   faas.invocation_id=exec-42
	//   http.route=/hello
	//   url.query=name=gopher
	//   http.response.status_code=200
}

func ExampleCloudEvent() {
	tp, exp := newProvider()
	onUpload := func(ctx context.Context, e event.Event) error { return nil }
	// With functions-framework-go:
	//	functions.CloudEvent("onUpload", handler.CloudEvent(onUpload, opts...))
	// Spans other than Pub/Sub's are named after the function: K_SERVICE by
	// default, here set explicitly.
	fn := handler.CloudEvent(onUpload, handler.WithTracerProvider(tp), handler.WithFlusher(tp),
		handler.WithFunctionName("on-upload"))

	e := event.New()
	e.SetID("1234")
	e.SetType("google.cloud.storage.object.v1.finalized")
	e.SetSource("//storage.googleapis.com/projects/_/buckets/uploads")
	e.SetSubject("objects/cat.jpg")
	e.SetExtension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	_ = fn(context.Background(), e)
	printSpan(exp, "faas.trigger", "faas.invocation_id", "faas.document.collection", "faas.document.name", "faas.document.operation")
	fmt.Println("parent trace:", exp.GetSpans()[0].Parent.TraceID())
	// Output:
	// on-upload (server)
	//   faas.trigger=datasource
	//   faas.invocation_id=1234
	//   faas.document.collection=uploads
	//   faas.document.name=cat.jpg
	//   faas.document.operation=insert
	// parent trace: 0af7651916cd43dd8448eb211c80319c
}

func ExampleCloudEventHTTP() {
	tp, exp := newProvider()
	onMessage := func(ctx context.Context, e event.Event) error { return nil }
	// Registered as an HTTP function, it sees the request headers too:
	//	functions.HTTP("onMessage", handler.CloudEventHTTP(onMessage, opts...).ServeHTTP)
	h := handler.CloudEventHTTP(onMessage, handler.WithTracerProvider(tp), handler.WithFlusher(tp))

	// A Pub/Sub message as Eventarc delivers it, in binary mode.
	body := `{"message":{"attributes":{"googclient_traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},"data":"aGk=","messageId":"9876"},"subscription":"projects/p/subscriptions/eventarc-sub"}`
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Ce-Specversion", "1.0")
	r.Header.Set("Ce-Id", "9876")
	r.Header.Set("Ce-Type", "google.cloud.pubsub.topic.v1.messagePublished")
	r.Header.Set("Ce-Source", "//pubsub.googleapis.com/projects/p/topics/orders")
	r.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println("status:", w.Code)
	printSpan(exp, "faas.trigger", "messaging.destination.name", "messaging.destination.subscription.name", "messaging.message.id")
	s := exp.GetSpans()[0]
	fmt.Println("parent trace:", s.Parent.TraceID())
	fmt.Println("linked trace:", s.Links[0].SpanContext.TraceID())
	// Output:
	// status: 200
	// subscribe orders (consumer)
	//   faas.trigger=pubsub
	//   messaging.destination.name=orders
	//   messaging.destination.subscription.name=eventarc-sub
	//   messaging.message.id=9876
	// parent trace: 0af7651916cd43dd8448eb211c80319c
	// linked trace: 4bf92f3577b34da6a3ce929d0e0e4736
}

func ExamplePubSubPush() {
	tp, exp := newProvider()
	push := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent) // acknowledge
	})
	mux := http.NewServeMux()
	mux.Handle("POST /push/projects/{p}/topics/{t}", handler.PubSubPush(push, handler.WithTracerProvider(tp)))

	body := `{"message":{"data":"aGk=","messageId":"555"},"subscription":"projects/p/subscriptions/orders-push","deliveryAttempt":2}`
	mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/push/projects/p/topics/orders", strings.NewReader(body)))
	printSpan(exp, "faas.trigger", "messaging.message.id", "messaging.gcp_pubsub.message.delivery_attempt", "http.response.status_code")
	// Output:
	// subscribe orders (consumer)
	//   faas.trigger=pubsub
	//   messaging.message.id=555
	//   messaging.gcp_pubsub.message.delivery_attempt=2
	//   http.response.status_code=204
}

// PubSubMessage is the data of a legacy Pub/Sub background event.
type PubSubMessage struct {
	Data       []byte            `json:"data"`
	Attributes map[string]string `json:"attributes"`
}

func ExampleEvent() {
	tp, exp := newProvider()
	onPublish := func(ctx context.Context, m PubSubMessage) error { return nil }
	// With functions-framework-go:
	//	funcframework.RegisterEventFunctionContext(ctx, "/onPublish", handler.Event(onPublish, opts...))
	fn := handler.Event(onPublish, handler.WithTracerProvider(tp), handler.WithFlusher(tp))

	// The framework puts the event's metadata in the context.
	ctx := fnmetadata.NewContext(context.Background(), &fnmetadata.Metadata{
		EventID:   "1122",
		EventType: "google.pubsub.topic.publish",
		Resource:  &fnmetadata.Resource{Name: "projects/p/topics/orders"},
	})
	_ = fn(ctx, PubSubMessage{Data: []byte("hi")})
	printSpan(exp, "faas.trigger", "faas.invocation_id", "messaging.destination.name")
	// Output:
	// subscribe orders (consumer)
	//   faas.trigger=pubsub
	//   faas.invocation_id=1122
	//   messaging.destination.name=orders
}
