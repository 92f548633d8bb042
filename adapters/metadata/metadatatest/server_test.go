package metadatatest_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	mdt "github.com/gcftrace/gcftrace/adapters/metadata/metadatatest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newServer(t *testing.T, opts ...mdt.Option) *mdt.Server {
	t.Helper()
	srv, err := mdt.NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

type answer struct {
	code        int
	body        string
	contentType string
	err         error
}

// get asks srv for path the way a metadata client does.
func get(ctx context.Context, srv *mdt.Server, path string, flavor bool) answer {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL()+path, nil)
	if flavor {
		req.Header.Set("Metadata-Flavor", "Google")
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.Header.Get("Metadata-Flavor") != "Google" {
		err = errors.Join(err, errors.New("no Metadata-Flavor: Google in the response"))
	}
	return answer{code: resp.StatusCode, body: string(body), contentType: resp.Header.Get("Content-Type"), err: err}
}

func TestDefaults(t *testing.T) {
	srv := newServer(t)
	for path, want := range mdt.DefaultValues() {
		if got := get(t.Context(), srv, path, true); got.code != 200 || got.body != want || got.err != nil {
			t.Errorf("%s = %+v, want 200 %q", path, got, want)
		}
		if n := srv.Requests(path); n != 1 {
			t.Errorf("Requests(%q) = %d, want 1", path, n)
		}
	}
	if want := "projects/123456789012/regions/europe-west3"; mdt.DefaultValues()[mdt.PathRegion] != want {
		t.Errorf("region = %q, want %q", mdt.DefaultValues()[mdt.PathRegion], want)
	}
	if got := get(t.Context(), srv, "instance/name", true); got.code != 404 {
		t.Errorf("unknown path: %+v, want 404", got)
	}
}

func TestRequiresMetadataFlavor(t *testing.T) {
	srv := newServer(t)
	if got := get(t.Context(), srv, mdt.PathProjectID, false); got.code != http.StatusForbidden {
		t.Errorf("without Metadata-Flavor: %+v, want 403", got)
	}
}

func TestValues(t *testing.T) {
	srv := newServer(t, mdt.WithValue(mdt.PathProjectID, "other-project"))
	if got := get(t.Context(), srv, mdt.PathProjectID, true); got.body != "other-project" {
		t.Errorf("WithValue: %+v", got)
	}
	srv.SetValue(mdt.PathProjectID, "third-project")
	if got := get(t.Context(), srv, mdt.PathProjectID, true); got.body != "third-project" {
		t.Errorf("SetValue: %+v", got)
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		give     mdt.Fault
		wantCode int
		wantType string
		wantBody func(string) bool
	}{
		{give: mdt.FaultNotFound, wantCode: 404, wantType: "text/html; charset=UTF-8", wantBody: func(string) bool { return true }},
		{give: mdt.FaultServerError, wantCode: 500, wantType: "text/html; charset=UTF-8", wantBody: func(string) bool { return true }},
		{give: mdt.FaultGarbage, wantCode: 200, wantType: "application/text", wantBody: func(b string) bool { return strings.ContainsRune(b, 0) }},
		{give: mdt.FaultHTML, wantCode: 200, wantType: "text/html; charset=UTF-8", wantBody: func(b string) bool { return strings.HasPrefix(b, "<!DOCTYPE html>") }},
		{give: mdt.FaultOversized, wantCode: 200, wantType: "application/text", wantBody: func(b string) bool { return len(b) >= mdt.OversizedBytes }},
	}
	for _, tt := range tests {
		t.Run(tt.give.String(), func(t *testing.T) {
			srv := newServer(t, mdt.WithFault(tt.give))
			got := get(t.Context(), srv, mdt.PathZone, true)
			if got.err != nil || got.code != tt.wantCode || got.contentType != tt.wantType || !tt.wantBody(got.body) {
				t.Errorf("got %d %q (%d bytes), %v; want %d %q", got.code, got.contentType, len(got.body), got.err, tt.wantCode, tt.wantType)
			}
		})
	}
}

