package export

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Retry timing.
const (
	firstRetryWait = 40 * time.Millisecond // the first retry waits 20-40ms
	retryFactor    = 3                     // each later wait grows 3x
	maxRetryWait   = 5 * time.Second       // before jitter
	maxRetries     = 32                    // the deadline stops retries long before this

	authPauseFirst = 30 * time.Second
	authPauseMax   = 10 * time.Minute
	maxThrottle    = 10 * time.Minute // longest Retry-After remembered across exports

	partialLogEvery = time.Minute
	maxResponseBody = 64 << 10
	maxBodyInError  = 256
)

// exportState collects the outcome of one ExportSpans call.
type exportState struct {
	total    int
	retry    []sdktrace.ReadOnlySpan
	retryErr error // set once a retryable failure stops further requests
	rejected int
	rejErrs  []error // the first maxErrors causes
	resent   bool    // a range refused with a token since replaced was sent again
}

// maxErrors bounds the causes an export error lists.
const maxErrors = 3

func (st *exportState) reject(n int, err error) {
	st.rejected += n
	if len(st.rejErrs) < maxErrors {
		st.rejErrs = append(st.rejErrs, err)
	}
}

// export encodes spans and sends them with c.
func (e *Exporter) export(c *call, spans []sdktrace.ReadOnlySpan) error {
	enc := c.enc
	enc.encode(spans)
	st := exportState{total: len(spans)}
	if n := len(enc.tooLarge); n > 0 {
		e.stats.dropped[dropTooLarge].Add(uint64(n))
		st.reject(n, fmt.Errorf("%d spans larger than %d bytes alone (first: %q, %d bytes)",
			n, e.cfg.MaxRequestBytes, enc.tooLarge[0].Name(), enc.tooLargeSize))
	}
	for _, ch := range enc.chunks() {
		e.sendRange(c, ch.lo, ch.hi, &st)
	}
	switch {
	case len(st.retry) > 0:
		e.stats.failed.Add(uint64(len(st.retry)))
		err := st.retryErr
		if st.rejected > 0 {
			err = fmt.Errorf("%w; also %d spans dropped for good: %v", err, st.rejected, errors.Join(st.rejErrs...))
		}
		return &RetryableError{Spans: st.retry, Err: err, Dropped: st.rejected}
	case st.rejected > 0:
		return &rejectedError{
			msg: fmt.Sprintf("export: %d of %d spans dropped", st.rejected, st.total),
			err: errors.Join(st.rejErrs...),
			n:   st.rejected,
		}
	}
	return nil
}

// sendRange sends spans lo..hi of c's encoder order as one request,
// halving the range when it is too large.
func (e *Exporter) sendRange(c *call, lo, hi int, st *exportState) {
	enc := c.enc
	n := hi - lo
	if st.retryErr != nil {
		st.retry = append(st.retry, enc.spans(lo, hi)...)
		return
	}
	if err := e.checkAuth(); err != nil {
		// An earlier request of this export had the token refused.
		e.stats.dropped[dropUnauthorized].Add(uint64(n))
		st.reject(n, err)
		return
	}
	c.reclaim()
	raw := enc.body(lo, hi)
	payload := raw
	gzipped := e.cfg.Compression == CompressionGzip && len(raw) >= e.cfg.CompressionMinBytes
	if gzipped {
		payload = enc.compress(raw)
	}
	if len(payload) > e.cfg.MaxRequestBytes {
		// Only compression can make a planned request too large.
		e.split(c, lo, hi, st, fmt.Errorf("%d bytes compressed", len(payload)))
		return
	}
	e.stats.bytesRaw.Add(uint64(len(raw)))
	e.stats.bytesCompressed.Add(uint64(len(payload)))

	out := c.post(payload, gzipped)
	switch out.verdict {
	case reachable:
		e.endpointUp()
		c.probe = false // the endpoint is up: the rest of the export retries as usual
	case unreachable:
		e.endpointDown(out.err, c.probe)
		c.probe = false
	}
	switch out.kind {
	case sent:
		e.stats.exported.Add(uint64(n))
		if out.rejectedSpans > 0 {
			// What the receiver claims, within what this request held.
			e.stats.rejected.Add(uint64(min(out.rejectedSpans, int64(n))))
		}
		if e.auth.ok() {
			e.logger.Info("export: the endpoint accepts the API token again; export resumed", "endpoint", e.endpoint)
		}
	case tooLarge:
		e.split(c, lo, hi, st, out.err)
	case retry:
		st.retryErr = out.err
		st.retry = append(st.retry, enc.spans(lo, hi)...)
	case unauthorized:
		if !st.resent && e.tokenReplaced(c) {
			// The token file held a new token: send the range again
			// with it, once per export.
			st.resent = true
			e.sendRange(c, lo, hi, st)
			return
		}
		e.stats.dropped[dropUnauthorized].Add(uint64(n))
		st.reject(n, out.err)
	default:
		e.stats.dropped[dropRejected].Add(uint64(n))
		st.reject(n, out.err)
	}
}

