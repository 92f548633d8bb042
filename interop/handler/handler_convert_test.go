package handler_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// sideBySide is a request sent both to a CloudEvent function the framework
// serves and to the same function wrapped by CloudEventHTTP.
type sideBySide struct {
	name        string
	method      string // POST by default
	topic       bool   // a path that names the topic
	contentType string
	header      map[string]string
	body        string
	anyTime     bool // the framework stamps the time of receipt
}

func (c sideBySide) send(t *testing.T, side string) (*http.Response, *event.Event) {
	t.Helper()
	path := "/" + side + "/side"
	if c.topic {
		path += "/projects/p/topics/orders"
	}
	method := c.method
	if method == "" {
		method = http.MethodPost
	}
	r, err := http.NewRequest(method, baseURL+path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.contentType != "" {
		r.Header.Set("Content-Type", c.contentType)
	}
	for k, v := range c.header {
		r.Header.Set(k, v)
	}
	resp, _, _ := call(t, r)
	rec := &framework
	if side == "wrapper" {
		rec = &wrapper
	}
	return resp, rec.take()
}

// TestHandlerCloudEventHTTPConvertsAsTheFramework sends the framework's
// CloudEvent function and CloudEventHTTP the same requests that are no
// CloudEvents — Pub/Sub push envelopes and legacy background events — and
// wants the same answers and, field by field, the same events.
func TestHandlerCloudEventHTTPConvertsAsTheFramework(t *testing.T) {
	const when = `"2026-03-04T05:06:07.123Z"`
	push := `{"message":{"attributes":{"googclient_traceparent":"` + publisherTP + `","origin":"test"},"data":"aGVsbG8=","messageId":"2070443601311540","publishTime":` + when + `,"orderingKey":"customer-7"},"subscription":"projects/p/subscriptions/orders-push","deliveryAttempt":2}`
	tests := []sideBySide{
		{name: "push envelope", topic: true, contentType: "application/json", body: push},
		{name: "push envelope, no topic in the path", contentType: "application/json", body: push},
		{name: "push envelope without publish time", topic: true, body: `{"message":{"messageId":"1","data":"aGk="}}`, anyTime: true},
		{name: "push envelope without attributes", topic: true, body: `{"message":{"messageId":"1","publishTime":` + when + `}}`},
		{name: "push envelope without id", topic: true, body: `{"message":{"data":"aGk=","publishTime":` + when + `}}`},
		{name: "push envelope, data not base64", topic: true, body: `{"message":{"messageId":"1","data":"%%"}}`},
		{name: "push envelope, wrong attribute type", topic: true, body: `{"message":{"messageId":"1","attributes":{"a":1}}}`},
		{name: "push envelope, DELETE", method: http.MethodDelete, topic: true, body: push},
		{name: "Cloud Storage", contentType: "application/json", body: legacyEnvelope("cat.jpg")},
		{name: "Cloud Storage, resource not an object", body: `{"data":{"name":"x"},"context":{"eventId":"1","timestamp":` + when + `,"eventType":"google.storage.object.finalize","resource":{"service":"storage.googleapis.com","name":"projects/_/buckets/b"}}}`},
		{name: "Pub/Sub background event", body: `{"data":{"data":"aGk=","attributes":{"a":"1"}},"context":{"eventId":"e-2","timestamp":` + when + `,"eventType":"google.pubsub.topic.publish","resource":{"service":"pubsub.googleapis.com","name":"projects/p/topics/t","type":"type.googleapis.com/google.pubsub.v1.PubsubMessage"}}}`},
		{name: "Pub/Sub background event, data not an object", body: `{"data":"x","context":{"eventId":"e-2","eventType":"providers/cloud.pubsub/eventTypes/topic.publish","resource":"projects/p/topics/t"}}`},
		{name: "Firestore, flat, resource as a string", body: `{"eventId":"e-3","timestamp":` + when + `,"eventType":"providers/cloud.firestore/eventTypes/document.write","resource":"projects/p/databases/(default)/documents/users/alice","data":{"value":{"n":1.5e3,"big":12345678901234567890}}}`},
		{name: "Firestore, other database", body: `{"eventId":"e-3","timestamp":` + when + `,"eventType":"providers/cloud.firestore/eventTypes/document.write","resource":"projects/p/databases/db2/documents/users/alice","data":{}}`},
		{name: "Realtime Database", body: `{"eventId":"e-4","timestamp":` + when + `,"eventType":"providers/google.firebase.database/eventTypes/ref.write","resource":"projects/_/instances/my-db/refs/users/bob","domain":"europe-west1.firebasedatabase.app","data":{"data":null,"delta":{"x":1}}}`},
		{name: "Realtime Database, default domain", body: `{"eventId":"e-4","timestamp":` + when + `,"eventType":"providers/google.firebase.database/eventTypes/ref.create","resource":"projects/_/instances/my-db/refs/a","domain":"firebaseio.com","data":{}}`},
		{name: "Realtime Database without domain", body: `{"eventId":"e-4","timestamp":` + when + `,"eventType":"providers/google.firebase.database/eventTypes/ref.delete","resource":"projects/_/instances/my-db/refs/a","data":{}}`},
		{name: "Firebase Auth", body: `{"data":{"uid":"u1","email":"a<b>@example.com","metadata":{"createdAt":"2020-01-01T00:00:00Z","lastSignedInAt":"2021-01-01T00:00:00Z"}},"context":{"eventId":"e-5","timestamp":` + when + `,"eventType":"providers/firebase.auth/eventTypes/user.create","resource":"projects/p"}}`},
		{name: "Firebase Analytics", body: `{"data":{"eventDim":[]},"context":{"eventId":"e-6","timestamp":` + when + `,"eventType":"providers/google.firebase.analytics/eventTypes/event.log","resource":"projects/p/events/purchase"}}`},
		{name: "background event without timestamp", body: `{"data":{"bucket":"b"},"context":{"eventId":"e-7","eventType":"google.storage.object.delete","resource":{"service":"storage.googleapis.com","name":"projects/_/buckets/b/objects/o"}}}`},
		{name: "background event of an unknown type", body: `{"data":{},"context":{"eventId":"1","eventType":"com.example.unknown","resource":"x"}}`},
		{name: "background event without data", body: `{"context":{"eventId":"1","eventType":"google.storage.object.finalize","resource":"projects/_/buckets/b/objects/o"}}`},
		{name: "no JSON", contentType: "text/plain", body: "hello"},
		{name: "empty object", body: `{}`},
		{name: "GET", method: http.MethodGet},
		{name: "binary CloudEvent", contentType: "application/json", body: `{"k":"v"}`, header: map[string]string{
			"Ce-Id": "1", "Ce-Specversion": "1.0", "Ce-Type": "t", "Ce-Source": "//s", "Ce-Time": "2026-03-04T05:06:07Z",
		}},
		{name: "binary CloudEvent without Ce-Id", contentType: "application/json", body: `{"k":"v"}`, header: map[string]string{
			"Ce-Specversion": "1.0", "Ce-Type": "t", "Ce-Source": "//s",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			framework.take()
			wrapper.take()
			want, wantEvent := tt.send(t, "framework")
			got, gotEvent := tt.send(t, "wrapper")
			if got.StatusCode != want.StatusCode {
				t.Errorf("status %d, want the framework's %d", got.StatusCode, want.StatusCode)
			}
			if g, w := got.Header.Get("X-Google-Status"), want.Header.Get("X-Google-Status"); g != w {
				t.Errorf("X-Google-Status %q, want the framework's %q", g, w)
			}
			if (gotEvent == nil) != (wantEvent == nil) {
				t.Fatalf("function called: %v, want %v as by the framework", gotEvent != nil, wantEvent != nil)
			}
			if wantEvent == nil {
				return
			}
			if tt.anyTime {
				if d := gotEvent.Time().Sub(wantEvent.Time()); d < -time.Minute || d > time.Minute {
					t.Errorf("time %v, want about the framework's %v", gotEvent.Time(), wantEvent.Time())
				}
				gotEvent.SetTime(time.Time{})
				wantEvent.SetTime(time.Time{})
				gotEvent.DataEncoded = withoutPublishTime(t, gotEvent.DataEncoded)
				wantEvent.DataEncoded = withoutPublishTime(t, wantEvent.DataEncoded)
			}
			g, err := json.Marshal(gotEvent)
			if err != nil {
				t.Fatal(err)
			}
			w, err := json.Marshal(wantEvent)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(g, w) || !bytes.Equal(gotEvent.Data(), wantEvent.Data()) {
				t.Errorf("event\n%s\nwant the framework's\n%s", g, w)
			}
		})
	}
}

// withoutPublishTime removes message.publishTime from the data of a
// messagePublished event.
func withoutPublishTime(t *testing.T, data []byte) []byte {
	t.Helper()
	var d map[string]map[string]any
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	delete(d["message"], "publishTime")
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
