package handler

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/ports/portstest"
)

func TestParsePubSub(t *testing.T) {
	tests := []struct {
		name string
		give string
		want pubsubMessage
	}{
		{
			name: "push envelope",
			give: `{"message":{"attributes":{"a":"1"},"data":"aGk=","messageId":"m1","message_id":"m1","orderingKey":"k","publishTime":"2026-01-01T00:00:00Z"},"subscription":"projects/p/subscriptions/s","deliveryAttempt":4}`,
			want: pubsubMessage{attributes: map[string]string{"a": "1"}, id: "m1", orderingKey: "k", deliveryAttempt: 4, subscription: "s"},
		},
		{
			name: "delivery attempt inside the message",
			give: `{"message":{"messageId":"m1","deliveryAttempt":2}}`,
			want: pubsubMessage{id: "m1", deliveryAttempt: 2},
		},
		{
			name: "subscription without a path",
			give: `{"message":{},"subscription":"s"}`,
			want: pubsubMessage{subscription: "s"},
		},
		{
			name: "wrong types are skipped, the rest kept",
			give: `{"message":{"attributes":"nope","messageId":"m1"},"subscription":7}`,
			want: pubsubMessage{id: "m1"},
		},
		{name: "syntax error", give: `{"message":{"messageId":"m1"`, want: pubsubMessage{}},
		{name: "not an object", give: `["m1"]`, want: pubsubMessage{}},
		{name: "empty", give: ``, want: pubsubMessage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parsePubSub([]byte(tt.give)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parsePubSub(%s) = %+v, want %+v", tt.give, got, tt.want)
			}
		})
	}
}

func pushBody(t *testing.T, attrs map[string]string) string {
	t.Helper()
	b, err := json.Marshal(pubsubData(attrs))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPubSubPush(t *testing.T) {
	rec, tp := recorder()
	flusher := &portstest.CountingFlusher{}
	body := pushBody(t, map[string]string{"googclient_traceparent": publisherTP})
	var got string
	var inNext trace.SpanContext
	srv := serve(t, PubSubPush(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
		inNext = trace.SpanContextFromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}), WithTracerProvider(tp), WithFlusher(flusher)))

	req, _ := http.NewRequest("POST", srv.URL+"/push/projects/p/topics/orders", strings.NewReader(body))
	req.Header.Set("traceparent", hopTP)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("status %d", resp.StatusCode)
	}
	if got != body {
		t.Errorf("next read %q, want the body as sent", got)
	}
	s := only(t, rec)
	if inNext.SpanID() != s.SpanContext().SpanID() {
		t.Error("next's context does not hold the span")
	}
	checkPushSpan(t, s, publisherTP, hopTP)
	checkAttrs(t, s, map[attribute.Key]any{
		"faas.trigger":                                  "pubsub",
		"faas.invocation_id":                            "msg-1",
		"messaging.system":                              "gcp_pubsub",
		"messaging.operation.type":                      "process",
		"messaging.destination.name":                    "orders",
		"messaging.destination.subscription.name":       "sub-1",
		"messaging.message.id":                          "msg-1",
		"messaging.gcp_pubsub.message.delivery_attempt": 3,
		"messaging.gcp_pubsub.message.ordering_key":     "ok-1",
		"http.response.status_code":                     204,
		"cloudevents.event_id":                          "",
	})
	if flusher.Calls() != 1 {
		t.Errorf("flushes = %d, want 1", flusher.Calls())
	}
}

// Without a topic the messaging conventions omit the destination from the
// name; the subscription is no destination.
func TestPubSubPushWithoutTopicIsNamedSubscribe(t *testing.T) {
	rec, tp := recorder()
	h := PubSubPush(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithTracerProvider(tp))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", strings.NewReader(pushBody(t, nil))))
	s := only(t, rec)
	if s.Name() != "subscribe" {
		t.Errorf("name %q, want subscribe", s.Name())
	}
	checkAttrs(t, s, map[attribute.Key]any{"messaging.destination.name": "", "messaging.destination.subscription.name": "sub-1"})
}

