package handler

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/ports/portstest"
)

// Trace contexts used across the event tests.
const (
	producerTrace = "11111111111111111111111111111111"
	producerTP    = "00-" + producerTrace + "-1111111111111111-01"
	publisherTP   = "00-22222222222222222222222222222222-2222222222222222-01"
	hopTP         = "00-33333333333333333333333333333333-3333333333333333-01"
)

func TestTrigger(t *testing.T) {
	tests := []struct{ give, want string }{
		{give: "google.cloud.pubsub.topic.v1.messagePublished", want: "pubsub"},
		{give: "google.pubsub.topic.publish", want: "pubsub"},
		{give: "providers/cloud.pubsub/eventTypes/topic.publish", want: "pubsub"},
		{give: "google.cloud.storage.object.v1.finalized", want: "datasource"},
		{give: "google.storage.object.finalize", want: "datasource"},
		{give: "providers/cloud.storage/eventTypes/object.change", want: "datasource"},
		{give: "google.cloud.firestore.document.v1.written", want: "datasource"},
		{give: "google.cloud.firestore.document.v1.created.withAuthContext", want: "datasource"},
		{give: "providers/cloud.firestore/eventTypes/document.write", want: "datasource"},
		{give: "google.cloud.datastore.entity.v1.updated", want: "datasource"},
		{give: "google.firebase.database.ref.v1.deleted", want: "datasource"},
		{give: "providers/google.firebase.database/eventTypes/ref.create", want: "datasource"},
		{give: "google.cloud.scheduler.job.v1.executed", want: "timer"},
		{give: "google.firebase.auth.user.v1.created", want: "other"},
		{give: "google.cloud.audit.log.v1.written", want: "other"},
		{give: "com.example.unknown", want: "other"},
		{give: "", want: "other"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got := trigger(tt.give); got != tt.want {
				t.Errorf("trigger(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}

func TestDocumentOperation(t *testing.T) {
	tests := []struct{ give, want string }{
		{give: "google.cloud.storage.object.v1.finalized", want: "insert"},
		{give: "google.cloud.storage.object.v1.metadataUpdated", want: "edit"},
		{give: "google.cloud.storage.object.v1.archived", want: "delete"},
		{give: "google.cloud.storage.object.v1.deleted", want: "delete"},
		{give: "google.cloud.firestore.document.v1.created.withAuthContext", want: "insert"},
		{give: "google.cloud.firestore.document.v1.updated", want: "edit"},
		{give: "google.cloud.firestore.document.v1.written", want: ""},
		{give: "providers/cloud.firestore/eventTypes/document.delete", want: "delete"},
		{give: "providers/google.firebase.database/eventTypes/ref.update", want: "edit"},
		{give: "google.storage.object.finalize", want: "insert"},
		{give: "providers/cloud.storage/eventTypes/object.change", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			kv, ok := documentOperation(tt.give)
			if got := kv.Value.AsString(); got != tt.want || ok != (tt.want != "") {
				t.Errorf("documentOperation(%q) = %q, %v, want %q", tt.give, got, ok, tt.want)
			}
		})
	}
}

func TestDocumentPath(t *testing.T) {
	tests := []struct {
		name           string
		source         datasource
		give           string
		wantCollection string
		wantName       string
	}{
		{name: "Storage CloudEvent", source: storageSource, give: "//storage.googleapis.com/projects/_/buckets/b/objects/dir/o.txt", wantCollection: "b", wantName: "dir/o.txt"},
		{name: "Storage legacy", source: storageSource, give: "projects/_/buckets/b/objects/o.txt", wantCollection: "b", wantName: "o.txt"},
		{name: "Storage without subject", source: storageSource, give: "//storage.googleapis.com/projects/_/buckets/b", wantCollection: "b"},
		{name: "Storage bucket named buckets", source: storageSource, give: "projects/_/buckets/buckets/objects/buckets/x", wantCollection: "buckets", wantName: "buckets/x"},
		{name: "Storage object path without objects", source: storageSource, give: "projects/_/buckets/b/other/o", wantCollection: "b"},
		{name: "Storage not a bucket", source: storageSource, give: "projects/_/mybuckets/x/objects/y"},
		{name: "Firestore CloudEvent", source: firestoreSource, give: "//firestore.googleapis.com/projects/p/databases/(default)/documents/users/alice", wantCollection: "users", wantName: "alice"},
		{name: "Firestore subcollection", source: firestoreSource, give: "projects/p/databases/(default)/documents/users/alice/orders/o1", wantCollection: "users/alice/orders", wantName: "o1"},
		{name: "Firestore collection named buckets", source: firestoreSource, give: "projects/p/databases/(default)/documents/buckets/b1", wantCollection: "buckets", wantName: "b1"},
		{name: "Firestore database named buckets", source: firestoreSource, give: "//firestore.googleapis.com/projects/p/databases/buckets/documents/users/alice", wantCollection: "users", wantName: "alice"},
		{name: "Firestore database named documents", source: firestoreSource, give: "projects/p/databases/documents/documents/users/alice", wantCollection: "users", wantName: "alice"},
		{name: "Firestore project named databases", source: firestoreSource, give: "projects/databases/databases/d/documents/users/alice", wantCollection: "users", wantName: "alice"},
		{name: "Firestore subject alone", source: firestoreSource, give: "documents/users/alice", wantCollection: "users", wantName: "alice"},
		{name: "Firestore empty document path", source: firestoreSource, give: "projects/p/databases/(default)/documents/"},
		{name: "Firestore without documents", source: firestoreSource, give: "//firestore.googleapis.com/projects/p/databases/(default)"},
		{name: "Realtime Database CloudEvent", source: databaseSource, give: "//firebasedatabase.googleapis.com/projects/_/locations/us-central1/instances/i/refs/users/bob", wantCollection: "users", wantName: "bob"},
		{name: "Realtime Database top-level ref", source: databaseSource, give: "projects/_/instances/i/refs/top", wantName: "top"},
		{name: "Realtime Database path refs/documents/x", source: databaseSource, give: "projects/_/instances/i/refs/documents/x", wantCollection: "documents", wantName: "x"},
		{name: "Realtime Database path with buckets", source: databaseSource, give: "projects/_/instances/i/refs/buckets/b/objects/o", wantCollection: "buckets/b/objects", wantName: "o"},
		{name: "Realtime Database instance named refs", source: databaseSource, give: "projects/_/instances/refs/refs/users/bob", wantCollection: "users", wantName: "bob"},
		{name: "not a datasource", source: noDatasource, give: "projects/_/buckets/b/objects/o"},
		{name: "empty", source: firestoreSource, give: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, n := documentPath(tt.source, tt.give)
			if c != tt.wantCollection || n != tt.wantName {
				t.Errorf("documentPath(%d, %q) = %q, %q, want %q, %q", tt.source, tt.give, c, n, tt.wantCollection, tt.wantName)
			}
		})
	}
}

func TestResourceID(t *testing.T) {
	tests := []struct{ give, marker, want string }{
		{give: "//pubsub.googleapis.com/projects/p/topics/t", marker: "topics/", want: "t"},
		{give: "projects/p/topics/t", marker: "topics/", want: "t"},
		{give: "/projects/p/topics/t/extra?x=1", marker: "topics/", want: "t"},
		{give: "projects/p/subscriptions/s", marker: "subscriptions/", want: "s"},
		{give: "projects/p/mytopics/t", marker: "topics/", want: ""},
		{give: "", marker: "topics/", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got := resourceID(tt.give, tt.marker); got != tt.want {
				t.Errorf("resourceID(%q, %q) = %q, want %q", tt.give, tt.marker, got, tt.want)
			}
		})
	}
}

func TestCloudEventSpanPerTrigger(t *testing.T) {
	tests := []struct {
		name    string
		typ     string
		source  string
		subject string
		want    map[attribute.Key]any
	}{
		{
			name: "Cloud Storage", typ: "google.cloud.storage.object.v1.finalized",
			source: "//storage.googleapis.com/projects/_/buckets/my-bucket", subject: "objects/dir/file.txt",
			want: map[attribute.Key]any{
				"faas.trigger":             "datasource",
				"faas.document.collection": "my-bucket",
				"faas.document.name":       "dir/file.txt",
				"faas.document.operation":  "insert",
				"faas.document.time":       "2026-03-04T05:06:07Z",
				"faas.time":                "",
			},
		},
		{
			name: "Cloud Storage without subject", typ: "google.cloud.storage.object.v1.deleted",
			source: "//storage.googleapis.com/projects/_/buckets/my-bucket",
			want: map[attribute.Key]any{
				"faas.trigger":             "datasource",
				"faas.document.collection": "my-bucket",
				"faas.document.name":       "",
				"faas.document.operation":  "delete",
			},
		},
		{
			name: "Firestore", typ: "google.cloud.firestore.document.v1.deleted",
			source: "//firestore.googleapis.com/projects/p/databases/(default)", subject: "documents/users/alice",
			want: map[attribute.Key]any{
				"faas.trigger":             "datasource",
				"faas.document.collection": "users",
				"faas.document.name":       "alice",
				"faas.document.operation":  "delete",
			},
		},
		{
			name: "Firestore collection named buckets", typ: "google.cloud.firestore.document.v1.created",
			source: "//firestore.googleapis.com/projects/p/databases/(default)", subject: "documents/buckets/b1",
			want: map[attribute.Key]any{"faas.document.collection": "buckets", "faas.document.name": "b1"},
		},
		{
			name: "Firestore database named buckets", typ: "google.cloud.firestore.document.v1.created",
			source: "//firestore.googleapis.com/projects/p/databases/buckets", subject: "documents/users/alice",
			want: map[attribute.Key]any{"faas.document.collection": "users", "faas.document.name": "alice"},
		},
		{
			name: "Realtime Database path refs/documents/x", typ: "google.firebase.database.ref.v1.created",
			source: "//firebasedatabase.googleapis.com/projects/_/locations/us-central1/instances/db", subject: "refs/documents/x",
			want: map[attribute.Key]any{"faas.document.collection": "documents", "faas.document.name": "x"},
		},
		{
			name: "Realtime Database", typ: "google.firebase.database.ref.v1.written",
			source: "//firebasedatabase.googleapis.com/projects/_/locations/us-central1/instances/db", subject: "refs/users/bob",
			want: map[attribute.Key]any{
				"faas.trigger":             "datasource",
				"faas.document.collection": "users",
				"faas.document.name":       "bob",
				"faas.document.operation":  "",
			},
		},
		{
			name: "Cloud Scheduler", typ: "google.cloud.scheduler.job.v1.executed",
			source: "//cloudscheduler.googleapis.com/projects/p/locations/l/jobs/j",
			want: map[attribute.Key]any{
				"faas.trigger":       "timer",
				"faas.time":          "2026-03-04T05:06:07Z",
				"faas.document.time": "",
			},
		},
		{
			name: "other", typ: "com.example.thing.v1.happened", source: "//example.com/things", subject: "things/1",
			want: map[attribute.Key]any{
				"faas.trigger":             "other",
				"faas.document.collection": "",
				"messaging.system":         "",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, tp := recorder()
			called := false
			fn := CloudEvent(func(ctx context.Context, e event.Event) error {
				called = true
				if !trace.SpanContextFromContext(ctx).IsValid() {
					t.Error("no span in the function's context")
				}
				return nil
			}, WithTracerProvider(tp), WithFunctionName("on-event"))
			if err := fn(context.Background(), newEvent(t, tt.typ, tt.source, tt.subject)); err != nil {
				t.Fatal(err)
			}
			if !called {
				t.Fatal("function not called")
			}
			s := only(t, rec)
			if s.Name() != "on-event" || s.SpanKind() != trace.SpanKindServer {
				t.Errorf("span %q kind %v, want %q SERVER, named after the function", s.Name(), s.SpanKind(), "on-event")
			}
			if s.Parent().IsValid() || len(s.Links()) != 0 {
				t.Errorf("parent %v links %v, want a root without links", s.Parent(), s.Links())
			}
			want := map[attribute.Key]any{
				"faas.invocation_id":             "evt-1",
				"faas.coldstart":                 attrs(s)["faas.coldstart"].AsBool(),
				"cloudevents.event_id":           "evt-1",
				"cloudevents.event_source":       tt.source,
				"cloudevents.event_spec_version": "1.0",
				"cloudevents.event_type":         tt.typ,
				"cloudevents.event_subject":      tt.subject,
			}
			for k, v := range tt.want {
				want[k] = v
			}
			checkAttrs(t, s, want)
			if s.Status().Code != codes.Unset {
				t.Errorf("status %+v", s.Status())
			}
		})
	}
}

func TestEventSpanName(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		option    string
		eventType string
		want      string
	}{
		{name: "K_SERVICE", env: map[string]string{"K_SERVICE": "svc", "FUNCTION_NAME": "legacy", "FUNCTION_TARGET": "Entry"}, eventType: "t", want: "svc"},
		{name: "FUNCTION_NAME", env: map[string]string{"FUNCTION_NAME": "legacy", "FUNCTION_TARGET": "Entry"}, eventType: "t", want: "legacy"},
		{name: "FUNCTION_TARGET", env: map[string]string{"FUNCTION_TARGET": "Entry"}, eventType: "t", want: "Entry"},
		{name: "option over environment", env: map[string]string{"K_SERVICE": "svc"}, option: "opt", eventType: "t", want: "opt"},
		{name: "no name: event type", eventType: "t", want: "t"},
		{name: "no name, no type", want: "event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range functionNameVars {
				t.Setenv(k, tt.env[k])
			}
			rec, tp := recorder()
			opts := []Option{WithTracerProvider(tp), WithFunctionName(tt.option)}
			ce := CloudEvent(func(context.Context, event.Event) error { return nil }, opts...)
			_ = ce(context.Background(), newEvent(t, tt.eventType, "//s", ""))
			ev := Event(func(context.Context, map[string]any) error { return nil }, opts...)
			ctx := context.Background()
			if tt.eventType != "" {
				ctx = legacyContext(tt.eventType, nil)
			}
			_ = ev(ctx, nil)
			spans := rec.Ended()
			if len(spans) != 2 {
				t.Fatalf("%d spans", len(spans))
			}
			for _, s := range spans {
				if s.Name() != tt.want {
					t.Errorf("name %q, want %q", s.Name(), tt.want)
				}
			}
		})
	}
}

