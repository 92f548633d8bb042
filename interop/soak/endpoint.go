package soak

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/gcftrace/gcftrace/adapters/export/exporttest"
	"github.com/gcftrace/gcftrace/adapters/metadata/metadatatest"
)

// A fault is how the OTLP endpoint misbehaves during a phase.
type fault int

const (
	faultNone         fault = iota // accept every well-formed request
	faultRefuse                    // close the listener: connections are refused
	faultHang                      // read the request, never answer
	faultSlow                      // answer 200, after slowDelay
	faultThrottle                  // 429 with Retry-After: 1
	faultUnavailable               // 503, every request
	faultTooLarge                  // 413 for bodies over largeLimit, else accept
	faultTruncated                 // accept, then cut the answer short
	faultNotProtobuf               // answers that are no protobuf: HTML, JSON
	faultUnauthorized              // Token revoked: 401 to it from now on, only RotatedToken is accepted
)

const (
	slowDelay  = 2 * time.Second
	largeLimit = 16 << 10 // bytes on the wire, in the 413 phase
	retryAfter = "1"      // seconds, in the 429 phase
	maxBody    = 32 << 20
)

// endpoint is an OTLP/HTTP trace endpoint on loopback that plays a fault.
// It decodes every request it reads, keeps only what the checks need (span
// ids, whether the resource was complete) and counts its answers by kind.
type endpoint struct {
	addr    string
	srv     *http.Server
	closing chan struct{}
	fault   atomic.Int32
	seq     atomic.Uint64 // alternates the variants of a fault
	revoked atomic.Bool   // Token is refused, RotatedToken accepted: set by faultUnauthorized, for good

	mu      sync.Mutex // guards ln, closed
	ln      net.Listener
	closed  bool
	serving sync.WaitGroup

	connMu sync.Mutex
	conns  map[net.Conn]struct{}

	statsMu sync.Mutex
	answers map[string]uint64  // answers by kind
	spanIDs map[[8]byte]uint32 // receipts of each span accepted
	dups    uint64             // span receipts beyond the first
	badAuth uint64             // requests with neither of the soak's tokens
	rotated uint64             // requests with RotatedToken
	goodRes uint64             // accepted requests whose resource was complete
	firstOK time.Time          // first accepted request with a complete resource
}

func newEndpoint() (*endpoint, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	e := &endpoint{
		addr:    ln.Addr().String(),
		closing: make(chan struct{}),
		conns:   map[net.Conn]struct{}{},
		answers: map[string]uint64{},
		spanIDs: map[[8]byte]uint32{},
	}
	e.srv = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         e.trackConn,
	}
	e.serve(ln)
	return e, nil
}

// URL is the trace endpoint, with Dynatrace's path.
func (e *endpoint) URL() string { return "http://" + e.addr + exporttest.DynatracePath }

func (e *endpoint) serve(ln net.Listener) {
	e.ln = ln
	e.serving.Go(func() { _ = e.srv.Serve(ln) })
}

// setFault plays f from now on. faultRefuse closes the listener and every
// connection; leaving it listens again on the same address.
func (e *endpoint) setFault(f fault) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errors.New("endpoint closed")
	}
	e.fault.Store(int32(f))
	if f == faultUnauthorized {
		e.revoked.Store(true)
	}
	if f == faultRefuse {
		if e.ln != nil {
			_ = e.ln.Close()
			e.ln = nil
		}
		e.closeConns()
		return nil
	}
	if e.ln == nil {
		ln, err := net.Listen("tcp", e.addr)
		if err != nil {
			return fmt.Errorf("endpoint: listen again: %w", err)
		}
		e.serve(ln)
	}
	return nil
}

// Close stops the endpoint, releasing hanging and slow requests.
func (e *endpoint) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	close(e.closing)
	e.ln = nil
	e.mu.Unlock()
	_ = e.srv.Close()
	e.serving.Wait()
}

func (e *endpoint) trackConn(c net.Conn, cs http.ConnState) {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	switch cs {
	case http.StateNew:
		e.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(e.conns, c)
	}
}

func (e *endpoint) closeConns() {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	for c := range e.conns {
		_ = c.Close()
	}
}

func (e *endpoint) count(kind string) {
	e.statsMu.Lock()
	e.answers[kind]++
	e.statsMu.Unlock()
}

// endpointStats is a snapshot of what the endpoint saw.
type endpointStats struct {
	Answers       map[string]uint64
	UniqueSpans   int
	Duplicates    uint64
	BadAuth       uint64 // requests with neither token
	RotatedAuth   uint64 // requests with RotatedToken
	CompleteRes   uint64
	FirstComplete time.Time
}

