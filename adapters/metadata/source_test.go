package metadata_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gcftrace/gcftrace/adapters/metadata"
	mdt "github.com/gcftrace/gcftrace/adapters/metadata/metadatatest"
	"github.com/gcftrace/gcftrace/ports"
	"github.com/gcftrace/gcftrace/ports/portstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// gen2 is the environment of a Cloud Functions 2nd gen instance whose
// metadata server is host.
func gen2(host string) map[string]string {
	return map[string]string{
		"K_SERVICE": "hello", "K_REVISION": "hello-00001-abc", "K_CONFIGURATION": "hello",
		"FUNCTION_TARGET": "Hello", "FUNCTION_SIGNATURE_TYPE": "http",
		"GCE_METADATA_HOST": host,
	}
}

// fromEnv is what gen2 says on its own.
var fromEnv = ports.Environment{
	Platform: ports.PlatformFunctionsGen2, Function: "hello", Revision: "hello-00001-abc",
	Configuration: "hello", EntryPoint: "Hello", SignatureType: "http",
}

// complete is fromEnv with every lookup answered by the emulator.
var complete = func() ports.Environment {
	e := fromEnv
	e.ProjectID = mdt.DefaultProjectID
	e.NumericProjectID = mdt.DefaultNumericProjectID
	e.Region = mdt.DefaultRegion
	e.Zone = mdt.DefaultZone
	e.InstanceID = mdt.DefaultInstanceID
	return e
}()

var paths = []string{mdt.PathProjectID, mdt.PathNumericProjectID, mdt.PathRegion, mdt.PathZone, mdt.PathInstanceID}

func newServer(t *testing.T, opts ...mdt.Option) *mdt.Server {
	t.Helper()
	srv, err := mdt.NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func newSource(t *testing.T, cfg metadata.Config, env map[string]string, opts ...metadata.Option) *metadata.Source {
	t.Helper()
	s := metadata.New(cfg, append([]metadata.Option{metadata.WithGetenv(getenv(env))}, opts...)...)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// wait fails the test when ch is not closed within d.
func wait(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
		return
	default:
	}
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s: not within %v", what, d)
	}
}

func TestSourceConforms(t *testing.T) {
	t.Run("Answering", func(t *testing.T) {
		portstest.TestEnvironmentSource(t, func(t *testing.T) ports.EnvironmentSource {
			return newSource(t, metadata.Config{}, gen2(newServer(t).Host()))
		})
	})
	t.Run("Hanging", func(t *testing.T) {
		portstest.TestEnvironmentSource(t, func(t *testing.T) ports.EnvironmentSource {
			return newSource(t, metadata.Config{}, gen2(newServer(t, mdt.WithFault(mdt.FaultHang)).Host()))
		})
	})
	t.Run("OffGCP", func(t *testing.T) {
		portstest.TestEnvironmentSource(t, func(t *testing.T) ports.EnvironmentSource {
			return newSource(t, metadata.Config{}, nil)
		})
	})
}

func TestLookups(t *testing.T) {
	srv := newServer(t)
	start := time.Now()
	s := newSource(t, metadata.Config{}, gen2(srv.Host()))
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("New took %v; it must not wait for the server", d)
	}
	env, err := s.Environment(t.Context())
	t.Logf("first round: %v", time.Since(start))
	if err != nil {
		t.Fatal(err)
	}
	if env != complete {
		t.Errorf("Environment() =\n%+v\nwant\n%+v", env, complete)
	}
	if known, err := s.Known(); known != complete || err != nil {
		t.Errorf("Known() = %+v, %v; want the same as Environment", known, err)
	}
	wait(t, metadata.Settled(s), time.Second, "settled")
	for _, p := range paths {
		if n := srv.Requests(p); n != 1 {
			t.Errorf("%s requested %d times, want 1 (results are cached)", p, n)
		}
	}
}