func TestCloudEventParentFromExtensionAndContextAsLink(t *testing.T) {
	rec, tp := recorder()
	var inFn trace.SpanContext
	fn := CloudEvent(func(ctx context.Context, e event.Event) error {
		inFn = trace.SpanContextFromContext(ctx)
		return nil
	}, WithTracerProvider(tp))
	e := newEvent(t, "com.example.v1.done", "//example", "")
	e.SetExtension("traceparent", producerTP)
	e.SetExtension("tracestate", "vendor=x")

	hop := remote(t, hopTP)
	if err := fn(trace.ContextWithRemoteSpanContext(context.Background(), hop), e); err != nil {
		t.Fatal(err)
	}
	s := only(t, rec)
	if got := s.Parent().TraceID().String(); got != producerTrace || !s.Parent().IsRemote() {
		t.Errorf("parent %v, want the producer's", s.Parent())
	}
	if got := s.Parent().TraceState().Get("vendor"); got != "x" {
		t.Errorf("parent tracestate vendor = %q, want x", got)
	}
	if len(s.Links()) != 1 || !s.Links()[0].SpanContext.Equal(hop) {
		t.Errorf("links %+v, want the context that was in ctx", s.Links())
	}
	if inFn.SpanID() != s.SpanContext().SpanID() {
		t.Error("the function's context does not hold the invocation span")
	}
}

