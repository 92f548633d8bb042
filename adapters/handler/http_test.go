package handler

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/ports/portstest"
)

func TestHTTPSpan(t *testing.T) {
	rec, tp := recorder()
	flusher := &portstest.CountingFlusher{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !trace.SpanFromContext(r.Context()).SpanContext().IsValid() {
			t.Error("no span in the handler's context")
		}
		io.WriteString(w, "ok")
	})
	srv := serve(t, HTTP(mux, WithTracerProvider(tp), WithFlusher(flusher)))

	req, _ := http.NewRequest("GET", srv.URL+"/items/42?q=1", nil)
	req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	req.Header.Set("Function-Execution-Id", "exec-1")
	req.Header.Set("User-Agent", "test-agent")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	s := only(t, rec)
	if s.Name() != "GET /items/{id}" || s.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q kind %v", s.Name(), s.SpanKind())
	}
	if got := s.Parent().TraceID().String(); got != "0af7651916cd43dd8448eb211c80319c" || !s.Parent().IsRemote() {
		t.Errorf("parent trace %s remote=%v", got, s.Parent().IsRemote())
	}
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	checkAttrs(t, s, map[attribute.Key]any{
		"faas.trigger":              "http",
		"faas.invocation_id":        "exec-1",
		"http.request.method":       "GET",
		"url.path":                  "/items/42",
		"url.query":                 "q=1",
		"url.scheme":                "http",
		"http.route":                "/items/{id}",
		"user_agent.original":       "test-agent",
		"server.address":            "127.0.0.1",
		"server.port":               port,
		"client.address":            "127.0.0.1",
		"network.peer.address":      "127.0.0.1",
		"network.protocol.version":  "1.1",
		"http.response.status_code": 200,
		"error.type":                "",
		"http.request.body.size":    "",
	})
	if a := attrs(s); a["network.peer.port"].AsInt64() == 0 {
		t.Error("network.peer.port not set")
	}
	if s.Status().Code != codes.Unset {
		t.Errorf("status = %v, want Unset", s.Status())
	}
	if flusher.Calls() != 1 {
		t.Errorf("flushes = %d, want 1", flusher.Calls())
	}
}

func TestHTTPStatusError(t *testing.T) {
	tests := []struct {
		give          int
		want          codes.Code
		wantErrorType string
	}{
		{give: 200, want: codes.Unset},
		{give: 404, want: codes.Unset},
		{give: 499, want: codes.Unset},
		{give: 500, want: codes.Error, wantErrorType: "500"},
		{give: 503, want: codes.Error, wantErrorType: "503"},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.give), func(t *testing.T) {
			rec, tp := recorder()
			srv := serve(t, HTTP(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.give)
			}), WithTracerProvider(tp)))
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			s := only(t, rec)
			if s.Status().Code != tt.want || s.Status().Description != "" {
				t.Errorf("status %+v, want %v without description", s.Status(), tt.want)
			}
			if s.Name() != "GET" {
				t.Errorf("name %q, want GET", s.Name())
			}
			checkAttrs(t, s, map[attribute.Key]any{
				"http.response.status_code": tt.give,
				"error.type":                tt.wantErrorType,
			})
		})
	}
}

// panicHTTP and panicHTTPWithString panic; the exception's stack must
// show them. (The test's own frames are on any stack captured while the
// handler runs, before the panic too.)
func panicHTTP(http.ResponseWriter, *http.Request) { panic(errors.New("boom")) }

func panicHTTPWithString(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusAccepted)
	panic("no error")
}

