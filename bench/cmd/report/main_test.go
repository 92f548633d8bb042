package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gcftrace/gcftrace/bench"
)

// TestMain lets the test binary serve as a cold-start child, as the command
// does.
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

// TestReport runs a few measurements of each kind once and checks that the
// table has their rows. It asserts nothing about the figures.
func TestReport(t *testing.T) {
	var out strings.Builder
	burst := bench.BurstConfig{Concurrency: 10, Rounds: 1, Singles: 2, Work: time.Millisecond}
	filter := `^(handler/(bare|sampled)/|export/gzip=on/spans=10/|invocation/gzip=on/|burst/ours|coldstart/2ms/)`
	if err := run1(&out, io.Discard, "1x", 1, filter, burst, 1); err != nil {
		t.Fatalf("run1: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"anchors: otelhttp v0.72.0",
		"bare handler (no tracing)",
		"sampled parent",
		"gzip on, 10 spans",
		"gzip on, invocation + flush",
		"over the floor",
		"10 concurrent invocations",
		"answers in 2ms",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
