package handler

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/gcftrace/gcftrace/ports/portstest"
)

// inGoroutine runs f in a goroutine of its own, as the framework runs an
// invocation, and waits for it to end, whether f returns, panics (the
// panic is recovered and returned) or calls runtime.Goexit.
func inGoroutine(f func()) (panicked any) {
	done := make(chan any, 1)
	go func() {
		var rec any
		defer func() { done <- rec }()
		defer func() { rec = recover() }()
		f()
	}()
	return <-done
}

// TestGoexitEndsAndFlushes: a function that ends its goroutine with
// runtime.Goexit (as t.FailNow does) still gets its span ended and the
// flush on exit, in every wrapper and on the unsampled HTTP path too.
func TestGoexitEndsAndFlushes(t *testing.T) {
	goexitHTTP := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { runtime.Goexit() })
	for _, tc := range []struct {
		name    string
		sampled bool
		invoke  func(opts ...Option)
	}{
		{"HTTP sampled", true, func(opts ...Option) {
			HTTP(goexitHTTP, opts...).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		}},
		{"HTTP not sampled", false, func(opts ...Option) {
			HTTP(goexitHTTP, opts...).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		}},
		{"CloudEvent", true, func(opts ...Option) {
			fn := CloudEvent(func(context.Context, event.Event) error { runtime.Goexit(); return nil }, opts...)
			_ = fn(context.Background(), newEvent(t, "t", "//s", ""))
		}},
		{"Event", true, func(opts ...Option) {
			fn := Event(func(context.Context, map[string]any) error { runtime.Goexit(); return nil }, opts...)
			_ = fn(context.Background(), map[string]any{})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, tp := recorder()
			if !tc.sampled {
				tp = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()), sdktrace.WithSpanProcessor(rec))
			}
			flusher := &portstest.CountingFlusher{}
			if p := inGoroutine(func() { tc.invoke(WithTracerProvider(tp), WithFlusher(flusher)) }); p != nil {
				t.Fatalf("panicked: %v", p)
			}
			if n := flusher.Calls(); n != 1 {
				t.Errorf("flushes = %d, want 1", n)
			}
			if tc.sampled {
				if n := len(rec.Ended()); n != 1 {
					t.Errorf("ended spans = %d, want 1", n)
				}
			}
		})
	}
}

// panickingFlusher panics in ForceFlush.
type panickingFlusher struct{}

func (panickingFlusher) ForceFlush(context.Context) error { panic("flusher boom") }

// TestPanickingFlusherDoesNotTakeTheInvocationDown: the function's answer
// stands, and its own panic is the one raised again; the flusher's panic is
// written to stderr.
func TestPanickingFlusherDoesNotTakeTheInvocationDown(t *testing.T) {
	_, tp := recorder()
	var stderr bytes.Buffer
	opts := []Option{WithTracerProvider(tp), WithFlusher(panickingFlusher{}), withStderr(&stderr)}

	w := httptest.NewRecorder()
	ok := HTTP(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hi")) }), opts...)
	if p := inGoroutine(func() { ok.ServeHTTP(w, httptest.NewRequest("GET", "/", nil)) }); p != nil {
		t.Fatalf("a healthy function panicked: %v", p)
	}
	if w.Body.String() != "hi" {
		t.Errorf("body = %q, want the function's", w.Body.String())
	}

	fnErr := errors.New("function boom")
	ce := CloudEvent(func(context.Context, event.Event) error { panic(fnErr) }, opts...)
	if p := inGoroutine(func() { _ = ce(context.Background(), newEvent(t, "t", "//s", "")) }); p != fnErr {
		t.Errorf("raised %v, want the function's own panic", p)
	}
	if n := strings.Count(stderr.String(), "flush on exit panicked: flusher boom"); n != 2 {
		t.Errorf("stderr reports the flusher's panic %d times, want 2:\n%s", n, stderr.String())
	}
}

// nilFlusher is a bounded Flusher whose nil pointer is not usable, as
// (*core.Processor)(nil) is not.
type nilFlusher struct {
	calls  int
	budget time.Duration
}

func (f *nilFlusher) ForceFlush(context.Context) error { f.calls++; return nil }
func (f *nilFlusher) FlushBudget() time.Duration       { return f.budget }

// TestWithFlusherTypedNilTurnsFlushingOff: a nil pointer in the Flusher
// interface (the Processor of a nil *wiring.Tracing) is no flusher.
func TestWithFlusherTypedNilTurnsFlushingOff(t *testing.T) {
	_, tp := recorder()
	var f *nilFlusher
	var stderr bytes.Buffer
	if p := inGoroutine(func() {
		h := HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithTracerProvider(tp), WithFlusher(f), withStderr(&stderr))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}); p != nil {
		t.Fatalf("panicked: %v", p)
	}
	if stderr.Len() > 0 {
		t.Errorf("the nil flusher was called:\n%s", stderr.String())
	}
}
