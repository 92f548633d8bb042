package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/gcftrace/gcftrace/adapters/export"
	"github.com/gcftrace/gcftrace/adapters/handler"
	"github.com/gcftrace/gcftrace/core"
	"github.com/gcftrace/gcftrace/wiring"
)

// FlushBudget bounds the anchor's ForceFlush after each invocation, as
// core.DefaultFlushTimeout bounds ours.
const FlushBudget = core.DefaultFlushTimeout

// A Stack builds an invocation handler around fn that exports to endpoint
// and flushes on exit. It registers its teardown with tb.Cleanup.
type Stack struct {
	Side  Side
	Build func(tb testing.TB, endpoint string, fn http.Handler) http.Handler
}

// Stacks are the invocation pipelines compared, gzip on: the function
// untraced; the anchor, otelhttp.NewHandler on an SDK TracerProvider with a
// BatchSpanProcessor and otlptracehttp, then ForceFlush inside FlushBudget;
// ours, handler.HTTP with what wiring.New assembles from a config pointing
// at the endpoint.
var Stacks = stacks(true)

func stacks(gz bool) []Stack {
	return []Stack{
		{Side: Bare, Build: func(_ testing.TB, _ string, fn http.Handler) http.Handler { return fn }},
		{Side: Anchor, Build: func(tb testing.TB, endpoint string, fn http.Handler) http.Handler {
			return anchorStack(tb, endpoint, fn, gz)
		}},
		{Side: Ours, Build: func(tb testing.TB, endpoint string, fn http.Handler) http.Handler {
			return handler.HTTP(fn, newTracing(tb, endpoint, gz).HandlerOptions()...)
		}},
	}
}

func anchorStack(tb testing.TB, endpoint string, fn http.Handler, gz bool) http.Handler {
	exp := newOTLPExporter(tb, endpoint, gz, nil)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(AnchorResource()),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithBatcher(exp),
	)
	shutdown(tb, "tracer provider", tp.Shutdown)
	h := otelhttp.NewHandler(fn, "hello",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(w3c))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		ctx, cancel := context.WithTimeout(r.Context(), FlushBudget)
		defer cancel()
		_ = tp.ForceFlush(ctx)
	})
}

// newTracing is wiring.New with a config that exports to endpoint, gzip on
// or off, and the bench Environment.
func newTracing(tb testing.TB, endpoint string, gz bool) *wiring.Tracing {
	cfg := core.NewDefaultConfig()
	cfg.Endpoint = endpoint
	cfg.Token = Token
	cfg.Compression = export.CompressionNone
	cfg.WarmUp = false // steady state: the connection is warm after the first invocation anyway
	if gz {
		cfg.Compression = export.CompressionGzip
	}
	t, err := wiring.New(context.Background(),
		wiring.WithConfig(cfg),
		wiring.WithEnvironmentSource(EnvironmentSource()),
		wiring.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		tb.Fatal(err)
	}
	if t == nil {
		tb.Fatal("bench: wiring.New returned no pipeline")
	}
	shutdown(tb, "tracing", t.Shutdown)
	return t
}

// invocationScenarios serve one request with flush on exit, gzip on and off:
// the anchor and ours, and the floor, which serves the untraced function and
// then POSTs the request ours sent (body and headers, captured once at
// setup) over a plain keep-alive client to the same Receiver. "req/op"
// counts export requests per invocation.
func invocationScenarios() []Scenario {
	var out []Scenario
	for _, gz := range []bool{true, false} {
		row := "gzip=" + onOff(gz)
		for _, st := range stacks(gz)[1:] {
			out = append(out, Scenario{
				Group: "invocation", Row: row, Side: st.Side,
				Setup: func(tb testing.TB) Op {
					rc := newReceiver(tb)
					h := st.Build(tb, rc.URL(), hello)
					return invocationOp(h, rc, nil)
				},
			})
		}
		out = append(out, Scenario{
			Group: "invocation", Row: row, Side: Floor,
			Setup: func(tb testing.TB) Op {
				rc := newReceiver(tb)
				body, hdr := capture(tb, rc, gz)
				post := newPoster(tb, rc.URL(), body, hdr)
				return invocationOp(hello, rc, post)
			},
		})
	}
	return out
}

func invocationOp(h http.Handler, rc *Receiver, after func() error) Op {
	w, r := newDiscardWriter(), newRequest(ParentSampled)
	base, baseBytes := rc.Requests(), rc.Bytes()
	return Op{
		Run: func() error {
			if err := serve(h, w, r); err != nil {
				return err
			}
			if after != nil {
				return after()
			}
			return nil
		},
		Done: func(calls int) map[string]float64 {
			reqs := rc.Requests() - base
			return map[string]float64{
				"req/op": float64(reqs) / float64(calls),
				"B/req":  float64(rc.Bytes()-baseBytes) / float64(max(reqs, 1)),
			}
		},
	}
}

