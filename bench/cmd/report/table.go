package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/gcftrace/gcftrace/adapters/export"
	"github.com/gcftrace/gcftrace/bench"
)

type table struct {
	m      map[string]figures // medians, shown
	all    measurements       // every round, for paired ratios
	rounds int
	bursts map[bench.Side]bench.BurstResult
	burst  bench.BurstConfig
	w      io.Writer

	cold     map[string]bench.ColdStartResult // by mode/side
	coldRuns int

	title string // section title not printed yet; see row
}

// row prints one line, after the pending section title.
func (t *table) row(format string, args ...any) {
	if t.title != "" {
		fmt.Fprintf(t.w, "\n%s\n", t.title)
		t.title = ""
	}
	fmt.Fprintf(t.w, format, args...)
}

const rowFormat = "  %-28s %9s %7s  %9s %7s  %6s %6s  %s\n"

func (t *table) get(group, row string, side bench.Side) (figures, bool) {
	f, ok := t.m[group+"/"+row+"/"+string(side)]
	return f, ok
}

// paired returns the median over rounds of f, computed from figures of the
// same round: scenarios measured seconds apart share the machine's load of
// the moment, so their ratio is steadier than a ratio of medians. f gets
// the figures of a round by scenario name and reports whether it could
// compute a value. Without an all-rounds record it falls back to medians.
func (t *table) paired(f func(get func(group, row string, side bench.Side) (figures, bool)) (float64, bool)) (float64, bool) {
	if t.all == nil {
		return f(t.get)
	}
	var vs []float64
	for r := range t.rounds {
		get := func(group, row string, side bench.Side) (figures, bool) {
			return t.all.round(group+"/"+row+"/"+string(side), r)
		}
		if v, ok := f(get); ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	return vs[len(vs)/2], true
}

// ratioOf is the paired ours/anchor ratio of field for group/row.
func (t *table) ratioOf(group, row string, field func(figures) float64) (float64, bool) {
	return t.paired(func(get func(string, string, bench.Side) (figures, bool)) (float64, bool) {
		a, aok := get(group, row, bench.Anchor)
		o, ook := get(group, row, bench.Ours)
		if !aok || !ook || field(a) <= 0 {
			return 0, false
		}
		return field(o) / field(a), true
	})
}

func nsOf(f figures) float64     { return f.ns }
func allocsOf(f figures) float64 { return f.allocs }

// section starts a section; its title is printed with its first row.
func (t *table) section(title string) { t.title = title }

// pair prints one comparison row: medians, paired ratios and a note.
func (t *table) pair(label, group, row string, perSpan bool, note func(a, o figures) string) {
	a, aok := t.get(group, row, bench.Anchor)
	o, ook := t.get(group, row, bench.Ours)
	if !aok && !ook {
		return
	}
	cells := []string{"", "", "", "", "", ""}
	if aok {
		cells[0], cells[1] = dur(a.ns), allocs(a.allocs, perSpan)
	}
	if ook {
		cells[2], cells[3] = dur(o.ns), allocs(o.allocs, perSpan)
	}
	if v, ok := t.ratioOf(group, row, nsOf); ok {
		cells[4] = fmt.Sprintf("%.2f", v)
	}
	if v, ok := t.ratioOf(group, row, allocsOf); ok {
		cells[5] = fmt.Sprintf("%.2f", v)
	}
	n := ""
	if aok && ook && note != nil {
		n = note(a, o)
	}
	t.row(rowFormat, label, cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], n)
}

