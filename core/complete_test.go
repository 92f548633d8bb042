package core_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gcftrace/gcftrace/core"
	"github.com/gcftrace/gcftrace/ports"
)

func resourceValue(s tracetest.SpanStub, k attribute.Key) string {
	v, _ := s.Resource.Set().Value(k)
	return v.AsString()
}

func spanValue(s tracetest.SpanStub, k attribute.Key) (string, bool) {
	for _, kv := range s.Attributes {
		if kv.Key == k {
			return kv.Value.AsString(), true
		}
	}
	return "", false
}

var (
	partialEnv  = ports.Environment{Platform: ports.PlatformFunctionsGen2, Function: "hello"}
	completeEnv = ports.Environment{Platform: ports.PlatformFunctionsGen2, Function: "hello", ProjectID: "p", Region: "europe-west3", InstanceID: "0087"}
)

func TestProcessorSetResourceCompletesSpansStartedEarlier(t *testing.T) {
	exp := &gateExporter{}
	p := core.NewProcessor(exp, core.WithResourceCompletion(time.Second))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(core.NewResource(partialEnv, core.NewDefaultConfig())),
		sdktrace.WithSpanProcessor(p),
	)
	endSpans(tp, 1) // started before the lookups finished
	p.SetResource(core.NewResource(completeEnv, core.NewDefaultConfig()))
	if err := p.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	s := exp.GetSpans()[0]
	if got := resourceValue(s, "cloud.region"); got != "europe-west3" {
		t.Fatalf("cloud.region = %q, want the completed resource's", got)
	}
	if got := resourceValue(s, "faas.instance"); got != "0087" {
		t.Fatalf("faas.instance = %q", got)
	}
}

func TestProcessorFirstExportWaitsForResourceAtMostItsCap(t *testing.T) {
	exp := &gateExporter{}
	p := core.NewProcessor(exp, core.WithResourceCompletion(50*time.Millisecond))
	tp := newProvider(p)
	endSpans(tp, 1)
	start := time.Now()
	if err := p.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	if first < 50*time.Millisecond {
		t.Fatalf("first flush returned after %v, before the 50ms cap with no resource", first)
	}
	endSpans(tp, 1)
	start = time.Now()
	if err := p.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The second flush must not wait again: it would take 50ms if it did.
	// (Not a timing target: the difference between waiting and not.)
	if second := time.Since(start); second >= 50*time.Millisecond {
		t.Fatalf("second flush took %v: it waited for the resource again", second)
	}
}

func TestProcessorFirstExportReleasedBySetResource(t *testing.T) {
	exp := &gateExporter{}
	p := core.NewProcessor(exp, core.WithResourceCompletion(time.Minute))
	endSpans(newProvider(p), 1)
	go func() {
		time.Sleep(10 * time.Millisecond)
		p.SetResource(core.NewResource(completeEnv, core.NewDefaultConfig()))
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := p.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := resourceValue(exp.GetSpans()[0], "cloud.account.id"); got != "p" {
		t.Fatalf("cloud.account.id = %q, want p", got)
	}
}

func TestProcessorFirstExportWaitBoundedByFlushBudget(t *testing.T) {
	exp := &gateExporter{}
	p := core.NewProcessor(exp, core.WithResourceCompletion(time.Minute), core.WithFlushTimeout(30*time.Millisecond))
	endSpans(newProvider(p), 1)
	done := make(chan error, 1)
	go func() { done <- p.ForceFlush(context.Background()) }()
	select {
	case err := <-done:
		// The wait took at most half of the budget: the export had the
		// other half and succeeded.
		if err != nil {
			t.Fatalf("first flush = %v, want the export to fit in the budget after the wait", err)
		}
		if got := len(exp.GetSpans()); got != 1 {
			t.Fatalf("exported %d spans, want 1", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("first flush waited for the resource past its 30ms budget")
	}
}

func TestProcessorFirstWaitLeavesHalfTheBudgetToTheExport(t *testing.T) {
	exp := &gateExporter{release: make(chan struct{})}
	p := core.NewProcessor(exp, core.WithResourceCompletion(time.Minute), core.WithFlushTimeout(200*time.Millisecond))
	endSpans(newProvider(p), 1)
	// The export is released 150ms after the flush starts: only a wait of
	// at most half of the 200ms budget leaves it time to finish.
	go func() { time.Sleep(150 * time.Millisecond); close(exp.release) }()
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatalf("first flush = %v, want success: the wait may use only half of the budget", err)
	}
}

func TestProcessorOtherFlushesDoNotWaitForTheResource(t *testing.T) {
	exp := &gateExporter{}
	p := core.NewProcessor(exp, core.WithResourceCompletion(time.Minute))
	tp := newProvider(p)
	endSpans(tp, 1)
	first := make(chan error, 1)
	go func() { first <- p.ForceFlush(context.Background()) }() // waits for the resource (up to 1s: half its budget)
	time.Sleep(20 * time.Millisecond)
	endSpans(tp, 1)
	start := time.Now()
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Waiting would take the first flush's remaining wait, most of a second.
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("a second invocation's flush took %v: it waited on the metadata lookups", d)
	}
	if got := len(exp.GetSpans()); got != 2 {
		t.Fatalf("exported %d spans, want both with what is known", got)
	}
	p.SetResource(core.NewResource(completeEnv, core.NewDefaultConfig()))
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

func TestProcessorExpiredFlushLeavesTheResourceWait(t *testing.T) {
	exp := &gateExporter{release: make(chan struct{})} // fails when its context ends first
	p := core.NewProcessor(exp, core.WithResourceCompletion(time.Minute))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(core.NewResource(partialEnv, core.NewDefaultConfig())),
		sdktrace.WithSpanProcessor(p),
	)
	endSpans(tp, 1)
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_ = p.ForceFlush(expired) // no time to wait: the one wait stays unclaimed
	close(exp.release)
	go func() {
		time.Sleep(20 * time.Millisecond)
		p.SetResource(core.NewResource(completeEnv, core.NewDefaultConfig()))
	}()
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) == 0 || resourceValue(spans[len(spans)-1], "cloud.region") != "europe-west3" {
		t.Fatalf("the flush after an expired one did not wait for the resource: %d spans", len(spans))
	}
}

