package metadatatest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The metadata paths a Cloud Functions instance asks for, relative to
// [PathPrefix].
const (
	PathProjectID        = "project/project-id"
	PathNumericProjectID = "project/numeric-project-id"
	PathRegion           = "instance/region"
	PathZone             = "instance/zone"
	PathInstanceID       = "instance/id"
)

// PathPrefix is the URL path under which the metadata paths are served.
const PathPrefix = "/computeMetadata/v1/"

// The values a Server answers with unless told otherwise. Region and zone
// are served the way the real server serves them, as resource paths:
// projects/123456789012/regions/europe-west3.
const (
	DefaultProjectID        = "demo-project"
	DefaultNumericProjectID = "123456789012"
	DefaultRegion           = "europe-west3"
	DefaultZone             = "europe-west3-1"
	DefaultInstanceID       = "0071553814964245236948916837436612045637384751284652170393827460"
)

// OversizedBytes is the size of the body sent under [FaultOversized].
const OversizedBytes = 1 << 20

// RelistenWait bounds how long [Server.SetFault] waits for the Server's
// address when it clears [FaultRefuse] and another socket has taken the
// port in the meantime.
const RelistenWait = 2 * time.Second

// DefaultValues returns the body served for each metadata path by default.
func DefaultValues() map[string]string {
	return map[string]string{
		PathProjectID:        DefaultProjectID,
		PathNumericProjectID: DefaultNumericProjectID,
		PathRegion:           "projects/" + DefaultNumericProjectID + "/regions/" + DefaultRegion,
		PathZone:             "projects/" + DefaultNumericProjectID + "/zones/" + DefaultZone,
		PathInstanceID:       DefaultInstanceID,
	}
}

// A Fault is a way for the metadata server to misbehave.
type Fault int

// The faults a Server can play.
const (
	// FaultNone serves the configured values.
	FaultNone Fault = iota
	// FaultHang never answers: the request waits until the client gives up
	// or the Server is closed.
	FaultHang
	// FaultRefuse refuses connections. Server-wide ([Server.SetFault],
	// [WithFault]) it closes the listener and every open connection, so
	// dials fail with "connection refused" until the fault is cleared, when
	// the Server listens again on the same address. For one path or for
	// [Server.FailFirst] it resets the request's connection instead.
	//
	// While the Server refuses, no socket listens on its port, and the
	// operating system may give the port to another socket: a listener on
	// port 0 in a test running in parallel, or a client connection's local
	// port. Clearing the fault then waits up to [RelistenWait] for the port
	// to be free again and fails with an error naming the address if it is
	// not. The risk cannot be removed: refusing connections the way an
	// absent metadata server does means that nothing holds the port.
	FaultRefuse
	// FaultNotFound answers 404, as the real server does for a path that is
	// not defined.
	FaultNotFound
	// FaultServerError answers 500.
	FaultServerError
	// FaultGarbage answers 200 with a body that is no metadata value.
	FaultGarbage
	// FaultHTML answers 200 with an HTML page (Content-Type: text/html), as a
	// captive portal or a misrouted proxy would.
	FaultHTML
	// FaultOversized answers 200 with OversizedBytes of digits, streamed
	// without a Content-Length.
	FaultOversized
	// FaultNoFlavor answers as FaultNone does, a valid value included, but
	// without the "Metadata-Flavor: Google" response header, as a captive
	// portal or a proxy that is no metadata server would.
	FaultNoFlavor
)

var faultNames = [...]string{"none", "hang", "refuse", "not-found", "server-error", "garbage", "html", "oversized", "no-flavor"}

// String returns the fault's name, e.g. "hang".
func (f Fault) String() string {
	if f >= 0 && int(f) < len(faultNames) {
		return faultNames[f]
	}
	return "Fault(" + strconv.Itoa(int(f)) + ")"
}

// An Option configures a Server.
type Option interface{ apply(*config) }

