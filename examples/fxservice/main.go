// Command fxservice is a Cloud Run service with several routes that embeds
// gcftrace through its fx module: wiring.Module provides the tracer
// provider, the propagator and the handler options; the service's own
// constructors use them; OnStop (SIGTERM on Cloud Run) shuts tracing down,
// which flushes.
//
// Configuration comes from the environment (DT_CONNECTION_BASE_URL,
// DT_CONNECTION_AUTH_TOKEN, …); PORT is the listen port (default 8080).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/gcftrace/gcftrace/adapters/handler"
	"github.com/gcftrace/gcftrace/wiring"
)

func main() {
	fx.New(App()).Run()
}

// App is the whole service; tests replace parts of it with fx.Replace.
func App() fx.Option {
	return fx.Options(
		wiring.Module,
		fx.Provide(NewMux, NewServer),
		fx.Invoke(setGlobals, func(*http.Server) {}),
	)
}

// setGlobals makes the pipeline the process-wide default, so libraries
// instrumented with the global provider join the same traces.
func setGlobals(tp *sdktrace.TracerProvider, prop propagation.TextMapPropagator) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(prop)
}

// NewMux routes the service's endpoints; handler.HTTP names each span after
// the matched pattern ("GET /orders/{id}").
func NewMux(t *wiring.Tracing) http.Handler {
	tracer := t.TracerProvider().Tracer("github.com/gcftrace/gcftrace/examples/fxservice")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, span := tracer.Start(r.Context(), "load order")
		span.SetAttributes(attribute.String("order.id", r.PathValue("id")))
		defer span.End()
		writeJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id"), "status": "shipped"})
	})
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		var order struct{ Items int }
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&order); err != nil || order.Items <= 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "items must be > 0"})
			return
		}
		trace.SpanFromContext(r.Context()).AddEvent("order accepted", trace.WithAttributes(attribute.Int("order.items", order.Items)))
		writeJSON(w, http.StatusCreated, map[string]string{"id": "o-1"})
	})
	// Cloud Run keeps the CPU only while a request is served (unless "CPU
	// always allocated"): flush on exit, the default, exports every
	// request's spans before its response completes.
	return handler.HTTP(mux, t.HandlerOptions()...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// NewServer serves h on $PORT for the application's lifetime.
func NewServer(lc fx.Lifecycle, h http.Handler) *http.Server {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	srv := &http.Server{Addr: ":" + port, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", srv.Addr)
			if err != nil {
				return err
			}
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					slog.Error("fxservice: serve", "err", err)
				}
			}()
			return nil
		},
		OnStop: srv.Shutdown,
	})
	return srv
}
