package soak

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/gcftrace/gcftrace/adapters/export"
	"github.com/gcftrace/gcftrace/adapters/handler"
	"github.com/gcftrace/gcftrace/adapters/metadata"
	"github.com/gcftrace/gcftrace/adapters/metadata/metadatatest"
	"github.com/gcftrace/gcftrace/core"
	"github.com/gcftrace/gcftrace/wiring"
)

// Run soaks each run of cfg in turn and reports. The error is for a soak
// that could not run (a server that did not start); failed checks are in
// the Report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	base, err := startFramework()
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	rep := &Report{Config: cfg}
	start := time.Now()
	for _, spec := range cfg.Runs {
		rr, err := soakOne(ctx, cfg, spec, base)
		if err != nil {
			return rep, fmt.Errorf("soak: %s: %w", spec.Name, err)
		}
		rep.Runs = append(rep.Runs, rr)
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

// quietWait bounds the wait for a moment without export in flight.
func (c Config) quietWait() time.Duration { return 4*c.FlushTimeout + 3*time.Second }

// soakOne cold-starts one function instance, sends it the phases' load and
// shuts it down.
func soakOne(ctx context.Context, cfg Config, spec RunSpec, base string) (rr RunReport, err error) {
	rr = RunReport{Name: spec.Name, FlushOnExit: spec.FlushOnExit, Budget: cfg.FlushTimeout, Recovery: cfg.Recovery}
	rr.StartGoroutines, rr.StartStuck = runtime.NumGoroutine(), stuckInReceiver()
	rr.StartRSS = rss()

	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		closers = nil
	}
	defer closeAll()

	leaks := newLeakWatch()
	logger := leaks.logger()

	meta, err := metadatatest.NewServer(metadatatest.WithFault(spec.MetadataFault))
	if err != nil {
		return rr, err
	}
	closers = append(closers, func() { _ = meta.Close() })
	ep, err := newEndpoint()
	if err != nil {
		return rr, err
	}
	closers = append(closers, ep.Close)

	// The process environment of a 2nd gen function, given to the metadata
	// adapter only: this process's own environment stays as it is.
	env := map[string]string{
		metadata.EnvService:        "soak-function",
		metadata.EnvRevision:       "soak-function-00001-abc",
		metadata.EnvConfiguration:  "soak-function",
		metadata.EnvFunctionTarget: httpFunction,
		metadata.EnvSignatureType:  "http",
		metadata.EnvMetadataHost:   meta.Host(),
	}
	src := metadata.New(cfg.Metadata, metadata.WithGetenv(func(k string) string { return env[k] }), metadata.WithLogger(logger))
	closers = append(closers, func() { leaks.err("metadata Source Close", src.Close()) })
	recovery := time.AfterFunc(cfg.MetadataRecovery, func() { _ = meta.SetFault(metadatatest.FaultNone) })
	closers = append(closers, func() { recovery.Stop() })

	// The token comes from a file, as a secret mounted as a volume does:
	// the last phase rotates it.
	tokenDir, err := os.MkdirTemp("", "soak-token-")
	if err != nil {
		return rr, err
	}
	closers = append(closers, func() { _ = os.RemoveAll(tokenDir) })
	tokenFile := filepath.Join(tokenDir, "token")
	if err := writeToken(tokenFile, Token); err != nil {
		return rr, err
	}

	tc := core.NewDefaultConfig()
	tc.Endpoint = ep.URL()
	tc.TokenFile = tokenFile
	tc.ServiceName = "soak-function"
	tc.FlushOnExit = spec.FlushOnExit
	tc.FlushTimeout = cfg.FlushTimeout
	exp, err := newExporter(tc, logger, cfg.OutagePause, cfg.MaxOutagePause)
	if err != nil {
		leaks.err("export.New", err)
		return rr, err
	}
	var phaseNow func() *phaseStats // set once the instance exists
	rec := &recordingExporter{exp: exp, leaks: leaks, phase: func() *phaseStats { return phaseNow() }}
	setup := time.Now()
	t, err := wiring.New(ctx, wiring.WithConfig(tc), wiring.WithEnvironmentSource(src), wiring.WithLogger(logger), wiring.WithExporter(rec))
	rr.Setup = time.Since(setup)
	if err != nil {
		leaks.err("wiring.New", err)
		return rr, err
	}
	shut := false
	defer func() {
		if !shut {
			_ = t.Shutdown(context.Background())
		}
	}()

	in := &instance{tracer: t.TracerProvider().Tracer("github.com/gcftrace/gcftrace/interop/soak")}
	phaseNow = in.phase.Load
	opts := t.HandlerOptions()
	if spec.FlushOnExit {
		// The processor stays the flusher; the wrapper only sees the
		// errors the handlers discard.
		opts = append(opts, handler.WithFlusher(recordingFlusher{f: t.Processor(), leaks: leaks, phase: in.phase.Load}))
	}
	in.http = handler.HTTP(http.HandlerFunc(in.hello), opts...)
	in.event = handler.CloudEvent(in.onEvent, opts...)
	in.eventHTTP = handler.CloudEventHTTP(in.onEvent, opts...)
	current.Store(in)
	defer current.Store(nil)

	timeout := cfg.clientTimeout()
	limit := time.Now().Add(cfg.loadTime() + time.Duration(len(phases))*timeout)
	gen := newLoadGen(base, cfg.requests(), limit, timeout, leaks, in.reachedFunction)
	closers = append(closers, gen.Close)
	m := meter{proc: t.Processor(), exp: exp, rec: rec, ep: ep}
	prev := snapshot{}
	for i, p := range phases {
		if err := ep.setFault(p.fault); err != nil {
			return rr, err
		}
		if p.rotate {
			if err := writeToken(tokenFile, RotatedToken); err != nil {
				return rr, err
			}
		}
		ps := &phaseStats{}
		from := time.Since(setup)
		in.phase.Store(ps)
		gen.phase(ctx, cfg.duration(p), cfg.Rate, cfg.bursts(p), cfg.Burst, padFor(p), ps)
		snap, quiet := m.quiet(cfg.quietWait())
		in.phase.Store(nil)
		row := newRow(p.name, prev, snap, ps)
		row.quiet = quiet
		row.stats = ps
		row.From = from
		rr.Rows = append(rr.Rows, row)
		rr.snaps = append(rr.snaps, snap)
		if i == 0 {
			rr.HealthyRSS = snap.rss
		}
		prev = snap
	}
	gen.wait()
	for i := range rr.Rows {
		rr.Rows[i].refresh()
	}
	current.Store(nil)

	sctx, cancel := context.WithTimeout(context.Background(), core.DefaultShutdownTimeout)
	begin := time.Now()
	shutdownFrom := time.Since(setup)
	err = t.Shutdown(sctx)
	rr.Shutdown = time.Since(begin)
	cancel()
	shut = true
	leaks.err("Tracing.Shutdown", err)
	final, quiet := m.quiet(cfg.quietWait())
	row := newRow("shutdown (final flush)", prev, final, nil)
	row.quiet = quiet
	row.From = shutdownFrom
	rr.Rows = append(rr.Rows, row)
	rr.snaps = append(rr.snaps, final)
	rr.Processor, rr.Exporter = final.p, final.x
	rr.FunctionSpans = in.invocations.Load() + in.children.Load()
	rr.DeliveredAsRejected = rec.deliveredAsRejected.Load()
	rr.DroppedAsExported = rec.droppedAsExported.Load()
	rr.Handed = rec.handed.Load()
	rr.MaxConcurrentExports = rec.maxInflight.Load()
	rr.MetadataRequests = meta.TotalRequests()

	closeAll()
	rr.Endpoint = ep.stats()
	if !rr.Endpoint.FirstComplete.IsZero() {
		rr.ResourceAfter = rr.Endpoint.FirstComplete.Sub(setup)
	}
	rr.EndGoroutines, rr.EndStuck = settleGoroutines(rr.StartGoroutines-rr.StartStuck, 5*time.Second)
	if rr.EndGoroutines-rr.EndStuck > rr.StartGoroutines-rr.StartStuck {
		var b bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		rr.GoroutineDump = b.String()
	}
	rr.EndRSS = rss()
	rr.Secrets = leaks.report()
	rr.check()
	return rr, nil
}