func (e *endpoint) stats() endpointStats {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	return endpointStats{
		Answers:       maps.Clone(e.answers),
		UniqueSpans:   len(e.spanIDs),
		Duplicates:    e.dups,
		BadAuth:       e.badAuth,
		RotatedAuth:   e.rotated,
		CompleteRes:   e.goodRes,
		FirstComplete: e.firstOK,
	}
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != exporttest.DynatracePath || r.Method != http.MethodPost {
		e.count("404")
		http.NotFound(w, r)
		return
	}
	auth := r.Header.Get("Authorization")
	switch auth {
	case "Api-Token " + Token:
	case "Api-Token " + RotatedToken:
		e.statsMu.Lock()
		e.rotated++
		e.statsMu.Unlock()
	default:
		e.statsMu.Lock()
		e.badAuth++
		e.statsMu.Unlock()
	}
	wire, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		e.count("unreadable")
		return
	}
	if e.revoked.Load() && auth != "Api-Token "+RotatedToken {
		e.count("401")
		writeStatus(w, http.StatusUnauthorized)
		return
	}
	switch fault(e.fault.Load()) {
	case faultHang:
		e.count("hang")
		select {
		case <-r.Context().Done():
		case <-e.closing:
		}
		reset(w)
	case faultSlow:
		select {
		case <-time.After(slowDelay):
		case <-r.Context().Done():
		case <-e.closing:
		}
		if r.Context().Err() != nil || e.isClosing() {
			e.count("slow, client gone")
			reset(w)
			return
		}
		e.accept(w, r, wire, "200 after 2 s")
	case faultThrottle:
		e.count("429")
		w.Header().Set("Retry-After", retryAfter)
		writeStatus(w, http.StatusTooManyRequests)
	case faultUnavailable:
		e.count("503")
		writeStatus(w, http.StatusServiceUnavailable)
	case faultTooLarge:
		if len(wire) > largeLimit {
			e.count("413")
			writeStatus(w, http.StatusRequestEntityTooLarge)
			return
		}
		e.accept(w, r, wire, "200")
	case faultTruncated:
		e.truncated(w, r, wire)
	case faultNotProtobuf:
		e.notProtobuf(w, r, wire)
	default:
		e.accept(w, r, wire, "200")
	}
}

func (e *endpoint) isClosing() bool {
	select {
	case <-e.closing:
		return true
	default:
		return false
	}
}

// accept decodes and records the request and answers 200 with an empty
// ExportTraceServiceResponse, or 400/415 when the request is malformed.
func (e *endpoint) accept(w http.ResponseWriter, r *http.Request, wire []byte, kind string) {
	if code, err := e.record(r, wire); err != nil {
		e.count(strconv.Itoa(code))
		http.Error(w, err.Error(), code)
		return
	}
	e.count(kind)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// truncated records the request, then cuts the answer short: either a 200
// whose body ends before its Content-Length (the client saw a status), or a
// status line that breaks off (the client saw a broken connection).
func (e *endpoint) truncated(w http.ResponseWriter, r *http.Request, wire []byte) {
	if code, err := e.record(r, wire); err != nil {
		e.count(strconv.Itoa(code))
		http.Error(w, err.Error(), code)
		return
	}
	raw := "HTTP/1.1 20"
	kind := "status line cut"
	if e.seq.Add(1)%2 == 0 {
		raw = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 64\r\n\r\n\x0a\x05"
		kind = "200, body cut"
	}
	e.count(kind)
	writeRaw(w, raw)
}

// notProtobuf answers what a proxy or a misrouted request would: a 200 HTML
// page and a 200 JSON body (the spans were received), or a 502 HTML page
// (they were not).
func (e *endpoint) notProtobuf(w http.ResponseWriter, r *http.Request, wire []byte) {
	switch e.seq.Add(1) % 3 {
	case 0:
		e.count("502 HTML")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>\n")
		return
	case 1:
		if code, err := e.record(r, wire); err != nil {
			e.count(strconv.Itoa(code))
			http.Error(w, err.Error(), code)
			return
		}
		e.count("200 HTML")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "<!DOCTYPE html><html><body>Sign in to continue</body></html>\n")
	default:
		if code, err := e.record(r, wire); err != nil {
			e.count(strconv.Itoa(code))
			http.Error(w, err.Error(), code)
			return
		}
		e.count("200 JSON")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"partialSuccess": {"rejectedSpans": "many", `)
	}
}

// record decodes the request body and remembers its spans.
func (e *endpoint) record(r *http.Request, wire []byte) (int, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-protobuf" {
		return http.StatusUnsupportedMediaType, fmt.Errorf("content type %q", r.Header.Get("Content-Type"))
	}
	raw := wire
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err != nil {
			return http.StatusBadRequest, err
		}
		raw, err = io.ReadAll(io.LimitReader(zr, maxBody))
		if err != nil {
			return http.StatusBadRequest, err
		}
	}
	// TracesData has the wire form of ExportTraceServiceRequest.
	td := new(tracepb.TracesData)
	if err := proto.Unmarshal(raw, td); err != nil {
		return http.StatusBadRequest, err
	}
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	for _, rs := range td.GetResourceSpans() {
		attrs := map[string]string{}
		for _, kv := range rs.GetResource().GetAttributes() {
			attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		if completeResource(attrs) {
			e.goodRes++
			if e.firstOK.IsZero() {
				e.firstOK = time.Now()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				var id [8]byte
				copy(id[:], s.GetSpanId())
				if e.spanIDs[id] > 0 {
					e.dups++
				}
				e.spanIDs[id]++
			}
		}
	}
	return http.StatusOK, nil
}

// completeResource reports whether a resource carries what only the
// metadata server knows: the project, the region and the instance.
func completeResource(attrs map[string]string) bool {
	return attrs["cloud.account.id"] == metadatatest.DefaultProjectID &&
		attrs["cloud.region"] == metadatatest.DefaultRegion &&
		attrs["faas.instance"] == metadatatest.DefaultInstanceID
}

// writeStatus answers status with a small google.rpc.Status-like body.
func writeStatus(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "\x12\x04soak")
}

// writeRaw writes raw bytes on the request's connection and closes it.
func writeRaw(w http.ResponseWriter, raw string) {
	c, buf, err := hijack(w)
	if err != nil {
		return
	}
	_, _ = buf.WriteString(raw)
	_ = buf.Flush()
	_ = c.Close()
}

// reset closes the request's connection with a TCP RST.
func reset(w http.ResponseWriter) {
	c, _, err := hijack(w)
	if err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func hijack(w http.ResponseWriter) (net.Conn, *bufio.Writer, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("no hijacker")
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	return c, rw.Writer, nil
}
