package core_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/core"
)

// parent returns a context with sc as remote or local parent.
func parent(ctx context.Context, sc trace.SpanContext, remote bool) context.Context {
	if remote {
		return trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return trace.ContextWithSpanContext(ctx, sc)
}

func params(ctx context.Context, traceID trace.TraceID, attrs ...attribute.KeyValue) sdktrace.SamplingParameters {
	return sdktrace.SamplingParameters{ParentContext: ctx, TraceID: traceID, Name: "span", Attributes: attrs}
}

func TestSamplerDecisions(t *testing.T) {
	tid := mustTraceID(t, traceA)
	tests := []struct {
		name        string
		opts        []core.SamplerOption
		giveParent  *trace.SpanContext
		giveRemote  bool
		wantSampled bool
		wantEntry   string // our tracestate entry; "" for none, "root" for a new root tag
		wantRest    string // the rest of the tracestate
	}{
		{name: "root", wantSampled: true},
		{name: "root, Dynatrace", opts: dt(), wantSampled: true, wantEntry: "root"},
		{
			name:       "remote unsampled without tag",
			giveParent: ptr(spanContext(t, traceA, spanA, false, "rojo=1")), giveRemote: true,
			wantSampled: true, wantRest: "rojo=1",
		},
		{
			name: "remote unsampled without tag, Dynatrace", opts: dt(),
			giveParent: ptr(spanContext(t, traceA, spanA, false, "rojo=1")), giveRemote: true,
			wantSampled: true, wantEntry: "root", wantRest: "rojo=1",
		},
		{
			name: "remote unsampled without tag, honoured", opts: []core.SamplerOption{core.WithDynatrace(testDT), core.WithHonorUnsampledRemoteParent(true)},
			giveParent: ptr(spanContext(t, traceA, spanA, false, "rojo=1")), giveRemote: true,
			wantSampled: false, wantEntry: "fw4;0;0;0;0;1;0;", wantRest: "rojo=1",
		},
		{
			name: "remote sampled, honoured", opts: []core.SamplerOption{core.WithHonorUnsampledRemoteParent(true)},
			giveParent: ptr(spanContext(t, traceA, spanA, true, "")), giveRemote: true,
			wantSampled: true,
		},
		{
			name: "remote tag ignored drops", opts: dt(),
			giveParent: ptr(spanContext(t, traceA, spanA, true, dtKey+"="+entryAIgn)), giveRemote: true,
			wantSampled: false, wantEntry: entryAIgn,
		},
		{
			name: "remote tag not ignored samples", opts: dt(),
			giveParent: ptr(spanContext(t, traceA, spanA, false, "rojo=1,"+dtKey+"="+entryA)), giveRemote: true,
			wantSampled: true, wantEntry: entryA, wantRest: "rojo=1",
		},
		{
			name: "remote tag of another trace is replaced", opts: dt(),
			giveParent: ptr(spanContext(t, traceA, spanA, false, dtKey+"=fw4;0;0;0;0;1;0;0;dd95;2h01;6haa2233445566778899001122334455bb;7h"+spanA)), giveRemote: true,
			wantSampled: true, wantEntry: "root",
		},
		{
			name: "foreign tenant's tag is no tag", opts: dt(),
			giveParent: ptr(spanContext(t, traceA, spanA, false, "6cab5bb-290@dt=fw4;0;0;0;0;1;0;0")), giveRemote: true,
			wantSampled: true, wantEntry: "root", wantRest: "6cab5bb-290@dt=fw4;0;0;0;0;1;0;0",
		},
		{
			name:        "local sampled",
			giveParent:  ptr(spanContext(t, traceA, spanA, true, "rojo=1")),
			wantSampled: true, wantRest: "rojo=1",
		},
		{
			name:        "local unsampled",
			giveParent:  ptr(spanContext(t, traceA, spanA, false, "")),
			wantSampled: false,
		},
		{
			name: "local with tag follows its flag", opts: dt(),
			giveParent:  ptr(spanContext(t, traceA, spanA, true, dtKey+"="+entryAIgn)),
			wantSampled: true, wantEntry: entryAIgn,
		},
		{
			name: "local without tag gets one", opts: dt(),
			giveParent:  ptr(spanContext(t, traceA, spanA, false, "")),
			wantSampled: false, wantEntry: "fw4;0;0;0;0;1;0;",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.giveParent != nil {
				ctx = parent(ctx, *tt.giveParent, tt.giveRemote)
			}
			r := core.NewSampler(tt.opts...).ShouldSample(params(ctx, tid))
			if got := r.Decision == sdktrace.RecordAndSample; got != tt.wantSampled {
				t.Errorf("decision = %v, want sampled %v", r.Decision, tt.wantSampled)
			}
			entry := r.Tracestate.Get(dtKey)
			switch {
			case tt.wantEntry == "root":
				if !strings.HasPrefix(entry, "fw4;0;0;0;0;0;0;") || strings.Count(entry, ";") != 7 {
					t.Errorf("entry = %q, want a root tag", entry)
				}
			case strings.HasSuffix(tt.wantEntry, ";"):
				if !strings.HasPrefix(entry, tt.wantEntry) {
					t.Errorf("entry = %q, want prefix %q", entry, tt.wantEntry)
				}
			case entry != tt.wantEntry:
				t.Errorf("entry = %q, want %q", entry, tt.wantEntry)
			}
			if written := tt.wantEntry == "root" || strings.HasSuffix(tt.wantEntry, ";"); written &&
				!strings.HasPrefix(r.Tracestate.String(), dtKey+"=") {
				t.Errorf("tracestate = %q, want the new entry first", r.Tracestate)
			}
			if got := r.Tracestate.Delete(dtKey).String(); got != tt.wantRest {
				t.Errorf("other tracestate members = %q, want %q", got, tt.wantRest)
			}
		})
	}
}