// TestNoFlavor: FaultNoFlavor answers 200 with the configured value but
// without the Metadata-Flavor response header; the fault can be cleared.
func TestNoFlavor(t *testing.T) {
	srv := newServer(t, mdt.WithFault(mdt.FaultNoFlavor))
	got := get(t.Context(), srv, mdt.PathProjectID, true)
	if got.code != 200 || got.body != mdt.DefaultProjectID || got.err == nil || !strings.Contains(got.err.Error(), "no Metadata-Flavor") {
		t.Errorf("no-flavor: %+v, want 200 %q without the Metadata-Flavor header", got, mdt.DefaultProjectID)
	}
	if got := get(t.Context(), srv, "instance/name", true); got.code != 404 {
		t.Errorf("no-flavor, unknown path: %+v, want 404", got)
	}
	if err := srv.SetFault(mdt.FaultNone); err != nil {
		t.Fatal(err)
	}
	if got := get(t.Context(), srv, mdt.PathProjectID, true); got.code != 200 || got.err != nil {
		t.Errorf("cleared: %+v, want 200 with the header", got)
	}
	srv.SetPathFault(mdt.PathZone, mdt.FaultNoFlavor)
	if got := get(t.Context(), srv, mdt.PathZone, true); got.code != 200 || got.err == nil {
		t.Errorf("path fault: %+v, want 200 without the header", got)
	}
	if got := get(t.Context(), srv, mdt.PathRegion, true); got.err != nil {
		t.Errorf("other path: %+v, want the header", got)
	}
}

