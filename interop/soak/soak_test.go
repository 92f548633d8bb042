package soak_test

import (
	"strings"
	"testing"

	"github.com/gcftrace/gcftrace/interop/soak"
)

// TestSoak runs the short soak: about a second per phase, a flush budget of
// 300 ms. make soak runs the full one.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("the short soak takes about 40 s")
	}
	rep, err := soak.Run(t.Context(), soak.ShortConfig())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := rep.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + b.String())
	for _, f := range rep.Failures() {
		t.Error(f)
	}
}
