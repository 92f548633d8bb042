package core

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/gcftrace/gcftrace/ports"
)

// DefaultResourceWait caps how long the first flush waits for a resource
// still being completed (metadata lookups at cold start).
const DefaultResourceWait = 250 * time.Millisecond

// completion replaces the resource spans were started with by the complete
// one at export time, so that spans started before the metadata lookups
// finished still leave with the full resource.
type completion struct {
	wait     time.Duration // the first flush's cap; 0: never wait
	identity bool          // copy FaaS identity keys onto every span

	cur   atomic.Pointer[completed]
	once  sync.Once
	ready chan struct{}
	first atomic.Bool // the one wait has been claimed

	// prepare's buffers, reused from one export to the next (exports run
	// one at a time); see done.
	wrapped []ports.ExportSpan
	out     []sdktrace.ReadOnlySpan
}

type completed struct {
	res   *resource.Resource
	attrs []attribute.KeyValue // identity keys copied onto spans, when on
}

// identityKeys are the keys Dynatrace expects on every span of a function
// (dynatrace.md §10.2), as far as they describe a GCP function.
var identityKeys = []attribute.Key{
	semconv.CloudAccountIDKey, semconv.CloudPlatformKey, semconv.CloudProviderKey,
	semconv.CloudRegionKey, semconv.CloudAvailabilityZoneKey, keyFaaSID,
	semconv.FaaSNameKey, semconv.FaaSVersionKey, semconv.FaaSInstanceKey,
	keyGCPRegion, keyGCPProjectID, keyGCPInstanceName,
}

// WithResourceCompletion says that the resource will be completed after
// setup with SetResource. The first flush with spans to export waits for it
// at most wait (DefaultResourceWait when wait is 0; a negative wait never
// waits) and at most half of its flush budget, without holding the export
// slot: flushes meanwhile export with what is known, and no later flush
// waits.
func WithResourceCompletion(wait time.Duration) ProcessorOption {
	return processorOptionFunc(func(c *processorConfig) {
		switch {
		case wait == 0:
			wait = DefaultResourceWait
		case wait < 0:
			wait = 0
		}
		c.resourceWait = wait
	})
}

// WithSpanIdentity copies the FaaS identity keys of the resource (cloud.*,
// faas.id, faas.name, faas.version, faas.instance, gcp.*) onto every
// exported span as well, for backends that read them there. A span's own
// value for a key wins. Off by default.
func WithSpanIdentity() ProcessorOption {
	return processorOptionFunc(func(c *processorConfig) { c.spanIdentity = true })
}

// SetResource makes every span exported from now on carry res instead of
// the resource it was started with. The first call releases an export
// waiting under WithResourceCompletion. It is safe to call again when more
// becomes known.
func (p *Processor) SetResource(res *resource.Resource) {
	if res == nil {
		return
	}
	c := &completed{res: res}
	if p.comp.identity {
		for _, k := range identityKeys {
			if v, ok := res.Set().Value(k); ok {
				c.attrs = append(c.attrs, attribute.KeyValue{Key: k, Value: v})
			}
		}
	}
	p.comp.cur.Store(c)
	p.comp.once.Do(func() { close(p.comp.ready) })
}

// claimWait tells the first flush with spans to export how long it may
// wait for the complete resource: the cap, but at most half of the time ctx
// has left, so that the export itself keeps the other half. It claims the
// one wait of the processor's life only when there is time to wait and the
// resource is still pending.
func (c *completion) claimWait(ctx context.Context) (time.Duration, bool) {
	if c.wait <= 0 || c.first.Load() {
		return 0, false
	}
	select {
	case <-c.ready:
		return 0, false
	default:
	}
	wait := c.wait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)/2)
	}
	if wait <= 0 || c.first.Swap(true) {
		return 0, false
	}
	return wait, true
}

// awaitResource waits for the complete resource, at most wait and never
// past ctx.
func (c *completion) awaitResource(ctx context.Context, wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-c.ready:
	case <-t.C:
	case <-ctx.Done():
	}
}

// prepare returns the spans as the exporter should see them: with the
// completed resource and, when on, the identity keys.
func (c *completion) prepare(batch []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	cur := c.cur.Load()
	if cur == nil {
		if !c.identity || len(batch) == 0 {
			return batch
		}
		cur = &completed{}
	}
	wrapped := grow(c.wrapped, len(batch))
	out := grow(c.out, len(batch))
	c.wrapped, c.out = wrapped, out
	for i, s := range batch {
		res := cur.res
		if res == nil {
			res = s.Resource()
		}
		wrapped[i] = ports.ExportSpan{ReadOnlySpan: s, Res: res, Extra: cur.attrs}
		if c.identity && cur.attrs == nil {
			wrapped[i].Extra = identityOf(res)
		}
		out[i] = &wrapped[i]
	}
	return out
}

// done ends the export of what prepare returned. The buffers are kept for
// the next export only when it succeeded: a failed export's error may list
// the wrapped spans.
func (c *completion) done(err error) {
	if err != nil || cap(c.out) > maxReusedBatch {
		c.wrapped, c.out = nil, nil
		return
	}
	clear(c.wrapped)
	clear(c.out)
}

// maxReusedBatch bounds the batch buffers prepare keeps.
const maxReusedBatch = 4 * DefaultMaxPending

// grow returns s with length n, reusing its array when it is large enough.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func identityOf(res *resource.Resource) []attribute.KeyValue {
	var attrs []attribute.KeyValue
	for _, k := range identityKeys {
		if v, ok := res.Set().Value(k); ok {
			attrs = append(attrs, attribute.KeyValue{Key: k, Value: v})
		}
	}
	return attrs
}

// original unwraps a span prepare wrapped.
func original(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	if w, ok := s.(*ports.ExportSpan); ok {
		return w.ReadOnlySpan
	}
	return s
}