func TestSamplerLinksAndNilContext(t *testing.T) {
	s := core.NewSampler(dt()...)
	p := params(nil, mustTraceID(t, traceA)) //lint:ignore SA1012 a nil context must not panic
	p.Links = []trace.Link{{SpanContext: spanContext(t, traceB, spanB, false, "rojo=1")}}
	if r := s.ShouldSample(p); r.Decision != sdktrace.RecordAndSample {
		t.Errorf("root with a link without a tag: %v, want sampled", r.Decision)
	}
}

func TestSamplerRootTagIsStable(t *testing.T) {
	s := core.NewSampler(dt()...)
	tid := mustTraceID(t, traceA)
	a := s.ShouldSample(params(t.Context(), tid)).Tracestate.Get(dtKey)
	b := s.ShouldSample(params(t.Context(), tid)).Tracestate.Get(dtKey)
	if a != b {
		t.Errorf("root tags for one trace id differ: %q, %q", a, b)
	}
}

func TestSamplerExponentAttributes(t *testing.T) {
	s := core.NewSampler(dt()...)
	ctx := parent(t.Context(), spanContext(t, traceA, spanA, true, dtKey+"=fw4;0;0;0;0;0;3;2a"), true)
	r := s.ShouldSample(params(ctx, mustTraceID(t, traceA)))
	want := []attribute.KeyValue{
		attribute.Int64("supportability.atm_sampling_ratio", 8),
		attribute.Int64("sampling.threshold", 1<<56-1<<53),
	}
	if attribute.NewSet(r.Attributes...) != attribute.NewSet(want...) {
		t.Errorf("attributes = %v, want %v", r.Attributes, want)
	}

	ctx = parent(t.Context(), spanContext(t, traceA, spanA, true, dtKey+"=fw4;0;0;0;0;0;0;2a"), true)
	if r := s.ShouldSample(params(ctx, mustTraceID(t, traceA))); len(r.Attributes) != 0 {
		t.Errorf("attributes at exponent 0 without a budget = %v, want none", r.Attributes)
	}
}