// newExporter builds the exporter from tc exactly as wiring.New does.
func newExporter(tc core.Config, logger *slog.Logger, outagePause, maxOutagePause time.Duration) (*export.Exporter, error) {
	ec := export.NewDefaultConfig()
	if outagePause != 0 {
		ec.OutagePause = outagePause
	}
	if maxOutagePause != 0 {
		ec.MaxOutagePause = maxOutagePause
	}
	ec.Endpoint = tc.Endpoint
	ec.Token = tc.Token
	ec.TokenFile = tc.TokenFile
	ec.Headers = tc.Headers
	if tc.Compression != "" {
		ec.Compression = tc.Compression
	}
	if tc.Timeout > 0 {
		ec.Timeout = tc.Timeout
	}
	return export.New(ec, export.WithLogger(logger))
}

// writeToken puts token into the file at path the way a new version of a
// secret mounted as a volume arrives: whole, in one rename, so that a
// reader sees the old content or the new, never half of it.
func writeToken(path, token string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	return nil
}

// snapshot is the counters at one moment without export in flight.
type snapshot struct {
	p          core.ProcessorStats
	x          export.Stats
	handed     uint64
	ep         endpointStats
	rss        uint64
	goroutines int
}

// created is the number of spans that ended: every span is sampled (no
// root-span budget is configured), so every one that ended went to the
// processor's buffer.
func (s snapshot) created() uint64 { return s.p.Started - s.p.Unended }