func TestHTTPPanicRecordedFlushedAndReraised(t *testing.T) {
	rec, tp := recorder()
	flusher := &portstest.CountingFlusher{}
	h := HTTP(http.HandlerFunc(panicHTTP), WithTracerProvider(tp), WithFlusher(flusher))

	func() {
		defer func() {
			if r := recover(); r == nil || r.(error).Error() != "boom" {
				t.Errorf("recovered %v, want the original panic", r)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", nil))
	}()
	s := only(t, rec)
	if s.Status().Code != codes.Error || s.Status().Description != "boom" {
		t.Errorf("status = %+v", s.Status())
	}
	checkAttrs(t, s, map[attribute.Key]any{"error.type": "*errors.errorString"})
	checkException(t, s, "*errors.errorString", "boom", "handler.panicHTTP(")
	if flusher.Calls() != 1 {
		t.Errorf("flushes = %d, want 1 before re-panicking", flusher.Calls())
	}
}

func TestHTTPPanicWithValueThatIsNoError(t *testing.T) {
	rec, tp := recorder()
	h := HTTP(http.HandlerFunc(panicHTTPWithString), WithTracerProvider(tp))
	func() {
		defer func() { _ = recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	s := only(t, rec)
	if s.Status().Code != codes.Error || s.Status().Description != "no error" {
		t.Errorf("status = %+v", s.Status())
	}
	checkAttrs(t, s, map[attribute.Key]any{"error.type": "panic", "http.response.status_code": 202})
	checkException(t, s, "string", "no error", "handler.panicHTTPWithString(")
}

// checkException checks s's one exception event; its stack must show
// wantFrame, the function that panicked.
func checkException(t *testing.T, s sdktrace.ReadOnlySpan, wantType, wantMessage, wantFrame string) {
	t.Helper()
	var events []sdktrace.Event
	for _, e := range s.Events() {
		if e.Name == "exception" {
			events = append(events, e)
		}
	}
	if len(events) != 1 {
		t.Fatalf("%d exception events in %+v, want 1", len(events), s.Events())
	}
	ev := map[attribute.Key]attribute.Value{}
	for _, kv := range events[0].Attributes {
		ev[kv.Key] = kv.Value
	}
	if got := ev["exception.type"].AsString(); got != wantType {
		t.Errorf("exception.type = %q, want %q", got, wantType)
	}
	if got := ev["exception.message"].AsString(); got != wantMessage {
		t.Errorf("exception.message = %q, want %q", got, wantMessage)
	}
	if stack := ev["exception.stacktrace"].AsString(); !strings.Contains(stack, wantFrame) {
		t.Errorf("exception.stacktrace has no frame %s, the panicking function:\n%s", wantFrame, stack)
	}
}

func TestHTTPColdStartExactlyOnceUnderConcurrency(t *testing.T) {
	warm.Store(false)
	rec, tp := recorder()
	h := HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithTracerProvider(tp))
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)) })
	}
	wg.Wait()
	cold := 0
	for _, s := range rec.Ended() {
		if attrs(s)["faas.coldstart"].AsBool() {
			cold++
		}
	}
	if cold != 1 {
		t.Fatalf("%d cold starts in 64 concurrent invocations, want 1", cold)
	}
}

func TestHTTPColdStartConsumedByUnsampledInvocation(t *testing.T) {
	warm.Store(false)
	rec, tp := recorder()
	h := HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithTracerProvider(tp))
	unsampled := httptest.NewRequest("GET", "/", nil)
	unsampled.Header.Set("traceparent", parentNotSampled)
	dropping := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithTracerProvider(dropping)).
		ServeHTTP(httptest.NewRecorder(), unsampled)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	checkAttrs(t, only(t, rec), map[attribute.Key]any{"faas.coldstart": false})
}

func TestHTTPUnknownMethod(t *testing.T) {
	tests := []struct {
		give, wantName, wantMethod, wantOriginal string
	}{
		{give: "FOO", wantName: "HTTP", wantMethod: "_OTHER", wantOriginal: "FOO"},
		{give: "get", wantName: "GET", wantMethod: "GET", wantOriginal: "get"},
		{give: "PATCH", wantName: "PATCH", wantMethod: "PATCH", wantOriginal: ""},
		{give: "QUERY", wantName: "QUERY", wantMethod: "QUERY", wantOriginal: ""},
		{give: "query", wantName: "QUERY", wantMethod: "QUERY", wantOriginal: "query"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			rec, tp := recorder()
			h := HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithTracerProvider(tp))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.give, "/", nil))
			s := only(t, rec)
			if s.Name() != tt.wantName {
				t.Errorf("name %q, want %q", s.Name(), tt.wantName)
			}
			checkAttrs(t, s, map[attribute.Key]any{
				"http.request.method":          tt.wantMethod,
				"http.request.method_original": tt.wantOriginal,
			})
		})
	}
}

func TestHTTPUnknownMethodWithRouteIsNamedHTTPRoute(t *testing.T) {
	rec, tp := recorder()
	h := HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithTracerProvider(tp),
		WithRoute(func(*http.Request) string { return "/hook" }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("PURGE", "/hook", nil))
	if got := only(t, rec).Name(); got != "HTTP /hook" {
		t.Errorf("name %q, want %q", got, "HTTP /hook")
	}
}

