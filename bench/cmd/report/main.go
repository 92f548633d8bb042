// Command report runs gcftrace's side-by-side benchmarks in one process and
// prints one table: each of our figures beside its anchor's and as a ratio
// to it, with the goals of the issues marked ok or MISS. Progress goes to
// stderr, the table to stdout. make bench runs it.
//
//	go run ./cmd/report -benchtime=1s
//
// Flags:
//
//	-benchtime d        time (or Nx iterations) per measurement, as go test's
//	-count n            measurements per scenario, interleaved; the median is
//	                    kept (default 3)
//	-run re             only scenarios (group/row/side), bursts (burst/side)
//	                    and cold starts (coldstart/mode/side) matching re
//	-burst-n, -burst-rounds, -burst-work   the concurrent burst's shape
//	-coldstart-runs n   cold starts per side and metadata mode; the median is
//	                    kept (default 5)
//
// Cold starts run in fresh processes: the command re-executes itself with
// bench.ColdStartSideEnv set.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gcftrace/gcftrace/bench"
)

func main() {
	if child, err := bench.ColdStartChild(); child {
		if err != nil {
			fmt.Fprintln(os.Stderr, "report: cold start:", err)
			os.Exit(1)
		}
		return
	}
	testing.Init()
	benchtime := flag.String("benchtime", "1s", "time or Nx iterations per measurement")
	count := flag.Int("count", 3, "measurements per scenario, interleaved; the median is kept")
	run := flag.String("run", "", "regexp selecting scenarios (group/row/side), bursts (burst/side) and cold starts (coldstart/mode/side)")
	burst := bench.DefaultBurst
	flag.IntVar(&burst.Concurrency, "burst-n", burst.Concurrency, "invocations per burst")
	flag.IntVar(&burst.Rounds, "burst-rounds", burst.Rounds, "bursts measured")
	flag.DurationVar(&burst.Work, "burst-work", burst.Work, "how long the function takes in the burst")
	coldRuns := flag.Int("coldstart-runs", 5, "cold starts per side and metadata mode; the median is kept")
	flag.Parse()
	if err := run1(os.Stdout, os.Stderr, *benchtime, *count, *run, burst, *coldRuns); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run1(out, progress io.Writer, benchtime string, count int, filter string, burst bench.BurstConfig, coldRuns int) error {
	re, err := regexp.Compile(filter)
	if err != nil {
		return fmt.Errorf("-run: %w", err)
	}
	if err := flag.Set("test.benchtime", benchtime); err != nil {
		return fmt.Errorf("-benchtime: %w", err)
	}
	start := time.Now()
	var scenarios []bench.Scenario
	for _, s := range bench.Scenarios() {
		if re.MatchString(s.Name()) {
			scenarios = append(scenarios, s)
		}
	}
	m := measurements{}
	var failed []string
	for i := range max(count, 1) {
		for _, s := range scenarios {
			r := testing.Benchmark(s.Benchmark)
			if r.N == 0 {
				msg := fmt.Sprintf("%s: %s", s.Name(), diagnose(s))
				fmt.Fprintln(progress, "FAIL", msg)
				if i == 0 {
					failed = append(failed, msg)
				}
				continue
			}
			f := figuresOf(r, s.Spans)
			f.round = i
			m[s.Name()] = append(m[s.Name()], f)
			fmt.Fprintf(progress, "%-40s %10s %8.2f allocs%s\n", s.Name(), dur(f.ns), f.allocs, f.extraString())
		}
	}
	// Bursts run count times, the sides interleaved as the scenarios are;
	// the run with the median p99/alone stands for each side.
	runs := map[bench.Side][]bench.BurstResult{}
	for i := range max(count, 1) {
		for _, st := range bench.Stacks {
			if !re.MatchString("burst/" + string(st.Side)) {
				continue
			}
			res, msg := runBurst(st, burst)
			if msg != "" {
				fmt.Fprintln(progress, "FAIL burst/"+string(st.Side)+":", msg)
				if i == 0 {
					failed = append(failed, "burst/"+string(st.Side)+": "+msg)
				}
				continue
			}
			runs[st.Side] = append(runs[st.Side], res)
			fmt.Fprintf(progress, "%-40s single %s p50 %s p99 %s max %s, %d requests\n", "burst/"+string(st.Side),
				dur(float64(res.Single)), dur(float64(res.P50)), dur(float64(res.P99)), dur(float64(res.Max)), res.Requests)
		}
	}
	bursts := map[bench.Side]bench.BurstResult{}
	for side, rs := range runs {
		slices.SortFunc(rs, func(a, b bench.BurstResult) int { return cmp.Compare(a.P99Ratio(), b.P99Ratio()) })
		bursts[side] = rs[len(rs)/2]
	}
	cold := map[string]bench.ColdStartResult{}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	newChild := func(ctx context.Context) *exec.Cmd { return exec.CommandContext(ctx, exe) }
	for _, mode := range bench.MetadataModes {
		for _, side := range bench.ColdStartSides {
			name := "coldstart/" + mode.Name + "/" + string(side)
			if !re.MatchString(name) {
				continue
			}
			var res bench.ColdStartResult
			msg := once(func(tb testing.TB) { res = bench.ColdStart(tb, newChild, side, mode, max(coldRuns, 1)) })
			if msg != "" {
				fmt.Fprintln(progress, "FAIL "+name+":", msg)
				failed = append(failed, name+": "+msg)
				continue
			}
			cold[mode.Name+"/"+string(side)] = res
			fmt.Fprintf(progress, "%-40s median %s of %d, %.2f requests each\n", name, dur(float64(res.Median)), res.Runs, res.Requests)
		}
	}
	t := &table{m: m.medians(), all: m, rounds: max(count, 1), bursts: bursts, burst: burst, cold: cold, coldRuns: max(coldRuns, 1)}
	t.print(out, benchtime, count, time.Since(start))
	if len(failed) > 0 {
		fmt.Fprintln(out, "\nfailed:")
		for _, f := range failed {
			fmt.Fprintln(out, "  "+f)
		}
		return fmt.Errorf("%d measurements failed", len(failed))
	}
	return nil
}

// figures are one measurement.
type figures struct {
	ns, allocs float64 // per operation, or per span for per-span scenarios
	extra      map[string]float64
	round      int // which of the -count rounds
}

func figuresOf(r testing.BenchmarkResult, spans int) figures {
	f := figures{
		ns:     float64(r.T.Nanoseconds()) / float64(r.N),
		allocs: float64(r.MemAllocs) / float64(r.N),
		extra:  r.Extra,
	}
	if spans > 0 {
		f.ns /= float64(spans)
		f.allocs /= float64(spans)
	}
	return f
}

func (f figures) extraString() string {
	var units []string
	for u := range f.extra {
		if u != "ns/span" {
			units = append(units, u)
		}
	}
	slices.Sort(units)
	var b strings.Builder
	for _, u := range units {
		fmt.Fprintf(&b, " %.4g %s", f.extra[u], u)
	}
	return b.String()
}

// measurements are every round's figures by scenario name.
type measurements map[string][]figures

// round returns the figures of name measured in round r.
func (m measurements) round(name string, r int) (figures, bool) {
	for _, f := range m[name] {
		if f.round == r {
			return f, true
		}
	}
	return figures{}, false
}

// medians keeps, for each scenario, the measurement with the median time.
func (m measurements) medians() map[string]figures {
	out := map[string]figures{}
	for name, fs := range m {
		fs = slices.Clone(fs)
		slices.SortFunc(fs, func(a, b figures) int {
			switch {
			case a.ns < b.ns:
				return -1
			case a.ns > b.ns:
				return 1
			}
			return 0
		})
		out[name] = fs[len(fs)/2]
	}
	return out
}

// recorder keeps the failure messages a scenario reports, which
// testing.Benchmark does not print.
type recorder struct {
	testing.TB
	msgs []string
}

func (r *recorder) Error(args ...any) { r.msgs = append(r.msgs, fmt.Sprint(args...)); r.TB.Fail() }
func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
	r.TB.Fail()
}
func (r *recorder) Fatal(args ...any) { r.msgs = append(r.msgs, fmt.Sprint(args...)); r.TB.FailNow() }
func (r *recorder) Fatalf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
	r.TB.FailNow()
}

