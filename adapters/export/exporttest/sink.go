package exporttest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Paths a Sink serves.
const (
	DynatracePath = "/api/v2/otlp/v1/traces" // Dynatrace's OTLP trace ingest path
	OTLPPath      = "/v1/traces"             // the OTLP/HTTP default path
)

// DefaultMaxBodySize limits a request body, compressed and decompressed.
const DefaultMaxBodySize = 16 << 20

// ErrClosed is returned by [Sink.WaitForSpans] once the Sink is closed.
var ErrClosed = errors.New("exporttest: sink closed")

// Span is one received span with the resource and scope it came with.
type Span struct {
	Resource *resourcepb.Resource
	Scope    *commonpb.InstrumentationScope
	Span     *tracepb.Span
}

// Request describes one request that reached a trace path.
type Request struct {
	Path       string
	Header     http.Header // as received, Authorization included
	BodySize   int         // bytes on the wire, before decompression
	Spans      int         // spans decoded from the body; 0 when it was rejected
	StatusCode int         // what the Sink answered
}

// Response is what a responder set with [WithResponder] makes the Sink answer.
type Response struct {
	StatusCode int         // 0 or 2xx: accept; otherwise reject with this status
	Header     http.Header // added to the reply, e.g. Retry-After
}

// A SinkOption configures a Sink.
type SinkOption interface{ apply(*sinkConfig) }

type sinkOptionFunc func(*sinkConfig)

func (f sinkOptionFunc) apply(c *sinkConfig) { f(c) }

type sinkConfig struct {
	maxBodySize int64
	responder   func(n int, r Request) Response
}

// WithMaxBodySize limits request bodies to n bytes, both as sent and after
// decompression; larger requests get 413. The default is [DefaultMaxBodySize].
func WithMaxBodySize(n int64) SinkOption {
	return sinkOptionFunc(func(c *sinkConfig) {
		if n > 0 {
			c.maxBodySize = n
		}
	})
}

// WithResponder lets f decide the answer to each well-formed request; n
// counts well-formed requests from 1. A rejected request's spans are not
// recorded, as with a failing backend. f may be called concurrently.
func WithResponder(f func(n int, r Request) Response) SinkOption {
	return sinkOptionFunc(func(c *sinkConfig) { c.responder = f })
}

// Sink is an OTLP/HTTP trace receiver listening on a loopback port. Its
// methods are safe for concurrent use.
type Sink struct {
	cfg    sinkConfig
	ln     net.Listener
	srv    *http.Server
	served chan struct{} // closed when srv.Serve returns
	once   sync.Once

	notify chan struct{} // capacity 1; see Notify

	mu            sync.Mutex
	closed        bool
	changed       chan struct{} // closed and replaced whenever spans arrive
	accepted      int           // well-formed requests, for the responder
	resourceSpans []*tracepb.ResourceSpans
	spans         []Span
	requests      []Request
}

// NewSink starts a Sink on 127.0.0.1 with a free port. Close it when done.
func NewSink(opts ...SinkOption) (*Sink, error) {
	cfg := sinkConfig{maxBodySize: DefaultMaxBodySize}
	for _, o := range opts {
		o.apply(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("exporttest: %w", err)
	}
	s := &Sink{
		cfg:     cfg,
		ln:      ln,
		served:  make(chan struct{}),
		notify:  make(chan struct{}, 1),
		changed: make(chan struct{}),
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return s, nil
}

// BaseURL is the Sink's root, e.g. http://127.0.0.1:41234, as a
// DT_CONNECTION_BASE_URL would be.
func (s *Sink) BaseURL() string { return "http://" + s.ln.Addr().String() }

// URL is the full trace endpoint, Dynatrace's path on [Sink.BaseURL].
func (s *Sink) URL() string { return s.BaseURL() + DynatracePath }

// Close stops the Sink, waiting briefly for requests in progress. What was
// received stays readable. Close is idempotent.
func (s *Sink) Close() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close()
		}
		<-s.served
		s.mu.Lock()
		s.closed = true
		close(s.changed)
		s.mu.Unlock()
	})
}

// ResourceSpans returns every ResourceSpans received, in arrival order. The
// messages are shared: do not modify them.
func (s *Sink) ResourceSpans() []*tracepb.ResourceSpans {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*tracepb.ResourceSpans(nil), s.resourceSpans...)
}

// Spans returns every span received, in arrival order, each with its
// resource and scope. Later calls return a longer list with the same
// beginning, so a reader can keep its place by index.
func (s *Sink) Spans() []Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Span(nil), s.spans...)
}

// Requests returns every request that reached a trace path, accepted or not,
// in arrival order.
func (s *Sink) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Header = r.Header.Clone()
		out[i] = r
	}
	return out
}

