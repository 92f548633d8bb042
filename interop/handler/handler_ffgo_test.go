package handler_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/gcftrace/gcftrace/adapters/export/exporttest"
	"github.com/gcftrace/gcftrace/adapters/handler"
)

// Trace contexts the requests carry: the producer of an event (its
// traceparent extension), the publisher of a Pub/Sub message (its
// googclient_traceparent attribute) and the delivering HTTP hop.
const (
	producerTrace = "0af7651916cd43dd8448eb211c80319c"
	producerSpan  = "b7ad6b7169203331"
	producerTP    = "00-" + producerTrace + "-" + producerSpan + "-01"

	publisherTrace = "5b8efff798038103d269b633813fc60c"
	publisherSpan  = "eee19b7ec3c1b174"
	publisherTP    = "00-" + publisherTrace + "-" + publisherSpan + "-01"

	hopTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	hopSpan  = "00f067aa0ba902b7"
	hopTP    = "00-" + hopTrace + "-" + hopSpan + "-01"
)

// register registers the wrapped functions with functions-framework-go, as
// an application does in init.
// Event spans other than Pub/Sub's are named after the function; on Cloud
// Functions that is K_SERVICE, here each registration's name.
func register(opts ...handler.Option) error {
	ctx := context.Background()
	named := func(name string) []handler.Option { return append(slices.Clip(opts), handler.WithFunctionName(name)) }
	functions.HTTP("hello", handler.HTTP(http.HandlerFunc(hello), opts...).ServeHTTP)
	functions.HTTP("httpPanic", handler.HTTP(http.HandlerFunc(httpPanic), opts...).ServeHTTP)
	functions.HTTP("httpError", handler.HTTP(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "backend down", http.StatusBadGateway)
	}), opts...).ServeHTTP)
	functions.CloudEvent("onEvent", handler.CloudEvent(onEvent, named("onEvent")...))
	functions.HTTP("onEventHTTP", handler.CloudEventHTTP(onEvent, named("onEventHTTP")...).ServeHTTP)
	var errs []error
	errs = append(errs,
		funcframework.RegisterHTTPFunctionContext(ctx, "/push/projects/p/topics/orders", handler.PubSubPush(http.HandlerFunc(onPush), opts...).ServeHTTP),
		funcframework.RegisterEventFunctionContext(ctx, "/legacy", handler.Event(onLegacy, named("legacy")...)),
		funcframework.RegisterEventFunctionContext(ctx, "/projects/p/topics/legacy-topic", handler.Event(onLegacyPubSub, named("legacyPubSub")...)),
	)
	// The same CloudEvent function, registered with the framework as such
	// and with CloudEventHTTP as an HTTP function, at paths that name a
	// topic and at paths that do not.
	for _, path := range []string{"/side", "/side/projects/p/topics/orders"} {
		errs = append(errs,
			funcframework.RegisterCloudEventFunctionContext(ctx, "/framework"+path, framework.record),
			funcframework.RegisterHTTPFunctionContext(ctx, "/wrapper"+path, handler.CloudEventHTTP(wrapper.record, named("side")...).ServeHTTP),
		)
	}
	return errors.Join(errs...)
}

// httpPanic panics; the exception's stack must show it.
func httpPanic(http.ResponseWriter, *http.Request) { panic(errors.New("http function panicked")) }

// recorder keeps the last event a function received.
type recorder struct {
	mu   sync.Mutex
	last *event.Event
}

var framework, wrapper recorder

func (rec *recorder) record(_ context.Context, e event.Event) error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.last = &e
	return nil
}

// take returns the last event and forgets it.
func (rec *recorder) take() *event.Event {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	e := rec.last
	rec.last = nil
	return e
}

func hello(w http.ResponseWriter, r *http.Request) {
	sc := trace.SpanContextFromContext(r.Context())
	fmt.Fprintf(w, "hello trace=%s span=%s", sc.TraceID(), sc.SpanID())
}

