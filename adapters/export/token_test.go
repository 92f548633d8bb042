package export

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcftrace/gcftrace/ports"
)

// The tokens of the rotation tests: the endpoint accepts only the new one.
// Both contain SECRETTOKEN, which checkNoSecret looks for.
const (
	oldToken = "dt0c01.OLDSECRETTOKEN"
	newToken = "dt0c01.NEWSECRETTOKEN"
)

// rotatedSink accepts requests carrying newToken and refuses the others
// with 401.
func rotatedSink(t *testing.T) *sink {
	return newSink(t, func(_ http.ResponseWriter, r *received, _ int) int {
		if r.Header.Get("Authorization") != "Api-Token "+newToken {
			return http.StatusUnauthorized
		}
		return http.StatusOK
	})
}

// writeToken writes content to the token file at path, as a Secret Manager
// volume would: the old file is replaced, not rewritten in place.
func writeToken(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// tokenFileExporter returns an exporter to s that reads its token from a
// file holding oldToken (with the newline a secret file usually ends with),
// and the file's path.
func tokenFileExporter(t *testing.T, s *sink, opts ...Option) (*Exporter, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	writeToken(t, path, " "+oldToken+"\n")
	cfg := testConfig(s.url())
	cfg.Token, cfg.TokenFile = "", path
	return newTestExporter(t, cfg, opts...), path
}

// authHeaders returns the Authorization header of every request s got.
func authHeaders(s *sink) []string {
	var out []string
	for _, r := range s.requests() {
		out = append(out, r.Header.Get("Authorization"))
	}
	return out
}

// TestTokenFileDuringPause refuses the token in the file, then changes the
// file while export pauses: only a new, readable token ends the pause.
func TestTokenFileDuringPause(t *testing.T) {
	tests := []struct {
		name      string
		give      func(t *testing.T, path string) // what happens to the file during the pause
		wantAuth  []string                        // Authorization of every request
		wantPause bool                            // still paused after two more exports
		wantLogs  []string                        // log lines, by a distinctive part, and how often: see wantLogCounts
		wantCount []int
	}{
		{
			name:      "rotated",
			give:      func(t *testing.T, path string) { writeToken(t, path, newToken+"\n") },
			wantAuth:  []string{"Api-Token " + oldToken, "Api-Token " + newToken, "Api-Token " + newToken},
			wantLogs:  []string{"refused the API token", "holds a new API token", "cannot read the token file"},
			wantCount: []int{1, 1, 0},
		},
		{
			name:      "unchanged",
			give:      func(t *testing.T, path string) { writeToken(t, path, oldToken) },
			wantAuth:  []string{"Api-Token " + oldToken},
			wantPause: true,
			wantLogs:  []string{"refused the API token", "holds a new API token", "cannot read the token file"},
			wantCount: []int{1, 0, 0},
		},
		{
			name: "unreadable",
			give: func(t *testing.T, path string) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			},
			wantAuth:  []string{"Api-Token " + oldToken},
			wantPause: true,
			wantLogs:  []string{"refused the API token", "holds a new API token", "cannot read the token file"},
			wantCount: []int{1, 0, 1},
		},
		{
			name:      "empty",
			give:      func(t *testing.T, path string) { writeToken(t, path, "\n") },
			wantAuth:  []string{"Api-Token " + oldToken},
			wantPause: true,
			wantLogs:  []string{"refused the API token", "holds a new API token", "cannot read the token file"},
			wantCount: []int{1, 0, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := rotatedSink(t)
			log, buf := logBuffer()
			e, path := tokenFileExporter(t, s, WithLogger(log))
			e.tokenFile.every = 0 // every export during the pause reads the file

			err := e.ExportSpans(t.Context(), testSpans(2))
			if !errors.Is(err, ports.ErrExportRejected) {
				t.Fatalf("first export: err = %v, want rejected", err)
			}
			if st := e.Stats(); !st.AuthPaused || st.AuthPauses != 1 {
				t.Fatalf("after the 401: AuthPaused %t, AuthPauses %d; want a pause", st.AuthPaused, st.AuthPauses)
			}

			tt.give(t, path)
			var errs [2]error
			for i := range errs {
				errs[i] = e.ExportSpans(t.Context(), testSpans(1))
				checkNoSecret(t, errs[i], nil)
			}

			if got := authHeaders(s); strings.Join(got, ", ") != strings.Join(tt.wantAuth, ", ") {
				t.Errorf("requests carried %q, want %q", got, tt.wantAuth)
			}
			st := e.Stats()
			if st.AuthPaused != tt.wantPause {
				t.Errorf("AuthPaused = %t, want %t", st.AuthPaused, tt.wantPause)
			}
			if tt.wantPause {
				for i, err := range errs {
					if !errors.Is(err, ports.ErrExportRejected) {
						t.Errorf("export %d during the pause: err = %v, want rejected", i+2, err)
					}
				}
				if st.TokenReloads != 0 || st.Dropped[DropUnauthorized] != 4 {
					t.Errorf("TokenReloads %d, Dropped[unauthorized] %d; want 0 and 4", st.TokenReloads, st.Dropped[DropUnauthorized])
				}
			} else {
				for i, err := range errs {
					if err != nil {
						t.Errorf("export %d after the rotation: %v", i+2, err)
					}
				}
				if st.TokenReloads != 1 || st.Exported != 2 || st.Dropped[DropUnauthorized] != 2 || st.AuthPauses != 1 {
					t.Errorf("Stats = %+v, want 1 token reload, 2 exported, 2 dropped, 1 pause", st)
				}
			}
			logs := buf.String()
			for i, w := range tt.wantLogs {
				if n := strings.Count(logs, w); n != tt.wantCount[i] {
					t.Errorf("%q logged %d times, want %d:\n%s", w, n, tt.wantCount[i], logs)
				}
			}
			checkNoSecret(t, err, buf)
		})
	}
}

