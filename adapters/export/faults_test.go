package export

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gcftrace/gcftrace/ports"
)

// checkNoSecret fails if the token shows up in err or in the log.
func checkNoSecret(t *testing.T, err error, log *syncBuffer) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "SECRETTOKEN") {
		t.Errorf("error contains the token: %v", err)
	}
	if log != nil && strings.Contains(log.String(), "SECRETTOKEN") {
		t.Errorf("log contains the token: %s", log)
	}
}

func wantRetryable(t *testing.T, err error, spans []sdktrace.ReadOnlySpan) {
	t.Helper()
	var re *RetryableError
	if !errors.As(err, &re) || !Retryable(err) {
		t.Fatalf("err = %v, want a *RetryableError", err)
	}
	if errors.Is(err, ports.ErrExportRejected) {
		t.Errorf("err = %v wraps ErrExportRejected", err)
	}
	if len(re.Spans) != len(spans) {
		t.Fatalf("RetryableError.Spans has %d spans, want %d", len(re.Spans), len(spans))
	}
	for i := range spans {
		if re.Spans[i] != spans[i] {
			t.Errorf("RetryableError.Spans[%d] is not the span given", i)
		}
	}
}

func TestFaultRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	log, buf := logBuffer()
	cfg := testConfig("http://" + addr + "/api/v2/otlp/v1/traces")
	cfg.Timeout = 400 * time.Millisecond
	e := newTestExporter(t, cfg, WithLogger(log))
	spans := testSpans(3)
	start := time.Now()
	err = e.ExportSpans(t.Context(), spans)
	elapsed := time.Since(start)
	wantRetryable(t, err, spans)
	if elapsed > cfg.Timeout+100*time.Millisecond {
		t.Errorf("export took %s, budget %s", elapsed, cfg.Timeout)
	}
	if st := e.Stats(); st.Retries < 2 || st.Failed != 3 {
		t.Errorf("Stats = %+v, want refused connections retried and 3 spans failed", st)
	}
	checkNoSecret(t, err, buf)
}

func TestFaultHanging(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client leaving
		<-r.Context().Done()               // never answers
	}))
	defer srv.Close()

	cfg := testConfig(srv.URL + "/v1/traces")
	e := newTestExporter(t, cfg) // Timeout 10s: the caller's deadline wins
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	spans := testSpans(2)
	start := time.Now()
	err := e.ExportSpans(ctx, spans)
	if elapsed := time.Since(start); elapsed > 400*time.Millisecond {
		t.Errorf("export took %s, deadline 300ms", elapsed)
	}
	wantRetryable(t, err, spans)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
	}
}

func TestFaultTimeoutBoundsExport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL + "/v1/traces")
	cfg.Timeout = 200 * time.Millisecond
	e := newTestExporter(t, cfg)
	start := time.Now()
	err := e.ExportSpans(t.Context(), testSpans(1)) // no deadline on ctx
	if elapsed := time.Since(start); elapsed > 300*time.Millisecond {
		t.Errorf("export took %s, Timeout 200ms", elapsed)
	}
	if !Retryable(err) {
		t.Errorf("err = %v, want retryable", err)
	}
}