// drops are the spans given up for good, by reason: the exporter's (too
// large, unauthorized, rejected by the endpoint, after its shutdown) and the
// processor's own (buffer full, expired, pending at shutdown). The
// processor's "rejected" is left out: it counts the spans of exports that
// returned ErrExportRejected, which the exporter has already counted, as
// dropped or, for some, as delivered.
func (s snapshot) drops() map[string]uint64 {
	d := maps.Clone(s.x.Dropped)
	if d == nil {
		d = map[string]uint64{}
	}
	for _, r := range []string{core.DropBufferFull, core.DropExpired, core.DropShutdown} {
		if n := s.p.Dropped[r]; n > 0 {
			d[r] += n
		}
	}
	return d
}

// accounted is exported + dropped + pending, from the exporter's view of
// each span's fate.
func (s snapshot) accounted() uint64 { return s.x.Exported + sum(s.drops()) + uint64(s.p.Pending) }

// processorAccounted is the processor's own exported + dropped + pending.
func (s snapshot) processorAccounted() uint64 {
	return s.p.Exported + sum(s.p.Dropped) + uint64(s.p.Pending)
}

// exporterAccounted is every span handed to the exporter, by its outcome.
func (s snapshot) exporterAccounted() uint64 { return s.x.Exported + sum(s.x.Dropped) + s.x.Failed }

type meter struct {
	proc *core.Processor
	exp  *export.Exporter
	rec  *recordingExporter
	ep   *endpoint
}

// quiet waits, at most wait, for a moment when no export is in flight and
// reads the counters then. An export is in flight from the moment the
// processor takes its batch until it has counted the outcome; from outside,
// that shows as the processor's Exports running ahead of the returned
// ExportSpans calls, or an ExportSpans call running. The counters are taken
// when two reads 20 ms apart agree and neither overlapped an export.
func (m meter) quiet(wait time.Duration) (snapshot, bool) {
	deadline := time.Now().Add(wait)
	var prev *snapshot
	for {
		s, ok := m.read()
		if ok && prev != nil && same(*prev, s) {
			return s, true
		}
		if ok {
			prev = &s
		} else {
			prev = nil
		}
		if time.Now().After(deadline) {
			return s, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (m meter) read() (snapshot, bool) {
	r0, i0 := m.rec.returned.Load(), m.rec.inflight.Load()
	s := snapshot{p: m.proc.Stats(), x: m.exp.Stats(), handed: m.rec.handed.Load()}
	r1, i1 := m.rec.returned.Load(), m.rec.inflight.Load()
	s.ep = m.ep.stats()
	s.rss = rss()
	s.goroutines = runtime.NumGoroutine()
	ok := i0 == 0 && i1 == 0 && r0 == r1 && s.p.Exports == r1 && s.p.Unended == 0
	return s, ok
}

func same(a, b snapshot) bool {
	return a.p.Pending == b.p.Pending && a.p.Exported == b.p.Exported && a.p.Exports == b.p.Exports &&
		a.p.Started == b.p.Started && a.p.Unended == b.p.Unended && maps.Equal(a.p.Dropped, b.p.Dropped) &&
		a.x.Exported == b.x.Exported && a.x.Failed == b.x.Failed && maps.Equal(a.x.Dropped, b.x.Dropped) &&
		a.handed == b.handed
}

// settleGoroutines waits, at most wait, for the goroutines not stuck in the
// framework's CloudEvents receiver to fall to baseline, and returns the last
// counts.
func settleGoroutines(baseline int, wait time.Duration) (n, stuck int) {
	deadline := time.Now().Add(wait)
	for {
		n, stuck = runtime.NumGoroutine(), stuckInReceiver()
		if n-stuck <= baseline || time.Now().After(deadline) {
			return n, stuck
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stuckInReceiver counts the goroutines blocked sending a request to the
// CloudEvents SDK's HTTP receiver, which functions-framework-go serves
// CloudEvent functions with: a request whose message no consumer will take
// waits there for good (cloudevents/sdk-go issues 1224 and 1332).
func stuckInReceiver() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stuck := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("[chan send")) && bytes.Contains(g, []byte("sdk-go/v2/protocol/http.(*Protocol).ServeHTTP")) {
			stuck++
		}
	}
	return stuck
}

// rss returns the resident set size from /proc/self/status, 0 where there
// is none.
func rss() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
