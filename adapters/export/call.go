package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// call is the reusable state of one ExportSpans: the encoder, the retry
// loop and what its requests need, so that an export in the steady state
// allocates little beyond what net/http does. The Exporter keeps a few idle
// calls; a call serves one export at a time, and its requests one after the
// other.
//
// One export makes one context per retry loop (usually one in all): a child
// of the caller's that Shutdown and the attempt timer can cancel. Each
// attempt gets half of the time left when at least minSplitBudget is left:
// the attempt timer then cuts it, so that a request stuck on a dead
// connection is retried on a fresh one within the budget instead of eating
// all of it.
type call struct {
	e   *Exporter
	enc *encoder

	client  retryablehttp.Client // its hooks are the call's methods
	payload []byte               // the body of the request in flight
	lend    bool                 // payload is the encoder's buffer, lent (see request)
	loan    *loan                // the lent payload's bodies still out
	creds   *credentials         // the credentials header was built from
	header  [2]http.Header       // the request headers, without and with Content-Encoding: gzip
	resp    []byte               // response body buffer

	// The export in progress.
	parent   context.Context
	deadline time.Time // the earlier of parent's deadline and Config.Timeout

	// The request in flight: the retry policy's state.
	n         int           // attempts sent
	wait      time.Duration // next wait, decided by checkRetry
	outOfTime bool          // stopped because the next wait would pass the deadline
	probe     bool          // the export probes an endpoint that was down: one attempt, no retry
	answered  bool          // an attempt got an answer other than a gateway error

	mu      sync.Mutex         // guards what Shutdown and the attempt timer touch
	cancel  context.CancelFunc // ends the retry loop in flight; nil between loops
	cutAt   time.Time          // when the attempt timer cuts the attempt in flight; zero: disarmed
	cut     bool               // the attempt timer cut the last attempt
	stopped bool               // Shutdown gave up waiting: no more requests
	timer   *time.Timer        // the attempt timer, reused
}

// minSplitBudget is the time left from which an attempt gets only half of it.
const minSplitBudget = time.Second

var (
	errAttemptTimeout = errors.New("attempt timed out after half of the time left")
	errStopped        = errors.New("export: exporter shut down")
)

func newCall(e *Exporter) *call {
	c := &call{e: e, enc: newEncoder(e.cfg), resp: make([]byte, 0, 512), loan: new(loan)}
	c.client = retryablehttp.Client{
		HTTPClient:     e.client,
		RetryMax:       maxRetries,
		CheckRetry:     c.checkRetry,
		Backoff:        c.backoff,
		ErrorHandler:   retryablehttp.PassthroughErrorHandler,
		RequestLogHook: c.onRequest,
		PrepareRetry:   c.prepareRetry,
	}
	c.timer = time.AfterFunc(time.Hour, c.cutAttempt)
	c.timer.Stop()
	return c
}

// start begins an export under ctx.
func (c *call) start(ctx context.Context) {
	c.parent = ctx
	c.deadline = time.Now().Add(c.e.cfg.Timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(c.deadline) {
		c.deadline = dl
	}
}

// post sends one request body with retries and classifies the result.
func (c *call) post(payload []byte, gzipped bool) outcome {
	e := c.e
	c.n, c.wait, c.outOfTime, c.answered = 0, 0, false, false
	var wait time.Duration // before a retry of a cut attempt
	for {
		ctx, cancel, ok := c.begin()
		if !ok {
			return outcome{kind: retry, err: errStopped, verdict: noVerdict}
		}
		if wait > 0 && !sleep(ctx, wait) {
			err := context.Cause(ctx)
			c.end()
			cancel()
			return outcome{kind: retry, err: fmt.Errorf("POST %s: %w%s", e.endpoint, err, c.suffix()), verdict: c.failed()}
		}
		resp, err := c.do(c.request(ctx, payload, gzipped))
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = e.endpoint // query values redacted
		}
		if err == nil {
			body := c.readResponse(resp.Body)
			resp.Body.Close()
			c.end()
			cancel()
			return e.classify(resp, body, c)
		}
		cut := c.end()
		if resp != nil {
			resp.Body.Close()
		}
		cancel()
		if cut {
			err = errAttemptTimeout
			if c.parent.Err() == nil {
				// Retry on a fresh connection, as for a failed
				// connection, when the wait fits.
				wait = jitterBackoff(c.n)
				if time.Now().Add(wait).Before(c.deadline) {
					continue
				}
				c.outOfTime = true
			}
		}
		err = fmt.Errorf("POST %s: %w%s", e.endpoint, err, c.suffix())
		if permanentTransportError(err) {
			return outcome{kind: permanent, err: err} // reachable: something answered
		}
		return outcome{kind: retry, err: err, verdict: c.failed()}
	}
}

