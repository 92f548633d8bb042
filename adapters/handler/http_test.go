package handler

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/ports/portstest"
)

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

func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

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

	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Name() != "GET /items/{id}" || s.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q kind %v", s.Name(), s.SpanKind())
	}
	if got := s.Parent().TraceID().String(); got != "0af7651916cd43dd8448eb211c80319c" || !s.Parent().IsRemote() {
		t.Errorf("parent trace %s remote=%v", got, s.Parent().IsRemote())
	}
	a := attrs(s)
	want := map[attribute.Key]string{
		"faas.trigger":             "http",
		"faas.invocation_id":       "exec-1",
		"http.request.method":      "GET",
		"url.path":                 "/items/42",
		"url.query":                "q=1",
		"url.scheme":               "http",
		"http.route":               "/items/{id}",
		"user_agent.original":      "test-agent",
		"server.address":           "127.0.0.1",
		"client.address":           "127.0.0.1",
		"network.protocol.version": "1.1",
	}
	for k, v := range want {
		if a[k].String() != v {
			t.Errorf("%s = %q, want %q", k, a[k].String(), v)
		}
	}
	if a["http.response.status_code"].AsInt64() != 200 {
		t.Errorf("status code = %v", a["http.response.status_code"])
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
		give int
		want codes.Code
	}{
		{give: 200, want: codes.Unset},
		{give: 404, want: codes.Unset},
		{give: 499, want: codes.Unset},
		{give: 500, want: codes.Error},
		{give: 503, want: codes.Error},
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
			s := rec.Ended()[0]
			if s.Status().Code != tt.want {
				t.Errorf("status %v, want %v", s.Status().Code, tt.want)
			}
			if s.Name() != "GET" {
				t.Errorf("name %q, want GET", s.Name())
			}
		})
	}
}

func TestHTTPPanicRecordedFlushedAndReraised(t *testing.T) {
	rec, tp := recorder()
	flusher := &portstest.CountingFlusher{}
	h := HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(errors.New("boom"))
	}), WithTracerProvider(tp), WithFlusher(flusher))

	func() {
		defer func() {
			if r := recover(); r == nil || r.(error).Error() != "boom" {
				t.Errorf("recovered %v, want the original panic", r)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", nil))
	}()
	s := rec.Ended()[0]
	if s.Status().Code != codes.Error || s.Status().Description != "boom" {
		t.Errorf("status = %+v", s.Status())
	}
	if len(s.Events()) != 1 || s.Events()[0].Name != "exception" {
		t.Fatalf("events = %+v", s.Events())
	}
	ev := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Events()[0].Attributes {
		ev[kv.Key] = kv.Value
	}
	if !strings.Contains(ev["exception.stacktrace"].AsString(), "http_test.go") {
		t.Error("exception event has no stack pointing at the panic")
	}
	if flusher.Calls() != 1 {
		t.Errorf("flushes = %d, want 1 before re-panicking", flusher.Calls())
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

func TestHTTPUnknownMethod(t *testing.T) {
	rec, tp := recorder()
	h := HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithTracerProvider(tp))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("FOO", "/", nil))
	s := rec.Ended()[0]
	a := attrs(s)
	if s.Name() != "HTTP" || a["http.request.method"].AsString() != "_OTHER" || a["http.request.method_original"].AsString() != "FOO" {
		t.Errorf("name %q attrs %v", s.Name(), a)
	}
}

func TestHTTPMalformedTraceparentIsAbsent(t *testing.T) {
	rec, tp := recorder()
	h := HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithTracerProvider(tp))
	for _, tp := range []string{"garbage", "00-zz-zz-01", "00-00000000000000000000000000000000-0000000000000000-01", strings.Repeat("f", 10000)} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("traceparent", tp)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	for _, s := range rec.Ended() {
		if s.Parent().IsValid() {
			t.Errorf("span has parent %v from a malformed header", s.Parent())
		}
	}
}

func TestResponseWriterKeepsInterfaces(t *testing.T) {
	srv := serve(t, HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(http.Flusher); !ok {
			t.Error("not an http.Flusher")
		}
		if _, ok := w.(io.ReaderFrom); !ok {
			t.Error("not an io.ReaderFrom")
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 204 No Content\r\n\r\n")
		buf.Flush()
	})))
	conn, err := (&http.Client{}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn.Body.Close()
	if conn.StatusCode != 204 {
		t.Fatalf("status %d from the hijacked connection", conn.StatusCode)
	}
}

func TestResponseWriterFlushes(t *testing.T) {
	srv := serve(t, HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
	})))
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(bufio.NewReader(resp.Body)); string(b) != "first" {
		t.Fatalf("body %q", b)
	}
}
