package export

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcftrace/gcftrace/ports"
)

// fakeClock makes e's clock run ahead of the real one by the returned
// offset, so that tests skip pauses without sleeping.
func fakeClock(e *Exporter) *atomic.Int64 {
	var offset atomic.Int64
	e.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	return &offset
}

func advance(offset *atomic.Int64, d time.Duration) { offset.Add(int64(d)) }

// switchedClient returns a client whose connections go to addr, or to a
// closed port (connection refused) while refuse is set, and counts dials.
func switchedClient(t *testing.T, addr string) (c *http.Client, refuse *atomic.Bool, dials *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	refuse, dials = &atomic.Bool{}, &atomic.Int64{}
	var d net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		dials.Add(1)
		if refuse.Load() {
			return d.DialContext(ctx, network, closed)
		}
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}, refuse, dials
}

func TestOutageRefused(t *testing.T) {
	var busy atomic.Bool // answer the next request 503
	s := newSink(t, func(http.ResponseWriter, *received, int) int {
		if busy.CompareAndSwap(true, false) {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	client, refuse, dials := switchedClient(t, s.srv.Listener.Addr().String())
	refuse.Store(true)
	log, buf := logBuffer()
	cfg := testConfig(s.url())
	cfg.Timeout = 300 * time.Millisecond
	e := newTestExporter(t, cfg, WithHTTPClient(client), WithLogger(log))
	offset := fakeClock(e)

	spans := testSpans(3)
	err := e.ExportSpans(t.Context(), spans)
	wantRetryable(t, err, spans)
	if n := dials.Load(); n < 2 {
		t.Fatalf("first export dialled %d times, want retries", n)
	}
	if st := e.Stats(); st.Outages != 1 {
		t.Fatalf("Outages = %d, want 1", st.Outages)
	}

	// Down: the next exports fail fast, without a dial.
	before := dials.Load()
	for range 3 {
		err = e.ExportSpans(t.Context(), spans)
		wantRetryable(t, err, spans)
		if msg := err.Error(); !strings.Contains(msg, "endpoint down after") || !strings.Contains(msg, "connection refused") ||
			!strings.Contains(msg, "next try after") {
			t.Errorf("err = %v, want the outage, its cause and the next try named", err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v wraps DeadlineExceeded: a fast failure is not the caller's deadline", err)
		}
	}
	if n := dials.Load() - before; n != 0 {
		t.Fatalf("exports while down dialled %d times, want 0", n)
	}
	if st := e.Stats(); st.Failed != 4*3 {
		t.Errorf("Failed = %d, want 12: fast failures count", st.Failed)
	}

	// After the first pause (1s ±20%) one export probes, with one dial;
	// still refused, so the pause doubles (2s ±20%).
	advance(offset, 1300*time.Millisecond)
	before = dials.Load()
	err = e.ExportSpans(t.Context(), spans)
	wantRetryable(t, err, spans)
	if n := dials.Load() - before; n != 1 {
		t.Fatalf("probe dialled %d times, want 1", n)
	}
	if !strings.Contains(err.Error(), "probe") {
		t.Errorf("err = %v, want the probe named", err)
	}
	advance(offset, 1500*time.Millisecond)
	wantRetryable(t, e.ExportSpans(t.Context(), spans), spans)
	if n := dials.Load() - before; n != 1 {
		t.Fatalf("dialled %d times 1.5s after a failed probe, want no dial (pause doubled)", n)
	}

	// The endpoint is back: the next probe succeeds and ends the outage.
	refuse.Store(false)
	advance(offset, time.Second)
	if err := e.ExportSpans(t.Context(), spans); err != nil {
		t.Fatalf("probe after recovery: %v", err)
	}
	if n := len(s.requests()); n != 1 {
		t.Fatalf("endpoint got %d requests, want the probe's", n)
	}
	// Full retries again: a 503 is retried within the export.
	busy.Store(true)
	if err := e.ExportSpans(t.Context(), spans); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if n := len(s.requests()); n != 3 {
		t.Errorf("endpoint got %d requests, want 3 (the 503 retried)", n)
	}
	if st := e.Stats(); st.Outages != 1 || st.Exported != 6 {
		t.Errorf("Stats = %+v, want 1 outage and 6 spans exported", st)
	}

	logs := buf.String()
	if n := strings.Count(logs, "endpoint is unreachable"); n != 1 {
		t.Errorf("logged the outage %d times, want once:\n%s", n, logs)
	}
	if n := strings.Count(logs, "endpoint answers again"); n != 1 {
		t.Errorf("logged the recovery %d times, want once:\n%s", n, logs)
	}
	checkNoSecret(t, err, buf)
}

// stormExporter returns an exporter with a 300 ms timeout whose endpoint
// answers code, 503 until the test changes it.
func stormExporter(t *testing.T) (e *Exporter, s *sink, code *atomic.Int64) {
	code = new(atomic.Int64)
	code.Store(http.StatusServiceUnavailable)
	s = newSink(t, func(http.ResponseWriter, *received, int) int { return int(code.Load()) })
	cfg := testConfig(s.url())
	cfg.Timeout = 300 * time.Millisecond
	return newTestExporter(t, cfg), s, code
}

func TestOutage503Storm(t *testing.T) {
	e, s, code := stormExporter(t)
	offset := fakeClock(e)

	spans := testSpans(2)
	wantRetryable(t, e.ExportSpans(t.Context(), spans), spans)
	first := len(s.requests())
	if first < 2 {
		t.Fatalf("first export sent %d requests, want retries", first)
	}
	err := e.ExportSpans(t.Context(), spans)
	wantRetryable(t, err, spans)
	if !strings.Contains(err.Error(), "endpoint down after") || !strings.Contains(err.Error(), "503") {
		t.Errorf("err = %v, want the outage and the 503 named", err)
	}
	if n := len(s.requests()); n != first {
		t.Fatalf("export while down sent %d requests", n-first)
	}

	// The probe gets a 503: one request, and the pause doubles.
	advance(offset, 1300*time.Millisecond)
	err = e.ExportSpans(t.Context(), spans)
	wantRetryable(t, err, spans)
	if n := len(s.requests()) - first; n != 1 {
		t.Fatalf("probe sent %d requests, want 1", n)
	}
	e.outage.mu.Lock()
	pause := e.outage.pause
	e.outage.mu.Unlock()
	if pause != 2*DefaultOutagePause {
		t.Errorf("pause after a failed probe = %s, want %s", pause, 2*DefaultOutagePause)
	}

	// A 400 is a permanent rejection, but the endpoint answered: the
	// outage ends, and the next export goes out at once.
	code.Store(http.StatusBadRequest)
	advance(offset, 2500*time.Millisecond)
	if err := e.ExportSpans(t.Context(), spans); !errors.Is(err, ports.ErrExportRejected) {
		t.Fatalf("probe answered 400: err = %v, want rejected", err)
	}
	code.Store(http.StatusOK)
	if err := e.ExportSpans(t.Context(), spans); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	if n := len(s.requests()) - first; n != 3 {
		t.Errorf("sent %d requests since the storm, want 3", n)
	}
	if e.outage.down.Load() {
		t.Error("still down after answers")
	}
}

func TestOutageNotFromThrottlingOrToken(t *testing.T) {
	tests := []struct {
		name string
		give func(w http.ResponseWriter, n int) int
	}{
		{name: "429 Retry-After beyond budget", give: func(w http.ResponseWriter, _ int) int {
			w.Header().Set("Retry-After", "120")
			return http.StatusTooManyRequests
		}},
		{name: "429", give: func(http.ResponseWriter, int) int { return http.StatusTooManyRequests }},
		{name: "429 then past the deadline", give: func(_ http.ResponseWriter, n int) int {
			if n > 1 {
				time.Sleep(500 * time.Millisecond) // past the exporter's 300ms
			}
			return http.StatusTooManyRequests
		}},
		{name: "401", give: func(http.ResponseWriter, int) int { return http.StatusUnauthorized }},
		{name: "403", give: func(http.ResponseWriter, int) int { return http.StatusForbidden }},
		{name: "500", give: func(http.ResponseWriter, int) int { return http.StatusInternalServerError }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, func(w http.ResponseWriter, _ *received, n int) int { return tt.give(w, n) })
			log, buf := logBuffer()
			cfg := testConfig(s.url())
			cfg.Timeout = 300 * time.Millisecond
			e := newTestExporter(t, cfg, WithLogger(log))
			if err := e.ExportSpans(t.Context(), testSpans(2)); err == nil {
				t.Fatal("export succeeded")
			}
			if st := e.Stats(); st.Outages != 0 || e.outage.down.Load() {
				t.Errorf("Outages = %d, down = %t, want no outage", st.Outages, e.outage.down.Load())
			}
			if strings.Contains(buf.String(), "unreachable") {
				t.Errorf("logged an outage:\n%s", buf)
			}
		})
	}
}

// TestOutageHanging covers the deadline as an outage, a probe with one
// attempt over its whole budget, fast failures while it runs, and a
// cancelled export that says nothing about the endpoint.
func TestOutageHanging(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer srv.Close()

	t.Run("cancelled", func(t *testing.T) {
		e := newTestExporter(t, testConfig(srv.URL+"/v1/traces"))
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		if err := e.ExportSpans(ctx, testSpans(1)); !Retryable(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
		if st := e.Stats(); st.Outages != 0 {
			t.Errorf("Outages = %d after a cancelled export, want 0", st.Outages)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		cfg := testConfig(srv.URL + "/v1/traces")
		cfg.Timeout = 1200 * time.Millisecond // an export's attempt would be cut at 600ms and retried
		e := newTestExporter(t, cfg)
		offset := fakeClock(e)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		if err := e.ExportSpans(ctx, testSpans(1)); !Retryable(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
		if st := e.Stats(); st.Outages != 1 {
			t.Fatalf("Outages = %d after the deadline, want 1", st.Outages)
		}

		// The probe hangs for its whole budget with one attempt; the
		// exports that come meanwhile fail fast.
		advance(offset, 1300*time.Millisecond)
		before := hits.Load()
		const workers = 4
		errs := make(chan error, workers)
		for range workers {
			go func() { errs <- e.ExportSpans(t.Context(), testSpans(1)) }()
		}
		var probes int
		for range workers {
			err := <-errs
			if !Retryable(err) {
				t.Errorf("err = %v, want retryable", err)
			}
			if strings.Contains(err.Error(), "(probe") {
				probes++
			}
		}
		if n := hits.Load() - before; n != 1 || probes != 1 {
			t.Errorf("%d requests from %d probes, want 1 from 1", n, probes)
		}
		if st := e.Stats(); st.Retries != 0 {
			t.Errorf("Retries = %d, want 0: the probe's attempt is not cut and retried", st.Retries)
		}
	})
}

func TestOutagePauseCapped(t *testing.T) {
	var g outageGate
	now := time.Now()
	cause := errors.New("refused")
	g.fail(now, cause, false)
	var pause time.Duration
	for range 20 {
		pause, _ = g.fail(now, cause, true)
		if d := g.until.Sub(now); d < pause*4/5 || d > pause*6/5 {
			t.Fatalf("pause %s ends after %s, want within ±20%%", pause, d)
		}
	}
	if pause != DefaultMaxOutagePause {
		t.Errorf("pause = %s, want capped at %s", pause, DefaultMaxOutagePause)
	}
}

func TestOutagePauseOff(t *testing.T) {
	g := outageGate{first: -1, max: DefaultMaxOutagePause}
	if pause, first := g.fail(time.Now(), errors.New("refused"), false); pause != 0 || first {
		t.Fatalf("fail with the pause off = %s, %v; want no outage", pause, first)
	}
	if probe, err := g.check(time.Now, false); probe || err != nil {
		t.Fatalf("check with the pause off = %v, %v; want exports to go through", probe, err)
	}
}

func TestOutagePauseConfigured(t *testing.T) {
	g := outageGate{first: 100 * time.Millisecond, max: DefaultMaxOutagePause}
	now := time.Now()
	if pause, _ := g.fail(now, errors.New("refused"), false); pause != 100*time.Millisecond {
		t.Fatalf("first pause = %s, want the configured 100ms", pause)
	}
}

func TestMaxOutagePauseConfigured(t *testing.T) {
	for _, tc := range []struct {
		first, max, want time.Duration
	}{
		{100 * time.Millisecond, 400 * time.Millisecond, 400 * time.Millisecond},
		{time.Second, 0, DefaultMaxOutagePause},
		{time.Second, 100 * time.Millisecond, time.Second}, // below OutagePause: OutagePause caps it
	} {
		cfg := NewDefaultConfig()
		cfg.Endpoint = "http://127.0.0.1:1/api/v2/otlp/v1/traces"
		cfg.OutagePause, cfg.MaxOutagePause = tc.first, tc.max
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		cause := errors.New("refused")
		e.outage.fail(now, cause, false)
		var pause time.Duration
		for range 20 {
			pause, _ = e.outage.fail(now, cause, true)
		}
		if pause != tc.want {
			t.Errorf("OutagePause %s, MaxOutagePause %s: pause after 20 failed probes = %s, want %s", tc.first, tc.max, pause, tc.want)
		}
		if err := e.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOutageFinalExportProbes: during a pause, exports fail fast without a
// request, but the final export before shutdown makes one attempt: nothing
// comes after it, so failing fast would only drop spans the endpoint may
// take again.
func TestOutageFinalExportProbes(t *testing.T) {
	e, s, code := stormExporter(t)
	fakeClock(e)

	spans := testSpans(2)
	wantRetryable(t, e.ExportSpans(t.Context(), spans), spans)
	before := len(s.requests())
	wantRetryable(t, e.ExportSpans(t.Context(), spans), spans)
	if n := len(s.requests()) - before; n != 0 {
		t.Fatalf("export during the pause sent %d requests, want none", n)
	}

	// Still down: the final export makes exactly one attempt, not retried.
	final := ports.WithFinalExport(t.Context())
	wantRetryable(t, e.ExportSpans(final, spans), spans)
	if n := len(s.requests()) - before; n != 1 {
		t.Fatalf("final export while down sent %d requests, want 1 (a probe)", n)
	}

	// The endpoint is back, still within the pause: the final export
	// delivers.
	code.Store(http.StatusOK)
	if err := e.ExportSpans(final, spans); err != nil {
		t.Fatalf("final export after recovery: %v", err)
	}
	if n := len(s.requests()) - before; n != 2 {
		t.Errorf("sent %d requests, want 2", n)
	}
	if e.outage.down.Load() {
		t.Error("still down after the final export was answered")
	}
}