// failed is the verdict on a retry loop whose last attempt got no answer:
// the endpoint is unreachable unless an earlier attempt got an answer (a
// 429 storm that ran into the deadline), the caller cancelled, or Shutdown
// stopped the export.
func (c *call) failed() verdict {
	c.mu.Lock()
	stopped := c.stopped
	c.mu.Unlock()
	switch {
	case stopped || errors.Is(c.parent.Err(), context.Canceled):
		return noVerdict
	case c.answered:
		return reachable
	}
	return unreachable
}

// do sends r. When the HTTP client adds nothing to a request that the
// exporter needs (no Timeout, no cookie Jar: the default client), the first
// attempt goes straight to its transport, which spares http.Client's
// per-request work (the header copy kept for redirects, which are never
// followed, among others); retries, if any, go through retryablehttp and the
// client as usual.
func (c *call) do(r *http.Request) (*http.Response, error) {
	if !c.e.direct {
		return c.client.Do(&retryablehttp.Request{Request: r})
	}
	c.onRequest(nil, r, 0)
	resp, err := c.e.client.Transport.RoundTrip(r)
	switch {
	case err != nil:
		err = &url.Error{Op: "Post", URL: c.e.endpoint, Err: err} // as http.Client reports it, query values redacted
	case resp == nil:
		err = errors.New("http: RoundTripper returned a nil *Response with a nil error")
	case resp.Body == nil:
		resp.Body = http.NoBody
	}
	if again, _ := c.checkRetry(r.Context(), resp, err); !again {
		return resp, err
	}
	if resp != nil {
		c.readResponse(resp.Body) // so that the connection is reused
		resp.Body.Close()
	}
	if !sleep(r.Context(), c.wait) {
		return nil, r.Context().Err()
	}
	// A copy, as retryablehttp makes for its retries: the transport may
	// still hold the first attempt.
	retry := *r
	retry.Body, _ = c.body()
	return c.client.Do(&retryablehttp.Request{Request: &retry})
}

// begin starts a retry loop: it returns the loop's context, registered for
// Shutdown, or false once Shutdown gave up waiting.
func (c *call) begin() (context.Context, context.CancelFunc, bool) {
	// A plain cancelable child when the parent's deadline comes first or is
	// the same (context.WithDeadline would start a timer of its own for the
	// same instant); otherwise it also carries Config.Timeout.
	var ctx context.Context
	var cancel context.CancelFunc
	if dl, ok := c.parent.Deadline(); ok && !dl.After(c.deadline) {
		ctx, cancel = context.WithCancel(c.parent)
	} else {
		ctx, cancel = context.WithDeadline(c.parent, c.deadline)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		cancel()
		return nil, nil, false
	}
	c.cancel = cancel
	return ctx, cancel, true
}

// end ends a retry loop and reports whether the attempt timer cut its last
// attempt.
func (c *call) end() (cut bool) {
	c.disarm()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancel = nil
	cut, c.cut = c.cut, false
	return cut
}

// stop cancels the retry loop in flight and refuses new ones; Shutdown
// calls it when it gives up waiting.
func (c *call) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.cancel != nil {
		c.cancel()
	}
}

// arm sets the attempt timer for an attempt starting now.
func (c *call) arm() {
	now := time.Now()
	left := c.deadline.Sub(now)
	if left < minSplitBudget || c.probe {
		return // a probe has one attempt: it gets the whole budget
	}
	c.mu.Lock()
	c.cutAt = now.Add(left / 2)
	c.mu.Unlock()
	c.timer.Reset(left / 2)
}

func (c *call) disarm() {
	c.mu.Lock()
	armed := !c.cutAt.IsZero()
	c.cutAt = time.Time{}
	c.mu.Unlock()
	if armed {
		c.timer.Stop()
	}
}

// cutAttempt is the attempt timer's function. A late run of an earlier
// setting finds cutAt cleared or still ahead, and does nothing.
func (c *call) cutAttempt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cutAt.IsZero() || time.Now().Before(c.cutAt) || c.cancel == nil {
		return
	}
	c.cutAt = time.Time{}
	c.cut = true
	c.cancel()
}

