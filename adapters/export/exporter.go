package export

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/gcftrace/gcftrace/ports"
)

// Exporter sends spans to an OTLP/HTTP endpoint as binary protobuf. It
// implements sdktrace.SpanExporter and is safe for concurrent use.
type Exporter struct {
	cfg      Config // validated, defaults applied
	endpoint string // redacted, for errors and logs
	logger   *slog.Logger
	client   *http.Client // never follows redirects; hides CloseIdleConnections
	idle     interface{ CloseIdleConnections() }
	creds    atomic.Pointer[credentials] // the token and the request headers that carry it
	template *http.Request               // POST to the endpoint, URL parsed once
	ownsRT   bool                        // the transport is ours: close its connections on Shutdown
	direct   bool                        // first attempts may skip http.Client: see call.do

	mu       sync.Mutex // guards closed, calls, active
	closed   bool
	calls    []*call            // idle, for reuse
	active   map[*call]struct{} // exports in progress, cancelled by Shutdown when it gives up
	inflight sync.WaitGroup

	auth      authGate
	tokenFile tokenFile // Config.TokenFile, read again during an auth pause
	outage    outageGate
	throttled atomic.Int64 // unix nanos until which the receiver asked us to wait
	partial   atomic.Int64 // unix nanos of the last partial-success log

	stats counters
	now   func() time.Time
}

var _ sdktrace.SpanExporter = (*Exporter)(nil)

// String names the exporter and its endpoint; printing an Exporter never
// shows the token.
func (e *Exporter) String() string { return "export.Exporter{" + e.endpoint + "}" }

// GoString is String, so that %#v does not show the token either.
func (e *Exporter) GoString() string { return e.String() }

// New returns an Exporter for cfg. It validates cfg and returns the error of
// [Config.Validate] unchanged. New makes no network call; see
// [Exporter.WarmUp].
func New(cfg Config, opts ...Option) (*Exporter, error) {
	token, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	cfg = cfg.withDefaults()
	e := &Exporter{
		cfg:      cfg,
		endpoint: redactURL(cfg.Endpoint),
		logger:   o.logger,
		now:      time.Now,
	}
	e.outage.first, e.outage.max = cfg.OutagePause, max(cfg.MaxOutagePause, cfg.OutagePause)
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	if err := e.initClient(o.client); err != nil {
		return nil, err
	}
	e.creds.Store(e.newCredentials(token))
	e.tokenFile.init(cfg.TokenFile)
	tmpl, err := http.NewRequest(http.MethodPost, cfg.Endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	e.template = tmpl
	e.active = make(map[*call]struct{})
	e.logger.Debug("export: exporter ready", "config", cfg)
	return e, nil
}

const userAgent = "gcftrace OTLP/HTTP exporter"

// credentials are the token and the request headers that carry it. They
// never change: a new token comes with new credentials, swapped in whole,
// so that a request never goes out with a half-updated header.
type credentials struct {
	token  string      // "" when none
	header http.Header // shared request headers, Authorization included; read-only
}

// newCredentials returns the credentials of token with the configured
// headers.
func (e *Exporter) newCredentials(token string) *credentials {
	h := http.Header{
		"Content-Type": {"application/x-protobuf"},
		"User-Agent":   {userAgent},
	}
	for k, v := range e.cfg.Headers {
		h.Set(k, v)
	}
	if token != "" {
		h.Set("Authorization", "Api-Token "+token)
	}
	return &credentials{token: token, header: h}
}

// initClient sets e.client: a copy of c (or a dedicated client) that never
// follows redirects, and whose transport ignores CloseIdleConnections from
// the retry loop, so that a failed attempt does not drop warm connections.
func (e *Exporter) initClient(c *http.Client) error {
	var cl http.Client
	if c != nil {
		cl = *c
	} else {
		cl = http.Client{Transport: newTransport()}
		e.ownsRT = true
	}
	rt := cl.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	if t, ok := rt.(*http.Transport); ok && t.TLSClientConfig != nil && t.TLSClientConfig.InsecureSkipVerify {
		return errors.New("http client: TLS verification must stay on (InsecureSkipVerify is set)")
	}
	if ci, ok := rt.(interface{ CloseIdleConnections() }); ok {
		e.idle = ci
	}
	cl.Transport = keepIdle{rt}
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	e.client = &cl
	e.direct = cl.Timeout == 0 && cl.Jar == nil
	return nil
}

// keepIdle is the transport the retry loop uses. It hides
// CloseIdleConnections, which the loop calls after every failed request, so
// that one failure does not drop warm connections.
type keepIdle struct{ rt http.RoundTripper }

func (t keepIdle) RoundTrip(r *http.Request) (*http.Response, error) { return t.rt.RoundTrip(r) }

func newTransport() *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		// An attempt cut by its budget closes an HTTP/1.1 connection, but
		// only resets its HTTP/2 stream: a connection that went silent
		// (a NAT or a proxy dropped it) would take every retry and probe
		// until the kernel gave up on it, minutes later. A ping after half
		// a second of silence, unanswered within half a second, closes it
		// and lets the retry dial anew.
		HTTP2: &http.HTTP2Config{SendPingTimeout: h2PingAfter, PingTimeout: h2PingTimeout},
	}
}