func TestPubSubPushMalformedBodyStillReachesNext(t *testing.T) {
	for _, body := range []string{"", "not json", `{"message":`, `{"message":{"attributes":{"googclient_traceparent":"garbage"}}}`} {
		t.Run(body, func(t *testing.T) {
			rec, tp := recorder()
			var got string
			h := PubSubPush(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got = string(b)
				http.Error(w, "bad", http.StatusBadRequest)
			}), WithTracerProvider(tp))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader(body)))
			if got != body || w.Code != 400 {
				t.Errorf("next read %q and answered %d", got, w.Code)
			}
			s := only(t, rec)
			if s.Parent().IsValid() || s.Status().Code != codes.Unset {
				t.Errorf("parent %v status %+v", s.Parent(), s.Status())
			}
			checkAttrs(t, s, map[attribute.Key]any{
				"faas.trigger":              "pubsub",
				"faas.invocation_id":        s.SpanContext().SpanID().String(),
				"http.response.status_code": 400,
			})
		})
	}
}

// Without a message id, faas.invocation_id is what HTTP takes.
func TestPubSubPushInvocationIDFallsBackToExecutionID(t *testing.T) {
	rec, tp := recorder()
	h := PubSubPush(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithTracerProvider(tp))
	r := httptest.NewRequest("POST", "/", strings.NewReader("not json"))
	r.Header.Set("Function-Execution-Id", "exec-7")
	h.ServeHTTP(httptest.NewRecorder(), r)
	checkAttrs(t, only(t, rec), map[attribute.Key]any{"faas.invocation_id": "exec-7"})
}

// A body over MaxPushBodySize is not parsed, but next reads all of it, with
// or without a Content-Length.
func TestPubSubPushBodyOverTheLimit(t *testing.T) {
	envelope := `{"message":{"attributes":{"googclient_traceparent":"` + publisherTP + `"},"messageId":"m-1"},"padding":"`
	body := envelope + strings.Repeat("x", MaxPushBodySize-len(envelope)) + `"}`
	for _, known := range []bool{true, false} {
		t.Run(map[bool]string{true: "Content-Length", false: "chunked"}[known], func(t *testing.T) {
			rec, tp := recorder()
			var got []byte
			var gotErr error
			h := PubSubPush(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, gotErr = io.ReadAll(r.Body)
				r.Body.Close()
			}), WithTracerProvider(tp))
			r := httptest.NewRequest("POST", "/projects/p/topics/t", strings.NewReader(body))
			if !known {
				r.ContentLength = -1
				r.Body = io.NopCloser(struct{ io.Reader }{strings.NewReader(body)})
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if gotErr != nil || string(got) != body {
				t.Errorf("next read %d bytes (%v), want the %d sent", len(got), gotErr, len(body))
			}
			s := only(t, rec)
			if s.Parent().IsValid() {
				t.Errorf("parent %v from a body over the limit", s.Parent())
			}
			checkAttrs(t, s, map[attribute.Key]any{
				"messaging.message.id":       "",
				"messaging.destination.name": "t",
				"faas.invocation_id":         s.SpanContext().SpanID().String(),
			})
		})
	}
}

// A body at the limit is parsed.
func TestPubSubPushBodyAtTheLimit(t *testing.T) {
	envelope := `{"message":{"attributes":{"googclient_traceparent":"` + publisherTP + `"},"messageId":"m-1"},"padding":"`
	body := envelope + strings.Repeat("x", MaxPushBodySize-len(envelope)-2) + `"}`
	rec, tp := recorder()
	h := PubSubPush(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithTracerProvider(tp))
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.ContentLength = -1
	h.ServeHTTP(httptest.NewRecorder(), r)
	s := only(t, rec)
	if !s.Parent().Equal(remote(t, publisherTP)) {
		t.Errorf("parent %v, want the publisher's", s.Parent())
	}
	checkAttrs(t, s, map[attribute.Key]any{"messaging.message.id": "m-1"})
}

// failingBody returns some bytes, then an error.
type failingBody struct{ sent bool }

func (b *failingBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, "partial"), nil
	}
	return 0, errors.New("connection reset")
}