// once runs f a single time under testing.Benchmark with a recorder, and
// returns what it reported.
func once(f func(tb testing.TB)) string {
	bt := flag.Lookup("test.benchtime").Value.String()
	_ = flag.Set("test.benchtime", "1x")
	defer func() { _ = flag.Set("test.benchtime", bt) }()
	var msgs []string
	testing.Benchmark(func(b *testing.B) {
		rec := &recorder{TB: b}
		defer func() { msgs = rec.msgs }()
		f(rec)
	})
	return strings.Join(msgs, "; ")
}

// diagnose runs a failed scenario once to learn why it failed.
func diagnose(s bench.Scenario) string {
	msg := once(func(tb testing.TB) {
		op := s.Setup(tb)
		if err := op.Run(); err != nil {
			tb.Fatal(err)
		}
	})
	if msg == "" {
		msg = "failed while measured, not when run once"
	}
	return msg
}

func runBurst(st bench.Stack, cfg bench.BurstConfig) (bench.BurstResult, string) {
	var res bench.BurstResult
	msg := once(func(tb testing.TB) { res = bench.Burst(tb, st, cfg) })
	return res, msg
}

// versions returns the module versions of the anchors linked in.
func versions() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	names := []struct{ path, name string }{
		{"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "otelhttp"},
		{"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp", "otlptracehttp"},
		{"go.opentelemetry.io/otel/sdk", "OTel SDK (BatchSpanProcessor)"},
		{"go.opentelemetry.io/contrib/detectors/gcp", "detectors/gcp"},
	}
	var parts []string
	for _, n := range names {
		for _, d := range info.Deps {
			if d.Path == n.path {
				parts = append(parts, n.name+" "+d.Version)
			}
		}
	}
	return strings.Join(parts, ", ")
}

func dur(ns float64) string {
	switch {
	case ns < 0:
		return "-" + dur(-ns)
	case ns == 0:
		return "0"
	case ns < 10:
		return fmt.Sprintf("%.2fns", ns)
	case ns < 1e3:
		return fmt.Sprintf("%.0fns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.2fµs", ns/1e3)
	case ns < 1e9:
		return fmt.Sprintf("%.2fms", ns/1e6)
	}
	return fmt.Sprintf("%.2fs", ns/1e9)
}
