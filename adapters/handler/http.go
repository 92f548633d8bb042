package handler

import (
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// HTTP wraps next so that each request becomes one SERVER span following the
// stable HTTP server conventions, plus faas.trigger=http, faas.coldstart and
// faas.invocation_id (the Function-Execution-Id header, else the span id).
//
// The parent is read from the request headers with the configured
// propagator. The span is named "METHOD route" when a route is known (see
// [WithRoute]; by default the pattern of the [http.ServeMux] that matched),
// else "METHOD". 5xx answers and panics set status Error and error.type. When
// next returns or panics the span ends and, with [WithFlusher], the spans are
// flushed before the response completes; a panic is then raised again so the
// framework answers as usual.
//
// Only faas.trigger, http.request.method and url.path are given to the
// sampler; the other attributes are computed only for recorded spans.
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

// maxHTTPAttrs is the room for the attributes HTTP adds after the start.
const maxHTTPAttrs = 20

// httpState is the scratch space of one request, pooled so that starting a
// span allocates nothing of ours: the start options are built once per pooled
// value and refer to its start array, whose method and path each request
// sets. The SDK copies start attributes and SetAttributes arguments, so
// nothing here outlives the request.
//
// A released state is not cleared: until the next request overwrites them,
// or the pool drops the state at a garbage collection, its arrays keep the
// attribute strings of the last request reachable (header values, the path,
// the redacted query; the exported span holds the same strings). Clearing
// them would cost a sampled request about 100ns, mostly write barriers while
// the collector marks.
type httpState struct {
	start [3]attribute.KeyValue // faas.trigger, http.request.method, url.path
	opts  [2]trace.SpanStartOption
	attrs [maxHTTPAttrs]attribute.KeyValue
}

var httpStates = sync.Pool{New: func() any {
	s := new(httpState)
	s.start[0] = semconv.FaaSTriggerHTTP
	s.start[1] = semconv.HTTPRequestMethodKey.String("")
	s.start[2] = semconv.URLPath("")
	s.opts[0] = trace.WithSpanKind(trace.SpanKindServer)
	s.opts[1] = trace.WithAttributes(s.start[:]...)
	return s
}}

// release returns s to the pool; see httpState for why it is not cleared.
func (s *httpState) release() { httpStates.Put(s) }

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cold := coldStart()
	ctx := m.cfg.prop.Extract(r.Context(), headerCarrier(r.Header))
	method, original := requestMethod(r.Method)

	st := httpStates.Get().(*httpState)
	// A function is mostly called with one method and path: the state often
	// holds them already, and a write is dearer than the comparison.
	if st.start[1].Value.AsString() != method {
		st.start[1] = semconv.HTTPRequestMethodKey.String(method)
	}
	if st.start[2].Value.AsString() != r.URL.Path {
		st.start[2] = semconv.URLPath(r.URL.Path)
	}
	ctx, span := m.tracer.Start(ctx, spanMethod(method), st.opts[:]...)
	r = r.WithContext(ctx)

	if !span.IsRecording() {
		st.release()
		defer func() {
			// rec is nil on a return and on runtime.Goexit: the span
			// ends and the flush runs either way.
			rec := recover()
			span.End()
			m.cfg.flush(ctx)
			if rec != nil {
				panic(rec)
			}
		}()
		m.next.ServeHTTP(w, r)
		return
	}

	attrs := m.requestAttributes(st.attrs[:0], r, span, cold, original)
	rw := &responseWriter{ResponseWriter: w}
	var body *countingBody
	if m.cfg.bodySizes && r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
		body = &countingBody{ReadCloser: r.Body}
		r.Body = body
	}
	defer func() {
		rec := recover()
		m.finish(span, r, method, rw, body, attrs, rec)
		st.release()
		m.cfg.flush(ctx)
		if rec != nil {
			panic(rec)
		}
	}()
	m.next.ServeHTTP(rw.wrap(), r)
}

// requestAttributes appends what a recorded span learns from the request.
func (m *middleware) requestAttributes(a []attribute.KeyValue, r *http.Request, span trace.Span, cold bool, methodOriginal string) []attribute.KeyValue {
	id := header(r.Header, "Function-Execution-Id")
	if id == "" {
		id = span.SpanContext().SpanID().String()
	}
	https := isHTTPS(r)
	a = append(a, coldstartKV[b2i(cold)], semconv.FaaSInvocationID(id), schemeKV[b2i(https)])
	if methodOriginal != "" {
		a = append(a, semconv.HTTPRequestMethodOriginal(methodOriginal))
	}
	if r.URL.RawQuery != "" {
		if q := m.cfg.redactQuery(r.URL.RawQuery); q != "" {
			a = append(a, semconv.URLQuery(q))
		}
	}
	if host, port := splitHostPort(r.Host); host != "" {
		a = append(a, semconv.ServerAddress(host))
		if port == 0 {
			a = append(a, defaultPortKV[b2i(https)])
		} else {
			a = append(a, semconv.ServerPort(port))
		}
	}
	peer, peerPort := splitHostPort(r.RemoteAddr)
	if ip := forwardedFor(r.Header); ip != "" {
		a = append(a, semconv.ClientAddress(ip))
	} else if peer != "" {
		a = append(a, semconv.ClientAddress(peer))
	}
	if peer != "" {
		a = append(a, semconv.NetworkPeerAddress(peer))
		if peerPort > 0 {
			a = append(a, semconv.NetworkPeerPort(peerPort))
		}
	}
	if ua := header(r.Header, "User-Agent"); ua != "" {
		a = append(a, semconv.UserAgentOriginal(ua))
	}
	if i := protocolVersion(r); i >= 0 {
		a = append(a, protocolKV[i])
	}
	return a
}