func TestHTTPRoute(t *testing.T) {
	inner := http.NewServeMux()
	inner.HandleFunc("POST /orders/{id}/items", func(http.ResponseWriter, *http.Request) {})
	inner.HandleFunc("/{$}", func(http.ResponseWriter, *http.Request) {})
	tests := []struct {
		name      string
		give      func(tp trace.TracerProvider) http.Handler
		path      string
		wantName  string
		wantRoute string
	}{
		{
			name: "no router",
			give: func(tp trace.TracerProvider) http.Handler {
				return HTTP(http.NotFoundHandler(), WithTracerProvider(tp))
			},
			path:     "/raw/path/123",
			wantName: "POST",
		},
		{
			name:      "inner ServeMux",
			give:      func(tp trace.TracerProvider) http.Handler { return HTTP(inner, WithTracerProvider(tp)) },
			path:      "/orders/7/items",
			wantName:  "POST /orders/{id}/items",
			wantRoute: "/orders/{id}/items",
		},
		{
			name:      "exact root",
			give:      func(tp trace.TracerProvider) http.Handler { return HTTP(inner, WithTracerProvider(tp)) },
			path:      "/",
			wantName:  "POST /",
			wantRoute: "/",
		},
		{
			name: "outer ServeMux, as functions-framework registers a function",
			give: func(tp trace.TracerProvider) http.Handler {
				outer := http.NewServeMux()
				outer.Handle("/hello", HTTP(http.NotFoundHandler(), WithTracerProvider(tp)))
				return outer
			},
			path:      "/hello",
			wantName:  "POST /hello",
			wantRoute: "/hello",
		},
		{
			name: "WithRoute wins",
			give: func(tp trace.TracerProvider) http.Handler {
				return HTTP(inner, WithTracerProvider(tp), WithRoute(func(r *http.Request) string { return "/custom/{x}" }))
			},
			path:      "/orders/7/items",
			wantName:  "POST /custom/{x}",
			wantRoute: "/custom/{x}",
		},
		{
			name: "WithRoute empty falls back to the pattern",
			give: func(tp trace.TracerProvider) http.Handler {
				return HTTP(inner, WithTracerProvider(tp), WithRoute(func(*http.Request) string { return "" }))
			},
			path:      "/orders/7/items",
			wantName:  "POST /orders/{id}/items",
			wantRoute: "/orders/{id}/items",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, tp := recorder()
			tt.give(tp).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", tt.path, nil))
			s := only(t, rec)
			if s.Name() != tt.wantName {
				t.Errorf("name %q, want %q", s.Name(), tt.wantName)
			}
			checkAttrs(t, s, map[attribute.Key]any{"http.route": tt.wantRoute, "url.path": tt.path})
		})
	}
}

func TestPatternRoute(t *testing.T) {
	tests := []struct{ give, want string }{
		{give: "", want: ""},
		{give: "/", want: "/"},
		{give: "/hello", want: "/hello"},
		{give: "GET /items/{id}", want: "/items/{id}"},
		{give: "GET  example.com/items/{id...}", want: "/items/{id...}"},
		{give: "example.com/", want: "/"},
		{give: "/{$}", want: "/"},
		{give: "POST /a/{$}", want: "/a/"},
		{give: "GET", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got := patternRoute(tt.give); got != tt.want {
				t.Errorf("patternRoute(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}

func TestHTTPForwardedRequest(t *testing.T) {
	rec, tp := recorder()
	h := HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithTracerProvider(tp))
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = "europe-west3-p.cloudfunctions.net"
	r.RemoteAddr = "169.254.1.1:40000"
	r.Header.Set("X-Forwarded-For", " 203.0.113.7 , 10.0.0.1")
	r.Header.Set("X-Forwarded-Proto", "https")
	h.ServeHTTP(httptest.NewRecorder(), r)
	checkAttrs(t, only(t, rec), map[attribute.Key]any{
		"url.scheme":           "https",
		"server.address":       "europe-west3-p.cloudfunctions.net",
		"server.port":          443,
		"client.address":       "203.0.113.7",
		"network.peer.address": "169.254.1.1",
		"network.peer.port":    40000,
	})
}

func TestHTTPInvocationIDFallsBackToSpanID(t *testing.T) {
	rec, tp := recorder()
	HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithTracerProvider(tp)).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	s := only(t, rec)
	checkAttrs(t, s, map[attribute.Key]any{"faas.invocation_id": s.SpanContext().SpanID().String()})
}

func TestHTTPQuery(t *testing.T) {
	tests := []struct {
		name  string
		opts  []Option
		query string
		want  string
	}{
		{name: "default keeps a plain query", query: "a=1&b=2", want: "a=1&b=2"},
		{name: "default redacts signatures", query: "a=1&X-Goog-Signature=abc&sig=x", want: "a=1&X-Goog-Signature=REDACTED&sig=REDACTED"},
		{name: "custom redactor", opts: []Option{WithQueryRedactor(func(string) string { return "hidden" })}, query: "a=1", want: "hidden"},
		{name: "redactor dropping the query", opts: []Option{WithQueryRedactor(func(string) string { return "" })}, query: "a=1", want: ""},
		{name: "no query", query: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, tp := recorder()
			h := HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), append(tt.opts, WithTracerProvider(tp))...)
			r := httptest.NewRequest("GET", "/", nil)
			r.URL.RawQuery = tt.query
			h.ServeHTTP(httptest.NewRecorder(), r)
			checkAttrs(t, only(t, rec), map[attribute.Key]any{"url.query": tt.want})
		})
	}
}

