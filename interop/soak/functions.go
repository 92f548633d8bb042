package soak

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// The functions-framework-go server is process-wide: the framework keeps its
// functions in a global registry and cannot stop its server. It is started
// once and serves the function instance the current run published; between
// runs it answers 503.
var (
	frameworkOnce sync.Once
	frameworkURL  string
	frameworkErr  error
	current       atomic.Pointer[instance]
)

// The functions' names and paths: the HTTP function, the CloudEvent
// function registered as such (the framework decodes the event with the
// CloudEvents SDK's receiver), and the same CloudEvent function served with
// handler.CloudEventHTTP (the wrapper decodes the event).
const (
	httpFunction      = "soakHTTP"
	eventFunction     = "soakEvent"
	eventHTTPFunction = "soakEventHTTP"
	httpPath          = "/" + httpFunction
	eventPath         = "/" + eventFunction
	eventHTTPPath     = "/" + eventHTTPFunction
)

// Request headers the load generator sets for the HTTP function.
const (
	headerSeq    = "X-Soak-Seq"    // the invocation's number
	headerStatus = "X-Soak-Status" // the status the function answers with
	headerPad    = "X-Soak-Pad"    // bytes of attribute to put on the function's span
)

// startFramework registers the two functions and starts the framework on a
// free loopback port, once per process.
func startFramework() (string, error) {
	frameworkOnce.Do(func() {
		if os.Getenv("FUNCTION_TARGET") != "" {
			frameworkErr = errors.New("FUNCTION_TARGET is set: functions-framework-go would serve one function only")
			return
		}
		functions.HTTP(httpFunction, serveHTTP)
		functions.CloudEvent(eventFunction, serveEvent)
		functions.HTTP(eventHTTPFunction, serveEventHTTP)
		frameworkURL, frameworkErr = listenFramework()
	})
	return frameworkURL, frameworkErr
}

func listenFramework() (string, error) {
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		_ = ln.Close()

		served := make(chan error, 1)
		go func() { served <- funcframework.StartHostPort("127.0.0.1", port) }()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-served: // the port was taken meanwhile: try another
				deadline = time.Time{}
				continue
			default:
			}
			if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
				_ = c.Close()
				return "http://127.0.0.1:" + port, nil
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return "", errors.New("functions framework did not start")
}

// instance is one cold-started function instance: the wrapped functions of
// one run and what they counted.
type instance struct {
	http      http.Handler
	event     func(context.Context, event.Event) error
	eventHTTP http.Handler
	tracer    trace.Tracer

	phase       atomic.Pointer[phaseStats] // where invocation latencies go
	invocations atomic.Uint64              // invocations that reached a wrapper
	children    atomic.Uint64              // spans the functions started themselves
	reached     sync.Map                   // ids of the events the framework passed to the CloudEvent function
}

// reachedFunction reports whether the framework passed event id to the
// CloudEvent function.
func (in *instance) reachedFunction(id string) bool {
	_, ok := in.reached.Load(id)
	return ok
}

// serveHTTP is what the framework calls for the HTTP function: the
// instance's wrapped handler, timed from the framework's call to its return.
func serveHTTP(w http.ResponseWriter, r *http.Request) {
	in := current.Load()
	if in == nil {
		http.Error(w, "no function instance", http.StatusServiceUnavailable)
		return
	}
	start := time.Now()
	in.invocations.Add(1)
	in.http.ServeHTTP(w, r)
	in.observe(time.Since(start))
}

// serveEvent is what the framework calls for the CloudEvent function.
func serveEvent(ctx context.Context, e event.Event) error {
	in := current.Load()
	if in == nil {
		return errors.New("no function instance")
	}
	start := time.Now()
	in.reached.Store(e.ID(), struct{}{})
	in.invocations.Add(1)
	err := in.event(ctx, e)
	in.observe(time.Since(start))
	return err
}

// serveEventHTTP is what the framework calls for the CloudEvent function
// served as an HTTP function.
func serveEventHTTP(w http.ResponseWriter, r *http.Request) {
	in := current.Load()
	if in == nil {
		http.Error(w, "no function instance", http.StatusServiceUnavailable)
		return
	}
	start := time.Now()
	in.invocations.Add(1)
	in.eventHTTP.ServeHTTP(w, r)
	in.observe(time.Since(start))
}

func (in *instance) observe(d time.Duration) {
	if ps := in.phase.Load(); ps != nil {
		ps.invocation(d)
	}
}

// hello is the HTTP function: one span of its own, then the status the
// request asked for. Its answer never depends on tracing.
func (in *instance) hello(w http.ResponseWriter, r *http.Request) {
	_, span := in.tracer.Start(r.Context(), "soak.work")
	in.children.Add(1)
	if n, _ := strconv.Atoi(r.Header.Get(headerPad)); n > 0 {
		span.SetAttributes(attribute.String("soak.pad", pad(n)))
	}
	span.End()
	status := http.StatusOK
	if s, err := strconv.Atoi(r.Header.Get(headerStatus)); err == nil {
		status = s
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answerBody(status, r.Header.Get(headerSeq)))
}

func answerBody(status int, seq string) string {
	return fmt.Sprintf("%d from the function, invocation %s\n", status, seq)
}

// errOnPurpose is the CloudEvent function's own failure.
var errOnPurpose = errors.New("event function failed on purpose")

// onEvent is the CloudEvent function: one span of its own; it fails on
// purpose for subject "fail".
func (in *instance) onEvent(ctx context.Context, e event.Event) error {
	_, span := in.tracer.Start(ctx, "soak.event")
	in.children.Add(1)
	span.End()
	if e.Subject() == "fail" {
		return errOnPurpose
	}
	return nil
}

// pad returns n random hex characters: an attribute that compresses to
// about half its size.
func pad(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