func TestSamplerDescription(t *testing.T) {
	got := core.NewSampler(core.WithDynatrace(testDT), core.WithRootSpansPerMinute(1000)).Description()
	if want := "gcftrace.Sampler{dynatrace=34d2ae74-7b@dt,rootSpansPerMinute=1000,honorUnsampledRemoteParent=false}"; got != want {
		t.Errorf("Description() = %q, want %q", got, want)
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// TestSamplerBudgetConverges: skewed streams of 100,000 new traces, 10,000 a
// minute over 10 minutes with a budget of 1,000 a minute, keep within 10 % of
// the budget every minute, and rare keys stay sampled.
func TestSamplerBudgetConverges(t *testing.T) {
	tests := []struct {
		name       string
		giveRoutes uint64  // Zipf-distributed routes, s = 1.2
		wantRare   float64 // share of rare keys' traces kept after the first minute
	}{
		// Every route fits the top-100 summary: a rare key seen last minute
		// keeps exponent 0.
		{name: "60 routes", giveRoutes: 60, wantRare: 1},
		// A long tail the summary cannot hold: rare keys share the rest
		// bucket's exponent.
		{name: "500 routes", giveRoutes: 500, wantRare: 1.0 / 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const (
				budget    = 1000
				perMinute = 10000
				minutes   = 10
			)
			clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			s := core.NewSampler(core.WithDynatrace(testDT), core.WithRootSpansPerMinute(budget), core.WithSamplerClock(clock.now))

			rng := rand.New(rand.NewPCG(1, 2))
			zipf := rand.NewZipf(rng, 1.2, 1, tt.giveRoutes-1)
			rare := []string{"/rare/a", "/rare/b", "/rare/c", "/rare/d", "/rare/e"}

			sampled := make([]int, minutes)
			rareSeen, rareSampled := 0, 0
			for i := range minutes * perMinute {
				route := "/route/" + strconv.FormatUint(zipf.Uint64(), 10)
				isRare := i%2000 == 1000 // each rare key once a minute
				if isRare {
					route = rare[(i/2000)%len(rare)]
				}
				var tid trace.TraceID
				for j := range tid {
					tid[j] = byte(rng.Uint32())
				}
				r := s.ShouldSample(params(t.Context(), tid,
					attribute.String("http.request.method", "GET"), attribute.String("http.route", route)))
				ok := r.Decision == sdktrace.RecordAndSample
				if ok {
					sampled[i/perMinute]++
				}
				if isRare && i >= perMinute {
					rareSeen++
					if ok {
						rareSampled++
					}
				}
				// The decision travels in the tag.
				if tag := strings.Split(r.Tracestate.Get(dtKey), ";"); (tag[5] == "1") == ok {
					t.Fatalf("decision %v, tag %q", r.Decision, tag)
				}
				clock.t = clock.t.Add(time.Minute / perMinute)
			}
			t.Logf("kept per minute: %v; rare keys %d of %d", sampled, rareSampled, rareSeen)
			for m, n := range sampled {
				if n < budget*9/10 || n > budget*11/10 {
					t.Errorf("minute %d: %d kept, want %d ± 10 %%", m, n, budget)
				}
			}
			if float64(rareSampled) < tt.wantRare*float64(rareSeen) {
				t.Errorf("rare keys kept %d of %d, want at least %.0f %%", rareSampled, rareSeen, 100*tt.wantRare)
			}
		})
	}
}

// TestSamplerBudgetWarmUp: before a minute has been counted, the exponent
// grows by one for every half budget of traces.
func TestSamplerBudgetWarmUp(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := core.NewSampler(core.WithDynatrace(testDT), core.WithRootSpansPerMinute(10), core.WithSamplerClock(clock.now))
	rng := rand.New(rand.NewPCG(3, 4))
	exponents := func(n int) []string {
		var es []string
		for range n {
			var tid trace.TraceID
			for j := range tid {
				tid[j] = byte(rng.Uint32())
			}
			r := s.ShouldSample(params(t.Context(), tid))
			es = append(es, strings.Split(r.Tracestate.Get(dtKey), ";")[6])
		}
		return es
	}
	if got, want := strings.Join(exponents(12), ","), "0,0,0,0,1,1,1,1,1,2,2,2"; got != want {
		t.Errorf("warm-up exponents = %s, want %s", got, want)
	}

	// After an idle minute the table is gone and warm-up starts again.
	clock.t = clock.t.Add(3 * time.Minute)
	if got, want := strings.Join(exponents(5), ","), "0,0,0,0,1"; got != want {
		t.Errorf("exponents after an idle period = %s, want %s", got, want)
	}
}

func TestSamplerBudgetAttributes(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := core.NewSampler(core.WithRootSpansPerMinute(1000), core.WithSamplerClock(clock.now))
	r := s.ShouldSample(params(t.Context(), mustTraceID(t, traceA)))
	want := attribute.NewSet(attribute.Int64("supportability.atm_sampling_ratio", 1))
	if r.Decision != sdktrace.RecordAndSample || attribute.NewSet(r.Attributes...) != want {
		t.Errorf("first root: %v %v, want sampled with ratio 1", r.Decision, r.Attributes)
	}
	if r.Tracestate.Len() != 0 {
		t.Errorf("tracestate without Dynatrace = %q, want empty", r.Tracestate)
	}
}

func TestSamplerCustomKey(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var keys []string
	s := core.NewSampler(core.WithRootSpansPerMinute(10), core.WithSamplerClock(clock.now),
		core.WithSamplingKey(func(p sdktrace.SamplingParameters) string {
			keys = append(keys, p.Name)
			return p.Name
		}))
	s.ShouldSample(params(t.Context(), mustTraceID(t, traceA)))
	// A span under a local parent is not counted.
	ctx := parent(t.Context(), spanContext(t, traceA, spanA, true, ""), false)
	s.ShouldSample(params(ctx, mustTraceID(t, traceA)))
	if len(keys) != 1 || keys[0] != "span" {
		t.Errorf("keys = %v, want [span]", keys)
	}
}

func BenchmarkSampler(b *testing.B) {
	tid := mustTraceID(b, traceA)
	remote := parent(context.Background(), spanContext(b, traceA, spanA, false, "rojo=00f067aa0ba902b7"), true)
	tagged := parent(context.Background(), spanContext(b, traceA, spanA, true, dtKey+"="+entryA+",rojo=00f067aa0ba902b7"), true)
	local := parent(context.Background(), spanContext(b, traceA, spanA, true, dtKey+"=fw4;0;0;0;0;0;0;2a,rojo=00f067aa0ba902b7"), false)
	attrs := []attribute.KeyValue{attribute.String("http.request.method", "GET"), attribute.String("http.route", "/users/{id}")}
	budget := []core.SamplerOption{core.WithDynatrace(testDT), core.WithRootSpansPerMinute(1000)}
	for _, bb := range []struct {
		name string
		s    sdktrace.Sampler
		ctx  context.Context
	}{
		{name: "ParentBased/remote", s: sdktrace.ParentBased(sdktrace.AlwaysSample()), ctx: remote},
		{name: "Dynatrace/remote", s: core.NewSampler(dt()...), ctx: remote},
		{name: "Dynatrace/remote-tagged", s: core.NewSampler(dt()...), ctx: tagged},
		{name: "Dynatrace/local", s: core.NewSampler(dt()...), ctx: local},
		{name: "Dynatrace/root", s: core.NewSampler(dt()...), ctx: context.Background()},
		{name: "Budget/root", s: core.NewSampler(budget...), ctx: context.Background()},
		{name: "Budget/remote", s: core.NewSampler(budget...), ctx: remote},
	} {
		b.Run(bb.name, func(b *testing.B) {
			p := params(bb.ctx, tid, attrs...)
			b.ReportAllocs()
			for b.Loop() {
				bb.s.ShouldSample(p)
			}
		})
	}
}

func dt() []core.SamplerOption { return []core.SamplerOption{core.WithDynatrace(testDT)} }

func ptr[T any](v T) *T { return &v }

func mustTraceID(t testing.TB, h string) trace.TraceID {
	t.Helper()
	id, err := trace.TraceIDFromHex(h)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSamplerConcurrent(t *testing.T) {
	s := core.NewSampler(core.WithDynatrace(testDT), core.WithRootSpansPerMinute(100))
	p := core.NewPropagator(testDT)
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			rng := rand.New(rand.NewPCG(uint64(g), 0))
			for range 500 {
				var tid trace.TraceID
				for j := range tid {
					tid[j] = byte(rng.Uint32())
				}
				r := s.ShouldSample(params(context.Background(), tid, attribute.String("http.route", "/r/"+strconv.Itoa(rng.IntN(200)))))
				sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{1}, TraceState: r.Tracestate})
				p.Inject(trace.ContextWithSpanContext(context.Background(), sc), propagation.MapCarrier{})
			}
		}()
	}
	for range 8 {
		<-done
	}
}