// split sends the two halves of lo..hi separately; a single span that is
// still too large is dropped.
func (e *Exporter) split(c *call, lo, hi int, st *exportState, cause error) {
	if hi-lo <= 1 {
		e.stats.dropped[dropTooLarge].Add(1)
		st.reject(1, fmt.Errorf("span %q too large to send: %w", c.enc.spans(lo, hi)[0].Name(), cause))
		return
	}
	mid := lo + (hi-lo)/2
	e.sendRange(c, lo, mid, st)
	e.sendRange(c, mid, hi, st)
}

type outcomeKind int

const (
	sent outcomeKind = iota
	retry
	tooLarge
	unauthorized
	permanent
)

type outcome struct {
	kind          outcomeKind
	err           error
	rejectedSpans int64
	verdict       verdict // what the outcome tells about the endpoint
}

// classify turns a response and its body into an outcome.
func (e *Exporter) classify(resp *http.Response, body []byte, c *call) outcome {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		n, msg := parsePartialSuccess(resp.Header.Get("Content-Type"), body)
		if n > 0 || msg != "" {
			e.logPartial(n, e.withoutToken(msg, c))
		}
		return outcome{kind: sent, rejectedSpans: n}
	}
	status := fmt.Sprintf("POST %s: %s", e.endpoint, statusText(code))
	switch {
	case code == http.StatusRequestEntityTooLarge:
		return outcome{kind: tooLarge, err: errors.New(status)}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return e.tokenRefused(c, status, code)
	case code >= 300 && code < 400:
		loc := resp.Header.Get("Location")
		if loc == "" {
			loc = "(no Location)"
		} else {
			loc = e.withoutToken(redactURL(loc), c)
		}
		return outcome{kind: permanent, err: fmt.Errorf("%s: redirect to %s not followed; set the endpoint to the final URL", status, loc)}
	case retryableStatus(code):
		v := reachable // throttled, with or without Retry-After: up, and paced by the retries
		if gatewayError(code) && !c.answered {
			v = unreachable // the service behind the gateway is down
		}
		if d, ok := retryAfter(resp.Header, e.now()); ok && c.outOfTime {
			e.throttle(d)
			v = reachable // the remembered Retry-After paces the next exports
		}
		return outcome{kind: retry, err: fmt.Errorf("%s%s", status, c.suffix()), verdict: v}
	default:
		return outcome{kind: permanent, err: fmt.Errorf("%s%s", status, e.bodySnippet(body, c))}
	}
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

// bodySnippet quotes the start of an error body, without the token.
func (e *Exporter) bodySnippet(body []byte, c *call) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return ""
	}
	s = e.withoutToken(s, c)
	if len(s) > maxBodyInError {
		s = s[:maxBodyInError] + "…"
	}
	return fmt.Sprintf(" (body: %q)", s)
}

// withoutToken returns s, something the receiver sent back (a body, a
// partial-success message, a Location), with the token replaced: the one
// c's request carried, and the current one.
func (e *Exporter) withoutToken(s string, c *call) string {
	for _, token := range []string{c.creds.token, e.creds.Load().token} {
		if token != "" {
			s = strings.ReplaceAll(s, token, redacted)
		}
	}
	return s
}

// throttle remembers a Retry-After that did not fit into this export's
// budget, so that the next exports do not knock before it has passed.
func (e *Exporter) throttle(d time.Duration) {
	d = min(d, maxThrottle)
	e.throttled.Store(e.now().Add(d).UnixNano())
}

func (e *Exporter) logPartial(n int64, msg string) {
	now := e.now().UnixNano()
	last := e.partial.Load()
	if last != 0 && now-last < int64(partialLogEvery) || !e.partial.CompareAndSwap(last, now) {
		return
	}
	if len(msg) > maxBodyInError {
		msg = msg[:maxBodyInError] + "…"
	}
	e.logger.Warn("export: the receiver rejected part of a request (logged at most once a minute)",
		"rejected_spans", n, "message", msg, "endpoint", e.endpoint)
}

