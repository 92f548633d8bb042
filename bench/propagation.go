package bench

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/gcftrace/gcftrace/core"
)

// errDropped reports a sampler dropping a span its parent said to keep.
var errDropped = errors.New("bench: a sampled remote parent's child was dropped")

// dynatrace is the tenant of the propagation and sampling scenarios.
var dynatrace = core.DynatraceConfig{Tenant: "testTenant", ClusterID: 123}

// incoming is a request's trace context: a W3C parent whose tracestate holds
// our @dt entry and two other vendors' entries.
func incoming() http.Header {
	h := http.Header{}
	h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.Set("tracestate", "34d2ae74-7b@dt=fw4;0;0;0;0;0;0;2a;f6c1;2h01;7hbab147a0e439a28b,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
	return h
}

// propagationScenarios extract the incoming context and inject it into an
// outgoing request, with the OTel TraceContext propagator alone and with
// core.NewPropagator (TraceContext + fw4 tracestate + x-dynatrace).
func propagationScenarios() []Scenario {
	props := []struct {
		side Side
		prop propagation.TextMapPropagator
	}{
		{Anchor, propagation.TraceContext{}},
		{Ours, core.NewPropagator(dynatrace)},
	}
	var out []Scenario
	for _, p := range props {
		out = append(out, Scenario{
			Group: "propagate", Row: "extract+inject", Side: p.side,
			Setup: func(testing.TB) Op {
				in := propagation.HeaderCarrier(incoming())
				outgoing := propagation.HeaderCarrier(http.Header{})
				ctx := context.Background()
				return Op{Run: func() error {
					c := p.prop.Extract(ctx, in)
					p.prop.Inject(c, outgoing)
					return nil
				}}
			},
		})
	}
	return out
}

// samplingScenarios decide one span, a root or the child of a remote parent
// carrying our @dt entry, with the SDK's ParentBased(AlwaysSample) and with
// core.NewSampler, without and with the root-spans-per-minute budget.
func samplingScenarios() []Scenario {
	remote := core.NewPropagator(dynatrace).Extract(context.Background(), propagation.HeaderCarrier(incoming()))
	parents := []struct {
		row string
		ctx context.Context
	}{
		{"root", context.Background()},
		{"remote-parent", remote},
	}
	samplers := []struct {
		suffix string
		side   Side
		new    func() sdktrace.Sampler
	}{
		{"", Anchor, func() sdktrace.Sampler { return sdktrace.ParentBased(sdktrace.AlwaysSample()) }},
		{"", Ours, func() sdktrace.Sampler { return core.NewSampler(core.WithDynatrace(dynatrace)) }},
		{"/budget", Anchor, func() sdktrace.Sampler { return sdktrace.ParentBased(sdktrace.AlwaysSample()) }},
		{"/budget", Ours, func() sdktrace.Sampler {
			// Never exhausted by the run: the cost of a decision within
			// budget, not the cheaper Drop beyond it.
			return core.NewSampler(core.WithDynatrace(dynatrace), core.WithRootSpansPerMinute(1<<40))
		}},
	}
	var out []Scenario
	for _, p := range parents {
		for _, s := range samplers {
			out = append(out, Scenario{
				Group: "sample", Row: p.row + s.suffix, Side: s.side,
				Setup: func(testing.TB) Op {
					sampler := s.new()
					params := sdktrace.SamplingParameters{
						ParentContext: p.ctx,
						TraceID:       trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
						Name:          "GET /orders/{id}",
						Kind:          trace.SpanKindServer,
					}
					return Op{Run: func() error {
						if r := sampler.ShouldSample(params); r.Decision == sdktrace.Drop && p.row == "remote-parent" {
							return errDropped
						}
						return nil
					}}
				},
			})
		}
	}
	return out
}
