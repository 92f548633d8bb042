package exporttest_test

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/gcftrace/gcftrace/adapters/export/exporttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newSink(t *testing.T, opts ...exporttest.SinkOption) *exporttest.Sink {
	t.Helper()
	s, err := exporttest.NewSink(opts...)
	if err != nil {
		t.Fatalf("NewSink: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// payload is an ExportTraceServiceRequest with one resource, one scope and
// the named spans.
func payload(t *testing.T, names ...string) []byte {
	t.Helper()
	ss := &tracepb.ScopeSpans{Scope: &commonpb.InstrumentationScope{Name: "exporttest", Version: "1"}}
	for i, n := range names {
		ss.Spans = append(ss.Spans, &tracepb.Span{
			TraceId: bytes.Repeat([]byte{1}, 16),
			SpanId:  []byte{0, 0, 0, 0, 0, 0, 0, byte(i + 1)},
			Name:    n,
			Kind:    tracepb.Span_SPAN_KIND_SERVER,
		})
	}
	b, err := proto.Marshal(&tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{
			Key:   "service.name",
			Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "test"}},
		}}},
		ScopeSpans: []*tracepb.ScopeSpans{ss},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type post struct {
	url    string
	method string
	body   []byte
	header map[string]string
}

// do sends p and returns the status code, headers and body of the answer.
func do(t *testing.T, p post) (int, http.Header, []byte) {
	t.Helper()
	if p.method == "" {
		p.method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(t.Context(), p.method, p.url, bytes.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range p.header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

var protobufHeader = map[string]string{"Content-Type": "application/x-protobuf"}

func TestSinkAccepts(t *testing.T) {
	tests := []struct {
		name   string
		give   func(t *testing.T, b []byte) []byte
		header map[string]string
		path   string
	}{
		{
			name:   "plain",
			give:   func(_ *testing.T, b []byte) []byte { return b },
			header: map[string]string{"Content-Type": "application/x-protobuf"},
			path:   exporttest.DynatracePath,
		},
		{
			name:   "gzip",
			give:   gzipped,
			header: map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
			path:   exporttest.DynatracePath,
		},
		{
			name:   "OTLP path with media type parameters",
			give:   func(_ *testing.T, b []byte) []byte { return b },
			header: map[string]string{"Content-Type": "application/x-protobuf; charset=binary"},
			path:   exporttest.OTLPPath,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t)
			header := map[string]string{"Authorization": "Api-Token dt0c01.secret"}
			for k, v := range tt.header {
				header[k] = v
			}
			body := tt.give(t, payload(t, "GET", "render"))
			code, h, got := do(t, post{url: s.BaseURL() + tt.path, body: body, header: header})

			if code != http.StatusOK {
				t.Fatalf("status = %d (%q), want 200", code, got)
			}
			if ct := h.Get("Content-Type"); ct != "application/x-protobuf" {
				t.Errorf("Content-Type = %q, want application/x-protobuf", ct)
			}
			if len(got) != 0 {
				t.Errorf("body = %x, want an empty ExportTraceServiceResponse", got)
			}

			spans := s.Spans()
			if len(spans) != 2 {
				t.Fatalf("got %d spans, want 2", len(spans))
			}
			if n := spans[1].Span.GetName(); n != "render" {
				t.Errorf("second span = %q, want render", n)
			}
			if sc := spans[0].Scope.GetName(); sc != "exporttest" {
				t.Errorf("scope = %q, want exporttest", sc)
			}
			if v := spans[0].Resource.GetAttributes()[0].GetValue().GetStringValue(); v != "test" {
				t.Errorf("service.name = %q, want test", v)
			}
			if n := len(s.ResourceSpans()); n != 1 {
				t.Errorf("got %d ResourceSpans, want 1", n)
			}

			reqs := s.Requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			want := exporttest.Request{Path: tt.path, BodySize: len(body), Spans: 2, StatusCode: http.StatusOK}
			r := reqs[0]
			if r.Path != want.Path || r.BodySize != want.BodySize || r.Spans != want.Spans || r.StatusCode != want.StatusCode {
				t.Errorf("request = %+v, want %+v", r, want)
			}
			if a := r.Header.Get("Authorization"); a != "Api-Token dt0c01.secret" {
				t.Errorf("Authorization = %q, want it as sent", a)
			}
		})
	}
}

func TestSinkURL(t *testing.T) {
	s := newSink(t)
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || !strings.HasSuffix(s.URL(), exporttest.DynatracePath) {
		t.Errorf("URL() = %q, want http://127.0.0.1:<port>%s", s.URL(), exporttest.DynatracePath)
	}
	if s.URL() != s.BaseURL()+exporttest.DynatracePath {
		t.Errorf("URL() = %q, want BaseURL() + %s", s.URL(), exporttest.DynatracePath)
	}
}

func TestSinkRejects(t *testing.T) {
	tests := []struct {
		name     string
		give     post
		wantCode int
		wantMsg  string
	}{
		{
			name:     "JSON",
			give:     post{body: []byte(`{"resourceSpans":[]}`), header: map[string]string{"Content-Type": "application/json"}},
			wantCode: http.StatusUnsupportedMediaType,
			wantMsg:  "Content-Type",
		},
		{
			name:     "no content type",
			give:     post{body: []byte{}},
			wantCode: http.StatusUnsupportedMediaType,
			wantMsg:  "Content-Type",
		},
		{
			name:     "not protobuf",
			give:     post{body: []byte("\xff\xff\xff garbage"), header: protobufHeader},
			wantCode: http.StatusBadRequest,
			wantMsg:  "decoding",
		},
		{
			name: "not gzip",
			give: post{body: []byte("plain, not gzip"), header: map[string]string{
				"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip",
			}},
			wantCode: http.StatusBadRequest,
			wantMsg:  "gzip",
		},
		{
			name: "unknown encoding",
			give: post{body: []byte{}, header: map[string]string{
				"Content-Type": "application/x-protobuf", "Content-Encoding": "br",
			}},
			wantCode: http.StatusUnsupportedMediaType,
			wantMsg:  "Content-Encoding",
		},
		{
			name:     "GET",
			give:     post{method: http.MethodGet, header: protobufHeader},
			wantCode: http.StatusMethodNotAllowed,
			wantMsg:  "POST",
		},
		{
			name:     "other path",
			give:     post{url: "/v1/metrics", body: []byte{}, header: protobufHeader},
			wantCode: http.StatusNotFound,
			wantMsg:  "/v1/metrics",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t)
			p := tt.give
			p.url = s.BaseURL() + cmp.Or(p.url, exporttest.DynatracePath)
			code, h, body := do(t, p)

			if code != tt.wantCode {
				t.Errorf("status = %d, want %d", code, tt.wantCode)
			}
			if ct := h.Get("Content-Type"); ct != "application/x-protobuf" {
				t.Errorf("Content-Type = %q, want application/x-protobuf", ct)
			}
			if msg := statusMessage(t, body); !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("google.rpc.Status message = %q, want it to mention %q", msg, tt.wantMsg)
			}
			if n := len(s.Spans()); n != 0 {
				t.Errorf("recorded %d spans from a rejected request", n)
			}
		})
	}
}

