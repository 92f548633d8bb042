package soak

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loadGen sends invocations to the framework: open loop, so that slow
// answers do not slow the rate down. It is bounded twice: by a number of
// requests and by a time limit; past either it sends nothing more.
type loadGen struct {
	base    string
	tr      *http.Transport
	client  *http.Client
	leaks   *leakWatch
	reached func(eventID string) bool // whether the framework passed the event to the function
	run     string                    // makes event ids unique across runs
	seq     atomic.Uint64
	left    atomic.Int64   // requests left
	limit   time.Time      // no request starts after it
	events  sync.WaitGroup // requests to the framework's CloudEvent path, waited for by wait
}

// wait waits for every request sent.
func (g *loadGen) wait() { g.events.Wait() }

// isFrameworkEvent reports whether invocation seq goes through the
// framework's CloudEvents receiver (see one).
func isFrameworkEvent(seq uint64) bool { return seq%8 == 7 }

// start runs invocation seq. A phase waits for its invocations, except those
// through the framework's CloudEvents receiver, which may stall there until
// the client gives up whatever the function does: the run waits for them
// at its end, and their counts land in the phase that sent them.
func (g *loadGen) start(wg *sync.WaitGroup, seq uint64, run func()) {
	if isFrameworkEvent(seq) {
		g.events.Go(run)
		return
	}
	wg.Go(run)
}