// capture serves one invocation through our stack on a private pipeline and
// returns the request body and headers it exported to rc.
func capture(tb testing.TB, rc *Receiver, gz bool) ([]byte, http.Header) {
	rc.Keep()
	t := newTracing(tb, rc.URL(), gz)
	h := handler.HTTP(hello, t.HandlerOptions()...)
	if err := serve(h, newDiscardWriter(), newRequest(ParentSampled)); err != nil {
		tb.Fatal(err)
	}
	body, hdr := rc.Last()
	if len(body) == 0 {
		tb.Fatal("bench: our pipeline exported nothing to capture")
	}
	return body, hdr
}

// newPoster returns a func that POSTs body with hdr's headers to url and
// reads the answer: the physical floor of one export, the same request
// (body, content headers, Authorization, User-Agent) over a plain keep-alive
// client. Content-Length and Accept-Encoding are the transport's to set.
func newPoster(tb testing.TB, url string, body []byte, hdr http.Header) func() error {
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	tb.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	rd := bytes.NewReader(nil)
	return func() error {
		rd.Reset(body)
		req, err := http.NewRequest(http.MethodPost, url, rd)
		if err != nil {
			return err
		}
		for k, v := range hdr {
			switch k {
			case "Content-Length", "Accept-Encoding":
			default:
				req.Header[k] = v
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("bench: receiver answered %s", resp.Status)
		}
		return nil
	}
}

// BurstConfig shapes a burst measurement.
type BurstConfig struct {
	Concurrency int           // invocations released together (200)
	Rounds      int           // bursts measured
	Singles     int           // lone invocations measured for the baseline
	Work        time.Duration // how long the function itself takes (it sleeps)
}

// DefaultBurst is the burst of the report: 200 invocations of a function
// that waits 10 ms (an I/O-bound function), released together so that they
// all end and flush at about the same time.
var DefaultBurst = BurstConfig{Concurrency: 200, Rounds: 5, Singles: 50, Work: 10 * time.Millisecond}

// BurstResult is what a burst measured.
type BurstResult struct {
	Single      time.Duration // median latency of a lone invocation
	P50, P99    time.Duration // latency percentiles over every burst invocation
	Max         time.Duration
	Invocations int   // burst invocations
	Requests    int64 // export requests the receiver got during the bursts
}

// P99Ratio is P99 over Single.
func (r BurstResult) P99Ratio() float64 { return float64(r.P99) / float64(r.Single) }

// RequestsPerInvocation is Requests over Invocations.
func (r BurstResult) RequestsPerInvocation() float64 {
	return float64(r.Requests) / float64(r.Invocations)
}

// Burst measures st: Singles lone invocations of a function that takes
// cfg.Work, then Rounds bursts of cfg.Concurrency invocations started
// together, each invocation timed from its ServeHTTP call to its return
// (flush included).
func Burst(tb testing.TB, st Stack, cfg BurstConfig) BurstResult {
	rc := newReceiver(tb)
	fn := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(cfg.Work)
		hello.ServeHTTP(w, r)
	})
	h := st.Build(tb, rc.URL(), fn)

	// Warm the connection, then time lone invocations.
	w, r := newDiscardWriter(), newRequest(ParentSampled)
	if err := serve(h, w, r); err != nil {
		tb.Fatal(err)
	}
	singles := make([]time.Duration, cfg.Singles)
	for i := range singles {
		t0 := time.Now()
		if err := serve(h, w, r); err != nil {
			tb.Fatal(err)
		}
		singles[i] = time.Since(t0)
	}

	before := rc.Requests()
	lat := make([]time.Duration, 0, cfg.Rounds*cfg.Concurrency)
	errs := make([]error, cfg.Concurrency)
	for range cfg.Rounds {
		start := make(chan struct{})
		done := make(chan time.Duration, cfg.Concurrency)
		for i := range cfg.Concurrency {
			w, r := newDiscardWriter(), newRequest(ParentSampled)
			go func() {
				<-start
				t0 := time.Now()
				errs[i] = serve(h, w, r)
				done <- time.Since(t0)
			}()
		}
		close(start)
		for range cfg.Concurrency {
			lat = append(lat, <-done)
		}
		if err := errors.Join(errs...); err != nil {
			tb.Fatal(err)
		}
	}
	res := BurstResult{
		Single:      percentile(singles, 0.5),
		P50:         percentile(lat, 0.5),
		P99:         percentile(lat, 0.99),
		Max:         percentile(lat, 1),
		Invocations: len(lat),
		Requests:    rc.Requests() - before,
	}
	return res
}

// percentile returns the p-quantile of d (nearest rank); it sorts d.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(p*float64(len(d))+0.5) - 1
	return d[min(max(i, 0), len(d)-1)]
}