// errNoSpan is what the functions return when their context holds no span.
var errNoSpan = errors.New("no span in the function's context")

// onEvent fails for subject "fail" and panics for "panic".
func onEvent(ctx context.Context, e event.Event) error {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return errNoSpan
	}
	switch e.Subject() {
	case "fail":
		return errors.New("event function failed")
	case "panic":
		panic("event function panicked")
	}
	return nil
}

func onPush(w http.ResponseWriter, r *http.Request) {
	var env struct {
		Message struct {
			Data []byte `json:"data"`
		} `json:"message"`
	}
	if err := json.NewDecoder(r.Body).Decode(&env); err != nil || string(env.Message.Data) != "hello" {
		http.Error(w, "bad push body", http.StatusBadRequest)
		return
	}
	if !trace.SpanContextFromContext(r.Context()).IsValid() {
		http.Error(w, errNoSpan.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// onLegacy fails for an object named "fail".
func onLegacy(ctx context.Context, data map[string]any) error {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return errNoSpan
	}
	if data["name"] == "fail" {
		return errors.New("legacy function failed")
	}
	return nil
}

// PubSubMessage is the data of a legacy Pub/Sub event.
type PubSubMessage struct {
	Data       []byte            `json:"data"`
	Attributes map[string]string `json:"attributes"`
}

func onLegacyPubSub(ctx context.Context, m PubSubMessage) error {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return errNoSpan
	}
	if string(m.Data) != "hello" {
		return fmt.Errorf("data %q", m.Data)
	}
	return nil
}

// call sends r to the framework and returns the answer and the spans that
// reached the sink by the time the response was read: flush on exit puts
// them there before the response completes, so there is no waiting.
func call(t *testing.T, r *http.Request) (*http.Response, string, []exporttest.Span) {
	t.Helper()
	before := len(sink.Spans())
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body), sink.Spans()[before:]
}

// one returns the single span of spans.
func one(t *testing.T, spans []exporttest.Span) *tracepb.Span {
	t.Helper()
	if len(spans) != 1 {
		t.Fatalf("%d spans at the sink when the response arrived, want 1 (flushed on exit)", len(spans))
	}
	s := spans[0]
	if s.Scope.GetName() != handler.ScopeName || s.Scope.GetVersion() != handler.Version {
		t.Errorf("scope %s %s", s.Scope.GetName(), s.Scope.GetVersion())
	}
	if got := attrMap(s.Resource.GetAttributes())["service.name"]; got != "interop-handler" {
		t.Errorf("resource service.name %v", got)
	}
	sp := s.Span
	if len(sp.TraceId) != 16 || len(sp.SpanId) != 8 {
		t.Errorf("trace id %x span id %x", sp.TraceId, sp.SpanId)
	}
	if sp.StartTimeUnixNano == 0 || sp.EndTimeUnixNano < sp.StartTimeUnixNano {
		t.Errorf("times %d..%d", sp.StartTimeUnixNano, sp.EndTimeUnixNano)
	}
	if time.Since(time.Unix(0, int64(sp.EndTimeUnixNano))) > time.Minute {
		t.Errorf("span ended at %v", time.Unix(0, int64(sp.EndTimeUnixNano)))
	}
	return sp
}

// present stands for any value in checkAttrs.
const present = "<present>"

func attrMap(kvs []*commonpb.KeyValue) map[string]any {
	m := map[string]any{}
	for _, kv := range kvs {
		switch v := kv.Value.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = int(v.IntValue)
		case *commonpb.AnyValue_BoolValue:
			m[kv.Key] = v.BoolValue
		case *commonpb.AnyValue_DoubleValue:
			m[kv.Key] = v.DoubleValue
		default:
			m[kv.Key] = kv.Value.String()
		}
	}
	return m
}