func TestFault429RetryAfter(t *testing.T) {
	tests := []struct {
		name string
		give func() string
	}{
		{name: "seconds", give: func() string { return "1" }},
		{name: "http-date", give: func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, func(w http.ResponseWriter, _ *received, n int) int {
				if n == 1 {
					w.Header().Set("Retry-After", tt.give())
					return http.StatusTooManyRequests
				}
				return http.StatusOK
			})
			e := newTestExporter(t, testConfig(s.url()))
			start := time.Now()
			if err := e.ExportSpans(t.Context(), testSpans(2)); err != nil {
				t.Fatalf("ExportSpans: %v", err)
			}
			if elapsed := time.Since(start); elapsed < 900*time.Millisecond {
				t.Errorf("export took %s, want the Retry-After wait (about 1s)", elapsed)
			}
			if st := e.Stats(); st.Requests != 2 || st.Exported != 2 {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}

func TestFault429RetryAfterBeyondBudget(t *testing.T) {
	s := newSink(t, func(w http.ResponseWriter, _ *received, _ int) int {
		w.Header().Set("Retry-After", "120")
		return http.StatusTooManyRequests
	})
	cfg := testConfig(s.url())
	cfg.Timeout = 2 * time.Second
	e := newTestExporter(t, cfg)
	spans := testSpans(2)
	start := time.Now()
	err := e.ExportSpans(t.Context(), spans)
	if elapsed := time.Since(start); elapsed > 500*time.Millisecond {
		t.Errorf("export took %s; a wait past the deadline must not start", elapsed)
	}
	wantRetryable(t, err, spans)
	if !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "no time left") {
		t.Errorf("err = %v, want the status and the reason", err)
	}

	// The receiver asked for 2 minutes: the next export does not knock.
	err = e.ExportSpans(t.Context(), spans)
	wantRetryable(t, err, spans)
	if n := len(s.requests()); n != 1 {
		t.Errorf("got %d requests, want 1", n)
	}
}

func TestFault503StormClears(t *testing.T) {
	const storm = 4
	s := newSink(t, func(_ http.ResponseWriter, _ *received, n int) int {
		if n <= storm {
			return []int{http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout}[n%3]
		}
		return http.StatusOK
	})
	e := newTestExporter(t, testConfig(s.url()))
	start := time.Now()
	if err := e.ExportSpans(t.Context(), testSpans(5)); err != nil {
		t.Fatalf("ExportSpans: %v", err)
	}
	// Waits: 20-40ms, 60-120ms, 180-360ms, 540-1080ms.
	if elapsed := time.Since(start); elapsed < 800*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("export took %s, want about 0.8-1.6s of backoff", elapsed)
	}
	if st := e.Stats(); st.Requests != storm+1 || st.Retries != storm || st.Exported != 5 {
		t.Errorf("Stats = %+v", st)
	}
	if got := countSpans(s.requests()[storm]); got != 5 {
		t.Errorf("the accepted request held %d spans, want 5", got)
	}
}

func TestFaultFirstRetryIsFast(t *testing.T) {
	var first, second atomic.Int64
	s := newSink(t, func(_ http.ResponseWriter, _ *received, n int) int {
		if n == 1 {
			first.Store(time.Now().UnixNano())
			return http.StatusServiceUnavailable
		}
		second.Store(time.Now().UnixNano())
		return http.StatusOK
	})
	e := newTestExporter(t, testConfig(s.url()))
	if err := e.ExportSpans(t.Context(), testSpans(1)); err != nil {
		t.Fatal(err)
	}
	if gap := time.Duration(second.Load() - first.Load()); gap < 15*time.Millisecond || gap > 300*time.Millisecond {
		t.Errorf("first retry after %s, want 20-40ms", gap)
	}
}

func TestFault503StormPastDeadline(t *testing.T) {
	s := newSink(t, func(_ http.ResponseWriter, _ *received, _ int) int { return http.StatusServiceUnavailable })
	e := newTestExporter(t, testConfig(s.url()))
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	spans := testSpans(2)
	start := time.Now()
	err := e.ExportSpans(ctx, spans)
	if elapsed := time.Since(start); elapsed > 500*time.Millisecond {
		t.Errorf("export took %s, past its deadline", elapsed)
	}
	wantRetryable(t, err, spans)
	if !strings.Contains(err.Error(), "503") {
		t.Errorf("err = %v, want the status named", err)
	}
}

