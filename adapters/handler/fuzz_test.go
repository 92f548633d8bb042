package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	fnmetadata "cloud.google.com/go/functions/metadata"
	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// The fuzz targets feed malformed input to every decoder the wrappers run
// before the user's function: request headers, CloudEvents over HTTP, Pub/Sub
// push envelopes and legacy event metadata. Each checks that nothing panics,
// that the function still runs (or gets the framework's 4xx) and that exactly
// one span results. Seeds are in testdata/fuzz.

// fuzzPropagator is W3C trace context and baggage, so baggage parsing is
// fuzzed too.
var fuzzPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// fuzzRecorder samples every span, whatever the fuzzed parent's flags say.
func fuzzRecorder() (*tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	rec := tracetest.NewSpanRecorder()
	return rec, sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(rec))
}

func FuzzHandlerHTTPRequest(f *testing.F) {
	f.Add("GET", "/items/42?q=1", parentSampled, "vendor=x", "example.com:8080", "203.0.113.7", "10.0.0.1:1234")
	f.Add("get", "/?sig=abc&X-Goog-Signature=1", "00-zz-zz-01", "=,=", "[::1]:99999", ",,,", "garbage")
	f.Add("PURGE", "/%zz", strings.Repeat("f", 300), "", "", "", "")
	f.Fuzz(func(t *testing.T, method, target, traceparent, tracestate, host, xff, remote string) {
		rec, tp := fuzzRecorder()
		calls := 0
		h := HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls++
			w.WriteHeader(http.StatusOK)
		}), WithTracerProvider(tp), WithPropagator(fuzzPropagator), WithBodySizes())
		u, err := url.ParseRequestURI(target)
		if err != nil {
			u = &url.URL{Path: "/"}
		}
		r := &http.Request{
			Method:     method,
			URL:        u,
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			Header: http.Header{
				"Traceparent":     {traceparent},
				"Tracestate":      {tracestate},
				"Baggage":         {tracestate},
				"X-Forwarded-For": {xff},
			},
			Host:       host,
			RemoteAddr: remote,
			Body:       http.NoBody,
		}
		h.ServeHTTP(httptest.NewRecorder(), r.WithContext(context.Background()))
		if calls != 1 {
			t.Fatalf("handler ran %d times", calls)
		}
		s := only(t, rec)
		m, _ := requestMethod(method)
		if want := spanMethod(m); s.Name() != want {
			t.Errorf("span name %q, want %q: the raw path never names a span", s.Name(), want)
		}
	})
}

func FuzzHandlerCloudEventHTTP(f *testing.F) {
	f.Add([]byte(`{"k":"v"}`), "application/json", "1.0", "evt-1", producerTP, hopTP)
	f.Add([]byte(`{"specversion":"1.0","id":"1","type":"t","source":"//s","traceparent":"`+producerTP+`","data":{}}`),
		"application/cloudevents+json", "", "", "", hopTP)
	f.Add([]byte(`{"specversion":"1.0","id":"1","type":"google.cloud.pubsub.topic.v1.messagePublished","source":"//pubsub.googleapis.com/projects/p/topics/t","data":{"message":{"attributes":{"googclient_traceparent":"x"}}}}`),
		"application/cloudevents+json", "", "", "", "")
	f.Add([]byte(`[{"specversion":"1.0"}]`), "application/cloudevents-batch+json", "", "", "", "")
	f.Add([]byte(`{"data":{},"context":{"eventId":"1"}}`), "application/json", "", "", "garbage", "garbage")
	f.Add([]byte(`{"message":{"attributes":{"googclient_traceparent":"`+publisherTP+`"},"data":"aGk=","messageId":"1","publishTime":"2026-03-04T05:06:07Z"},"subscription":"projects/p/subscriptions/s"}`), "application/json", "", "", "", hopTP)
	f.Add([]byte(`{"eventId":"1","eventType":"providers/google.firebase.database/eventTypes/ref.write","resource":"projects/_/instances/i/refs/a/b","domain":"firebaseio.com","data":{}}`), "", "", "", "", "")
	f.Fuzz(func(t *testing.T, body []byte, contentType, specVersion, id, ceTraceparent, traceparent string) {
		rec, tp := fuzzRecorder()
		calls := 0
		h := CloudEventHTTP(func(context.Context, event.Event) error {
			calls++
			return nil
		}, WithTracerProvider(tp), WithPropagator(fuzzPropagator), quiet)
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		for k, v := range map[string]string{
			"Content-Type":   contentType,
			"Ce-Specversion": specVersion,
			"Ce-Id":          id,
			"Ce-Type":        "google.cloud.pubsub.topic.v1.messagePublished",
			"Ce-Source":      "//pubsub.googleapis.com/projects/p/topics/t",
			"Ce-Traceparent": ceTraceparent,
			"Traceparent":    traceparent,
		} {
			if v != "" {
				r.Header[k] = []string{v}
			}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK:
			if calls != 1 {
				t.Fatalf("200 with the function run %d times", calls)
			}
			only(t, rec)
		case http.StatusBadRequest, http.StatusUnsupportedMediaType:
			if calls != 0 || len(rec.Ended()) != 0 {
				t.Fatalf("%d with the function run %d times and %d spans", w.Code, calls, len(rec.Ended()))
			}
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}

func FuzzHandlerPubSubEnvelope(f *testing.F) {
	f.Add([]byte(`{"message":{"attributes":{"googclient_traceparent":"`+publisherTP+`"},"data":"aGk=","messageId":"1"},"subscription":"projects/p/subscriptions/s","deliveryAttempt":2}`), "/projects/p/topics/t")
	f.Add([]byte(`{"message":{"attributes":{"googclient_traceparent":7,"googclient_baggage":"%%%"}},"subscription":{}}`), "/")
	f.Add([]byte(`{"message":null}`), "/projects//topics/")
	f.Add([]byte("\x00\xff{"), "")
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		rec, tp := fuzzRecorder()
		var got []byte
		h := PubSubPush(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, _ = io.ReadAll(r.Body)
		}), WithTracerProvider(tp), WithPropagator(fuzzPropagator))
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.URL.Path = path
		h.ServeHTTP(httptest.NewRecorder(), r)
		if !bytes.Equal(got, body) {
			t.Fatalf("next read %q, want %q", got, body)
		}
		if s := only(t, rec); s.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("kind %v", s.SpanKind())
		}

		// The same bytes as the data of a messagePublished CloudEvent.
		rec, tp = fuzzRecorder()
		calls := 0
		fn := CloudEvent(func(context.Context, event.Event) error { calls++; return nil },
			WithTracerProvider(tp), WithPropagator(fuzzPropagator))
		e := event.New()
		e.SetID("1")
		e.SetType(pubsubPublished)
		e.SetSource("//pubsub.googleapis.com" + path)
		e.DataEncoded = body
		if err := fn(context.Background(), e); err != nil || calls != 1 {
			t.Fatalf("err %v, function run %d times", err, calls)
		}
		only(t, rec)
	})
}