// TestTokenFileRereadLimit reads the file at most once a second during a
// pause, when the pause has ended by itself, and never outside a pause.
func TestTokenFileRereadLimit(t *testing.T) {
	s := rotatedSink(t)
	e, path := tokenFileExporter(t, s)
	var offset atomic.Int64
	e.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	export := func() error { return e.ExportSpans(t.Context(), testSpans(1)) }

	if err := export(); !errors.Is(err, ports.ErrExportRejected) {
		t.Fatalf("first export: err = %v, want rejected", err)
	}
	_ = export() // reads the file: unchanged
	writeToken(t, path, newToken)
	if err := export(); !errors.Is(err, ports.ErrExportRejected) {
		t.Fatalf("export within a second of the last read: err = %v, want rejected", err)
	}
	offset.Store(int64(tokenRereadEvery))
	if err := export(); err != nil {
		t.Fatalf("export a second later: %v", err)
	}

	// Outside a pause the file is not read: the new token stays in use.
	writeToken(t, path, "dt0c01.THIRDSECRETTOKEN")
	if err := export(); err != nil {
		t.Fatalf("export outside a pause: %v", err)
	}
	want := []string{"Api-Token " + oldToken, "Api-Token " + newToken, "Api-Token " + newToken}
	if got := authHeaders(s); strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("requests carried %q, want %q", got, want)
	}
	if st := e.Stats(); st.TokenReloads != 1 || st.AuthPaused {
		t.Errorf("TokenReloads %d, AuthPaused %t; want 1, false", st.TokenReloads, st.AuthPaused)
	}
}

// TestTokenFilePauseEndsByItself reads the file when the pause has run out,
// before the first request after it.
func TestTokenFilePauseEndsByItself(t *testing.T) {
	tests := []struct {
		name       string
		give       string // the file's content when the pause ends
		wantErr    bool
		wantPauses uint64
	}{
		{name: "rotated meanwhile", give: newToken, wantPauses: 1},
		{name: "unchanged", give: oldToken, wantErr: true, wantPauses: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := rotatedSink(t)
			e, path := tokenFileExporter(t, s)
			var offset atomic.Int64
			e.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
			_ = e.ExportSpans(t.Context(), testSpans(1))
			writeToken(t, path, tt.give)

			offset.Store(int64(authPauseFirst + time.Second))
			err := e.ExportSpans(t.Context(), testSpans(1))
			if (err != nil) != tt.wantErr {
				t.Fatalf("export after the pause: err = %v, want error: %t", err, tt.wantErr)
			}
			if n := len(s.requests()); n != 2 {
				t.Errorf("%d requests, want 2", n)
			}
			if st := e.Stats(); st.AuthPauses != tt.wantPauses || st.AuthPaused != tt.wantErr {
				t.Errorf("AuthPauses %d, AuthPaused %t; want %d, %t", st.AuthPauses, st.AuthPaused, tt.wantPauses, tt.wantErr)
			}
		})
	}
}