func TestFault413Splits(t *testing.T) {
	const accept = 3000 // the receiver's own limit, below MaxRequestBytes
	s := newSink(t, func(_ http.ResponseWriter, r *received, _ int) int {
		if len(r.Body) > accept {
			return http.StatusRequestEntityTooLarge
		}
		return http.StatusOK
	})
	cfg := testConfig(s.url())
	cfg.Compression = CompressionNone
	e := newTestExporter(t, cfg)
	spans := testSpans(20) // about 550 bytes each
	if err := e.ExportSpans(t.Context(), spans); err != nil {
		t.Fatalf("ExportSpans: %v", err)
	}
	var got int
	for _, r := range s.requests() {
		if len(r.Body) <= accept {
			got += countSpans(r)
		}
	}
	if got != len(spans) {
		t.Errorf("receiver accepted %d spans, want %d", got, len(spans))
	}
	if st := e.Stats(); st.Exported != uint64(len(spans)) || len(st.Dropped) != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestFault413SingleSpanDropped(t *testing.T) {
	s := newSink(t, func(_ http.ResponseWriter, _ *received, _ int) int { return http.StatusRequestEntityTooLarge })
	e := newTestExporter(t, testConfig(s.url()))
	err := e.ExportSpans(t.Context(), testSpans(1))
	if !errors.Is(err, ports.ErrExportRejected) {
		t.Fatalf("err = %v, want rejected", err)
	}
	if got := e.Stats().Dropped[DropTooLarge]; got != 1 {
		t.Errorf("Dropped[too_large] = %d, want 1", got)
	}
}

func TestFault401(t *testing.T) {
	var code atomic.Int64
	code.Store(http.StatusUnauthorized)
	s := newSink(t, func(_ http.ResponseWriter, _ *received, _ int) int { return int(code.Load()) })
	log, buf := logBuffer()
	e := newTestExporter(t, testConfig(s.url()), WithLogger(log))
	var offset atomic.Int64
	e.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }

	err := e.ExportSpans(t.Context(), testSpans(2))
	if !errors.Is(err, ports.ErrExportRejected) || !strings.Contains(err.Error(), "openTelemetryTrace.ingest") {
		t.Fatalf("err = %v, want rejected naming the scope", err)
	}
	// Paused: dropped without a request.
	err = e.ExportSpans(t.Context(), testSpans(3))
	if !errors.Is(err, ports.ErrExportRejected) {
		t.Fatalf("err = %v, want rejected", err)
	}
	if n := len(s.requests()); n != 1 {
		t.Fatalf("got %d requests, want 1 while paused", n)
	}
	// After the first pause (30s) export tries again; still refused, so
	// the pause doubles.
	offset.Store(int64(31 * time.Second))
	_ = e.ExportSpans(t.Context(), testSpans(1))
	offset.Store(int64(31*time.Second + 59*time.Second))
	_ = e.ExportSpans(t.Context(), testSpans(1))
	if n := len(s.requests()); n != 2 {
		t.Fatalf("got %d requests, want 2 (second pause is 60s)", n)
	}
	// The token works again.
	code.Store(http.StatusOK)
	offset.Store(int64(31*time.Second + 61*time.Second))
	if err := e.ExportSpans(t.Context(), testSpans(1)); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if got := e.Stats().Dropped[DropUnauthorized]; got != 2+3+1+1 {
		t.Errorf("Dropped[unauthorized] = %d, want 7", got)
	}
	logs := buf.String()
	if n := strings.Count(logs, "openTelemetryTrace.ingest"); n != 1 {
		t.Errorf("logged the token problem %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs, "accepts the API token again") {
		t.Errorf("recovery not logged:\n%s", logs)
	}
	checkNoSecret(t, err, buf)
}

func TestAuthPauseCapped(t *testing.T) {
	var g authGate
	now := time.Now()
	var pause time.Duration
	for range 20 {
		pause, _, _ = g.fail(now)
		now = now.Add(pause)
	}
	if pause != authPauseMax {
		t.Errorf("pause = %s, want capped at %s", pause, authPauseMax)
	}
}

func TestFaultRedirectNotFollowed(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			s := newSink(t, func(w http.ResponseWriter, _ *received, _ int) int {
				w.Header().Set("Location", other.URL+"/steal")
				return code
			})
			e := newTestExporter(t, testConfig(s.url()))
			err := e.ExportSpans(t.Context(), testSpans(1))
			if !errors.Is(err, ports.ErrExportRejected) || !strings.Contains(err.Error(), other.URL+"/steal") {
				t.Fatalf("err = %v, want rejected naming the location", err)
			}
			if n := len(s.requests()); n != 1 {
				t.Errorf("got %d requests, want 1", n)
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
}

func TestFaultTruncatedResponse(t *testing.T) {
	s := newSink(t, func(w http.ResponseWriter, _ *received, _ int) int {
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte{0x0a, 0x05, 0x08})
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return 0
	})
	e := newTestExporter(t, testConfig(s.url()))
	if err := e.ExportSpans(t.Context(), testSpans(2)); err != nil {
		t.Fatalf("ExportSpans: %v (the 200 was received)", err)
	}
	if st := e.Stats(); st.Exported != 2 || st.Rejected != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestFaultConnectionDropped(t *testing.T) {
	s := newSink(t, func(w http.ResponseWriter, _ *received, n int) int {
		if n == 1 {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close() // no answer at all: like a reset
			}
			return 0
		}
		return http.StatusOK
	})
	e := newTestExporter(t, testConfig(s.url()))
	if err := e.ExportSpans(t.Context(), testSpans(2)); err != nil {
		t.Fatalf("ExportSpans: %v", err)
	}
	if st := e.Stats(); st.Retries != 1 || st.Exported != 2 {
		t.Errorf("Stats = %+v, want one retry", st)
	}
}

func TestFaultNonProtobuf200(t *testing.T) {
	s := newSink(t, func(w http.ResponseWriter, _ *received, _ int) int {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<html><body>OK \xff\xfe</body></html>"))
		return 0
	})
	e := newTestExporter(t, testConfig(s.url()))
	if err := e.ExportSpans(t.Context(), testSpans(2)); err != nil {
		t.Fatalf("ExportSpans: %v", err)
	}
	if st := e.Stats(); st.Exported != 2 || st.Rejected != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestPartialSuccess(t *testing.T) {
	proto := func() []byte {
		var ps []byte
		ps = protowire.AppendTag(ps, 1, protowire.VarintType)
		ps = protowire.AppendVarint(ps, 2)
		ps = protowire.AppendTag(ps, 2, protowire.BytesType)
		ps = protowire.AppendString(ps, "span end time out of range")
		var b []byte
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		return protowire.AppendBytes(b, ps)
	}
	tests := []struct {
		name        string
		contentType string
		give        []byte
	}{
		{name: "protobuf", contentType: "application/x-protobuf", give: proto()},
		{name: "json", contentType: "application/json",
			give: []byte(`{"partialSuccess":{"rejectedSpans":"2","errorMessage":"span end time out of range"}}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, func(w http.ResponseWriter, _ *received, _ int) int {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(tt.give)
				return 0
			})
			log, buf := logBuffer()
			e := newTestExporter(t, testConfig(s.url()), WithLogger(log))
			for range 3 {
				if err := e.ExportSpans(t.Context(), testSpans(3)); err != nil {
					t.Fatalf("ExportSpans: %v", err)
				}
			}
			if st := e.Stats(); st.Exported != 9 || st.Rejected != 6 {
				t.Errorf("Stats = %+v, want 9 exported, 6 rejected", st)
			}
			if n := strings.Count(buf.String(), "span end time out of range"); n != 1 {
				t.Errorf("partial success logged %d times, want once a minute:\n%s", n, buf)
			}
		})
	}
}

func TestParsePartialSuccessGarbage(t *testing.T) {
	for _, give := range [][]byte{
		{0xff, 0xff, 0xff},
		{0x0a, 0x10, 0x08},
		[]byte("not protobuf at all, just text"),
		{0x0a, 0x02, 0x08, 0xff},
	} {
		if n, _ := parsePartialSuccess("application/x-protobuf", give); n != 0 {
			t.Errorf("parsePartialSuccess(%q) = %d, want 0", give, n)
		}
	}
	if n, _ := parsePartialSuccess("application/json", []byte("{")); n != 0 {
		t.Errorf("bad JSON: %d, want 0", n)
	}
}

func TestSplitBySize(t *testing.T) {
	s := newSink(t, nil)
	cfg := testConfig(s.url())
	cfg.MaxRequestBytes = 4000
	cfg.Compression = CompressionNone
	e := newTestExporter(t, cfg)
	spans := testSpans(30)
	if err := e.ExportSpans(t.Context(), spans); err != nil {
		t.Fatalf("ExportSpans: %v", err)
	}
	reqs := s.requests()
	if len(reqs) < 4 {
		t.Errorf("got %d requests, want the batch split", len(reqs))
	}
	for _, r := range reqs {
		if r.Wire > cfg.MaxRequestBytes {
			t.Errorf("request of %d bytes, limit %d", r.Wire, cfg.MaxRequestBytes)
		}
	}
	if got := len(s.spans()); got != len(spans) {
		t.Errorf("received %d spans, want %d", got, len(spans))
	}
}

func TestTooLargeSpanDropped(t *testing.T) {
	s := newSink(t, nil)
	cfg := testConfig(s.url())
	cfg.MaxRequestBytes = 2000
	e := newTestExporter(t, cfg)
	big := bigSpan(3000)
	spans := append(testSpans(2), big)
	err := e.ExportSpans(t.Context(), spans)
	if !errors.Is(err, ports.ErrExportRejected) || Retryable(err) {
		t.Fatalf("err = %v, want rejected", err)
	}
	if !strings.Contains(err.Error(), "1 of 3 spans dropped") {
		t.Errorf("err = %v, want the count", err)
	}
	if got := len(s.spans()); got != 2 {
		t.Errorf("received %d spans, want the 2 that fit", got)
	}
	if st := e.Stats(); st.Dropped[DropTooLarge] != 1 || st.Exported != 2 {
		t.Errorf("Stats = %+v", st)
	}
}

// TestRetryableListsUndelivered splits a batch into several requests; the
// receiver accepts the first and then fails: only the rest is handed back.
func TestRetryableListsUndelivered(t *testing.T) {
	s := newSink(t, func(_ http.ResponseWriter, _ *received, n int) int {
		if n == 1 {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	})
	cfg := testConfig(s.url())
	cfg.MaxRequestBytes = 2000
	cfg.Compression = CompressionNone
	e := newTestExporter(t, cfg)
	spans := testSpans(9)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err := e.ExportSpans(ctx, spans)
	first := countSpans(s.requests()[0])
	wantRetryable(t, err, spans[first:])
	if st := e.Stats(); st.Exported != uint64(first) || st.Failed != uint64(len(spans)-first) {
		t.Errorf("Stats = %+v", st)
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()

	t.Run("verified", func(t *testing.T) {
		e := newTestExporter(t, testConfig(srv.URL+"/v1/traces"), WithHTTPClient(srv.Client()))
		if err := e.ExportSpans(t.Context(), testSpans(1)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown authority is permanent", func(t *testing.T) {
		e := newTestExporter(t, testConfig(srv.URL+"/v1/traces"))
		err := e.ExportSpans(t.Context(), testSpans(1))
		if !errors.Is(err, ports.ErrExportRejected) {
			t.Fatalf("err = %v, want rejected", err)
		}
		if st := e.Stats(); st.Requests != 1 {
			t.Errorf("Requests = %d, want 1 (no retry)", st.Requests)
		}
	})
	t.Run("skip verify refused", func(t *testing.T) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		if _, err := New(testConfig(srv.URL+"/v1/traces"), WithHTTPClient(c)); err == nil {
			t.Fatal("New accepted a client that skips TLS verification")
		}
	})
}

func TestWarmUpReusesConnection(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 && r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()

	e := newTestExporter(t, testConfig(srv.URL+"/v1/traces"), WithHTTPClient(srv.Client()))
	if err := e.WarmUp(t.Context()); err != nil {
		t.Fatalf("WarmUp: %v", err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("after WarmUp: %d connections, want 1", n)
	}
	for range 3 {
		if err := e.ExportSpans(t.Context(), testSpans(2)); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("after exports: %d connections, want the warm one reused", n)
	}
}

func TestWarmUpReportsBadToken(t *testing.T) {
	s := newSink(t, func(http.ResponseWriter, *received, int) int { return http.StatusForbidden })
	e := newTestExporter(t, testConfig(s.url()))
	err := e.WarmUp(t.Context())
	if err == nil || !strings.Contains(err.Error(), "openTelemetryTrace.ingest") {
		t.Fatalf("WarmUp = %v, want the scope named", err)
	}
	checkNoSecret(t, err, nil)
}

func TestShutdownCancelsHangingExport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer srv.Close()
	e, err := New(testConfig(srv.URL + "/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.ExportSpans(context.Background(), testSpans(1)) }()
	time.Sleep(50 * time.Millisecond)

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := e.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	select {
	case err := <-done:
		if !Retryable(err) {
			t.Errorf("cancelled export: %v, want retryable", err)
		}
	case <-time.After(time.Second):
		t.Fatal("export still running after Shutdown")
	}
}

func TestConcurrentExports(t *testing.T) {
	s := newSink(t, nil)
	e := newTestExporter(t, testConfig(s.url()))
	const workers, each = 8, 5
	errs := make(chan error, workers*each)
	for range workers {
		go func() {
			for range each {
				errs <- e.ExportSpans(t.Context(), testSpans(4))
			}
		}()
	}
	for range workers * each {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := len(s.spans()); got != workers*each*4 {
		t.Errorf("received %d spans, want %d", got, workers*each*4)
	}
}

func countSpans(r received) int {
	n := 0
	if r.Data == nil {
		return 0
	}
	for _, rs := range r.Data.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			n += len(ss.Spans)
		}
	}
	return n
}

// TestFaultStuckAttemptRetried hangs the first request: the attempt gets
// half of the budget, then a retry on a fresh connection gets through.
func TestFaultStuckAttemptRetried(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if n.Add(1) == 1 {
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL + "/v1/traces")
	cfg.Timeout = 3 * time.Second
	e := newTestExporter(t, cfg)
	start := time.Now()
	if err := e.ExportSpans(t.Context(), testSpans(1)); err != nil {
		t.Fatalf("ExportSpans: %v", err)
	}
	if elapsed := time.Since(start); elapsed < 1400*time.Millisecond {
		t.Errorf("export took %s, want about 1.5s (half the budget, then a retry)", elapsed)
	}
	if st := e.Stats(); st.Retries != 1 {
		t.Errorf("Retries = %d, want 1", st.Retries)
	}
}

// TestFault401SplitBatch sends a batch that needs several requests: after
// the first 401 the rest is dropped without more requests.
func TestFault401SplitBatch(t *testing.T) {
	s := newSink(t, func(http.ResponseWriter, *received, int) int { return http.StatusUnauthorized })
	cfg := testConfig(s.url())
	cfg.MaxRequestBytes = 2000
	e := newTestExporter(t, cfg)
	err := e.ExportSpans(t.Context(), testSpans(12))
	if !errors.Is(err, ports.ErrExportRejected) {
		t.Fatalf("err = %v, want rejected", err)
	}
	if n := len(s.requests()); n != 1 {
		t.Errorf("got %d requests, want 1", n)
	}
	if got := e.Stats().Dropped[DropUnauthorized]; got != 12 {
		t.Errorf("Dropped[unauthorized] = %d, want 12", got)
	}
}

// TestReceiverEchoingTheTokenDoesNotLeakIt: what the receiver sends back (a
// partial-success message, a redirect's Location) may quote the token; it
// is redacted in the log and in the error as it is in an error body.
func TestReceiverEchoingTheTokenDoesNotLeakIt(t *testing.T) {
	t.Run("partial success", func(t *testing.T) {
		s := newSink(t, func(w http.ResponseWriter, _ *received, _ int) int {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"partialSuccess":{"rejectedSpans":"1","errorMessage":"bad span; header was Api-Token dt0c01.SECRETTOKEN"}}`))
			return 0
		})
		log, buf := logBuffer()
		e := newTestExporter(t, testConfig(s.url()), WithLogger(log))
		err := e.ExportSpans(t.Context(), testSpans(2))
		if err != nil {
			t.Fatalf("ExportSpans: %v", err)
		}
		if !strings.Contains(buf.String(), "bad span; header was Api-Token") {
			t.Errorf("the partial success was not logged:\n%s", buf)
		}
		checkNoSecret(t, err, buf)
	})
	t.Run("redirect", func(t *testing.T) {
		s := newSink(t, func(w http.ResponseWriter, _ *received, _ int) int {
			w.Header().Set("Location", "https://elsewhere.example/dt0c01.SECRETTOKEN/v1/traces")
			return http.StatusFound
		})
		log, buf := logBuffer()
		e := newTestExporter(t, testConfig(s.url()), WithLogger(log))
		err := e.ExportSpans(t.Context(), testSpans(2))
		if err == nil || !strings.Contains(err.Error(), "redirect to https://elsewhere.example/") {
			t.Fatalf("err = %v, want the redirect named", err)
		}
		checkNoSecret(t, err, buf)
	})
}