// TestMetadataHostFromGetenv shows that GCE_METADATA_HOST is read through
// WithGetenv, not from the process environment the metadata client reads.
func TestMetadataHostFromGetenv(t *testing.T) {
	t.Setenv("GCE_METADATA_HOST", "127.0.0.1:1")
	srv := newServer(t)
	env, err := newSource(t, metadata.Config{}, gen2(srv.Host())).Environment(t.Context())
	if err != nil || env != complete {
		t.Errorf("Environment() = %+v, %v; want %+v", env, err, complete)
	}
}

// slack is how much later than its deadline or its server's latency a
// round of lookups may end: the lookups have to return, Ready has to be
// closed and the test goroutine scheduled. With -race -count=30 on a loaded
// 2-core machine (another go test -race of the whole module running
// alongside), 90 runs each of TestFaults, TestDeadlineHolds and
// TestParallel overshot by 1 to 35 ms, 5 ms typically. 150 ms is four
// times the worst of those, and still less than what the bugs it guards
// against would add: 200 ms for a lookup that waits for another
// (TestParallel), or a deadline overrun by a retry or a second deadline.
const slack = 150 * time.Millisecond

func TestFaults(t *testing.T) {
	const timeout = 500 * time.Millisecond
	tests := []struct {
		give        mdt.Fault
		wantMin     time.Duration // how long the first round takes at least
		wantMax     time.Duration // and at most
		minRequests int64         // per path
		maxRequests int64
	}{
		// Waits for the round's deadline, no longer.
		{give: mdt.FaultHang, wantMin: timeout - 20*time.Millisecond, wantMax: timeout + slack, minRequests: 1, maxRequests: 1},
		// Fails at once, no retry within the round: no request arrives.
		{give: mdt.FaultRefuse, wantMax: timeout / 2, minRequests: 0, maxRequests: 0},
		// Not defined: an answer, never retried.
		{give: mdt.FaultNotFound, wantMax: timeout / 2, minRequests: 1, maxRequests: 1},
		// The metadata client retries 5xx within the round, until the
		// deadline or its 5 retries.
		{give: mdt.FaultServerError, wantMax: timeout + slack, minRequests: 2, maxRequests: 6},
		// Rejected at once, no retry within the round.
		{give: mdt.FaultGarbage, wantMax: timeout / 2, minRequests: 1, maxRequests: 1},
		{give: mdt.FaultHTML, wantMax: timeout / 2, minRequests: 1, maxRequests: 1},
		{give: mdt.FaultOversized, wantMax: timeout / 2, minRequests: 1, maxRequests: 1},
		{give: mdt.FaultNoFlavor, wantMax: timeout / 2, minRequests: 1, maxRequests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.give.String(), func(t *testing.T) {
			srv := newServer(t, mdt.WithFault(tt.give))
			start := time.Now()
			s := newSource(t, metadata.Config{Timeout: timeout, Retries: -1}, gen2(srv.Host()))
			env, err := s.Environment(t.Context())
			d := time.Since(start)
			t.Logf("first round: %v", d)
			if err != nil || env != fromEnv {
				t.Errorf("Environment() = %+v, %v; want what the environment says, nil", env, err)
			}
			if d < tt.wantMin || d > tt.wantMax {
				t.Errorf("first round took %v, want [%v, %v]", d, tt.wantMin, tt.wantMax)
			}
			wait(t, metadata.Settled(s), time.Second, "settled")
			for _, p := range paths {
				if n := srv.Requests(p); n < tt.minRequests || n > tt.maxRequests {
					t.Errorf("%s requested %d times, want [%d, %d]", p, n, tt.minRequests, tt.maxRequests)
				}
			}
		})
	}
}

