package handler

import (
	"context"
	"errors"
	"testing"

	fnmetadata "cloud.google.com/go/functions/metadata"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/ports/portstest"
)

func legacyContext(eventType string, resource *fnmetadata.Resource) context.Context {
	return fnmetadata.NewContext(context.Background(), &fnmetadata.Metadata{
		EventID:   "legacy-1",
		Timestamp: eventTime,
		EventType: eventType,
		Resource:  resource,
	})
}

func TestEventPubSub(t *testing.T) {
	rec, tp := recorder()
	var got pubsubMessageT
	fn := Event(func(ctx context.Context, m pubsubMessageT) error {
		got = m
		if !trace.SpanContextFromContext(ctx).IsValid() {
			t.Error("no span in the function's context")
		}
		return nil
	}, WithTracerProvider(tp))
	msg := pubsubMessageT{Data: []byte("hi"), Attributes: map[string]string{
		"googclient_traceparent": publisherTP,
		"googclient_tracestate":  "pub=1",
	}}
	ctx := legacyContext("google.pubsub.topic.publish", &fnmetadata.Resource{
		Service: "pubsub.googleapis.com", Name: "projects/p/topics/legacy-topic", Type: "type.googleapis.com/google.pubsub.v1.PubsubMessage",
	})
	if err := fn(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if string(got.Data) != "hi" {
		t.Errorf("function got %+v", got)
	}
	s := only(t, rec)
	if s.Name() != "subscribe legacy-topic" || s.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("span %q kind %v", s.Name(), s.SpanKind())
	}
	if !s.Parent().Equal(remoteState(t, publisherTP, "pub=1")) {
		t.Errorf("parent %v, want the publisher's", s.Parent())
	}
	checkAttrs(t, s, map[attribute.Key]any{
		"faas.trigger":               "pubsub",
		"faas.invocation_id":         "legacy-1",
		"messaging.system":           "gcp_pubsub",
		"messaging.destination.name": "legacy-topic",
		"messaging.message.id":       "legacy-1",
		"cloudevents.event_id":       "",
	})
}

func TestEventDatasourceAndOther(t *testing.T) {
	tests := []struct {
		name      string
		eventType string
		resource  *fnmetadata.Resource
		want      map[attribute.Key]any
	}{
		{
			name:      "Cloud Storage",
			eventType: "google.storage.object.finalize",
			resource:  &fnmetadata.Resource{Service: "storage.googleapis.com", Name: "projects/_/buckets/b/objects/dir/o.txt"},
			want: map[attribute.Key]any{
				"faas.trigger":             "datasource",
				"faas.document.collection": "b",
				"faas.document.name":       "dir/o.txt",
				"faas.document.operation":  "insert",
				"faas.document.time":       "2026-03-04T05:06:07Z",
			},
		},
		{
			name:      "Firestore, resource as a string",
			eventType: "providers/cloud.firestore/eventTypes/document.update",
			resource:  &fnmetadata.Resource{RawPath: "projects/p/databases/(default)/documents/users/alice"},
			want: map[attribute.Key]any{
				"faas.trigger":             "datasource",
				"faas.document.collection": "users",
				"faas.document.name":       "alice",
				"faas.document.operation":  "edit",
			},
		},
		{
			name:      "Firestore collection named buckets",
			eventType: "providers/cloud.firestore/eventTypes/document.create",
			resource:  &fnmetadata.Resource{RawPath: "projects/p/databases/(default)/documents/buckets/b1"},
			want:      map[attribute.Key]any{"faas.document.collection": "buckets", "faas.document.name": "b1", "faas.document.operation": "insert"},
		},
		{
			name:      "Realtime Database path refs/documents/x",
			eventType: "providers/google.firebase.database/eventTypes/ref.create",
			resource:  &fnmetadata.Resource{RawPath: "projects/_/instances/db/refs/documents/x"},
			want:      map[attribute.Key]any{"faas.document.collection": "documents", "faas.document.name": "x"},
		},
		{
			name:      "Firebase Auth",
			eventType: "providers/firebase.auth/eventTypes/user.create",
			resource:  &fnmetadata.Resource{RawPath: "projects/p"},
			want:      map[attribute.Key]any{"faas.trigger": "other", "faas.document.name": ""},
		},
		{
			name:      "no resource",
			eventType: "google.storage.object.delete",
			want:      map[attribute.Key]any{"faas.trigger": "datasource", "faas.document.operation": "delete", "faas.document.name": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, tp := recorder()
			fn := Event(func(context.Context, map[string]any) error { return nil }, WithTracerProvider(tp), WithFunctionName("on-legacy"))
			if err := fn(legacyContext(tt.eventType, tt.resource), map[string]any{"name": "o.txt"}); err != nil {
				t.Fatal(err)
			}
			s := only(t, rec)
			if s.Name() != "on-legacy" || s.SpanKind() != trace.SpanKindServer {
				t.Errorf("span %q kind %v, want SERVER named after the function", s.Name(), s.SpanKind())
			}
			want := map[attribute.Key]any{"faas.invocation_id": "legacy-1"}
			for k, v := range tt.want {
				want[k] = v
			}
			checkAttrs(t, s, want)
		})
	}
}

func TestEventWithoutMetadata(t *testing.T) {
	rec, tp := recorder()
	called := false
	fn := Event(func(context.Context, *pubsubMessageT) error { called = true; return nil }, WithTracerProvider(tp), WithFunctionName("on-legacy"))
	if err := fn(context.Background(), nil); err != nil || !called {
		t.Fatalf("err %v called %v", err, called)
	}
	s := only(t, rec)
	if s.Name() != "on-legacy" {
		t.Errorf("name %q, want the function's", s.Name())
	}
	// As HTTP without a Function-Execution-Id: there is no request here.
	checkAttrs(t, s, map[attribute.Key]any{"faas.trigger": "other", "faas.invocation_id": s.SpanContext().SpanID().String()})
}

// panicEvent panics with err; the exception's stack must show it.
func panicEvent(err error) { panic(err) }

func TestEventErrorAndPanic(t *testing.T) {
	rec, tp := recorder()
	flusher := &portstest.CountingFlusher{}
	errFailed := errors.New("failed")
	fn := Event(func(_ context.Context, mode string) error {
		if mode == "panic" {
			panicEvent(errFailed)
		}
		return errFailed
	}, WithTracerProvider(tp), WithFlusher(flusher))
	ctx := legacyContext("google.pubsub.topic.publish", &fnmetadata.Resource{Name: "projects/p/topics/t"})
	if err := fn(ctx, "error"); err != errFailed {
		t.Errorf("returned %v", err)
	}
	func() {
		defer func() {
			if r := recover(); r != errFailed {
				t.Errorf("recovered %v", r)
			}
		}()
		_ = fn(ctx, "panic")
	}()
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	for _, s := range spans {
		if s.Status().Code != codes.Error || s.Status().Description != "failed" {
			t.Errorf("status %+v", s.Status())
		}
		checkAttrs(t, s, map[attribute.Key]any{"error.type": "*errors.errorString"})
	}
	checkException(t, spans[1], "*errors.errorString", "failed", "handler.panicEvent(")
	if flusher.Calls() != 2 {
		t.Errorf("flushes = %d, want 2", flusher.Calls())
	}
}