// TestWarmUpErrorKeepsQuerySecrets: a warm-up that fails names the endpoint
// with its query values redacted, as exports do.
func TestWarmUpErrorKeepsQuerySecrets(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1/api/v2/otlp/v1/traces?Api-Token=QUERYSECRET")
	e := newTestExporter(t, cfg)
	err := e.WarmUp(t.Context())
	if err == nil {
		t.Fatal("WarmUp against a closed port succeeded")
	}
	if strings.Contains(err.Error(), "QUERYSECRET") {
		t.Errorf("error shows the query secret: %v", err)
	}
	checkNoSecret(t, err, nil)
}

// TestRejectedSpansBoundedByTheRequest: a receiver claiming more rejected
// spans than the request held does not inflate Stats.Rejected.
func TestRejectedSpansBoundedByTheRequest(t *testing.T) {
	s := newSink(t, func(w http.ResponseWriter, _ *received, _ int) int {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"partialSuccess":{"rejectedSpans":"9223372036854775807"}}`))
		return 0
	})
	e := newTestExporter(t, testConfig(s.url()))
	for range 3 {
		if err := e.ExportSpans(t.Context(), testSpans(2)); err != nil {
			t.Fatalf("ExportSpans: %v", err)
		}
	}
	if st := e.Stats(); st.Rejected != 6 {
		t.Errorf("Rejected = %d, want 6: at most the spans sent", st.Rejected)
	}
}
