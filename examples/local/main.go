// Command local runs the hello function the way Cloud Functions would, with
// its spans exported over OTLP/HTTP to a receiver in this program, and prints
// what arrived as trees. It is what `make run` runs.
//
// The function is served by functions-framework-go in a child process (this
// program, re-executed), because its init() reads the configuration at
// import time, as on Cloud Functions: the child gets a Cloud Functions-like
// environment with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT pointing at the
// receiver, so no credentials are needed.
//
// By default it sends a few requests (one with a W3C traceparent, one that
// fails), checks that every expected span arrived, stops the function with
// SIGTERM and exits 0, or 1 with the reason. With -serve it keeps the
// function serving for curl and prints each trace as it arrives, until
// Ctrl-C.
//
//	go run ./local [-serve] [-port N] [-v] [-timeout 10s]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gcftrace/gcftrace/adapters/export/exporttest"
	"github.com/gcftrace/gcftrace/adapters/metadata/metadatatest"
	"github.com/gcftrace/gcftrace/examples/atstart"
)

func main() {
	if atstart.IsFunction() {
		os.Exit(serveFunction())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes of run.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// stopGrace is how long the function may take to exit after SIGTERM; Cloud
// Run kills an instance 10 s after it.
const stopGrace = 10 * time.Second

// run is the runner: main without the process around it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	stdout, stderr = &syncWriter{w: stdout}, &syncWriter{w: stderr}
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: local [-serve] [-port N] [-v] [-timeout D]\n\n"+
			"Serves the hello function with tracing to a local OTLP receiver and prints the spans.\n\n")
		fs.PrintDefaults()
	}
	serve := fs.Bool("serve", false, "keep the function serving and print each trace as it arrives, until Ctrl-C")
	port := fs.Int("port", 0, "loopback port to serve the function on (default: a free one)")
	verbose := fs.Bool("v", false, "print every attribute and event, and the function's own output")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the spans")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "local: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return exitUsage
	}

	sink, err := exporttest.NewSink()
	if err != nil {
		fmt.Fprintf(stderr, "local: OTLP receiver: %v\n", err)
		return exitFail
	}
	defer sink.Close()
	// Never the real metadata server: an emulator on loopback.
	meta, err := metadatatest.NewServer()
	if err != nil {
		fmt.Fprintf(stderr, "local: metadata server: %v\n", err)
		return exitFail
	}
	defer meta.Close()
	if *port == 0 {
		*port, err = freePort()
	} else {
		err = checkPortFree(*port)
	}
	if err != nil {
		fmt.Fprintf(stderr, "local: %v\n", err)
		return exitFail
	}

	// The function's own output is noise when all goes well: keep it for
	// when something fails, unless asked for it.
	captured := &syncBuffer{}
	var fnOut io.Writer = captured
	if *serve || *verbose {
		fnOut = stderr
	}
	fn, err := startFunction(*port, sink.URL(), meta.Host(), fnOut)
	if err != nil {
		fmt.Fprintf(stderr, "local: %v\n", err)
		return exitFail
	}
	defer fn.stop(stopGrace)

	fmt.Fprintf(stdout, "gcftrace local run\n")
	fmt.Fprintf(stdout, "  function   %s on %s (functions-framework-go, pid %d)\n", functionName, fn.URL(), fn.cmd.Process.Pid)
	fmt.Fprintf(stdout, "  OTLP sink  %s\n\n", sink.URL())
	if err := fn.waitReady(ctx, 20*time.Second); err != nil {
		fmt.Fprintf(stdout, "FAIL  %v\n", err)
		dumpOutput(stdout, captured)
		return exitFail
	}

	p := &printer{w: stdout, verbose: *verbose}
	if *serve {
		return serveLoop(ctx, stdout, fn, sink, p)
	}
	code := checkRun(ctx, stdout, fn, sink, p, *timeout)
	if code != exitOK {
		dumpOutput(stdout, captured)
	}
	return code
}