func TestCloudEventWithoutExtensionKeepsContextAsParent(t *testing.T) {
	rec, tp := recorder()
	fn := CloudEvent(func(context.Context, event.Event) error { return nil }, WithTracerProvider(tp))
	hop := remote(t, hopTP)
	_ = fn(trace.ContextWithRemoteSpanContext(context.Background(), hop), newEvent(t, "t", "//s", ""))
	s := only(t, rec)
	if !s.Parent().Equal(hop) || len(s.Links()) != 0 {
		t.Errorf("parent %v links %v, want the hop as parent and no link", s.Parent(), s.Links())
	}
}

func TestCloudEventMalformedExtensionIsAbsent(t *testing.T) {
	for _, give := range []string{"garbage", "00-" + strings.Repeat("0", 32) + "-" + strings.Repeat("0", 16) + "-01", "01-zz", strings.Repeat("-", 5000)} {
		t.Run(give[:min(len(give), 20)], func(t *testing.T) {
			rec, tp := recorder()
			called := false
			fn := CloudEvent(func(context.Context, event.Event) error { called = true; return nil }, WithTracerProvider(tp))
			e := newEvent(t, "t", "//s", "")
			e.SetExtension("traceparent", give)
			e.SetExtension("tracestate", "\x00bad")
			if err := fn(context.Background(), e); err != nil || !called {
				t.Fatalf("err %v called %v", err, called)
			}
			if s := only(t, rec); s.Parent().IsValid() || len(s.Links()) != 0 {
				t.Errorf("parent %v links %v from a malformed extension", s.Parent(), s.Links())
			}
		})
	}
}

