package core

import (
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Span attributes that record the sampling multiplicity 2^e of a trace kept
// with probability 2^-e, as Dynatrace's Envoy sampler writes them.
const (
	// attrATMSamplingRatio is 2^e, the number of traces a kept one stands for.
	attrATMSamplingRatio = attribute.Key("supportability.atm_sampling_ratio")
	// attrSamplingThreshold is 2^56 - 2^56/2^e, the number of traces out of
	// 2^56 that were dropped; set only when e > 0.
	attrSamplingThreshold = attribute.Key("sampling.threshold")
)

// A SamplerOption configures the sampler returned by NewSampler.
type SamplerOption interface{ applySampler(*samplerConfig) }

type samplerConfig struct {
	dt             DynatraceConfig
	perMinute      int
	key            func(sdktrace.SamplingParameters) string
	now            func() time.Time
	honorUnsampled bool
}

type samplerOptionFunc func(*samplerConfig)

func (f samplerOptionFunc) applySampler(c *samplerConfig) { f(c) }

// WithDynatrace makes the sampler read and write the Dynatrace tag of cfg's
// tenant and cluster in tracestate: a parent's tag decides for its children,
// and every span whose parent has none gets a new tag carrying the decision
// (ignored flag and sampling exponent), so that downstream services and
// Dynatrace's own agents honour it. Without it, or with an incomplete cfg, the
// sampler leaves tracestate as the parent's.
func WithDynatrace(cfg DynatraceConfig) SamplerOption {
	return samplerOptionFunc(func(c *samplerConfig) { c.dt = cfg })
}

// WithRootSpansPerMinute turns on a budget of n new traces per minute per
// sampler, Dynatrace's adaptive traffic management as its Envoy sampler does
// it. Spans that start a trace here (roots, and remote parents without a
// Dynatrace tag) are counted per sampling key in a top-100 summary; every
// minute each key gets a power-of-two sampling exponent e so that, assuming
// the same traffic, about n traces are kept, frequent keys are thinned first
// and rare keys stay sampled. A trace is kept with probability 2^-e, decided
// from a hash of its trace id. Until a minute has been seen, e grows with the
// number of traces so far. n <= 0 turns the budget off (the default): such
// spans are always sampled. A budget for a whole service is divided by the
// caller, e.g. by the expected number of instances.
func WithRootSpansPerMinute(n int) SamplerOption {
	return samplerOptionFunc(func(c *samplerConfig) { c.perMinute = n })
}

// WithSamplingKey sets how the budget classifies spans. The default is the
// span's "METHOD_route" from the start attributes http.request.method (or
// http.method) and http.route (or url.path, or http.target without its
// query), falling back to the span name.
func WithSamplingKey(key func(sdktrace.SamplingParameters) string) SamplerOption {
	return samplerOptionFunc(func(c *samplerConfig) { c.key = key })
}

// WithSamplerClock sets the clock the budget's one-minute periods are
// measured with. The default is time.Now.
func WithSamplerClock(now func() time.Time) SamplerOption {
	return samplerOptionFunc(func(c *samplerConfig) { c.now = now })
}

// WithHonorUnsampledRemoteParent makes a remote parent's unsampled flag drop
// the span when the parent carries no Dynatrace tag. By default such spans
// are sampled: Dynatrace treats a remote span context as sampled unless its
// tag says "ignored", and Cloud Run puts an unsampled traceparent on almost
// every request.
func WithHonorUnsampledRemoteParent(honor bool) SamplerOption {
	return samplerOptionFunc(func(c *samplerConfig) { c.honorUnsampled = honor })
}

// NewSampler returns a parent-based sdktrace.Sampler with Dynatrace's rules:
//
//   - a parent carrying our Dynatrace tag decides: its ignored flag means
//     drop (for a remote parent; a local parent's sampled flag decides);
//   - any other local parent decides with its sampled flag;
//   - a remote parent without our tag is sampled, whatever its flag (see
//     WithHonorUnsampledRemoteParent), subject to the budget;
//   - a root is sampled, subject to the budget (WithRootSpansPerMinute).
//
// With WithDynatrace, the result's tracestate carries our tag for every span:
// the parent's, or a new one with the decision. Spans kept under a sampling
// exponent e > 0 get the attributes supportability.atm_sampling_ratio (2^e)
// and sampling.threshold; with a budget, the spans it decides get the ratio
// even when it is 1.
func NewSampler(opts ...SamplerOption) sdktrace.Sampler {
	var c samplerConfig
	for _, o := range opts {
		o.applySampler(&c)
	}
	if c.now == nil {
		c.now = time.Now
	}
	s := &sampler{id: newDTIdentity(c.dt), key: c.key, honorUnsampled: c.honorUnsampled}
	if c.perMinute > 0 {
		s.budget = newATMBudget(uint64(c.perMinute), c.now)
	}
	for e := range s.attrs {
		s.attrs[e] = samplingAttributes(uint32(e))
	}

	var d strings.Builder
	d.WriteString("gcftrace.Sampler{dynatrace=")
	if s.id != nil {
		d.WriteString(s.id.key)
	} else {
		d.WriteString("off")
	}
	d.WriteString(",rootSpansPerMinute=")
	d.WriteString(strconv.Itoa(max(c.perMinute, 0)))
	d.WriteString(",honorUnsampledRemoteParent=")
	d.WriteString(strconv.FormatBool(c.honorUnsampled))
	d.WriteString("}")
	s.desc = d.String()
	return s
}

type sampler struct {
	id             *dtIdentity // nil: no Dynatrace tag
	budget         *atmBudget  // nil: no budget
	key            func(sdktrace.SamplingParameters) string
	honorUnsampled bool
	attrs          [fw4MaxExponent + 1][]attribute.KeyValue // by exponent; shared, read-only
	desc           string
}

var _ sdktrace.Sampler = (*sampler)(nil)

// ratioOne is what a span the budget kept at exponent 0 records.
var ratioOne = []attribute.KeyValue{attrATMSamplingRatio.Int64(1)}

// samplingAttributes returns the attributes for a span kept under exponent e.
func samplingAttributes(e uint32) []attribute.KeyValue {
	if e == 0 {
		return nil
	}
	const two56 = int64(1) << 56
	ratio := int64(1) << e
	return []attribute.KeyValue{
		attrATMSamplingRatio.Int64(ratio),
		attrSamplingThreshold.Int64(two56 - two56/ratio),
	}
}

// Description describes the sampler and its settings.
func (s *sampler) Description() string { return s.desc }

// ShouldSample decides for one span; see NewSampler.
func (s *sampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	var psc trace.SpanContext
	if p.ParentContext != nil {
		psc = trace.SpanContextFromContext(p.ParentContext)
	}
	var ts trace.TraceState
	if psc.IsValid() {
		ts = psc.TraceState()
		if s.id != nil {
			if tag, ok := s.id.tag(ts); ok && (!tag.traceID.IsValid() || tag.traceID == p.TraceID) {
				sampled := !tag.ignored()
				if !psc.IsRemote() {
					sampled = psc.IsSampled()
				}
				return s.result(sampled, tag.exponent(), ts)
			}
		}
		if !psc.IsRemote() {
			return s.decided(psc.IsSampled(), 0, traceIDHash(p.TraceID), ts)
		}
		if s.honorUnsampled && !psc.IsSampled() {
			return s.decided(false, 0, traceIDHash(p.TraceID), ts)
		}
	}
	// A root, or a remote parent without our tag: the decision is ours.
	if s.budget == nil {
		return s.decided(true, 0, traceIDHash(p.TraceID), ts)
	}
	var e uint32
	if s.key != nil {
		e = s.budget.exponent(s.key(p), "", "")
	} else {
		method, route := samplingKey(p)
		if method != "" {
			e = s.budget.exponent(method, "_", route)
		} else {
			e = s.budget.exponent(p.Name, "", "")
		}
	}
	h := traceIDHash(p.TraceID)
	r := s.decided(h&(1<<e-1) == 0, e, h, ts)
	if e == 0 && r.Decision == sdktrace.RecordAndSample {
		r.Attributes = ratioOne
	}
	return r
}

// result returns a decision that keeps ts as it is.
func (s *sampler) result(sampled bool, e uint32, ts trace.TraceState) sdktrace.SamplingResult {
	if !sampled {
		return sdktrace.SamplingResult{Decision: sdktrace.Drop, Tracestate: ts}
	}
	return sdktrace.SamplingResult{
		Decision:   sdktrace.RecordAndSample,
		Attributes: s.attrs[e],
		Tracestate: ts,
	}
}

// decided returns a decision made here, writing a new tag into ts when the
// Dynatrace tag is on; h is the trace id's hash.
func (s *sampler) decided(sampled bool, e uint32, h uint64, ts trace.TraceState) sdktrace.SamplingResult {
	if s.id != nil {
		t := s.id.rootTag(h)
		t.encLinkID = e << fw4ExponentShift
		t.setIgnored(!sampled)
		var buf [64]byte
		if nts, err := ts.Insert(s.id.key, string(t.appendValue(buf[:0]))); err == nil {
			ts = nts
		}
	}
	return s.result(sampled, e, ts)
}

// samplingKey returns the HTTP method and route of the span's start
// attributes.
func samplingKey(p sdktrace.SamplingParameters) (method, route string) {
	var path, target string
	for _, kv := range p.Attributes {
		switch kv.Key {
		case "http.request.method", "http.method":
			if method == "" {
				method = kv.Value.AsString()
			}
		case "http.route":
			route = kv.Value.AsString()
		case "url.path":
			path = kv.Value.AsString()
		case "http.target":
			target = kv.Value.AsString()
		}
	}
	if route == "" {
		route = path
	}
	if route == "" {
		route, _, _ = strings.Cut(target, "?")
	}
	return method, route
}
