package export

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// silentProxy forwards TCP connections to target until silence is set:
// from then on the connections opened before stop passing bytes, as a
// connection dropped by a NAT or a proxy does, while new ones work.
type silentProxy struct {
	ln      net.Listener
	silence atomic.Bool
	conns   atomic.Int64
	mu      sync.Mutex
	open    []net.Conn
}

func newSilentProxy(t *testing.T, target string) *silentProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &silentProxy{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.open {
			_ = c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			old := !p.silence.Load() // opened before the silence
			u, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.open = append(p.open, c, u)
			p.mu.Unlock()
			pump := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if n > 0 && !(old && p.silence.Load()) {
						_, _ = dst.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}
			wg.Go(func() { pump(u, c) })
			wg.Go(func() { pump(c, u) })
		}
	})
	return p
}

// TestHTTP2SilentConnectionIsReplaced: over HTTP/2, an export whose
// connection went silent is not stuck on it for its whole budget: the
// default transport's health check closes it and the retry dials anew.
func TestHTTP2SilentConnectionIsReplaced(t *testing.T) {
	var proto atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		proto.Store(r.Proto)
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	p := newSilentProxy(t, srv.Listener.Addr().String())

	tr := newTransport() // the default transport, trusting the test server
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	cfg := testConfig("https://" + p.ln.Addr().String() + "/api/v2/otlp/v1/traces")
	cfg.Timeout = 5 * time.Second
	e := newTestExporter(t, cfg, WithHTTPClient(&http.Client{Transport: tr}))

	if err := e.ExportSpans(t.Context(), testSpans(1)); err != nil {
		t.Fatal(err)
	}
	if got := proto.Load(); got != "HTTP/2.0" {
		t.Fatalf("protocol %v, want HTTP/2.0", got)
	}

	p.silence.Store(true)
	start := time.Now()
	if err := e.ExportSpans(t.Context(), testSpans(1)); err != nil {
		t.Fatalf("export over a silent connection: %v (after %s, %d connections)", err, time.Since(start), p.conns.Load())
	}
	if n := p.conns.Load(); n < 2 {
		t.Errorf("%d connections, want a new one after the silence", n)
	}
}
