package handler

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// HTTP wraps next so that each request becomes one SERVER span following the
// stable HTTP server conventions plus faas.trigger=http, faas.coldstart and
// faas.invocation_id (the Function-Execution-Id header, else the span id).
// The parent is read with the configured propagator. The span is named
// "METHOD route" when a ServeMux pattern matched, else "METHOD"; 5xx answers
// and panics set status Error. After next returns (or panics) the span ends
// and, with WithFlusher, the spans are flushed before the response is
// complete; a panic is then re-raised so the framework answers as usual.
func HTTP(next http.Handler, opts ...Option) http.Handler {
	c := newConfig(opts)
	return &middleware{next: next, cfg: c, tracer: c.tracer()}
}

type middleware struct {
	next   http.Handler
	cfg    config
	tracer trace.Tracer
}

var _ http.Handler = (*middleware)(nil)

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := m.cfg.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	method, methodOriginal := requestMethod(r.Method)
	ctx, span := m.tracer.Start(ctx, method,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(m.startAttributes(r, method, methodOriginal)...),
	)
	if span.IsRecording() {
		id := r.Header.Get("Function-Execution-Id")
		if id == "" {
			id = span.SpanContext().SpanID().String()
		}
		span.SetAttributes(semconv.FaaSInvocationID(id))
	}
	rw := &responseWriter{ResponseWriter: w}
	r = r.WithContext(ctx)

	defer func() {
		rec := recover()
		m.finish(span, r, method, rw, rec)
		m.cfg.flush(ctx)
		if rec != nil {
			panic(rec)
		}
	}()
	m.next.ServeHTTP(rw, r)
}

func (m *middleware) startAttributes(r *http.Request, method, methodOriginal string) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 14)
	attrs = append(attrs,
		semconv.FaaSTriggerHTTP,
		semconv.FaaSColdstart(coldStart()),
		semconv.HTTPRequestMethodKey.String(method),
		semconv.URLPath(r.URL.Path),
		semconv.URLScheme(scheme(r)),
	)
	if methodOriginal != "" {
		attrs = append(attrs, semconv.HTTPRequestMethodOriginal(methodOriginal))
	}
	if r.URL.RawQuery != "" {
		attrs = append(attrs, semconv.URLQuery(r.URL.RawQuery))
	}
	if host, port := splitHostPort(r.Host); host != "" {
		attrs = append(attrs, semconv.ServerAddress(host))
		if port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	if ip := clientAddress(r); ip != "" {
		attrs = append(attrs, semconv.ClientAddress(ip))
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	if v := protocolVersion(r); v != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersion(v))
	}
	return attrs
}

func (m *middleware) finish(span trace.Span, r *http.Request, method string, rw *responseWriter, rec any) {
	defer span.End()
	if !span.IsRecording() {
		return
	}
	if route := route(r.Pattern); route != "" {
		span.SetName(method + " " + route)
		span.SetAttributes(semconv.HTTPRoute(route))
	} else if method == "_OTHER" {
		span.SetName("HTTP")
	}
	status := rw.status
	if status == 0 {
		status = http.StatusOK
	}
	if rec != nil {
		status = http.StatusInternalServerError
		err, ok := rec.(error)
		if !ok {
			err = fmt.Errorf("panic: %v", rec)
		}
		span.RecordError(err, trace.WithAttributes(semconv.ExceptionStacktrace(string(debug.Stack()))))
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
		return
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	if status >= 500 {
		span.SetStatus(codes.Error, "")
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
	}
}

// errorType is the error's dynamic type name, as error.type recommends.
func errorType(err error) string {
	return fmt.Sprintf("%T", err)
}

// requestMethod returns the semconv method and, for methods outside the
// known set, the original one.
func requestMethod(m string) (method, original string) {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead,
		http.MethodPatch, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m, ""
	case "":
		return http.MethodGet, ""
	}
	if u := strings.ToUpper(m); u != m {
		if known, _ := requestMethod(u); known == u {
			return u, m
		}
	}
	return "_OTHER", m
}

// route is the path of a ServeMux pattern ("GET example.com/items/{id}" →
// "/items/{id}"), or "".
func route(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = pattern[i+1:]
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:]
	}
	return pattern
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		return p
	}
	return "http"
}

func splitHostPort(hostport string) (string, int) {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport, 0
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return host, 0
	}
	return host, int(port)
}

// clientAddress is the first X-Forwarded-For entry (Google's front end sets
// it), else the peer's address.
func clientAddress(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		if i := strings.IndexByte(xff, ','); i >= 0 {
			xff = xff[:i]
		}
		return strings.TrimSpace(xff)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func protocolVersion(r *http.Request) string {
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 1:
		return "1.1"
	case r.ProtoMajor == 2:
		return "2"
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return "1.0"
	case r.ProtoMajor == 3:
		return "3"
	}
	return ""
}

// responseWriter records the status code. It keeps http.Flusher,
// http.Hijacker and io.ReaderFrom working, and Unwrap lets
// http.ResponseController reach the rest.
type responseWriter struct {
	http.ResponseWriter
	status int
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(w.ResponseWriter, src)
}

func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var (
	_ http.Flusher  = (*responseWriter)(nil)
	_ http.Hijacker = (*responseWriter)(nil)
	_ io.ReaderFrom = (*responseWriter)(nil)
)