func TestRedactQuery(t *testing.T) {
	tests := []struct{ give, want string }{
		{give: "", want: ""},
		{give: "a=1", want: "a=1"},
		{give: "Signature=s&AWSAccessKeyId=k&Expires=1", want: "Signature=REDACTED&AWSAccessKeyId=REDACTED&Expires=1"},
		{give: "sig", want: "sig"},
		{give: "sig=", want: "sig=REDACTED"},
		{give: "X%2DGoog-Signature=abc", want: "X%2DGoog-Signature=REDACTED"},
		{give: "signature=lowercase-is-not-the-key", want: "signature=lowercase-is-not-the-key"},
		{give: "a=1&&sig=2&", want: "a=1&&sig=REDACTED&"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got := RedactQuery(tt.give); got != tt.want {
				t.Errorf("RedactQuery(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}

func TestRedactQueryWithoutSecretsDoesNotAllocate(t *testing.T) {
	q := "page=2&sort=name&filter=active"
	if n := testing.AllocsPerRun(100, func() { _ = RedactQuery(q) }); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}

func TestHTTPBodySizes(t *testing.T) {
	tests := []struct {
		name        string
		opts        []Option
		chunked     bool
		wantRequest any
		wantReply   any
	}{
		{name: "off by default", wantRequest: "", wantReply: ""},
		{name: "content length", opts: []Option{WithBodySizes()}, wantRequest: 11, wantReply: 5},
		{name: "chunked request counted", opts: []Option{WithBodySizes()}, chunked: true, wantRequest: 11, wantReply: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, tp := recorder()
			srv := serve(t, HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				io.WriteString(w, "hello")
			}), append(tt.opts, WithTracerProvider(tp))...))
			var body io.Reader = strings.NewReader("hello world")
			if tt.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			resp, err := http.Post(srv.URL, "text/plain", body)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			checkAttrs(t, only(t, rec), map[attribute.Key]any{
				"http.request.body.size":  tt.wantRequest,
				"http.response.body.size": tt.wantReply,
			})
		})
	}
}

func TestHTTPNotSampledPassesWriterThroughAndFlushes(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	flusher := &portstest.CountingFlusher{}
	w := httptest.NewRecorder()
	var got http.ResponseWriter
	var sc trace.SpanContext
	HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = w
		sc = trace.SpanContextFromContext(r.Context())
	}), WithTracerProvider(tp), WithFlusher(flusher)).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if got != http.ResponseWriter(w) {
		t.Errorf("handler got %T, want the original writer", got)
	}
	if !sc.IsValid() || sc.IsSampled() {
		t.Errorf("span context %v, want a valid unsampled one", sc)
	}
	if flusher.Calls() != 1 {
		t.Errorf("flushes = %d, want 1", flusher.Calls())
	}
}

func TestHTTPNotSampledPanicIsReraisedAndFlushed(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	flusher := &portstest.CountingFlusher{}
	h := HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }),
		WithTracerProvider(tp), WithFlusher(flusher))
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v", r)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	if flusher.Calls() != 1 {
		t.Errorf("flushes = %d, want 1", flusher.Calls())
	}
}

// deadlineFlusher reports the deadline and error of the context it gets.
type deadlineFlusher struct {
	deadline time.Time
	err      error
}

func (f *deadlineFlusher) ForceFlush(ctx context.Context) error {
	f.deadline, _ = ctx.Deadline()
	f.err = ctx.Err()
	return nil
}