// TestDeadlineHolds: a caller's short context wins over a hanging server,
// and the round ends at Config.Timeout.
func TestDeadlineHolds(t *testing.T) {
	srv := newServer(t, mdt.WithFault(mdt.FaultHang))
	start := time.Now()
	s := newSource(t, metadata.Config{}, gen2(srv.Host())) // default timeout: 1s

	known, err := s.Known()
	if err != nil || known != fromEnv {
		t.Errorf("Known() = %+v, %v; want %+v at once", known, err, fromEnv)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	env, err := s.Environment(ctx)
	d := time.Since(start)
	t.Logf("Environment under a 100ms context: %v", d)
	if err != nil || env != fromEnv {
		t.Errorf("Environment() = %+v, %v; want the partial environment, nil", env, err)
	}
	if d > 500*time.Millisecond {
		t.Errorf("Environment took %v under a 100ms context", d)
	}
	select {
	case <-s.Ready():
		t.Error("Ready before the round's deadline")
	default:
	}
	wait(t, s.Ready(), metadata.DefaultTimeout+slack-time.Since(start), "Ready")
	d = time.Since(start)
	t.Logf("Ready after %v", d)
	if d < metadata.DefaultTimeout-20*time.Millisecond {
		t.Errorf("Ready after %v, before the round's deadline", d)
	}
}

// TestParallel: five lookups of 200 ms each take about 200 ms together:
// well under the 400 ms that even two of them in a row would take, and all
// five were in flight at once.
func TestParallel(t *testing.T) {
	const latency = 200 * time.Millisecond
	srv := newServer(t, mdt.WithLatency(latency))
	start := time.Now()
	s := newSource(t, metadata.Config{}, gen2(srv.Host()))
	wait(t, s.Ready(), 2*time.Second, "Ready")
	d := time.Since(start)
	t.Logf("five lookups of 200ms: %v, at most %d in flight", d, srv.MaxInFlight())
	if d < latency || d > latency+slack {
		t.Errorf("five lookups of 200ms took %v, want [%v, %v]; they must run in parallel", d, latency, latency+slack)
	}
	if n := srv.MaxInFlight(); n != int64(len(paths)) {
		t.Errorf("server saw at most %d requests at once, want all %d", n, len(paths))
	}
	if env, _ := s.Known(); env != complete {
		t.Errorf("Known() = %+v, want %+v", env, complete)
	}
}

// TestRefusedEndsFirstRound: a refused connection means that nothing
// listens on the metadata host, so the first round ends there: Ready does
// not wait for the other lookups or the round's deadline, and those are
// cancelled.
func TestRefusedEndsFirstRound(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	var dials atomic.Int64
	dial := metadata.WithDialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
		if dials.Add(1) == 1 {
			var d net.Dialer
			return d.DialContext(ctx, network, closed) // refused
		}
		<-ctx.Done() // the others would hang until the round's deadline
		return nil, ctx.Err()
	})
	s := newSource(t, metadata.Config{Timeout: time.Hour, Retries: -1}, gen2(closed), dial)
	wait(t, s.Ready(), 10*time.Second, "Ready after a refused connection")
	wait(t, metadata.Settled(s), 10*time.Second, "the other lookups cancelled")
	if env, err := s.Known(); err != nil || env != fromEnv {
		t.Errorf("Known() = %+v, %v; want what the environment says", env, err)
	}
	if n := dials.Load(); n > int64(len(paths)) {
		t.Errorf("%d dials, want at most one per lookup: none is retried within the round", n)
	}
}

