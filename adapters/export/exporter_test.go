package export

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/gcftrace/gcftrace/ports"
)

func TestExportDelivers(t *testing.T) {
	for _, compression := range []string{CompressionGzip, CompressionNone} {
		t.Run(compression, func(t *testing.T) {
			s := newSink(t, nil)
			cfg := testConfig(s.url())
			cfg.Compression = compression
			cfg.CompressionMinBytes = 1 // compress even these few spans
			cfg.Headers = map[string]string{"X-Tenant": "abc"}
			e := newTestExporter(t, cfg)

			spans := testSpans(3)
			if err := e.ExportSpans(t.Context(), spans); err != nil {
				t.Fatalf("ExportSpans: %v", err)
			}
			reqs := s.requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Err != nil {
				t.Fatalf("decode: %v", r.Err)
			}
			for k, want := range map[string]string{
				"Content-Type":  "application/x-protobuf",
				"Authorization": "Api-Token dt0c01.SECRETTOKEN",
				"X-Tenant":      "abc",
			} {
				if got := r.Header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			wantEnc := ""
			if compression == CompressionGzip {
				wantEnc = "gzip"
			}
			if got := r.Header.Get("Content-Encoding"); got != wantEnc {
				t.Errorf("Content-Encoding = %q, want %q", got, wantEnc)
			}
			want := &tracepb.TracesData{}
			want.ResourceSpans = refTracesData(spans).ResourceSpans
			if !proto.Equal(r.Data, want) {
				t.Errorf("received\n%v\nwant\n%v", r.Data, want)
			}
			st := e.Stats()
			if st.Exported != 3 || st.Requests != 1 || st.Retries != 0 || st.BytesRaw == 0 || st.BytesCompressed == 0 {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}

// TestCompressionMinBytes sends bodies below the threshold as they are and
// the others gzipped, and both arrive intact.
func TestCompressionMinBytes(t *testing.T) {
	one := len(AppendRequest(nil, testSpans(1)))
	tests := []struct {
		name     string
		minBytes int // Config.CompressionMinBytes
		spans    int
		wantEnc  string
	}{
		{name: "default, small body", minBytes: 0, spans: 1, wantEnc: ""},
		{name: "default, large body", minBytes: 0, spans: 20, wantEnc: "gzip"},
		{name: "every body", minBytes: 1, spans: 1, wantEnc: "gzip"},
		{name: "exactly the threshold", minBytes: one, spans: 1, wantEnc: "gzip"},
		{name: "one byte under", minBytes: one + 1, spans: 1, wantEnc: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, nil)
			cfg := testConfig(s.url())
			cfg.CompressionMinBytes = tt.minBytes
			e := newTestExporter(t, cfg)
			spans := testSpans(tt.spans)
			if err := e.ExportSpans(t.Context(), spans); err != nil {
				t.Fatalf("ExportSpans: %v", err)
			}
			reqs := s.requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if got := r.Header.Get("Content-Encoding"); got != tt.wantEnc {
				t.Errorf("Content-Encoding = %q, want %q (body of %d bytes)", got, tt.wantEnc, len(r.Body))
			}
			if r.Err != nil {
				t.Fatalf("decode: %v", r.Err)
			}
			if want := AppendRequest(nil, spans); string(r.Body) != string(want) {
				t.Errorf("received body differs from AppendRequest (%d vs %d bytes)", len(r.Body), len(want))
			}
			st := e.Stats()
			if compressed := st.BytesCompressed != st.BytesRaw; compressed != (tt.wantEnc == "gzip") {
				t.Errorf("Stats: %d bytes raw, %d sent; want compressed %t", st.BytesRaw, st.BytesCompressed, tt.wantEnc == "gzip")
			}
		})
	}
}

func TestExportNoTokenNoAuthorization(t *testing.T) {
	s := newSink(t, nil)
	cfg := testConfig(s.url())
	cfg.Token = ""
	e := newTestExporter(t, cfg)
	if err := e.ExportSpans(t.Context(), testSpans(1)); err != nil {
		t.Fatal(err)
	}
	if got := s.requests()[0].Header.Values("Authorization"); len(got) != 0 {
		t.Errorf("Authorization = %q, want none", got)
	}
}

func TestExportEmptyBatchSendsNothing(t *testing.T) {
	s := newSink(t, nil)
	e := newTestExporter(t, testConfig(s.url()))
	if err := e.ExportSpans(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("got %d requests, want 0", n)
	}
}

func TestExportPermanentStatus(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusNotFound, http.StatusUnsupportedMediaType, http.StatusInternalServerError} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			s := newSink(t, func(w http.ResponseWriter, _ *received, _ int) int {
				w.WriteHeader(code)
				_, _ = w.Write([]byte(`{"error":{"code":400,"message":"bad"}}`))
				return 0
			})
			e := newTestExporter(t, testConfig(s.url()))
			err := e.ExportSpans(t.Context(), testSpans(2))
			if !errors.Is(err, ports.ErrExportRejected) || Retryable(err) {
				t.Fatalf("err = %v, want rejected", err)
			}
			if !strings.Contains(err.Error(), http.StatusText(code)) {
				t.Errorf("err = %v, want the status named", err)
			}
			if strings.Contains(err.Error(), "SECRETTOKEN") {
				t.Errorf("err contains the token: %v", err)
			}
			if n := len(s.requests()); n != 1 {
				t.Errorf("got %d requests, want 1 (no retry)", n)
			}
			if got := e.Stats().Dropped[DropRejected]; got != 2 {
				t.Errorf("Dropped[rejected] = %d, want 2", got)
			}
		})
	}
}

