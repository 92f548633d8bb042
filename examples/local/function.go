package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	"github.com/gcftrace/gcftrace/adapters/metadata/metadatatest"
	"github.com/gcftrace/gcftrace/examples/atstart"
	"github.com/gcftrace/gcftrace/examples/hello"
)

// The function's identity in the local run. Name and revision are in the
// environment, as Cloud Functions (2nd gen) sets it; project and region are
// not, and come from the metadata server, which the runner emulates.
const (
	functionName = "hello"
	revision     = "hello-00001-abc"
	projectID    = metadatatest.DefaultProjectID
	region       = metadatatest.DefaultRegion
)

// serveFunction is the function process: hello's init() has already set up
// tracing from the environment the runner gave it. It serves until SIGTERM
// or SIGINT, or until the runner closes its stdin, then shuts tracing down,
// which flushes what is pending.
func serveFunction() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin) // EOF: the runner is gone
		stop()
	}()

	// As functions-framework-go's README main does.
	hostname := ""
	if os.Getenv("LOCAL_ONLY") == "true" {
		hostname = "127.0.0.1"
	}
	errc := make(chan error, 1)
	go func() { errc <- funcframework.StartHostPort(hostname, os.Getenv("PORT")) }()
	select {
	case err := <-errc:
		fmt.Fprintf(os.Stderr, "serving: %v\n", err)
		return 1
	case <-ctx.Done():
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hello.Shutdown(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "tracing shutdown: %v\n", err)
		return 1
	}
	return 0
}

// function is the function process as the runner sees it.
type function struct {
	cmd   *exec.Cmd
	addr  string         // host:port it serves on
	stdin io.WriteCloser // closing it stops the process
	done  chan struct{}  // closed once the process has exited
	err   error          // the exit status, once done is closed
}

// functionEnv is the environment of the function process: the runner's,
// less every variable that configures tracing or describes a function, plus
// what Cloud Functions (2nd gen) would set, the metadata server's address and
// an OTLP endpoint on the sink.
func functionEnv(port int, endpoint, metadataHost string) []string {
	drop := map[string]bool{
		"PORT": true, "LOCAL_ONLY": true, "FUNCTION_TARGET": true, "FUNCTION_SIGNATURE_TYPE": true,
		"K_SERVICE": true, "K_REVISION": true, "K_CONFIGURATION": true, "CLOUD_RUN_JOB": true,
		"CLOUD_RUN_TIMEOUT_SECONDS": true, "GOOGLE_CLOUD_PROJECT": true, "GCP_PROJECT": true,
		"GCLOUD_PROJECT": true, "FUNCTION_NAME": true, "FUNCTION_REGION": true,
		"FUNCTION_MEMORY_MB": true, "ENTRY_POINT": true, "GCE_METADATA_HOST": true,
		atstart.RoleEnv: true,
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if drop[k] || strings.HasPrefix(k, "DT_") || strings.HasPrefix(k, "OTEL_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		atstart.RoleEnv+"="+atstart.RoleFunction,
		"PORT="+strconv.Itoa(port),
		"LOCAL_ONLY=true",
		"FUNCTION_TARGET="+functionName,
		"FUNCTION_SIGNATURE_TYPE=http",
		"K_SERVICE="+functionName,
		"K_REVISION="+revision,
		"K_CONFIGURATION="+functionName,
		"GCE_METADATA_HOST="+metadataHost,
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="+endpoint, // loopback: no token needed
		"DT_LOGGING_DESTINATION=stderr",
	)
}

// startFunction re-executes this program as the function process, serving
// on port; its output goes to out, one prefixed line at a time.
func startFunction(port int, endpoint, metadataHost string, out io.Writer) (*function, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program: %w", err)
	}
	// A directory of its own, so that no dtconfig.json is picked up.
	dir, err := os.MkdirTemp("", "gcftrace-local-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = functionEnv(port, endpoint, metadataHost)
	cmd.Dir = dir
	lines := &lineWriter{w: out, prefix: "  function | "}
	cmd.Stdout, cmd.Stderr = lines, lines
	stdin, err := cmd.StdinPipe()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("starting the function: %w", err)
	}
	f := &function{
		cmd:   cmd,
		addr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		stdin: stdin,
		done:  make(chan struct{}),
	}
	go func() {
		f.err = cmd.Wait()
		lines.Flush()
		_ = os.RemoveAll(dir)
		close(f.done)
	}()
	return f, nil
}

// URL is the function's root URL.
func (f *function) URL() string { return "http://" + f.addr + "/" }

// waitReady waits until the function accepts connections, it exits, or
// timeout passes. It only connects: an HTTP request would be an invocation.
func (f *function) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", f.addr)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-f.done:
			return fmt.Errorf("the function exited before serving: %v", f.err)
		case <-ctx.Done():
			if err := context.Cause(ctx); !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return fmt.Errorf("the function did not listen on %s within %s", f.addr, timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM, as Cloud Run does when it scales an instance down,
// waits up to grace for the process to exit and kills it after that. It
// returns the process's exit status.
func (f *function) stop(grace time.Duration) error {
	select {
	case <-f.done:
		return f.err
	default:
	}
	if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		_ = f.stdin.Close() // no signals here: EOF on stdin stops it too
	}
	select {
	case <-f.done:
	case <-time.After(grace):
		_ = f.cmd.Process.Kill()
		<-f.done
		return fmt.Errorf("the function did not stop within %s after SIGTERM", grace)
	}
	_ = f.stdin.Close()
	return f.err
}

// checkPortFree reports an error when port is taken on the loopback
// interface, where the function would not get it.
func checkPortFree(port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d is not free: %w", port, err)
	}
	return ln.Close()
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("unexpected address %v", ln.Addr())
	}
	return addr.Port, nil
}

// lineWriter writes complete, non-blank lines to w with a prefix. It is
// safe for concurrent use.
type lineWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    bytes.Buffer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		i := bytes.IndexByte(l.buf.Bytes(), '\n')
		if i < 0 {
			return len(p), nil
		}
		l.emit(l.buf.Next(i + 1))
	}
}

// Flush writes what remains of an unterminated last line.
func (l *lineWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.emit(l.buf.Bytes())
	l.buf.Reset()
}

func (l *lineWriter) emit(line []byte) {
	s := strings.TrimRight(string(line), "\r\n")
	if strings.TrimSpace(s) == "" {
		return
	}
	fmt.Fprintf(l.w, "%s%s\n", l.prefix, s)
}