// TestRetryFillsGap: a first round that fails leaves gaps that a background
// round fills.
func TestRetryFillsGap(t *testing.T) {
	cfg := metadata.Config{Timeout: 500 * time.Millisecond, RetryDelay: 50 * time.Millisecond}

	t.Run("one-time failure", func(t *testing.T) {
		srv := newServer(t)
		srv.FailFirst(len(paths), mdt.FaultGarbage) // the whole first round
		s := newSource(t, cfg, gen2(srv.Host()))
		env, err := s.Environment(t.Context())
		if err != nil || env != fromEnv {
			t.Fatalf("first round: %+v, %v; want nothing found", env, err)
		}
		start := time.Now()
		wait(t, metadata.Settled(s), 2*time.Second, "settled")
		t.Logf("gaps filled %v after the first round", time.Since(start))
		if env, _ := s.Known(); env != complete {
			t.Errorf("Known() = %+v, want %+v", env, complete)
		}
		for _, p := range paths {
			if n := srv.Requests(p); n != 2 {
				t.Errorf("%s requested %d times, want 2", p, n)
			}
		}
	})

	t.Run("refused then up", func(t *testing.T) {
		srv := newServer(t, mdt.WithFault(mdt.FaultRefuse))
		cfg := cfg
		cfg.RetryDelay = 200 * time.Millisecond
		s := newSource(t, cfg, gen2(srv.Host()))
		start := time.Now()
		wait(t, s.Ready(), time.Second, "Ready")
		t.Logf("refused first round: %v", time.Since(start))
		if err := srv.SetFault(mdt.FaultNone); err != nil {
			t.Fatal(err)
		}
		wait(t, metadata.Settled(s), 2*time.Second, "settled")
		if env, _ := s.Known(); env != complete {
			t.Errorf("Known() = %+v, want %+v", env, complete)
		}
	})

	t.Run("one path", func(t *testing.T) {
		srv := newServer(t)
		srv.SetPathFault(mdt.PathRegion, mdt.FaultServerError)
		s := newSource(t, metadata.Config{Timeout: 200 * time.Millisecond, RetryDelay: 300 * time.Millisecond}, gen2(srv.Host()))
		wait(t, s.Ready(), time.Second, "Ready")
		if env, _ := s.Known(); env.Region != "" || env.Zone != mdt.DefaultZone {
			t.Fatalf("after the first round: %+v; want all but the region", env)
		}
		srv.SetPathFault(mdt.PathRegion, mdt.FaultNone)
		wait(t, metadata.Settled(s), 2*time.Second, "settled")
		if env, _ := s.Known(); env != complete {
			t.Errorf("Known() = %+v, want %+v", env, complete)
		}
		if n := srv.Requests(mdt.PathZone); n != 1 {
			t.Errorf("zone requested %d times; only failed lookups are retried", n)
		}
	})
}

// TestChangedWakesPerRound: Changed is closed when a round ends, first or
// retry, so a caller learns of a filled gap at once, and is nil once the
// lookups have ended for good.
func TestChangedWakesPerRound(t *testing.T) {
	srv := newServer(t)
	srv.FailFirst(len(paths), mdt.FaultGarbage) // the whole first round
	s := newSource(t, metadata.Config{Timeout: 500 * time.Millisecond, RetryDelay: 50 * time.Millisecond}, gen2(srv.Host()))

	first := s.Changed()
	if first == nil {
		t.Fatal("Changed() = nil while the first round runs")
	}
	wait(t, first, time.Second, "Changed after the first round")
	if env, _ := s.Known(); env != fromEnv {
		t.Fatalf("after the first round: %+v, want nothing found", env)
	}
	// The retry round fills the gaps and is the last: the channel taken
	// now is closed by it, and Changed is nil after it.
	wait(t, s.Changed(), 2*time.Second, "Changed after the retry round")
	if env, _ := s.Known(); env != complete {
		t.Errorf("after the retry round: %+v, want %+v", env, complete)
	}
	wait(t, metadata.Settled(s), time.Second, "settled")
	if ch := s.Changed(); ch != nil {
		t.Error("Changed() != nil after the lookups ended")
	}
}

func TestChangedNilWithoutLookups(t *testing.T) {
	s := newSource(t, metadata.Config{}, map[string]string{})
	if ch := s.Changed(); ch != nil {
		t.Error("Changed() != nil off GCP, where no lookup runs")
	}
}

// TestRetriesBounded: a lookup that never succeeds is tried 1+Retries
// times, then given up; a 404 is never retried. An answer without
// Metadata-Flavor is a failure like garbage, not "not defined".
func TestRetriesBounded(t *testing.T) {
	srv := newServer(t)
	srv.SetPathFault(mdt.PathRegion, mdt.FaultGarbage)
	srv.SetPathFault(mdt.PathZone, mdt.FaultNotFound)
	srv.SetPathFault(mdt.PathProjectID, mdt.FaultNoFlavor)
	s := newSource(t, metadata.Config{Retries: 2, RetryDelay: 20 * time.Millisecond}, gen2(srv.Host()))
	wait(t, metadata.Settled(s), 2*time.Second, "settled")
	if n := srv.Requests(mdt.PathRegion); n != 3 {
		t.Errorf("region requested %d times, want 3", n)
	}
	if n := srv.Requests(mdt.PathProjectID); n != 3 {
		t.Errorf("project id (no Metadata-Flavor) requested %d times, want 3", n)
	}
	if n := srv.Requests(mdt.PathZone); n != 1 {
		t.Errorf("zone (404) requested %d times, want 1", n)
	}
	want := complete
	want.Region, want.Zone, want.ProjectID = "", "", ""
	if env, _ := s.Known(); env != want {
		t.Errorf("Known() = %+v, want %+v", env, want)
	}
}