// WaitForSpans blocks until at least n spans have arrived in total. It
// returns an error naming how many arrived when ctx is done first, or
// [ErrClosed] when the Sink is closed first.
func (s *Sink) WaitForSpans(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, changed, closed := len(s.spans), s.changed, s.closed
		s.mu.Unlock()
		switch {
		case got >= n:
			return nil
		case closed:
			return fmt.Errorf("%w: %d of %d spans arrived", ErrClosed, got, n)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("exporttest: %d of %d spans arrived: %w", got, n, context.Cause(ctx))
		}
	}
}

// Notify returns a channel that receives a value after spans arrive.
// Signals coalesce (the channel holds at most one), so it suits a single
// reader that then calls [Sink.Spans] to see what is new.
func (s *Sink) Notify() <-chan struct{} { return s.notify }

// ServeHTTP implements the OTLP/HTTP trace endpoint.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != DynatracePath && r.URL.Path != OTLPPath {
		writeStatus(w, http.StatusNotFound, "no trace endpoint at "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeStatus(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	req := Request{Path: r.URL.Path, Header: r.Header.Clone()}
	td, code, err := s.decode(w, r, &req)
	if err != nil {
		req.StatusCode = code
		s.record(req, nil)
		writeStatus(w, code, err.Error())
		return
	}
	for _, rs := range td.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			req.Spans += len(ss.GetSpans())
		}
	}

	s.mu.Lock()
	s.accepted++
	n := s.accepted
	s.mu.Unlock()
	if s.cfg.responder != nil {
		resp := s.cfg.responder(n, req)
		for k, vs := range resp.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		if resp.StatusCode != 0 && (resp.StatusCode < 200 || resp.StatusCode > 299) {
			req.StatusCode = resp.StatusCode
			req.Spans = 0
			s.record(req, nil)
			writeStatus(w, resp.StatusCode, "rejected by the test's responder")
			return
		}
	}

	req.StatusCode = http.StatusOK
	s.record(req, td.GetResourceSpans())
	// An empty ExportTraceServiceResponse encodes to zero bytes.
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// decode reads and decodes the body of r, filling req.BodySize. On failure
// it returns the HTTP status to answer with.
//
// The body is decoded as TracesData, whose wire form is identical to
// ExportTraceServiceRequest (field 1, repeated ResourceSpans; the OTLP protos
// keep the two in step). The collector service package would pull gRPC into
// the module for nothing.
func (s *Sink) decode(w http.ResponseWriter, r *http.Request, req *Request) (*tracepb.TracesData, int, error) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/x-protobuf" {
		return nil, http.StatusUnsupportedMediaType,
			fmt.Errorf("unsupported Content-Type %q, want application/x-protobuf", r.Header.Get("Content-Type"))
	}
	wire, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.maxBodySize))
	req.BodySize = len(wire)
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", mbe.Limit)
	}
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("reading body: %w", err)
	}

	raw := wire
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		if raw, err = gunzip(wire, s.cfg.maxBodySize); err != nil {
			if errors.Is(err, errTooLarge) {
				return nil, http.StatusRequestEntityTooLarge, err
			}
			return nil, http.StatusBadRequest, err
		}
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}

	td := new(tracepb.TracesData)
	if err := proto.Unmarshal(raw, td); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("decoding ExportTraceServiceRequest: %w", err)
	}
	return td, http.StatusOK, nil
}

var errTooLarge = errors.New("decompressed body too large")

func gunzip(b []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", errTooLarge, limit)
	}
	return out, nil
}

// record stores req and, when rs is not nil, its spans, and wakes waiters.
func (s *Sink) record(req Request, rs []*tracepb.ResourceSpans) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	if req.StatusCode != http.StatusOK || s.closed {
		return
	}
	s.resourceSpans = append(s.resourceSpans, rs...)
	for _, r := range rs {
		for _, ss := range r.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				s.spans = append(s.spans, Span{Resource: r.GetResource(), Scope: ss.GetScope(), Span: sp})
			}
		}
	}
	close(s.changed)
	s.changed = make(chan struct{})
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// writeStatus answers with status and a google.rpc.Status body, as the
// OTLP/HTTP specification asks of failures.
func writeStatus(w http.ResponseWriter, status int, msg string) {
	body := rpcStatus(grpcCode(status), msg)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// rpcStatus encodes a google.rpc.Status message (code = 1, message = 2).
func rpcStatus(code int32, msg string) []byte {
	var b []byte
	if code != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(code))
	}
	if msg != "" {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, msg)
	}
	return b
}

// grpcCode maps an HTTP status to the gRPC code of the google.rpc.Status.
func grpcCode(status int) int32 {
	switch status {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusMethodNotAllowed:
		return 3 // INVALID_ARGUMENT
	case http.StatusNotFound:
		return 12 // UNIMPLEMENTED
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return 8 // RESOURCE_EXHAUSTED
	case http.StatusUnauthorized:
		return 16 // UNAUTHENTICATED
	case http.StatusForbidden:
		return 7 // PERMISSION_DENIED
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return 14 // UNAVAILABLE
	default:
		return 2 // UNKNOWN
	}
}
