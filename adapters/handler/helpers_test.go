package handler

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// withStderr makes CloudEventHTTP report to w instead of standard error.
func withStderr(w io.Writer) Option { return optionFunc(func(c *config) { c.stderr = w }) }

// quiet keeps tests that do not check it from writing to standard error.
var quiet = withStderr(io.Discard)

func recorder() (*tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	rec := tracetest.NewSpanRecorder()
	return rec, sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// waitEnded waits, at most 5 s, until n spans have ended.
func waitEnded(t *testing.T, rec *tracetest.SpanRecorder, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(rec.Ended()) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d spans ended after 5s, want %d", len(rec.Ended()), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// only returns the single span rec has ended.
func only(t *testing.T, rec *tracetest.SpanRecorder) sdktrace.ReadOnlySpan {
	t.Helper()
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans ended, want 1", len(spans))
	}
	return spans[0]
}

// checkAttrs compares the string, int and bool attributes of s with want
// ("" wants the attribute absent).
func checkAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want map[attribute.Key]any) {
	t.Helper()
	got := attrs(s)
	for k, w := range want {
		v, ok := got[k]
		switch w := w.(type) {
		case string:
			if w == "" {
				if ok {
					t.Errorf("%s = %v, want it absent", k, v.String())
				}
				continue
			}
			if !ok || v.Type() != attribute.STRING || v.AsString() != w {
				t.Errorf("%s = %q (%v), want %q", k, v.String(), v.Type(), w)
			}
		case int:
			if !ok || v.Type() != attribute.INT64 || v.AsInt64() != int64(w) {
				t.Errorf("%s = %v (%v), want %d", k, v.String(), v.Type(), w)
			}
		case bool:
			if !ok || v.Type() != attribute.BOOL || v.AsBool() != w {
				t.Errorf("%s = %v (%v), want %v", k, v.String(), v.Type(), w)
			}
		default:
			t.Fatalf("checkAttrs: %s: unsupported %T", k, w)
		}
	}
}

func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

var eventTime = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func newEvent(tb testing.TB, typ, source, subject string) event.Event {
	tb.Helper()
	e := event.New()
	e.SetID("evt-1")
	e.SetType(typ)
	e.SetSource(source)
	e.SetSubject(subject)
	e.SetTime(eventTime)
	if err := e.SetData(event.ApplicationJSON, map[string]string{"k": "v"}); err != nil {
		tb.Fatal(err)
	}
	return e
}

// pubsubData is the data of a messagePublished event, as Eventarc sends it.
func pubsubData(attrs map[string]string) map[string]any {
	return map[string]any{
		"message": map[string]any{
			"data":        base64.StdEncoding.EncodeToString([]byte("hello")),
			"attributes":  attrs,
			"messageId":   "msg-1",
			"publishTime": "2026-03-04T05:06:07Z",
			"orderingKey": "ok-1",
		},
		"subscription":    "projects/p/subscriptions/sub-1",
		"deliveryAttempt": 3,
	}
}

func pubsubEvent(tb testing.TB, attrs map[string]string) event.Event {
	tb.Helper()
	e := event.New()
	e.SetID("msg-1")
	e.SetType(pubsubPublished)
	e.SetSource("//pubsub.googleapis.com/projects/p/topics/topic-1")
	e.SetTime(eventTime)
	if err := e.SetData(event.ApplicationJSON, pubsubData(attrs)); err != nil {
		tb.Fatal(err)
	}
	return e
}