func TestCloudEventPubSub(t *testing.T) {
	rec, tp := recorder()
	fn := CloudEvent(func(context.Context, event.Event) error { return nil }, WithTracerProvider(tp))
	e := pubsubEvent(t, map[string]string{
		"googclient_traceparent": publisherTP,
		"googclient_tracestate":  "pub=1",
		"other":                  "x",
	})
	e.SetExtension("traceparent", producerTP)
	if err := fn(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	s := only(t, rec)
	if s.Name() != "subscribe topic-1" || s.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("span %q kind %v, want %q CONSUMER", s.Name(), s.SpanKind(), "subscribe topic-1")
	}
	if !s.Parent().Equal(remoteState(t, publisherTP, "pub=1")) {
		t.Errorf("parent %v, want the publisher's googclient_ context", s.Parent())
	}
	if len(s.Links()) != 1 || s.Links()[0].SpanContext.TraceID().String() != producerTrace {
		t.Errorf("links %+v, want the CloudEvent's traceparent", s.Links())
	}
	checkAttrs(t, s, map[attribute.Key]any{
		"faas.trigger":                                  "pubsub",
		"faas.invocation_id":                            "msg-1",
		"messaging.system":                              "gcp_pubsub",
		"messaging.operation.type":                      "process",
		"messaging.operation.name":                      "subscribe",
		"messaging.destination.name":                    "topic-1",
		"messaging.destination.subscription.name":       "sub-1",
		"messaging.message.id":                          "msg-1",
		"messaging.gcp_pubsub.message.ordering_key":     "ok-1",
		"messaging.gcp_pubsub.message.delivery_attempt": 3,
		"cloudevents.event_type":                        pubsubPublished,
		"cloudevents.event_source":                      "//pubsub.googleapis.com/projects/p/topics/topic-1",
	})
}

func TestCloudEventPubSubMalformedDataStillRuns(t *testing.T) {
	for _, data := range []string{`not json`, `{"message": 5}`, `{"message":{"attributes":{"googclient_traceparent": 7}}}`, `[]`, ``} {
		t.Run(data, func(t *testing.T) {
			rec, tp := recorder()
			called := false
			fn := CloudEvent(func(context.Context, event.Event) error { called = true; return nil }, WithTracerProvider(tp))
			e := event.New()
			e.SetID("id-9")
			e.SetType(pubsubPublished)
			e.SetSource("//pubsub.googleapis.com/projects/p/topics/t")
			e.DataEncoded = []byte(data)
			if err := fn(context.Background(), e); err != nil || !called {
				t.Fatalf("err %v called %v", err, called)
			}
			s := only(t, rec)
			if s.Parent().IsValid() {
				t.Errorf("parent %v from malformed data", s.Parent())
			}
			checkAttrs(t, s, map[attribute.Key]any{"faas.trigger": "pubsub", "messaging.message.id": "id-9"})
		})
	}
}

func TestCloudEventErrors(t *testing.T) {
	tests := []struct {
		name          string
		give          error
		wantStatus    codes.Code
		wantErrorType string
		wantException bool
	}{
		{name: "nil", give: nil, wantStatus: codes.Unset},
		{name: "ACK", give: protocol.ResultACK, wantStatus: codes.Unset},
		{name: "HTTP 202 result", give: cehttp.NewResult(202, "accepted"), wantStatus: codes.Unset},
		{name: "plain error", give: errors.New("broken"), wantStatus: codes.Error, wantErrorType: "*errors.errorString", wantException: true},
		{name: "NACK", give: protocol.ResultNACK, wantStatus: codes.Error, wantErrorType: "*protocol.Receipt", wantException: true},
		{name: "HTTP 409 result", give: cehttp.NewResult(409, "conflict %d", 1), wantStatus: codes.Error, wantErrorType: "409", wantException: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, tp := recorder()
			flusher := &portstest.CountingFlusher{}
			fn := CloudEvent(func(context.Context, event.Event) error { return tt.give }, WithTracerProvider(tp), WithFlusher(flusher))
			if err := fn(context.Background(), newEvent(t, "t", "//s", "")); err != tt.give {
				t.Errorf("returned %v, want the function's %v", err, tt.give)
			}
			s := only(t, rec)
			if s.Status().Code != tt.wantStatus {
				t.Errorf("status %+v, want %v", s.Status(), tt.wantStatus)
			}
			if tt.wantStatus == codes.Error && s.Status().Description != tt.give.Error() {
				t.Errorf("status description %q, want %q", s.Status().Description, tt.give.Error())
			}
			checkAttrs(t, s, map[attribute.Key]any{"error.type": tt.wantErrorType})
			if got := len(s.Events()) == 1 && s.Events()[0].Name == "exception"; got != tt.wantException {
				t.Errorf("events %+v, want exception: %v", s.Events(), tt.wantException)
			}
			if flusher.Calls() != 1 {
				t.Errorf("flushes = %d, want 1", flusher.Calls())
			}
		})
	}
}

// panicCloudEvent and panicCloudEventHTTP panic; the exception's stack must
// show them.
func panicCloudEvent(context.Context, event.Event) error { panic("kaput") }

func panicCloudEventHTTP(context.Context, event.Event) error { panic(errors.New("boom")) }

func TestCloudEventPanicRecordedFlushedAndReraised(t *testing.T) {
	rec, tp := recorder()
	flusher := &portstest.CountingFlusher{}
	fn := CloudEvent(panicCloudEvent, WithTracerProvider(tp), WithFlusher(flusher))
	func() {
		defer func() {
			if r := recover(); r != "kaput" {
				t.Errorf("recovered %v, want the original panic", r)
			}
		}()
		_ = fn(context.Background(), newEvent(t, "t", "//s", ""))
	}()
	s := only(t, rec)
	if s.Status().Code != codes.Error || s.Status().Description != "kaput" {
		t.Errorf("status %+v", s.Status())
	}
	checkAttrs(t, s, map[attribute.Key]any{"error.type": "panic"})
	checkException(t, s, "string", "kaput", "handler.panicCloudEvent(")
	if flusher.Calls() != 1 {
		t.Errorf("flushes = %d, want 1", flusher.Calls())
	}
}