// checkAttrs compares attributes: nil wants the key absent, present any
// value.
func checkAttrs(t *testing.T, kvs []*commonpb.KeyValue, want map[string]any) {
	t.Helper()
	got := attrMap(kvs)
	for k, w := range want {
		v, ok := got[k]
		switch {
		case w == nil:
			if ok {
				t.Errorf("%s = %v, want it absent", k, v)
			}
		case w == present:
			if !ok {
				t.Errorf("%s absent", k)
			}
		case !ok || v != w:
			t.Errorf("%s = %#v, want %#v", k, v, w)
		}
	}
}

func checkKind(t *testing.T, s *tracepb.Span, name string, kind tracepb.Span_SpanKind) {
	t.Helper()
	if s.Name != name || s.Kind != kind {
		t.Errorf("span %q %v, want %q %v", s.Name, s.Kind, name, kind)
	}
}

func checkParent(t *testing.T, s *tracepb.Span, traceID, spanID string) {
	t.Helper()
	if got := hex.EncodeToString(s.TraceId); got != traceID {
		t.Errorf("trace id %s, want %s", got, traceID)
	}
	if got := hex.EncodeToString(s.ParentSpanId); got != spanID {
		t.Errorf("parent span id %q, want %q", got, spanID)
	}
}

func checkRoot(t *testing.T, s *tracepb.Span) {
	t.Helper()
	if len(s.ParentSpanId) != 0 {
		t.Errorf("parent span id %x, want a root", s.ParentSpanId)
	}
}

func checkLinks(t *testing.T, s *tracepb.Span, traceSpanIDs ...string) {
	t.Helper()
	var got []string
	for _, l := range s.Links {
		got = append(got, hex.EncodeToString(l.TraceId)+"-"+hex.EncodeToString(l.SpanId))
	}
	if strings.Join(got, ",") != strings.Join(traceSpanIDs, ",") {
		t.Errorf("links %v, want %v", got, traceSpanIDs)
	}
}

func checkOK(t *testing.T, s *tracepb.Span) {
	t.Helper()
	if s.Status.GetCode() != tracepb.Status_STATUS_CODE_UNSET || len(s.Events) != 0 {
		t.Errorf("status %v, events %v, want unset and none", s.Status, s.Events)
	}
}

// checkFailed checks status Error with message and, when exceptionType is
// set, one exception event of that type; for a panic, its stack must show
// panicFrame, the function that panicked.
func checkFailed(t *testing.T, s *tracepb.Span, message, errorType, exceptionType, panicFrame string) {
	t.Helper()
	if s.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || s.Status.GetMessage() != message {
		t.Errorf("status %v, want ERROR %q", s.Status, message)
	}
	checkAttrs(t, s.Attributes, map[string]any{"error.type": errorType})
	if exceptionType == "" {
		if len(s.Events) != 0 {
			t.Errorf("events %v, want none", s.Events)
		}
		return
	}
	if len(s.Events) != 1 || s.Events[0].Name != "exception" {
		t.Fatalf("events %v, want one exception", s.Events)
	}
	ev := attrMap(s.Events[0].Attributes)
	if ev["exception.type"] != exceptionType || ev["exception.message"] != message {
		t.Errorf("exception %v", ev)
	}
	stack, _ := ev["exception.stacktrace"].(string)
	if panicFrame == "" && stack != "" {
		t.Errorf("exception.stacktrace %q, want none for a returned error", stack)
	}
	if panicFrame != "" && !strings.Contains(stack, panicFrame) {
		t.Errorf("exception.stacktrace has no frame %s, the panicking function:\n%s", panicFrame, stack)
	}
}

func post(t *testing.T, path, contentType, body string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, baseURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", contentType)
	return r
}