// finish completes a recorded span: name and route, status code, error
// status, body sizes, then End.
func (m *middleware) finish(span trace.Span, r *http.Request, method string, rw *responseWriter, body *countingBody, a []attribute.KeyValue, rec any) {
	defer span.End()
	var route string
	if m.cfg.route != nil {
		route = m.cfg.route(r)
	}
	if route == "" {
		route = patternRoute(r.Pattern)
	}
	if route != "" {
		span.SetName(spanMethod(method) + " " + route)
		a = append(a, semconv.HTTPRoute(route))
	}

	status := rw.status
	if status == 0 && rec == nil && !rw.hijacked {
		status = http.StatusOK // what net/http sends when nothing was written
	}
	if status > 0 {
		a = append(a, semconv.HTTPResponseStatusCode(status))
	}
	if rec != nil {
		recordPanic(span, rec, debug.Stack())
	} else if status >= 500 {
		span.SetStatus(codes.Error, "")
		a = append(a, semconv.ErrorTypeKey.String(strconv.Itoa(status)))
	}
	if m.cfg.bodySizes {
		switch {
		case body != nil:
			a = append(a, semconv.HTTPRequestBodySize(int(body.n)))
		case r.ContentLength >= 0:
			a = append(a, semconv.HTTPRequestBodySize(int(r.ContentLength)))
		}
		a = append(a, semconv.HTTPResponseBodySize(int(rw.written)))
	}
	span.SetAttributes(a...)
}

// spanMethod is the method as span names use it: "HTTP" for unknown ones.
func spanMethod(method string) string {
	if method == "_OTHER" {
		return "HTTP"
	}
	return method
}

// methodQuery is the QUERY method (a safe method with a body), which the
// HTTP conventions know beside those of RFC 9110 and PATCH.
const methodQuery = "QUERY"

// requestMethod returns the semconv method and, for methods outside the
// known set (or not in upper case), the original one.
func requestMethod(m string) (method, original string) {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead,
		http.MethodPatch, http.MethodOptions, http.MethodConnect, http.MethodTrace, methodQuery:
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

// patternRoute is the path of a ServeMux pattern ("GET example.com/items/{id}"
// → "/items/{id}"; "/{$}" → "/"), or "".
func patternRoute(pattern string) string {
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		pattern = strings.TrimLeft(pattern[i+1:], " \t")
	}
	i := strings.IndexByte(pattern, '/')
	if i < 0 {
		return ""
	}
	return strings.TrimSuffix(pattern[i:], "{$}")
}

// isHTTPS reports whether the request came over TLS: its own, or that of
// Google's front end, which terminates TLS and says so in X-Forwarded-Proto.
func isHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return header(r.Header, "X-Forwarded-Proto") == "https"
}

// Attributes with few values, built once: copying one is cheaper than
// building it.
var (
	coldstartKV   = [2]attribute.KeyValue{semconv.FaaSColdstart(false), semconv.FaaSColdstart(true)}
	schemeKV      = [2]attribute.KeyValue{semconv.URLScheme("http"), semconv.URLScheme("https")}
	defaultPortKV = [2]attribute.KeyValue{semconv.ServerPort(80), semconv.ServerPort(443)}
	protocolKV    = [4]attribute.KeyValue{
		semconv.NetworkProtocolVersion("1.0"), semconv.NetworkProtocolVersion("1.1"),
		semconv.NetworkProtocolVersion("2"), semconv.NetworkProtocolVersion("3"),
	}
)

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// splitHostPort splits "host:port", "[v6]:port", "host" or "[v6]"; port is 0
// when absent or not a port number. Unlike net.SplitHostPort it allocates
// nothing, also when the port is missing.
func splitHostPort(hp string) (host string, port int) {
	if hp == "" {
		return "", 0
	}
	if hp[0] == '[' {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return hp, 0
		}
		if rest := hp[end+1:]; len(rest) > 1 && rest[0] == ':' {
			port = parsePort(rest[1:])
		}
		return hp[1:end], port
	}
	i := strings.LastIndexByte(hp, ':')
	if i < 0 || strings.IndexByte(hp[:i], ':') >= 0 { // no port, or a bare IPv6 address
		return hp, 0
	}
	return hp[:i], parsePort(hp[i+1:])
}

func parsePort(s string) int {
	if len(s) == 0 || len(s) > 5 {
		return 0
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0
	}
	return n
}

// forwardedFor is the first X-Forwarded-For entry (the client as Google's
// front end saw it), or "".
func forwardedFor(h http.Header) string {
	xff := header(h, "X-Forwarded-For")
	if i := strings.IndexByte(xff, ','); i >= 0 {
		xff = xff[:i]
	}
	return strings.TrimSpace(xff)
}

// protocolVersion is the index in protocolKV of the request's HTTP
// version, or -1.
func protocolVersion(r *http.Request) int {
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 1:
		return 1
	case r.ProtoMajor == 2:
		return 2
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return 0
	case r.ProtoMajor == 3:
		return 3
	}
	return -1
}

// countingBody counts the request body bytes the handler reads, for
// http.request.body.size when Content-Length is unknown.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