type config struct {
	addr    string
	latency time.Duration
	fault   Fault
	values  map[string]string
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithAddr sets the listen address; the default is "127.0.0.1:0", a free
// loopback port.
func WithAddr(addr string) Option { return optionFunc(func(c *config) { c.addr = addr }) }

// WithLatency delays every answer by d (default 0).
func WithLatency(d time.Duration) Option { return optionFunc(func(c *config) { c.latency = d }) }

// WithFault starts the Server with fault f on every path (default
// FaultNone).
func WithFault(f Fault) Option { return optionFunc(func(c *config) { c.fault = f }) }

// WithValue serves body for path (relative to PathPrefix, e.g.
// PathRegion). An empty body still answers 200; use FaultNotFound for a
// path that is not defined.
func WithValue(path, body string) Option {
	return optionFunc(func(c *config) { c.values[strings.TrimLeft(path, "/")] = body })
}

// state is what the handler reads on every request; setters replace it as a
// whole (copy on write).
type state struct {
	latency    time.Duration
	fault      Fault
	pathFaults map[string]Fault
	values     map[string]string
}

// Server is a GCE metadata server emulator on a loopback port. Its methods
// are safe for concurrent use.
type Server struct {
	addr         string
	srv          *http.Server
	closing      chan struct{}
	relistenWait time.Duration // RelistenWait; tests shorten it

	mu       sync.Mutex // guards ln, closed
	ln       net.Listener
	closed   bool
	serving  sync.WaitGroup
	stateMu  sync.Mutex // serializes state updates
	state    atomic.Pointer[state]
	failLeft atomic.Int64
	failWith atomic.Int64

	connMu sync.Mutex
	conns  map[net.Conn]struct{}

	countMu     sync.Mutex
	counts      map[string]int64
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
}

// NewServer starts a Server on a loopback port. Close it when done.
func NewServer(opts ...Option) (*Server, error) {
	c := config{addr: "127.0.0.1:0", values: DefaultValues()}
	for _, o := range opts {
		o.apply(&c)
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("metadatatest: %w", err)
	}
	s := &Server{
		addr:         ln.Addr().String(),
		closing:      make(chan struct{}),
		relistenWait: RelistenWait,
		conns:        make(map[net.Conn]struct{}),
		counts:       make(map[string]int64),
	}
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 5 * time.Second,
		ConnState:         s.trackConn,
	}
	s.state.Store(&state{latency: c.latency, values: c.values})
	if c.fault == FaultRefuse {
		_ = ln.Close() // keep the address, refuse from the start
	} else {
		s.serve(ln)
	}
	s.setFault(c.fault)
	return s, nil
}

// Host returns the Server's host:port, the value for GCE_METADATA_HOST.
func (s *Server) Host() string { return s.addr }

// URL returns the base URL of the metadata paths, e.g.
// http://127.0.0.1:40000/computeMetadata/v1/.
func (s *Server) URL() string { return "http://" + s.addr + PathPrefix }

// Close stops the Server: it closes the listener and every connection and
// releases hanging requests. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.ln = nil
	s.mu.Unlock()
	err := s.srv.Close()
	s.serving.Wait()
	return err
}

// SetLatency delays every later answer by d.
func (s *Server) SetLatency(d time.Duration) {
	s.update(func(st *state) { st.latency = d })
}

// SetValue serves body for path from now on.
func (s *Server) SetValue(path, body string) {
	s.update(func(st *state) {
		st.values = maps.Clone(st.values)
		st.values[strings.TrimLeft(path, "/")] = body
	})
}

// SetFault plays fault f on every path from now on; FaultNone restores
// normal service. Switching to FaultRefuse closes the listener and every
// open connection; switching away from it listens again on the same
// address. When another socket has taken the port meanwhile (see
// [FaultRefuse]), SetFault retries for up to [RelistenWait], blocking the
// Server's other setters and Close, and then returns an error naming the
// address; the Server keeps refusing, and a later SetFault tries again.
func (s *Server) SetFault(f Fault) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("metadatatest: server closed")
	}
	if f == FaultRefuse {
		if s.ln != nil {
			_ = s.ln.Close()
			s.ln = nil
		}
		s.closeConns()
	} else if s.ln == nil {
		ln, err := listenAgain(s.addr, s.relistenWait)
		if err != nil {
			return err
		}
		s.serveLocked(ln)
	}
	s.setFault(f)
	return nil
}

// relistenPause is the pause between two attempts of listenAgain.
const relistenPause = 10 * time.Millisecond

// listenAgain listens on addr, retrying for up to wait while the port is
// taken. Any error is retried: the Server listened on addr before, so what
// fails now is the port's owner, and the error codes for that differ
// between systems.
func listenAgain(addr string, wait time.Duration) (net.Listener, error) {
	deadline := time.Now().Add(wait)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln, nil
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("metadatatest: listen again on %s: the port is still taken after %v, "+
				"probably by a socket that got it while the Server refused connections: %w", addr, wait, err)
		}
		time.Sleep(relistenPause)
	}
}

func (s *Server) setFault(f Fault) {
	s.update(func(st *state) { st.fault = f })
}

// SetPathFault plays fault f on path only (FaultNone clears it); a path
// fault wins over the server-wide one. FaultRefuse resets the connection of
// each request for path.
func (s *Server) SetPathFault(path string, f Fault) {
	path = strings.TrimLeft(path, "/")
	s.update(func(st *state) {
		st.pathFaults = maps.Clone(st.pathFaults)
		if st.pathFaults == nil {
			st.pathFaults = make(map[string]Fault)
		}
		if f == FaultNone {
			delete(st.pathFaults, path)
		} else {
			st.pathFaults[path] = f
		}
	})
}