// ceRequest encodes e with the CloudEvents SDK, in binary or structured mode.
func ceRequest(t *testing.T, path string, e event.Event, structured bool) *http.Request {
	t.Helper()
	ctx := context.Background()
	if structured {
		ctx = binding.WithForceStructured(ctx)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&e), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func storageEvent(t *testing.T, subject string) event.Event {
	t.Helper()
	e := event.New()
	e.SetID("storage-1")
	e.SetType("google.cloud.storage.object.v1.finalized")
	e.SetSource("//storage.googleapis.com/projects/_/buckets/uploads")
	e.SetSubject(subject)
	e.SetTime(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	e.SetExtension("traceparent", producerTP)
	if err := e.SetData(event.ApplicationJSON, map[string]string{"bucket": "uploads", "name": "cat.jpg"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// pushBody is a Pub/Sub push request body (and the data of a
// messagePublished CloudEvent) whose message carries the publisher's
// context.
func pushBody(subscription string) string {
	b, _ := json.Marshal(map[string]any{
		"message": map[string]any{
			"data":        base64.StdEncoding.EncodeToString([]byte("hello")),
			"attributes":  map[string]string{"googclient_traceparent": publisherTP, "origin": "test"},
			"messageId":   "2070443601311540",
			"publishTime": "2026-03-04T05:06:07.123Z",
			"orderingKey": "customer-7",
		},
		"subscription":    subscription,
		"deliveryAttempt": 2,
	})
	return string(b)
}

func TestHandlerHTTPWithTraceparent(t *testing.T) {
	r, _ := http.NewRequest(http.MethodGet, baseURL+"/hello?name=gopher&sig=secret", nil)
	r.Header.Set("traceparent", hopTP)
	r.Header.Set("Function-Execution-Id", "exec-123")
	r.Header.Set("User-Agent", "interop-test/1")
	resp, body, spans := call(t, r)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	s := one(t, spans)
	if want := fmt.Sprintf("hello trace=%s span=%x", hopTrace, s.SpanId); body != want {
		t.Errorf("body %q, want %q: the function's context holds the span", body, want)
	}
	checkKind(t, s, "GET /hello", tracepb.Span_SPAN_KIND_SERVER)
	checkParent(t, s, hopTrace, hopSpan)
	checkLinks(t, s)
	checkOK(t, s)
	checkAttrs(t, s.Attributes, map[string]any{
		"faas.trigger":              "http",
		"faas.invocation_id":        "exec-123",
		"faas.coldstart":            present,
		"http.request.method":       "GET",
		"http.route":                "/hello",
		"url.path":                  "/hello",
		"url.query":                 "name=gopher&sig=REDACTED",
		"url.scheme":                "http",
		"server.address":            "127.0.0.1",
		"server.port":               present,
		"client.address":            "127.0.0.1",
		"network.peer.address":      "127.0.0.1",
		"network.peer.port":         present,
		"network.protocol.version":  "1.1",
		"user_agent.original":       "interop-test/1",
		"http.response.status_code": 200,
		"error.type":                nil,
	})
}

func TestHandlerHTTPWithoutTraceparent(t *testing.T) {
	r, _ := http.NewRequest(http.MethodPost, baseURL+"/hello", strings.NewReader("{}"))
	resp, body, spans := call(t, r)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	s := one(t, spans)
	checkKind(t, s, "POST /hello", tracepb.Span_SPAN_KIND_SERVER)
	checkRoot(t, s)
	checkOK(t, s)
	checkAttrs(t, s.Attributes, map[string]any{
		"faas.trigger":              "http",
		"faas.invocation_id":        hex.EncodeToString(s.SpanId),
		"http.request.method":       "POST",
		"url.query":                 nil,
		"http.response.status_code": 200,
	})
}

func TestHandlerHTTPPanic(t *testing.T) {
	r, _ := http.NewRequest(http.MethodGet, baseURL+"/httpPanic", nil)
	r.Header.Set("traceparent", hopTP)
	resp, _, spans := call(t, r)
	if resp.StatusCode != 500 || resp.Header.Get("X-Google-Status") != "crash" {
		t.Errorf("answer %d %q, want the framework's 500 crash", resp.StatusCode, resp.Header.Get("X-Google-Status"))
	}
	s := one(t, spans)
	checkKind(t, s, "GET /httpPanic", tracepb.Span_SPAN_KIND_SERVER)
	checkParent(t, s, hopTrace, hopSpan)
	checkFailed(t, s, "http function panicked", "*errors.errorString", "*errors.errorString", "handler_test.httpPanic(")
	checkAttrs(t, s.Attributes, map[string]any{"faas.trigger": "http", "http.response.status_code": nil})
}

func TestHandlerHTTPServerError(t *testing.T) {
	r, _ := http.NewRequest(http.MethodGet, baseURL+"/httpError", nil)
	resp, _, spans := call(t, r)
	if resp.StatusCode != 502 {
		t.Errorf("status %d", resp.StatusCode)
	}
	s := one(t, spans)
	checkFailed(t, s, "", "502", "", "")
	checkAttrs(t, s.Attributes, map[string]any{"http.response.status_code": 502})
}

// The framework gives CloudEvent functions no headers: the hop's traceparent
// is lost and the producer's is the parent.
func TestHandlerCloudEvent(t *testing.T) {
	for _, structured := range []bool{false, true} {
		t.Run(map[bool]string{false: "binary", true: "structured"}[structured], func(t *testing.T) {
			r := ceRequest(t, "/onEvent", storageEvent(t, "objects/cat.jpg"), structured)
			r.Header.Set("traceparent", hopTP)
			resp, body, spans := call(t, r)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			s := one(t, spans)
			checkKind(t, s, "onEvent", tracepb.Span_SPAN_KIND_SERVER)
			checkParent(t, s, producerTrace, producerSpan)
			checkLinks(t, s)
			checkOK(t, s)
			checkAttrs(t, s.Attributes, wantStorage())
		})
	}
}

func wantStorage() map[string]any {
	return map[string]any{
		"faas.trigger":                   "datasource",
		"faas.invocation_id":             "storage-1",
		"faas.coldstart":                 present,
		"faas.document.collection":       "uploads",
		"faas.document.name":             "cat.jpg",
		"faas.document.operation":        "insert",
		"faas.document.time":             "2026-03-04T05:06:07Z",
		"cloudevents.event_id":           "storage-1",
		"cloudevents.event_source":       "//storage.googleapis.com/projects/_/buckets/uploads",
		"cloudevents.event_spec_version": "1.0",
		"cloudevents.event_type":         "google.cloud.storage.object.v1.finalized",
		"cloudevents.event_subject":      "objects/cat.jpg",
	}
}

// Registered as an HTTP function, CloudEventHTTP sees both contexts.
func TestHandlerCloudEventHTTP(t *testing.T) {
	for _, structured := range []bool{false, true} {
		t.Run(map[bool]string{false: "binary", true: "structured"}[structured], func(t *testing.T) {
			r := ceRequest(t, "/onEventHTTP", storageEvent(t, "objects/cat.jpg"), structured)
			r.Header.Set("traceparent", hopTP)
			resp, body, spans := call(t, r)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			s := one(t, spans)
			checkKind(t, s, "onEventHTTP", tracepb.Span_SPAN_KIND_SERVER)
			checkParent(t, s, producerTrace, producerSpan)
			checkLinks(t, s, hopTrace+"-"+hopSpan)
			checkOK(t, s)
			want := wantStorage()
			want["http.response.status_code"] = 200
			checkAttrs(t, s.Attributes, want)
		})
	}
}

func TestHandlerCloudEventHTTPBadEvent(t *testing.T) {
	resp, _, spans := call(t, post(t, "/onEventHTTP", "application/cloudevents+json", `{"specversion":"1.0","id":`))
	if resp.StatusCode != 400 || len(spans) != 0 {
		t.Errorf("status %d with %d spans, want 400 and no invocation", resp.StatusCode, len(spans))
	}
}

func TestHandlerCloudEventErrorAndPanic(t *testing.T) {
	tests := []struct {
		path, subject, wantMessage, wantErrorType, wantExceptionType, wantFrame string
	}{
		{path: "/onEvent", subject: "fail", wantMessage: "event function failed", wantErrorType: "*errors.errorString", wantExceptionType: "*errors.errorString"},
		{path: "/onEvent", subject: "panic", wantMessage: "event function panicked", wantErrorType: "panic", wantExceptionType: "string", wantFrame: "handler_test.onEvent("},
		{path: "/onEventHTTP", subject: "fail", wantMessage: "event function failed", wantErrorType: "*errors.errorString", wantExceptionType: "*errors.errorString"},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.subject, func(t *testing.T) {
			resp, _, spans := call(t, ceRequest(t, tt.path, storageEvent(t, tt.subject), false))
			if resp.StatusCode != 500 {
				t.Errorf("status %d, want 500", resp.StatusCode)
			}
			s := one(t, spans)
			checkParent(t, s, producerTrace, producerSpan)
			checkFailed(t, s, tt.wantMessage, tt.wantErrorType, tt.wantExceptionType, tt.wantFrame)
		})
	}
}

func TestHandlerCloudEventHTTPPanicAnsweredByFramework(t *testing.T) {
	resp, _, spans := call(t, ceRequest(t, "/onEventHTTP", storageEvent(t, "panic"), false))
	if resp.StatusCode != 500 || resp.Header.Get("X-Google-Status") != "crash" {
		t.Errorf("answer %d %q, want the framework's 500 crash", resp.StatusCode, resp.Header.Get("X-Google-Status"))
	}
	checkFailed(t, one(t, spans), "event function panicked", "panic", "string", "handler_test.onEvent(")
}

// A Pub/Sub message as Eventarc delivers it: a binary messagePublished
// CloudEvent.
func TestHandlerCloudEventPubSub(t *testing.T) {
	e := event.New()
	e.SetID("2070443601311540")
	e.SetType("google.cloud.pubsub.topic.v1.messagePublished")
	e.SetSource("//pubsub.googleapis.com/projects/p/topics/orders")
	e.SetTime(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	if err := e.SetData(event.ApplicationJSON, json.RawMessage(pushBody("projects/p/subscriptions/eventarc-sub"))); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/onEvent", "/onEventHTTP"} {
		t.Run(path, func(t *testing.T) {
			r := ceRequest(t, path, e, false)
			r.Header.Set("traceparent", hopTP)
			resp, body, spans := call(t, r)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			s := one(t, spans)
			checkKind(t, s, "subscribe orders", tracepb.Span_SPAN_KIND_CONSUMER)
			checkParent(t, s, publisherTrace, publisherSpan)
			if path == "/onEventHTTP" {
				checkLinks(t, s, hopTrace+"-"+hopSpan)
			} else {
				checkLinks(t, s)
			}
			checkOK(t, s)
			checkAttrs(t, s.Attributes, map[string]any{
				"faas.trigger":                                  "pubsub",
				"faas.invocation_id":                            "2070443601311540",
				"messaging.system":                              "gcp_pubsub",
				"messaging.operation.type":                      "process",
				"messaging.operation.name":                      "subscribe",
				"messaging.destination.name":                    "orders",
				"messaging.destination.subscription.name":       "eventarc-sub",
				"messaging.message.id":                          "2070443601311540",
				"messaging.gcp_pubsub.message.ordering_key":     "customer-7",
				"messaging.gcp_pubsub.message.delivery_attempt": 2,
				"cloudevents.event_type":                        "google.cloud.pubsub.topic.v1.messagePublished",
				"cloudevents.event_source":                      "//pubsub.googleapis.com/projects/p/topics/orders",
			})
		})
	}
}

// A raw Pub/Sub push request to an HTTP function wrapped with PubSubPush.
func TestHandlerPubSubPush(t *testing.T) {
	r := post(t, "/push/projects/p/topics/orders", "application/json", pushBody("projects/p/subscriptions/orders-push"))
	r.Header.Set("traceparent", hopTP)
	resp, body, spans := call(t, r)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	s := one(t, spans)
	checkKind(t, s, "subscribe orders", tracepb.Span_SPAN_KIND_CONSUMER)
	checkParent(t, s, publisherTrace, publisherSpan)
	checkLinks(t, s, hopTrace+"-"+hopSpan)
	checkOK(t, s)
	checkAttrs(t, s.Attributes, map[string]any{
		"faas.trigger":                                  "pubsub",
		"faas.invocation_id":                            "2070443601311540",
		"messaging.system":                              "gcp_pubsub",
		"messaging.destination.name":                    "orders",
		"messaging.destination.subscription.name":       "orders-push",
		"messaging.message.id":                          "2070443601311540",
		"messaging.gcp_pubsub.message.delivery_attempt": 2,
		"http.response.status_code":                     204,
		"cloudevents.event_id":                          nil,
	})
}

// A raw Pub/Sub push request to a legacy background function: the framework
// turns it into a background event, with the topic from the URL path.
func TestHandlerLegacyPubSubPush(t *testing.T) {
	r := post(t, "/projects/p/topics/legacy-topic", "application/json", pushBody("projects/p/subscriptions/legacy-sub"))
	resp, body, spans := call(t, r)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	s := one(t, spans)
	checkKind(t, s, "subscribe legacy-topic", tracepb.Span_SPAN_KIND_CONSUMER)
	checkParent(t, s, publisherTrace, publisherSpan)
	checkOK(t, s)
	checkAttrs(t, s.Attributes, map[string]any{
		"faas.trigger":               "pubsub",
		"faas.invocation_id":         "2070443601311540",
		"messaging.system":           "gcp_pubsub",
		"messaging.destination.name": "legacy-topic",
		"messaging.message.id":       "2070443601311540",
	})
}

func legacyEnvelope(name string) string {
	b, _ := json.Marshal(map[string]any{
		"data": map[string]any{"bucket": "uploads", "name": name},
		"context": map[string]any{
			"eventId":   "legacy-77",
			"timestamp": "2026-03-04T05:06:07Z",
			"eventType": "google.storage.object.finalize",
			"resource": map[string]any{
				"service": "storage.googleapis.com",
				"name":    "projects/_/buckets/uploads/objects/" + name,
				"type":    "storage#object",
			},
		},
	})
	return string(b)
}

func TestHandlerLegacyEnvelope(t *testing.T) {
	resp, body, spans := call(t, post(t, "/legacy", "application/json", legacyEnvelope("cat.jpg")))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	s := one(t, spans)
	checkKind(t, s, "legacy", tracepb.Span_SPAN_KIND_SERVER)
	checkRoot(t, s)
	checkOK(t, s)
	checkAttrs(t, s.Attributes, map[string]any{
		"faas.trigger":             "datasource",
		"faas.invocation_id":       "legacy-77",
		"faas.document.collection": "uploads",
		"faas.document.name":       "cat.jpg",
		"faas.document.operation":  "insert",
		"faas.document.time":       "2026-03-04T05:06:07Z",
		"cloudevents.event_id":     nil,
	})
}

func TestHandlerLegacyError(t *testing.T) {
	resp, _, spans := call(t, post(t, "/legacy", "application/json", legacyEnvelope("fail")))
	if resp.StatusCode != 500 || resp.Header.Get("X-Google-Status") != "error" {
		t.Errorf("answer %d %q, want the framework's 500 error", resp.StatusCode, resp.Header.Get("X-Google-Status"))
	}
	checkFailed(t, one(t, spans), "legacy function failed", "*errors.errorString", "*errors.errorString", "")
}