func TestHang(t *testing.T) {
	srv := newServer(t, mdt.WithFault(mdt.FaultHang))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if got := get(ctx, srv, mdt.PathRegion, true); !errors.Is(got.err, context.DeadlineExceeded) {
		t.Errorf("hang: %+v, want the client's deadline", got)
	}

	// Close releases a request that hangs.
	done := make(chan answer)
	go func() { done <- get(context.Background(), srv, mdt.PathRegion, true) }()
	for srv.Requests(mdt.PathRegion) < 2 {
		time.Sleep(time.Millisecond)
	}
	_ = srv.Close()
	select {
	case got := <-done:
		if got.err == nil {
			t.Errorf("hanging request answered %+v after Close", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not release a hanging request")
	}
}

func TestRefuse(t *testing.T) {
	srv := newServer(t, mdt.WithFault(mdt.FaultRefuse))
	if got := get(t.Context(), srv, mdt.PathProjectID, true); !errors.Is(got.err, syscall.ECONNREFUSED) {
		t.Errorf("refused from the start: %+v, want ECONNREFUSED", got.err)
	}
	// Phases, as a soak test would cycle them.
	for range 3 {
		if err := srv.SetFault(mdt.FaultNone); err != nil {
			t.Fatal(err)
		}
		if got := get(t.Context(), srv, mdt.PathProjectID, true); got.code != 200 {
			t.Fatalf("serving again: %+v", got)
		}
		if err := srv.SetFault(mdt.FaultRefuse); err != nil {
			t.Fatal(err)
		}
		if got := get(t.Context(), srv, mdt.PathProjectID, true); !errors.Is(got.err, syscall.ECONNREFUSED) {
			t.Fatalf("refusing: %+v, want ECONNREFUSED", got.err)
		}
	}
	if n := srv.TotalRequests(); n != 3 {
		t.Errorf("TotalRequests() = %d, want 3", n)
	}
}

// TestRefusePortTakenMeanwhile: while the Server refuses, its port is free
// and another socket may take it; clearing the fault waits for the port
// instead of failing at once.
func TestRefusePortTakenMeanwhile(t *testing.T) {
	srv := newServer(t)
	if got := get(t.Context(), srv, mdt.PathProjectID, true); got.code != 200 {
		t.Fatalf("serving: %+v", got)
	}
	if err := srv.SetFault(mdt.FaultRefuse); err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("tcp", srv.Host())
	if err != nil {
		t.Fatalf("taking the refused port: %v", err)
	}
	const held = 200 * time.Millisecond
	release := time.AfterFunc(held, func() { _ = other.Close() })
	defer release.Stop()
	start := time.Now()
	if err := srv.SetFault(mdt.FaultNone); err != nil {
		t.Fatalf("SetFault(FaultNone) with the port taken for %v: %v", held, err)
	}
	if d := time.Since(start); d < held || d > mdt.RelistenWait {
		t.Errorf("SetFault(FaultNone) took %v, want [%v, %v]", d, held, mdt.RelistenWait)
	}
	if got := get(t.Context(), srv, mdt.PathProjectID, true); got.code != 200 || got.body != mdt.DefaultProjectID {
		t.Errorf("serving again: %+v", got)
	}
}

// TestRefusePortTakenForGood: a port that stays taken ends the wait with an
// error naming the address; the Server keeps refusing and a later SetFault
// succeeds once the port is free.
func TestRefusePortTakenForGood(t *testing.T) {
	srv := newServer(t, mdt.WithFault(mdt.FaultRefuse))
	mdt.SetRelistenWait(srv, 100*time.Millisecond)
	other, err := net.Listen("tcp", srv.Host())
	if err != nil {
		t.Fatalf("taking the refused port: %v", err)
	}
	err = srv.SetFault(mdt.FaultNone)
	if err == nil || !strings.Contains(err.Error(), srv.Host()) {
		t.Errorf("SetFault(FaultNone) with the port taken = %v, want an error naming %s", err, srv.Host())
	}
	t.Logf("port taken: %v", err)
	_ = other.Close()
	if got := get(t.Context(), srv, mdt.PathProjectID, true); !errors.Is(got.err, syscall.ECONNREFUSED) {
		t.Errorf("after the failed SetFault: %+v, want ECONNREFUSED", got.err)
	}
	if err := srv.SetFault(mdt.FaultNone); err != nil {
		t.Fatalf("SetFault(FaultNone) with the port free: %v", err)
	}
	if got := get(t.Context(), srv, mdt.PathProjectID, true); got.code != 200 {
		t.Errorf("serving again: %+v", got)
	}
}

func TestRefuseClosesOpenConnections(t *testing.T) {
	srv := newServer(t, mdt.WithFault(mdt.FaultHang))
	done := make(chan answer)
	go func() { done <- get(context.Background(), srv, mdt.PathRegion, true) }()
	for srv.Requests(mdt.PathRegion) < 1 {
		time.Sleep(time.Millisecond)
	}
	if err := srv.SetFault(mdt.FaultRefuse); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		if got.err == nil {
			t.Errorf("request on a refused server answered %+v", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("FaultRefuse left a connection open")
	}
}

func TestPathFaultAndFailFirst(t *testing.T) {
	srv := newServer(t)
	srv.SetPathFault(mdt.PathZone, mdt.FaultNotFound)
	if got := get(t.Context(), srv, mdt.PathZone, true); got.code != 404 {
		t.Errorf("path fault: %+v, want 404", got)
	}
	if got := get(t.Context(), srv, mdt.PathRegion, true); got.code != 200 {
		t.Errorf("other path: %+v, want 200", got)
	}
	srv.SetPathFault(mdt.PathZone, mdt.FaultRefuse)
	if got := get(t.Context(), srv, mdt.PathZone, true); got.err == nil {
		t.Errorf("path refuse: %+v, want a reset connection", got)
	}
	srv.SetPathFault(mdt.PathZone, mdt.FaultNone)
	if got := get(t.Context(), srv, mdt.PathZone, true); got.code != 200 {
		t.Errorf("cleared path fault: %+v, want 200", got)
	}

	srv.FailFirst(2, mdt.FaultServerError)
	var codes []int
	for range 4 {
		codes = append(codes, get(t.Context(), srv, mdt.PathInstanceID, true).code)
	}
	if want := []int{500, 500, 200, 200}; !slices.Equal(codes, want) {
		t.Errorf("FailFirst(2): codes %v, want %v", codes, want)
	}
}

func TestLatencyAndInFlight(t *testing.T) {
	srv := newServer(t, mdt.WithLatency(100*time.Millisecond))
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range []string{mdt.PathProjectID, mdt.PathRegion, mdt.PathZone} {
		wg.Go(func() { get(t.Context(), srv, p, true) })
	}
	wg.Wait()
	d := time.Since(start)
	if d < 100*time.Millisecond || d > time.Second {
		t.Errorf("three parallel requests with 100ms latency took %v", d)
	}
	if n := srv.MaxInFlight(); n != 3 {
		t.Errorf("MaxInFlight() = %d, want 3", n)
	}
	srv.SetLatency(0)
	srv.ResetStats()
	start = time.Now()
	get(t.Context(), srv, mdt.PathProjectID, true)
	if d := time.Since(start); d > 90*time.Millisecond {
		t.Errorf("after SetLatency(0) a request took %v", d)
	}
	if n, m := srv.TotalRequests(), srv.MaxInFlight(); n != 1 || m != 1 {
		t.Errorf("after ResetStats: TotalRequests %d, MaxInFlight %d; want 1, 1", n, m)
	}
}

func TestCloseTwice(t *testing.T) {
	srv, err := mdt.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Error(err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := srv.SetFault(mdt.FaultNone); err == nil {
		t.Error("SetFault after Close succeeded")
	}
}