func TestExportRetries503(t *testing.T) {
	s := newSink(t, func(_ http.ResponseWriter, _ *received, n int) int {
		if n < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	e := newTestExporter(t, testConfig(s.url()))
	if err := e.ExportSpans(t.Context(), testSpans(2)); err != nil {
		t.Fatalf("ExportSpans: %v", err)
	}
	st := e.Stats()
	if st.Requests != 3 || st.Retries != 2 || st.Exported != 2 {
		t.Errorf("Stats = %+v, want 3 requests, 2 retries, 2 exported", st)
	}
}

// TestExportRetries503ThroughClient is TestExportRetries503 with a client
// whose Timeout makes every attempt go through http.Client, and one that
// sends the first attempt straight to the transport and retries through the
// client.
func TestExportRetries503ThroughClient(t *testing.T) {
	tests := []struct {
		name   string
		client *http.Client
	}{
		{name: "client with timeout", client: &http.Client{Timeout: 5 * time.Second}},
		{name: "plain client", client: &http.Client{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, func(_ http.ResponseWriter, _ *received, n int) int {
				if n < 3 {
					return http.StatusServiceUnavailable
				}
				return http.StatusOK
			})
			e := newTestExporter(t, testConfig(s.url()), WithHTTPClient(tt.client))
			spans := testSpans(2)
			if err := e.ExportSpans(t.Context(), spans); err != nil {
				t.Fatalf("ExportSpans: %v", err)
			}
			st := e.Stats()
			if st.Requests != 3 || st.Retries != 2 || st.Exported != 2 {
				t.Errorf("Stats = %+v, want 3 requests, 2 retries, 2 exported", st)
			}
			reqs := s.requests()
			if len(reqs) != 3 {
				t.Fatalf("sink got %d requests, want 3", len(reqs))
			}
			want := AppendRequest(nil, spans)
			for i, r := range reqs {
				if string(r.Body) != string(want) {
					t.Errorf("request %d: body of %d bytes differs from the %d bytes sent first", i, len(r.Body), len(want))
				}
			}
		})
	}
}

func TestExportAfterShutdown(t *testing.T) {
	s := newSink(t, nil)
	e := newTestExporter(t, testConfig(s.url()))
	if err := e.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	err := e.ExportSpans(t.Context(), testSpans(1))
	if !errors.Is(err, ports.ErrExportRejected) {
		t.Fatalf("err = %v, want rejected", err)
	}
	if got := e.Stats().Dropped[DropShutdown]; got != 1 {
		t.Errorf("Dropped[shutdown] = %d, want 1", got)
	}
}