func TestHTTPFlushSurvivesClientHangUpWithinBudget(t *testing.T) {
	_, tp := recorder()
	f := &deadlineFlusher{}
	ctx, cancel := context.WithCancel(context.Background())
	h := HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { cancel() }),
		WithTracerProvider(tp), WithFlusher(f), WithFlushTimeout(time.Minute))
	start := time.Now()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	if f.err != nil {
		t.Errorf("flush context: %v, want live after the client hung up", f.err)
	}
	if d := f.deadline.Sub(start); d <= 0 || d > time.Minute+time.Second {
		t.Errorf("flush deadline in %v, want within the one-minute budget", d)
	}
}

// boundedFlusher is a deadlineFlusher that says it bounds each flush within
// budget itself (ports.BoundedFlusher).
type boundedFlusher struct {
	deadlineFlusher
	budget time.Duration
	got    context.Context
}

func (f *boundedFlusher) ForceFlush(ctx context.Context) error {
	f.got = ctx
	return f.deadlineFlusher.ForceFlush(ctx)
}

func (f *boundedFlusher) FlushBudget() time.Duration { return f.budget }

type ctxKey struct{}

// TestHTTPBoundedFlusherGetsTheInvocationContext: a flusher that bounds
// itself within the handler's budget gets the request's context as it is,
// without a detached copy and a deadline made per invocation; one with a
// longer budget is still bounded by the handler's.
func TestHTTPBoundedFlusherGetsTheInvocationContext(t *testing.T) {
	_, tp := recorder()
	reqCtx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "request"))
	defer cancel()
	req := func() *http.Request { return httptest.NewRequest("GET", "/", nil).WithContext(reqCtx) }

	within := &boundedFlusher{budget: time.Second}
	HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithTracerProvider(tp), WithFlusher(within)).
		ServeHTTP(httptest.NewRecorder(), req())
	if within.got == nil || within.got.Value(ctxKey{}) != "request" {
		t.Fatalf("flush context %v, want the invocation's", within.got)
	}
	if !within.deadline.IsZero() || within.got.Done() != reqCtx.Done() {
		t.Errorf("flush context has deadline %v and its own cancellation; want the invocation's as is", within.deadline)
	}

	longer := &boundedFlusher{budget: time.Hour}
	start := time.Now()
	HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithTracerProvider(tp), WithFlusher(longer)).
		ServeHTTP(httptest.NewRecorder(), req())
	if d := longer.deadline.Sub(start); d <= 0 || d > DefaultFlushTimeout+time.Second {
		t.Errorf("flush deadline in %v for a flusher with a 1h budget, want within the handler's %v", d, DefaultFlushTimeout)
	}
}

func TestHTTPMalformedTraceparentIsAbsent(t *testing.T) {
	rec, tp := recorder()
	calls := 0
	h := HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls++ }), WithTracerProvider(tp))
	malformed := []string{"garbage", "00-zz-zz-01", "00-00000000000000000000000000000000-0000000000000000-01", strings.Repeat("f", 10000)}
	for _, tp := range malformed {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("traceparent", tp)
		req.Header.Set("tracestate", "=,=,\x00")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if calls != len(malformed) {
		t.Errorf("handler ran %d times, want %d", calls, len(malformed))
	}
	spans := rec.Ended()
	if len(spans) != len(malformed) {
		t.Fatalf("%d spans, want %d", len(spans), len(malformed))
	}
	for _, s := range spans {
		if s.Parent().IsValid() {
			t.Errorf("span has parent %v from a malformed header", s.Parent())
		}
	}
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		give     string
		wantHost string
		wantPort int
	}{
		{give: "", wantHost: ""},
		{give: "example.com", wantHost: "example.com"},
		{give: "example.com:8080", wantHost: "example.com", wantPort: 8080},
		{give: "example.com:http", wantHost: "example.com"},
		{give: "example.com:99999", wantHost: "example.com"},
		{give: "[::1]:443", wantHost: "::1", wantPort: 443},
		{give: "[::1]", wantHost: "::1"},
		{give: "::1", wantHost: "::1"},
		{give: "[::1", wantHost: "[::1"},
		{give: "10.0.0.1:", wantHost: "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			host, port := splitHostPort(tt.give)
			if host != tt.wantHost || port != tt.wantPort {
				t.Errorf("splitHostPort(%q) = %q, %d, want %q, %d", tt.give, host, port, tt.wantHost, tt.wantPort)
			}
		})
	}
}

