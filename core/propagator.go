package core

import (
	"context"
	"encoding/hex"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

const (
	traceparentHeader = "traceparent"
	tracestateHeader  = "tracestate"
	xDynatraceHeader  = "x-dynatrace"

	maxTracestateMembers = 32 // W3C limit on tracestate list members
)

// A PropagatorOption configures the propagator returned by NewPropagator.
type PropagatorOption interface{ applyPropagator(*propagatorConfig) }

type propagatorConfig struct {
	cloudTrace bool
}

type propagatorOptionFunc func(*propagatorConfig)

func (f propagatorOptionFunc) applyPropagator(c *propagatorConfig) { f(c) }

// WithCloudTraceContext turns the X-Cloud-Trace-Context fallback on or off.
// When on (the default), a request without a usable traceparent or
// x-dynatrace parent continues the trace named by Google's legacy header
// "TRACE_ID/SPAN_ID;o=1" (span id in decimal; o=1 sets the sampled flag). The
// header is read, never written.
func WithCloudTraceContext(enabled bool) PropagatorOption {
	return propagatorOptionFunc(func(c *propagatorConfig) { c.cloudTrace = enabled })
}

// NewPropagator returns a propagation.TextMapPropagator for W3C Trace Context
// that also reads and writes Dynatrace's trace context for the tenant and
// cluster in cfg: the "Forward Tag 4" entry in tracestate (key
// "<tenant hash>-<cluster id>@dt") and the x-dynatrace header. Without a
// tenant and cluster it behaves as propagation.TraceContext, plus the
// X-Cloud-Trace-Context fallback (see WithCloudTraceContext).
//
// Extract looks for a parent in this order:
//
//  1. x-dynatrace carrying a trace id, a span id and our tenant and cluster.
//     If traceparent names the same trace, the W3C parent is kept and our
//     tracestate entry is set from the header; otherwise (no traceparent, or
//     a W3C hop restarted the trace in between) the x-dynatrace tag becomes
//     the parent, and the tracestate that came with the other trace is left
//     behind: its entries describe that trace, not this one.
//  2. traceparent with our entry in tracestate: the W3C parent, with its
//     sampled flag set from the entry's ignored bit. An entry that cannot be
//     parsed, or names another trace, is dropped and the W3C parent kept as
//     received (Dynatrace's Go agent drops the whole parent instead).
//  3. traceparent alone: as received; the sampled flag is left to the
//     sampler (see NewSampler). Other tenants' entries are kept untouched.
//  4. X-Cloud-Trace-Context, unless turned off.
//
// Inject writes traceparent, then tracestate with our entry first (other
// entries kept, the right-most dropped beyond 32 members) and x-dynatrace.
// Both carry the tag of the span in ctx — found in its tracestate, where
// NewSampler and Extract put it, or a new one for a trace without a tag — with
// agent, tag and link id cleared, the tag depth increased by one, the ignored
// bit set from the span's sampled flag and the span's own ids.
func NewPropagator(cfg DynatraceConfig, opts ...PropagatorOption) propagation.TextMapPropagator {
	c := propagatorConfig{cloudTrace: true}
	for _, o := range opts {
		o.applyPropagator(&c)
	}
	p := &propagator{id: newDTIdentity(cfg), cloudTrace: c.cloudTrace}
	p.fields = []string{traceparentHeader, tracestateHeader}
	if p.id != nil {
		p.fields = append(p.fields, xDynatraceHeader)
	}
	return p
}

type propagator struct {
	w3c        propagation.TraceContext
	id         *dtIdentity // nil: Dynatrace context off
	cloudTrace bool
	fields     []string
}

var _ propagation.TextMapPropagator = (*propagator)(nil)

// Fields returns the keys Inject sets.
func (p *propagator) Fields() []string {
	return append([]string(nil), p.fields...)
}

// Inject writes the span context of ctx into carrier.
func (p *propagator) Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	if p.id == nil {
		p.w3c.Inject(ctx, carrier)
		return
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return
	}
	ts := sc.TraceState()
	tag, ok := p.id.tag(ts)
	if !ok || tag.traceID.IsValid() && tag.traceID != sc.TraceID() {
		tag = p.id.rootTag(traceIDHash(sc.TraceID()))
	}
	out := tag.propagate(sc)

	var buf [512]byte
	carrier.Set(traceparentHeader, string(appendTraceparent(buf[:0], sc)))
	carrier.Set(tracestateHeader, string(appendTracestate(buf[:0], p.id.key, &out, ts)))
	carrier.Set(xDynatraceHeader, string(out.appendHeader(buf[:0])))
}