// FailFirst plays fault f on the next n requests, whatever their path, then
// serves as configured: a one-time failure. FaultRefuse resets those
// requests' connections. n <= 0 cancels a pending FailFirst.
func (s *Server) FailFirst(n int, f Fault) {
	s.failWith.Store(int64(f))
	s.failLeft.Store(int64(max(n, 0)))
}

// Requests returns how many requests for path (relative to PathPrefix)
// reached the Server, whatever their outcome.
func (s *Server) Requests(path string) int64 {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	return s.counts[strings.TrimLeft(path, "/")]
}

// TotalRequests returns how many requests reached the Server.
func (s *Server) TotalRequests() int64 {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	var n int64
	for _, c := range s.counts {
		n += c
	}
	return n
}

// MaxInFlight returns the highest number of requests the Server was
// handling at the same time.
func (s *Server) MaxInFlight() int64 { return s.maxInFlight.Load() }

// ResetStats zeroes the request counts and MaxInFlight.
func (s *Server) ResetStats() {
	s.countMu.Lock()
	clear(s.counts)
	s.countMu.Unlock()
	s.maxInFlight.Store(s.inFlight.Load())
}

func (s *Server) update(f func(*state)) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	st := *s.state.Load()
	f(&st)
	s.state.Store(&st)
}

func (s *Server) serve(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serveLocked(ln)
}

func (s *Server) serveLocked(ln net.Listener) {
	s.ln = ln
	s.serving.Go(func() { _ = s.srv.Serve(ln) })
}

func (s *Server) trackConn(c net.Conn, cs http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	switch cs {
	case http.StateNew:
		s.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(s.conns, c)
	}
}

func (s *Server) closeConns() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for m := s.maxInFlight.Load(); n > m && !s.maxInFlight.CompareAndSwap(m, n); m = s.maxInFlight.Load() {
	}
	path := strings.TrimPrefix(r.URL.Path, PathPrefix)
	s.countMu.Lock()
	s.counts[path]++
	s.countMu.Unlock()

	st := s.state.Load()
	w.Header().Set("Metadata-Flavor", "Google")
	w.Header().Set("Server", "Metadata Server for Serverless")
	if r.Header.Get("Metadata-Flavor") != "Google" {
		writeHTML(w, http.StatusForbidden, "Missing required header: Metadata-Flavor")
		return
	}
	if st.latency > 0 && !s.wait(r.Context(), time.After(st.latency)) {
		reset(w)
		return
	}
	fault := st.fault
	if f, ok := st.pathFaults[path]; ok {
		fault = f
	}
	if s.failLeft.Add(-1) >= 0 {
		fault = Fault(s.failWith.Load())
	}
	v, ok := st.values[path]
	switch {
	case fault == FaultHang:
		s.wait(r.Context(), nil)
		reset(w) // never an answer, even when the Server closes
	case fault == FaultRefuse:
		reset(w)
	case fault == FaultNoFlavor:
		w.Header().Del("Metadata-Flavor")
		if !ok {
			writeHTML(w, http.StatusNotFound, "Not Found")
			return
		}
		writeText(w, v)
	case fault == FaultNotFound, fault == FaultNone && !ok:
		writeHTML(w, http.StatusNotFound, "Not Found")
	case fault == FaultServerError:
		writeHTML(w, http.StatusInternalServerError, "Internal Server Error")
	case fault == FaultGarbage:
		writeText(w, "\x00\x1b[31m{\"error\": \xff\xfe garbage}\n")
	case fault == FaultHTML:
		writeHTML(w, http.StatusOK, "Sign in to continue")
	case fault == FaultOversized:
		w.Header().Set("Content-Type", "application/text")
		chunk := []byte(strings.Repeat("7", 32<<10))
		for sent := 0; sent < OversizedBytes; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	default:
		writeText(w, v)
	}
}

// wait blocks until timer fires (nil: never), the request is cancelled or
// the Server closes. It reports whether the timer fired.
func (s *Server) wait(ctx context.Context, timer <-chan time.Time) bool {
	select {
	case <-timer:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}

func writeText(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/text")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write([]byte(body))
}

func writeHTML(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = fmt.Fprintf(w, "<!DOCTYPE html>\n<html lang=en><title>Error %d</title><p><b>%d.</b> %s</html>\n", code, code, msg)
}

// reset closes the request's connection with a TCP RST, or answers 500
// when the connection cannot be taken over.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeHTML(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	c, _, err := hj.Hijack()
	if err != nil {
		writeHTML(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