// interfaces lists the optional interfaces w has.
func interfaces(w http.ResponseWriter) string {
	var has []string
	for name, ok := range map[string]bool{
		"http.Flusher":  is[http.Flusher](w),
		"http.Hijacker": is[http.Hijacker](w),
		"http.Pusher":   is[http.Pusher](w),
		"io.ReaderFrom": is[io.ReaderFrom](w),
	} {
		if ok {
			has = append(has, name)
		}
	}
	slices.Sort(has)
	return strings.Join(has, ", ")
}

// TestResponseWriterHasTheInterfacesOfTheWriter checks that the handler
// sees the same optional interfaces, and ResponseController the same
// answers, whether the span is sampled (a wrapped writer) or not (the bare
// one).
func TestResponseWriterHasTheInterfacesOfTheWriter(t *testing.T) {
	for _, sampled := range []bool{true, false} {
		t.Run(map[bool]string{true: "sampled", false: "not sampled"}[sampled], func(t *testing.T) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(map[bool]sdktrace.Sampler{true: sdktrace.AlwaysSample(), false: sdktrace.NeverSample()}[sampled]))
			for _, give := range []http.ResponseWriter{httptest.NewRecorder(), plainWriter{http.Header{}}, allWriter{plainWriter{http.Header{}}}} {
				var got string
				var flushErr error
				HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					got = interfaces(w)
					flushErr = http.NewResponseController(w).Flush()
				}), WithTracerProvider(tp)).ServeHTTP(give, httptest.NewRequest("GET", "/", nil))
				if want := interfaces(give); got != want {
					t.Errorf("%T: the handler's writer has [%s], want [%s] as the writer's", give, got, want)
				}
				if wantErr := http.NewResponseController(give).Flush(); (flushErr == nil) != (wantErr == nil) ||
					errors.Is(flushErr, http.ErrNotSupported) != errors.Is(wantErr, http.ErrNotSupported) {
					t.Errorf("%T: ResponseController.Flush = %v, want %v as with the writer", give, flushErr, wantErr)
				}
			}
		})
	}
}

// TestResponseWriterServesOverHTTP checks deadlines, hijacking and what an
// HTTP/1 server's writer has, through the wrapper.
func TestResponseWriterServesOverHTTP(t *testing.T) {
	srv := serve(t, HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got, want := interfaces(w), "http.Flusher, http.Hijacker, io.ReaderFrom"; got != want {
			t.Errorf("the writer of an HTTP/1 server has [%s], want [%s]", got, want)
		}
		if !is[io.StringWriter](w) {
			t.Error("not an io.StringWriter")
		}
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("ResponseController.SetWriteDeadline: %v", err)
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 204 No Content\r\n\r\n")
		buf.Flush()
	}), WithTracerProvider(sdktrace.NewTracerProvider())))
	conn, err := (&http.Client{}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn.Body.Close()
	if conn.StatusCode != 204 {
		t.Fatalf("status %d from the hijacked connection", conn.StatusCode)
	}
}

// TestResponseWriterWrapsEveryCombination wraps writers with each
// combination of the optional interfaces and checks that the wrapper has
// exactly those, that each reaches the writer, and that wrapping does not
// allocate.
func TestResponseWriterWrapsEveryCombination(t *testing.T) {
	for has := range 16 {
		give := &optionalWriter{has: has}
		w := combination(give)
		t.Run("["+interfaces(w)+"]", func(t *testing.T) {
			rw := &responseWriter{ResponseWriter: w}
			if got := interfaces(rw.wrap()); got != interfaces(w) {
				t.Fatalf("wrapper has [%s], want [%s]", got, interfaces(w))
			}
			wrapped := rw.wrap()
			var calls []string
			if f, ok := wrapped.(http.Flusher); ok {
				f.Flush()
				calls = append(calls, "Flush")
			}
			if h, ok := wrapped.(http.Hijacker); ok {
				if _, _, err := h.Hijack(); err != nil || !rw.hijacked {
					t.Errorf("Hijack: %v, hijacked %v", err, rw.hijacked)
				}
				calls = append(calls, "Hijack")
			}
			if p, ok := wrapped.(http.Pusher); ok {
				if err := p.Push("/x", nil); err != nil {
					t.Errorf("Push: %v", err)
				}
				calls = append(calls, "Push")
			}
			if rf, ok := wrapped.(io.ReaderFrom); ok {
				if n, err := rf.ReadFrom(strings.NewReader("abc")); n != 3 || err != nil || rw.written != 3 {
					t.Errorf("ReadFrom = %d, %v; written %d", n, err, rw.written)
				}
				calls = append(calls, "ReadFrom")
			}
			if got, want := strings.Join(give.calls, ","), strings.Join(calls, ","); got != want {
				t.Errorf("the writer got %s, want %s", got, want)
			}
			if n := testing.AllocsPerRun(100, func() { _ = rw.wrap() }); n != 0 {
				t.Errorf("wrap allocates %v times, want 0", n)
			}
		})
	}
}