// sleep waits for d, or until ctx is done: it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// request returns the POST of payload under ctx. Its body is rewound for
// each retry by prepareRetry.
//
// A transport may go on reading a request's body after RoundTrip returned
// (an endpoint answering 413 or 401 before reading it all, HTTP/2's own
// writer), while the encoder's buffers are reused for the next request. So
// a small payload is copied, and the copy never reused: a late reader sees
// this request's bytes, never another's. A large one (lendMin and up) is
// lent instead, which saves a copy of up to MaxRequestBytes per attempt:
// its bodies count themselves out until the transport closes them, and
// reclaim gives the encoder new buffers when one is still out.
func (c *call) request(ctx context.Context, payload []byte, gzipped bool) *http.Request {
	c.lend = len(payload) >= lendMin
	if !c.lend {
		payload = bytes.Clone(payload)
	}
	c.payload = payload
	r := c.e.template.WithContext(ctx)
	r.Header = c.headers(gzipped)
	r.Body, _ = c.body()
	lend, loan := c.lend, c.loan
	r.GetBody = func() (io.ReadCloser, error) { return newBody(payload, lend, loan), nil }
	r.ContentLength = int64(len(payload))
	return r
}

// lendMin is the payload size from which request bodies read the encoder's
// buffer itself. Below it, a copy costs little, and the body can be what
// net/http knows to be in memory (see body).
const lendMin = 32 << 10

// loan counts the request bodies reading the encoder's buffers that the
// transport has not closed yet.
type loan struct{ out atomic.Int32 }

// lentBody is a request body reading a lent payload. Read and Close
// exclude each other, and Read fails after Close: a transport may close a
// body from another goroutine while its writer is still reading it
// (HTTP/2 after an early answer), and the payload is reused once every
// body of it is closed. It has no WriteTo, through which io.Copy would
// read around the lock.
type lentBody struct {
	mu     sync.Mutex
	r      bytes.Reader
	loan   *loan
	closed bool
}

var errBodyClosed = errors.New("export: request body read after Close")

func (b *lentBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errBodyClosed
	}
	return b.r.Read(p)
}

// Close returns the body's share of the loan.
func (b *lentBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		b.loan.out.Add(-1)
	}
	return nil
}

// reclaim is called before the encoder writes its buffers again. When a
// body of a lent payload is still out, the encoder gets new buffers and the
// old ones stay with that body.
func (c *call) reclaim() {
	if c.loan.out.Load() == 0 {
		return
	}
	c.loan = new(loan)
	c.enc.detach()
}

// headers returns the request headers, built once per call and again when
// the token changed (see credentials). A transport that breaks the
// http.RoundTripper contract by adding headers to a request gets a fresh
// copy next time instead of its additions.
func (c *call) headers(gzipped bool) http.Header {
	if creds := c.e.creds.Load(); creds != c.creds {
		c.creds, c.header = creds, [2]http.Header{}
	}
	i, want := 0, len(c.creds.header)
	if gzipped {
		i, want = 1, want+1
	}
	if h := c.header[i]; h != nil && len(h) == want {
		return h
	}
	h := c.creds.header.Clone()
	if gzipped {
		h.Set("Content-Encoding", "gzip")
	}
	c.header[i] = h
	return h
}

// body returns a reader of the payload from its start: one per attempt, as
// the transport may still hold the previous attempt's after a failure. A
// copied payload's is an io.NopCloser of a *bytes.Reader, which net/http
// knows to be in memory: it writes the headers and a small body in one go
// instead of flushing the headers first.
func (c *call) body() (io.ReadCloser, error) {
	return newBody(c.payload, c.lend, c.loan), nil
}

func newBody(payload []byte, lend bool, l *loan) io.ReadCloser {
	if !lend {
		return io.NopCloser(bytes.NewReader(payload))
	}
	l.out.Add(1)
	b := &lentBody{loan: l}
	b.r.Reset(payload)
	return b
}

// prepareRetry gives a retry its own reader of the payload.
func (c *call) prepareRetry(r *http.Request) error {
	r.Body, _ = c.body()
	return nil
}

// readResponse reads at most maxResponseBody bytes of r into a reused
// buffer.
func (c *call) readResponse(r io.Reader) []byte {
	b := c.resp[:0]
	for len(b) < maxResponseBody {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):min(cap(b), maxResponseBody)])
		b = b[:len(b)+n]
		if err != nil {
			break
		}
	}
	c.resp = b
	return b
}

// release drops what the call holds of the last export, and a response
// buffer that grew beyond the usual empty answer.
func (c *call) release() {
	c.enc.release()
	c.payload = nil
	c.parent = nil
	c.probe = false
	if cap(c.resp) > 4<<10 {
		c.resp = make([]byte, 0, 512)
	}
}