// TestTokenFileRotationConcurrent rotates the token while exports run
// concurrently, some of them refused with the old token as the new one is
// swapped in: every request carries one whole token, the old or the new; the
// rotation is picked up once; and no refusal of an old-token request leaves
// export paused against the new token. Run with -race.
func TestTokenFileRotationConcurrent(t *testing.T) {
	var bad, refused, accepted atomic.Int64
	s := newSink(t, func(_ http.ResponseWriter, r *received, _ int) int {
		switch r.Header.Get("Authorization") {
		case "Api-Token " + newToken:
			accepted.Add(1)
			return http.StatusOK
		case "Api-Token " + oldToken:
			refused.Add(1)
			return http.StatusUnauthorized
		}
		bad.Add(1)
		return http.StatusBadRequest
	})
	e, path := tokenFileExporter(t, s)
	e.tokenFile.every = 0

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				_ = e.ExportSpans(t.Context(), testSpans(1))
				_ = e.Stats()
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	waitUntil(t, "a request refused with the old token", func() bool { return refused.Load() > 0 })
	writeToken(t, path, newToken)
	waitUntil(t, "requests accepted with the new token", func() bool { return accepted.Load() >= 8 })
	close(stop)
	wg.Wait()

	if n := bad.Load(); n != 0 {
		t.Errorf("%d requests carried neither token whole", n)
	}
	if st := e.Stats(); st.TokenReloads != 1 || st.AuthPaused {
		t.Errorf("TokenReloads %d, AuthPaused %t; want 1, false", st.TokenReloads, st.AuthPaused)
	}
	if err := e.ExportSpans(t.Context(), testSpans(1)); err != nil {
		t.Fatalf("export after the rotation: %v", err)
	}
}

// waitUntil polls cond for at most 5 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 5 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestTokenFileRotatedBeforeRefusal rotates the secret before export finds
// out: the first request with the old token is refused, the exporter reads
// the file at once and sends the refused spans again with the new token.
func TestTokenFileRotatedBeforeRefusal(t *testing.T) {
	tests := []struct {
		name     string
		give     int // spans in the batch
		maxBytes int // Config.MaxRequestBytes; 0: default
		wantReqs int // requests with the new token
	}{
		{name: "one request", give: 2, wantReqs: 1},
		{name: "split batch", give: 12, maxBytes: 2000, wantReqs: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := rotatedSink(t)
			path := filepath.Join(t.TempDir(), "token")
			writeToken(t, path, oldToken+"\n")
			cfg := testConfig(s.url())
			cfg.Token, cfg.TokenFile, cfg.MaxRequestBytes = "", path, tt.maxBytes
			log, buf := logBuffer()
			e := newTestExporter(t, cfg, WithLogger(log))
			writeToken(t, path, newToken+"\n")

			err := e.ExportSpans(t.Context(), testSpans(tt.give))
			if err != nil {
				t.Fatalf("ExportSpans: %v", err)
			}
			got := authHeaders(s)
			if len(got) != 1+tt.wantReqs || got[0] != "Api-Token "+oldToken {
				t.Fatalf("requests carried %q, want the old token once, then the new one %d times", got, tt.wantReqs)
			}
			for _, h := range got[1:] {
				if h != "Api-Token "+newToken {
					t.Fatalf("requests carried %q, want the new token after the first", got)
				}
			}
			st := e.Stats()
			if st.Exported != uint64(tt.give) || len(st.Dropped) != 0 || st.AuthPauses != 1 || st.TokenReloads != 1 || st.AuthPaused {
				t.Errorf("Stats = %+v, want all exported, none dropped, one pause lifted by one token reload", st)
			}
			logs := buf.String()
			if strings.Count(logs, "refused the API token") != 1 || strings.Count(logs, "holds a new API token") != 1 {
				t.Errorf("want one error and one info line:\n%s", logs)
			}
			checkNoSecret(t, err, buf)
		})
	}
}