// appendTraceparent appends sc as a version 00 traceparent.
func appendTraceparent(dst []byte, sc trace.SpanContext) []byte {
	tid, sid := sc.TraceID(), sc.SpanID()
	flags := [1]byte{byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))}
	dst = append(dst, "00-"...)
	dst = hex.AppendEncode(dst, tid[:])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, sid[:])
	dst = append(dst, '-')
	return hex.AppendEncode(dst, flags[:])
}

// appendTracestate appends a tracestate header: key=<tag> first, then every
// other member of ts, dropping the right-most beyond the W3C limit.
func appendTracestate(dst []byte, key string, t *fw4Tag, ts trace.TraceState) []byte {
	dst = appendEntry(dst, key, t)
	n := 1
	ts.Walk(func(k, v string) bool {
		if k == key {
			return true
		}
		if n == maxTracestateMembers {
			return false
		}
		n++
		dst = append(dst, ',')
		dst = append(dst, k...)
		dst = append(dst, '=')
		dst = append(dst, v...)
		return true
	})
	return dst
}

// appendEntry appends key=value for t. A value too long for tracestate (a
// large custom blob from x-dynatrace) is written without the blob.
func appendEntry(dst []byte, key string, t *fw4Tag) []byte {
	dst = append(dst, key...)
	dst = append(dst, '=')
	start := len(dst)
	dst = t.appendValue(dst)
	if len(dst)-start > fw4MaxValueLen {
		short := *t
		short.blob = ""
		dst = short.appendValue(dst[:start])
	}
	return dst
}

// Extract reads a remote parent from carrier; see NewPropagator for the
// order.
func (p *propagator) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	wctx := p.w3c.Extract(ctx, carrier)
	sc := trace.SpanContextFromContext(wctx)
	w3c := sc.IsValid() && sc.IsRemote()

	if p.id != nil {
		if h := carrier.Get(xDynatraceHeader); h != "" {
			if tag, err := parseXDynatrace(h); err == nil && p.id.usable(&tag) {
				return trace.ContextWithRemoteSpanContext(ctx, p.fromHeader(sc, w3c, &tag))
			}
		}
		if w3c {
			if sc, changed := p.fromTracestate(sc); changed {
				return trace.ContextWithRemoteSpanContext(ctx, sc)
			}
		}
	}
	if !w3c && p.cloudTrace {
		if sc, ok := parseCloudTraceContext(carrier.Get(cloudTraceHeader)); ok {
			return trace.ContextWithRemoteSpanContext(ctx, sc)
		}
	}
	return wctx
}

// usable reports whether an x-dynatrace tag can be a parent: it names a trace
// and a span, and our tenant and cluster.
func (id *dtIdentity) usable(t *fw4Tag) bool {
	return t.traceID.IsValid() && t.spanID.IsValid() &&
		t.tenantID == id.tenantID && t.clusterID == id.clusterID
}

// fromHeader returns the parent for a usable x-dynatrace tag.
func (p *propagator) fromHeader(sc trace.SpanContext, w3c bool, t *fw4Tag) trace.SpanContext {
	var buf [fw4MaxValueLen + 64]byte
	entry := appendEntry(buf[:0], p.id.key, t)
	value := string(entry[len(p.id.key)+1:])

	// Other vendors' entries belong to the traceparent they came with: they
	// are kept only when the tag continues that trace.
	var ts trace.TraceState
	if w3c && sc.TraceID() == t.traceID {
		ts = sc.TraceState()
	}
	if nts, err := ts.Insert(p.id.key, value); err == nil {
		ts = nts
	}
	if w3c && sc.TraceID() == t.traceID {
		return sc.WithTraceState(ts).WithTraceFlags(sc.TraceFlags().WithSampled(!t.ignored()))
	}
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    t.traceID,
		SpanID:     t.spanID,
		TraceFlags: trace.TraceFlags(0).WithSampled(!t.ignored()),
		TraceState: ts,
		Remote:     true,
	})
}

// fromTracestate applies our tracestate entry, if any, to the W3C parent sc:
// the sampled flag follows a valid entry's ignored bit; an unusable or stale
// entry is removed. It reports whether sc changed.
func (p *propagator) fromTracestate(sc trace.SpanContext) (trace.SpanContext, bool) {
	v := sc.TraceState().Get(p.id.key)
	if v == "" {
		return sc, false
	}
	tag, err := parseFW4Value(v)
	if err != nil || tag.traceID.IsValid() && tag.traceID != sc.TraceID() {
		return sc.WithTraceState(sc.TraceState().Delete(p.id.key)), true
	}
	if sampled := !tag.ignored(); sampled != sc.IsSampled() {
		return sc.WithTraceFlags(sc.TraceFlags().WithSampled(sampled)), true
	}
	return sc, false
}