// TestOneTimeServerError: the metadata client retries a 500 within the
// round, so the first round ends complete.
func TestOneTimeServerError(t *testing.T) {
	srv := newServer(t)
	srv.FailFirst(len(paths), mdt.FaultServerError)
	s := newSource(t, metadata.Config{Retries: -1}, gen2(srv.Host()))
	env, err := s.Environment(t.Context())
	if err != nil || env != complete {
		t.Errorf("Environment() = %+v, %v; want %+v", env, err, complete)
	}
	if n := srv.TotalRequests(); n != 2*int64(len(paths)) {
		t.Errorf("server saw %d requests, want %d", n, 2*len(paths))
	}
}

// countDials counts the connections a Source opens.
func countDials(n *atomic.Int64) metadata.Option {
	return metadata.WithDialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	})
}

func TestOffGCP(t *testing.T) {
	tests := []struct {
		name string
		give map[string]string
		want ports.Environment
	}{
		{name: "empty environment"},
		{name: "local functions framework run", give: map[string]string{"FUNCTION_TARGET": "Hello", "K_REVISION": "1"}, want: ports.Environment{EntryPoint: "Hello", Revision: "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dials atomic.Int64
			start := time.Now()
			s := newSource(t, metadata.Config{}, tt.give, countDials(&dials))
			env, err := s.Environment(t.Context())
			d := time.Since(start)
			t.Logf("New + Environment off GCP: %v", d)
			if !errors.Is(err, ports.ErrNotOnGCP) || env != tt.want {
				t.Errorf("Environment() = %+v, %v; want %+v, ErrNotOnGCP", env, err, tt.want)
			}
			if d > 50*time.Millisecond {
				t.Errorf("off GCP took %v", d)
			}
			wait(t, s.Ready(), 0, "Ready")
			wait(t, metadata.Settled(s), 0, "settled")
			if n := dials.Load(); n != 0 {
				t.Errorf("%d connections off GCP, want none", n)
			}
		})
	}
}

// TestMetadataHostWithoutPlatform: GCE_METADATA_HOST alone is enough to ask
// the server (a local run against an emulator); the answer still says that
// no serverless platform was detected.
func TestMetadataHostWithoutPlatform(t *testing.T) {
	srv := newServer(t)
	env, err := newSource(t, metadata.Config{}, map[string]string{"GCE_METADATA_HOST": srv.Host()}).Environment(t.Context())
	if !errors.Is(err, ports.ErrNotOnGCP) {
		t.Errorf("err = %v, want ErrNotOnGCP", err)
	}
	if env.Platform != ports.PlatformUnknown || env.ProjectID != mdt.DefaultProjectID || env.InstanceID != mdt.DefaultInstanceID {
		t.Errorf("env = %+v, want the server's values and no platform", env)
	}
}