func TestResponseWriterFlushError(t *testing.T) {
	errFlush := errors.New("connection lost")
	tests := []struct {
		name       string
		give       http.ResponseWriter
		wantErr    error
		wantStatus int
	}{
		{name: "FlushError fails", give: flushErrorWriter{plainWriter{http.Header{}}, errFlush}, wantErr: errFlush, wantStatus: 200},
		{name: "FlushError succeeds", give: flushErrorWriter{plainWriter{http.Header{}}, nil}, wantStatus: 200},
		{name: "Flusher", give: httptest.NewRecorder(), wantStatus: 200},
		{name: "no flush", give: plainWriter{http.Header{}}, wantErr: http.ErrNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rw := &responseWriter{ResponseWriter: tt.give}
			if err := http.NewResponseController(rw.wrap()).Flush(); !errors.Is(err, tt.wantErr) {
				t.Errorf("ResponseController.Flush = %v, want %v", err, tt.wantErr)
			}
			if rw.status != tt.wantStatus {
				t.Errorf("status %d, want %d", rw.status, tt.wantStatus)
			}
		})
	}
}

// plainWriter is a ResponseWriter without optional interfaces.
type plainWriter struct{ h http.Header }

func (w plainWriter) Header() http.Header         { return w.h }
func (w plainWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w plainWriter) WriteHeader(int)             {}

// allWriter has every optional interface.
type allWriter struct{ plainWriter }

func (allWriter) Flush()                                       {}
func (allWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) { return nil, nil, nil }
func (allWriter) Push(string, *http.PushOptions) error         { return nil }
func (allWriter) ReadFrom(r io.Reader) (int64, error)          { return io.Copy(io.Discard, r) }

// flushErrorWriter flushes with an error, as http.ResponseController finds.
type flushErrorWriter struct {
	plainWriter
	err error
}

func (w flushErrorWriter) FlushError() error { return w.err }

// optionalWriter records the calls of the optional methods; combination
// shows only those of its has bits (hasFlusher, …).
type optionalWriter struct {
	plainWriter
	has   int
	calls []string
}

func (w *optionalWriter) Flush() { w.calls = append(w.calls, "Flush") }
func (w *optionalWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.calls = append(w.calls, "Hijack")
	return nil, nil, nil
}
func (w *optionalWriter) Push(string, *http.PushOptions) error {
	w.calls = append(w.calls, "Push")
	return nil
}
func (w *optionalWriter) ReadFrom(r io.Reader) (int64, error) {
	w.calls = append(w.calls, "ReadFrom")
	return io.Copy(io.Discard, r)
}

// combination returns w as a ResponseWriter with only the optional
// interfaces of w.has.
func combination(w *optionalWriter) http.ResponseWriter {
	type (
		rw = http.ResponseWriter
		f  = http.Flusher
		h  = http.Hijacker
		p  = http.Pusher
		r  = io.ReaderFrom
	)
	w.h = http.Header{}
	switch w.has {
	case 0:
		return struct{ rw }{w}
	case hasFlusher:
		return struct {
			rw
			f
		}{w, w}
	case hasHijacker:
		return struct {
			rw
			h
		}{w, w}
	case hasFlusher | hasHijacker:
		return struct {
			rw
			f
			h
		}{w, w, w}
	case hasPusher:
		return struct {
			rw
			p
		}{w, w}
	case hasFlusher | hasPusher:
		return struct {
			rw
			f
			p
		}{w, w, w}
	case hasHijacker | hasPusher:
		return struct {
			rw
			h
			p
		}{w, w, w}
	case hasFlusher | hasHijacker | hasPusher:
		return struct {
			rw
			f
			h
			p
		}{w, w, w, w}
	case hasReaderFrom:
		return struct {
			rw
			r
		}{w, w}
	case hasFlusher | hasReaderFrom:
		return struct {
			rw
			f
			r
		}{w, w, w}
	case hasHijacker | hasReaderFrom:
		return struct {
			rw
			h
			r
		}{w, w, w}
	case hasFlusher | hasHijacker | hasReaderFrom:
		return struct {
			rw
			f
			h
			r
		}{w, w, w, w}
	case hasPusher | hasReaderFrom:
		return struct {
			rw
			p
			r
		}{w, w, w}
	case hasFlusher | hasPusher | hasReaderFrom:
		return struct {
			rw
			f
			p
			r
		}{w, w, w, w}
	case hasHijacker | hasPusher | hasReaderFrom:
		return struct {
			rw
			h
			p
			r
		}{w, w, w, w}
	}
	return struct {
		rw
		f
		h
		p
		r
	}{w, w, w, w, w}
}

