package main

import (
	"fmt"

	"github.com/gcftrace/gcftrace/bench"
)

// handlers prints the HTTP wrapper section: per row, otelhttp against
// handler.HTTP with the time each adds over the bare handler, then the floor
// of the row, what any wrapper pays the SDK and the propagator.
func (t *table) handlers() {
	bare, hasBare := t.get("handler", "bare", bench.Bare)
	t.section("HTTP wrapper, per invocation: otelhttp.NewHandler vs handler.HTTP (one SDK provider and propagator per row for every side, discarding exporter)")
	if hasBare {
		t.row(rowFormat, "bare handler (no tracing)", dur(bare.ns), allocs(bare.allocs, false), "", "", "", "", "")
	}
	// added is the paired ratio of side's time over the bare handler's to
	// the anchor's.
	added := func(row string, side bench.Side) (float64, bool) {
		return t.paired(func(get func(string, string, bench.Side) (figures, bool)) (float64, bool) {
			b, bok := get("handler", "bare", bench.Bare)
			a, aok := get("handler", row, bench.Anchor)
			x, xok := get("handler", row, side)
			if !bok || !aok || !xok || a.ns <= b.ns {
				return 0, false
			}
			return (x.ns - b.ns) / (a.ns - b.ns), true
		})
	}
	for _, h := range []struct {
		row, label string
		goal       float64 // 0: none
		allocs     float64
	}{
		{"sampled", "sampled parent", 0.35, 20},
		{"not-sampled", "ignored Dynatrace tag", 0.15, 6},
		{"not-sampled-w3c", "unsampled W3C parent", 0, 0},
	} {
		t.pair(h.label, "handler", h.row, false, func(a, o figures) string {
			r, ok := added(h.row, bench.Ours)
			if !hasBare || !ok {
				return ""
			}
			s := fmt.Sprintf("added over bare: anchor %s, ours %s = %.2f", dur(a.ns-bare.ns), dur(o.ns-bare.ns), r)
			if h.goal > 0 {
				s += fmt.Sprintf(" (goal ≤%.2f %s); allocs goal ≤%.0f %s", h.goal, mark(r <= h.goal), h.allocs, mark(o.allocs <= h.allocs))
			}
			return s
		})
		f, ok := t.get("handler", h.row, bench.Floor)
		if !ok || !hasBare {
			continue
		}
		note := fmt.Sprintf("added over bare: %s", dur(f.ns-bare.ns))
		if r, ok := added(h.row, bench.Floor); ok {
			note += fmt.Sprintf(" = %.2f of the anchor's", r)
		}
		over, ok := t.paired(func(get func(string, string, bench.Side) (figures, bool)) (float64, bool) {
			f, fok := get("handler", h.row, bench.Floor)
			o, ook := get("handler", h.row, bench.Ours)
			return o.ns - f.ns, fok && ook
		})
		if ok {
			sign := "+"
			if over < 0 {
				sign = ""
			}
			note += fmt.Sprintf("; ours − floor: %s%s", sign, dur(over))
		}
		t.row(rowFormat, "  floor: SDK + propagator", "", "", dur(f.ns), allocs(f.allocs, false), "", "", note)
	}
	t.row("%s\n", "  sampled: W3C propagator, SDK ParentBased(AlwaysSample); ignored Dynatrace tag: traceparent flags 00 and a tracestate @dt entry")
	t.row("%s\n", "  with the ignored flag, core.NewPropagator and core.NewSampler(core.WithDynatrace) as wiring sets them up; unsampled W3C")
	t.row("%s\n", "  parent: W3C propagator, SDK ParentBased(AlwaysSample). floor: the row's Extract, Start with the 3 sampler attributes,")
	t.row("%s\n", "  r.WithContext, SetAttributes with the other attributes handler.HTTP records (precomputed) and End, around the bare handler")
}
