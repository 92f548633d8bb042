package metadata

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gcftrace/gcftrace/adapters/metadata/metadatatest"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		parse func(string) (string, error)
		give  string
		want  string // empty: rejected
	}{
		{"project", parseProjectID, "demo-project", "demo-project"},
		{"project trailing newline", parseProjectID, "demo-project\n", "demo-project"},
		{"project domain scoped", parseProjectID, "example.com:my-project", "example.com:my-project"},
		{"project upper case", parseProjectID, "Demo-Project", ""},
		{"project starts with digit", parseProjectID, "1demo", ""},
		{"project html", parseProjectID, "<!DOCTYPE html><html>", ""},
		{"project empty", parseProjectID, "", ""},
		{"project spaces inside", parseProjectID, "demo project", ""},
		{"numeric", parseNumericProjectID, "123456789012", "123456789012"},
		{"numeric letters", parseNumericProjectID, "12345a", ""},
		{"numeric too long", parseNumericProjectID, strings.Repeat("1", 21), ""},
		{"region path", parseRegion, "projects/123456789012/regions/europe-west3", "europe-west3"},
		{"region bare", parseRegion, "us-central1", "us-central1"},
		{"region long name", parseRegion, "projects/1/regions/northamerica-northeast1", "northamerica-northeast1"},
		{"region path of a zone", parseRegion, "projects/1/zones/europe-west3-1", ""},
		{"region bad path", parseRegion, "projects/x/regions/europe-west3", ""},
		{"region extra segment", parseRegion, "projects/1/regions/europe-west3/x", ""},
		{"region no digit", parseRegion, "projects/1/regions/europe", ""},
		{"zone serverless", parseZone, "projects/123456789012/zones/europe-west3-1", "europe-west3-1"},
		{"zone gce", parseZone, "projects/1/zones/us-central1-a", "us-central1-a"},
		{"zone is a region", parseZone, "projects/1/zones/us-central1", ""},
		{"zone path of a region", parseZone, "projects/1/regions/us-central1-a", ""},
		{"instance gce", parseInstanceID, "4520031799277581759", "4520031799277581759"},
		{"instance cloud run", parseInstanceID, "00bf4bf02d" + strings.Repeat("a1", 60), "00bf4bf02d" + strings.Repeat("a1", 60)},
		{"instance control chars", parseInstanceID, "12\x0034", ""},
		{"instance too long", parseInstanceID, strings.Repeat("1", 1025), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(tt.give)
			if tt.want == "" {
				if !errors.Is(err, errInvalid) {
					t.Errorf("parse(%q) = %q, %v; want errInvalid", tt.give, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("parse(%q) = %q, %v; want %q", tt.give, got, err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range metadatatest.DefaultValues() {
		f.Add(s)
	}
	f.Add("<html>")
	f.Add("projects/1/regions/")
	f.Fuzz(func(t *testing.T, s string) {
		for _, l := range lookups {
			v, err := l.parse(s)
			if err != nil {
				continue
			}
			if v == "" || strings.ContainsAny(v, " \t\r\n<>/\x00") {
				t.Errorf("%s: parse(%q) accepted %q", l.path, s, v)
			}
			if again, err := l.parse(v); err != nil || again != v {
				t.Errorf("%s: parse(%q) = %q is not a fixed point: %q, %v", l.path, s, v, again, err)
			}
		}
	})
}

// TestLookupRejects checks why each bad answer is rejected, one lookup at a
// time.
func TestLookupRejects(t *testing.T) {
	tests := []struct {
		give metadatatest.Fault
		want error
	}{
		{give: metadatatest.FaultGarbage, want: errInvalid},
		{give: metadatatest.FaultHTML, want: errHTML},
		{give: metadatatest.FaultOversized, want: errTooLarge},
		// Valid values, but not from a metadata server.
		{give: metadatatest.FaultNoFlavor, want: errNoFlavor},
	}
	for _, tt := range tests {
		t.Run(tt.give.String(), func(t *testing.T) {
			srv, err := metadatatest.NewServer(metadatatest.WithFault(tt.give))
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			s := newLookupSource(srv.Host())
			for _, l := range lookups {
				v, err := s.lookup(t.Context(), l)
				if !errors.Is(err, tt.want) {
					t.Errorf("%s: lookup = %q, %v; want %v", l.path, v, err, tt.want)
				}
			}
			if n := srv.TotalRequests(); n != int64(len(lookups)) {
				t.Errorf("server saw %d requests, want %d: a rejected answer must not be retried within the round", n, len(lookups))
			}
		})
	}
}

// TestOversizedContentLength rejects a body announced too large before
// reading it.
func TestOversizedContentLength(t *testing.T) {
	big := strings.Repeat("1", maxBodyBytes+1)
	srv, err := metadatatest.NewServer(metadatatest.WithValue("instance/id", big))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_, err = newLookupSource(srv.Host()).lookup(t.Context(), lookups[4])
	if !errors.Is(err, errTooLarge) {
		t.Errorf("lookup = %v, want errTooLarge", err)
	}
}

// TestTransportOneRequestPerConnection: each lookup asks the server to
// close the connection after its answer, and the transport keeps nothing.
func TestTransportOneRequestPerConnection(t *testing.T) {
	var closing atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Close {
			closing.Add(1)
		}
		w.Header().Set("Metadata-Flavor", "Google")
		_, _ = io.WriteString(w, metadatatest.DefaultProjectID)
	}))
	defer srv.Close()
	s := newLookupSource(strings.TrimPrefix(srv.URL, "http://"))
	for range 3 {
		if v, err := s.lookup(t.Context(), lookups[0]); err != nil || v != metadatatest.DefaultProjectID {
			t.Fatalf("lookup = %q, %v", v, err)
		}
	}
	if n := closing.Load(); n != 3 {
		t.Errorf("%d of 3 requests said Connection: close", n)
	}
}

// TestTransportBoundsResponse rejects a header block that leaves no room
// for the body within the bound of one response.
func TestTransportBoundsResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Metadata-Flavor", "Google")
		w.Header().Set("X-Padding", strings.Repeat("x", maxResponseBytes))
		_, _ = io.WriteString(w, metadatatest.DefaultProjectID)
	}))
	defer srv.Close()
	v, err := newLookupSource(strings.TrimPrefix(srv.URL, "http://")).lookup(t.Context(), lookups[0])
	if err == nil {
		t.Errorf("lookup = %q, nil; want an error for a response over %d bytes", v, maxResponseBytes)
	}
}