func TestColdStartOnceAcrossWrappers(t *testing.T) {
	warm.Store(false)
	rec, tp := recorder()
	h := HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithTracerProvider(tp))
	ce := CloudEvent(func(context.Context, event.Event) error { return nil }, WithTracerProvider(tp))
	ev := Event(func(context.Context, map[string]any) error { return nil }, WithTracerProvider(tp))
	e := newEvent(t, "t", "//s", "")
	done := make(chan struct{})
	for i := range 30 {
		go func() {
			defer func() { done <- struct{}{} }()
			switch i % 3 {
			case 0:
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			case 1:
				_ = ce(context.Background(), e)
			default:
				_ = ev(context.Background(), nil)
			}
		}()
	}
	for range 30 {
		<-done
	}
	cold := 0
	for _, s := range rec.Ended() {
		if attrs(s)["faas.coldstart"].AsBool() {
			cold++
		}
	}
	if cold != 1 {
		t.Fatalf("%d cold starts across 30 invocations of three wrappers, want 1", cold)
	}
}

// ceRequest encodes e as an HTTP request in binary or structured mode with
// the CloudEvents SDK.
func ceRequest(t *testing.T, url string, e event.Event, structured bool) *http.Request {
	t.Helper()
	ctx := context.Background()
	if structured {
		ctx = binding.WithForceStructured(ctx)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&e), req); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestCloudEventHTTPModes(t *testing.T) {
	for _, structured := range []bool{false, true} {
		name := map[bool]string{false: "binary", true: "structured"}[structured]
		t.Run(name, func(t *testing.T) {
			rec, tp := recorder()
			var got event.Event
			srv := serve(t, CloudEventHTTP(func(ctx context.Context, e event.Event) error {
				got = e
				return nil
			}, WithTracerProvider(tp), quiet))
			e := newEvent(t, "google.cloud.storage.object.v1.finalized", "//storage.googleapis.com/projects/_/buckets/b", "objects/o")
			e.SetExtension("traceparent", producerTP)
			req := ceRequest(t, srv.URL, e, structured)
			if structured != strings.HasPrefix(req.Header.Get("Content-Type"), "application/cloudevents+json") {
				t.Fatalf("Content-Type %q for %s mode", req.Header.Get("Content-Type"), name)
			}
			req.Header.Set("traceparent", hopTP)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if got.ID() != "evt-1" || string(got.Data()) != `{"k":"v"}` {
				t.Errorf("function got %v", got)
			}
			s := only(t, rec)
			if got := s.Parent().TraceID().String(); got != producerTrace {
				t.Errorf("parent trace %s, want the producer's", got)
			}
			if len(s.Links()) != 1 || !s.Links()[0].SpanContext.Equal(remote(t, hopTP)) {
				t.Errorf("links %+v, want the HTTP hop", s.Links())
			}
			checkAttrs(t, s, map[attribute.Key]any{
				"faas.trigger":              "datasource",
				"faas.invocation_id":        "evt-1",
				"cloudevents.event_id":      "evt-1",
				"faas.document.collection":  "b",
				"faas.document.name":        "o",
				"http.response.status_code": 200,
			})
		})
	}
}

func TestCloudEventHTTPWithoutProducerContextUsesHop(t *testing.T) {
	rec, tp := recorder()
	srv := serve(t, CloudEventHTTP(func(context.Context, event.Event) error { return nil }, WithTracerProvider(tp), quiet))
	req := ceRequest(t, srv.URL, newEvent(t, "t", "//s", ""), false)
	req.Header.Set("traceparent", hopTP)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := only(t, rec)
	if !s.Parent().Equal(remote(t, hopTP)) || len(s.Links()) != 0 {
		t.Errorf("parent %v links %v, want the hop as parent", s.Parent(), s.Links())
	}
}

func TestCloudEventHTTPPubSub(t *testing.T) {
	rec, tp := recorder()
	srv := serve(t, CloudEventHTTP(func(context.Context, event.Event) error { return nil }, WithTracerProvider(tp), quiet))
	req := ceRequest(t, srv.URL, pubsubEvent(t, map[string]string{"googclient_traceparent": publisherTP}), false)
	req.Header.Set("traceparent", hopTP)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := only(t, rec)
	if !s.Parent().Equal(remote(t, publisherTP)) {
		t.Errorf("parent %v, want the publisher's", s.Parent())
	}
	if len(s.Links()) != 1 || !s.Links()[0].SpanContext.Equal(remote(t, hopTP)) {
		t.Errorf("links %+v, want the HTTP hop", s.Links())
	}
	if s.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("kind %v", s.SpanKind())
	}
}