func FuzzHandlerLegacyEvent(f *testing.F) {
	f.Add("google.pubsub.topic.publish", "projects/p/topics/t", []byte(`{"attributes":{"googclient_traceparent":"`+publisherTP+`"}}`))
	f.Add("google.storage.object.finalize", "projects/_/buckets/b/objects/o", []byte(`{"name":"o"}`))
	f.Add("providers/cloud.firestore/eventTypes/document.write", "projects/p/databases/(default)/documents/", []byte(`null`))
	f.Add("providers/google.firebase.database/eventTypes/ref.create", "refs/", []byte(`{"attributes":[1,2]}`))
	f.Add("providers/cloud.pubsub/eventTypes/topic.publish", "projects/p/topics/t", []byte(`{"data":"aGk=","attributes":{"googclient_traceparent":"`+publisherTP+`","googclient_tracestate":"a=1"}}`))
	f.Fuzz(func(t *testing.T, eventType, resource string, data []byte) {
		rec, tp := fuzzRecorder()
		var payload map[string]any
		_ = json.Unmarshal(data, &payload)
		calls := 0
		fn := Event(func(context.Context, map[string]any) error { calls++; return nil },
			WithTracerProvider(tp), WithPropagator(fuzzPropagator))
		ctx := fnmetadata.NewContext(context.Background(), &fnmetadata.Metadata{
			EventID: "1", EventType: eventType, Resource: &fnmetadata.Resource{Name: resource},
		})
		if err := fn(ctx, payload); err != nil || calls != 1 {
			t.Fatalf("err %v, function run %d times", err, calls)
		}
		s := only(t, rec)
		switch tr := attrs(s)[attribute.Key("faas.trigger")].AsString(); tr {
		case "pubsub", "datasource", "timer", "other":
		default:
			t.Errorf("faas.trigger %q", tr)
		}

		// The same data decoded into a struct, as a function taking
		// pubsub.Message does, by value and by pointer, and into one whose
		// Attributes field has a named map type: the attributes come from
		// that field.
		rec, tp = fuzzRecorder()
		var msg pubsubMessageT
		_ = json.Unmarshal(data, &msg)
		calls = 0
		byValue := Event(func(context.Context, pubsubMessageT) error { calls++; return nil },
			WithTracerProvider(tp), WithPropagator(fuzzPropagator))
		byPointer := Event(func(context.Context, *pubsubMessageT) error { calls++; return nil },
			WithTracerProvider(tp), WithPropagator(fuzzPropagator))
		if err := byValue(ctx, msg); err != nil {
			t.Fatal(err)
		}
		if err := byPointer(ctx, &msg); err != nil {
			t.Fatal(err)
		}
		named := Event(func(context.Context, namedAttrs) error { calls++; return nil },
			WithTracerProvider(tp), WithPropagator(fuzzPropagator))
		if err := named(ctx, namedAttrs{Attributes: labels(msg.Attributes)}); err != nil {
			t.Fatal(err)
		}
		if calls != 3 || len(rec.Ended()) != 3 {
			t.Fatalf("functions run %d times, %d spans, want 3 and 3", calls, len(rec.Ended()))
		}
		if got := structAttributes(msg); !maps.Equal(got, msg.Attributes) {
			t.Errorf("structAttributes = %v, want the Attributes field %v", got, msg.Attributes)
		}
	})
}

func FuzzHandlerRedactQuery(f *testing.F) {
	f.Add("a=1&sig=2")
	f.Add("X%2DGoog-Signature=%zz&&=&Signature")
	f.Add("")
	f.Fuzz(func(t *testing.T, q string) {
		got := RedactQuery(q)
		if !hasSensitiveKey(q) && got != q {
			t.Fatalf("RedactQuery(%q) = %q, want it unchanged", q, got)
		}
		if strings.Count(got, "&") != strings.Count(q, "&") {
			t.Fatalf("RedactQuery(%q) = %q changed the parameter count", q, got)
		}
		if RedactQuery(got) != got {
			t.Fatalf("RedactQuery is not idempotent on %q", q)
		}
	})
}