// HTTP/2 health check of the default transport; see newTransport.
const (
	h2PingAfter   = 500 * time.Millisecond
	h2PingTimeout = 500 * time.Millisecond
)

// ExportSpans sends spans, split into requests of at most MaxRequestBytes,
// retrying what may pass within the earlier of ctx's deadline and
// Config.Timeout. It returns nil when every span was delivered; otherwise an
// error as described in the package documentation: a *RetryableError
// listing the spans worth retrying, or an error wrapping
// ports.ErrExportRejected when the failed spans are gone for good.
func (e *Exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		e.mu.Lock()
		closed := e.closed
		e.mu.Unlock()
		if closed {
			return rejected(0, "exporter is shut down; 0 spans dropped")
		}
		return nil
	}
	c := e.begin()
	if c == nil {
		e.stats.dropped[dropShutdown].Add(uint64(len(spans)))
		return rejected(len(spans), "exporter is shut down; %d spans dropped", len(spans))
	}
	defer e.end(c)

	if err := e.checkAuth(); err != nil {
		e.stats.dropped[dropUnauthorized].Add(uint64(len(spans)))
		return withRejected(err, len(spans))
	}
	if until := e.throttled.Load(); until != 0 && until > e.now().UnixNano() {
		e.stats.failed.Add(uint64(len(spans)))
		return &RetryableError{Spans: spans, Err: fmt.Errorf("receiver asked to wait until %s", time.Unix(0, until).UTC().Format(time.RFC3339))}
	}
	if err := ctx.Err(); err != nil {
		// No budget left: encoding a large batch would only run past it.
		e.stats.failed.Add(uint64(len(spans)))
		return &RetryableError{Spans: spans, Err: err}
	}
	probe, err := e.outage.check(e.now, ports.IsFinalExport(ctx))
	if err != nil {
		e.stats.failed.Add(uint64(len(spans)))
		return &RetryableError{Spans: spans, Err: err}
	}
	c.start(ctx)
	if probe {
		c.probe = true
		defer func() {
			if c.probe { // no request reached a verdict: let the next export probe
				e.outage.endProbe()
			}
		}()
	}
	return e.export(c, spans)
}

// begin registers an export and returns its call; nil once the exporter is
// shut down.
func (e *Exporter) begin() *call {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	var c *call
	if n := len(e.calls); n > 0 {
		c = e.calls[n-1]
		e.calls[n-1] = nil
		e.calls = e.calls[:n-1]
	} else {
		c = newCall(e)
	}
	e.active[c] = struct{}{}
	e.inflight.Add(1)
	return c
}

// end unregisters the export of c and keeps c for reuse.
func (e *Exporter) end(c *call) {
	c.release()
	e.mu.Lock()
	delete(e.active, c)
	if len(e.calls) < maxIdleCalls {
		e.calls = append(e.calls, c)
	}
	e.mu.Unlock()
	e.inflight.Done()
}

// maxIdleCalls bounds the calls (encoders and their buffers) kept for reuse
// between exports.
const maxIdleCalls = 4

// Shutdown stops the exporter: later exports fail with an error wrapping
// ports.ErrExportRejected. It waits for running exports until ctx is done,
// then cancels them and returns ctx.Err(). Shutdown is idempotent.
func (e *Exporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()

	done := make(chan struct{})
	go func() {
		e.inflight.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		select {
		case <-done:
		default:
			err = ctx.Err()
			e.mu.Lock()
			for c := range e.active {
				c.stop()
			}
			e.mu.Unlock()
			<-done
		}
	}
	if e.ownsRT && e.idle != nil {
		e.idle.CloseIdleConnections()
	}
	e.logger.Debug("export: exporter shut down", "stats", e.Stats())
	return err
}