func TestProcessorNegativeResourceWaitNeverWaits(t *testing.T) {
	exp := &gateExporter{}
	p := core.NewProcessor(exp, core.WithResourceCompletion(-1))
	endSpans(newProvider(p), 1)
	start := time.Now()
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Not a timing target: waiting would take the default 250ms.
	if d := time.Since(start); d >= 200*time.Millisecond {
		t.Fatalf("flush took %v: a negative wait must not wait (the default would wait 250ms)", d)
	}
}

func TestProcessorSpanIdentity(t *testing.T) {
	exp := &gateExporter{}
	p := core.NewProcessor(exp, core.WithSpanIdentity())
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(core.NewResource(completeEnv, core.NewDefaultConfig())),
		sdktrace.WithSpanProcessor(p),
	)
	_, s := tp.Tracer("t").Start(context.Background(), "child")
	s.SetAttributes(attribute.String("faas.name", "own-value"))
	s.End()
	_ = p.ForceFlush(t.Context())
	got := exp.GetSpans()[0]
	if v, _ := spanValue(got, "cloud.region"); v != "europe-west3" {
		t.Errorf("span cloud.region = %q, want it copied from the resource", v)
	}
	if v, _ := spanValue(got, "faas.name"); v != "own-value" {
		t.Errorf("span faas.name = %q, want the span's own value to win", v)
	}
}

func TestProcessorWithoutIdentityLeavesSpanAttributes(t *testing.T) {
	exp := &gateExporter{}
	p := core.NewProcessor(exp)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("cloud.region", "r"))),
		sdktrace.WithSpanProcessor(p),
	)
	endSpans(tp, 1)
	_ = p.ForceFlush(t.Context())
	if _, ok := spanValue(exp.GetSpans()[0], "cloud.region"); ok {
		t.Error("identity keys copied onto spans without WithSpanIdentity")
	}
}

// TestProcessorReusesNothingAFailedExportReported flushes with a completed
// resource, so that spans are wrapped for export: a failed export's error
// still lists its own spans after later flushes, and every later flush
// exports its own spans once.
func TestProcessorReusesNothingAFailedExportReported(t *testing.T) {
	exp := &partialExporter{}
	p := core.NewProcessor(exp, core.WithResourceCompletion(time.Millisecond))
	p.SetResource(core.NewResource(completeEnv, core.NewDefaultConfig()))
	tp := newProvider(p)
	endSpans(tp, 3)
	err := p.ForceFlush(t.Context())
	var failed ports.UndeliveredError
	if !errors.As(err, &failed) {
		t.Fatalf("ForceFlush = %v, want the partial failure", err)
	}
	names := func(spans []sdktrace.ReadOnlySpan) []string {
		var out []string
		for _, s := range spans {
			out = append(out, s.Name())
		}
		return out
	}
	want := names(failed.Undelivered())
	for round := range 3 {
		tr := tp.Tracer("test")
		_, s := tr.Start(context.Background(), fmt.Sprintf("round-%d", round))
		s.End()
		if err := p.ForceFlush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := names(failed.Undelivered()); !slices.Equal(got, want) {
		t.Errorf("the failed export's spans became %v, want %v", got, want)
	}
	var got []string
	for _, s := range exp.GetSpans() {
		got = append(got, s.Name)
	}
	if want := []string{"span-0", "span-1", "span-2", "round-0", "round-1", "round-2"}; !slices.Equal(got, want) {
		t.Errorf("exported %v, want %v", got, want)
	}
}