func TestCloudEventHTTPAnswers(t *testing.T) {
	valid := func(t *testing.T, url string) *http.Request {
		return ceRequest(t, url, newEvent(t, "t", "//s", ""), false)
	}
	tests := []struct {
		name       string
		fnErr      error
		request    func(t *testing.T, url string) *http.Request
		wantStatus int
		wantBody   string
		wantCalled bool
		wantSpans  int
		wantCrash  bool // X-Google-Status: crash
	}{
		{name: "nil", request: valid, wantStatus: 200, wantCalled: true, wantSpans: 1},
		{name: "error", fnErr: errors.New("x"), request: valid, wantStatus: 500, wantCalled: true, wantSpans: 1},
		{name: "HTTP result", fnErr: cehttp.NewResult(409, "busy %s", "now"), request: valid, wantStatus: 409, wantBody: "busy now", wantCalled: true, wantSpans: 1},
		{name: "ACK", fnErr: protocol.ResultACK, request: valid, wantStatus: 200, wantCalled: true, wantSpans: 1},
		{
			name: "malformed structured",
			request: func(t *testing.T, url string) *http.Request {
				r, _ := http.NewRequest("POST", url, strings.NewReader(`{"specversion": "1.0", "id": `))
				r.Header.Set("Content-Type", "application/cloudevents+json")
				return r
			},
			wantStatus: 400,
		},
		{
			name: "invalid binary: no ce-id",
			request: func(t *testing.T, url string) *http.Request {
				r, _ := http.NewRequest("POST", url, strings.NewReader(`{}`))
				r.Header.Set("Ce-Specversion", "1.0")
				r.Header.Set("Ce-Type", "t")
				r.Header.Set("Ce-Source", "//s")
				return r
			},
			wantStatus: 400, wantCrash: true, // no Ce-Id: converted, as functions-framework-go does, and no background event
		},
		{
			name: "bad spec version",
			request: func(t *testing.T, url string) *http.Request {
				r, _ := http.NewRequest("POST", url, strings.NewReader(`{}`))
				r.Header.Set("Ce-Specversion", "9.9")
				r.Header.Set("Ce-Id", "1")
				return r
			},
			wantStatus: 415,
		},
		{
			name: "push envelope",
			request: func(t *testing.T, url string) *http.Request {
				r, _ := http.NewRequest("POST", url+"/projects/p/topics/t", strings.NewReader(`{"message":{"messageId":"1","data":"aGk="}}`))
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			wantStatus: 200, wantCalled: true, wantSpans: 1,
		},
		{
			name: "push envelope, data not base64",
			request: func(t *testing.T, url string) *http.Request {
				r, _ := http.NewRequest("POST", url, strings.NewReader(`{"message":{"messageId":"1","data":"%%"}}`))
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			wantStatus: 400, wantCrash: true,
		},
		{
			name: "legacy event of an unknown type",
			request: func(t *testing.T, url string) *http.Request {
				r, _ := http.NewRequest("POST", url, strings.NewReader(`{"data": {}, "context": {"eventId": "1"}}`))
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			wantStatus: 400, wantCrash: true,
		},
		{
			name: "legacy event without an id",
			request: func(t *testing.T, url string) *http.Request {
				r, _ := http.NewRequest("POST", url, strings.NewReader(`{"data": {}, "context": {"eventType": "google.pubsub.topic.publish"}}`))
				return r
			},
			wantStatus: 400,
		},
		{
			name: "no JSON",
			request: func(t *testing.T, url string) *http.Request {
				r, _ := http.NewRequest("POST", url, strings.NewReader(`hello`))
				r.Header.Set("Content-Type", "text/plain")
				return r
			},
			wantStatus: 400, wantCrash: true,
		},
		{
			name:       "GET without a CloudEvent",
			request:    func(t *testing.T, url string) *http.Request { r, _ := http.NewRequest("GET", url, nil); return r },
			wantStatus: 400, wantCrash: true,
		},
		{
			name: "GET with a Ce-Id",
			request: func(t *testing.T, url string) *http.Request {
				r, _ := http.NewRequest("GET", url, nil)
				r.Header.Set("Ce-Id", "1")
				return r
			},
			wantStatus: 405,
		},
		{
			name: "DELETE with a push envelope",
			request: func(t *testing.T, url string) *http.Request {
				r, _ := http.NewRequest("DELETE", url, strings.NewReader(`{"message":{"messageId":"1"}}`))
				return r
			},
			wantStatus: 405,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, tp := recorder()
			called := false
			srv := serve(t, CloudEventHTTP(func(context.Context, event.Event) error {
				called = true
				return tt.fnErr
			}, WithTracerProvider(tp), quiet))
			resp, err := http.DefaultClient.Do(tt.request(t, srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("body %q, want %q", body, tt.wantBody)
			}
			if called != tt.wantCalled {
				t.Errorf("called %v, want %v", called, tt.wantCalled)
			}
			if got := resp.Header.Get("X-Google-Status"); (got == "crash") != tt.wantCrash {
				t.Errorf("X-Google-Status %q, want crash: %v", got, tt.wantCrash)
			}
			if n := len(rec.Ended()); n != tt.wantSpans {
				t.Fatalf("%d spans, want %d", n, tt.wantSpans)
			}
			if tt.wantSpans == 1 {
				checkAttrs(t, rec.Ended()[0], map[attribute.Key]any{"http.response.status_code": tt.wantStatus})
			}
		})
	}
}

func TestCloudEventHTTPConvertsWhatIsNoCloudEvent(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		body    string
		wantCE  map[string]string // type, source, subject, id, time, data
		wantDoc map[attribute.Key]any
	}{
		{
			name: "push envelope",
			path: "/push/projects/p/topics/orders",
			body: `{"message":{"attributes":{"googclient_traceparent":"` + publisherTP + `","origin":"x"},"data":"aGk=","messageId":"m-1","publishTime":"2026-03-04T05:06:07.123Z","orderingKey":"k"},"subscription":"projects/p/subscriptions/s","deliveryAttempt":2}`,
			wantCE: map[string]string{
				"type": pubsubPublished, "source": "//pubsub.googleapis.com/projects/p/topics/orders", "subject": "",
				"id": "m-1", "time": "2026-03-04T05:06:07.123Z",
				"data": `{"message":{"@type":"type.googleapis.com/google.pubusb.v1.PubsubMessage","attributes":{"googclient_traceparent":"` + publisherTP + `","origin":"x"},"data":"aGk=","messageId":"m-1","publishTime":"2026-03-04T05:06:07.123Z"}}`,
			},
		},
		{
			name: "push envelope without a topic in the path",
			path: "/push",
			body: `{"message":{"data":null,"messageId":"m-2","publishTime":"2026-03-04T05:06:07Z"}}`,
			wantCE: map[string]string{
				"type": pubsubPublished, "source": "//pubsub.googleapis.com/", "id": "m-2", "time": "2026-03-04T05:06:07Z",
				"data": `{"message":{"@type":"type.googleapis.com/google.pubusb.v1.PubsubMessage","attributes":null,"data":null,"messageId":"m-2","publishTime":"2026-03-04T05:06:07Z"}}`,
			},
		},
		{
			name: "Cloud Storage background event",
			body: `{"data":{"bucket":"b","name":"dir/o.txt"},"context":{"eventId":"e-1","timestamp":"2026-03-04T05:06:07Z","eventType":"google.storage.object.finalize","resource":{"service":"storage.googleapis.com","name":"projects/_/buckets/b/objects/dir/o.txt","type":"storage#object"}}}`,
			wantCE: map[string]string{
				"type": "google.cloud.storage.object.v1.finalized", "source": "//storage.googleapis.com/projects/_/buckets/b",
				"subject": "objects/dir/o.txt", "id": "e-1", "time": "2026-03-04T05:06:07Z", "data": `{"bucket":"b","name":"dir/o.txt"}`,
			},
			wantDoc: map[attribute.Key]any{"faas.document.collection": "b", "faas.document.name": "dir/o.txt", "faas.document.operation": "insert"},
		},
		{
			name: "Pub/Sub background event",
			body: `{"data":{"data":"aGk=","attributes":{"a":"1"}},"context":{"eventId":"e-2","timestamp":"2026-03-04T05:06:07Z","eventType":"google.pubsub.topic.publish","resource":{"service":"pubsub.googleapis.com","name":"projects/p/topics/t"}}}`,
			wantCE: map[string]string{
				"type": pubsubPublished, "source": "//pubsub.googleapis.com/projects/p/topics/t", "id": "e-2", "time": "2026-03-04T05:06:07Z",
				"data": `{"message":{"attributes":{"a":"1"},"data":"aGk=","messageId":"e-2","publishTime":"2026-03-04T05:06:07Z"}}`,
			},
		},
		{
			name: "Firestore background event, flat, resource as a string",
			body: `{"eventId":"e-3","timestamp":"2026-03-04T05:06:07Z","eventType":"providers/cloud.firestore/eventTypes/document.write","resource":"projects/p/databases/(default)/documents/users/alice","data":{"value":{"n":1}}}`,
			wantCE: map[string]string{
				"type": "google.cloud.firestore.document.v1.written", "source": "//firestore.googleapis.com/projects/p/databases/(default)",
				"subject": "documents/users/alice", "id": "e-3", "time": "2026-03-04T05:06:07Z", "data": `{"value":{"n":1}}`,
			},
			wantDoc: map[attribute.Key]any{"faas.document.collection": "users", "faas.document.name": "alice"},
		},
		{
			name: "Realtime Database background event",
			body: `{"eventId":"e-4","timestamp":"2026-03-04T05:06:07Z","eventType":"providers/google.firebase.database/eventTypes/ref.write","resource":"projects/_/instances/my-db/refs/users/bob","domain":"europe-west1.firebasedatabase.app","data":{"data":null,"delta":{"x":1}}}`,
			wantCE: map[string]string{
				"type": "google.firebase.database.ref.v1.written", "source": "//firebasedatabase.googleapis.com/projects/_/locations/europe-west1/instances/my-db",
				"subject": "refs/users/bob", "id": "e-4", "time": "2026-03-04T05:06:07Z", "data": `{"data":null,"delta":{"x":1}}`,
			},
			wantDoc: map[attribute.Key]any{"faas.document.collection": "users", "faas.document.name": "bob"},
		},
		{
			name: "Firebase Auth background event",
			body: `{"data":{"uid":"u1","metadata":{"createdAt":"2020-01-01T00:00:00Z"}},"context":{"eventId":"e-5","timestamp":"2026-03-04T05:06:07Z","eventType":"providers/firebase.auth/eventTypes/user.create","resource":"projects/p"}}`,
			wantCE: map[string]string{
				"type": "google.firebase.auth.user.v1.created", "source": "//firebaseauth.googleapis.com/projects/p",
				"subject": "users/u1", "id": "e-5", "time": "2026-03-04T05:06:07Z", "data": `{"metadata":{"createTime":"2020-01-01T00:00:00Z"},"uid":"u1"}`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, tp := recorder()
			var got *event.Event
			h := CloudEventHTTP(func(_ context.Context, e event.Event) error { got = &e; return nil }, WithTracerProvider(tp), quiet)
			r := httptest.NewRequest("POST", "http://example.com"+tt.path, strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 || got == nil {
				t.Fatalf("status %d (%s), function called: %v", w.Code, w.Body, got != nil)
			}
			for k, want := range map[string]string{
				"type": got.Type(), "source": got.Source(), "subject": got.Subject(), "id": got.ID(),
				"time": got.Time().Format(time.RFC3339Nano), "data": string(got.Data()),
				"specversion": got.SpecVersion(), "datacontenttype": got.DataContentType(),
			} {
				if k == "specversion" || k == "datacontenttype" {
					if w := map[string]string{"specversion": "1.0", "datacontenttype": "application/json"}[k]; want != w {
						t.Errorf("%s = %q, want %q", k, want, w)
					}
					continue
				}
				if want != tt.wantCE[k] {
					t.Errorf("%s = %s, want %s", k, want, tt.wantCE[k])
				}
			}
			s := only(t, rec)
			if tt.wantDoc != nil {
				checkAttrs(t, s, tt.wantDoc)
			}
			if got.Type() == pubsubPublished && s.SpanKind() != trace.SpanKindConsumer {
				t.Errorf("kind %v", s.SpanKind())
			}
		})
	}
}

// The span of a converted push envelope has what the CloudEvent drops.
func TestCloudEventHTTPPushEnvelopeSpan(t *testing.T) {
	rec, tp := recorder()
	h := CloudEventHTTP(func(context.Context, event.Event) error { return nil }, WithTracerProvider(tp), quiet)
	body := `{"message":{"attributes":{"googclient_traceparent":"` + publisherTP + `"},"data":"aGk=","messageId":"m-1","orderingKey":"k"},"subscription":"projects/p/subscriptions/s","deliveryAttempt":2}`
	r := httptest.NewRequest("POST", "/projects/p/topics/orders", strings.NewReader(body))
	r.Header.Set("traceparent", hopTP)
	h.ServeHTTP(httptest.NewRecorder(), r)
	s := only(t, rec)
	checkPushSpan(t, s, publisherTP, hopTP)
	checkAttrs(t, s, map[attribute.Key]any{
		"faas.trigger":                                  "pubsub",
		"faas.invocation_id":                            "m-1",
		"messaging.destination.name":                    "orders",
		"messaging.destination.subscription.name":       "s",
		"messaging.message.id":                          "m-1",
		"messaging.gcp_pubsub.message.ordering_key":     "k",
		"messaging.gcp_pubsub.message.delivery_attempt": 2,
		"cloudevents.event_id":                          "m-1",
		"http.response.status_code":                     200,
	})
}

func TestCloudEventHTTPWritesFunctionErrorsToStderr(t *testing.T) {
	tests := []struct {
		name string
		give error
		want string
	}{
		{name: "nil", give: nil, want: ""},
		{name: "error", give: errors.New("broken"), want: "Function error: broken\n"},
		{name: "error ending in a newline", give: errors.New("broken\n"), want: "Function error: broken\n"},
		{name: "error with a verb", give: errors.New("100%d done"), want: "Function error: 100%d done\n"},
		{name: "HTTP result", give: cehttp.NewResult(409, "busy %s", "now"), want: "Function error: " + cehttp.NewResult(409, "busy %s", "now").Error() + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, tp := recorder()
			var stderr strings.Builder
			h := CloudEventHTTP(func(context.Context, event.Event) error { return tt.give }, WithTracerProvider(tp), withStderr(&stderr))
			h.ServeHTTP(httptest.NewRecorder(), ceRequest(t, "http://example.com/", newEvent(t, "t", "//s", ""), false))
			if stderr.String() != tt.want {
				t.Errorf("standard error %q, want %q", stderr.String(), tt.want)
			}
		})
	}
}

func TestCloudEventHTTPPanicIsReraisedAfterFlush(t *testing.T) {
	rec, tp := recorder()
	flusher := &portstest.CountingFlusher{}
	h := CloudEventHTTP(panicCloudEventHTTP, WithTracerProvider(tp), WithFlusher(flusher), quiet)
	req := ceRequest(t, "http://example.com/", newEvent(t, "t", "//s", ""), false)
	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Error("panic not raised again")
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), req)
	}()
	s := only(t, rec)
	if s.Status().Code != codes.Error {
		t.Errorf("status %+v", s.Status())
	}
	checkException(t, s, "*errors.errorString", "boom", "handler.panicCloudEventHTTP(")
	if flusher.Calls() != 1 {
		t.Errorf("flushes = %d, want 1", flusher.Calls())
	}
}