// newLookupSource returns a Source whose lookups can be called one by one;
// it starts no goroutine.
func newLookupSource(host string) *Source {
	s := &Source{cfg: NewDefaultConfig(), tr: newTransport(host, nil)}
	s.client = newClient(s.tr)
	return s
}

// BenchmarkLookup compares one lookup through the metadata client with the
// same request made by hand over the same transport: the client's cost.
func BenchmarkLookup(b *testing.B) {
	srv, err := metadatatest.NewServer()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	s := newLookupSource(srv.Host())
	b.Run("client", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.lookup(b.Context(), lookups[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		hc := &http.Client{Transport: s.tr}
		for b.Loop() {
			req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, "http://metadata/computeMetadata/v1/"+lookups[0].path, nil)
			req.Header.Set("Metadata-Flavor", "Google")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if _, err := parseProjectID(string(body)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestLookupFollowsNoRedirect: a redirect, which the metadata server never
// sends, fails the lookup instead of reading another path's value.
func TestLookupFollowsNoRedirect(t *testing.T) {
	var other atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Metadata-Flavor", "Google")
		if strings.HasPrefix(r.URL.Path, "/computeMetadata/v1/instance/attributes/") {
			other.Add(1)
			_, _ = io.WriteString(w, "attacker-value")
			return
		}
		http.Redirect(w, r, "/computeMetadata/v1/instance/attributes/x", http.StatusFound)
	}))
	defer srv.Close()
	s := newLookupSource(strings.TrimPrefix(srv.URL, "http://"))
	for _, l := range lookups {
		if v, err := s.lookup(t.Context(), l); err == nil {
			t.Errorf("%s: lookup = %q, nil; want an error for a redirect", l.path, v)
		}
	}
	if n := other.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}