func TestSinkRecordsRejectedRequests(t *testing.T) {
	s := newSink(t)
	do(t, post{url: s.URL(), body: []byte("{}"), header: map[string]string{"Content-Type": "application/json"}})
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].StatusCode != http.StatusUnsupportedMediaType || reqs[0].Spans != 0 {
		t.Errorf("Requests() = %+v, want one with status 415 and no spans", reqs)
	}
}

func TestSinkBodyLimit(t *testing.T) {
	big := payload(t, strings.Repeat("x", 4096))
	tests := []struct {
		name   string
		body   []byte
		header map[string]string
	}{
		{name: "as sent", body: big, header: protobufHeader},
		{
			name:   "decompressed",
			body:   gzipped(t, big), // compresses far below the limit
			header: map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, exporttest.WithMaxBodySize(1024))
			code, _, body := do(t, post{url: s.URL(), body: tt.body, header: tt.header})
			if code != http.StatusRequestEntityTooLarge {
				t.Errorf("status = %d (%q), want 413", code, statusMessage(t, body))
			}
		})
	}
}

func TestSinkResponder(t *testing.T) {
	s := newSink(t, exporttest.WithResponder(func(n int, r exporttest.Request) exporttest.Response {
		if n == 1 {
			return exporttest.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"1"}}}
		}
		return exporttest.Response{}
	}))
	p := post{url: s.URL(), body: payload(t, "GET"), header: protobufHeader}

	code, h, _ := do(t, p)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") != "1" {
		t.Errorf("first answer = %d, Retry-After %q; want 503, 1", code, h.Get("Retry-After"))
	}
	if n := len(s.Spans()); n != 0 {
		t.Errorf("recorded %d spans of a rejected request", n)
	}
	if code, _, _ := do(t, p); code != http.StatusOK {
		t.Errorf("second answer = %d, want 200", code)
	}
	if n := len(s.Spans()); n != 1 {
		t.Errorf("got %d spans, want 1", n)
	}
	var codes []int
	for _, r := range s.Requests() {
		codes = append(codes, r.StatusCode)
	}
	if len(codes) != 2 || codes[0] != 503 || codes[1] != 200 {
		t.Errorf("request status codes = %v, want [503 200]", codes)
	}
}