func newLoadGen(base string, maxRequests int, limit time.Time, timeout time.Duration, leaks *leakWatch, reached func(string) bool) *loadGen {
	tr := &http.Transport{
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	g := &loadGen{
		base:    base,
		tr:      tr,
		client:  &http.Client{Transport: tr, Timeout: timeout},
		leaks:   leaks,
		reached: reached,
		run:     strconv.FormatInt(time.Now().UnixNano(), 36),
		limit:   limit,
	}
	g.left.Store(int64(maxRequests))
	return g
}

// Close closes the generator's idle connections.
func (g *loadGen) Close() { g.tr.CloseIdleConnections() }

// take reserves one request of the budget.
func (g *loadGen) take() bool {
	if time.Now().After(g.limit) {
		return false
	}
	if g.left.Add(-1) < 0 {
		g.left.Add(1)
		return false
	}
	return true
}

// phase sends a steady rate of invocations for dur, plus bursts of burst
// concurrent ones spread evenly over it, and waits for every answer.
// padFor says how much attribute the HTTP function should add.
func (g *loadGen) phase(ctx context.Context, dur time.Duration, rate, bursts, burst int, padFor func(seq uint64) int, ps *phaseStats) {
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(dur)
	next := make([]time.Time, bursts)
	for i := range next {
		next[i] = start.Add(dur * time.Duration(2*i+1) / time.Duration(2*bursts))
	}
	interval := time.Second / time.Duration(max(rate, 1))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for now := time.Now(); now.Before(end) && ctx.Err() == nil; now = time.Now() {
		if len(next) > 0 && !now.Before(next[0]) {
			next = next[1:]
			g.burst(ctx, &wg, burst, padFor, ps)
		}
		if g.take() {
			seq := g.seq.Add(1)
			g.start(&wg, seq, func() { g.one(ctx, seq, padFor(seq), ps) })
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	wg.Wait()
}

// burst starts n invocations at the same moment.
func (g *loadGen) burst(ctx context.Context, wg *sync.WaitGroup, n int, padFor func(uint64) int, ps *phaseStats) {
	gate := make(chan struct{})
	var ready sync.WaitGroup
	for range n {
		if !g.take() {
			break
		}
		seq := g.seq.Add(1)
		ready.Add(1)
		g.start(wg, seq, func() {
			ready.Done()
			<-gate
			g.one(ctx, seq, padFor(seq), ps)
		})
	}
	ready.Wait()
	close(gate)
}

// one sends invocation seq: half go to the HTTP function, three in eight
// to the CloudEvent function through handler.CloudEventHTTP, one in eight to
// it through the framework's own CloudEvents receiver (a smaller share: that
// receiver stalls requests under concurrency, whatever the function does).
// A few ask the function to answer an error of its own. Anything but the
// function's own answer is a failure, except that a CloudEvent the
// framework never passed to the function is counted apart, as stalled in
// the framework.
func (g *loadGen) one(ctx context.Context, seq uint64, pad int, ps *phaseStats) {
	ps.sent.Add(1)
	n := strconv.FormatUint(seq, 10)
	var (
		req        *http.Request
		err        error
		wantStatus = http.StatusOK
		wantBody   = ""
		checkBody  = false
		eventID    = "" // set for the framework's CloudEvent path
	)
	switch seq % 8 {
	case 0, 1, 2, 3:
		switch {
		case seq%29 == 0:
			wantStatus = http.StatusServiceUnavailable
		case seq%31 == 0:
			wantStatus = http.StatusNotFound
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, g.base+httpPath+"?n="+n, nil)
		if err == nil {
			req.Header.Set(headerSeq, n)
			req.Header.Set(headerStatus, strconv.Itoa(wantStatus))
			if pad > 0 {
				req.Header.Set(headerPad, strconv.Itoa(pad))
			}
		}
		wantBody, checkBody = answerBody(wantStatus, n), true
	default:
		id := "soak-" + g.run + "-" + n
		path := eventHTTPPath
		if isFrameworkEvent(seq) {
			path, eventID = eventPath, id
		}
		subject := "ok"
		if seq%23 < 2 {
			subject, wantStatus = "fail", http.StatusInternalServerError
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, g.base+path, strings.NewReader(`{"n":`+n+`}`))
		if err == nil {
			// A binary-mode CloudEvent, as Eventarc delivers it.
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Ce-Specversion", "1.0")
			req.Header.Set("Ce-Id", id)
			req.Header.Set("Ce-Source", "//soak.example.com/load")
			req.Header.Set("Ce-Type", "com.example.soak.v1.invoked")
			req.Header.Set("Ce-Subject", subject)
		}
	}
	if err != nil {
		ps.fail(fmt.Sprintf("request %d: %v", seq, err))
		return
	}
	failed := func(msg string) {
		if eventID != "" && !g.reached(eventID) {
			ps.stall(msg)
			return
		}
		ps.fail(msg)
	}
	start := time.Now()
	resp, err := g.client.Do(req)
	if err != nil {
		g.leaks.err("load generator", err)
		failed(fmt.Sprintf("invocation %d: %v", seq, err))
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	rtt := time.Since(start)
	if err != nil {
		g.leaks.err("load generator", err)
		failed(fmt.Sprintf("invocation %d: reading the answer: %v", seq, err))
		return
	}
	if resp.StatusCode >= 400 {
		g.leaks.text("function answers", string(body))
	}
	switch {
	case resp.StatusCode != wantStatus:
		failed(fmt.Sprintf("invocation %d: status %d, the function answered %d", seq, resp.StatusCode, wantStatus))
	case checkBody && string(body) != wantBody:
		failed(fmt.Sprintf("invocation %d: body %q, the function answered %q", seq, body, wantBody))
	default:
		ps.answer(rtt)
	}
}

// phaseStats collects one phase's invocations.
type phaseStats struct {
	sent, answered, failed atomic.Uint64
	stalled                atomic.Uint64 // CloudEvents the framework never passed to the function

	mu       sync.Mutex
	latency  []time.Duration // invocation: the framework's call of the function to its return
	rtt      []time.Duration // the load generator's request to the end of the answer
	failures []string        // the first few
	stalls   []string        // the first few

	maxFlush     time.Duration // the longest ForceFlush on exit
	maxOverrun   time.Duration // the longest an ExportSpans call ran past its context's deadline
	overrunSpans int           // the spans of that call
}

func (ps *phaseStats) flushed(d time.Duration) {
	ps.mu.Lock()
	ps.maxFlush = max(ps.maxFlush, d)
	ps.mu.Unlock()
}

func (ps *phaseStats) exportReturned(pastDeadline time.Duration, spans int) {
	ps.mu.Lock()
	if pastDeadline > ps.maxOverrun {
		ps.maxOverrun, ps.overrunSpans = pastDeadline, spans
	}
	ps.mu.Unlock()
}

func (ps *phaseStats) invocation(d time.Duration) {
	ps.mu.Lock()
	ps.latency = append(ps.latency, d)
	ps.mu.Unlock()
}

func (ps *phaseStats) answer(rtt time.Duration) {
	ps.answered.Add(1)
	ps.mu.Lock()
	ps.rtt = append(ps.rtt, rtt)
	ps.mu.Unlock()
}

func (ps *phaseStats) stall(msg string) {
	ps.stalled.Add(1)
	ps.mu.Lock()
	if len(ps.stalls) < 5 {
		ps.stalls = append(ps.stalls, msg)
	}
	ps.mu.Unlock()
}

func (ps *phaseStats) fail(msg string) {
	ps.failed.Add(1)
	ps.mu.Lock()
	if len(ps.failures) < 5 {
		ps.failures = append(ps.failures, msg)
	}
	ps.mu.Unlock()
}

// percentiles returns p50, p99 and the maximum of ds.
func percentiles(ds []time.Duration) (p50, p99, maximum time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.5) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return at(0.50), at(0.99), s[len(s)-1]
}
