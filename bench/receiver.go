package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// TracesPath is the path the exporters post to: Dynatrace's OTLP trace path.
const TracesPath = "/api/v2/otlp/v1/traces"

// Receiver is a minimal OTLP/HTTP trace receiver on a loopback port. It reads
// and discards every request body, without decompressing or decoding it, and
// answers 200 with an empty application/x-protobuf body (an empty
// ExportTraceServiceResponse). Anchors and ours export to the same Receiver,
// so its cost is the same for both.
type Receiver struct {
	ln  net.Listener
	srv *http.Server

	requests atomic.Int64
	bytes    atomic.Int64

	keep atomic.Bool // keep the next body; see Keep
	mu   sync.Mutex
	last []byte
	hdr  http.Header
}

// NewReceiver starts a Receiver on 127.0.0.1 with a free port.
func NewReceiver() (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: receiver: %w", err)
	}
	rc := &Receiver{ln: ln}
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = rc.srv.Serve(ln) }()
	return rc, nil
}

// URL is the trace endpoint: http://127.0.0.1:port/api/v2/otlp/v1/traces.
func (rc *Receiver) URL() string { return "http://" + rc.ln.Addr().String() + TracesPath }

// Requests is the number of requests received so far.
func (rc *Receiver) Requests() int64 { return rc.requests.Load() }

// Bytes is the number of body bytes received so far, as sent.
func (rc *Receiver) Bytes() int64 { return rc.bytes.Load() }

// Keep makes the Receiver keep the body and headers of the next request
// with a non-empty body, for Last.
func (rc *Receiver) Keep() { rc.keep.Store(true) }

// Last returns the body and headers kept after Keep, or nil.
func (rc *Receiver) Last() ([]byte, http.Header) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.last, rc.hdr
}

// ServeHTTP reads and discards the body and answers 200.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var n int64
	if rc.keep.Load() {
		var buf bytes.Buffer
		n, _ = buf.ReadFrom(r.Body)
		if n > 0 && rc.keep.CompareAndSwap(true, false) {
			rc.mu.Lock()
			rc.last, rc.hdr = buf.Bytes(), r.Header.Clone()
			rc.mu.Unlock()
		}
	} else {
		n, _ = io.Copy(io.Discard, r.Body)
	}
	rc.requests.Add(1)
	rc.bytes.Add(n)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// Close stops the Receiver.
func (rc *Receiver) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := rc.srv.Shutdown(ctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