func TestCloudEventHTTPReadsLargeBinaryBody(t *testing.T) {
	_, tp := recorder()
	big := bytes.Repeat([]byte("x"), 1<<20)
	var got int
	h := CloudEventHTTP(func(_ context.Context, e event.Event) error { got = len(e.Data()); return nil }, WithTracerProvider(tp))
	r := httptest.NewRequest("POST", "/", bytes.NewReader(big))
	r.Header.Set("Ce-Specversion", "1.0")
	r.Header.Set("Ce-Id", "1")
	r.Header.Set("Ce-Type", "t")
	r.Header.Set("Ce-Source", "//s")
	r.Header.Set("Content-Type", "application/octet-stream")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || got != len(big) {
		t.Errorf("status %d, data %d bytes", w.Code, got)
	}
}

func remote(t *testing.T, traceparent string) trace.SpanContext {
	t.Helper()
	return remoteState(t, traceparent, "")
}

// remoteState is the remote span context W3C propagation reads from the
// given headers.
func remoteState(t *testing.T, traceparent, tracestate string) trace.SpanContext {
	t.Helper()
	c := newConfig(nil)
	h := http.Header{}
	h.Set("traceparent", traceparent)
	if tracestate != "" {
		h.Set("tracestate", tracestate)
	}
	sc := trace.SpanContextFromContext(c.prop.Extract(context.Background(), headerCarrier(h)))
	if !sc.IsValid() {
		t.Fatalf("%q is no valid traceparent", traceparent)
	}
	return sc
}

// zeros reads as many '0' bytes as asked, without holding them.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}

// TestCloudEventHTTPBoundsTheBodyItConverts: a body that is no CloudEvent
// is read at most MaxPushBodySize bytes; a larger one gets 413 and never
// reaches the conversion, whether its length is declared or not.
func TestCloudEventHTTPBoundsTheBodyItConverts(t *testing.T) {
	_, tp := recorder()
	called := false
	h := CloudEventHTTP(func(context.Context, event.Event) error { called = true; return nil }, WithTracerProvider(tp), quiet)
	for _, declared := range []bool{true, false} {
		body := io.LimitReader(zeros{}, MaxPushBodySize+1)
		r := httptest.NewRequest(http.MethodPost, "/", body)
		r.Header.Set("Content-Type", "application/json")
		r.ContentLength = -1
		if declared {
			r.ContentLength = MaxPushBodySize + 1
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusRequestEntityTooLarge || called {
			t.Fatalf("length declared %t: status %d, function called %t; want 413 and no call", declared, w.Code, called)
		}
	}
}
