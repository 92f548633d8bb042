// Package hello is an HTTP Cloud Function traced with gcftrace, in the shape
// Cloud Functions deploys: init() sets up tracing from the environment and
// registers the function with the Functions Framework; the platform's
// generated main serves it.
//
// GET /?name=Gopher answers "Hello, Gopher!". GET /?fail=1 answers 500, to
// show a span with an Error status. See README.md to deploy it.
package hello

import (
	"context"
	"errors"
	"log"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/adapters/handler"
	"github.com/gcftrace/gcftrace/wiring"
)

// tracing is the pipeline set up by init; nil when tracing is off.
var tracing *wiring.Tracing

func init() {
	t, err := wiring.New(context.Background()) // DT_* / OTEL_* / dtconfig.json
	if err != nil {
		log.Printf("tracing off: %v", err) // the function still runs, untraced
	}
	tracing = t
	functions.HTTP("hello", handler.HTTP(http.HandlerFunc(Hello), t.HandlerOptions()...).ServeHTTP)
}

// Shutdown flushes the spans still pending and stops tracing. Call it when
// the instance receives SIGTERM, if the host lets you; on Cloud Functions
// each invocation is flushed when it ends, so nothing is normally pending.
func Shutdown(ctx context.Context) error { return tracing.Shutdown(ctx) }

// Hello greets the caller named by the "name" query parameter.
func Hello(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	greeting, err := render(r.Context(), q.Get("name"), q.Has("fail"))
	if err != nil {
		http.Error(w, "could not render the greeting", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(greeting + "\n"))
}

// errTemplate is the failure ?fail=1 asks for.
var errTemplate = errors.New("greeting template unavailable")

// maxName bounds the name echoed back, in runes.
const maxName = 64

// render builds the greeting in a child span of the invocation's span.
func render(ctx context.Context, name string, fail bool) (string, error) {
	// The span in ctx was started by handler.HTTP; its provider is the one
	// wiring.New configured, or a no-op one when tracing is off.
	tracer := trace.SpanFromContext(ctx).TracerProvider().Tracer("github.com/gcftrace/gcftrace/examples/hello")
	_, span := tracer.Start(ctx, "render greeting")
	defer span.End()

	name = strings.TrimSpace(name)
	if name == "" {
		name = "World"
	}
	if utf8.RuneCountInString(name) > maxName {
		name = string([]rune(name)[:maxName])
	}
	span.SetAttributes(attribute.String("hello.name", name))

	if fail {
		span.RecordError(errTemplate)
		span.SetStatus(codes.Error, errTemplate.Error())
		return "", errTemplate
	}
	return "Hello, " + name + "!", nil
}