func is[T any](v any) bool {
	_, ok := v.(T)
	return ok
}

func TestHTTPHijackedConnectionHasNoStatusCode(t *testing.T) {
	rec, tp := recorder()
	srv := serve(t, HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 204 No Content\r\n\r\n")
		buf.Flush()
	}), WithTracerProvider(tp)))
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The client has its answer as soon as the handler flushed it on the
	// hijacked connection, before the handler returns and the span ends.
	waitEnded(t, rec, 1)
	checkAttrs(t, only(t, rec), map[attribute.Key]any{"http.response.status_code": ""})
}

func TestResponseWriterCountsAndForwards(t *testing.T) {
	rec, tp := recorder()
	srv := serve(t, HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
		w.(io.ReaderFrom).ReadFrom(strings.NewReader("-second"))
		w.Write([]byte("-third"))
	}), WithTracerProvider(tp), WithBodySizes()))
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(bufio.NewReader(resp.Body)); string(b) != "first-second-third" {
		t.Fatalf("body %q", b)
	}
	checkAttrs(t, only(t, rec), map[attribute.Key]any{"http.response.body.size": len("first-second-third")})
}

func TestHeaderCarrier(t *testing.T) {
	h := http.Header{}
	h.Set("traceparent", "tp")
	h.Set("tracestate", "ts")
	h.Add("baggage", "a=1")
	h.Add("baggage", "b=2")
	h.Set("X-Other", "o")
	c := headerCarrier(h)
	for key, want := range map[string]string{"traceparent": "tp", "tracestate": "ts", "baggage": "a=1", "x-other": "o", "x-dynatrace": ""} {
		if got := c.Get(key); got != want {
			t.Errorf("Get(%q) = %q, want %q", key, got, want)
		}
	}
	if got := c.Values("baggage"); len(got) != 2 {
		t.Errorf("Values(baggage) = %q, want both", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = c.Get("traceparent") }); n != 0 {
		t.Errorf("Get allocates %v times, want 0", n)
	}
}

// unwrapOnly is a middleware's writer: no optional interface of its own,
// the rest through Unwrap.
type unwrapOnly struct{ http.ResponseWriter }

func (u unwrapOnly) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// TestHTTPHijackThroughAMiddlewaresWriter: a connection hijacked through
// http.ResponseController past a writer that can only hijack through its
// Unwrap reports no status the connection never sent.
func TestHTTPHijackThroughAMiddlewaresWriter(t *testing.T) {
	rec, tp := recorder()
	h := HTTP(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = conn.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
		_ = conn.Close()
	}), WithTracerProvider(tp))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(unwrapOnly{w}, r) }))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d, want the hijacker's 204", resp.StatusCode)
	}
	waitEnded(t, rec, 1)
	if v, ok := attrs(only(t, rec))["http.response.status_code"]; ok {
		t.Fatalf("http.response.status_code = %v on a hijacked connection, want none", v.AsInt64())
	}
}

// TestHTTPCloseNotifierOnSampledRequests: code that asserts the deprecated
// http.CloseNotifier unguarded, as some frameworks do, does not panic when
// the span is sampled.
func TestHTTPCloseNotifierOnSampledRequests(t *testing.T) {
	_, tp := recorder()
	var notified <-chan bool
	h := HTTP(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		//lint:ignore SA1019 the unguarded assertion some frameworks make
		notified = w.(http.CloseNotifier).CloseNotify()
	}), WithTracerProvider(tp))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || notified == nil {
		t.Fatalf("status %d, channel %v: want net/http's own CloseNotify channel", resp.StatusCode, notified)
	}
	// Over a writer without it, the channel never fires.
	w := httptest.NewRecorder()
	h = HTTP(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		//lint:ignore SA1019 the unguarded assertion some frameworks make
		notified = w.(http.CloseNotifier).CloseNotify()
	}), WithTracerProvider(tp))
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if notified != nil {
		t.Fatal("CloseNotify over a writer without it returned a channel that may fire")
	}
}