func TestWaitForSpans(t *testing.T) {
	s := newSink(t)
	var wg sync.WaitGroup
	bodies := [][]byte{payload(t, "a"), payload(t, "b"), payload(t, "c")}
	wg.Go(func() {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		for _, b := range bodies {
			resp, err := client.Post(s.URL(), "application/x-protobuf", bytes.NewReader(b))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}
	})
	defer wg.Wait()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.WaitForSpans(ctx, 3); err != nil {
		t.Fatalf("WaitForSpans: %v", err)
	}
	if n := len(s.Spans()); n < 3 {
		t.Errorf("got %d spans after WaitForSpans(3)", n)
	}
}

func TestWaitForSpansTimeout(t *testing.T) {
	s := newSink(t)
	do(t, post{url: s.URL(), body: payload(t, "only"), header: protobufHeader})

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := s.WaitForSpans(ctx, 2)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitForSpans = %v, want context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "1 of 2 spans") {
		t.Errorf("error %q does not say how many spans arrived", err)
	}
}

func TestWaitForSpansClosed(t *testing.T) {
	s := newSink(t)
	time.AfterFunc(20*time.Millisecond, s.Close)
	if err := s.WaitForSpans(t.Context(), 1); !errors.Is(err, exporttest.ErrClosed) {
		t.Errorf("WaitForSpans after Close = %v, want ErrClosed", err)
	}
	s.Close() // idempotent
}

func TestNotify(t *testing.T) {
	s := newSink(t)
	select {
	case <-s.Notify():
		t.Fatal("notified before anything arrived")
	default:
	}
	do(t, post{url: s.URL(), body: payload(t, "a"), header: protobufHeader})
	do(t, post{url: s.URL(), body: payload(t, "b"), header: protobufHeader})
	select {
	case <-s.Notify():
	case <-time.After(5 * time.Second):
		t.Fatal("no notification after spans arrived")
	}
	select {
	case <-s.Notify():
		t.Error("two arrivals gave two signals, want them coalesced")
	default:
	}
}

// statusMessage decodes the message field of a google.rpc.Status body.
func statusMessage(t *testing.T, b []byte) string {
	t.Helper()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("body is not a google.rpc.Status: %x", b)
		}
		b = b[n:]
		if num == 2 && typ == protowire.BytesType {
			s, n := protowire.ConsumeString(b)
			if n < 0 {
				t.Fatalf("bad message field: %x", b)
			}
			return s
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			t.Fatalf("bad field %d: %x", num, b)
		}
		b = b[n:]
	}
	return ""
}
