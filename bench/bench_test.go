package bench_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/gcftrace/gcftrace/bench"
)

// TestMain lets the test binary serve as a cold-start child.
func TestMain(m *testing.M) {
	if child, err := bench.ColdStartChild(); child {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func newChild(ctx context.Context) *exec.Cmd {
	return exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
}

// TestColdStart runs one cold start per side with the emulator answering
// in 2 ms.
func TestColdStart(t *testing.T) {
	mode := bench.MetadataModes[0]
	for _, side := range bench.ColdStartSides {
		t.Run(string(side), func(t *testing.T) {
			res := bench.ColdStart(t, newChild, side, mode, 1)
			t.Logf("%s: %v, %g requests", side, res.Median, res.Requests)
			if res.Median <= 0 {
				t.Errorf("Median = %v, want > 0", res.Median)
			}
			// One export each; ours also warms its connection at setup
			// with one empty export.
			want := map[bench.Side]float64{bench.Bare: 0, bench.Floor: 1, bench.Anchor: 1, bench.Ours: 2}[side]
			if res.Requests != want {
				t.Errorf("Requests = %g per cold start, want %g", res.Requests, want)
			}
		})
	}
}

// TestScenarios runs every scenario's operation a few times, untimed, and
// checks that it did its work.
func TestScenarios(t *testing.T) {
	for _, s := range bench.Scenarios() {
		t.Run(s.Name(), func(t *testing.T) {
			got := s.Test(t)
			if v, ok := got["req/op"]; ok && v < 1 {
				t.Errorf("req/op = %g, want at least 1 export request per operation", v)
			}
			if v, ok := got["delivered"]; ok && v <= 0 {
				t.Errorf("delivered = %g, want spans to reach the exporter", v)
			}
			if v, ok := got["spans/op"]; ok {
				want := 1.0
				if s.Row == "not-sampled" {
					want = 0
				}
				if v != want {
					t.Errorf("spans/op = %g, want %g", v, want)
				}
			}
		})
	}
}

// TestBurst runs a small burst through every stack.
func TestBurst(t *testing.T) {
	cfg := bench.BurstConfig{Concurrency: 20, Rounds: 2, Singles: 3, Work: time.Millisecond}
	for _, st := range bench.Stacks {
		t.Run(string(st.Side), func(t *testing.T) {
			res := bench.Burst(t, st, cfg)
			if want := cfg.Concurrency * cfg.Rounds; res.Invocations != want {
				t.Errorf("Invocations = %d, want %d", res.Invocations, want)
			}
			if res.Single <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
				t.Errorf("latencies out of order: single %v, p50 %v, p99 %v, max %v", res.Single, res.P50, res.P99, res.Max)
			}
			switch st.Side {
			case bench.Bare:
				if res.Requests != 0 {
					t.Errorf("Requests = %d without tracing, want 0", res.Requests)
				}
			default:
				if res.Requests < 1 {
					t.Errorf("Requests = %d, want the spans exported", res.Requests)
				}
			}
		})
	}
}

func benchGroup(b *testing.B, group string) {
	for _, s := range bench.Select(group) {
		b.Run(s.Row+"/"+string(s.Side), s.Benchmark)
	}
}

func BenchmarkHandler(b *testing.B)    { benchGroup(b, "handler") }
func BenchmarkSpan(b *testing.B)       { benchGroup(b, "span") }
func BenchmarkOnEnd(b *testing.B)      { benchGroup(b, "onend") }
func BenchmarkEncode(b *testing.B)     { benchGroup(b, "encode") }
func BenchmarkExport(b *testing.B)     { benchGroup(b, "export") }
func BenchmarkInvocation(b *testing.B) { benchGroup(b, "invocation") }

// BenchmarkBurst runs one burst of bench.DefaultBurst per iteration and
// reports its p99 over a lone invocation and export requests per invocation.
func BenchmarkBurst(b *testing.B) {
	for _, st := range bench.Stacks {
		b.Run(string(st.Side), func(b *testing.B) {
			cfg := bench.DefaultBurst
			cfg.Rounds = b.N
			res := bench.Burst(b, st, cfg)
			b.ReportMetric(float64(res.P99.Nanoseconds()), "p99-ns")
			b.ReportMetric(res.P99Ratio(), "p99/single")
			b.ReportMetric(res.RequestsPerInvocation(), "req/inv")
		})
	}
}

// BenchmarkColdStart measures b.N cold starts per side and mode, each in a
// fresh process, and reports the median.
func BenchmarkColdStart(b *testing.B) {
	for _, mode := range bench.MetadataModes {
		for _, side := range bench.ColdStartSides {
			b.Run(mode.Name+"/"+string(side), func(b *testing.B) {
				res := bench.ColdStart(b, newChild, side, mode, b.N)
				b.ReportMetric(float64(res.Median.Nanoseconds()), "median-ns")
			})
		}
	}
}