// serveLoop prints each trace as it arrives until ctx is done.
func serveLoop(ctx context.Context, out io.Writer, fn *function, sink *exporttest.Sink, p *printer) int {
	url := fn.URL()
	fmt.Fprintf(out, "serving; try:\n")
	fmt.Fprintf(out, "  curl '%s?name=Gopher'\n", url)
	fmt.Fprintf(out, "  curl -H 'traceparent: %s' '%s'\n", exampleTraceparent, url)
	fmt.Fprintf(out, "  curl '%s?fail=1'\n", url)
	fmt.Fprintf(out, "traces print as they arrive; Ctrl-C to stop.\n\n")

	seen := 0
	printNew := func() {
		spans := sink.Spans()
		if len(spans) > seen {
			p.print(spans[seen:])
			seen = len(spans)
		}
	}
	for {
		select {
		case <-sink.Notify():
			printNew()
		case <-fn.done:
			printNew()
			fmt.Fprintf(out, "FAIL  the function exited: %v\n", fn.err)
			return exitFail
		case <-ctx.Done():
			err := fn.stop(stopGrace)
			printNew() // what the shutdown flushed
			if err != nil {
				fmt.Fprintf(out, "FAIL  stopping the function: %v\n", err)
				return exitFail
			}
			fmt.Fprintf(out, "stopped\n")
			return exitOK
		}
	}
}

// checkRun sends the scripted calls, prints what arrived and checks it.
func checkRun(ctx context.Context, out io.Writer, fn *function, sink *exporttest.Sink, p *printer, timeout time.Duration) int {
	var results []result
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	fmt.Fprintln(out, "requests")
	results = append(results, sendCalls(ctx, out, client, fn.URL(), calls))
	fmt.Fprintln(out)

	wctx, cancel := context.WithTimeout(ctx, timeout)
	waitErr := sink.WaitForSpans(wctx, expectedSpans(calls))
	cancel()
	spans := sink.Spans()
	p.print(spans)
	if waitErr != nil {
		results = append(results, result{what: fmt.Sprintf("spans arrived within %s", timeout), err: waitErr})
	}
	results = append(results, checkSpans(spans, calls)...)

	err := fn.stop(stopGrace)
	if err != nil {
		err = fmt.Errorf("exit: %w", err)
	}
	results = append(results, result{what: "the function stopped on SIGTERM and shut tracing down", err: err})
	return report(out, results)
}

// sendCalls makes the calls, printing a line for each.
func sendCalls(ctx context.Context, out io.Writer, client *http.Client, url string, calls []call) result {
	var problems []string
	var codes []string
	for _, c := range calls {
		code, body, err := c.send(ctx, client, url)
		target := "/" + c.query
		extra := ""
		if c.traceparent != "" {
			extra = "  traceparent " + c.traceparent
		}
		if err != nil {
			fmt.Fprintf(out, "  GET %-16s %v\n", target, err)
			problems = append(problems, fmt.Sprintf("GET %s: %v", target, err))
			continue
		}
		line := fmt.Sprintf("  GET %-16s %d  %-32q%s", target, code, body, extra)
		fmt.Fprintln(out, strings.TrimRight(line, " "))
		codes = append(codes, fmt.Sprint(code))
		if code != c.wantStatus || body != c.wantBody {
			problems = append(problems, fmt.Sprintf("GET %s answered %d %q, want %d %q", target, code, body, c.wantStatus, c.wantBody))
		}
	}
	r := result{what: fmt.Sprintf("%d requests answered %s", len(calls), strings.Join(codes, ", "))}
	if len(problems) > 0 {
		r.err = errors.New(strings.Join(problems, "; "))
	}
	return r
}

// result is the outcome of one check.
type result struct {
	what string
	err  error
}

// report prints the results and the verdict, and returns the exit code.
func report(out io.Writer, results []result) int {
	fmt.Fprintln(out, "checks")
	failed := 0
	for _, r := range results {
		if r.err != nil {
			failed++
			fmt.Fprintf(out, "  FAIL  %s: %v\n", r.what, r.err)
		} else {
			fmt.Fprintf(out, "  ok    %s\n", r.what)
		}
	}
	fmt.Fprintln(out)
	if failed > 0 {
		fmt.Fprintf(out, "FAIL  %d of %d checks failed\n", failed, len(results))
		return exitFail
	}
	fmt.Fprintf(out, "PASS  every expected span arrived\n")
	return exitOK
}

func dumpOutput(out io.Writer, captured *syncBuffer) {
	if s := captured.String(); s != "" {
		fmt.Fprintf(out, "\nfunction output\n%s", s)
	}
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