func (b *failingBody) Close() error { return nil }

func TestPubSubPushReplaysBodyReadError(t *testing.T) {
	_, tp := recorder()
	var got string
	var gotErr error
	h := PubSubPush(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		got, gotErr = string(b), err
	}), WithTracerProvider(tp))
	r := httptest.NewRequest("POST", "/", nil)
	r.Body = &failingBody{}
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got != "partial" || gotErr == nil || gotErr.Error() != "connection reset" {
		t.Errorf("next read %q, %v; want the bytes, then the error", got, gotErr)
	}
}

// panicPush panics; the exception's stack must show it.
func panicPush() { panic("push panic") }

func TestPubSubPushServerErrorAndPanic(t *testing.T) {
	rec, tp := recorder()
	h := PubSubPush(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panicPush()
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}), WithTracerProvider(tp))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", strings.NewReader(pushBody(t, nil))))
	func() {
		defer func() {
			if r := recover(); r != "push panic" {
				t.Errorf("recovered %v", r)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/panic", strings.NewReader(pushBody(t, nil))))
	}()
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	if spans[0].Status().Code != codes.Error {
		t.Errorf("503: status %+v", spans[0].Status())
	}
	checkAttrs(t, spans[0], map[attribute.Key]any{"error.type": "503", "http.response.status_code": 503})
	if spans[1].Status().Code != codes.Error || spans[1].Status().Description != "push panic" {
		t.Errorf("panic: status %+v", spans[1].Status())
	}
	checkException(t, spans[1], "string", "push panic", "handler.panicPush(")
}

type pubsubMessageT struct {
	Data       []byte            `json:"data"`
	Attributes map[string]string `json:"attributes"`
}

type labels map[string]string

type namedAttrs struct{ Attributes labels }

type inner struct{ Attributes map[string]string }

type embedsPointer struct{ *inner }

type hiddenAttrs struct{ attributes map[string]string }

func TestMessageAttributes(t *testing.T) {
	want := map[string]string{"googclient_traceparent": publisherTP}
	tests := []struct {
		name string
		give any
		want map[string]string
	}{
		{name: "struct", give: pubsubMessageT{Attributes: want}, want: want},
		{name: "pointer", give: &pubsubMessageT{Attributes: want}, want: want},
		{name: "named map type", give: namedAttrs{Attributes: labels(want)}, want: want},
		{name: "promoted field", give: embedsPointer{&inner{Attributes: want}}, want: want},
		{name: "nil embedded pointer", give: embedsPointer{}, want: nil},
		{name: "unexported field", give: hiddenAttrs{attributes: want}, want: nil},
		{name: "nil pointer", give: (*pubsubMessageT)(nil), want: nil},
		{name: "decoded JSON", give: map[string]any{"attributes": map[string]any{"googclient_traceparent": publisherTP, "n": 1.0, "other": "x"}}, want: want},
		{name: "decoded JSON without attributes", give: map[string]any{"data": "x"}, want: nil},
		{name: "string", give: "x", want: nil},
		{name: "nil", give: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := messageAttributes(tt.give)
			if len(got) != len(tt.want) || (len(tt.want) > 0 && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("messageAttributes(%#v) = %v, want %v", tt.give, got, tt.want)
			}
		})
	}
}

// checkPushSpan checks the span of a Pub/Sub push to topic "orders": a
// consumer span named after the topic, the child of the publisher's
// context (publisherTP), linked to the push request's own (hopTP).
func checkPushSpan(t *testing.T, s sdktrace.ReadOnlySpan, publisherTP, hopTP string) {
	t.Helper()
	if s.Name() != "subscribe orders" || s.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("span %q kind %v", s.Name(), s.SpanKind())
	}
	if !s.Parent().Equal(remote(t, publisherTP)) {
		t.Errorf("parent %v, want the publisher's", s.Parent())
	}
	if len(s.Links()) != 1 || !s.Links()[0].SpanContext.Equal(remote(t, hopTP)) {
		t.Errorf("links %+v, want the push request's traceparent", s.Links())
	}
}