func TestConfigWins(t *testing.T) {
	srv := newServer(t)
	env := gen2(srv.Host())
	env["GOOGLE_CLOUD_PROJECT"] = "env-project"
	cfg := metadata.Config{ProjectID: "user-project", Region: "us-east1", Function: "mine", MemoryMB: 256}
	got, err := newSource(t, cfg, env).Environment(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := complete
	want.ProjectID, want.Region, want.Function, want.MemoryMB = "user-project", "us-east1", "mine", 256
	if got != want {
		t.Errorf("Environment() =\n%+v\nwant\n%+v", got, want)
	}
	for _, p := range []string{mdt.PathProjectID, mdt.PathRegion} {
		if n := srv.Requests(p); n != 0 {
			t.Errorf("%s requested %d times; a configured value is never looked up", p, n)
		}
	}
}

func TestClose(t *testing.T) {
	srv := newServer(t, mdt.WithFault(mdt.FaultHang))
	s := metadata.New(metadata.Config{}, metadata.WithGetenv(getenv(gen2(srv.Host()))))
	time.Sleep(20 * time.Millisecond) // let the requests reach the server
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	t.Logf("Close with five hanging lookups: %v", d)
	if d > 200*time.Millisecond {
		t.Errorf("Close took %v", d)
	}
	wait(t, s.Ready(), 0, "Ready after Close")
	if env, err := s.Environment(t.Context()); err != nil || env != fromEnv {
		t.Errorf("Environment after Close = %+v, %v", env, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseDuringBackoff: Close also ends a pause between rounds.
func TestCloseDuringBackoff(t *testing.T) {
	srv := newServer(t, mdt.WithFault(mdt.FaultGarbage))
	s := metadata.New(metadata.Config{RetryDelay: time.Hour}, metadata.WithGetenv(getenv(gen2(srv.Host()))))
	wait(t, s.Ready(), time.Second, "Ready")
	start := time.Now()
	_ = s.Close()
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Close took %v", d)
	}
}

// BenchmarkNew measures what setting up tracing pays: New returns before
// any lookup answers. Close is outside the timer.
func BenchmarkNew(b *testing.B) {
	srv, err := mdt.NewServer(mdt.WithLatency(2 * time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	for _, bc := range []struct {
		name string
		env  map[string]string
	}{
		{name: "off-gcp"},
		{name: "gen2", env: gen2(srv.Host())},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s := metadata.New(metadata.Config{}, metadata.WithGetenv(getenv(bc.env)))
				b.StopTimer()
				_ = s.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkFirstRound measures New until Ready against a server answering
// in 2 ms, in 200 ms, and refusing connections.
func BenchmarkFirstRound(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []mdt.Option
	}{
		{name: "2ms", opts: []mdt.Option{mdt.WithLatency(2 * time.Millisecond)}},
		{name: "200ms", opts: []mdt.Option{mdt.WithLatency(200 * time.Millisecond)}},
		{name: "refused", opts: []mdt.Option{mdt.WithFault(mdt.FaultRefuse)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv, err := mdt.NewServer(bc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			env := getenv(gen2(srv.Host()))
			b.ReportAllocs()
			for b.Loop() {
				s := metadata.New(metadata.Config{}, metadata.WithGetenv(env))
				<-s.Ready()
				b.StopTimer()
				_ = s.Close()
				b.StartTimer()
			}
		})
	}
}

// TestHostWithoutPort: on Google Cloud no GCE_METADATA_HOST is set and the
// server is 169.254.169.254, port 80; a GCE_METADATA_HOST may name a host
// without a port too. The lookups dial port 80 there (here redirected to
// the emulator) and complete the environment.
func TestHostWithoutPort(t *testing.T) {
	for _, tc := range []struct{ host, want string }{
		{"", "169.254.169.254:80"},
		{"metadata.google.internal", "metadata.google.internal:80"},
		{"[::1]", "[::1]:80"},
		{"127.0.0.1:8080", "127.0.0.1:8080"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			srv := newServer(t)
			var mu sync.Mutex
			dialed := map[string]int{}
			dial := metadata.WithDialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
				mu.Lock()
				dialed[addr]++
				mu.Unlock()
				var d net.Dialer
				return d.DialContext(ctx, network, srv.Host())
			})
			env := gen2(tc.host)
			if tc.host == "" {
				delete(env, "GCE_METADATA_HOST")
			}
			s := newSource(t, metadata.Config{}, env, dial)
			got, err := s.Environment(t.Context())
			if err != nil || got != complete {
				t.Errorf("Environment() = %+v, %v; want %+v", got, err, complete)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(dialed) != 1 || dialed[tc.want] == 0 {
				t.Errorf("dialed %v, want only %s", dialed, tc.want)
			}
		})
	}
}
