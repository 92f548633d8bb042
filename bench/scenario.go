package bench

import "testing"

// A Side says whose figure a Scenario measures.
type Side string

// Sides of a comparison.
const (
	Bare   Side = "bare"   // the same work without tracing
	Anchor Side = "anchor" // the OpenTelemetry component we compare with
	Ours   Side = "ours"   // gcftrace
	Floor  Side = "floor"  // the physical minimum of the work
)

// A Scenario is one measured operation and the setup it needs. Scenarios
// with the same Row are compared with each other.
type Scenario struct {
	Group string // benchmark group: handler, span, onend, encode, export, invocation, propagate, sample
	Row   string // what is compared, e.g. "gzip=off/spans=512"
	Side  Side
	Spans int // spans per operation, for per-span figures; 0: not per span

	// Setup prepares the operation. It registers its teardown with
	// tb.Cleanup and reports setup failures with tb.Fatal.
	Setup func(tb testing.TB) Op
}

// Name is the scenario's benchmark name: group/row/side.
func (s Scenario) Name() string { return s.Group + "/" + s.Row + "/" + string(s.Side) }

// An Op is one operation of a Scenario.
type Op struct {
	Run func() error

	// Between, when set, runs after every Every Runs with the timer
	// stopped, e.g. to flush a processor so that it never drops.
	Every   int
	Between func()

	// Done, when set, runs after the last Run, before teardown; calls is
	// the number of Runs made. It returns extra figures by unit, such as
	// "req/op".
	Done func(calls int) map[string]float64
}

// Benchmark measures s: one untimed Run to warm connections and pools, then
// Run in a b.Loop with allocations reported; per-span scenarios add ns/span.
func (s Scenario) Benchmark(b *testing.B) {
	op := s.Setup(b)
	calls := 0
	run := func() {
		calls++
		if err := op.Run(); err != nil {
			b.Fatal(err)
		}
	}
	run()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		run()
		n++
		if op.Between != nil && op.Every > 0 && n%op.Every == 0 {
			b.StopTimer()
			op.Between()
			b.StartTimer()
		}
	}
	if s.Spans > 0 && n > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*s.Spans), "ns/span")
	}
	if op.Done != nil {
		for unit, v := range op.Done(calls) {
			b.ReportMetric(v, unit)
		}
	}
}

// Test runs s's operation a few times without timing, fails t on any error
// and returns the figures of Op.Done.
func (s Scenario) Test(t *testing.T) map[string]float64 {
	op := s.Setup(t)
	const calls = 3
	for range calls {
		if err := op.Run(); err != nil {
			t.Fatal(err)
		}
	}
	if op.Between != nil {
		op.Between()
	}
	if op.Done == nil {
		return nil
	}
	got := op.Done(calls)
	for unit, v := range got {
		t.Logf("%g %s", v, unit)
	}
	return got
}

// Scenarios returns every scenario, grouped, anchors before ours.
func Scenarios() []Scenario {
	var all []Scenario
	all = append(all, handlerScenarios()...)
	all = append(all, spanScenarios()...)
	all = append(all, onEndScenarios()...)
	all = append(all, encodeScenarios()...)
	all = append(all, exportScenarios()...)
	all = append(all, invocationScenarios()...)
	all = append(all, propagationScenarios()...)
	all = append(all, samplingScenarios()...)
	return all
}

// Select returns the scenarios of group.
func Select(group string) []Scenario {
	var out []Scenario
	for _, s := range Scenarios() {
		if s.Group == group {
			out = append(out, s)
		}
	}
	return out
}