func (t *table) print(w io.Writer, benchtime string, count int, took time.Duration) {
	t.w = w
	fmt.Fprintln(w, "gcftrace side-by-side benchmarks: every figure measured in this run, on this machine")
	fmt.Fprintf(w, "%s %s/%s, %d CPUs, GOMAXPROCS %d, benchtime %s, median of %d\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), benchtime, max(count, 1))
	fmt.Fprintf(w, "anchors: %s\n", versions())
	fmt.Fprintln(w, "receiver: one loopback HTTP server for all: reads and discards the body, answers 200 with an empty protobuf body")
	fmt.Fprintln(w, "times and allocs are medians; ours/anchor ratios are medians of per-round ratios (both sides measured back to back)")
	fmt.Fprintln(w, "allocs are counted process-wide, so they include the in-process receiver's, the same for both sides")
	fmt.Fprintf(w, "\n"+rowFormat, "", "anchor", "", "ours", "", "ours/anchor", "", "")
	fmt.Fprintf(w, rowFormat, "", "time", "allocs", "time", "allocs", "time", "allocs", "notes")

	t.handlers()

	t.section("SDK span path: BatchSpanProcessor vs core.Processor (defaults, discarding exporter, untimed ForceFlush every 1024 spans)")
	deliv := func(a, o figures) string {
		return fmt.Sprintf("delivered: anchor %s, ours %s", pct(a.extra["delivered"]), pct(o.extra["delivered"]))
	}
	t.pair("span, 8 attributes", "span", "8-attributes", false, deliv)
	t.pair("OnEnd alone", "onend", "one-span", false, deliv)

	t.section("Trace context: extract + inject of traceparent + tracestate (our @dt entry and two other vendors'), TraceContext vs core.NewPropagator (+ x-dynatrace)")
	t.pair("extract + inject", "propagate", "extract+inject", false, nil)
	t.section("Sampling, one ShouldSample: ParentBased(AlwaysSample) vs core.NewSampler (Dynatrace rules; + budget: a budget of root spans per minute the run never exhausts, its bookkeeping within budget)")
	t.pair("root", "sample", "root", false, nil)
	t.pair("root + budget", "sample", "root/budget", false, nil)
	t.pair("remote parent, @dt tag", "sample", "remote-parent", false, nil)
	t.pair("remote parent + budget", "sample", "remote-parent/budget", false, nil)

	t.section("Encoding without network, per span: otlptrace transform + proto.Marshal vs export.AppendRequest into a reused buffer")
	for _, n := range bench.Batches {
		t.pair(fmt.Sprintf("%d spans", n), "encode", fmt.Sprintf("spans=%d", n), true, func(a, o figures) string {
			if n != bench.Batches[len(bench.Batches)-1] {
				return ""
			}
			r, _ := t.ratioOf("encode", fmt.Sprintf("spans=%d", n), nsOf)
			return fmt.Sprintf("goal time ≤%.3f %s, ≤0.05 allocs/span %s; bytes: anchor %.0f, ours %.0f",
				1.0/15, mark(r <= 1.0/15), mark(o.allocs <= 0.05), a.extra["B/req"], o.extra["B/req"])
		})
	}

	t.section(fmt.Sprintf("Export to the loopback receiver, per span, %d attributes: otlptracehttp vs adapters/export; "+
		"gzip on: the anchor compresses every body with compress/gzip level 6, ours with klauspost/compress level 1 "+
		"and sends a body under %d bytes as is", bench.ExportAttributes, export.DefaultCompressionMinBytes))
	for _, gz := range []string{"off", "on"} {
		for _, n := range bench.Batches {
			goal := 0.2
			if gz == "on" {
				goal = 0.5
			}
			t.pair(fmt.Sprintf("gzip %s, %d spans", gz, n), "export", fmt.Sprintf("gzip=%s/spans=%d", gz, n), true, func(a, o figures) string {
				s := fmt.Sprintf("bytes/request: anchor %.0f, ours %.0f", a.extra["B/req"], o.extra["B/req"])
				if n == bench.Batches[len(bench.Batches)-1] {
					r, _ := t.ratioOf("export", fmt.Sprintf("gzip=%s/spans=%d", gz, n), nsOf)
					s += fmt.Sprintf("; goal ≤%.2f %s", goal, mark(r <= goal))
				}
				return s
			})
		}
	}

	t.section("One invocation with flush on exit: otelhttp + BatchSpanProcessor + otlptracehttp + ForceFlush vs handler.HTTP + wiring.New")
	for _, gz := range []string{"on", "off"} {
		row := "gzip=" + gz
		t.pair("gzip "+gz+", invocation + flush", "invocation", row, false, func(a, o figures) string {
			s := fmt.Sprintf("export requests/invocation: anchor %.2f, ours %.2f; bytes/request: anchor %.0f, ours %.0f",
				a.extra["req/op"], o.extra["req/op"], a.extra["B/req"], o.extra["B/req"])
			if gz == "on" {
				s += " (ours sends a body under export.DefaultCompressionMinBytes as is)"
			}
			return s
		})
		floor, ok := t.get("invocation", row, bench.Floor)
		if !ok {
			continue
		}
		overFloor := func(side bench.Side) (float64, bool) {
			return t.paired(func(get func(string, string, bench.Side) (figures, bool)) (float64, bool) {
				f, fok := get("invocation", row, bench.Floor)
				x, xok := get("invocation", row, side)
				if !fok || !xok || f.ns <= 0 {
					return 0, false
				}
				return x.ns / f.ns, true
			})
		}
		cells := []string{"", "", ""}
		if v, ok := overFloor(bench.Anchor); ok {
			cells[0] = fmt.Sprintf("%.2f×", v)
		}
		if v, ok := overFloor(bench.Ours); ok {
			cells[1] = fmt.Sprintf("%.2f×", v)
			cells[2] = fmt.Sprintf("goal ours ≤1.30× %s; ", mark(v <= 1.3))
		}
		t.row(rowFormat, "  over the floor", cells[0], "", cells[1], "", "", "",
			cells[2]+fmt.Sprintf("floor = bare handler + loopback POST of our bytes: %s, %s allocs", dur(floor.ns), allocs(floor.allocs, false)))
	}

	if len(t.bursts) > 0 {
		b := t.burst
		t.section(fmt.Sprintf("%d concurrent invocations with flush on exit (function waits %s; %d bursts = %d invocations), latency per invocation; "+
			"%d runs per side, interleaved, the run with the median p99/alone shown",
			b.Concurrency, b.Work, b.Rounds, b.Concurrency*b.Rounds, max(t.rounds, 1)))
		const bf = "  %-28s %9s %9s %9s %9s  %10s  %12s  %s\n"
		t.row(bf, "", "alone", "p50", "p99", "max", "p99/alone", "requests/inv", "")
		for _, side := range []bench.Side{bench.Bare, bench.Anchor, bench.Ours} {
			r, ok := t.bursts[side]
			if !ok {
				continue
			}
			label := map[bench.Side]string{bench.Bare: "untraced function", bench.Anchor: "anchor", bench.Ours: "ours"}[side]
			note := ""
			if side == bench.Ours {
				note = fmt.Sprintf("goal p99/alone ≤1.30 %s, requests/inv ≤0.10 %s", mark(r.P99Ratio() <= 1.3), mark(r.RequestsPerInvocation() <= 0.1))
			}
			t.row(bf, label, dur(float64(r.Single)), dur(float64(r.P50)), dur(float64(r.P99)), dur(float64(r.Max)),
				fmt.Sprintf("%.2f", r.P99Ratio()), fmt.Sprintf("%.3f", r.RequestsPerInvocation()), note)
		}
	}
	t.coldStarts()
	fmt.Fprintf(w, "\ntook %s\n", took.Round(time.Second))
}

func allocs(v float64, perSpan bool) string {
	switch {
	case perSpan:
		return fmt.Sprintf("%.3f", v)
	case v < 1 && v != 0:
		return fmt.Sprintf("%.2f", v)
	case v < 10 && math.Abs(v-math.Round(v)) >= 0.05:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func pct(v float64) string { return strings.TrimSuffix(fmt.Sprintf("%.1f", v*100), ".0") + "%" }

func mark(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISS"
}

func (t *table) coldStarts() {
	if len(t.cold) == 0 {
		return
	}
	t.section(fmt.Sprintf("Cold start in a fresh process: set tracing up, serve the first request with its flush (median of %d); metadata emulator at GCE_METADATA_HOST", t.coldRuns))
	t.row("%s\n", "  anchor: contrib detectors/gcp via resource.New + otelhttp + BatchSpanProcessor + otlptracehttp + ForceFlush; ours: wiring.New(ctx) from the environment + handler.HTTP")
	const cf = "  %-28s %9s %9s  %9s %9s  %6s %11s  %s\n"
	t.row("%s\n", "  + is the time added over the untraced function; export+ is one POST on a new connection, ours-export is ours+ beyond it")
	t.row(cf, "metadata server", "untraced", "export+", "anchor+", "ours+", "ratio", "ours-export", "")
	for _, mode := range bench.MetadataModes {
		get := func(s bench.Side) (time.Duration, bool) {
			r, ok := t.cold[mode.Name+"/"+string(s)]
			return r.Median, ok
		}
		bare, bok := get(bench.Bare)
		if !bok {
			continue
		}
		floor, fok := get(bench.Floor)
		a, aok := get(bench.Anchor)
		o, ook := get(bench.Ours)
		cells := []string{dur(float64(bare)), "", "", "", "", "", ""}
		if fok {
			cells[1] = dur(float64(floor - bare))
		}
		if aok {
			cells[2] = dur(float64(a - bare))
		}
		if ook {
			cells[3] = dur(float64(o - bare))
		}
		if aok && ook && a > bare {
			cells[4] = fmt.Sprintf("%.3f", float64(o-bare)/float64(a-bare))
		}
		if ook && fok {
			cells[5] = dur(float64(o - floor))
		}
		if ook {
			switch mode.Name {
			case "2ms":
				if fok {
					cells[6] = fmt.Sprintf("goal ours-export ≤1ms %s", mark(o-floor <= time.Millisecond))
				}
			case "200ms":
				if aok {
					cells[6] = fmt.Sprintf("goal ratio ≤0.33 %s", mark(float64(o-bare) <= float64(a-bare)/3))
				}
			case "refused":
				cells[6] = fmt.Sprintf("goal ours+ ≤1ms %s", mark(o-bare <= time.Millisecond))
			}
		}
		t.row(cf, modeLabel(mode.Name), cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6])
	}
}

func modeLabel(name string) string {
	if name == "refused" {
		return "refuses connections"
	}
	return "answers in " + name
}
