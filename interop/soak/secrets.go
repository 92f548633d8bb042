package soak

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
)

// Token is the API token every soak run starts with: a recognisable value,
// so that a leak into a log line, an error or the process output is found
// by a plain search.
const Token = "dt0c01.SOAKTOKEN.NEVER-LOG-THIS-VALUE.7f3a9c21e5b84d06"

// RotatedToken is the token that replaces Token: from the 401 phase on the
// endpoint accepts only it, and at the start of the last phase the run
// writes it into the token file the exporter reads. It is just as
// recognisable, with a marker of its own.
const RotatedToken = "dt0c01.SOAKROTATED.NEVER-LOG-THE-ROTATED-ONE.4c8e1b7d92a05f36"

// tokenMarker and rotatedMarker are the tokens' distinctive middles: a leak
// of part of a token is a leak too.
const (
	tokenMarker   = "NEVER-LOG-THIS-VALUE"
	rotatedMarker = "NEVER-LOG-THE-ROTATED-ONE"
)

// ShowsToken reports whether s shows either of the soak's tokens, whole or
// in part.
func ShowsToken(s string) bool { return hasToken(s) }

func hasToken(s string) bool {
	return strings.Contains(s, Token) || strings.Contains(s, tokenMarker) ||
		strings.Contains(s, RotatedToken) || strings.Contains(s, rotatedMarker)
}

// leakWatch sees every log line and every error a run produced and keeps
// what is needed for the report: counts, a few samples, and every line or
// error that showed a token.
type leakWatch struct {
	mu      sync.Mutex
	lines   int
	partial []byte   // a log line not yet ended by a newline
	kept    []string // the first log lines, for the report
	errs    map[string]int
	samples map[string][]string
	leaks   []string
}

const (
	keptLines   = 200
	keptSamples = 3
)

func newLeakWatch() *leakWatch {
	return &leakWatch{errs: map[string]int{}, samples: map[string][]string{}}
}

// logger returns a logger at debug level whose every line goes through w.
func (w *leakWatch) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Write takes log output; it is an io.Writer for slog handlers and for a
// process's standard output and error.
func (w *leakWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

func (w *leakWatch) line(s string) {
	w.lines++
	if len(w.kept) < keptLines {
		w.kept = append(w.kept, s)
	}
	if hasToken(s) {
		w.leaks = append(w.leaks, "log line: "+s)
	}
}

// err records an error from source; nil is ignored.
func (w *leakWatch) err(source string, err error) {
	if err == nil {
		return
	}
	w.text(source, err.Error())
	// Wrapped errors print through their own Error methods; check the
	// chain too, in case a wrapper hides a cause's text.
	for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
		if hasToken(e.Error()) {
			w.mu.Lock()
			w.leaks = append(w.leaks, source+" (wrapped): "+e.Error())
			w.mu.Unlock()
		}
	}
}

// text records an error message or answer body from source.
func (w *leakWatch) text(source, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs[source]++
	if s := w.samples[source]; len(s) < keptSamples && !slices.Contains(s, msg) {
		w.samples[source] = append(s, msg)
	}
	if hasToken(msg) {
		w.leaks = append(w.leaks, source+": "+msg)
	}
}

// secretReport is what a leakWatch saw.
type secretReport struct {
	LogLines int            // log lines captured
	Errors   map[string]int // errors and answer bodies seen, by source
	Samples  map[string][]string
	Leaks    []string // every line or error that showed a token
	Lines    []string // the first log lines
}

func (w *leakWatch) report() secretReport {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.line(string(w.partial))
		w.partial = nil
	}
	r := secretReport{
		LogLines: w.lines,
		Errors:   map[string]int{},
		Samples:  map[string][]string{},
		Leaks:    append([]string(nil), w.leaks...),
		Lines:    append([]string(nil), w.kept...),
	}
	for k, v := range w.errs {
		r.Errors[k] = v
	}
	for k, v := range w.samples {
		r.Samples[k] = append([]string(nil), v...)
	}
	return r
}

func (r secretReport) errorCount() int {
	n := 0
	for _, v := range r.Errors {
		n += v
	}
	return n
}

func (r secretReport) String() string {
	return fmt.Sprintf("%d log lines, %d errors", r.LogLines, r.errorCount())
}
