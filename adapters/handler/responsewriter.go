package handler

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
)

// responseWriter records the status code and the body bytes written.
// Handlers get it through wrap, which adds exactly the optional interfaces
// of the writer it wraps — http.Flusher, http.Hijacker, http.Pusher and
// io.ReaderFrom — as httpsnoop does, so a feature check gives the same
// answer whether the span is sampled (wrapped writer) or not (bare writer).
// FlushError, and Unwrap for the rest (deadlines, full duplex, a Hijacker
// further down), let http.ResponseController answer as it does with the
// bare writer. The deprecated http.CloseNotifier is always there, so that
// code asserting it unguarded (as some frameworks do) never panics on a
// sampled request; over a writer without it, its channel never fires.
type responseWriter struct {
	http.ResponseWriter
	status   int
	written  int64
	hijacked bool
}

var _ io.StringWriter = (*responseWriter)(nil)

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.written += int64(n)
	return n, err
}

// WriteString is io.WriteString on the wrapped writer, which falls back to
// Write: it is there whatever the wrapped writer has.
func (w *responseWriter) WriteString(s string) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.WriteString(w.ResponseWriter, s)
	w.written += int64(n)
	return n, err
}

// FlushError flushes the wrapped writer as http.ResponseController does:
// its error, or http.ErrNotSupported when it cannot flush.
func (w *responseWriter) FlushError() error {
	err := http.NewResponseController(w.ResponseWriter).Flush()
	if w.status == 0 && !errors.Is(err, http.ErrNotSupported) {
		w.status = http.StatusOK // a flush sends the header
	}
	return err
}

// Unwrap returns the wrapped writer for http.ResponseController, with a
// Hijack that records the hijack when the writer can only hijack through
// its own Unwrap (a middleware's writer), so that the span does not report
// a status the connection never sent.
func (w *responseWriter) Unwrap() http.ResponseWriter { return unwrapped{w.ResponseWriter, w} }

// CloseNotify is the wrapped writer's, or a channel that never fires.
func (w *responseWriter) CloseNotify() <-chan bool {
	//lint:ignore SA1019 deprecated, but frameworks still assert it on the writer they get
	if cn, ok := w.ResponseWriter.(http.CloseNotifier); ok {
		return cn.CloseNotify()
	}
	return nil
}

// unwrapped is the writer Unwrap hands to http.ResponseController.
type unwrapped struct {
	http.ResponseWriter
	rw *responseWriter
}

func (u unwrapped) Unwrap() http.ResponseWriter { return u.ResponseWriter }

func (u unwrapped) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, buf, err := http.NewResponseController(u.ResponseWriter).Hijack()
	if err == nil {
		u.rw.hijacked = true
	}
	return conn, buf, err
}

func (w *responseWriter) flush() { _ = w.FlushError() }

func (w *responseWriter) hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, buf, err := w.ResponseWriter.(http.Hijacker).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return conn, buf, err
}

func (w *responseWriter) push(target string, opts *http.PushOptions) error {
	return w.ResponseWriter.(http.Pusher).Push(target, opts)
}

func (w *responseWriter) readFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.(io.ReaderFrom).ReadFrom(src)
	w.written += n
	return n, err
}

// The optional interfaces a wrapped writer can have, as bits of wrap's
// switch.
const (
	hasFlusher = 1 << iota
	hasHijacker
	hasPusher
	hasReaderFrom
)

