package export

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// tokenRereadEvery bounds how often Config.TokenFile is read again during
// an auth pause.
const tokenRereadEvery = time.Second

// tokenFile is Config.TokenFile as the exporter reads it again: only while
// export pauses after a refused token (or when such a pause has just
// ended), at most once per every, by whichever export finds a read due. It
// has no goroutine of its own.
type tokenFile struct {
	path  string        // "" when the token does not come from a file
	every time.Duration // the least time between two reads; tests lower it

	last    atomic.Int64 // unix nanos of the last read, on Exporter.now's clock; 0: none yet
	failing atomic.Bool  // the last read failed, and was logged

	// reading is held by the export that reads the file: reads and the
	// switches they lead to happen one after the other, so that a read of
	// the old content can never undo a later read's switch.
	reading sync.Mutex
}

func (f *tokenFile) init(path string) { f.path, f.every = path, tokenRereadEvery }

// due reports whether a read is due at now and, when it is, claims it: of
// concurrent exports, one reads.
func (f *tokenFile) due(now time.Time) bool {
	if f.path == "" {
		return false
	}
	t, last := now.UnixNano(), f.last.Load()
	if last != 0 && t-last < int64(f.every) {
		return false
	}
	return f.last.CompareAndSwap(last, t)
}

// tokenReplaced reports, after a 401 or 403 to c's last request, whether
// the token has been replaced since: by another export, or by reading the
// token file now, when a read is due. A rotated secret then costs one
// refused request, not the spans of a whole pause.
func (e *Exporter) tokenReplaced(c *call) bool {
	if e.tokenFile.path == "" {
		return false
	}
	_ = e.checkAuth() // reads the file when due
	return c.creds != e.creds.Load()
}

// reloadToken reads the token file again. When it holds a token other than
// the one in use, which the endpoint refused, the exporter switches to it
// and the pause ends at once. A file that cannot be read, or holds no
// usable token, leaves the token and the pause as they are; the first such
// read of a series is logged.
func (e *Exporter) reloadToken() {
	f := &e.tokenFile
	if !f.reading.TryLock() {
		return // another export is reading it
	}
	defer f.reading.Unlock()
	token, err := readTokenFile(f.path)
	if err != nil {
		if f.failing.CompareAndSwap(false, true) {
			// err names the file and the cause, never the content.
			e.logger.Warn("export: cannot read the token file again; export stays paused with the current token",
				"err", err, "endpoint", e.endpoint)
		}
		return
	}
	f.failing.Store(false)
	cur := e.creds.Load()
	if token == cur.token || !e.creds.CompareAndSwap(cur, e.newCredentials(token)) {
		return
	}
	e.auth.ok()
	e.stats.tokenReloads.Add(1)
	e.logger.Info("export: the token file holds a new API token; export resumed with it",
		"token_file", shownPath(f.path), "endpoint", e.endpoint)
}

// tokenRefused records a 401 or 403 to c's request. Export pauses, with one
// error logged when the token was good before, unless the token was
// replaced since the request left: the new one is not known to be bad. That
// includes a replacement while the refusal is being recorded (reloadToken
// swaps the token, then ends the pause), which ends the pause just started.
func (e *Exporter) tokenRefused(c *call, status string, code int) outcome {
	replaced := func() outcome {
		return outcome{kind: unauthorized, err: fmt.Errorf("%s (sent with an API token replaced since)", status)}
	}
	if c.creds != e.creds.Load() {
		return replaced()
	}
	pause, first, started := e.auth.fail(e.now())
	if started && c.creds != e.creds.Load() {
		e.auth.ok()
		return replaced()
	}
	if started {
		e.stats.authPauses.Add(1)
	}
	if first {
		msg := "export: the endpoint refused the API token; it needs scope openTelemetryTrace.ingest. " +
			"Spans are dropped and export pauses, growing to at most 10m, until the token is accepted"
		attrs := []any{"status", code, "endpoint", e.endpoint, "pause", pause}
		if e.tokenFile.path != "" {
			msg += " or the token file holds another one (read again at most once a second meanwhile)"
			attrs = append(attrs, "token_file", shownPath(e.tokenFile.path))
		}
		e.logger.Error(msg, attrs...)
	}
	return outcome{kind: unauthorized, err: fmt.Errorf("%s (the API token needs scope openTelemetryTrace.ingest; export paused %s)", status, pause)}
}
