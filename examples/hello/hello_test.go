package hello_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gcftrace/gcftrace/examples/hello"
)

func TestHello(t *testing.T) {
	tests := []struct {
		give       string
		wantStatus int
		wantBody   string
		wantName   string
		wantCode   codes.Code
	}{
		{give: "/", wantStatus: http.StatusOK, wantBody: "Hello, World!\n", wantName: "World"},
		{give: "/?name=Gopher", wantStatus: http.StatusOK, wantBody: "Hello, Gopher!\n", wantName: "Gopher"},
		{give: "/?name=" + strings.Repeat("x", 100), wantStatus: http.StatusOK, wantBody: "Hello, " + strings.Repeat("x", 64) + "!\n", wantName: strings.Repeat("x", 64)},
		{give: "/?fail=1", wantStatus: http.StatusInternalServerError, wantBody: "could not render the greeting\n", wantName: "World", wantCode: codes.Error},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			ctx, parent := tp.Tracer("test").Start(t.Context(), "invocation")

			w := httptest.NewRecorder()
			hello.Hello(w, httptest.NewRequestWithContext(ctx, http.MethodGet, tt.give, nil))
			parent.End()

			if w.Code != tt.wantStatus || w.Body.String() != tt.wantBody {
				t.Errorf("GET %s = %d %q, want %d %q", tt.give, w.Code, w.Body.String(), tt.wantStatus, tt.wantBody)
			}
			spans := rec.Ended()
			if len(spans) != 2 {
				t.Fatalf("got %d spans, want the render span and its parent", len(spans))
			}
			render := spans[0]
			if render.Name() != "render greeting" || render.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("first span %q with parent %s, want render greeting under %s",
					render.Name(), render.Parent().SpanID(), parent.SpanContext().SpanID())
			}
			if got := render.Status().Code; got != tt.wantCode {
				t.Errorf("render status = %v, want %v", got, tt.wantCode)
			}
			var name string
			for _, kv := range render.Attributes() {
				if kv.Key == "hello.name" {
					name = kv.Value.AsString()
				}
			}
			if name != tt.wantName {
				t.Errorf("hello.name = %q, want %q", name, tt.wantName)
			}
		})
	}
}

func TestHelloUntraced(t *testing.T) {
	w := httptest.NewRecorder()
	hello.Hello(w, httptest.NewRequest(http.MethodGet, "/?name=Ada", nil))
	if w.Body.String() != "Hello, Ada!\n" {
		t.Errorf("body = %q, want Hello, Ada!", w.Body.String())
	}
}