// gatewayError reports 502, 503 and 504: the endpoint's front answers, the
// service behind it does not.
func gatewayError(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// permanentTransportError reports transport errors that retrying cannot
// fix: certificate problems and a non-TLS server behind an https URL.
func permanentTransportError(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &hostname),
		errors.As(err, &invalid), errors.As(err, &record):
		return true
	}
	return strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// onRequest runs before every attempt: it counts it and arms the attempt
// timer.
func (c *call) onRequest(retryablehttp.Logger, *http.Request, int) {
	c.n++
	c.e.stats.requests.Add(1)
	if c.n > 1 {
		c.e.stats.retries.Add(1)
	}
	c.arm()
}

// checkRetry runs after every attempt. It retries 429, 502, 503, 504 and
// transport errors other than certificate problems, as long as the wait
// fits before the export's deadline; a probe is never retried.
func (c *call) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	c.disarm()
	if err == nil && !gatewayError(resp.StatusCode) {
		c.answered = true
	}
	if ctx.Err() != nil || c.probe {
		return false, nil
	}
	var wait time.Duration
	switch {
	case err != nil:
		if permanentTransportError(err) {
			return false, nil
		}
		wait = jitterBackoff(c.n)
	case retryableStatus(resp.StatusCode):
		wait = jitterBackoff(c.n)
		if d, ok := retryAfter(resp.Header, c.e.now()); ok {
			wait = max(wait, d)
		}
	default:
		return false, nil
	}
	// The deadline is on the real clock, as contexts are; e.now serves
	// the pauses remembered across exports.
	if !time.Now().Add(wait).Before(c.deadline) {
		c.outOfTime = true
		return false, nil
	}
	c.wait = wait
	return true, nil
}

func (c *call) backoff(_, _ time.Duration, _ int, _ *http.Response) time.Duration { return c.wait }

func (c *call) suffix() string {
	switch {
	case c.probe:
		return " (probe after an outage; one attempt)"
	case c.outOfTime:
		return fmt.Sprintf(" (%d attempts; no time left to retry)", c.n)
	case c.n > 1:
		return fmt.Sprintf(" (%d attempts)", c.n)
	}
	return ""
}

// jitterBackoff is the wait before retry n (1 = first): 20-40ms, then 3x
// longer each time, at most 2.5-5s.
func jitterBackoff(n int) time.Duration {
	d := firstRetryWait
	for i := 1; i < n && d < maxRetryWait; i++ {
		d *= retryFactor
	}
	d = min(d, maxRetryWait)
	return d/2 + rand.N(d/2+1)
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// authGate pauses export after a 401 or 403, longer each time.
type authGate struct {
	refused atomic.Bool // pause != 0, read without the lock on every export

	mu    sync.Mutex
	until time.Time
	pause time.Duration // 0: token not known to be bad
}

// checkAuth returns an error while export pauses after a refused token.
// Outside a pause it costs one atomic load. During one, and when it has
// just ended, it reads Config.TokenFile again when a read is due (see
// tokenFile), which ends the pause at once when the file holds another
// token.
func (e *Exporter) checkAuth() error {
	if !e.auth.refused.Load() {
		return nil
	}
	now := e.now()
	if e.tokenFile.due(now) {
		e.reloadToken()
	}
	return e.auth.checkAt(now)
}

func (g *authGate) checkAt(now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pause == 0 || !now.Before(g.until) {
		return nil
	}
	return rejected(0, "the endpoint refused the API token (scope openTelemetryTrace.ingest needed); export paused until %s, spans dropped",
		g.until.UTC().Format(time.RFC3339))
}

// paused reports whether a pause runs at now.
func (g *authGate) paused(now time.Time) bool {
	if !g.refused.Load() {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pause != 0 && now.Before(g.until)
}

// fail records a refused token; first is true when the token was good
// before, started when a pause starts (false when a concurrent export
// failed during the same pause).
func (g *authGate) fail(now time.Time) (pause time.Duration, first, started bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.pause == 0:
		g.pause = authPauseFirst
		first = true
	case !now.Before(g.until):
		g.pause = min(2*g.pause, authPauseMax)
	default:
		return g.pause, false, false
	}
	g.until = now.Add(g.pause)
	g.refused.Store(true)
	return g.pause, first, true
}

// ok records an accepted request, or a new token that ends a pause at
// once; recovered is true when a pause ends.
func (g *authGate) ok() (recovered bool) {
	if !g.refused.Load() {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	recovered = g.pause != 0
	g.pause, g.until = 0, time.Time{}
	g.refused.Store(false)
	return recovered
}