// wrap returns w with the optional interfaces of the writer it wraps. Each
// combination is a struct holding w and nothing else, which an interface
// holds without allocating; its methods come from the combination without
// its last interface, embedded, plus the method of that interface.
func (w *responseWriter) wrap() http.ResponseWriter {
	var has int
	if _, ok := w.ResponseWriter.(http.Flusher); ok {
		has |= hasFlusher
	}
	if _, ok := w.ResponseWriter.(http.Hijacker); ok {
		has |= hasHijacker
	}
	if _, ok := w.ResponseWriter.(http.Pusher); ok {
		has |= hasPusher
	}
	if _, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		has |= hasReaderFrom
	}
	switch has {
	case hasFlusher:
		return rwF{w}
	case hasHijacker:
		return rwH{w}
	case hasFlusher | hasHijacker:
		return rwFH{rwF{w}}
	case hasPusher:
		return rwP{w}
	case hasFlusher | hasPusher:
		return rwFP{rwF{w}}
	case hasHijacker | hasPusher:
		return rwHP{rwH{w}}
	case hasFlusher | hasHijacker | hasPusher:
		return rwFHP{rwFH{rwF{w}}}
	case hasReaderFrom:
		return rwR{w}
	case hasFlusher | hasReaderFrom:
		return rwFR{rwF{w}}
	case hasHijacker | hasReaderFrom:
		return rwHR{rwH{w}}
	case hasFlusher | hasHijacker | hasReaderFrom:
		return rwFHR{rwFH{rwF{w}}}
	case hasPusher | hasReaderFrom:
		return rwPR{rwP{w}}
	case hasFlusher | hasPusher | hasReaderFrom:
		return rwFPR{rwFP{rwF{w}}}
	case hasHijacker | hasPusher | hasReaderFrom:
		return rwHPR{rwHP{rwH{w}}}
	case hasFlusher | hasHijacker | hasPusher | hasReaderFrom:
		return rwFHPR{rwFHP{rwFH{rwF{w}}}}
	}
	return w
}

// The combinations: F http.Flusher, H http.Hijacker, P http.Pusher,
// R io.ReaderFrom.
type (
	rwF    struct{ *responseWriter }
	rwH    struct{ *responseWriter }
	rwFH   struct{ rwF }
	rwP    struct{ *responseWriter }
	rwFP   struct{ rwF }
	rwHP   struct{ rwH }
	rwFHP  struct{ rwFH }
	rwR    struct{ *responseWriter }
	rwFR   struct{ rwF }
	rwHR   struct{ rwH }
	rwFHR  struct{ rwFH }
	rwPR   struct{ rwP }
	rwFPR  struct{ rwFP }
	rwHPR  struct{ rwHP }
	rwFHPR struct{ rwFHP }
)

func (w rwF) Flush()                                             { w.flush() }
func (w rwH) Hijack() (net.Conn, *bufio.ReadWriter, error)       { return w.hijack() }
func (w rwFH) Hijack() (net.Conn, *bufio.ReadWriter, error)      { return w.hijack() }
func (w rwP) Push(target string, opts *http.PushOptions) error   { return w.push(target, opts) }
func (w rwFP) Push(target string, opts *http.PushOptions) error  { return w.push(target, opts) }
func (w rwHP) Push(target string, opts *http.PushOptions) error  { return w.push(target, opts) }
func (w rwFHP) Push(target string, opts *http.PushOptions) error { return w.push(target, opts) }
func (w rwR) ReadFrom(src io.Reader) (int64, error)              { return w.readFrom(src) }
func (w rwFR) ReadFrom(src io.Reader) (int64, error)             { return w.readFrom(src) }
func (w rwHR) ReadFrom(src io.Reader) (int64, error)             { return w.readFrom(src) }
func (w rwFHR) ReadFrom(src io.Reader) (int64, error)            { return w.readFrom(src) }
func (w rwPR) ReadFrom(src io.Reader) (int64, error)             { return w.readFrom(src) }
func (w rwFPR) ReadFrom(src io.Reader) (int64, error)            { return w.readFrom(src) }
func (w rwHPR) ReadFrom(src io.Reader) (int64, error)            { return w.readFrom(src) }
func (w rwFHPR) ReadFrom(src io.Reader) (int64, error)           { return w.readFrom(src) }

var (
	_ http.Flusher = rwF{}
	_ interface {
		http.Flusher
		http.Hijacker
		http.Pusher
		io.ReaderFrom
	} = rwFHPR{}
)
